//! ST's `STM32_Programmer_CLI` as a flashing back end, the pure half: how it is told which board and which layout
//! (its arguments), and how its output is read: [`lines`] cuts the byte stream, [`parse`] recognises a line,
//! [`transcript`] turns lines into progress events, [`judge`] gives the verdict once the process has ended,
//! [`listing`] reads `-l usb` and [`version`] its version. Running it is `effects::programmer`.
//!
//! Pure.
//!
//! **What this is verified against.** `STM32_Programmer_CLI` is closed and cannot be installed here. Everything in
//! this module was written from, and is tested against, published transcripts only: the guide's v2.2.0 session
//! (`shared/reference/000_7159536dc5b6d5cf.txt`: `-l usb`, a full success run with a reconnect, a user's TF-A start
//! failure) and the v2.11.0 mailing-list session summarised in `flashers.md` §1.2. The test double
//! `tests/doubles/fake_stm32_programmer_cli.py` replays those texts. Not verified on a board: `sn=` selection for
//! the MPU flow, the real timing of each stage, re-enumeration between stages with several boards, the exact text
//! and exit status of newer versions, what the programmer prints when a device vanishes, how it reacts to SIGTERM.
//! `docs/flashing.md` keeps the full list.

pub mod judge;
pub mod lines;
pub mod listing;
pub mod parse;
pub mod transcript;
pub mod version;

use super::select::{SelectBy, Target};

/// The `-c …` arguments that pick this board: `-c port=usbN` by index, `-c port=usb sn=<serial>` by serial number.
#[must_use]
pub fn connect_args(target: &Target) -> Vec<String> {
    match (target.select_by, &target.serial, target.index) {
        (SelectBy::Serial, Some(sn), _) => vec!["-c".into(), "port=usb".into(), format!("sn={sn}")],
        (_, _, Some(i)) => vec!["-c".into(), format!("port=usb{i}")],
        (_, Some(sn), None) => vec!["-c".into(), "port=usb".into(), format!("sn={sn}")],
        (_, None, None) => vec!["-c".into(), "port=usb1".into()],
    }
}

/// The whole argument list that flashes `target`: connect, then `-w LAYOUT` (the programmer runs from the layout's
/// folder, so the layout's relative binary paths resolve there).
#[must_use]
pub fn flash_args(target: &Target, layout_file_name: &str) -> Vec<String> {
    let mut args = connect_args(target);
    args.push("-w".into());
    args.push(layout_file_name.to_string());
    args
}

/// The command a user types to flash `layout` with ST's programmer by hand: from the layout's folder, since the
/// programmer resolves the layout's binaries from its working folder (`cd DIR && STM32_Programmer_CLI -c port=usb1
/// -w flash.tsv`; the folder quoted for a POSIX shell when it needs it).
#[must_use]
pub fn manual_command(layout: &std::path::Path) -> String {
    let name = layout.file_name().map_or_else(|| layout.display().to_string(), |n| n.to_string_lossy().into_owned());
    let dir = layout.parent().filter(|d| !d.as_os_str().is_empty()).map(|d| d.display().to_string());
    let word = |w: &str| {
        if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c)) {
            w.to_string()
        } else {
            format!("'{}'", w.replace('\'', r"'\''"))
        }
    };
    let run = format!("STM32_Programmer_CLI -c port=usb1 -w {}", word(&name));
    match dir {
        Some(d) => format!("cd {} && {run}", word(&d)),
        None => run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_command_runs_from_the_layouts_folder() {
        use std::path::Path;
        assert_eq!(manual_command(Path::new("/out/flash.tsv")), "cd /out && STM32_Programmer_CLI -c port=usb1 -w flash.tsv");
        assert_eq!(
            manual_command(Path::new("/my images/it's/flash.tsv")),
            r"cd '/my images/it'\''s' && STM32_Programmer_CLI -c port=usb1 -w flash.tsv"
        );
        assert_eq!(manual_command(Path::new("flash.tsv")), "STM32_Programmer_CLI -c port=usb1 -w flash.tsv");
    }

    #[test]
    fn the_index_form_and_the_serial_form_agree_with_selects_by_index() {
        for select_by in [SelectBy::Auto, SelectBy::Serial, SelectBy::Index] {
            for serial in [None, Some("0042".to_string())] {
                for index in [None, Some(2)] {
                    let t = Target { index, serial: serial.clone(), usb: None, blocked: None, select_by };
                    let by_index = !connect_args(&t).iter().any(|a| a.starts_with("sn="));
                    assert_eq!(t.selects_by_index(), by_index, "{t:?}");
                }
            }
        }
    }
}
