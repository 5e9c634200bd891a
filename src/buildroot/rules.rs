//! The lints on Buildroot's configuration: TF-A built with USB programmer support and the right storage driver and
//! device tree, a TF-A whose BL2 loads what the description's boot chain puts on the card, no U-Boot SPL in front of
//! it — each error gives the exact `.config` line to write.

use std::fmt;

use super::{
    TFA, TFA_FIP, TFA_PLATFORM, TFA_VARIABLES, TFA_VERSION, UBOOT_SPL,
    kconfig::{Kconfig, make_variables, quote, with_variable, without_variable},
    tfa_default_dtb,
};
use crate::{
    board::{BoardFile, Chain, Media, Soc},
    diag::Problem,
};

/// What the lints need from the board description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Board name.
    pub board: String,
    /// SD card or eMMC.
    pub media: Media,
    /// The SoC: the trusted chain exists only on STM32MP15 (`plan::chain_soc` reports it elsewhere).
    pub soc: Soc,
    /// The boot chain: what TF-A's BL2 must load (`u-boot.stm32` from `ssbl`, or `fip.bin` from `fip`).
    pub chain: Chain,
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
            soc: board.board.soc.value,
            chain: board.boot.chain.value,
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

/// A TF-A release, `major.minor` (the patch level changes nothing the lints look at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TfaVersion {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl TfaVersion {
    /// v2.6: the first with `STM32MP_USB_PROGRAMMER` and with a FIP on STM32MP1 (the U-Boot `.stm32` path then needs
    /// `STM32MP_USE_STM32IMAGE=1`).
    pub const V2_6: TfaVersion = TfaVersion { major: 2, minor: 6 };
    /// v2.7: the last with `STM32MP_USE_STM32IMAGE`, which the tree's trusted defconfigs build.
    pub const V2_7: TfaVersion = TfaVersion { major: 2, minor: 7 };
    /// v2.8: the first whose BL2 loads only a FIP.
    pub const V2_8: TfaVersion = TfaVersion { major: 2, minor: 8 };

    /// A release tag as Buildroot names it: `v2.7`, `v2.7.0`, `v2.10.5`, `lts-v2.12.1`. Anything else (a Git hash, a
    /// branch, `custom`, a release candidate, a vendor's `v2.8-stm32mp-r2`) is no known release.
    #[must_use]
    pub fn parse(text: &str) -> Option<TfaVersion> {
        let text = text.strip_prefix("lts-").unwrap_or(text).strip_prefix('v')?;
        let number = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten();
        let mut parts = text.split('.');
        let major = number(parts.next()?)?;
        let minor = number(parts.next()?)?;
        if let Some(patch) = parts.next() {
            number(patch)?;
        }
        parts.next().is_none().then_some(TfaVersion { major, minor })
    }
}

impl fmt::Display for TfaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// The TF-A release Buildroot builds, when it is one of TF-A's own (a listed version or `Custom version`, fetched
/// from TF-A's repository). A custom tarball or Git repository may be a vendor's tree whatever its name says: `None`,
/// and no lint gives a verdict from the version.
#[must_use]
pub fn tfa_version(config: &Kconfig) -> Option<TfaVersion> {
    if config.is_y("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_TARBALL") || config.is_y("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_GIT") {
        return None;
    }
    TfaVersion::parse(config.get(TFA_VERSION)?)
}

/// TF-A's variables with every fix the lints ask for applied, for a TF-A of `version` (`None`: not known): the line
/// to write into the `.config`. `STM32MP_USB_PROGRAMMER=1` and `STM32MP_USE_STM32IMAGE=1` (trusted chain) are not
/// asked of a TF-A older than v2.6, which has neither; a FIP chain never keeps `STM32MP_USE_STM32IMAGE=1`.
fn fixed_tfa_line_for(config: &Kconfig, target: &Target, version: Option<TfaVersion>) -> String {
    let mut words = config.get(TFA_VARIABLES).unwrap_or("").to_string();
    let vars = make_variables(&words);
    let old = version.is_some_and(|v| v < TfaVersion::V2_6);
    let is_one = |key: &str| vars.get(key).map(String::as_str) == Some("1");
    if !old && !is_one("STM32MP_USB_PROGRAMMER") {
        words = with_variable(&words, "STM32MP_USB_PROGRAMMER", "1");
    }
    match target.chain {
        Chain::Trusted if !old && !is_one("STM32MP_USE_STM32IMAGE") => words = with_variable(&words, "STM32MP_USE_STM32IMAGE", "1"),
        Chain::Fip if vars.contains_key("STM32MP_USE_STM32IMAGE") => words = without_variable(&words, "STM32MP_USE_STM32IMAGE"),
        _ => {}
    }
    if !is_one(target.media_variable()) {
        words = with_variable(&words, target.media_variable(), "1");
    }
    if let Some(dtb) = target.fsbl_dtb() {
        words = with_variable(&words, "DTB_FILE_NAME", &format!("{dtb}.dtb"));
    }
    format!("{TFA_VARIABLES}={}", quote(&words))
}

