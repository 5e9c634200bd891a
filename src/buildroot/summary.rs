//! The closing summary of Buildroot mode: each artifact with its size, then how to flash it (plain lines for
//! Buildroot's log).

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use crate::{board::Media, diag::Problem, units::human_bytes};

/// One artifact for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// The layout's fate in the summary: written, or not (problems that only affect flashing), with the stale one removed.
#[derive(Debug, Clone, Copy)]
pub enum LayoutOutcome<'a> {
    /// Written at this path.
    Written(&'a Path),
    /// Not written, because of these problems (each with the fix in its help); `removed` is the layout an earlier
    /// build left, removed in the same commit.
    NotWritten {
        /// The layout's path (not there after the build).
        path: &'a Path,
        /// Why.
        because: &'a [Problem],
        /// A stale layout (and generated files) removed.
        removed: &'a [PathBuf],
    },
}

/// The closing summary: each artifact with its size, then how to flash it. Plain lines for Buildroot's log.
#[must_use]
pub fn summary(board: &str, media: Media, artifacts: &[Artifact], layout: LayoutOutcome, image: &Path, bmap: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stm32mp-imager: {board} ready ({}):", if media == Media::Sdcard { "SD card" } else { "eMMC" });
    let width = artifacts.iter().map(|a| a.path.display().to_string().chars().count()).max().unwrap_or(0);
    for a in artifacts {
        let _ = writeln!(out, "  {:<width$}  {:>10}  ({} bytes)", a.path.display().to_string(), human_bytes(a.size), a.size);
    }
    match layout {
        LayoutOutcome::Written(layout) => {
            let _ = writeln!(out, "flash over USB (boot switches to USB boot, board on USB OTG):");
            let _ = writeln!(out, "  {}", crate::flash::cubeprog::manual_command(layout));
        }
        LayoutOutcome::NotWritten { path, because, removed } => {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            let _ = writeln!(
                out,
                "{name} was not written: flashing over USB would fail, for {}:",
                if because.len() == 1 { "this reason" } else { "these reasons" }
            );
            for p in because {
                let _ = writeln!(out, "  - {}", p.message);
                if let Some(help) = &p.help {
                    let _ = writeln!(out, "    to flash over USB: {help}");
                }
            }
            if !removed.is_empty() {
                let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
                let _ = writeln!(out, "  removed {} from an earlier build, which no longer matches this image", names.join(", "));
            }
        }
    }
    match media {
        Media::Sdcard => {
            let _ = writeln!(out, "or write an SD card on this machine (replace /dev/sdX):");
            if bmap {
                let _ = writeln!(out, "  bmaptool copy {} /dev/sdX", image.display());
            } else {
                let _ = writeln!(out, "  dd if={} of=/dev/sdX bs=4M conv=fsync", image.display());
            }
        }
        Media::Emmc if matches!(layout, LayoutOutcome::Written(_)) => {
            let _ = writeln!(out, "(the eMMC is written over USB only: flash.tsv puts TF-A in boot1/boot2 and the image in the user area)");
        }
        Media::Emmc => {
            let _ = writeln!(out, "(the eMMC is written over USB only: once the layout can be written, flash with it)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_sizes_and_the_flash_command() {
        let a = [Artifact { path: "/i/sdcard.img".into(), size: 3 << 20 }, Artifact { path: "/i/flash.tsv".into(), size: 200 }];
        let s = summary("dk2", Media::Sdcard, &a, LayoutOutcome::Written(Path::new("/i/flash.tsv")), Path::new("/i/sdcard.img"), true);
        assert!(s.contains("/i/sdcard.img       3 MiB  (3145728 bytes)"), "{s}");
        assert!(s.contains("cd /i && STM32_Programmer_CLI -c port=usb1 -w flash.tsv"), "{s}");
        assert!(s.contains("bmaptool copy /i/sdcard.img /dev/sdX"));
    }

    #[test]
    fn a_layout_not_written_says_why_and_what_to_add() {
        let a = [Artifact { path: "/i/sdcard.img".into(), size: 3 << 20 }];
        let p = [Problem::error("buildroot::no_usb_programmer", "TF-A is built without STM32MP_USB_PROGRAMMER=1")
            .with_help("write `X=\"Y STM32MP_USB_PROGRAMMER=1\"`")];
        let removed = [PathBuf::from("/i/flash.tsv")];
        let layout = LayoutOutcome::NotWritten { path: Path::new("/i/flash.tsv"), because: &p, removed: &removed };
        let s = summary("dk2", Media::Sdcard, &a, layout, Path::new("/i/sdcard.img"), true);
        assert!(s.contains("flash.tsv was not written: flashing over USB would fail, for this reason:"), "{s}");
        assert!(s.contains("to flash over USB: write `X=\"Y STM32MP_USB_PROGRAMMER=1\"`"), "{s}");
        assert!(s.contains("removed /i/flash.tsv from an earlier build"), "{s}");
        assert!(!s.contains("STM32_Programmer_CLI"), "{s}");
        assert!(s.contains("bmaptool copy /i/sdcard.img /dev/sdX"), "{s}");
    }
}
