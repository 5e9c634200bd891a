//! The built-in flasher's host side of ST's USB DFU protocol (issue 11): DFU 1.1 on EP0, ST's GetPhase/Start layer,
//! and a board sequencer that takes one board from the ROM through TF-A to U-Boot `stm32prog` and every partition.
//!
//! Pure, sans-IO: no `std::fs`, `std::process`, `std::env`, no clock. The [`sequencer::Sequencer`] says what to
//! do ([`sequencer::Io`]) and reads the replies; [`transport::drive`] runs it through a
//! [`transport::DfuTransport`], which `effects::usb_dfu` implements on `nusb` (usbfs) and the tests implement with a
//! scripted fake board.
//!
//! * [`protocol`]: DFU 1.1 requests, states, status codes, GETSTATUS, the functional descriptor, block sizes.
//! * [`descriptors`]: USB path, product string (stage, SoC), alternates (`@name /0xID/...`), configuration parsing.
//! * [`stm32prog`]: phase ids, GetPhase, Start, the layout's STM32 header.
//! * [`download`]: one download (blocks, polling, manifestation).
//! * [`sequencer`]: the board sequencer, its job, actions, events and summary.
//! * [`transport`]: the transport and image-source traits and the driver loop.
//! * [`listing`]: boards in DFU mode for `devices`.
//! * [`error`]: [`error::ProtocolError`], [`error::FlashError`].
//!
//! # What this was verified against
//!
//! Against the device-side sources, rule by rule, by unit tests that each cite the file and function they follow
//! (`cargo test --lib dfu::`): TF-A `plat/st/common/{usb_dfu.c, stm32cubeprogrammer_usb.c, bl2_io_storage.c}`,
//! `plat/st/stm32mp1/stm32mp1_usb_dfu.c`, `plat/st/stm32mp2/stm32mp2_usb_dfu.c` and `drivers/st/usb_dwc3` at
//! ARM-software/arm-trusted-firmware 6a164dda7208; ST's v2.4-stm32mp line (`lib/usb/usb_st_dfu.c`,
//! `plat/st/common/stm32cubeprogrammer_usb.c`, `plat/st/stm32mp1/stm32mp1_usb.c`) at
//! STMicroelectronics/arm-trusted-firmware d0faf393e7c6; U-Boot `arch/arm/mach-stm32mp/cmd_stm32prog/*`,
//! `drivers/usb/gadget/f_dfu.c`, `drivers/dfu/dfu.c`, `common/dfu.c`, `board/st/stm32mp1/stm32mp1.c` at
//! u-boot/u-boot 6073c36b2c8d, and `parse_flash_layout` on ST's v2021.10/v2022.10/v2023.10-stm32mp branches. The
//! sequencer tests run it against a fake board (`fake_board` in the tests) that models each stage's DFU state
//! machine, GetPhase replies, checks and quirks as that code has them. snagboot's `recoveries/stm32mp.py` was read
//! for the ROM's behaviour (its only open description). End to end, through `effects::usb_dfu` and a real Linux USB
//! stack (a QEMU guest's usbfs and `vhci_hcd`), against `stm32mp-emu` boards written from the same sources
//! (`tests/usb_vm.rs`, run by `scripts/usb-vm/suite.sh`). **Not** verified against a real board, nor against the
//! closed ROM: its product string comes from a published STM32CubeProgrammer session; its GetPhase reply after the
//! FSBL, its `wTransferSize`, whether it takes block number 0 and whether it is manifestation tolerant are read from
//! the descriptors at run time or inferred from snagboot.

pub mod descriptors;
pub mod download;
pub mod error;
pub mod listing;
pub mod protocol;
pub mod sequencer;
pub mod stm32prog;
pub mod transport;

#[cfg(test)]
mod fake_board;
#[cfg(test)]
mod sequencer_tests;

pub use descriptors::{DfuDevice, RawDevice, Stage, UsbPath};
pub use error::{FailureKind, FlashError, ProtocolError};
pub use sequencer::{BoardJob, Event, ImageId, ImageInfo, Sequencer, Summary, Timing};
pub use transport::{DfuTransport, ImageSource, TransportError, drive};
