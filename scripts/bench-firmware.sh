#!/usr/bin/env bash
# Firmware benchmark: the login UI of examples/firmware as the real
# microcontroller image in QEMU (examples/boards/mps2-an386: Cortex-M4F,
# LAN9118, embassy-net, picoserve, sesh-embassy) beside the same app on the
# host (`firmware-host`, picoserve's tokio runtime), in the same run.
#
# Run by hand (it is not part of scripts/test.sh):
#
#     bash scripts/bench-firmware.sh      # ROUNDS=3 DURATION=10: about 3 minutes
#
# What it measures
# - The image's sections (`arm-none-eabi-size -A`): .text, .data, .bss, and
#   the NUCLEO-H743ZI image's beside it (scripts/firmware.sh).
# - Boot: the time from starting QEMU to the first answered HTTP request
#   (`GET /me`, polled every 5 ms), BOOTS times, each on a new flash file.
# - Load, ROUNDS rounds, each target: `wrk -t1 -c CONNECTIONS -d DURATION`
#   on `GET /` for returning clients (one signed-in session's cookie, from
#   a login as the demo account, on every request: a visit counter update
#   each) and for new visitors (no cookie: every request gets the login form
#   with a pre-session token and stores nothing), req/s and p99. The emulator's speed is not a
#   chip's: the QEMU figures are reported as a ratio to firmware-host's,
#   measured in the same round.
# - The image's peak stack (painted at reset; the image prints
#   `stack: peak N of M bytes` when it grows) after all the load, floods of
#   new visitors included.
#
# Everything targets 127.0.0.1 only; every wrk run is bounded (-d); QEMU and
# firmware-host are stopped by the script, also on error or Ctrl-C.
#
# Output: a Markdown report on stdout, also written into BENCHMARKS.md between
# <!-- bench:firmware:start --> and <!-- bench:firmware:end --> (added after
# the stores section when missing). Settings (environment): ROUNDS=3
# DURATION=10 BOOTS=5 CONNECTIONS=4 BENCH_MD=BENCHMARKS.md (empty: do not
# write it); BENCH_OUT=DIR keeps the raw results.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
BOOTS=${BOOTS:-5}
CONNECTIONS=${CONNECTIONS:-4}
BENCH_MD=${BENCH_MD-BENCHMARKS.md}
HOST=127.0.0.1

# log, require_tools, install_packages, make_out_dir, median, minmax, fmt,
# machine_facts, write_section
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

command -v wrk >/dev/null 2>&1 || install_packages wrk
require_tools wrk curl qemu-system-arm arm-none-eabi-size

make_out_dir "${TMPDIR:-/tmp}/sesh-bench-firmware.XXXXXX"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -z "${BENCH_OUT:-}" && "${KEEP:-0}" != 1 ]]; then
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT

log "==> building the image (release) and firmware-host (release)"
# The NUCLEO image is only measured: the hash of a random admin password.
export SESH_ADMIN_PASSWORD_HASH=${SESH_ADMIN_PASSWORD_HASH:-random}
bash scripts/firmware.sh >"$OUT/nucleo-size.txt"
FIRMWARE_BOARD=mps2-an386 bash scripts/firmware.sh >"$OUT/mps2-size.txt"
cargo build --release -p firmware --features host-server --bin firmware-host >&2
HOST_BIN=$ROOT/target/release/firmware-host
ELF=examples/boards/target/thumbv7em-none-eabihf/release/mps2-an386

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

# load TARGET SCENARIO ROUND: one wrk run; appends "round target scenario req/s p99_ms".
load() {
    local target=$1 scenario=$2 round=$3 header=() out
    if [[ $scenario == returning ]]; then
        header=(-H "Cookie: $(cookie_of)")
    fi
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency "${header[@]}" "http://$ADDR/")
    local rps p99
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }' <<<"$out")
    # Socket errors (connect, read, write, timeout) and wrong answers apart:
    # a reset connection is the network's, a non-2xx is the firmware's.
    local sockets wrong
    sockets=$(awk '/Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
    wrong=$(awk '/Non-2xx/ { n += $NF } END { print n + 0 }' <<<"$out")
    printf '%s\n' "$out" >>"$OUT/wrk-$target-$scenario-$round.txt"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$target" "$scenario" "$rps" "$p99" "$sockets" "$wrong" >>"$OUT/results.tsv"
    log "    $target $scenario: $rps req/s, p99 $p99 ms"
}

log "==> boot time, $BOOTS boots"
for ((b = 1; b <= BOOTS; b++)); do
    start_qemu "$OUT/boot-$b.bin" "$OUT/boot-$b.log"
    boot_times "$OUT/boot-$b.log" >>"$OUT/boot.txt"
    stop
done

: >"$OUT/results.tsv"
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
# The flood above ran on the last QEMU run: its deepest stack.
peak=$(grep -o 'stack: peak [0-9]* of [0-9]* bytes' "$QEMU_LOG" | tail -n 1)

