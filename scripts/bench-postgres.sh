#!/usr/bin/env bash
# PostgreSQL store benchmark (issue 18): the counter app of scripts/bench.sh
# on `sesh-postgres` (sesh-tokio's PostgresStore, PostgresConfig defaults, a
# pool of 8) against `tower-sessions-postgres` (tower-sessions 0.14 with
# tower-sessions-sqlx-store 0.15, an sqlx pool of 8), in the same run, on the
# same PostgreSQL. Target: sesh ≥ 1.3 × tower-sessions for returning clients.
#
# Run by hand (it is not part of scripts/test.sh):
#
#     bash scripts/bench-postgres.sh     # ROUNDS=3 DURATION=10: about 3 minutes
#
# Everything targets 127.0.0.1 only. Every wrk run is bounded in time (-d);
# every process this script starts (PostgreSQL, bench-server, wrk) is stopped
# by it, also on error or Ctrl-C, and the cluster directory is removed.
#
# What it does
# - Installs wrk and postgresql from Debian if missing, builds `bench-server`
#   (benches/http) in release.
# - Makes a throwaway cluster (initdb, as the postgres user when run as root)
#   in a temporary directory and starts it on a free loopback port with the
#   server's defaults (fsync on, synchronous_commit on: every commit waits
#   for its WAL flush, as in production).
# - For each of ROUNDS rounds, each variant (order rotated) and each scenario
#   (returning, new): a fresh server process (its own table), a WARMUP-second
#   warm-up, then `wrk -t THREADS -c CONNECTIONS -d DURATION` with
#   benches/http/wrk/load.lua; req/s, p50, p99, the server's CPU time per
#   request and PostgreSQL's (the postmaster and all its children: backends,
#   WAL writer, checkpointer) per request.
#   * returning: SESSIONS sessions minted before the run, their cookies
#     replayed round robin; a replayed cookie's count must have gone up.
#   * new: no cookie, every request creates a session.
#
# Output: a Markdown report on stdout, also written into BENCHMARKS.md between
# <!-- bench:postgres:start --> and <!-- bench:postgres:end --> (added after
# the stores section, or at the end). Raw results stay in $BENCH_OUT (default:
# a temporary directory, removed at exit unless KEEP=1).
#
# Settings (environment): ROUNDS=3 DURATION=10 WARMUP=2 THREADS=2
# CONNECTIONS=32 SESSIONS=1024 BENCH_MD=BENCHMARKS.md (empty: do not write it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SESSIONS=${SESSIONS:-1024}
BENCH_MD=${BENCH_MD-BENCHMARKS.md}
HOST=127.0.0.1
TARGET=1.3

VARIANTS=(sesh-postgres tower-sessions-postgres)
SCENARIOS=(returning new)
LUA_LOAD="$ROOT/benches/http/wrk/load.lua"

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

pg_bin() {
    local postgres
    postgres=$(command -v postgres 2>/dev/null || true)
    if [[ -n "$postgres" ]]; then
        dirname "$(readlink -f "$postgres")"
        return
    fi
    find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1
}

