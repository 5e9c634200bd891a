//! `stm32mp-imager devices [--programmer PATH] [--json]`: the boards waiting in USB DFU mode, from the programmer's
//! `-l usb` (index, serial number, bus/address) joined with sysfs's `0483:df11` devices (USB port path), so a board
//! shows even without the programmer. Exit status 0 whether or not boards are found.

use std::path::PathBuf;

use clap::Args;

use super::flash::{find_programmer, listing};
use crate::{
    effects::{
        programmer::{CliProgrammer, QUERY_TIMEOUT},
        usb,
    },
    error::Error,
    flash::{
        devices::{self, Board},
        hints,
    },
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

fn table(boards: &[Board]) -> String {
    let dash = || "-".to_string();
    let mut rows = vec![["index", "serial", "usb path", "bus", "address", "answering", "soc"].map(String::from).to_vec()];
    for b in boards {
        let product = b.listed.as_ref().map(|d| d.product.clone()).or_else(|| b.sysfs.as_ref().and_then(|s| s.product.clone()));
        let device_id = b.listed.as_ref().map(|d| d.device_id.clone()).unwrap_or_default();
        rows.push(vec![
            b.listed.as_ref().map_or_else(dash, |d| d.port()),
            b.serial().map_or_else(|| if b.listed.is_some() { "(none)".to_string() } else { dash() }, str::to_string),
            b.usb.as_ref().and_then(|u| u.path.clone()).unwrap_or_else(dash),
            b.usb.as_ref().map_or_else(dash, |u| format!("{:03}", u.bus)),
            b.usb.as_ref().map_or_else(dash, |u| format!("{:03}", u.address)),
            product.as_deref().map_or_else(dash, |p| devices::stage_name(p).to_string()),
            product.as_deref().and_then(|p| devices::soc_name(&device_id, p)).map_or_else(dash, str::to_string),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Run `devices`.
pub fn run(args: &DevicesArgs, ctx: &super::Context) -> Result<(), Error> {
    let sysfs = usb::scan(&args.sysfs_root).unwrap_or_else(|e| {
        eprintln!("warning: cannot read USB devices from {}: {e}", args.sysfs_root.display());
        Vec::new()
    });
    let listed = match find_programmer(args.programmer.as_deref()) {
        Ok(path) => {
            let prg = CliProgrammer::new(path, QUERY_TIMEOUT, ctx.cancel.flag());
            match listing(&prg) {
                Ok(l) => l.devices,
                Err(why) => {
                    eprintln!("warning: {why}; showing what sysfs sees only");
                    Vec::new()
                }
            }
        }
        Err(e) => {
            eprintln!("note: {e}");
            eprintln!("note: showing the USB devices sysfs sees only (no programmer index, no flashing stage)");
            Vec::new()
        }
    };
    if ctx.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    let boards = devices::join(&listed, &sysfs);
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
    print!("{}", table(&boards));
    for b in &boards {
        if let Some(d) = b.listed.as_ref().filter(|d| d.serial().is_none()) {
            eprintln!("{}: no serial number: {}", d.port(), hints::NO_SERIAL);
        }
    }
    Ok(())
}
