#!/bin/sh
# Buildroot post-image script of the stm32mp-imager BR2_EXTERNAL tree.
# $1 is BINARIES_DIR, then the words of BR2_ROOTFS_POST_SCRIPT_ARGS, such
# as "--board stm32mp157c-dk2". All the work is done by the host tool.
exec "${HOST_DIR}/bin/stm32mp-imager" buildroot-post-image "$@"
