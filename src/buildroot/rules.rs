//! The lints on Buildroot's configuration: TF-A built with USB programmer support and the right storage driver and
//! device tree, no U-Boot SPL in front of it — each error gives the exact `.config` line to write.

use super::{
    TFA, TFA_DEFAULT_DTB, TFA_VARIABLES, UBOOT_SPL,
    kconfig::{Kconfig, make_variables, quote, with_variable},
};
use crate::{
    board::{BoardFile, Media},
    diag::Problem,
};

/// What the lints need from the board description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Board name.
    pub board: String,
    /// SD card or eMMC.
    pub media: Media,
    /// The FSBL file name (TF-A names it `tf-a-<dtb>.stm32`).
    pub fsbl: String,
    /// The TF-A the programmer loads on line 0x01 when the description names its own (`[programmer] fsbl`), not the
    /// flashed one Buildroot builds.
    pub programmer_fsbl: Option<String>,
}

impl Target {
    /// From a parsed description.
    #[must_use]
    pub fn from_board(board: &BoardFile) -> Target {
        Target {
            board: board.board.name.value.clone(),
            media: board.storage.media.value,
            fsbl: board.boot.fsbl.value.clone(),
            programmer_fsbl: board.programmer.fsbl.as_ref().map(|f| f.value.clone()).filter(|f| *f != board.boot.fsbl.value),
        }
    }

    /// The device tree the description's FSBL was built for, from TF-A's naming `tf-a-<dtb>.stm32`.
    #[must_use]
    pub fn fsbl_dtb(&self) -> Option<&str> {
        self.fsbl.strip_prefix("tf-a-").and_then(|s| s.strip_suffix(".stm32")).filter(|s| !s.is_empty())
    }

    /// The TF-A storage switch this media needs.
    #[must_use]
    pub fn media_variable(&self) -> &'static str {
        match self.media {
            Media::Sdcard => "STM32MP_SDMMC",
            Media::Emmc => "STM32MP_EMMC",
        }
    }
}

/// TF-A's variables with every fix the lints ask for applied: the line to write into the `.config`.
#[must_use]
pub fn fixed_tfa_line(config: &Kconfig, target: &Target) -> String {
    let mut words = config.get(TFA_VARIABLES).unwrap_or("").to_string();
    let vars = make_variables(&words);
    if vars.get("STM32MP_USB_PROGRAMMER").map(String::as_str) != Some("1") {
        words = with_variable(&words, "STM32MP_USB_PROGRAMMER", "1");
    }
    if vars.get(target.media_variable()).map(String::as_str) != Some("1") {
        words = with_variable(&words, target.media_variable(), "1");
    }
    if let Some(dtb) = target.fsbl_dtb() {
        words = with_variable(&words, "DTB_FILE_NAME", &format!("{dtb}.dtb"));
    }
    format!("{TFA_VARIABLES}={}", quote(&words))
}

const TFA_REBUILD: &str =
    "(make menuconfig: Bootloaders → ARM Trusted Firmware → Additional ATF build variables), then `make arm-trusted-firmware-dirclean all`";

/// TF-A without `STM32MP_USB_PROGRAMMER=1` on line 0x01: STM32CubeProgrammer loads it over USB and it stops with
/// "Boot interface 6 not supported" ("Start operation failed at partition 0x01"). An error for the layout (flashing
/// with it would certainly fail), which affects only flashing ([`affects_only_flashing`]). When the description names
/// its own programmer TF-A (`[programmer] fsbl`), Buildroot's build is not what goes on line 0x01, and the rule is
/// silent.
#[must_use]
pub fn reject_no_usb_programmer(config: &Kconfig, target: &Target) -> Option<Problem> {
    if !config.is_y(TFA)
        || target.programmer_fsbl.is_some()
        || make_variables(config.get(TFA_VARIABLES).unwrap_or("")).get("STM32MP_USB_PROGRAMMER").map(String::as_str) == Some("1")
    {
        return None;
    }
    Some(
        Problem::error(
            "buildroot::no_usb_programmer",
            format!(
                "TF-A is built without STM32MP_USB_PROGRAMMER=1: flashing {} over USB stops at the first stage with \"ERROR: Boot interface 6 not supported\" on the console and \"Error: Start operation failed at partition 0x01\" in STM32CubeProgrammer",
                target.board
            ),
        )
        .at(config.location(TFA_VARIABLES))
        .with_help(format!(
            "write `{}` {TFA_REBUILD}; or name a TF-A built with STM32MP_USB_PROGRAMMER=1 in the description's [programmer] `fsbl`",
            fixed_tfa_line(config, target)
        )),
    )
}

