#!/usr/bin/env bash
# Regenerate the sample inputs in samples/ with the real tools: mkimage (u-boot-tools) for the .stm32 headers,
# fiptool (arm-trusted-firmware-tools) for the FIPs, mke2fs -d (e2fsprogs) for the ext4 file systems.
# The payloads are placeholders (text, not code): the files have the real formats, not bootable contents.
# Deterministic: fixed payloads, fixed ext4 UUIDs/hash seeds, fixed timestamps; two runs give the same bytes.
# The STM32 header v2 samples (STM32MP13, STM32MP25) and the FWU metadata fixtures come from
# scripts/make-v2-fixtures.sh (tools Debian 12 lacks); this script only copies them under the names boards use.
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
pin_times() { # image tree: every inode's times to 1700000000 (mke2fs -d copies ctime, which touch cannot set)
	(cd "$2" && find . | sed 's|^\.||; s|^$|/|'; echo /lost+found) | while read -r path; do
		for field in atime mtime ctime crtime; do
			printf 'sif "%s" %s 0x6553f100\nsif "%s" %s_extra 0\n' "$path" "$field" "$path" "$field"
		done
	done > "$work/pin-times"
	debugfs -w -f "$work/pin-times" "$1" > /dev/null 2>&1
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
pin_times "$out/rootfs.ext2" "$work/root"
ln -s rootfs.ext2 "$out/rootfs.ext4"

# --- Today's ST flows (board/stm32mp1{57f,35f}-*.toml, board/stm32mp257f-*.toml; docs/st-layouts.md) ---

# STM32MP15 TF-A as ST's flow builds it: one per boot medium (tf-a-<board>-<medium>.stm32), and the USB one the
# programmer loads on Id 0x01 (built with STM32MP_USB_PROGRAMMER=1: tf-a-<board>-usb.stm32). Header v1.0.
for name in tf-a-stm32mp157f-ev1-sdcard tf-a-stm32mp157f-ev1-emmc tf-a-stm32mp157f-ev1-usb \
	tf-a-stm32mp157f-dk2-sdcard tf-a-stm32mp157f-dk2-usb; do
	payload "$name" 16384
	mkimage -T stm32image -a 0x2ffc2500 -e 0x2ffc2500 -d "$work/$name.bin" "$out/$name.stm32" > /dev/null
done
# Upstream Buildroot's TF-A names its output tf-a-<DTB_FILE_NAME>.stm32 (board/stm32mp135f-dk.toml): the STM32MP13
# v2.0 sample under that name.
cp "$(dirname "$0")/../samples/tf-a-stm32mp135f-dk-sdcard.stm32" "$out/tf-a-stm32mp135f-dk.stm32" 2> /dev/null ||
	cp "$out/tf-a-stm32mp135f-dk-sdcard.stm32" "$out/tf-a-stm32mp135f-dk.stm32"

# FIPs as ST's OP-TEE flow packs them: OP-TEE's header, pager and pageable parts (tos-fw, extra1, extra2), U-Boot
# without its device tree and the device tree (nt-fw, hw-config). Named as ST names them (docs/st-layouts.md §6).
optee_fip() { # board out
	payload "$1-tee-header" 28
	payload "$1-tee-pager" 8192
	payload "$1-tee-pageable" 4096
	payload "$1-u-boot-nodtb" 16384
	payload "$1-u-boot-dtb" 4096
	rm -f "$out/$2"
	fiptool create --tos-fw "$work/$1-tee-header.bin" --tos-fw-extra1 "$work/$1-tee-pager.bin" \
		--tos-fw-extra2 "$work/$1-tee-pageable.bin" --nt-fw "$work/$1-u-boot-nodtb.bin" \
		--hw-config "$work/$1-u-boot-dtb.bin" "$out/$2" > /dev/null
}
optee_fip stm32mp157f-ev1 fip-stm32mp157f-ev1-optee.bin
optee_fip stm32mp157f-dk2 fip-stm32mp157f-dk2-optee.bin
optee_fip stm32mp135f-dk fip-stm32mp135f-dk-optee.bin
optee_fip stm32mp257f-ev1-sdcard fip-stm32mp257f-ev1-optee-sdcard.bin
optee_fip stm32mp257f-ev1-emmc fip-stm32mp257f-ev1-optee-emmc.bin
optee_fip stm32mp257f-dk-sdcard fip-stm32mp257f-dk-optee-sdcard.bin
# STM32MP25's DDR firmware FIP, loaded by the programmer on Id 0x02: one image of TF-A's ST DDR firmware UUID
# (UUID_DDR_FW in plat/st/common/include/plat_def_fip_uuid.h; fiptool's `--ddr-fw` in ST's build).
for name in fip-stm32mp257f-ev1-ddr-optee-sdcard fip-stm32mp257f-ev1-ddr-optee-emmc fip-stm32mp257f-dk-ddr-optee-sdcard; do
	payload "$name-ddr-fw" 8192
	rm -f "$out/$name.bin"
	fiptool create --blob "uuid=b11249be-92dd-4b10-867c-2c6a4b47a7fb,file=$work/$name-ddr-fw.bin" "$out/$name.bin" > /dev/null
done

# The other file systems of ST's layouts, small (a 1–4 MiB image in a partition of ST's size: the rest is holes):
# bootfs (extlinux.conf, a placeholder kernel), vendorfs, userfs.
small_ext4() { # label size uuid seed
	find "$work/$1" -exec touch -h -d @1700000000 {} +
	rm -f "$out/$1.ext4"
	E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -b 4096 -L "$1" -U "$3" -E "hash_seed=$4" -d "$work/$1" "$out/$1.ext4" "$2" > /dev/null 2>&1
	pin_times "$out/$1.ext4" "$work/$1"
}
mkdir -p "$work/bootfs/extlinux" "$work/vendorfs/lib" "$work/userfs/local"
printf 'label stm32mp-imager-sample\n  kernel /Image\n  append root=PARTUUID=E91C4E10-16E6-4C0E-BD0E-77BECF4A3582 rootwait\n' \
	> "$work/bootfs/extlinux/extlinux.conf"
repeat "sample kernel" 200000 "$work/bootfs/Image"
echo "stm32mp-imager sample vendor files" > "$work/vendorfs/lib/README"
echo "stm32mp-imager sample user files" > "$work/userfs/local/README"
small_ext4 bootfs 4M 0b0f5a1e-1111-4c2d-8e3f-5a6b7c8d9e01 6e1a2b3c-4d5e-4f60-8172-93a4b5c6d701
small_ext4 vendorfs 1M 0b0f5a1e-2222-4c2d-8e3f-5a6b7c8d9e02 6e1a2b3c-4d5e-4f60-8172-93a4b5c6d702
small_ext4 userfs 1M 0b0f5a1e-3333-4c2d-8e3f-5a6b7c8d9e03 6e1a2b3c-4d5e-4f60-8172-93a4b5c6d703

# FWU metadata made by U-Boot's mkfwumdata for ST's GUIDs (tests/fixtures/fwu/metadata-v2.bin), for descriptions that
# give their own (`[boot] metadata`).
cp "$(dirname "$0")/../tests/fixtures/fwu/metadata-v2.bin" "$out/metadata-v2.bin"
echo "samples written to $out"
