//! cargo-fuzz entry for `harness/dfu_replies.rs` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::dfu_replies::run(data));
