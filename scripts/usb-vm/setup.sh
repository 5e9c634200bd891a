#!/usr/bin/env bash
# Prepare everything the USB guest needs (idempotent; prints the cache folder on its last line):
#  - Debian packages: qemu-system-x86, busybox-static, kmod, python3-venv, dfu-util, u-boot-tools, gdisk
#    (installed with apt-get when a command is missing);
#  - Debian's own kernel (linux-image-*-amd64, the newest the archive offers), unpacked with dpkg -x and
#    depmod'ed, in a cache folder outside the repository;
#  - virtme-ng (PyPI) in a venv in the same cache folder.
# Cache: ${STM32MP_USBVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stm32mp-imager/usb-vm}
set -euo pipefail
cache=${STM32MP_USBVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stm32mp-imager/usb-vm}
vng_version=${STM32MP_USBVM_VNG_VERSION:-1.42}
mkdir -p "$cache"

need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v depmod > /dev/null || command -v /sbin/depmod > /dev/null || need+=(kmod)
/usr/bin/python3 -c 'import venv, ensurepip' 2> /dev/null || need+=(python3-venv)
command -v dfu-util > /dev/null || need+=(dfu-util)
command -v mkimage > /dev/null || need+=(u-boot-tools)
command -v sgdisk > /dev/null || need+=(gdisk)
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
if [ ${#need[@]} -gt 0 ]; then
	echo "usb-vm: installing ${need[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi

# The kernel: the newest linux-image-<abi>-amd64 the archive offers (not the meta package).
if [ ! -f "$cache/kernel.ready" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
	if [ -z "$pkg" ]; then
		"${sudo[@]}" apt-get update -qq
		pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
	fi
	[ -n "$pkg" ] || { echo "usb-vm: no linux-image-*-amd64 package found with apt-cache" >&2; exit 1; }
	echo "usb-vm: downloading $pkg" >&2
	rm -rf "$cache/kernel" "$cache/deb"
	mkdir -p "$cache/deb" "$cache/kernel"
	(cd "$cache/deb" && apt-get download -qq "$pkg")
	dpkg -x "$cache"/deb/*.deb "$cache/kernel"
	rm -rf "$cache/deb"
	version=${pkg#linux-image-}
	/sbin/depmod -b "$cache/kernel" "$version"
	echo "$version" > "$cache/kernel.ready"
fi
version=$(cat "$cache/kernel.ready")
[ -f "$cache/kernel/boot/vmlinuz-$version" ] || { echo "usb-vm: $cache/kernel/boot/vmlinuz-$version missing; remove $cache/kernel.ready" >&2; exit 1; }

if [ ! -x "$cache/venv/bin/vng" ]; then
	echo "usb-vm: installing virtme-ng $vng_version in $cache/venv" >&2
	rm -rf "$cache/venv"
	/usr/bin/python3 -m venv "$cache/venv"
	"$cache/venv/bin/pip" install -q "virtme-ng==$vng_version"
fi
echo "$cache"