/// TF-A's variables with every fix the lints ask for applied: the line to write into the `.config`.
#[must_use]
pub fn fixed_tfa_line(config: &Kconfig, target: &Target) -> String {
    fixed_tfa_line_for(config, target, tfa_version(config))
}

const TFA_REBUILD: &str =
    "(make menuconfig: Bootloaders → ARM Trusted Firmware → Additional ATF build variables), then `make arm-trusted-firmware-dirclean all`";

/// The `.config` lines of a TF-A v2.7 with the U-Boot `.stm32` path, as the tree's `*_imager_trusted` defconfigs build it.
fn tfa_v2_7_lines(config: &Kconfig, target: &Target) -> String {
    format!(
        "BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION=y, BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_VERSION_VALUE=\"v2.7\" and `{}`, as the tree's *_imager_trusted defconfigs do",
        fixed_tfa_line_for(config, target, Some(TfaVersion::V2_7))
    )
}

/// TF-A without `STM32MP_USB_PROGRAMMER=1` on line 0x01: STM32CubeProgrammer loads it over USB and it stops with
/// "Boot interface 6 not supported" ("Start operation failed at partition 0x01"). An error for the layout (flashing
/// with it would certainly fail), which affects only flashing ([`affects_only_flashing`]). A TF-A older than v2.6 has
/// no USB programmer support at all (the variable came in v2.6): the same problem, whose help asks for a newer TF-A —
/// except with a FIP chain, where [`reject_chain_mismatch`] already asks for one (one cause, one error). When the
/// description names its own programmer TF-A (`[programmer] fsbl`), Buildroot's build is not what goes on line 0x01,
/// and the rule is silent.
#[must_use]
pub fn reject_no_usb_programmer(config: &Kconfig, target: &Target) -> Option<Problem> {
    if !config.is_y(TFA) || target.programmer_fsbl.is_some() {
        return None;
    }
    let stops = format!(
        "flashing {} over USB stops at the first stage with \"ERROR: Boot interface 6 not supported\" on the console and \"Error: Start operation failed at partition 0x01\" in STM32CubeProgrammer",
        target.board
    );
    if let Some(version) = tfa_version(config).filter(|v| *v < TfaVersion::V2_6) {
        if target.chain == Chain::Fip {
            return None;
        }
        return Some(
            Problem::error(
                "buildroot::no_usb_programmer",
                format!("TF-A {version} has no USB programmer support (STM32MP_USB_PROGRAMMER came in TF-A v2.6): {stops}"),
            )
            .at(config.location(TFA_VERSION))
            .with_help(format!(
                "upgrade TF-A to v2.7: {}; or name a TF-A built with STM32MP_USB_PROGRAMMER=1 in the description's [programmer] `fsbl`",
                tfa_v2_7_lines(config, target)
            )),
        );
    }
    if make_variables(config.get(TFA_VARIABLES).unwrap_or("")).get("STM32MP_USB_PROGRAMMER").map(String::as_str) == Some("1") {
        return None;
    }
    Some(
        Problem::error("buildroot::no_usb_programmer", format!("TF-A is built without STM32MP_USB_PROGRAMMER=1: {stops}"))
            .at(config.location(TFA_VARIABLES))
            .with_help(format!(
                "write `{}` {TFA_REBUILD}; or name a TF-A built with STM32MP_USB_PROGRAMMER=1 in the description's [programmer] `fsbl`",
                fixed_tfa_line(config, target)
            )),
    )
}

