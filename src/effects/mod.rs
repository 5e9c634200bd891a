//! Effects: everything that touches files, the terminal or other processes. Small modules behind small interfaces,
//! so the pure layers above never do I/O and tests can swap these out.

pub mod build;
pub mod builtin;
pub mod failpoint;
pub mod flash_job;
pub mod flash_progress;
pub mod flashlog;
pub mod fleet;
pub mod image;
pub mod inputs;
pub mod output;
pub mod process;
pub mod programmer;
pub mod progress;
pub mod signals;
pub mod usb;
pub mod usb_dfu;