/// The codes of problems that only affect flashing over USB (the layout), never the image: in Buildroot mode they do
/// not fail `make` — the image and its block map are written, the layout is not (a stale one is removed), and the
/// summary says what to add.
pub const FLASH_ONLY: &[&str] = &["buildroot::no_usb_programmer"];

/// Whether a problem affects only flashing ([`FLASH_ONLY`]).
#[must_use]
pub fn affects_only_flashing(problem: &Problem) -> bool {
    FLASH_ONLY.contains(&problem.code)
}

/// TF-A without the driver for the board's storage (`STM32MP_SDMMC=1` for an SD card, `STM32MP_EMMC=1` for an eMMC):
/// BL2 cannot load the second stage from it, so the board does not boot. An error.
#[must_use]
pub fn reject_missing_media_driver(config: &Kconfig, target: &Target) -> Option<Problem> {
    let var = target.media_variable();
    if !config.is_y(TFA) || make_variables(config.get(TFA_VARIABLES).unwrap_or("")).get(var).map(String::as_str) == Some("1") {
        return None;
    }
    let (code, what) = match target.media {
        Media::Sdcard => ("buildroot::no_sdmmc", "an SD card"),
        Media::Emmc => ("buildroot::no_emmc", "an eMMC"),
    };
    Some(
        Problem::error(
            code,
            format!(
                "TF-A is built without {var}=1 but {} boots from {what}: BL2 has no driver to load U-Boot from it, so the board stops in TF-A",
                target.board
            ),
        )
        .at(config.location(TFA_VARIABLES))
        .with_help(format!("write `{}` {TFA_REBUILD}", fixed_tfa_line(config, target))),
    )
}

/// U-Boot SPL as the first stage (no TF-A): STM32CubeProgrammer only works with TF-A as the first stage (the guide),
/// so flashing certainly fails. Without SPL and without TF-A, only a warning: the FSBL then comes from elsewhere.
#[must_use]
pub fn reject_spl_first_stage(config: &Kconfig, target: &Target) -> Option<Problem> {
    let spl_fsbl = target.fsbl.starts_with("u-boot-spl");
    if config.is_y(TFA) && !spl_fsbl {
        return None;
    }
    if config.is_y(UBOOT_SPL) || spl_fsbl {
        let at = if config.is_y(UBOOT_SPL) { config.location(UBOOT_SPL) } else { config.location(TFA) };
        return Some(
            Problem::error(
                "buildroot::spl_first_stage",
                format!(
                    "U-Boot SPL is the first stage ({}): STM32CubeProgrammer needs TF-A as the first stage, so flashing {} over USB cannot work",
                    if spl_fsbl { format!("the description's fsbl is {}", target.fsbl) } else { format!("{UBOOT_SPL}=y without {TFA}") },
                    target.board
                ),
            )
            .at(at)
            .with_help(format!(
                "switch to TF-A: {TFA}=y, BR2_TARGET_ARM_TRUSTED_FIRMWARE_PLATFORM=\"stm32mp1\", `{}`, BR2_TARGET_ARM_TRUSTED_FIRMWARE_IMAGES=\"*.stm32\"; U-Boot defconfig stm32mp15_trusted with BR2_TARGET_UBOOT_FORMAT_STM32=y; `# {UBOOT_SPL} is not set` (the shipped defconfigs do this)",
                fixed_tfa_line(config, target)
            )),
        );
    }
    Some(
        Problem::warning("buildroot::no_tfa", format!("this configuration does not build TF-A ({TFA} is not set); {} is used as found in the images folder", target.fsbl))
            .at(config.location(TFA))
            .with_help("enable TF-A in Buildroot so the first stage is built with the right variables, or make sure the file is a TF-A built with STM32MP_USB_PROGRAMMER=1"),
    )
}