/// TF-A's BL2 against the description's boot chain. Up to v2.5 BL2 loads U-Boot's `.stm32` from the partition `ssbl`
/// (the trusted chain); v2.6 and v2.7 load a FIP from the partition `fip` unless built with
/// `STM32MP_USE_STM32IMAGE=1`; from v2.8 on BL2 loads only a FIP (TF-A's `plat/st/common/bl2_io_storage.c`). A BL2
/// that looks for what the card does not hold stops the board in TF-A: an error at the `.config` line to change (the
/// version, or the variables). For a TF-A whose version is not known ([`tfa_version`]), only a warning when the
/// configuration points the other way (`BR2_TARGET_ARM_TRUSTED_FIRMWARE_FIP=y` without `STM32MP_USE_STM32IMAGE=1`
/// for a trusted chain, `STM32MP_USE_STM32IMAGE=1` for a FIP chain). A trusted chain on another SoC than STM32MP15 is
/// the description's error (`plan::chain_soc`), not reported again here.
#[must_use]
pub fn reject_chain_mismatch(config: &Kconfig, target: &Target) -> Option<Problem> {
    if !config.is_y(TFA) || (target.chain == Chain::Trusted && target.soc != Soc::Stm32mp15) {
        return None;
    }
    let stm32image = make_variables(config.get(TFA_VARIABLES).unwrap_or("")).get("STM32MP_USE_STM32IMAGE").map(String::as_str) == Some("1");
    let shown = config.get(TFA_VERSION).unwrap_or("(not set)");
    let board = &target.board;
    let trusted = format!("the description of {board} uses the trusted chain (U-Boot's .stm32 in the partition `ssbl`)");
    let fip = format!("the description of {board} uses the FIP chain (fip.bin in the partition `fip`)");
    let fip_board = format!("or pick a description with chain = \"fip\" (board/{board}-fip.toml for ST's boards) with --board");
    let trusted_board =
        format!("or pick a description with chain = \"trusted\" (board/{}.toml for ST's boards) with --board", board.trim_end_matches("-fip"));
    match (target.chain, tfa_version(config)) {
        (Chain::Trusted, Some(v)) if v >= TfaVersion::V2_8 => Some(
            Problem::error(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} builds a BL2 that loads only a FIP, from the partition `fip` (STM32MP_USE_STM32IMAGE was removed in v2.8), but {trusted}: the board would stop in TF-A"),
            )
            .at(config.location(TFA_VERSION))
            .with_help(format!("build TF-A v2.7: {}; {fip_board}", tfa_v2_7_lines(config, target))),
        ),
        (Chain::Trusted, Some(v)) if v >= TfaVersion::V2_6 && !stm32image => Some(
            Problem::error(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} without STM32MP_USE_STM32IMAGE=1 builds a BL2 that loads a FIP from the partition `fip`, but {trusted}: the board would stop in TF-A"),
            )
            .at(config.location(TFA_VARIABLES))
            .with_help(format!("write `{}` {TFA_REBUILD}; {fip_board}", fixed_tfa_line(config, target))),
        ),
        (Chain::Trusted, None) if !stm32image && config.is_y(TFA_FIP) => Some(
            Problem::warning(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} is not a known TF-A release and is built with {TFA_FIP}=y and without STM32MP_USE_STM32IMAGE=1: from v2.6 on such a BL2 loads a FIP from the partition `fip`, but {trusted}"),
            )
            .at(config.location(TFA_FIP))
            .with_help(format!(
                "for a TF-A v2.6 or v2.7, write `{}` and `# {TFA_FIP} is not set` {TFA_REBUILD}; from v2.8 on, {}",
                fixed_tfa_line(config, target),
                fip_board.trim_start_matches("or ")
            )),
        ),
        (Chain::Fip, Some(v)) if v < TfaVersion::V2_6 => Some(
            Problem::error(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} has no FIP support on STM32MP (it came in v2.6): its BL2 loads U-Boot's .stm32 from the partition `ssbl`, but {fip}: the board would stop in TF-A"),
            )
            .at(config.location(TFA_VERSION))
            .with_help(format!(
                "use TF-A v2.8 or later: BR2_TARGET_ARM_TRUSTED_FIRMWARE_LATEST_LTS_2_12_VERSION=y with {TFA_FIP}=y and `{}`, as the tree's FIP defconfigs do; {trusted_board}",
                fixed_tfa_line_for(config, target, Some(TfaVersion::V2_8))
            )),
        ),
        (Chain::Fip, Some(v)) if v < TfaVersion::V2_8 && stm32image => Some(
            Problem::error(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} with STM32MP_USE_STM32IMAGE=1 builds a BL2 that loads U-Boot's .stm32 from the partition `ssbl`, but {fip}: the board would stop in TF-A"),
            )
            .at(config.location(TFA_VARIABLES))
            .with_help(format!("write `{}` (without STM32MP_USE_STM32IMAGE) {TFA_REBUILD}; {trusted_board}", fixed_tfa_line(config, target))),
        ),
        (Chain::Fip, None) if stm32image => Some(
            Problem::warning(
                "buildroot::chain_mismatch",
                format!("TF-A {shown} is not a known TF-A release and is built with STM32MP_USE_STM32IMAGE=1: a v2.6 or v2.7 BL2 then loads U-Boot's .stm32 from the partition `ssbl`, but {fip}"),
            )
            .at(config.location(TFA_VARIABLES))
            .with_help(format!("write `{}` (without STM32MP_USE_STM32IMAGE) {TFA_REBUILD}", fixed_tfa_line(config, target))),
        ),
        _ => None,
    }
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
    let platform = config.get(TFA_PLATFORM).unwrap_or("");
    let (dtb, defaulted) = match (vars.get("DTB_FILE_NAME"), tfa_default_dtb(platform)) {
        (Some(d), _) => (d.as_str(), false),
        (None, Some(d)) => (d, true),
        // Another platform: its default is not known, so no verdict.
        (None, None) => return None,
    };
    let built = dtb.rsplit('/').next().unwrap_or(dtb).strip_suffix(".dtb").unwrap_or(dtb);
    let how = if defaulted {
        format!("TF-A's default DTB_FILE_NAME={dtb} for PLATFORM={platform} (the variable is not set)")
    } else {
        format!("DTB_FILE_NAME={dtb}")
    };
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
    [reject_spl_first_stage, reject_chain_mismatch, reject_no_usb_programmer, reject_missing_media_driver, reject_dtb_mismatch]
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
        Target {
            board: "stm32mp157c-dk2".into(),
            media: Media::Sdcard,
            soc: Soc::Stm32mp15,
            chain: Chain::Fip,
            fsbl: "tf-a-stm32mp157c-dk2.stm32".into(),
            programmer_fsbl: None,
        }
    }

    /// A FIP chain's TF-A of an unknown version (no VERSION line).
    const GOOD: &str = "BR2_arm=y\n# BR2_TARGET_UBOOT_SPL is not set\nBR2_TARGET_ARM_TRUSTED_FIRMWARE=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 STM32MP_USB_PROGRAMMER=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb\"\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_PLATFORM=\"stm32mp1\"\n";

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
        let ev1 = Target { board: "stm32mp157c-ev1".into(), media: Media::Emmc, fsbl: "tf-a-stm32mp157c-ev1.stm32".into(), ..dk2() };
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

    fn codes(c: &Kconfig, t: &Target) -> Vec<(&'static str, bool)> {
        lint_config(c, t).iter().map(|p| (p.code, p.is_error())).collect()
    }

    #[test]
    fn tfa_versions() {
        let v = |major, minor| Some(TfaVersion { major, minor });
        assert_eq!(TfaVersion::parse("v2.7"), v(2, 7));
        assert_eq!(TfaVersion::parse("v2.7.0"), v(2, 7));
        assert_eq!(TfaVersion::parse("lts-v2.12.1"), v(2, 12));
        assert_eq!(TfaVersion::parse("v2.10.5"), v(2, 10));
        assert_eq!(TfaVersion::parse("lts-v2.10.5"), v(2, 10));
        assert!(TfaVersion::parse("v2.10").unwrap() > TfaVersion::V2_8, "compared as numbers, not text");
        for unknown in ["custom", "", "v2", "2.7", "v2.8-rc0", "v2.8-stm32mp-r2", "v2.x", "v2.7.0.1", "0123abcd", "master"] {
            assert_eq!(TfaVersion::parse(unknown), None, "{unknown}");
        }
        // A custom tarball or Git repository: whatever its name, no known release.
        let c = config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.7\"\n");
        assert_eq!(tfa_version(&c), v(2, 7));
        let c = config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_GIT=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"v2.7\"\n");
        assert_eq!(tfa_version(&c), None);
        let c = config("BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_TARBALL=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"custom\"\n");
        assert_eq!(tfa_version(&c), None);
    }

    fn with_version(text: &str, version: &str) -> String {
        format!("{text}BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"{version}\"\n")
    }

    #[test]
    fn trusted_chain_needs_a_tfa_that_loads_ssbl() {
        let trusted = Target { chain: Chain::Trusted, ..dk2() };
        let stm32image = GOOD.replace("STM32MP_SDMMC=1", "STM32MP_USE_STM32IMAGE=1 STM32MP_SDMMC=1");
        // v2.7 with STM32MP_USE_STM32IMAGE=1 (the tree's trusted defconfigs), or up to v2.5: fine.
        assert!(codes(&config(&with_version(&stm32image, "v2.7")), &trusted).is_empty());
        assert!(codes(&config(&with_version(&stm32image, "v2.6")), &trusted).is_empty());
        // v2.7 without it: BL2 loads a FIP; the error is on the variables line, whose fix adds it.
        let c = config(&with_version(GOOD, "v2.7"));
        let p = lint_config(&c, &trusted);
        assert_eq!(codes(&c, &trusted), [("buildroot::chain_mismatch", true)]);
        assert_eq!(p[0].location.as_deref(), Some(".config:4"));
        assert!(p[0].help.as_deref().unwrap().contains("STM32MP_USE_STM32IMAGE=1\"`"), "{:?}", p[0].help);
        // v2.8 and later load only a FIP, with or without the variable: the error is on the version line.
        for version in ["v2.8", "lts-v2.8.20", "v2.10.5", "lts-v2.12.1", "v2.12"] {
            for text in [GOOD, stm32image.as_str()] {
                let c = config(&with_version(text, version));
                let p = lint_config(&c, &trusted);
                assert_eq!(codes(&c, &trusted), [("buildroot::chain_mismatch", true)], "{version}");
                assert_eq!(p[0].location.as_deref(), Some(".config:6"), "{version}");
                let help = p[0].help.as_deref().unwrap();
                assert!(
                    help.contains("CUSTOM_VERSION_VALUE=\"v2.7\"")
                        && help.contains("STM32MP_USE_STM32IMAGE=1")
                        && help.contains("stm32mp157c-dk2-fip.toml"),
                    "{help}"
                );
            }
        }
        // Unknown version (custom Git): no version-based verdict; with the FIP built, a warning.
        let git = |text: &str| {
            config(&format!("{text}BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_GIT=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"lts-v2.12.1\"\n"))
        };
        assert!(codes(&git(GOOD), &trusted).is_empty());
        assert!(codes(&git(&stm32image), &trusted).is_empty());
        let c = git(&format!("{GOOD}BR2_TARGET_ARM_TRUSTED_FIRMWARE_FIP=y\n"));
        assert_eq!(codes(&c, &trusted), [("buildroot::chain_mismatch", false)]);
        // The trusted chain on an STM32MP13 is the description's error (plan::chain_soc), not reported twice.
        let mp13 = Target { soc: Soc::Stm32mp13, ..trusted.clone() };
        assert!(codes(&config(&with_version(GOOD, "lts-v2.12.1")), &mp13).is_empty());
        assert!(codes(&git(&format!("{stm32image}BR2_TARGET_ARM_TRUSTED_FIRMWARE_FIP=y\n")), &trusted).is_empty());
    }

    #[test]
    fn fip_chain_needs_a_tfa_that_loads_a_fip() {
        let stm32image = GOOD.replace("STM32MP_SDMMC=1", "STM32MP_USE_STM32IMAGE=1 STM32MP_SDMMC=1");
        assert!(codes(&config(&with_version(GOOD, "lts-v2.12.1")), &dk2()).is_empty());
        assert!(codes(&config(&with_version(GOOD, "v2.6")), &dk2()).is_empty());
        // v2.8+ ignores the variable.
        assert!(codes(&config(&with_version(&stm32image, "lts-v2.12.1")), &dk2()).is_empty());
        let c = config(&with_version(&stm32image, "v2.7"));
        let p = lint_config(&c, &dk2());
        assert_eq!(codes(&c, &dk2()), [("buildroot::chain_mismatch", true)]);
        assert_eq!(p[0].location.as_deref(), Some(".config:4"));
        assert!(!p[0].help.as_deref().unwrap().contains("STM32MP_USE_STM32IMAGE=1"), "{:?}", p[0].help);
        // Up to v2.5 there is no FIP on STM32MP1: one error on the version line (the missing USB support is the same
        // cause, not a second problem).
        let c = config(&with_version(GOOD, "v2.5"));
        let p = lint_config(&c, &dk2());
        assert_eq!(codes(&c, &dk2()), [("buildroot::chain_mismatch", true)]);
        assert_eq!(p[0].location.as_deref(), Some(".config:6"));
        assert!(p[0].help.as_deref().unwrap().contains("LATEST_LTS_2_12_VERSION=y"));
        // Unknown version: only STM32MP_USE_STM32IMAGE=1 points the other way, a warning.
        let tarball =
            |t: &str| config(&format!("{t}BR2_TARGET_ARM_TRUSTED_FIRMWARE_CUSTOM_TARBALL=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION=\"custom\"\n"));
        assert!(codes(&tarball(GOOD), &dk2()).is_empty());
        assert_eq!(codes(&tarball(&stm32image), &dk2()), [("buildroot::chain_mismatch", false)]);
    }

    /// STM32MP_USB_PROGRAMMER came in TF-A v2.6: before, setting it cannot help; the help asks for a newer TF-A.
    #[test]
    fn tfa_before_v2_6_has_no_usb_programmer() {
        let trusted = Target { chain: Chain::Trusted, ..dk2() };
        let c = config(&with_version(GOOD, "v2.5"));
        let p = lint_config(&c, &trusted);
        assert_eq!(codes(&c, &trusted), [("buildroot::no_usb_programmer", true)]);
        assert!(affects_only_flashing(&p[0]));
        assert_eq!(p[0].location.as_deref(), Some(".config:6"));
        assert!(p[0].message.contains("v2.6"), "{}", p[0].message);
        let help = p[0].help.as_deref().unwrap();
        assert!(help.starts_with("upgrade TF-A to v2.7") && help.contains("CUSTOM_VERSION_VALUE=\"v2.7\""), "{help}");
        // Another problem's line to write does not add what v2.5 does not have.
        let c = config(&with_version(&GOOD.replace(" STM32MP_USB_PROGRAMMER=1", "").replace("STM32MP_SDMMC=1 ", ""), "v2.4"));
        let p = lint_config(&c, &trusted);
        let sdmmc = p.iter().find(|p| p.code == "buildroot::no_sdmmc").unwrap();
        assert!(!sdmmc.help.as_deref().unwrap().contains("STM32MP_USB_PROGRAMMER"), "{:?}", sdmmc.help);
        // v2.6 with the variable: fine.
        let stm32image = GOOD.replace("STM32MP_SDMMC=1", "STM32MP_USE_STM32IMAGE=1 STM32MP_SDMMC=1");
        assert!(codes(&config(&with_version(&stm32image, "v2.6")), &trusted).is_empty());
        // Its own programmer TF-A: silent.
        let own = Target { programmer_fsbl: Some("tf-a-usb.stm32".into()), ..trusted };
        assert!(codes(&config(&with_version(GOOD, "v2.5")), &own).is_empty());
    }

    /// TF-A's default device tree follows the platform.
    #[test]
    fn default_dtb_per_platform() {
        let mp25 = Target {
            board: "stm32mp257f-ev1".into(),
            media: Media::Sdcard,
            soc: Soc::Stm32mp25,
            chain: Chain::Fip,
            fsbl: "tf-a-stm32mp257f-ev1.stm32".into(),
            programmer_fsbl: None,
        };
        let no_dtb = GOOD.replace(" DTB_FILE_NAME=stm32mp157c-dk2.dtb", "");
        let mp2 = config(&no_dtb.replace("\"stm32mp1\"", "\"stm32mp2\""));
        assert!(codes(&mp2, &mp25).is_empty());
        let p = lint_config(&config(&no_dtb), &mp25);
        assert_eq!(p.iter().map(|p| p.code).collect::<Vec<_>>(), ["buildroot::dtb_mismatch"]);
        assert!(p[0].message.contains("stm32mp157c-ev1.dtb for PLATFORM=stm32mp1"), "{}", p[0].message);
        // An MP13 build is PLATFORM=stm32mp1 too: its default is still the STM32MP157C-EV1's.
        let mp13 = Target { board: "stm32mp135f-dk".into(), soc: Soc::Stm32mp13, fsbl: "tf-a-stm32mp135f-dk.stm32".into(), ..mp25.clone() };
        assert_eq!(codes(&config(&no_dtb), &mp13), [("buildroot::dtb_mismatch", true)]);
        // Another platform: no default assumed, no verdict.
        assert!(codes(&config(&no_dtb.replace("\"stm32mp1\"", "\"other\"")), &mp25).is_empty());
    }
}
