//! `stm32mp-imager devices [--programmer PATH] [--json]`: the boards waiting in USB DFU mode, read straight from USB
//! (each board's own descriptors: USB path, serial number, stage from its product string, SoC, alternates; no ST
//! tool needed), joined with sysfs's `0483:df11` devices and, when STM32_Programmer_CLI is found, its `-l usb`
//! listing (its index for `flash --port`). Exit status 0 whether or not boards are found.

use std::path::{Path, PathBuf};

use clap::Args;

use super::flash::find_programmer;
use crate::{
    dfu::listing::list_boards,
    effects::{
        flash_job,
        programmer::CubeProgrammer,
        usb,
        usb_dfu::{self, UsbSettings},
    },
    error::Error,
    flash::{backend::Backend, devices, hints, report},
};

/// Arguments of `devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// The programmer [default: as for `flash`]; without one, the boards are listed from USB and sysfs only.
    #[arg(long, value_name = "PATH")]
    pub programmer: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Root of the sysfs tree USB devices are read from (tests; another root than /sys also skips reading the
    /// boards over USB).
    #[arg(long, value_name = "DIR", default_value = usb::SYSFS_ROOT, hide = true)]
    pub sysfs_root: PathBuf,
}

/// Run `devices`.
pub fn run(args: &DevicesArgs, ctx: &super::Context) -> Result<(), Error> {
    let scan_usb = args.sysfs_root == Path::new(usb::SYSFS_ROOT);
    let prg = match find_programmer(args.programmer.as_deref()) {
        Ok(path) => Some(CubeProgrammer::new(path, ctx.cancel.clone())),
        Err(e) => {
            say!("note: {}", e.to_string().lines().next().unwrap_or_default());
            if scan_usb {
                say!("note: listing the boards from USB and sysfs only (no programmer index)");
            } else {
                say!("note: showing the USB devices sysfs sees only (no programmer index, no flashing stage)");
            }
            None
        }
    };
    let (boards, mut warnings) = flash_job::device_list(prg.as_ref().map(|p| p as &dyn Backend), &args.sysfs_root);
    let scanned = if scan_usb {
        match usb_dfu::scan(&UsbSettings::default()) {
            Ok(s) => list_boards(&s),
            Err(e) => {
                warnings.push(format!("cannot read the boards over USB: {e}"));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let boards = devices::with_scan(boards, scanned);
    for w in &warnings {
        say!("warning: {w}");
    }
    if ctx.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if args.json {
        let text = serde_json::to_string_pretty(&boards).map_err(|e| Error::Internal(e.to_string()))?;
        outln!("{text}");
        return Ok(());
    }
    if boards.is_empty() {
        outln!("no STM32MP board in USB DFU mode (USB 0483:df11)");
        say!("hint: {}", hints::NO_DEVICE);
        return Ok(());
    }
    out!("{}", report::devices_table(&boards));
    for b in &boards {
        if let Some(d) = b.listed.as_ref().filter(|d| d.serial().is_none()) {
            say!("{}: no serial number: {}", d.port(), hints::NO_SERIAL);
        }
    }
    Ok(())
}
