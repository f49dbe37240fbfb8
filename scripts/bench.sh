#!/usr/bin/env bash
# HTTP load benchmark: the counter app on sesh-tokio against the same axum app
# with no sessions (`bare`) and on tower-sessions 0.15 with its MemoryStore.
# Run by hand (it is not part of scripts/test.sh):
#
#     bash scripts/bench.sh            # ROUNDS=3 DURATION=10: about 5 to 8 minutes
#
# The same app on Redis and redb: scripts/bench-stores.sh.
# The harness both share (servers, wrk, /proc, report helpers): scripts/bench-lib.sh.
#
# Everything targets 127.0.0.1 only. Every wrk run is bounded in time (-d),
# the memory runs also in count, and every server this script starts is
# stopped by it (also on error or Ctrl-C).
#
# What it does
# - Installs wrk from Debian if missing, builds `bench-server`
#   (benches/http) in release.
# - For each of ROUNDS rounds, for each variant (the order rotates every round
#   so no variant always runs first), and for each scenario, starts a fresh
#   server on 127.0.0.1:<free port> (the server binds port 0 and writes the
#   address it got to a file), warms up for WARMUP seconds with the same load,
#   runs `wrk -t THREADS -c CONNECTIONS -d DURATION`, reads req/s and p99,
#   checks the run and stops the server. Servers run a 2-worker tokio runtime
#   on this 2-core machine, sharing it with wrk: only ratios measured in the
#   same run mean anything.
# - Scenarios:
#   * returning: returning clients. Before the run, SESSIONS sessions are
#     minted with one curl process (SESSIONS cookie-less GET /, each
#     response's Set-Cookie kept). wrk's Lua script (benches/http/wrk/load.lua)
#     gives thread t the cookies t, t+T, t+2T, ... and replays them round
#     robin, one per request. Why not capture Set-Cookie inside wrk: wrk runs
#     all connections of a thread in one Lua state and its response() callback
#     does not say which connection (hence which session) answered, while sesh
#     sends Set-Cookie only when the cookie changes. Capturing would then
#     either need -c equal to -t (too few connections to load the server) or
#     would collapse every connection of a thread onto one session, which
#     would measure lock contention on one session instead of returning
#     clients. With pre-minted cookies every request carries a valid cookie of
#     a live session from the first request on, for every variant alike; with
#     SESSIONS (1024) much larger than CONNECTIONS (32), two in-flight requests
#     of one session are rare. `bare` gets random cookies of sesh's shape, so
#     its requests have the same size. After the run the script checks that a
#     replayed cookie's counter went up and, for sesh, that no session was
#     created by the run.
#   * new: new visitors, no cookie: every request creates a session (for
#     `bare` it is the same request). Sessions accumulate during the run:
#     sesh's default MemoryStore holds at most 100,000 and then evicts (its
#     bounded memory is a feature); tower-sessions' grows without bound.
# - Memory per session, in every round, for sesh and tower-sessions: a fresh
#   server (sesh with MEM_CAPACITY so nothing is evicted) is warmed up on
#   /health (no session), VmRSS is read from /proc/PID/status, MEM_SESSIONS
#   new visitors are sent (benches/http/wrk/bounded.lua stops each wrk thread
#   after its share of responses; the script interrupts wrk once the server
#   counted them, -d bounds it in time), and VmRSS is read again. Growth
#   divided by the sessions stored: sesh's store occupancy, and for
#   tower-sessions the handler calls (each cookie-less call creates one).
#
# - After the rounds, `layer-cost` (benches/http) measures the same apps in
#   process, without sockets: the CPU time each session layer adds per
#   request, which the shared machine disturbs far less than req/s.
#
# Output: a Markdown report on stdout, also written into BENCHMARKS.md between
# the markers <!-- bench:http:start --> and <!-- bench:http:end --> (the
# rest of the file is left alone; the file is created if missing). Progress
# goes to stderr. Raw results stay in $BENCH_OUT (default: a temporary
# directory, removed at exit unless KEEP=1).
#
# Settings (environment): ROUNDS=3 DURATION=10 WARMUP=2 THREADS=2
# CONNECTIONS=32 SESSIONS=1024 MEM_SESSIONS=100000 MEM_CAPACITY=1000000
# MEM_CONNECTIONS=8 LAYER_REQUESTS=200000 BENCH_MD=BENCHMARKS.md (empty: do
# not write it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SESSIONS=${SESSIONS:-1024}
MEM_SESSIONS=${MEM_SESSIONS:-100000}
MEM_CAPACITY=${MEM_CAPACITY:-1000000}
MEM_CONNECTIONS=${MEM_CONNECTIONS:-8}
BENCH_MD=${BENCH_MD-BENCHMARKS.md}
LAYER_REQUESTS=${LAYER_REQUESTS:-200000}
HOST=127.0.0.1

