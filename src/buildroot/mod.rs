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
pub use extlinux::{RootExpectation, lint_extlinux, no_extlinux};
pub use kconfig::{KValue, Kconfig, make_variables, parse_kconfig};
pub use rules::{FLASH_ONLY, Target, affects_only_flashing, fixed_tfa_line, lint_config};
pub use summary::{Artifact, LayoutOutcome, summary};

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
