//! Buildroot mode, the pure half: the post-image script's environment and arguments, the `.config` (Kconfig), TF-A's
//! build variables and `extlinux.conf` as values, and the lints that hold them against the board description and
//! its plan.
//!
//! No I/O here: the caller (`cli::buildroot_post_image`) passes the environment as a map and file contents as strings,
//! and gets values and [`Problem`]s back. Buildroot's contract (`reference/buildroot.md` §2): `$1` is `BINARIES_DIR`,
//! then the words of `BR2_ROOTFS_POST_SCRIPT_ARGS` and `BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS`; `BR2_CONFIG`, `HOST_DIR`,
//! `TARGET_DIR`, `BUILD_DIR`, `BASE_DIR`, `BINARIES_DIR` and `BR2_EXTERNAL_<NAME>_PATH` are in the environment.

use std::{
    collections::BTreeMap,
    fmt::Write,
    path::{Path, PathBuf},
};

use crate::{
    board::{BoardFile, Media},
    diag::Problem,
    guid::Guid,
    plan::{Plan, Role},
    units::human_bytes,
};

/// The name of this repository's BR2_EXTERNAL tree (`buildroot-external/external.desc`).
pub const EXTERNAL_NAME: &str = "STM32MP_IMAGER";
/// TF-A's Kconfig switch.
pub const TFA: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE";
/// TF-A's additional make variables (a string of `KEY=VALUE` words).
pub const TFA_VARIABLES: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES";
/// U-Boot SPL switch.
pub const UBOOT_SPL: &str = "BR2_TARGET_UBOOT_SPL";
/// The device tree TF-A builds when `DTB_FILE_NAME` is not given (TF-A's `plat/st/stm32mp1/platform.mk`).
pub const TFA_DEFAULT_DTB: &str = "stm32mp157c-ev1.dtb";
/// Where U-Boot's distro boot reads the kernel command line, relative to `TARGET_DIR`.
pub const EXTLINUX_CONF: &str = "boot/extlinux/extlinux.conf";

/// Why Buildroot mode cannot start; each becomes an error [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable Buildroot always exports is missing.
    #[error("{var} is not set: `buildroot-post-image` runs as Buildroot's post-image script (make exports {var})")]
    Missing {
        /// The variable.
        var: &'static str,
    },
    /// `$1` and `BINARIES_DIR` name different folders.
    #[error("the images folder {arg} is not BINARIES_DIR ({env}); Buildroot mode writes only into BINARIES_DIR")]
    NotBinariesDir {
        /// `$1`.
        arg: String,
        /// `BINARIES_DIR`.
        env: String,
    },
    /// No `--board` in the post-script arguments.
    #[error("no board description named: the post-image arguments have no `--board`")]
    NoBoard,
    /// `--board` without a value.
    #[error("`--board` needs a value (a board name such as stm32mp157c-dk2, or a path to a .toml)")]
    BoardWithoutValue,
    /// No candidate file exists.
    #[error("board description `{board}` not found; looked at: {}", tried.join(", "))]
    BoardNotFound {
        /// As given.
        board: String,
        /// The paths tried, in order.
        tried: Vec<String>,
    },
}

impl EnvError {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            EnvError::Missing { .. } => "buildroot::missing_env",
            EnvError::NotBinariesDir { .. } => "buildroot::not_binaries_dir",
            EnvError::NoBoard | EnvError::BoardWithoutValue => "buildroot::no_board",
            EnvError::BoardNotFound { .. } => "buildroot::board_not_found",
        }
    }

    /// As a problem, with the fix.
    #[must_use]
    pub fn to_problem(&self) -> Problem {
        let help = match self {
            EnvError::Missing { .. } => {
                "run it through Buildroot (BR2_ROOTFS_POST_IMAGE_SCRIPT), or use `stm32mp-imager build BOARD.toml --images DIR` by hand"
            }
            EnvError::NotBinariesDir { .. } => "call it as Buildroot does: `post-image.sh \"$BINARIES_DIR\" …` (Buildroot passes BINARIES_DIR first)",
            EnvError::NoBoard | EnvError::BoardWithoutValue => {
                "add the board to the post-script arguments, e.g. BR2_ROOTFS_POST_SCRIPT_ARGS=\"--board stm32mp157c-dk2\" (as the shipped defconfigs do)"
            }
            EnvError::BoardNotFound { .. } => {
                "give a path to the .toml (relative paths are relative to Buildroot's top folder), or put NAME.toml in the board/ folder of a BR2_EXTERNAL tree"
            }
        };
        Problem::error(self.code(), self.to_string()).with_help(help)
    }
}

