//! `stm32mp-imager genimage-cfg BOARD.toml [--images DIR]`: print the genimage configuration that writes the same image.

use std::path::PathBuf;

use clap::Args;

use super::{images_dir, prepare, require_plan};
use crate::{effects::inputs::HashPolicy, error::Error, render};

/// Arguments of `genimage-cfg`.
#[derive(Debug, Args)]
pub struct GenimageCfgArgs {
    /// The board description (TOML).
    pub board: PathBuf,
    /// Folder holding the input binaries (their sizes decide partitions without `size`) [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
}

/// Run `genimage-cfg`.
pub fn run(args: &GenimageCfgArgs, ctx: &super::Context) -> Result<(), Error> {
    let images = images_dir(args.images.as_deref())?;
    let (plan, _) = require_plan(super::with_images_flag(prepare(&args.board, &images, HashPolicy::UpTo(0))?), ctx)?;
    out!("{}", render::genimage_cfg(&plan)?);
    Ok(())
}
