################################################################################
#
# stm32mp-imager
#
################################################################################

# Built from the repository that holds this BR2_EXTERNAL tree, as checked
# out (uncommitted changes included). Keep the version in step with
# Cargo.toml.
STM32MP_IMAGER_VERSION = 0.1.0
STM32MP_IMAGER_SITE = $(BR2_EXTERNAL_STM32MP_IMAGER_PATH)/..
STM32MP_IMAGER_SITE_METHOD = local
STM32MP_IMAGER_LICENSE = Apache-2.0 or MIT
HOST_STM32MP_IMAGER_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /out

# Buildroot's cargo infrastructure builds with "cargo --offline" and
# vendors crates only when it downloads a package, never for a local one.
# So the crates locked in Cargo.lock (cargo checks their checksums) are
# fetched into Buildroot's cargo home, $(BR_CARGO_HOME) in $(DL_DIR):
# by "make source" (then the build needs no network), and before the
# build, where it is a no-op without network once they are there.
define HOST_STM32MP_IMAGER_FETCH_CRATES
	$(HOST_MAKE_ENV) CARGO_HOME=$(BR_CARGO_HOME) \
		cargo fetch --locked --manifest-path $(@D)/Cargo.toml
endef
HOST_STM32MP_IMAGER_PRE_BUILD_HOOKS += HOST_STM32MP_IMAGER_FETCH_CRATES

$(eval $(host-cargo-package))

host-stm32mp-imager-source: host-stm32mp-imager-fetch-crates

# With BR2_PER_PACKAGE_DIRECTORIES, HOST_DIR (and so the cargo that
# HOST_MAKE_ENV puts first in PATH) is this package's own host folder,
# filled from host-rustc's, as the download step of pkg-generic does.
host-stm32mp-imager-fetch-crates: PKG=HOST_STM32MP_IMAGER
host-stm32mp-imager-fetch-crates: host-rustc
	$(call prepare-per-package-directory,host-rustc)
	$(HOST_MAKE_ENV) CARGO_HOME=$(BR_CARGO_HOME) \
		cargo fetch --locked \
		--manifest-path $(STM32MP_IMAGER_SITE)/Cargo.toml

.PHONY: host-stm32mp-imager-fetch-crates