/// The post-image arguments after `$1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostImageArgs {
    /// `--board NAME|PATH`.
    pub board: Option<String>,
    /// `--no-bmap` turns the block map off.
    pub bmap: bool,
}

/// Parse the words Buildroot passes after `BINARIES_DIR`: `--board NAME|PATH` (or `--board=…`) and `--no-bmap`.
/// Other words are ignored with a warning: `BR2_ROOTFS_POST_SCRIPT_ARGS` is shared with post-build scripts, which
/// may take words of their own.
pub fn parse_post_args(words: &[String]) -> (Result<PostImageArgs, EnvError>, Vec<Problem>) {
    let mut args = PostImageArgs { board: None, bmap: true };
    let mut problems = Vec::new();
    let mut error = None;
    let mut it = words.iter();
    while let Some(word) = it.next() {
        if word == "--board" {
            match it.next() {
                Some(v) if !v.starts_with("--") => args.board = Some(v.clone()),
                _ => error = Some(EnvError::BoardWithoutValue),
            }
        } else if let Some(v) = word.strip_prefix("--board=") {
            if v.is_empty() {
                error = Some(EnvError::BoardWithoutValue);
            } else {
                args.board = Some(v.to_string());
            }
        } else if word == "--no-bmap" {
            args.bmap = false;
        } else {
            problems.push(
                Problem::warning("buildroot::unknown_arg", format!("post-image argument `{word}` is not one of stm32mp-imager's; ignored"))
                    .with_help("stm32mp-imager takes `--board NAME|PATH` and `--no-bmap`; other words may belong to post-build scripts"),
            );
        }
    }
    match (error, &args.board) {
        (Some(e), _) => (Err(e), problems),
        (None, None) => (Err(EnvError::NoBoard), problems),
        (None, Some(_)) => (Ok(args), problems),
    }
}

/// Buildroot's environment, as far as Buildroot mode uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildrootEnv {
    /// `$1`: where the inputs are and the only place outputs go.
    pub images_dir: PathBuf,
    /// `BINARIES_DIR`, when exported (it should name the same folder as `$1`).
    pub binaries_dir: Option<PathBuf>,
    /// `BR2_CONFIG`: the `.config` file.
    pub br2_config: PathBuf,
    /// `TARGET_DIR`: the root file system's staging tree (for `extlinux.conf`).
    pub target_dir: Option<PathBuf>,
    /// `BR2_EXTERNAL_<NAME>_PATH` of every external tree, in `BR2_EXTERNAL_NAMES` order.
    pub externals: Vec<(String, PathBuf)>,
}

