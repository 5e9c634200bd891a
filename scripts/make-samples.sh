#!/usr/bin/env bash
# Regenerate the sample inputs in samples/ with the real tools: mkimage (u-boot-tools) for the .stm32 headers,
# fiptool (arm-trusted-firmware-tools) for the FIP, mke2fs -d (e2fsprogs) for the ext4 root file system.
# The payloads are placeholders (text, not code): the files have the real formats, not bootable contents.
# Deterministic: fixed payloads, fixed ext4 UUID/hash seed, fixed timestamps.
set -euo pipefail
out=${1:-"$(dirname "$0")/../samples"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

repeat() { # text bytes file: the text repeated up to a size (yes | head, without pipefail's SIGPIPE)
	(set +o pipefail; yes "$1" | head -c "$2" > "$3")
}
payload() { # name bytes
	repeat "stm32mp-imager sample $1: a placeholder payload, not firmware" "$2" "$work/$1.bin"
}

# TF-A BL2 for the DK2 and the EV1 (STM32MP15: header v1.0), loaded in SYSRAM.
for board in dk2 ev1; do
	payload "tf-a-$board" 49152
	mkimage -T stm32image -a 0x2ffc2500 -e 0x2ffc2500 -d "$work/tf-a-$board.bin" "$out/tf-a-stm32mp157c-$board.stm32" > /dev/null
done
# U-Boot for the trusted chain (u-boot.stm32, loaded in DDR).
payload u-boot 131072
mkimage -T stm32image -a 0xc0100000 -e 0xc0100000 -d "$work/u-boot.bin" "$out/u-boot.stm32" > /dev/null
# FIP for the fip chain: BL32 (sp_min), BL33 (U-Boot) and its device tree.
payload bl32 32768
payload u-boot-nodtb 131072
payload u-boot-dtb 8192
rm -f "$out/fip.bin"
fiptool create --tos-fw "$work/bl32.bin" --nt-fw "$work/u-boot-nodtb.bin" --hw-config "$work/u-boot-dtb.bin" "$out/fip.bin" > /dev/null
# Root file system: ext4 with a few files, as Buildroot makes it (rootfs.ext4 -> rootfs.ext2).
mkdir -p "$work/root/etc" "$work/root/boot/extlinux" "$work/root/usr/bin"
echo "stm32mp-imager-sample" > "$work/root/etc/hostname"
printf 'label stm32mp157c-dk2-buildroot\n  kernel /boot/zImage\n  devicetree /boot/stm32mp157c-dk2.dtb\n  append root=PARTUUID=E91C4E10-16E6-4C0E-BD0E-77BECF4A3582 rootwait\n' \
	> "$work/root/boot/extlinux/extlinux.conf"
repeat "sample binary" 300000 "$work/root/usr/bin/sample"
find "$work/root" -exec touch -h -d @1700000000 {} +
rm -f "$out/rootfs.ext2" "$out/rootfs.ext4"
E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -b 4096 -L rootfs -U 5f2b1a7c-0d3e-4e5f-8a9b-0c1d2e3f4a5b \
	-E hash_seed=6e1a2b3c-4d5e-4f60-8172-93a4b5c6d7e8 -d "$work/root" "$out/rootfs.ext2" 8M > /dev/null
ln -s rootfs.ext2 "$out/rootfs.ext4"
echo "samples written to $out"
