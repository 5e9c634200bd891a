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
