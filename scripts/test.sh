#!/usr/bin/env bash
# The whole test suite. Installs the Debian packages the tests use as oracles when they are missing
# (apt-get, as root or through sudo), then runs every test. A missing oracle is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gdisk genimage u-boot-tools arm-trusted-firmware-tools e2fsprogs bmap-tools python3 shellcheck)
tools=(sgdisk genimage mkimage fiptool mke2fs e2fsck bmaptool python3 shellcheck)
missing=()
for t in "${tools[@]}"; do command -v "$t" > /dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test.sh: installing the oracles (missing: ${missing[*]})"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
fi

cargo test --locked --all-targets
