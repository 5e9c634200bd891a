#!/usr/bin/env bash
# Run one cargo-fuzz target for SECONDS on its committed seeds (fuzz/seeds/TARGET) plus a corpus folder.
#   fuzz/run.sh TARGET SECONDS [CORPUS_DIR]   (default corpus: a fresh temporary folder, removed afterwards)
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); RUSTC_BOOTSTRAP=1 lets stable Rust accept the sanitizer
# flags cargo-fuzz passes. A crash, a panic or a hang (> 10 s for one input) makes this fail, with the input saved
# under fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
seconds=$2
corpus=${3:-}
cleanup=
if [ -z "$corpus" ]; then
	corpus=$(mktemp -d)
	cleanup=$corpus
fi
mkdir -p "$corpus"
case $target in
gpt_inspect) max_len=65536 ;;
*) max_len=8192 ;;
esac
status=0
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" "fuzz/seeds/$target" -- \
	-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 || status=$?
[ -z "$cleanup" ] || rm -rf "$cleanup"
exit $status
