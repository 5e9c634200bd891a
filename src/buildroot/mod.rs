//! Buildroot mode, the pure half: the post-image script's environment and arguments ([`env`](mod@env)), the `.config`
//! ([`kconfig`]), the lints that hold TF-A's and U-Boot's build configuration against the board description
//! ([`rules`]), `extlinux.conf`'s `root=` ([`extlinux`]) and the closing summary ([`summary`](mod@summary)).
//!
//! No I/O here: the caller (`cli::buildroot_post_image`) passes the environment as a map and file contents as strings,
//! and gets values and [`Problem`](crate::diag::Problem)s back. Buildroot's contract (`reference/buildroot.md` §2):
//! `$1` is `BINARIES_DIR`, then the words of `BR2_ROOTFS_POST_SCRIPT_ARGS` and `BR2_ROOTFS_POST_IMAGE_SCRIPT_ARGS`;
//! `BR2_CONFIG`, `HOST_DIR`, `TARGET_DIR`, `BUILD_DIR`, `BASE_DIR`, `BINARIES_DIR` and `BR2_EXTERNAL_<NAME>_PATH` are in
//! the environment.

pub mod env;
pub mod extlinux;
pub mod kconfig;
pub mod rules;
pub mod summary;

pub use env::{BuildrootEnv, EnvError, PostImageArgs, parse_post_args};
pub use extlinux::{ImagePartition, RootExpectation, lint_extlinux, no_extlinux};
pub use kconfig::{KValue, Kconfig, make_variables, parse_kconfig};
pub use rules::{FLASH_ONLY, Target, TfaVersion, affects_only_flashing, fixed_tfa_line, lint_config, tfa_version};
pub use summary::{Artifact, LayoutOutcome, summary};

/// The name of this repository's BR2_EXTERNAL tree (`buildroot-external/external.desc`).
pub const EXTERNAL_NAME: &str = "STM32MP_IMAGER";
/// TF-A's Kconfig switch.
pub const TFA: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE";
/// TF-A's additional make variables (a string of `KEY=VALUE` words).
pub const TFA_VARIABLES: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_ADDITIONAL_VARIABLES";
/// U-Boot SPL switch.
pub const UBOOT_SPL: &str = "BR2_TARGET_UBOOT_SPL";
/// TF-A's version as Buildroot fetches it (`v2.7`, `lts-v2.12.1`, `custom` for a tarball, a Git reference, …).
pub const TFA_VERSION: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_VERSION";
/// TF-A's platform (`PLAT=`): `stm32mp1` (STM32MP13 and STM32MP15) or `stm32mp2`.
pub const TFA_PLATFORM: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_PLATFORM";
/// Buildroot also builds TF-A's `fip` target.
pub const TFA_FIP: &str = "BR2_TARGET_ARM_TRUSTED_FIRMWARE_FIP";
/// The device tree TF-A builds when `DTB_FILE_NAME` is not given, per TF-A platform: `plat/st/stm32mp1/platform.mk`
/// (the same for an STM32MP13 build, `STM32MP13=1`: the default is set before the SoC is chosen) and
/// `plat/st/stm32mp2/platform.mk`. Another platform: no default is assumed.
#[must_use]
pub fn tfa_default_dtb(platform: &str) -> Option<&'static str> {
    match platform {
        "stm32mp1" => Some("stm32mp157c-ev1.dtb"),
        "stm32mp2" => Some("stm32mp257f-ev1.dtb"),
        _ => None,
    }
}
/// Where U-Boot's distro boot reads the kernel command line, relative to `TARGET_DIR`.
pub const EXTLINUX_CONF: &str = "boot/extlinux/extlinux.conf";