# ------------------------------------------------------------------ report --
section() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
# Berkeley sizes (.text includes the vectors and .rodata), as scripts/firmware.sh prints them.
sizes() { sed -n 's/.*: \.text \([0-9]*\) B, \.data \([0-9]*\) B, \.bss \([0-9]*\) B;.*/\1 \2 \3/p' "$1"; }
read -r text data bss < <(sizes "$OUT/mps2-size.txt")
read -r n_text n_data n_bss < <(sizes "$OUT/nucleo-size.txt")
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }
serving_ms=$(cut -f1 "$OUT/boot.txt" | median)
boot_ms=$(cut -f2 "$OUT/boot.txt" | median)
boot_range=$(cut -f2 "$OUT/boot.txt" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d–%d", lo, hi }')
col_of() { awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '$2 == t && $3 == s { print $c }' "$OUT/results.tsv"; }
sum() { awk '{ n += $1 } END { print n + 0 }'; }
ratio_of() {
    awk -F'\t' -v s="$1" -v c="${2:-4}" '$3 == s && $2 == "qemu" { q[$1] = $c } $3 == s && $2 == "host" { h[$1] = $c }
        END { for (r in q) if (h[r] > 0) printf "%.4f\n", q[r] / h[r] }' "$OUT/results.tsv"
}
machine_facts

report=$OUT/report.md
{
    echo "## Firmware in QEMU (scripts/bench-firmware.sh)"
    echo
    echo "The login UI of \`examples/firmware\` as the real Cortex-M4F image of \`examples/boards/mps2-an386\`"
    echo "in QEMU $(qemu-system-arm --version | awk 'NR == 1 { print $4 }') (\`-machine mps2-an386\`, LAN9118 on the user network, host port forwarded),"
    echo "beside the same app on the host (\`firmware-host\`, picoserve on tokio), in the same run: $ROUNDS rounds,"
    echo "\`wrk -t1 -c$CONNECTIONS -d${DURATION}s\` on \`GET /\`. The emulator runs the guest far slower than a chip"
    echo "would (TCG translation on one host core), so its req/s are a relative figure. Returning: a signed-in"
    echo "session's cookie on every request (a visit counter update each); new: no cookie (the login form with a"
    echo "fresh form token and pre-session cookie; nothing is stored). Machine: $cpu_model,"
    echo "$(nproc) CPUs; commit $commit$dirty."
    echo
    echo "| image (release, \`arm-none-eabi-size -B\`) | \`.text\` | \`.data\` | \`.bss\` |"
    echo "|---|---:|---:|---:|"
    echo "| mps2-an386 (QEMU) | $(thousands "$text") B | $(thousands "$data") B | $(thousands "$bss") B |"
    echo "| NUCLEO-H743ZI, same commit | $(thousands "$n_text") B | $(thousands "$n_data") B | $(thousands "$n_bss") B |"
    echo
    echo "| figure | value |"
    echo "|---|---:|"
    echo "| QEMU start to \`firmware: serving\` (DHCP done; median of $BOOTS) | $serving_ms ms |"
    echo "| QEMU start to the first answered request (median of $BOOTS; range) | $boot_ms ms ($boot_range) |"
    echo "| peak stack after the load and the floods (painted) | ${peak#stack: peak } |"
    for scenario in returning new; do
        echo "| $scenario: QEMU req/s (median; range) | $(col_of qemu "$scenario" 4 | median | xargs printf '%.0f') ($(col_of qemu "$scenario" 4 | minmax)) |"
        echo "| $scenario: firmware-host req/s (median; range) | $(col_of host "$scenario" 4 | median | xargs printf '%.0f') ($(col_of host "$scenario" 4 | minmax)) |"
        echo "| $scenario: QEMU ÷ firmware-host req/s (median; range over rounds) | $(ratio_of "$scenario" | median | xargs printf '%.3f') ($(ratio_of "$scenario" | minmax)) |"
        echo "| $scenario: p99, QEMU / firmware-host | $(col_of qemu "$scenario" 5 | median | xargs printf '%.2f') ms / $(col_of host "$scenario" 5 | median | xargs printf '%.2f') ms |"
        echo "| $scenario: socket errors (connect, read, write, timeout) in all rounds, QEMU / firmware-host | $(col_of qemu "$scenario" 6 | sum) / $(col_of host "$scenario" 6 | sum) |"
        echo "| $scenario: non-2xx answers in all rounds, QEMU / firmware-host | $(col_of qemu "$scenario" 7 | sum) / $(col_of host "$scenario" 7 | sum) |"
    done
} >"$report"
cat "$report"
if [[ -n "$BENCH_MD" ]]; then
    write_section "$BENCH_MD" "<!-- bench:firmware:start -->" "<!-- bench:firmware:end -->" "$report" "<!-- bench:stores:end -->"
fi
