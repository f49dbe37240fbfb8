#!/usr/bin/env bash
# The host benchmarks, one command: every generated section of BENCHMARKS.md.
# Run by hand on a quiet machine (it is not part of scripts/test.sh):
#
#     bash scripts/bench.sh all --rounds 5  # every section: about 60 minutes on 2 cores
#     bash scripts/bench.sh counter --rounds 5 --no-write
#     bash scripts/bench.sh --help          # sections and flags
#
# This script only installs what is missing (wrk, redis-server, PostgreSQL),
# builds the release binaries (bench-server and the in-process bins of
# benches/http, the shipped counter example, the harness) and runs the
# harness, benches/harness (`bench`, Rust), with the arguments given (default
# `all`). The harness starts and stops every server, runs wrk under both load
# set-ups (`wrk -t2 -c32` and one thread per connection), computes medians,
# spreads, per-round ratios and verdicts, and writes each section between its
# markers in BENCHMARKS.md (<!-- bench:NAME:start --> … end), leaving the rest
# of the file alone. Everything listens on 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# as_root
# shellcheck source=scripts/common.sh
source scripts/common.sh

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}" >&2
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi

echo "==> building the release binaries" >&2
cargo build --release -p sesh-bench-http --bins -p counter -p sesh-bench-harness >&2

TARGET_DIR=${CARGO_TARGET_DIR:-target}
if (($# == 0)); then set -- all; fi
exec "$TARGET_DIR/release/bench" "$@"