/// TF-A's `DTB_FILE_NAME` against the description. TF-A names its image `tf-a-<dtb>.stm32`, so when the description's
/// fsbl follows that naming and names another device tree, the file used is a stale one or another board's: an error.
/// When the fsbl is named otherwise, the board name is compared and a difference is only a warning.
#[must_use]
pub fn reject_dtb_mismatch(config: &Kconfig, target: &Target) -> Option<Problem> {
    if !config.is_y(TFA) {
        return None;
    }
    let vars = make_variables(config.get(TFA_VARIABLES).unwrap_or(""));
    let (dtb, defaulted) = match vars.get("DTB_FILE_NAME") {
        Some(d) => (d.as_str(), false),
        None => (TFA_DEFAULT_DTB, true),
    };
    let built = dtb.rsplit('/').next().unwrap_or(dtb).strip_suffix(".dtb").unwrap_or(dtb);
    let how =
        if defaulted { format!("TF-A's default DTB_FILE_NAME={TFA_DEFAULT_DTB} (the variable is not set)") } else { format!("DTB_FILE_NAME={dtb}") };
    let at = config.location(TFA_VARIABLES);
    match target.fsbl_dtb() {
        Some(wanted) if wanted == built => None,
        Some(wanted) => Some(
            Problem::error(
                "buildroot::dtb_mismatch",
                format!(
                    "TF-A is built for {how}, so it writes tf-a-{built}.stm32, but the description of {} takes {} (device tree {wanted}.dtb): the image would hold a stale or another board's TF-A",
                    target.board, target.fsbl
                ),
            )
            .at(at)
            .with_help(format!(
                "write `{}` {TFA_REBUILD}; or pick the board description that matches this defconfig with --board",
                fixed_tfa_line(config, target)
            )),
        ),
        None if built == target.board => None,
        None => Some(
            Problem::warning(
                "buildroot::dtb_mismatch",
                format!("TF-A is built for {how} but the board is {}; check that {} is a TF-A for this board", target.board, target.fsbl),
            )
            .at(at)
            .with_help(format!("set DTB_FILE_NAME={}.dtb in {TFA_VARIABLES} if that is the board's device tree", target.board)),
        ),
    }
}

