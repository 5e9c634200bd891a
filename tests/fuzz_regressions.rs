//! The fuzz harnesses (`fuzz/harness/`) run under plain `cargo test`: every seed in `fuzz/seeds/TARGET/` and every
//! input that once crashed a target, kept in `tests/fuzz-regressions/TARGET/` (named after what it broke), must go
//! through without a panic. Findings and figures: `docs/reliability.md`.

#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::{fs, path::Path};

/// Run every file of `fuzz/seeds/TARGET` and `tests/fuzz-regressions/TARGET` through `run`; returns how many.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in [root.join("fuzz/seeds").join(target), root.join("tests/fuzz-regressions").join(target)] {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let bytes = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{target}: {} panics (see above)", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no seed for fuzz target {target}");
    count
}

#[test]
fn board_seeds_and_crashers() {
    replay("board", harness::board::run);
}

#[test]
fn buildroot_seeds_and_crashers() {
    replay("buildroot", harness::buildroot::run);
}

#[test]
fn layout_seeds_and_crashers() {
    replay("layout", harness::layout::run);
}

#[test]
fn stm32_header_seeds_and_crashers() {
    replay("stm32_header", harness::stm32_header::run);
}

#[test]
fn fip_seeds_and_crashers() {
    replay("fip", harness::fip::run);
}

#[test]
fn gpt_inspect_seeds_and_crashers() {
    replay("gpt_inspect", harness::gpt_inspect::run);
}

/// `inspect` multiplied an entry's first LBA by 512 unchecked (overflow panic in debug builds, a wrapped offset and a
/// read of the wrong bytes in release). Now the entry is reported as out of range and not read.
#[test]
fn inspect_entry_with_huge_lba_is_reported_not_read() {
    use stm32mp_imager::{
        cli::inspect::inspect_source,
        gpt::{self, Entry, Table},
        guid::{Guid, LINUX_FS},
        units::Lba,
    };
    let total = 4096u64;
    let table = Table {
        total_lba: total,
        disk_guid: Guid::derive(&["t", "disk"]),
        first_usable: Lba(34),
        last_usable: Lba(total - 34),
        entries: vec![Entry {
            type_guid: LINUX_FS,
            unique_guid: Guid::derive(&["t", "p"]),
            first_lba: Lba(u64::MAX - 1),
            last_lba: Lba(u64::MAX),
            attributes: 0,
            name: "fsbl1".into(),
        }],
    };
    let enc = gpt::encode(&table);
    let mut disk = vec![0u8; usize::try_from(total * 512).unwrap()];
    for (off, blob) in enc.placed() {
        let at = usize::try_from(off.0).unwrap();
        disk[at..at + blob.len()].copy_from_slice(blob);
    }
    let out = inspect_source("huge.img", &disk.as_slice(), disk.len() as u64, false).unwrap();
    assert!(out.problems.iter().any(|p| p.code == "gpt::entry_range"), "{:?}", out.problems);
    assert!(out.report.contains("18446744073709551614"), "{}", out.report);
}
