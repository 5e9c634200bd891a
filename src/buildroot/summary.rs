//! The closing summary of Buildroot mode: each artifact with its size, then how to flash it (plain lines for
//! Buildroot's log).

use std::{
    fmt::Write,
    path::{Path, PathBuf},
};

use crate::{board::Media, units::human_bytes};

/// One artifact for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// The closing summary: each artifact with its size, then how to flash it. Plain lines for Buildroot's log.
#[must_use]
pub fn summary(board: &str, media: Media, artifacts: &[Artifact], layout: &Path, image: &Path, bmap: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stm32mp-imager: {board} ready ({}):", if media == Media::Sdcard { "SD card" } else { "eMMC" });
    let width = artifacts.iter().map(|a| a.path.display().to_string().chars().count()).max().unwrap_or(0);
    for a in artifacts {
        let _ = writeln!(out, "  {:<width$}  {:>10}  ({} bytes)", a.path.display().to_string(), human_bytes(a.size), a.size);
    }
    let _ = writeln!(out, "flash over USB (boot switches to USB boot, board on USB OTG):");
    let _ = writeln!(out, "  STM32_Programmer_CLI -c port=usb1 -w {}", layout.display());
    match media {
        Media::Sdcard => {
            let _ = writeln!(out, "or write an SD card on this machine (replace /dev/sdX):");
            if bmap {
                let _ = writeln!(out, "  bmaptool copy {} /dev/sdX", image.display());
            } else {
                let _ = writeln!(out, "  dd if={} of=/dev/sdX bs=4M conv=fsync", image.display());
            }
        }
        Media::Emmc => {
            let _ = writeln!(out, "(the eMMC is written over USB only: flash.tsv puts TF-A in boot1/boot2 and the image in the user area)");
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
        let s = summary("dk2", Media::Sdcard, &a, Path::new("/i/flash.tsv"), Path::new("/i/sdcard.img"), true);
        assert!(s.contains("/i/sdcard.img       3 MiB  (3145728 bytes)"), "{s}");
        assert!(s.contains("STM32_Programmer_CLI -c port=usb1 -w /i/flash.tsv"));
        assert!(s.contains("bmaptool copy /i/sdcard.img /dev/sdX"));
    }
}