/// Every `.config` lint against the description, in a stable order.
#[must_use]
pub fn lint_config(config: &Kconfig, target: &Target) -> Vec<Problem> {
    [reject_spl_first_stage, reject_no_usb_programmer, reject_missing_media_driver, reject_dtb_mismatch]
        .iter()
        .filter_map(|lint| lint(config, target))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildroot::parse_kconfig;

    fn config(text: &str) -> Kconfig {
        let (c, p) = parse_kconfig(".config", text);
        assert!(p.is_empty(), "{p:?}");
        c
    }

    fn dk2() -> Target {
        Target { board: "stm32mp157c-dk2".into(), media: Media::Sdcard, fsbl: "tf-a-stm32mp157c-dk2.stm32".into(), programmer_fsbl: None }
    }

    const GOOD: &str = "BR2_arm=y\n# BR2_TARGET_UBOOT_SPL is not set\nBR2_TARGET_ARM_TRUSTED_FIRMWARE=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 STM32MP_USB_PROGRAMMER=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb\"\n";

    #[test]
    fn good_config_has_no_problem() {
        assert!(lint_config(&config(GOOD), &dk2()).is_empty());
    }

    #[test]
    fn missing_usb_programmer_is_an_error_with_the_line_to_write() {
        let c = config(&GOOD.replace(" STM32MP_USB_PROGRAMMER=1", ""));
        let p = lint_config(&c, &dk2());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, "buildroot::no_usb_programmer");
        assert!(p[0].is_error());
        assert_eq!(p[0].location.as_deref(), Some(".config:4"));
        assert!(p[0].help.as_deref().unwrap().contains(
            "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb STM32MP_USB_PROGRAMMER=1\""
        ));
        let c = config(&GOOD.replace("STM32MP_USB_PROGRAMMER=1", "STM32MP_USB_PROGRAMMER=0"));
        assert_eq!(lint_config(&c, &dk2())[0].code, "buildroot::no_usb_programmer");
        assert!(affects_only_flashing(&lint_config(&c, &dk2())[0]));
    }

    /// With its own programmer TF-A (`[programmer] fsbl`), what Buildroot builds is not sent on line 0x01.
    #[test]
    fn a_separate_programmer_tfa_is_not_buildroots() {
        let c = config(&GOOD.replace(" STM32MP_USB_PROGRAMMER=1", ""));
        let t = Target { programmer_fsbl: Some("tf-a-stm32mp157c-dk2-usb.stm32".into()), ..dk2() };
        assert!(lint_config(&c, &t).is_empty());
    }

    #[test]
    fn media_driver_follows_the_target() {
        let c = config(&GOOD.replace("STM32MP_SDMMC=1 ", ""));
        assert_eq!(lint_config(&c, &dk2())[0].code, "buildroot::no_sdmmc");
        let ev1 = Target { board: "stm32mp157c-ev1".into(), media: Media::Emmc, fsbl: "tf-a-stm32mp157c-ev1.stm32".into(), programmer_fsbl: None };
        let c = config(&GOOD.replace("stm32mp157c-dk2.dtb", "stm32mp157c-ev1.dtb"));
        let p = lint_config(&c, &ev1);
        assert_eq!(p.iter().map(|p| p.code).collect::<Vec<_>>(), ["buildroot::no_emmc"]);
        assert!(p[0].help.as_deref().unwrap().contains("STM32MP_EMMC=1"));
    }

    #[test]
    fn spl_without_tfa_is_an_error_and_no_tfa_a_warning() {
        let spl = config("# BR2_TARGET_ARM_TRUSTED_FIRMWARE is not set\nBR2_TARGET_UBOOT_SPL=y\n");
        let p = lint_config(&spl, &dk2());
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].code, p[0].is_error()), ("buildroot::spl_first_stage", true));
        assert_eq!(p[0].location.as_deref(), Some(".config:2"));
        let none = config("# BR2_TARGET_ARM_TRUSTED_FIRMWARE is not set\n");
        let p = lint_config(&none, &dk2());
        assert_eq!((p[0].code, p[0].is_error()), ("buildroot::no_tfa", false));
        let t = Target { fsbl: "u-boot-spl.stm32".into(), ..dk2() };
        assert_eq!(lint_config(&config(GOOD), &t)[0].code, "buildroot::spl_first_stage");
    }

    #[test]
    fn dtb_mismatch() {
        let c = config(&GOOD.replace("stm32mp157c-dk2.dtb", "stm32mp157a-dk1.dtb"));
        let p = lint_config(&c, &dk2());
        assert_eq!((p[0].code, p[0].is_error()), ("buildroot::dtb_mismatch", true));
        assert!(p[0].help.as_deref().unwrap().contains("DTB_FILE_NAME=stm32mp157c-dk2.dtb"), "{:?}", p[0].help);
        // Not set: TF-A's default is the EV1's device tree.
        let c = config(&GOOD.replace(" DTB_FILE_NAME=stm32mp157c-dk2.dtb", ""));
        assert!(lint_config(&c, &dk2())[0].message.contains("default"));
        // A renamed FSBL: compared with the board name, a warning.
        let t = Target { fsbl: "fsbl.stm32".into(), ..dk2() };
        assert!(lint_config(&config(GOOD), &t).is_empty());
        let c = config(&GOOD.replace("stm32mp157c-dk2.dtb", "other.dtb"));
        let p = lint_config(&c, &t);
        assert_eq!((p[0].code, p[0].is_error()), ("buildroot::dtb_mismatch", false));
    }
}
