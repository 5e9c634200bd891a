//! `stm32mp-imager check BOARD.toml [--images DIR]`: validate the description and its inputs, print the plan, the
//! layout it implies and every lint. Writes nothing.

use std::path::PathBuf;

use clap::Args;

use super::{images_dir, prepare, report};
use crate::{effects::inputs::HashPolicy, error::Error, flashlayout::BinaryPaths, plan::PlanInputKinds, units::human_bytes};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The board description (TOML).
    pub board: PathBuf,
    /// Folder holding the input binaries [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
}

/// Run `check`.
pub fn run(args: &CheckArgs, ctx: &super::Context) -> Result<(), Error> {
    let images = images_dir(args.images.as_deref())?;
    let prepared = prepare(&args.board, &images, HashPolicy::All)?;
    let Some(plan) = prepared.plan.clone() else {
        return super::require_plan(prepared, ctx).map(|_| ());
    };
    let kinds = PlanInputKinds::from_inputs(&prepared.inputs);
    print!("{}", report::plan_table(&plan, &kinds));
    println!("\ninputs (from {}):", images.display());
    for (name, facts) in &prepared.inputs.facts {
        let sha = facts.sha256.map_or_else(|| "-".to_string(), hex::encode);
        println!("  {name}: {} bytes ({}), {}, sha256 {sha}", facts.size.0, human_bytes(facts.size.0), facts.describe());
    }
    let tsv = super::render_layout(&plan, &BinaryPaths::beside(&plan), ctx)?;
    println!(
        "\n{} ({} mode, binaries relative to the output folder):",
        plan.layout_name,
        if plan.flash_mode == crate::board::FlashMode::Raw { "raw" } else { "partitions" }
    );
    print!("{tsv}");
    println!();
    print!("{}", report::transfer_estimate(&plan));
    super::require_plan(prepared, ctx).map(|_| ())?;
    println!("\nok: nothing written");
    Ok(())
}
