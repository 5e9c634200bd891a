#!/usr/bin/env bash
# Benchmark stm32mp-imager against genimage (and genimage + bmaptool create) on the same inputs; prints median wall
# time, peak RSS, allocated bytes and the target ratios. Usage: scripts/bench.sh [--runs N] [--case DK2|EV1]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --quiet
echo "machine: $(nproc) cores, $(uname -r), $(stat -f -c %T .) file system; $(date -u +%Y-%m-%d)"
exec python3 scripts/bench.py --imager target/release/stm32mp-imager "$@"
