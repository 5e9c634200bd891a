//! `stm32mp-imager check BOARD.toml [--images DIR] [--json]`: validate the description and its inputs, print the
//! plan, the layout it implies and every lint (or, with `--json`, all of it as one JSON document). Writes nothing.

use std::path::PathBuf;

use clap::Args;

use super::{images_dir, prepare, report};
use crate::{
    effects::inputs::HashPolicy,
    error::{Error, Shown},
    job::{
        BinaryPaths, json,
        layout::{self, LayoutError},
    },
    plan::PlanInputKinds,
};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The board description (TOML).
    pub board: PathBuf,
    /// Folder holding the input binaries [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Print the plan and every problem as one JSON document on stdout (schema: docs/check-json.md); the exit
    /// status is the same as without it.
    #[arg(long)]
    pub json: bool,
}

/// Run `check`.
pub fn run(args: &CheckArgs, ctx: &super::Context) -> Result<(), Error> {
    let images = images_dir(args.images.as_deref())?;
    let prepared = super::with_images_flag(prepare(&args.board, &images, HashPolicy::All)?);
    if args.json {
        let doc = json::report(&prepared.source, prepared.plan.as_ref(), &prepared.inputs, &prepared.problems);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        let errors = doc.problems.iter().filter(|p| p.severity == "error").count();
        let printed = super::write_stdout(format_args!("{text}\n"));
        // The verdict stands even when the reader closed stdout early (`| head`).
        if !doc.ok {
            return Err(Error::Problems { subject: Some(prepared.source.name.clone()), errors, shown: Shown::InJson, undone: None });
        }
        return printed;
    }
    let Some(plan) = prepared.plan.clone() else {
        return super::require_plan(prepared, ctx).map(|_| ());
    };
    // The plan on stdout, then the warnings on stderr; the verdict stands even when the reader closed stdout early.
    let printed = (|| -> Result<(), Error> {
        let kinds = PlanInputKinds::from_inputs(&prepared.inputs);
        out!("{}", report::plan_table(&plan, &kinds));
        outln!("\ninputs (from {}):", images.display());
        for (name, facts) in &prepared.inputs.facts {
            let sha = facts.sha256.map_or_else(|| "-".to_string(), hex::encode);
            outln!("  {name}: {} bytes ({}), {}, sha256 {sha}", facts.size.get(), facts.size.human(), facts.describe());
        }
        let tsv = layout::text(&plan, &BinaryPaths::beside(&plan)).map_err(|e| layout_error(e, ctx))?;
        outln!(
            "\n{} ({} mode, binaries named as in a build into the images folder):",
            plan.layout_name,
            if plan.flash_mode == crate::board::FlashMode::Raw { "raw" } else { "partitions" }
        );
        out!("{tsv}");
        outln!();
        out!("{}", report::transfer_estimate(&plan));
        Ok(())
    })();
    super::require_plan(prepared, ctx)?;
    printed?;
    outln!("\nok: nothing written");
    Ok(())
}

/// A layout this tool made that U-Boot would refuse: a bug, shown with every problem.
pub(super) fn layout_error(e: LayoutError, ctx: &super::Context) -> Error {
    if let LayoutError::BreaksRules(problems) = &e {
        ctx.print_problems(problems, None);
    }
    Error::Internal(e.to_string())
}
