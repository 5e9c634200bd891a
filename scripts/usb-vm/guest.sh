#!/bin/sh
# Runs inside the USB guest (started by run.sh through virtme-ng; the root file system is the host's, read-only,
# and RESULTS is shared read-write). Loads vhci-hcd, then runs each line of RESULTS/commands with `sh -c`,
# under `timeout`, keeping its output in RESULTS/N.log, its exit status in RESULTS/N.rc and its duration in
# RESULTS/N.time. Markers for the host: RESULTS/booted (uptime at start), RESULTS/vhci.ok, RESULTS/finished.
results=$1
per_command_timeout=${2:-300}
read -r up _ < /proc/uptime
echo "$up" > "$results/booted"
if ! modprobe vhci-hcd > "$results/vhci.log" 2>&1 || [ ! -e /sys/devices/platform/vhci_hcd.0/attach ]; then
	echo "vhci-hcd did not load" >> "$results/vhci.log"
	exit 1
fi
read -r up _ < /proc/uptime
echo "$up" > "$results/vhci.ok"
export STM32MP_USBVM_GUEST=1 STM32MP_USBVM_RESULTS="$results"
n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	read -r t0 _ < /proc/uptime
	timeout -k 5 "$per_command_timeout" sh -c "$line" > "$results/$n.log" 2>&1 < /dev/null
	echo $? > "$results/$n.rc"
	read -r t1 _ < /proc/uptime
	echo "$t0 $t1" > "$results/$n.time"
done < "$results/commands"
# The kernel's log (USB enumeration, vhci_hcd), for diagnosing a device the kernel did not take.
dmesg > "$results/dmesg.log" 2>&1 || true
echo "$n" > "$results/finished"
