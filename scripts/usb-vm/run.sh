#!/usr/bin/env bash
# Boot one QEMU guest with Debian's kernel (USB core + vhci_hcd), run host-built commands inside it, and print a
# summary on the host. Exit status: 0 when every command exited 0, 1 when one failed, 2 when the guest did not
# boot or vhci-hcd did not load (never a skip).
#
#   scripts/usb-vm/run.sh [--results DIR] [--timeout SECONDS] [--name NAME]... COMMAND...
#
# Each COMMAND is one shell command line run in the guest (root, the host's file system read-only except DIR and
# what the commands make under DIR). --name gives the Nth command a name for the summary.
# Environment: STM32MP_USBVM_KVM=0|1 forces TCG or KVM (default: KVM only when a probe boot shows it works),
# STM32MP_USBVM_MEMORY (default 1G), STM32MP_USBVM_CPUS (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
results=""
timeout=300
names=()
while [ $# -gt 0 ]; do
	case $1 in
	--results) results=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--name) names+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: run.sh [--results DIR] [--timeout S] [--name N]... COMMAND..." >&2; exit 2; }

cache=$("$here/setup.sh" | tail -1)
version=$(cat "$cache/kernel.ready")
kernel="$cache/kernel/boot/vmlinuz-$version"
if [ -z "$results" ]; then
	results=$(mktemp -d "${TMPDIR:-/tmp}/usb-vm.XXXXXX")
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
rm -f "$results"/booted "$results"/vhci.ok "$results"/finished "$results"/[0-9]*.rc "$results"/[0-9]*.log "$results"/[0-9]*.time
: > "$results/commands"
for c in "$@"; do
	printf '%s\n' "$c" >> "$results/commands"
done

# KVM only if it really works here: a probe boot must reach the kernel's "no init" panic.
kvm=${STM32MP_USBVM_KVM:-}
if [ -z "$kvm" ]; then
	kvm=0
	if [ -w /dev/kvm ]; then
		if timeout 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -no-reboot -serial stdio \
			-kernel "$kernel" -append "console=ttyS0 panic=-1 init=/stm32mp-usbvm-no-init" 2>&1 |
			grep -q "stm32mp-usbvm-no-init"; then
			kvm=1
		fi
	fi
fi
accel=(--disable-kvm)
[ "$kvm" = 1 ] && accel=()
echo "usb-vm: kernel $version, $([ "$kvm" = 1 ] && echo KVM || echo TCG), results in $results" >&2

t0=$(date +%s.%N)
set +e
PATH="$cache/venv/bin:$PATH" timeout $((timeout * $# + 300)) vng "${accel[@]}" --run "$kernel" \
	--memory "${STM32MP_USBVM_MEMORY:-1G}" --cpus "${STM32MP_USBVM_CPUS:-2}" --rwdir "$results" \
	--exec "sh $here/guest.sh $results $timeout" > "$results/console.log" 2>&1 < /dev/null
vng_rc=$?
set -e
t1=$(date +%s.%N)

if [ ! -f "$results/booted" ]; then
	echo "usb-vm: the guest did not boot (vng exit $vng_rc); console: $results/console.log" >&2
	tail -20 "$results/console.log" >&2 || true
	exit 2
fi
if [ ! -f "$results/vhci.ok" ]; then
	echo "usb-vm: vhci-hcd did not load in the guest:" >&2
	cat "$results/vhci.log" >&2 || true
	exit 2
fi
printf 'usb-vm: guest up after %ss (uptime at script start), vhci after %ss, whole run %.1fs\n' \
	"$(cat "$results/booted")" "$(cat "$results/vhci.ok")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >&2

passed=0
failed=0
n=0
for c in "$@"; do
	n=$((n + 1))
	name=${names[$((n - 1))]:-$c}
	if [ -f "$results/$n.rc" ]; then
		rc=$(cat "$results/$n.rc")
		read -r a b < "$results/$n.time"
		secs=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", b - a }')
	else
		rc="not run"
		secs="-"
	fi
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		echo "ok      $name (${secs}s)"
	else
		failed=$((failed + 1))
		echo "FAILED  $name (exit $rc, ${secs}s) — log: $results/$n.log"
		tail -15 "$results/$n.log" 2>/dev/null | sed 's/^/        /'
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
