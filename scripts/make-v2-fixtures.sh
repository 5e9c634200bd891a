#!/usr/bin/env bash
# Remake the STM32 header v2 sample inputs (samples/) and the FWU metadata fixtures (tests/fixtures/fwu/) with the
# real tools, which Debian 12 does not ship. This script neither fetches nor builds them: give their paths.
#
#   MKIMAGE     U-Boot >= v2025.10 tools/mkimage (has -T stm32imagev2, header v2.0)
#   MKFWUMDATA  U-Boot tools/mkfwumdata (metadata v1 and v2)
#   STM32IMAGE  TF-A tools/stm32image (header v2.2 for STM32MP25; mkimage writes v2.0 only)
#
# The committed files were made with:
#   U-Boot  u-boot/u-boot 6073c36b2c8d39afe3ecc789b281667a3ddebc70 (v2026.10-rc2-71), built with
#           `make tools-only_defconfig && make tools-only` (CONFIG_TOOLS_MKFWUMDATA=y is the default there)
#   TF-A    ARM-software/arm-trusted-firmware 6a164dda7208d3f2c0a5c4a1681db5ec37532bf5 (v2.15.0-619), built with
#           `gcc -O2 -std=c99 -D_GNU_SOURCE -o stm32image tools/stm32image/stm32image.c`
#
# Usage: MKIMAGE=… MKFWUMDATA=… STM32IMAGE=… scripts/make-v2-fixtures.sh [repo root]
# Deterministic: fixed text payloads, no timestamps in either format; two runs give the same bytes.
set -euo pipefail
: "${MKIMAGE:?set MKIMAGE to U-Boot >= v2025.10 tools/mkimage}"
: "${MKFWUMDATA:?set MKFWUMDATA to U-Boot tools/mkfwumdata}"
: "${STM32IMAGE:?set STM32IMAGE to TF-A tools/stm32image}"
root=${1:-"$(dirname "$0")/.."}
root=$(cd "$root" && pwd)
samples="$root/samples"
fwu="$root/tests/fixtures/fwu"
mkdir -p "$samples" "$fwu"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$MKIMAGE" -T list 2>&1 | grep -q stm32imagev2 || {
	echo "error: $MKIMAGE has no stm32imagev2 image type (needs U-Boot >= v2025.10)" >&2
	exit 1
}

payload() { # name bytes: a text payload (placeholder, not firmware) of an exact size
	(set +o pipefail; yes "stm32mp-imager sample $1: a placeholder payload, not firmware" | head -c "$2" > "$work/$1.bin")
}

# STM32MP13 FSBL, header v2.0, loaded at the start of SYSRAM (0x2FFE0000 on MP13). mkimage writes binary type 0.
for name in tf-a-stm32mp135f-dk-sdcard tf-a-stm32mp135f-dk-usb; do
	payload "$name" 4096
	"$MKIMAGE" -T stm32imagev2 -a 0x2ffe0000 -e 0x2ffe0000 -d "$work/$name.bin" "$samples/$name.stm32" > /dev/null
done

# STM32MP25 FSBL, header v2.2 (-m 2 -n 2), binary type 0x10 (TF-A BL2), loaded at SYSRAM (0x0E000000 on MP25).
# Names as ST's mickledore generator uses them: tf-a-<board>-optee-<medium>.stm32 and tf-a-<board>-usb.stm32.
for name in tf-a-stm32mp257f-ev1-optee-sdcard tf-a-stm32mp257f-ev1-optee-emmc tf-a-stm32mp257f-ev1-usb \
	tf-a-stm32mp257f-dk-optee-sdcard tf-a-stm32mp257f-dk-usb; do
	payload "$name" 4096
	"$STM32IMAGE" -s "$work/$name.bin" -d "$samples/$name.stm32" -l 0x0e000000 -e 0x0e000000 -b 0x10 -m 2 -n 2 > /dev/null
done

# FWU metadata for the A/B FIP set, exactly as meta-st-stm32mp (mickledore, tf-a-stm32mp.inc
# TF_A_METADATA_TOOL_ARGS) runs mkfwumdata: GUID byte order (-g), 1 image, 2 banks, version 2, then
# location = FWU_MDATA type GUID, image type = FIP type GUID, bank 0 = fip-a PARTUUID, bank 1 = fip-b PARTUUID
# (the unique GUIDs U-Boot stm32prog gives partitions named fip-a / fip-b).
st_guids=8a7a84a0-8387-40f6-ab41-a8b9a5a60d23,19d5df83-11b0-457b-be2c-7559c13142a5,4fd84c93-54ef-463f-a7ef-ae25ff887087,09c54952-d5bf-45af-acee-335303766fb3
"$MKFWUMDATA" -g -i 1 -b 2 -v 2 "$st_guids" "$fwu/metadata-v2.bin"
# The same set as metadata version 1 (U-Boot CONFIG_FWU_MDATA_V1; TF-A before v2.10).
"$MKFWUMDATA" -g -i 1 -b 2 -v 1 "$st_guids" "$fwu/metadata-v1.bin"
# Bank 1 active, bank 0 previous: after one successful update.
"$MKFWUMDATA" -g -i 1 -b 2 -v 2 -a 1 -p 0 "$st_guids" "$fwu/metadata-v2-active1.bin"
# Well-formed, but its bank GUIDs are not stm32prog's fip-a/fip-b (the GUIDs of U-Boot's mkfwumdata man page example).
"$MKFWUMDATA" -g -i 1 -b 2 -v 2 \
	17e86d77-41f9-4fd7-87ec-a55df9842de5,10c36d7d-ca52-b843-b7b9-f9d6c501d108,5a66a702-99fd-4fef-a392-c26e261a2828,a8f868a1-6e5c-4757-878d-ce63375ef2c0 \
	"$fwu/metadata-v2-other-guids.bin"

echo "v2 headers written to $samples, FWU metadata to $fwu"
