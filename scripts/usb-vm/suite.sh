#!/usr/bin/env bash
# The USB guest suite: the built-in flasher end to end through a real Linux USB stack (tests/usb_vm.rs against
# stm32mp-emu boards on vhci_hcd), and the emulator against dfu-util (selftest.sh), in ONE boot of the QEMU guest.
#
#   scripts/usb-vm/suite.sh [--results DIR] [--threads N]
#
# On the host: builds the emulator (release) and the usb_vm test binary, then boots the guest with run.sh and runs
# both there. Prints each command's result and time, the tests' figures (per-test time, throughput), and the boot
# and total times. Exit status: 0 all passed, 1 a test failed, 2 the guest did not boot or vhci-hcd did not load
# (never a skip).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
results=""
threads=${STM32MP_USBVM_THREADS:-2}
while [ $# -gt 0 ]; do
	case $1 in
	--results) results=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	*) echo "suite.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ -z "$results" ]; then
	results=$(mktemp -d "${TMPDIR:-/tmp}/usb-vm-suite.XXXXXX")
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
rm -f "$results/usb_vm-figures.txt"

t0=$(date +%s.%N)
cd "$repo"
cargo build --locked -p stm32mp-emu --release
emu="$repo/target/release/stm32mp-emu"
tests=$(cargo test --locked --test usb_vm --no-run --message-format=json |
	python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "usb_vm" and m.get("executable"):
        print(m["executable"])')
[ -x "$tests" ] || { echo "suite.sh: the usb_vm test binary was not built" >&2; exit 1; }
t1=$(date +%s.%N)

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
set +e
"$here/run.sh" --results "$results" --timeout 900 \
	--name "usb_vm: the built-in flasher against emulated boards ($threads at a time)" \
	--name "selftest: the emulator against dfu-util" \
	"cd $repo && env PATH=$path STM32MP_USBVM=1 STM32MP_EMU=$emu $tests --test-threads=$threads" \
	"env PATH=$path bash $here/selftest.sh $emu \$STM32MP_USBVM_RESULTS/selftest"
rc=$?
set -e
t2=$(date +%s.%N)

if [ -f "$results/usb_vm-figures.txt" ]; then
	echo "usb_vm figures:"
	sed 's/^/  /' "$results/usb_vm-figures.txt"
fi
if [ -f "$results/1.log" ]; then
	grep -E '^test result:' "$results/1.log" | sed 's/^/usb_vm: /' || true
fi
echo "suite: each test's logs, records and emulator markers are in $results/usb_vm/"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "suite: host build %.0f s, guest run %.0f s, total %.0f s\n", b - a, c - b, c - a }'
exit $rc
