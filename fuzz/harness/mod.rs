//! The fuzz harnesses: one `run(&[u8])` per target, calling the library entry points users hit. Shared by the
//! cargo-fuzz targets (`fuzz_targets/`) and by `tests/fuzz_regressions.rs`, which replays the seeds and every crasher
//! found so far with plain `cargo test`.
#![allow(dead_code)]

pub mod board;
pub mod buildroot;
pub mod dfu_replies;
pub mod fip;
pub mod fwu;
pub mod gpt_inspect;
pub mod layout;
pub mod programmer;
pub mod stm32_header;
