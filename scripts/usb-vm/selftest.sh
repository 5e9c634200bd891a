#!/usr/bin/env bash
# The emulated board against an independent host, dfu-util, through the guest's real USB stack (run inside the
# USB guest by run.sh; needs vhci-hcd loaded, dfu-util, mkimage, fiptool, sgdisk, lsusb, cmp).
#
#   selftest.sh EMULATOR LOGDIR
#
# Inputs and the emulated storage live in a tmpfs of the guest (mkimage maps its output, which the shared 9p
# folder refuses); the emulator's marker logs go to LOGDIR.
#
# Follows the ST wiki's dfu-util sequence (ROM: FSBL on 0x01; TF-A: FIP on 0x03, detach; U-Boot: layout on 0x00,
# detach, then every partition the GetPhase replies ask for, GetPhase read with -U from the virtual alternate),
# then checks the emulated SD card byte for byte and with `sgdisk -v`. Also: the ROM refusing a corrupt FSBL,
# and an early DETACH killing TF-A. Prints "selftest: ..." figures (boot-to-ready, throughput) and
# "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
emu=$1
logs=$2
samples=$(cd "$(dirname "$0")/../../samples" && pwd)
mkdir -p "$logs"
work=$(mktemp -d /dev/shm/selftest.XXXXXX 2> /dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
passed=0
failed=0
check() { # name command...
	local name=$1
	shift
	if "$@" > "$work/check.out" 2>&1; then
		passed=$((passed + 1))
		echo "ok      $name"
	else
		failed=$((failed + 1))
		echo "FAILED  $name"
		sed 's/^/        /' "$work/check.out" | tail -20
	fi
}

# ---- inputs, made by the real tools
head -c 40000 /dev/urandom > fsbl.bin
mkimage -T stm32image -a 0x2ffc2500 -e 0x2ffc2500 -d fsbl.bin tf-a.stm32 > /dev/null
head -c 30000 /dev/urandom > bl32.bin
head -c 60000 /dev/urandom > bl33.bin
fiptool create --tos-fw bl32.bin --nt-fw bl33.bin fip.bin > /dev/null
head -c $((4 << 20)) /dev/urandom > rootfs.bin
printf '#Opt\tId\tName\tType\tIP\tOffset\tBinary\n-\t0x01\tfsbl1-boot\tBinary\tnone\t0x0\ttf-a.stm32\n-\t0x03\tfip-boot\tFIP\tnone\t0x0\tfip.bin\nP\t0x04\tfsbl1\tBinary\tmmc0\t0x00004400\ttf-a.stm32\nP\t0x05\tfsbl2\tBinary\tmmc0\t0x00044400\ttf-a.stm32\nP\t0x06\tfip\tFIP\tmmc0\t0x00084400\tfip.bin\nP\t0x10\trootfs\tSystem\tmmc0\t0x00484400\trootfs.bin\n' > layout.tsv
mkimage -T stm32image -a 0xc0000000 -e 0xc0000000 -d layout.tsv layout.stm32 > /dev/null
declare -A file_of=([04]=tf-a.stm32 [05]=tf-a.stm32 [06]=fip.bin [10]=rootfs.bin)
declare -A offset_of=([04]=$((0x4400)) [05]=$((0x44400)) [06]=$((0x84400)) [10]=$((0x484400)))

# ---- the emulator as a coprocess: its marker lines are read as they come (no sleeping)
emu_pid=""
start_emu() { # log args...
	local log=$1
	shift
	: > "$log"
	coproc EMU { exec "$emu" "$@"; }
	# shellcheck disable=SC2153 # EMU_PID is set by coproc
	emu_pid=$EMU_PID
	# a copy of the read end: bash closes the coprocess's own fds when it exits, lines still unread
	exec {emu_fd}<&"${EMU[0]}"
	emu_log=$log
}
wait_marker() { # pattern [seconds]: read marker lines until one matches
	local pattern=$1 limit=${2:-30} line
	local end=$((SECONDS + limit))
	while [ $SECONDS -lt $end ]; do
		if ! IFS= read -r -t $((end - SECONDS + 1)) -u "$emu_fd" line; then
			echo "no '$pattern' within ${limit}s (emulator ended or stalled)" >&2
			return 1
		fi
		echo "$line" >> "$emu_log"
		case $line in *"$pattern"*) return 0 ;; esac
	done
	echo "no '$pattern' within ${limit}s" >&2
	return 1
}
stop_emu() { # returns the emulator's exit status
	local rc
	if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2> /dev/null; then
		while IFS= read -r -t 10 -u "$emu_fd" line; do echo "$line" >> "$emu_log"; done
		kill "$emu_pid" 2> /dev/null
	fi
	wait "$emu_pid" 2> /dev/null
	rc=$?
	exec {emu_fd}<&-
	emu_pid=""
	return $rc
}
alt_of() { # id -> alternate number, from dfu-util -l (never by fixed index)
	dfu-util -l 2> /dev/null | grep -i "name=\"@[^\"]*/0x$1/" | head -1 | sed 's/.*alt=\([0-9]*\).*/\1/'
}
get_phase() { # -> hex bytes of the GetPhase reply on stdout
	local alt f
	alt=$(alt_of f1)
	f=$(mktemp -u "$work/phase.XXXX")
	dfu-util -a "$alt" -U "$f" > "$work/getphase.log" 2>&1 || { cat "$work/getphase.log" >&2; return 1; }
	od -An -tx1 -v "$f" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# ================= full flashing: MP15, upstream TF-A, new U-Boot, SD card
t0=$SECONDS
start_emu "$logs/emu-full.log" --storage "$work/sd.img" --size 32M --soc mp15 --tfa upstream --uboot new --timeout 240
check "emulator attaches (ready marker)" wait_marker "emu: ready" 20
# the kernel's enumeration ends with SET_CONFIGURATION: the emulator prints "emu: configured" then
enumerated() {
	wait_marker "emu: configured" 20 || return 1
	dfu-util -l > "$work/list.out" 2>&1
	grep -q "$1" "$work/list.out" || { cat "$work/list.out"; return 1; }
}
check "ROM enumerates with @FSBL /0x01/1*1Me" enumerated 'alt=1, name="@FSBL /0x01/1\*1Me"'
check "ROM product string and serial" sh -c "lsusb -v -d 0483:df11 2> /dev/null | grep -q 'iProduct.*DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000' && lsusb -v -d 0483:df11 2> /dev/null | grep -q 'iSerial.*002700333338511934383330' && lsusb -v -d 0483:df11 | grep -q 'bcdDevice *2.00'"
check "ROM functional descriptor: wTransferSize 1024" sh -c "lsusb -v -d 0483:df11 2> /dev/null | grep -q 'wTransferSize *1024 bytes'"
check "dfu-util -a 1 -D tf-a.stm32 (ROM)" dfu-util -a 1 -D tf-a.stm32
check "ROM accepted the FSBL, TF-A runs" wait_marker "emu: stage=tfa" 10
check "TF-A GetPhase = 03 00000008c 0 (FIP at 0xC8000000)" test "$(get_phase)" = "03 00 00 00 c8 00 00 00 00"
check "dfu-util -a 3 -D fip.bin (TF-A)" dfu-util -a 3 -D fip.bin
check "TF-A accepted the FIP" wait_marker "tfa: image accepted phase=0x03" 10
check "TF-A GetPhase asks for DETACH" test "$(get_phase)" = "00 ff ff ff ff 00 00 00 00 01"
dfu-util -a 3 -e > detach1.log 2>&1
check "U-Boot alternates" enumerated 'name="@FlashLayout/0x00/1\*256Ke"'
check "U-Boot product string" sh -c "lsusb -v -d 0483:df11 2> /dev/null | grep -q 'iProduct.*USB download gadget@Device ID /0x500, @Revision ID /0x2000, @Name /STM32MP157CAA Rev.B,'"
check "U-Boot GetPhase = 00 c2000000 0 00 (layout wanted)" test "$(get_phase)" = "00 00 00 00 c2 00 00 00 00 00"
check "dfu-util -a 0 -D layout.stm32 (v1 header, mkimage)" dfu-util -a 0 -D layout.stm32
check "U-Boot parsed the layout" wait_marker "uboot: FlashLayout received" 10
check "U-Boot GetPhase says a layout is there" test "$(get_phase)" = "00 00 00 00 c2 00 00 00 00 01"
dfu-util -a 0 -e > detach2.log 2>&1
check "U-Boot wrote the GPT" wait_marker "uboot: gpt mmc=0 partitions=4" 20
check "partition alternates" enumerated 'name="@rootfs/0x10/1\*27Me"'
rootfs_ms=""
for want in 04 05 06 10; do
	phase=$(get_phase)
	check "GetPhase asks for 0x$want" test "${phase%% *}" = "$want"
	alt=$(alt_of "$want")
	t_start=$(date +%s%N)
	check "dfu-util -a $alt -D ${file_of[$want]} (0x$want)" dfu-util -a "$alt" -D "${file_of[$want]}"
	t_end=$(date +%s%N)
	[ "$want" = 10 ] && rootfs_ms=$(((t_end - t_start) / 1000000))
	check "0x$want flashed" wait_marker "uboot: flashed part=" 10
done
check "GetPhase says END (0xFE)" test "$(get_phase | cut -d' ' -f1)" = "fe"
dfu-util -a "$(alt_of f1)" -e > detach3.log 2>&1
check "final DETACH: emulator done" wait_marker "emu: done" 20
stop_emu
rc=$?
check "emulator exit status 0" test "$rc" = 0
for id in 04 05 06 10; do
	f=${file_of[$id]}
	check "sd.img at ${offset_of[$id]} == $f" cmp -n "$(stat -c %s "$f")" "$f" sd.img 0 "${offset_of[$id]}"
done
check "sgdisk -v: the GPT stm32prog made is valid" sh -c "sgdisk -v sd.img | grep -q 'No problems found'"
check "sgdisk -p: 4 partitions, rootfs unique GUID" sh -c "sgdisk -p sd.img | grep -q ' rootfs' && sgdisk -i 4 sd.img | grep -qi 'E91C4E10-16E6-4C0E-BD0E-77BECF4A3582'"
full_s=$((SECONDS - t0))
if [ -n "$rootfs_ms" ] && [ "$rootfs_ms" -gt 0 ]; then
	echo "selftest: rootfs 4096 KiB by dfu-util in ${rootfs_ms} ms = $((4096 * 1000 / rootfs_ms)) KiB/s (4096-byte blocks)"
fi
echo "selftest: full MP15 flashing with dfu-util took ${full_s}s"

# ================= the ROM refuses a corrupt FSBL
cp tf-a.stm32 bad.stm32
printf '\377\377\377\377' | dd of=bad.stm32 bs=1 seek=1000 conv=notrunc 2> /dev/null
start_emu "$logs/emu-bad.log" --storage "$work/sd2.img" --size 8M --timeout 60
check "emulator attaches (bad FSBL run)" wait_marker "emu: ready" 20
wait_marker "emu: configured" 20 > /dev/null
# dfu-util 0.11 exits 0 even when the final status is an error: read what it printed
check "dfu-util sees the ROM's dfuERROR/errVERIFY" sh -c "dfu-util -a 1 -D bad.stm32 2>&1 | grep -q 'dfuERROR, status(7)'"
check "ROM logged the checksum refusal" wait_marker "rom: fsbl rejected reason=\"checksum" 10
stop_emu

# ================= an early DETACH: TF-A panics, the board drops off
start_emu "$logs/emu-early.log" --storage "$work/sd3.img" --size 8M --timeout 60
check "emulator attaches (early detach run)" wait_marker "emu: ready" 20
wait_marker "emu: configured" 20 > /dev/null
dfu-util -a 1 -D tf-a.stm32 > /dev/null 2>&1
wait_marker "emu: stage=tfa" 10 > /dev/null
dfu-util -a 3 -e > /dev/null 2>&1
check "TF-A panics on a DETACH before the FIP" wait_marker "emu: dead reason=\"TF-A panic" 10
stop_emu
rc=$?
check "emulator exit status 3 (dead board)" test "$rc" = 3
check "the board is gone from the bus" sh -c "! dfu-util -l 2> /dev/null | grep -q 0483:df11"

# ================= MP25: TF-A keeps the ROM's connection; dfu-util -R (DETACH + USB reset) makes the kernel
# re-read the descriptors, find TF-A's and re-enumerate; DDR FIP then FIP, each ended by a DETACH
# An FSBL with a v2.2 header, as TF-A's tools/stm32image makes it (payload at 0x200; samples/, see
# scripts/make-v2-fixtures.sh).
cp "$samples/tf-a-stm32mp257f-dk-usb.stm32" fsbl-mp25.stm32
head -c 8000 /dev/urandom > ddr.bin
fiptool create --tos-fw ddr.bin fip-ddr.bin > /dev/null
start_emu "$logs/emu-mp25.log" --storage "$work/sd4.img" --size 8M --soc mp25 --timeout 90
check "MP25 ROM enumerates with @FSBL /0x01/1*256Ke at alt 0" enumerated 'alt=0, name="@FSBL /0x01/1\*256Ke"'
dfu-util -a 0 -D fsbl-mp25.stm32 -R > mp25-rom.log 2>&1
check "MP25 ROM accepted the v2.2 FSBL" wait_marker "rom: fsbl accepted" 10
check "MP25 TF-A after DETACH, on the ROM's connection" wait_marker "emu: stage=tfa" 10
check "the USB reset re-enumerates TF-A (same vhci attachment)" enumerated 'name="@DDR FIP /0x02/1\*32Ke"'
check "MP25 TF-A product string" sh -c "lsusb -v -d 0483:df11 2> /dev/null | grep -q 'iProduct.*DFU @Device ID /0x505, @Revision ID /0x0011, @Name /STM32MP255CAK Rev.Y,'"
check "MP25 TF-A GetPhase asks for the DDR FIP at 0x0E000000" test "$(get_phase)" = "02 00 00 00 0e 00 00 00 00"
dfu-util -a 0 -D fip-ddr.bin -R > mp25-ddr.log 2>&1
check "MP25 TF-A took the DDR FIP and re-enumerated" wait_marker "emu: configured stage=tfa" 20
check "MP25 TF-A GetPhase asks for the FIP at 0x88000000" test "$(get_phase)" = "03 00 00 00 88 00 00 00 00"
dfu-util -a 1 -D fip.bin -R > mp25-fip.log 2>&1
check "MP25 U-Boot enumerates for the layout" wait_marker "emu: configured stage=uboot-layout" 20
check "MP25 U-Boot GetPhase: layout at 0x84000000" test "$(get_phase)" = "00 00 00 00 84 00 00 00 00 00"
stop_emu

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