VARIANTS=(bare sesh tower-sessions)
SCENARIOS=(returning new)
LUA_LOAD="$ROOT/benches/http/wrk/load.lua"
LUA_BOUNDED="$ROOT/benches/http/wrk/bounded.lua"

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

# ------------------------------------------------------------ setup ------

command -v wrk >/dev/null 2>&1 || install_packages wrk
require_tools curl cargo

# Before anything of ours runs: what else keeps the machine busy.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

build_bench_server
make_out_dir /tmp/sesh-bench.XXXXXX
RESULTS="$OUT/results.tsv" # round scenario variant rps p50_us p99_us errors cpu_ns_per_req sessions_after
MEMORY="$OUT/memory.tsv"   # round variant sessions rss_before_kb rss_after_kb bytes_per_session
: >"$RESULTS"
: >"$MEMORY"

SERVER_PID=""
WRK_PID=""
ADDR=""

cleanup() {
    if [[ -n "$WRK_PID" ]]; then kill "$WRK_PID" 2>/dev/null || true; fi
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -z "${BENCH_OUT:-}" && "${KEEP:-0}" != "1" ]]; then
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"
}

# stats FIELD: reads calls= or sessions= from the server's /stats.
stats() {
    curl -sf --max-time 5 "http://$ADDR/stats" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# fake_cookies FILE: SESSIONS random cookies of sesh's shape, for `bare`.
fake_cookies() {
    local i
    for ((i = 0; i < SESSIONS; i++)); do
        printf 'sid=%s.%s\n' \
            "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" \
            "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done >"$1"
}

# -------------------------------------------------------- throughput ------

throughput_run() {
    local round=$1 variant=$2 scenario=$3
    start_server "$variant"
    local cookies=""
    if [[ "$scenario" == returning ]]; then
        cookies="$OUT/cookies.$variant"
        if [[ "$variant" == bare ]]; then
            fake_cookies "$cookies"
        else
            mint_cookies "$variant" "$cookies"
        fi
    fi
    run_wrk "$WARMUP" "$cookies" >/dev/null
    local before_sessions=""
    [[ "$variant" == sesh ]] && before_sessions=$(stats sessions)
    local line t0 t1
    t0=$(cpu_ticks "$SERVER_PID")
    line=$(run_wrk "$DURATION" "$cookies")
    t1=$(cpu_ticks "$SERVER_PID")
    local rps p50 p99 errors cpu
    rps=$(field rps "$line")
    # Server CPU (user + system) per request: less sensitive than req/s to
    # what else runs on the machine.
    cpu=$(ns_per_req "$((t1 - t0))" "$(field requests "$line")")
    p50=$(field p50_us "$line")
    p99=$(field p99_us "$line")
    errors=$(($(field err_connect "$line") + $(field err_read "$line") + $(field err_write "$line") + $(field err_status "$line") + $(field err_timeout "$line")))
    local check="" sessions_after="-"
    if [[ "$variant" == sesh ]]; then
        sessions_after=$(stats sessions)
    elif [[ "$variant" == tower-sessions && "$scenario" == new ]]; then
        sessions_after=$(stats calls) # one session per cookie-less call
    fi
    if [[ "$scenario" == returning && "$variant" != bare ]]; then
        # A replayed cookie must have selected its session all along.
        local count
        count=$(curl -sf --max-time 5 -H "Cookie: $(head -n1 "$cookies")" "http://$ADDR/" | awk '{ print $2 }')
        check=" replayed-count=$count"
        if [[ -z "$count" || "$count" -lt 3 ]]; then
            log "returning clients: the replayed cookie did not select its session ($variant)"
            exit 1
        fi
        if [[ "$variant" == sesh ]]; then
            check+=" sessions=$before_sessions->$sessions_after"
            if [[ "$sessions_after" != "$before_sessions" ]]; then
                log "returning clients: sesh created sessions during the run"
                exit 1
            fi
        fi
    fi
    stop_server
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$variant" "$rps" "$p50" "$p99" "$errors" "$cpu" "$sessions_after" >>"$RESULTS"
    log "    $scenario $variant: $rps req/s, p50 ${p50}us, p99 ${p99}us, server CPU ${cpu}ns/req, errors $errors, sessions at end $sessions_after$check"
}

# ------------------------------------------------------------ memory ------

memory_run() {
    local round=$1 variant=$2
    local extra=()
    [[ "$variant" == sesh ]] && extra=(--max-sessions "$MEM_CAPACITY")
    start_server "$variant" "${extra[@]}"
    # Warm up without sessions: runtime threads, connection buffers, allocator.
    wrk -t"$THREADS" -c"$MEM_CONNECTIONS" -d1s "http://$ADDR/health" >/dev/null
    sleep 0.5
    local before
    before=$(rss_kb)
    local per_thread=$(((MEM_SESSIONS + THREADS - 1) / THREADS))
    wrk -t"$THREADS" -c"$MEM_CONNECTIONS" -d120s --timeout 5s -s "$LUA_BOUNDED" "http://$ADDR/" -- "$per_thread" \
        >"$OUT/wrk-mem.out" 2>&1 &
    WRK_PID=$!
    local calls=0 last=-1 i
    # Each thread stops itself at its quota; wrk then still waits for -d, so
    # interrupt it once the count stops moving (at most 120 s).
    for ((i = 0; i < 600; i++)); do
        sleep 0.2
        calls=$(stats calls)
        if [[ "$calls" -ge "$MEM_SESSIONS" && "$calls" == "$last" ]]; then break; fi
        kill -0 "$WRK_PID" 2>/dev/null || break
        last=$calls
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=""
    sleep 0.5
    local after sessions
    after=$(rss_kb)
    calls=$(stats calls)
    if [[ "$variant" == sesh ]]; then
        sessions=$(stats sessions)
    else
        sessions=$calls
    fi
    stop_server
    local per
    per=$(awk -v a="$after" -v b="$before" -v n="$sessions" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$sessions" "$before" "$after" "$per" >>"$MEMORY"
    log "    memory $variant: $sessions sessions (handler calls $calls), VmRSS $before -> $after kB: $per B/session"
}

# ------------------------------------------------------------- rounds ------

log "==> $ROUNDS rounds: ${VARIANTS[*]} x ${SCENARIOS[*]}, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s); raw results in $OUT"
for ((round = 1; round <= ROUNDS; round++)); do
    log "==> round $round/$ROUNDS"
    n=${#VARIANTS[@]}
    for ((k = 0; k < n; k++)); do
        variant=${VARIANTS[$(((k + round - 1) % n))]}
        for scenario in "${SCENARIOS[@]}"; do
            throughput_run "$round" "$variant" "$scenario"
        done
    done
    if ((round % 2)); then order=(sesh tower-sessions); else order=(tower-sessions sesh); fi
    for variant in "${order[@]}"; do
        memory_run "$round" "$variant"
    done
done

# The session layers' own cost, in process (no sockets, no wrk).
log "==> in-process cost per request (layer-cost, $ROUNDS rounds of $LAYER_REQUESTS requests)"
cargo build --release -p sesh-bench-http --bin layer-cost >&2
"$(dirname "$SERVER_BIN")/layer-cost" "$ROUNDS" "$LAYER_REQUESTS" >"$OUT/layer-cost.md"

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------- report ------

# median, minmax, fmt, col, ratios, verdict: scripts/bench-lib.sh
mem_ratios() {
    awk -F'\t' '
        $2 == "sesh" { s[$1] = $6 }
        $2 == "tower-sessions" { t[$1] = $6 }
        END { for (r in s) if (t[r] > 0) printf "%.4f\n", s[r] / t[r] }' "$MEMORY"
}

machine_facts

report() {
    echo "## HTTP load (sesh-tokio vs axum and tower-sessions)"
    echo
    echo "Generated by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit$dirty."
    echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r); $(rustc --version); $(wrk -v 2>&1 | head -n1 | awk '{ print "wrk " $2 }')."
    echo "Load average (1, 5, 15 min) before the run: $LOAD_START; at its end: $LOAD_END. The benchmark"
    echo "itself keeps 2 to 4 threads busy; anything else running shares the same cores and makes req/s"
    echo "noisy (then trust the CPU table more)."
    echo
    echo "The counter app (\`GET /\` answers \`count <n>\`) served by \`bench-server\` (benches/http) on"
    echo "127.0.0.1 with a 2-worker tokio runtime, in three variants: \`bare\` (axum, no sessions),"
    echo "\`sesh\` (sesh-tokio, \`MemoryStore::default()\`, \`Session<Counter>::update\`) and"
    echo "\`tower-sessions\` (0.15, its \`MemoryStore\`, \`get\` + \`insert\`, 30 min inactivity expiry)."
    echo "Load: \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` after a ${WARMUP}s warm-up, a fresh server per run,"
    echo "$ROUNDS rounds with the variant order rotated; wrk and the server share the same $(nproc) cores, so"
    echo "only the ratios within this run mean anything. *returning*: $SESSIONS sessions minted before"
    echo "the run, their cookies replayed round robin; *new*: no cookie, every request makes a session."
    echo "Values are medians over the rounds; ratios are per round, median (min–max)."
    echo
    echo "| scenario | bare req/s | sesh req/s | tower-sessions req/s | sesh / bare | sesh / tower-sessions | p99 bare / sesh / tower-sessions (ms) | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    local s
    for s in "${SCENARIOS[@]}"; do
        local rb rs rt r1 r2 r1mm r2mm pb ps pt errs
        rb=$(col "$s" bare 4 | median)
        rs=$(col "$s" sesh 4 | median)
        rt=$(col "$s" tower-sessions 4 | median)
        r1=$(ratios "$s" sesh bare | median)
        r1mm=$(ratios "$s" sesh bare | minmax)
        r2=$(ratios "$s" sesh tower-sessions | median)
        r2mm=$(ratios "$s" sesh tower-sessions | minmax)
        pb=$(col "$s" bare 6 | median)
        ps=$(col "$s" sesh 6 | median)
        pt=$(col "$s" tower-sessions 6 | median)
        errs=$(awk -F'\t' -v s="$s" '$2 == s { e += $7 } END { print e + 0 }' "$RESULTS")
        printf '| %s | %s | %s | %s | %s (%s) | %s (%s) | %s / %s / %s | %s |\n' \
            "$s" "$(fmt "$rb" 0)" "$(fmt "$rs" 0)" "$(fmt "$rt" 0)" \
            "$(fmt "$r1" 2)" "$r1mm" "$(fmt "$r2" 2)" "$r2mm" \
            "$(fmt "$(awk -v x="$pb" 'BEGIN { print x / 1000 }')" 2)" \
            "$(fmt "$(awk -v x="$ps" 'BEGIN { print x / 1000 }')" 2)" \
            "$(fmt "$(awk -v x="$pt" 'BEGIN { print x / 1000 }')" 2)" "$errs"
    done
    echo
    echo "Server CPU time (user + system, from /proc/PID/stat) per request, median over the rounds;"
    echo "it depends much less than req/s on what else runs on the machine. The ratio is bare's cost"
    echo "over sesh's (the req/s ratio a server-bound run would show), per round, median (min–max)."
    echo
    echo "| scenario | bare µs/req | sesh µs/req | tower-sessions µs/req | bare / sesh | tower-sessions / sesh | sessions at the end: sesh / tower-sessions |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for s in "${SCENARIOS[@]}"; do
        local cb cs ct q1 q1mm q2 q2mm es et
        cb=$(col "$s" bare 8 | median)
        cs=$(col "$s" sesh 8 | median)
        ct=$(col "$s" tower-sessions 8 | median)
        q1=$(ratios "$s" bare sesh 8 | median)
        q1mm=$(ratios "$s" bare sesh 8 | minmax)
        q2=$(ratios "$s" tower-sessions sesh 8 | median)
        q2mm=$(ratios "$s" tower-sessions sesh 8 | minmax)
        es=$(col "$s" sesh 9 | median)
        et=$(col "$s" tower-sessions 9 | grep -v '^-$' | median || true)
        [[ "$et" == nan ]] && et="-"
        printf '| %s | %s | %s | %s | %s (%s) | %s (%s) | %s / %s |\n' "$s" \
            "$(awk -v x="$cb" 'BEGIN { printf "%.2f", x / 1000 }')" \
            "$(awk -v x="$cs" 'BEGIN { printf "%.2f", x / 1000 }')" \
            "$(awk -v x="$ct" 'BEGIN { printf "%.2f", x / 1000 }')" \
            "$(fmt "$q1" 2)" "$q1mm" "$(fmt "$q2" 2)" "$q2mm" "$(fmt "$es" 0)" "$et"
    done
    echo
    if [[ "$(col new sesh 9 | median)" != nan ]]; then
        echo "In *new*, sesh's default \`MemoryStore\` (100,000 sessions) fills up during the run and"
        echo "then evicts on every new session; tower-sessions' store grows without bound."
        echo
    fi
    local ms mt mr mrmm ns nt
    ms=$(awk -F'\t' '$2 == "sesh" { print $6 }' "$MEMORY" | median)
    mt=$(awk -F'\t' '$2 == "tower-sessions" { print $6 }' "$MEMORY" | median)
    ns=$(awk -F'\t' '$2 == "sesh" { print $3 }' "$MEMORY" | median)
    nt=$(awk -F'\t' '$2 == "tower-sessions" { print $3 }' "$MEMORY" | median)
    mr=$(mem_ratios | median)
    mrmm=$(mem_ratios | minmax)
    echo "Memory per stored session: VmRSS growth of a fresh server over $MEM_SESSIONS new visitors,"
    echo "divided by the sessions stored (sesh: store occupancy, \`MemoryStore::new($MEM_CAPACITY)\` so"
    echo "nothing is evicted; tower-sessions: handler calls), median over $ROUNDS rounds."
    echo
    echo "| | sesh | tower-sessions | sesh / tower-sessions |"
    echo "|---|---:|---:|---:|"
    printf '| bytes per session | %s | %s | %s (%s) |\n' "$(fmt "$ms" 0)" "$(fmt "$mt" 0)" "$(fmt "$mr" 2)" "$mrmm"
    printf '| sessions stored | %s | %s | |\n' "$(fmt "$ns" 0)" "$(fmt "$nt" 0)"
    echo
    local ret1 ret1min ret2 ret2min
    ret1=$(ratios returning sesh bare | median)
    ret1min=$(ratios returning sesh bare | sort -g | head -n1)
    ret2=$(ratios returning sesh tower-sessions | median)
    ret2min=$(ratios returning sesh tower-sessions | sort -g | head -n1)
    local mrmax
    mrmax=$(mem_ratios | sort -g | tail -n1)
    echo "The session layers' own cost: \`layer-cost\` (benches/http) sends the same requests to the"
    echo "same three apps in process, through \`tower::ServiceExt::oneshot\` on one thread: no socket,"
    echo "no HTTP parsing, no wrk. Time is the thread's CPU time; $ROUNDS rounds of $LAYER_REQUESTS requests,"
    echo "median (min–max) of the per-round values. *added* is the variant's cost minus bare's."
    echo
    cat "$OUT/layer-cost.md"
    echo
    local bare_over_tower
    bare_over_tower=$(ratios returning bare tower-sessions | median)
    echo "| target | median | worst round | |"
    echo "|---|---:|---:|---|"
    printf '| returning: sesh ≥ 0.90 × bare | %s | %s | %s |\n' "$(fmt "$ret1" 2)" "$(fmt "$ret1min" 2)" "$(verdict "$ret1" '>=' 0.90)"
    printf '| returning: sesh ≥ 1.5 × tower-sessions | %s | %s | %s |\n' "$(fmt "$ret2" 2)" "$(fmt "$ret2min" 2)" "$(verdict "$ret2" '>=' 1.5)"
    printf '| bound on the above: bare / tower-sessions (no session layer can beat bare) | %s | | |\n' "$(fmt "$bare_over_tower" 2)"
    printf '| memory per session: sesh ≤ 0.25 × tower-sessions | %s | %s | %s |\n' "$(fmt "$mr" 2)" "$(fmt "$mrmax" 2)" "$(verdict "$mr" '<=' 0.25)"
    echo
    echo "<details><summary>Raw runs</summary>"
    echo
    echo "| round | scenario | variant | req/s | p50 (ms) | p99 (ms) | errors | server µs/req | sessions at the end |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %s |\n", $1, $2, $3, $4, $5 / 1000, $6 / 1000, $7, $8 / 1000, $9 }' "$RESULTS"
    echo
    echo "| round | variant | sessions | VmRSS before (kB) | after (kB) | bytes/session |"
    echo "|---:|---|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$MEMORY"
    echo
    echo "</details>"
}

REPORT="$OUT/report.md"
report >"$REPORT"
cat "$REPORT"

if [[ -n "$BENCH_MD" ]]; then
    write_section "$BENCH_MD" '<!-- bench:http:start -->' '<!-- bench:http:end -->' "$REPORT"
fi
