//! stm32mp-imager: one TOML board description → a bootable GPT disk image for STM32MP1 boards (SD card or eMMC),
//! the matching STM32CubeProgrammer flash layout, and the hand-off to the flasher.
//!
//! The pipeline is *plan, then act*: [`board`] parses the description (pure), `effects::inputs` reads the input
//! files, [`inputs`] interprets their headers (pure), [`plan`] places every partition and checks every rule (pure),
//! [`gpt`] encodes the partition table (where it lies is [`geometry`]'s) and [`render`] the text formats from
//! `templates/` (pure), [`job`] turns a plan into everything a build writes (pure), and [`effects`] writes the
//! artifacts atomically. [`flashlayout`] parses and lints layouts exactly as U-Boot's `stm32prog` does.
//! [`buildroot`] reads Buildroot's configuration and lints it against the plan for the `buildroot-post-image` mode.
//! [`flash`] hands a layout to `STM32_Programmer_CLI` for one board or many (pure part; its effects are in [`effects`]).
#![deny(missing_docs)]

pub mod bmap;
pub mod board;
pub mod buildroot;
pub mod cancel;
pub mod cli;
pub mod dfu;
pub mod diag;
pub mod effects;
pub mod error;
pub mod flash;
pub mod flashlayout;
pub mod fwu;
pub mod geometry;
pub mod gpt;
pub mod guid;
pub mod inputs;
pub mod job;
pub mod plan;
pub mod render;
pub mod table;
pub mod units;