missing_pkgs=()
command -v wrk >/dev/null 2>&1 || missing_pkgs+=(wrk)
[[ -n "$(pg_bin)" ]] || missing_pkgs+=(postgresql)
if ((${#missing_pkgs[@]})); then install_packages "${missing_pkgs[@]}"; fi
require_tools curl cargo
PG_BIN=$(pg_bin)

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

build_bench_server
make_out_dir /tmp/sesh-bench-postgres.XXXXXX
RESULTS="$OUT/results.tsv" # round scenario variant rps p50_us p99_us errors server_ns db_ns
: >"$RESULTS"

SERVER_PID=""
PG_DIR=""
PG_PORT=""
ADDR=""

# as_pg CMD…: runs CMD as the postgres user when we are root (PostgreSQL
# refuses to run as root).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_pg() {
    if [[ -n "$PG_DIR" && -f "$PG_DIR/data/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$PG_DIR" ]]; then
        rm -rf "$PG_DIR"
        PG_DIR=""
    fi
}

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    stop_pg
    if [[ -z "${BENCH_OUT:-}" && "${KEEP:-0}" != "1" ]]; then
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_pg() {
    # Outside $OUT (mode 0700, root's): the postgres user must reach it.
    PG_DIR=$(mktemp -d /tmp/sesh-bench-pg.XXXXXX)
    if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$PG_DIR"; fi
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" --auth=trust -U postgres -E UTF8 --no-locale >"$OUT/initdb.log" 2>&1
    local attempt
    for ((attempt = 0; attempt < 20; attempt++)); do
        PG_PORT=$((20000 + RANDOM % 40000))
        if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=$HOST -c max_connections=100" \
            start >/dev/null 2>&1; then
            return 0
        fi
    done
    log "could not start PostgreSQL on a free loopback port (see $PG_DIR/server.log)"
    exit 1
}

pg_url() { printf 'postgres://postgres@%s:%s/postgres' "$HOST" "$PG_PORT"; }

# db_ticks: CPU ticks of the postmaster and every child of it so far.
db_ticks() {
    local pm total=0 pid
    pm=$(head -n1 "$PG_DIR/data/postmaster.pid")
    total=$(cpu_ticks "$pm")
    for pid in $(ps --ppid "$pm" -o pid=); do
        if [[ -r "/proc/$pid/stat" ]]; then
            total=$((total + $(cpu_ticks "$pid" 2>/dev/null || echo 0)))
        fi
    done
    echo "$total"
}

throughput_run() {
    local round=$1 variant=$2 scenario=$3
    start_server "$variant" --postgres "$(pg_url)"
    local cookies=""
    if [[ "$scenario" == returning ]]; then
        cookies="$OUT/cookies.$variant"
        mint_cookies "$variant" "$cookies"
    fi
    run_wrk "$WARMUP" "$cookies" >/dev/null
    local line s0 s1 d0 d1
    s0=$(cpu_ticks "$SERVER_PID")
    d0=$(db_ticks)
    line=$(run_wrk "$DURATION" "$cookies")
    s1=$(cpu_ticks "$SERVER_PID")
    d1=$(db_ticks)
    local requests rps p50 p99 errors cpu dcpu
    requests=$(field requests "$line")
    rps=$(field rps "$line")
    p50=$(field p50_us "$line")
    p99=$(field p99_us "$line")
    cpu=$(ns_per_req "$((s1 - s0))" "$requests")
    dcpu=$(ns_per_req "$((d1 - d0))" "$requests")
    errors=$(($(field err_connect "$line") + $(field err_read "$line") + $(field err_write "$line") + $(field err_status "$line") + $(field err_timeout "$line")))
    local check=""
    if [[ "$scenario" == returning ]]; then
        local count
        count=$(curl -sf --max-time 5 -H "Cookie: $(head -n1 "$cookies")" "http://$ADDR/" | awk '{ print $2 }')
        check=" replayed-count=$count"
        if [[ -z "$count" || "$count" -lt 3 ]]; then
            log "returning clients: the replayed cookie did not select its session ($variant)"
            exit 1
        fi
    fi
    stop_server
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$variant" "$rps" "$p50" "$p99" "$errors" "$cpu" "$dcpu" >>"$RESULTS"
    log "    $scenario $variant: $rps req/s, p50 ${p50}us, p99 ${p99}us, server CPU ${cpu}ns/req, PostgreSQL CPU ${dcpu}ns/req, errors $errors$check"
}

start_pg
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{ print $NF }')
log "==> $ROUNDS rounds: ${VARIANTS[*]} x ${SCENARIOS[*]}, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s); PostgreSQL $PG_VERSION on port $PG_PORT; raw results in $OUT"
for ((round = 1; round <= ROUNDS; round++)); do
    log "==> round $round/$ROUNDS"
    n=${#VARIANTS[@]}
    for ((k = 0; k < n; k++)); do
        variant=${VARIANTS[$(((k + round - 1) % n))]}
        for scenario in "${SCENARIOS[@]}"; do
            throughput_run "$round" "$variant" "$scenario"
        done
    done
done
stop_pg

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

us() { awk -v x="$1" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.2f", x / 1000 }'; }
machine_facts

report() {
    echo "## Stores: PostgreSQL"
    echo
    echo "Generated by \`scripts/bench-postgres.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit$dirty."
    echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r); $(rustc --version); $(wrk -v 2>&1 | head -n1 | awk '{ print "wrk " $2 }'); PostgreSQL $PG_VERSION."
    echo "Load average (1, 5, 15 min) before the run: $LOAD_START; at its end: $LOAD_END."
    echo
    echo "The counter app (\`bench-server\`, a 2-worker tokio runtime on 127.0.0.1) on one throwaway"
    echo "PostgreSQL cluster (initdb defaults: \`fsync\` and \`synchronous_commit\` on, so every commit waits"
    echo "for its WAL flush). \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` after a ${WARMUP}s warm-up, a fresh server"
    echo "(and table) per run, $ROUNDS rounds with the variant order rotated. wrk, the server and PostgreSQL"
    echo "share the same $(nproc) cores, so only ratios within this run mean anything. *returning*: $SESSIONS"
    echo "sessions minted before the run, their cookies replayed round robin; *new*: every request makes a"
    echo "session. Values are medians over the rounds; ratios are per round, median (min–max)."
    echo
    echo "\`sesh-postgres\`: sesh-tokio's \`PostgresStore\` (tokio-postgres, a deadpool pool of 8,"
    echo "\`PostgresConfig::new(url)\` defaults: a write cache of 10,000 sessions). A returning client's"
    echo "\`Session::update\` is one prepared \`UPDATE … WHERE version = \$expected\` from the cached copy;"
    echo "a new visitor, one statement (lock the counter row its key picks, of 16; \`INSERT … ON CONFLICT\`;"
    echo "count it)."
    echo "\`tower-sessions-postgres\`: tower-sessions 0.14 with tower-sessions-sqlx-store 0.15 (sqlx, a pool"
    echo "of 8), \`get\` + \`insert\`, 30 min inactivity expiry: a \`SELECT\`, then an upsert; a new visitor,"
    echo "a transaction that checks the id is free, then the upsert."
    echo
    echo "| scenario | sesh req/s | tower-sessions req/s | sesh / tower-sessions | p50 sesh / tower-sessions (ms) | p99 sesh / tower-sessions (ms) | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local s
    for s in "${SCENARIOS[@]}"; do
        local errs
        errs=$(awk -F'\t' -v s="$s" '$2 == s { e += $7 } END { print e + 0 }' "$RESULTS")
        printf '| %s | %s | %s | %s (%s) | %s / %s | %s / %s | %s |\n' "$s" \
            "$(fmt "$(col "$s" sesh-postgres 4 | median)" 0)" "$(fmt "$(col "$s" tower-sessions-postgres 4 | median)" 0)" \
            "$(fmt "$(ratios "$s" sesh-postgres tower-sessions-postgres | median)" 2)" \
            "$(ratios "$s" sesh-postgres tower-sessions-postgres | minmax)" \
            "$(us "$(col "$s" sesh-postgres 5 | median)")" "$(us "$(col "$s" tower-sessions-postgres 5 | median)")" \
            "$(us "$(col "$s" sesh-postgres 6 | median)")" "$(us "$(col "$s" tower-sessions-postgres 6 | median)")" "$errs"
    done
    echo
    echo "CPU time per request (user + system from /proc/PID/stat), median over the rounds: the app"
    echo "server's, and PostgreSQL's (the postmaster and all its children: backends, WAL writer,"
    echo "checkpointer)."
    echo
    echo "| scenario | sesh: server / PostgreSQL µs/req | tower-sessions: server / PostgreSQL µs/req |"
    echo "|---|---:|---:|"
    for s in "${SCENARIOS[@]}"; do
        printf '| %s | %s / %s | %s / %s |\n' "$s" \
            "$(us "$(col "$s" sesh-postgres 8 | median)")" "$(us "$(col "$s" sesh-postgres 9 | median)")" \
            "$(us "$(col "$s" tower-sessions-postgres 8 | median)")" "$(us "$(col "$s" tower-sessions-postgres 9 | median)")"
    done
    echo
    echo "| target | median | worst round | |"
    echo "|---|---:|---:|---|"
    local r rmin
    r=$(ratios returning sesh-postgres tower-sessions-postgres | median)
    rmin=$(ratios returning sesh-postgres tower-sessions-postgres | sort -g | head -n1)
    printf '| returning: sesh-postgres ≥ %s × tower-sessions-postgres (req/s) | %s | %s | %s |\n' \
        "$TARGET" "$(fmt "$r" 2)" "$(fmt "$rmin" 2)" "$(verdict "$r" '>=' "$TARGET")"
    echo
    echo "<details><summary>Raw runs</summary>"
    echo
    echo "| round | scenario | variant | req/s | p50 (ms) | p99 (ms) | errors | server µs/req | PostgreSQL µs/req |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %.2f |\n", $1, $2, $3, $4, $5 / 1000, $6 / 1000, $7, $8 / 1000, $9 / 1000 }' "$RESULTS"
    echo
    echo "</details>"
}

REPORT="$OUT/report.md"
report >"$REPORT"
cat "$REPORT"

if [[ -n "$BENCH_MD" ]]; then
    write_section "$BENCH_MD" '<!-- bench:postgres:start -->' '<!-- bench:postgres:end -->' "$REPORT" '<!-- bench:stores:end -->'
fi
