#!/usr/bin/env bash
# The whole test suite. Installs the Debian packages the tests use as oracles when they are missing
# (apt-get, as root or through sudo), then runs every test. A missing oracle is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gdisk genimage u-boot-tools arm-trusted-firmware-tools e2fsprogs bmap-tools python3 shellcheck util-linux g++)
tools=(sgdisk genimage mkimage fiptool mke2fs e2fsck bmaptool python3 shellcheck unshare setpriv g++)
missing=()
for t in "${tools[@]}"; do command -v "$t" > /dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test.sh: installing the oracles (missing: ${missing[*]})"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
fi

# Style and lints first: CI rejects unformatted code and any clippy warning.
echo "test.sh: cargo fmt --check"
cargo fmt --all -- --check
echo "test.sh: cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "test.sh: cargo doc (broken or ambiguous links in the code's documentation are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# Fuzz smoke run (issue 6): every cargo-fuzz target builds and runs a few seconds on its seeds, so they keep
# building; it runs before the tests so that cargo test's summary closes the log. The long runs and their
# figures are in docs/reliability.md (fuzz/run.sh TARGET SECONDS).
if ! cargo fuzz --version > /dev/null 2>&1; then
	echo "test.sh: installing cargo-fuzz"
	cargo install cargo-fuzz --locked
fi
for target in board layout stm32_header fip gpt_inspect buildroot programmer fwu dfu_replies; do
	echo "test.sh: fuzz smoke run of $target"
	fuzz/run.sh "$target" 5 > "${TMPDIR:-/tmp}/fuzz-smoke-$target.log" 2>&1 || {
		tail -n 60 "${TMPDIR:-/tmp}/fuzz-smoke-$target.log"
		echo "test.sh: fuzz target $target failed (see above)"
		exit 1
	}
	grep -E '^stat::number_of_executed_units' "${TMPDIR:-/tmp}/fuzz-smoke-$target.log" | sed "s/^/  $target: /" || true
done
echo "test.sh: fuzz smoke runs passed"

cargo test --workspace --locked --all-targets

# The USB guest suite (issue 11): the built-in flasher end to end through a real Linux USB stack (a QEMU guest with
# Debian's kernel, vhci_hcd) against emulated boards, and the emulator against dfu-util, in one guest boot. The
# guest is prepared by scripts/usb-vm/setup.sh (apt-get, cached). A guest that cannot boot fails the suite (exit 2).
# Measured cost, README "The built-in flasher": 3.6-7.3 min on 2 shared cores without KVM.
echo "test.sh: the USB guest suite (scripts/usb-vm/suite.sh)"
scripts/usb-vm/suite.sh
