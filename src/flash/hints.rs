//! Known causes of flashing failures, and what to do about them.
//!
//! Pure. Each hint names its source; "typically" means the cause is the usual one reported, not the only one.

/// The board is listed without a serial number (empty descriptors): `flashers.md` §1.2, a device left in a bad state
/// by a TF-A start failure.
pub const NO_SERIAL: &str = "a board that enumerates without a serial number (empty USB descriptors, `IAP`) is in a bad state, \
typically after a failed TF-A start: power-cycle it (or reset it with the boot pins in USB mode) and run again; retrying does not help";

/// A TF-A (FSBL, partition 0x01) start failure.
pub const START_FAILED_FSBL: &str = "a start failure at partition 0x01 is typically TF-A built without USB programmer support: \
build it with `STM32MP_USB_PROGRAMMER=1` (e.g. Buildroot's BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES); a TF-A for \
another board or DDR configuration fails the same way; the board's serial console says which \
(e.g. \"ERROR: Boot interface 6 not supported\"); power-cycle the board before the next try";

/// A U-Boot / FIP (partition 0x03) start failure.
pub const START_FAILED_SSBL: &str = "a start failure at partition 0x03 means the second stage did not come up as the programmer \
expects: check that the layout's 0x03 binary is U-Boot built for this board with the stm32prog command \
(`CONFIG_CMD_STM32PROG`, on in ST's stm32mp15 defconfigs), or a FIP holding it; the serial console says why; power-cycle \
the board before the next try";

/// Another start failure.
pub const START_FAILED_OTHER: &str = "U-Boot could not write or start this partition: check the layout's offsets and the \
device (`stm32mp-imager inspect LAYOUT.tsv`) and the board's serial console";

/// The device went away during a transfer.
pub const VANISHED: &str = "the programmer stopped without an error while sending: the board probably dropped off USB \
(cable, connector, an unpowered hub, the board reset); reconnect it, power-cycle it into USB boot and run the whole layout \
again (a partial run is not resumed)";

/// The board left the bus while the built-in client was talking to it.
pub const VANISHED_USB: &str = "the board dropped off USB while it was being flashed (cable, connector, an unpowered hub, \
the board reset or crashed; its serial console says which): reconnect it, power-cycle it into USB boot and run the whole layout \
again (a partial run is not resumed)";

/// The ROM refused the FSBL (the built-in client sees its DFU status).
pub const ROM_REFUSED: &str = "the boot ROM refused the FSBL: check that the layout's 0x01 file is TF-A BL2 for this SoC and \
board built with STM32MP_USB_PROGRAMMER=1 (the `-usb.stm32` image), that its STM32 header and checksum are right \
(`stm32mp-imager inspect FILE`), and on a closed (secure) chip that it is signed; power-cycle the board before the next try";

/// The board's SoC is not the one the FSBL was built for.
pub const SOC_MISMATCH: &str = "the layout's FSBL (0x01) is built for another SoC than this board's: use the layout made for \
this board, or check which board is at this USB path (`stm32mp-imager devices`)";

/// A stage went longer than the stage timeout without progress.
pub const TIMEOUT: &str = "the board stopped answering (or this stage is slower than the stage timeout allows, e.g. erasing a \
large eMMC): power-cycle it into USB boot and run again, with a longer stage timeout if the stage is legitimately long";

/// The run was interrupted.
pub const INTERRUPTED: &str = "the board is partly written: power-cycle it into USB boot and flash it again";

/// USB permissions.
pub const PERMISSIONS: &str = "the programmer cannot open the USB device: install the udev rules \
(`stm32mp-imager udev-rules | sudo tee /etc/udev/rules.d/50-stm32mp-dfu.rules`, then \
`sudo udevadm control --reload-rules && sudo udevadm trigger`) and replug the board";

/// No board in USB DFU mode (neither the programmer nor sysfs sees one).
pub const NO_DEVICE: &str = "no board is in USB DFU mode: set the boot pins to USB (both SW1 switches OFF on \
the DK boards), plug the USB-C cable into the board's OTG port (CN7 on the DK2), reset the board, and check \
`stm32mp-imager devices`";

/// An `Error:` line after which the programmer exited 0 (`flashers.md` §1.3: seen with v2.4.0 and others).
pub const EXIT_ZERO: &str = "the programmer printed an error but exited with status 0; it is counted as a failure";

/// What is known about a failed run.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The `Error:` lines.
    pub errors: &'a [String],
    /// The partition it failed at.
    pub partition: Option<u8>,
    /// The device answered with empty descriptors.
    pub empty_descriptors: bool,
    /// A file was being sent when the process ended.
    pub during_download: bool,
    /// The process exited with status 0.
    pub exit_zero: bool,
}

/// Advice for a failed run, if its cause is known.
#[must_use]
pub fn for_failure(facts: &Facts<'_>) -> Option<String> {
    let errors = facts.errors.join("\n").to_ascii_lowercase();
    let base = if facts.empty_descriptors || errors.contains("only supported for stm32mp") {
        Some(NO_SERIAL)
    } else if errors.contains("start operation failed") {
        Some(match facts.partition {
            Some(0x01) => START_FAILED_FSBL,
            Some(0x03) => START_FAILED_SSBL,
            _ => START_FAILED_OTHER,
        })
    } else if errors.contains("permission") || errors.contains("access denied") || errors.contains("libusb_error_access") {
        Some(PERMISSIONS)
    } else if errors.contains("no dfu") || errors.contains("no stm32") || errors.contains("not found") || errors.contains("no device") {
        Some(NO_DEVICE)
    } else if facts.errors.is_empty() && facts.during_download {
        Some(VANISHED)
    } else {
        None
    };
    match (base, facts.exit_zero && !facts.errors.is_empty()) {
        (Some(b), true) => Some(format!("{b}; {EXIT_ZERO}")),
        (None, true) => Some(EXIT_ZERO.to_string()),
        (b, false) => b.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(errors: &[String], partition: Option<u8>) -> Facts<'_> {
        Facts { errors, partition, empty_descriptors: false, during_download: false, exit_zero: false }
    }

    #[test]
    fn start_failures_by_partition() {
        let e = vec!["Error: Start operation failed at partition 0x01".to_string()];
        assert_eq!(for_failure(&facts(&e, Some(1))).as_deref(), Some(START_FAILED_FSBL));
        assert_eq!(for_failure(&facts(&e, Some(3))).as_deref(), Some(START_FAILED_SSBL));
        assert_eq!(for_failure(&facts(&e, Some(0x10))).as_deref(), Some(START_FAILED_OTHER));
    }

    #[test]
    fn bad_state_and_exit_zero() {
        let e = vec!["Error: TSV files are only supported for STM32MP".to_string()];
        assert_eq!(for_failure(&facts(&e, None)).as_deref(), Some(NO_SERIAL));
        let f = Facts { exit_zero: true, ..facts(&e, None) };
        assert!(for_failure(&f).unwrap_or_default().ends_with(EXIT_ZERO));
        let unknown = vec!["Error: something new".to_string()];
        assert_eq!(for_failure(&Facts { exit_zero: true, ..facts(&unknown, None) }).as_deref(), Some(EXIT_ZERO));
        assert_eq!(for_failure(&facts(&unknown, None)), None);
    }

    #[test]
    fn silent_exit_while_sending() {
        let f = Facts { during_download: true, ..facts(&[], Some(0x10)) };
        assert_eq!(for_failure(&f).as_deref(), Some(VANISHED));
    }
}
