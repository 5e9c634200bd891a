#!/bin/sh
# Buildroot post-image script of the stm32mp-imager BR2_EXTERNAL tree.
# $1 is BINARIES_DIR, then the words of BR2_ROOTFS_POST_SCRIPT_ARGS, such
# as "--board stm32mp157c-dk2-fip". All the work is done by the host tool.

if [ -z "${HOST_DIR:-}" ]; then
	echo "post-image.sh: HOST_DIR is not set: this is a Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT); run make" >&2
	exit 1
fi

tool="${HOST_DIR}/bin/stm32mp-imager"
if [ ! -x "${tool}" ]; then
	echo "post-image.sh: ${tool} is missing: enable BR2_PACKAGE_HOST_STM32MP_IMAGER=y (make menuconfig, External options, host stm32mp-imager; or add the line to the defconfig), then run make again" >&2
	exit 1
fi

exec "${tool}" buildroot-post-image "$@"