impl BuildrootEnv {
    /// Read the environment map. `images_dir` is `$1`.
    pub fn from_env(env: &BTreeMap<String, String>, images_dir: &Path) -> Result<BuildrootEnv, EnvError> {
        let path = |k: &str| env.get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let br2_config = path("BR2_CONFIG").ok_or(EnvError::Missing { var: "BR2_CONFIG" })?;
        let mut names: Vec<String> = env.get("BR2_EXTERNAL_NAMES").map(|n| n.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        // Older Buildroots (or a hand-made environment) may lack BR2_EXTERNAL_NAMES: take every *_PATH variable.
        for key in env.keys() {
            if let Some(name) = key.strip_prefix("BR2_EXTERNAL_").and_then(|k| k.strip_suffix("_PATH"))
                && !name.is_empty()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
        let externals = names.into_iter().filter_map(|n| path(&format!("BR2_EXTERNAL_{n}_PATH")).map(|p| (n, p))).collect();
        Ok(BuildrootEnv {
            images_dir: images_dir.to_path_buf(),
            binaries_dir: path("BINARIES_DIR"),
            br2_config,
            target_dir: path("TARGET_DIR"),
            externals,
        })
    }

    /// Where a `--board` value may be, in search order. A value with a `/` or ending in `.toml` is a path (relative to
    /// the current folder, which Buildroot sets to its top folder); a name is looked up as `board/NAME.toml` in each
    /// external tree, then in the repository holding this tool's tree (`buildroot-external/../board/NAME.toml`).
    #[must_use]
    pub fn board_candidates(&self, board: &str) -> Vec<PathBuf> {
        if board.contains('/') || board.ends_with(".toml") {
            return vec![PathBuf::from(board)];
        }
        let file = format!("{board}.toml");
        let mut out: Vec<PathBuf> = self.externals.iter().map(|(_, p)| p.join("board").join(&file)).collect();
        if let Some((_, ours)) = self.externals.iter().find(|(n, _)| n == EXTERNAL_NAME) {
            out.push(ours.join("..").join("board").join(&file));
        }
        out
    }
}

/// A value in a `.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KValue {
    /// `KEY=value` (`y`, a number) or `KEY="string"` (unescaped).
    Set(String),
    /// `# KEY is not set`.
    NotSet,
}

/// A parsed `.config`: every symbol with its value and 1-based line.
#[derive(Debug, Clone, Default)]
pub struct Kconfig {
    /// The file name shown in messages.
    pub name: String,
    /// Symbol → (value, line).
    pub entries: BTreeMap<String, (KValue, usize)>,
}

impl Kconfig {
    /// The value of a set symbol (strings unquoted).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.entries.get(key) {
            Some((KValue::Set(v), _)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Whether a bool symbol is `y`.
    #[must_use]
    pub fn is_y(&self, key: &str) -> bool {
        self.get(key) == Some("y")
    }

    /// `file:line` of a symbol, or the file name when it is absent.
    #[must_use]
    pub fn location(&self, key: &str) -> String {
        match self.entries.get(key) {
            Some((_, line)) => format!("{}:{line}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Parse a Kconfig `.config`: `KEY=value`, `KEY="quoted \"text\""`, `# KEY is not set`, comments, blank lines.
/// Lines that fit none of these are reported as warnings and skipped.
#[must_use]
pub fn parse_kconfig(name: &str, text: &str) -> (Kconfig, Vec<Problem>) {
    let mut config = Kconfig { name: name.to_string(), entries: BTreeMap::new() };
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let number = i + 1;
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(key) = rest.strip_suffix(" is not set")
                && is_symbol(key)
            {
                config.entries.insert(key.to_string(), (KValue::NotSet, number));
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.split_once('=').and_then(|(key, value)| {
            if !is_symbol(key) {
                return None;
            }
            let value = if let Some(inner) = value.strip_prefix('"') { unquote(inner)? } else { value.to_string() };
            Some((key.to_string(), value))
        });
        match parsed {
            Some((key, value)) => {
                config.entries.insert(key, (KValue::Set(value), number));
            }
            None => problems.push(
                Problem::warning("buildroot::config_syntax", format!("line not understood: `{line}`; skipped"))
                    .at(format!("{name}:{number}"))
                    .with_help("a .config line is `KEY=value`, `KEY=\"text\"` or `# KEY is not set`; regenerate it with `make olddefconfig`"),
            ),
        }
    }
    (config, problems)
}

fn is_symbol(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The inside of a Kconfig string after its opening quote: `\"` and `\\` escapes, closing quote last.
fn unquote(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Kconfig string quoting, the inverse of [`unquote`].
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Make-style `KEY=VALUE` words; a later word overrides an earlier one, as on make's command line.
#[must_use]
pub fn make_variables(words: &str) -> BTreeMap<String, String> {
    words.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Set `KEY=VALUE` in a variables string: replace the existing word(s), or append.
fn with_variable(words: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key}=");
    let mut out: Vec<String> = Vec::new();
    let mut replaced = false;
    for w in words.split_whitespace() {
        if w.starts_with(&prefix) {
            if !replaced {
                out.push(format!("{key}={value}"));
                replaced = true;
            }
        } else {
            out.push(w.to_string());
        }
    }
    if !replaced {
        out.push(format!("{key}={value}"));
    }
    out.join(" ")
}

/// What the lints need from the board description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Board name.
    pub board: String,
    /// SD card or eMMC.
    pub media: Media,
    /// The FSBL file name (TF-A names it `tf-a-<dtb>.stm32`).
    pub fsbl: String,
}

impl Target {
    /// From a parsed description.
    #[must_use]
    pub fn from_board(board: &BoardFile) -> Target {
        Target { board: board.board.name.value.clone(), media: board.storage.media.value, fsbl: board.boot.fsbl.value.clone() }
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

/// TF-A without `STM32MP_USB_PROGRAMMER=1`: STM32CubeProgrammer loads it over USB and it stops with "Boot interface 6
/// not supported" ("Start operation failed at partition 0x01"). An error: flashing with the generated `flash.tsv`
/// would certainly fail.
#[must_use]
pub fn reject_no_usb_programmer(config: &Kconfig, target: &Target) -> Option<Problem> {
    if !config.is_y(TFA) || make_variables(config.get(TFA_VARIABLES).unwrap_or("")).get("STM32MP_USB_PROGRAMMER").map(String::as_str) == Some("1") {
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
        .with_help(format!("write `{}` {TFA_REBUILD}", fixed_tfa_line(config, target))),
    )
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

/// What `root=` must name: the planned root file system partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootExpectation {
    /// Partition name.
    pub name: String,
    /// GPT partition number (1-based): Linux's `pN`.
    pub number: u32,
    /// Its PARTUUID.
    pub partuuid: Guid,
    /// The media, for the `mmcblkX` index Linux usually gives it.
    pub media: Media,
}

impl RootExpectation {
    /// The partition named `rootfs`, else the first bootable description partition.
    #[must_use]
    pub fn from_plan(plan: &Plan) -> Option<RootExpectation> {
        let user = || plan.partitions.iter().filter(|p| p.role == Role::User);
        let part = user().find(|p| p.name == "rootfs").or_else(|| user().find(|p| p.bootable))?;
        Some(RootExpectation { name: part.name.clone(), number: part.number, partuuid: part.unique_guid, media: plan.media })
    }

    /// The `mmcblkX` index assumed for the media. Linux numbers MMC hosts by the device tree's `mmcN` aliases when it
    /// has them (5.10+), else in probe order; on ST's boards that gives SDMMC1 (SD slot) = mmcblk0 and SDMMC2 (eMMC) =
    /// mmcblk1. This is not U-Boot's `mmcN` index; a different index is only a warning.
    #[must_use]
    pub fn usual_mmcblk(&self) -> u32 {
        match self.media {
            Media::Sdcard => 0,
            Media::Emmc => 1,
        }
    }

    fn root_arg(&self) -> String {
        format!("root=PARTUUID={}", self.partuuid.to_string().to_lowercase())
    }
}

/// Check every `append` line of an `extlinux.conf` (U-Boot distro boot) for a `root=` that names the planned root
/// partition. `root=PARTUUID=<planned>` always passes; `/dev/mmcblkXpN` passes when N is the planned partition number
/// (a wrong N is an error, an unusual X a warning); a wrong PARTUUID is an error; other forms cannot be checked.
#[must_use]
pub fn lint_extlinux(name: &str, text: &str, expect: &RootExpectation) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut label = String::from("(before any label)");
    let mut appends = 0;
    let help_partuuid = format!(
        "use `{}` in the append line (the PARTUUID of `{}`, partition {}, fixed by the board description and by U-Boot's stm32prog), so the kernel finds it whatever mmcblk number it gets",
        expect.root_arg(),
        expect.name,
        expect.number
    );
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = format!("{name}:{}", i + 1);
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else { continue };
        if keyword.eq_ignore_ascii_case("label") {
            label = words.collect::<Vec<_>>().join(" ");
            continue;
        }
        if !keyword.eq_ignore_ascii_case("append") {
            continue;
        }
        appends += 1;
        // The kernel takes the last root= it is given.
        let Some(root) = words.filter_map(|w| w.strip_prefix("root=")).next_back() else {
            problems.push(
                Problem::warning("buildroot::no_root", format!("label `{label}` passes no root= to the kernel"))
                    .at(at)
                    .with_help(help_partuuid.clone()),
            );
            continue;
        };
        if let Some(uuid) = root.strip_prefix("PARTUUID=") {
            match Guid::parse(uuid) {
                Some(g) if g == expect.partuuid => {}
                Some(_) => problems.push(
                    Problem::error(
                        "buildroot::wrong_root",
                        format!("label `{label}`: root=PARTUUID={uuid} is no partition of the image (`{}` is {})", expect.name, expect.partuuid),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                ),
                None => problems.push(
                    Problem::warning("buildroot::unchecked_root", format!("label `{label}`: root=PARTUUID={uuid} cannot be checked"))
                        .at(at)
                        .with_help(help_partuuid.clone()),
                ),
            }
            continue;
        }
        if let Some((index, part)) = parse_mmcblk(root) {
            let device = format!("/dev/mmcblk{index}p{part}");
            if part != expect.number {
                problems.push(
                    Problem::error(
                        "buildroot::wrong_root",
                        format!(
                            "label `{label}`: root={device} is partition {part}, but `{}` is partition {} of the image: the kernel would mount the wrong partition or none",
                            expect.name, expect.number
                        ),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                );
            } else if index != expect.usual_mmcblk() {
                let media = if expect.media == Media::Sdcard { "an SD card" } else { "an eMMC" };
                problems.push(
                    Problem::warning(
                        "buildroot::root_mmcblk_index",
                        format!(
                            "label `{label}`: root={device}, but on ST boards Linux usually names {media} mmcblk{} (mmcblk numbers follow the device tree's mmc aliases, not U-Boot's mmcN)",
                            expect.usual_mmcblk()
                        ),
                    )
                    .at(at)
                    .with_help(help_partuuid.clone()),
                );
            }
            continue;
        }
        problems.push(
            Problem::warning("buildroot::unchecked_root", format!("label `{label}`: root={root} cannot be checked against the plan"))
                .at(at)
                .with_help(help_partuuid.clone()),
        );
    }
    if appends == 0 {
        problems.push(
            Problem::warning("buildroot::no_root", format!("{name} has no append line: the kernel gets no root="))
                .at(name.to_string())
                .with_help(help_partuuid),
        );
    }
    problems
}

/// `/dev/mmcblkXpN` → (X, N).
fn parse_mmcblk(root: &str) -> Option<(u32, u32)> {
    let rest = root.strip_prefix("/dev/mmcblk")?;
    let (x, n) = rest.split_once('p')?;
    Some((x.parse().ok()?, n.parse().ok()?))
}

/// The warning when `TARGET_DIR` has no `extlinux.conf`.
#[must_use]
pub fn no_extlinux(path: &str, expect: &RootExpectation) -> Problem {
    Problem::warning("buildroot::no_extlinux", format!("{path} does not exist: U-Boot's distro boot finds no kernel command line there")).with_help(
        format!(
            "add boot/extlinux/extlinux.conf to a rootfs overlay (BR2_ROOTFS_OVERLAY) with `append {} rootwait` (see the shipped board/*/overlay)",
            expect.root_arg()
        ),
    )
}

/// One artifact for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// The closing summary: each artifact with its size, then how to flash it. Plain lines for Buildroot's log.
#[must_use]
pub fn summary(board: &str, media: Media, artifacts: &[Artifact], layout: &Path, image: &Path, bmap: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "stm32mp-imager: {board} ready ({}):", if media == Media::Sdcard { "SD card" } else { "eMMC" });
    let width = artifacts.iter().map(|a| a.path.display().to_string().chars().count()).max().unwrap_or(0);
    for a in artifacts {
        let _ = writeln!(out, "  {:<width$}  {:>10}  ({} bytes)", a.path.display().to_string(), human_bytes(a.size), a.size);
    }
    let _ = writeln!(out, "flash over USB (boot switches to USB boot, board on USB OTG):");
    let _ = writeln!(out, "  STM32_Programmer_CLI -c port=usb1 -w {}", layout.display());
    match media {
        Media::Sdcard => {
            let _ = writeln!(out, "or write an SD card on this machine (replace /dev/sdX):");
            if bmap {
                let _ = writeln!(out, "  bmaptool copy {} /dev/sdX", image.display());
            } else {
                let _ = writeln!(out, "  dd if={} of=/dev/sdX bs=4M conv=fsync", image.display());
            }
        }
        Media::Emmc => {
            let _ = writeln!(out, "(the eMMC is written over USB only: flash.tsv puts TF-A in boot1/boot2 and the image in the user area)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Kconfig {
        let (c, p) = parse_kconfig(".config", text);
        assert!(p.is_empty(), "{p:?}");
        c
    }

    fn dk2() -> Target {
        Target { board: "stm32mp157c-dk2".into(), media: Media::Sdcard, fsbl: "tf-a-stm32mp157c-dk2.stm32".into() }
    }

    const GOOD: &str = "BR2_arm=y\n# BR2_TARGET_UBOOT_SPL is not set\nBR2_TARGET_ARM_TRUSTED_FIRMWARE=y\nBR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES=\"STM32MP_SDMMC=1 STM32MP_USB_PROGRAMMER=1 AARCH32_SP=sp_min DTB_FILE_NAME=stm32mp157c-dk2.dtb\"\n";

    #[test]
    fn kconfig_values_strings_and_unset() {
        let c = config("# comment\nA=y\nB=\"x \\\"q\\\" \\\\ y\"\n# C is not set\nD=0x10\n\n");
        assert!(c.is_y("A"));
        assert_eq!(c.get("B"), Some("x \"q\" \\ y"));
        assert_eq!(c.entries.get("C"), Some(&(KValue::NotSet, 4)));
        assert_eq!(c.get("C"), None);
        assert_eq!(c.get("D"), Some("0x10"));
        assert_eq!(c.location("D"), ".config:5");
        let (_, p) = parse_kconfig("c", "garbage line\nE=\"unterminated\n");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].location.as_deref(), Some("c:1"));
    }

    #[test]
    fn quoting_round_trips() {
        let s = "a \"b\" c\\d";
        assert_eq!(unquote(&quote(s)[1..]).as_deref(), Some(s));
    }

    #[test]
    fn post_args() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (a, p) = parse_post_args(&w("--board dk2 --no-bmap --extra"));
        assert_eq!(a, Ok(PostImageArgs { board: Some("dk2".into()), bmap: false }));
        assert_eq!(p.len(), 1);
        assert_eq!(parse_post_args(&w("--board=x.toml")).0.unwrap().board.as_deref(), Some("x.toml"));
        assert_eq!(parse_post_args(&w("")).0, Err(EnvError::NoBoard));
        assert_eq!(parse_post_args(&w("--board")).0, Err(EnvError::BoardWithoutValue));
    }

    #[test]
    fn env_and_board_candidates() {
        let mut env = BTreeMap::new();
        assert_eq!(BuildrootEnv::from_env(&env, Path::new("/o/images")), Err(EnvError::Missing { var: "BR2_CONFIG" }));
        env.insert("BR2_CONFIG".to_string(), "/o/.config".to_string());
        env.insert("BR2_EXTERNAL_NAMES".to_string(), "MINE STM32MP_IMAGER".to_string());
        env.insert("BR2_EXTERNAL_MINE_PATH".to_string(), "/mine".to_string());
        env.insert("BR2_EXTERNAL_STM32MP_IMAGER_PATH".to_string(), "/repo/buildroot-external".to_string());
        let e = BuildrootEnv::from_env(&env, Path::new("/o/images")).unwrap();
        let c: Vec<String> = e.board_candidates("b").iter().map(|p| p.display().to_string()).collect();
        assert_eq!(c, ["/mine/board/b.toml", "/repo/buildroot-external/board/b.toml", "/repo/buildroot-external/../board/b.toml"]);
        assert_eq!(e.board_candidates("x/b.toml"), [PathBuf::from("x/b.toml")]);
    }

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
    }

    #[test]
    fn media_driver_follows_the_target() {
        let c = config(&GOOD.replace("STM32MP_SDMMC=1 ", ""));
        assert_eq!(lint_config(&c, &dk2())[0].code, "buildroot::no_sdmmc");
        let ev1 = Target { board: "stm32mp157c-ev1".into(), media: Media::Emmc, fsbl: "tf-a-stm32mp157c-ev1.stm32".into() };
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

    fn expect() -> RootExpectation {
        RootExpectation { name: "rootfs".into(), number: 4, partuuid: crate::guid::uboot_rootfs_partuuid(0).unwrap(), media: Media::Sdcard }
    }

    fn codes(text: &str) -> Vec<(&'static str, bool)> {
        lint_extlinux("extlinux.conf", text, &expect()).iter().map(|p| (p.code, p.is_error())).collect()
    }

    #[test]
    fn extlinux_root() {
        let conf = |root: &str| format!("label l\n  kernel /boot/zImage\n  append {root} rootwait\n");
        assert!(codes(&conf("root=/dev/mmcblk0p4")).is_empty());
        assert!(codes(&conf("root=PARTUUID=e91c4e10-16e6-4c0e-bd0e-77becf4a3582")).is_empty());
        assert!(codes(&conf("root=PARTUUID=E91C4E10-16E6-4C0E-BD0E-77BECF4A3582")).is_empty());
        assert_eq!(codes(&conf("root=/dev/mmcblk0p2")), [("buildroot::wrong_root", true)]);
        assert_eq!(codes(&conf("root=/dev/mmcblk1p4")), [("buildroot::root_mmcblk_index", false)]);
        assert_eq!(codes(&conf("root=PARTUUID=491F6117-415D-4F53-88C9-6E0DE54DEAC6")), [("buildroot::wrong_root", true)]);
        assert_eq!(codes(&conf("root=/dev/sda1")), [("buildroot::unchecked_root", false)]);
        assert_eq!(codes(&conf("console=ttySTM0")), [("buildroot::no_root", false)]);
        assert_eq!(codes("label only\n"), [("buildroot::no_root", false)]);
        // The last root= counts, as in the kernel.
        assert!(codes(&conf("root=/dev/mmcblk0p2 root=/dev/mmcblk0p4")).is_empty());
        let p = lint_extlinux("x", &conf("root=/dev/mmcblk0p2"), &expect());
        assert_eq!(p[0].location.as_deref(), Some("x:3"));
        assert!(p[0].help.as_deref().unwrap().contains("root=PARTUUID=e91c4e10-16e6-4c0e-bd0e-77becf4a3582"));
    }

    #[test]
    fn summary_lists_sizes_and_the_flash_command() {
        let a = [Artifact { path: "/i/sdcard.img".into(), size: 3 << 20 }, Artifact { path: "/i/flash.tsv".into(), size: 200 }];
        let s = summary("dk2", Media::Sdcard, &a, Path::new("/i/flash.tsv"), Path::new("/i/sdcard.img"), true);
        assert!(s.contains("/i/sdcard.img       3 MiB  (3145728 bytes)"), "{s}");
        assert!(s.contains("STM32_Programmer_CLI -c port=usb1 -w /i/flash.tsv"));
        assert!(s.contains("bmaptool copy /i/sdcard.img /dev/sdX"));
    }
}
