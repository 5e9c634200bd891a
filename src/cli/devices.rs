//! `stm32mp-imager devices [--programmer PATH] [--json]`: the boards waiting in USB DFU mode, from the programmer's
//! `-l usb` (index, serial number, bus/address) joined with sysfs's `0483:df11` devices (USB port path), so a board
//! shows even without the programmer. Exit status 0 whether or not boards are found.

use std::path::PathBuf;

use clap::Args;

use super::flash::find_programmer;
use crate::{
    effects::{flash_job, programmer::CubeProgrammer, usb},
    error::Error,
    flash::{backend::Backend, hints, report},
};

/// Arguments of `devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// The programmer [default: as for `flash`]; without one, only sysfs is read.
    #[arg(long, value_name = "PATH")]
    pub programmer: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Root of the sysfs tree USB devices are read from (tests).
    #[arg(long, value_name = "DIR", default_value = usb::SYSFS_ROOT, hide = true)]
    pub sysfs_root: PathBuf,
}

/// Run `devices`.
pub fn run(args: &DevicesArgs, ctx: &super::Context) -> Result<(), Error> {
    let prg = match find_programmer(args.programmer.as_deref()) {
        Ok(path) => Some(CubeProgrammer::new(path, ctx.cancel.clone())),
        Err(e) => {
            eprintln!("note: {}", e.to_string().lines().next().unwrap_or_default());
            eprintln!("note: showing the USB devices sysfs sees only (no programmer index, no flashing stage)");
            None
        }
    };
    let (boards, warnings) = flash_job::device_list(prg.as_ref().map(|p| p as &dyn Backend), &args.sysfs_root);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if ctx.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if args.json {
        let text = serde_json::to_string_pretty(&boards).map_err(|e| Error::Internal(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if boards.is_empty() {
        println!("no STM32MP board in USB DFU mode (USB 0483:df11)");
        eprintln!("hint: {}", hints::NO_DEVICE);
        return Ok(());
    }
    print!("{}", report::devices_table(&boards));
    for b in &boards {
        if let Some(d) = b.listed.as_ref().filter(|d| d.serial().is_none()) {
            eprintln!("{}: no serial number: {}", d.port(), hints::NO_SERIAL);
        }
    }
    Ok(())
}
