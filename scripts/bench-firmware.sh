#!/usr/bin/env bash
# Firmware benchmark, the processes only: the login UI of examples/firmware
# as the real microcontroller image in QEMU (examples/boards/mps2-an386:
# Cortex-M4F, LAN9118, embassy-net, picoserve, sesh-embassy) beside the same
# app on the host (`firmware-host`, picoserve's tokio runtime), in the same
# run. The harness runs it and reads what it leaves:
#
#     bash scripts/bench.sh firmware --rounds 5   # about 4 minutes
#
# benches/harness/src/scenario/firmware.rs sets the settings below, parses
# the raw files, computes the medians, ranges and ratios and writes the
# section of BENCHMARKS.md. This script only builds, starts and stops QEMU
# and firmware-host, times the boots, logs in and runs wrk. The harness is
# its only caller: BENCH_OUT is required.
#
# Raw files in BENCH_OUT:
# - nucleo-size.txt, mps2-size.txt: scripts/firmware.sh's output (sizes).
# - boot.txt: per boot (BOOTS, each on a new flash file), the ms from
#   starting QEMU to the image's `firmware: serving` line and to the first
#   answered `GET /me`, tab-separated.
# - wrk-TARGET-SCENARIO-ROUND.txt: `wrk --latency` output, TARGET qemu or
#   host, SCENARIO returning (one signed-in session's cookie, from a login as
#   the demo account, on every request) or new (no cookie).
# - qemu-load.log: the last load run's QEMU console (its `stack: peak N of
#   M bytes` lines: the stack is painted at reset).
#
# Settings (environment): BENCH_OUT, ROUNDS=3 DURATION=10 BOOTS=5
# CONNECTIONS=4. Everything targets 127.0.0.1 only; every wrk run is bounded
# (-d); QEMU and firmware-host are stopped by the script, also on error or
# Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ -z "${BENCH_OUT:-}" ]]; then
    echo "bench-firmware: BENCH_OUT is not set; run it through the harness: bash scripts/bench.sh firmware" >&2
    exit 2
fi
OUT=$BENCH_OUT
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
BOOTS=${BOOTS:-5}
CONNECTIONS=${CONNECTIONS:-4}
HOST=127.0.0.1

# log, require_tools, install_packages
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

command -v wrk >/dev/null 2>&1 || install_packages wrk
require_tools wrk curl python3 qemu-system-arm arm-none-eabi-size

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

log "==> building firmware-host (release) and the images (release)"
cargo build --release -p firmware --features host-server --bin firmware-host >&2
# Where that cargo put it (a relative CARGO_TARGET_DIR is relative to ROOT).
HOST_BIN=${CARGO_TARGET_DIR:-target}/release/firmware-host
[[ $HOST_BIN == /* ]] || HOST_BIN=$ROOT/$HOST_BIN
# The NUCLEO image is only measured: the hash of a random admin password.
if [[ "${SESH_ADMIN_PASSWORD_HASH:-random}" == random ]]; then
    SESH_ADMIN_PASSWORD_HASH=$(head -c 18 /dev/urandom | base64 | "$HOST_BIN" --hash-password)
fi
export SESH_ADMIN_PASSWORD_HASH
# The board crates build in examples/boards/target, where
# scripts/qemu-firmware.sh runs the image from: the image measured is the
# one booted.
env -u CARGO_TARGET_DIR bash scripts/firmware.sh >"$OUT/nucleo-size.txt"
env -u CARGO_TARGET_DIR FIRMWARE_BOARD=mps2-an386 bash scripts/firmware.sh >"$OUT/mps2-size.txt"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

now_ms() { date +%s%3N; }

# start_qemu FLASH LOG: sets PID and ADDR.
start_qemu() {
    local port
    port=$(free_port)
    bash scripts/qemu-firmware.sh --no-build --port "$port" --flash "$1" >"$2" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    ADDR=$HOST:$port
}

# wait_http: until GET /me answers (401 without a cookie); prints the ms waited.
wait_http() {
    local start i
    start=$(now_ms)
    for ((i = 0; i < 6000; i++)); do
        if [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$ADDR/me") == 401 ]]; then
            echo $(($(now_ms) - start))
            return 0
        fi
        sleep 0.005
    done
    log "no HTTP answer from $ADDR"
    exit 1
}

# boot_times LOG: the ms from starting QEMU to the image's `firmware: serving`
# line (DHCP done, workers listening), and to the first answered request.
# Connecting only once the image serves: QEMU's forwarded port listens with a
# backlog of 1, and the resets of connects polled earlier make the host drop
# a SYN and retry after 1 s, which would be timed instead of the boot.
boot_times() {
    local start i serving
    start=$(now_ms)
    for ((i = 0; i < 3000; i++)); do
        grep -q 'firmware: serving' "$1" && break
        sleep 0.005
    done
    serving=$(($(now_ms) - start))
    curl -s -o /dev/null -m 5 "http://$ADDR/me"
    printf '%s\t%s\n' "$serving" $(($(now_ms) - start))
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

# A cookie of one signed-in session (the demo account admin / admin of the
# emulator and firmware-host), as a header: an anonymous view stores nothing,
# so only a login makes a session that each request then counts in.
cookie_of() {
    local page pre csrf
    page=$(curl -s -D - "http://$ADDR/")
    pre=$(sed -n 's/^[Ss]et-[Cc]ookie: \(sid-pre=[^;]*\);.*/\1/p' <<<"$page" | head -n 1)
    csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n 1)
    curl -s -D - -o /dev/null -H "Cookie: $pre" --data "username=admin&password=admin&csrf=$csrf" \
        "http://$ADDR/login" | sed -n 's/^[Ss]et-[Cc]ookie: \(sid=[^;]*\);.*/\1/p' | head -n 1
}

# load TARGET SCENARIO ROUND: one wrk run, its output into
# wrk-TARGET-SCENARIO-ROUND.txt.
load() {
    local target=$1 scenario=$2 round=$3 header=()
    if [[ $scenario == returning ]]; then
        header=(-H "Cookie: $(cookie_of)")
    fi
    local file=$OUT/wrk-$target-$scenario-$round.txt
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency "${header[@]}" "http://$ADDR/" >"$file"
    log "    $target $scenario: $(grep '^Requests/sec:' "$file" || echo 'no Requests/sec line')"
}

log "==> boot time, $BOOTS boots"
: >"$OUT/boot.txt"
for ((b = 1; b <= BOOTS; b++)); do
    start_qemu "$OUT/boot-$b.bin" "$OUT/boot-$b.log"
    boot_times "$OUT/boot-$b.log" >>"$OUT/boot.txt"
    stop
done

# The floods of new visitors run on the last QEMU run: its log holds the
# deepest stack.
QEMU_LOG=$OUT/qemu-load.log
for ((round = 1; round <= ROUNDS; round++)); do
    log "==> round $round of $ROUNDS"
    start_qemu "$OUT/load.bin" "$QEMU_LOG"
    wait_http >/dev/null
    for scenario in returning new; do load qemu "$scenario" "$round"; done
    stop
    port=$(free_port)
    "$HOST_BIN" --addr "$HOST:$port" >"$OUT/host.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    ADDR=$HOST:$port
    wait_http >/dev/null
    for scenario in returning new; do load host "$scenario" "$round"; done
    stop
done
log "==> raw results in $OUT"
