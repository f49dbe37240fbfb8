#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 600) each, one after
# the other, and prints executions and coverage per target. Needs the nightly
# toolchain and cargo-fuzz (installed here when missing). Not part of the
# test command, which runs the same checks (tests/fuzz-checks) on proptest's
# inputs; crashes found are turned into stable regression tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

SECONDS_EACH=${FUZZ_SECONDS:-600}
TARGETS=(cookie_scan signed_verify record_decode snapshot_restore http_request)

command -v cargo-fuzz >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked

for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "logs"
    echo "==> $target (${SECONDS_EACH}s)"
    cargo +nightly fuzz run "$target" "corpus/$target" -O -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048 \
        >"logs/$target.log" 2>&1 || { echo "$target FAILED: see fuzz/logs/$target.log"; tail -n 30 "logs/$target.log"; exit 1; }
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "logs/$target.log" || true
    grep -oE "cov: [0-9]+ ft: [0-9]+" "logs/$target.log" | tail -n 1
done
