#!/usr/bin/env bash
# Runs a cargo-fuzz target (default: config_parse) for SECONDS (default 600), seeded with the
# project's fixtures. Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain is used
# with RUSTC_BOOTSTRAP=1 because libFuzzer's sanitizer flags are nightly-only.
#   ./scripts/fuzz.sh [TARGET] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:-config_parse}
secs=${2:-600}
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
find ../tests/fixtures -type f -name '*.conf' -exec cp {} "$seeds"/ \;
mkdir -p "corpus/$target"
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "$seeds" -- \
  -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536
