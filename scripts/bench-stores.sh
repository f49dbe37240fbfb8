#!/usr/bin/env bash
# Store load benchmark: the counter app of scripts/bench.sh on persistent
# stores.
#
# - Redis: `sesh-redis` (sesh-tokio's RedisStore, `RedisConfig::new(url)`
#   defaults: one multiplexed connection, a key prefix unique to the server
#   process) against `tower-sessions-redis` (tower-sessions 0.14 with
#   tower-sessions-redis-store 0.16 on fred, a pool of 1 connection), in the
#   same run, on the same redis-server. Target: sesh ≥ 1.3 × tower-sessions.
# - The floors, new visitors only: `redis-floor` and `fred-floor` keep no
#   session, each request is one `SET … NX PX` through redis-rs (as sesh) or
#   fred (as tower-sessions). `redis-floor / tower-sessions-redis` bounds what
#   any store on redis-rs can reach for new visitors in the same run.
# - redb: `sesh-redb` (sesh-tokio's RedbStore on a temporary file), alone:
#   req/s and latency for returning clients and new visitors.
#
# Run by hand (it is not part of scripts/test.sh):
#
#     bash scripts/bench-stores.sh     # ROUNDS=3 DURATION=10: about 5 minutes
#
# Everything targets 127.0.0.1 only. Every wrk run is bounded in time (-d),
# and every process this script starts (redis-server, bench-server, wrk) is
# stopped by it, also on error or Ctrl-C; the redb files and the Redis
# working directory are removed.
#
# What it does
# - Installs wrk and redis-server from Debian if missing, builds
#   `bench-server` (benches/http) in release.
# - For each of ROUNDS rounds:
#   * starts a redis-server of its own on 127.0.0.1:<free port> with no
#     persistence (`--save "" --appendonly no`), and stops it at the end of
#     the round;
#   * for each variant (sesh-redis, tower-sessions-redis, sesh-redb; the order
#     rotates every round) and each scenario (returning, new): empties Redis
#     (FLUSHALL; both Redis variants), or makes a fresh redb file (removed
#     after the run); starts a fresh server on 127.0.0.1:<free port>; warms
#     up for WARMUP seconds with the same load; runs
#     `wrk -t THREADS -c CONNECTIONS -d DURATION` with benches/http/wrk/load.lua;
#     reads req/s, p50, p99, the server's CPU time per request and, for the
#     Redis variants, redis-server's CPU time per request; checks the run
#     and stops the server.
# - Scenarios, as in scripts/bench.sh:
#   * returning: SESSIONS sessions minted with one curl process before the
#     run, their cookies replayed round robin (see load.lua). After the run a
#     replayed cookie's counter must have gone up, and the number of stored
#     sessions (DBSIZE for Redis, the store's occupancy for redb) must not
#     have changed.
#   * new: no cookie, every request creates a session.
#
# Output: a Markdown report on stdout, also written into BENCHMARKS.md between
# the markers <!-- bench:stores:start --> and <!-- bench:stores:end --> (added
# after the HTTP section, or at the end, when missing; the rest of the file is
# left alone). Progress goes to stderr. Raw results stay in $BENCH_OUT
# (default: a temporary directory, removed at exit unless KEEP=1).
#
# Settings (environment): ROUNDS=3 DURATION=10 WARMUP=2 THREADS=2
# CONNECTIONS=32 SESSIONS=1024 BENCH_MD=BENCHMARKS.md (empty: do not write
# it) VARIANTS="sesh-redis tower-sessions-redis redis-floor fred-floor sesh-redb".
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
TARGET_REDIS=1.3

read -r -a VARIANTS <<<"${VARIANTS:-sesh-redis tower-sessions-redis redis-floor fred-floor sesh-redb}"
SCENARIOS=(returning new)
LUA_LOAD="$ROOT/benches/http/wrk/load.lua"

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

is_redis() { [[ "$1" == *-redis || "$1" == *-floor ]]; }
# The floors keep no session: they only have new visitors.
is_floor() { [[ "$1" == *-floor ]]; }

# ------------------------------------------------------------ setup ------

missing_pkgs=()
command -v wrk >/dev/null 2>&1 || missing_pkgs+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing_pkgs+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing_pkgs+=(redis-tools)
if ((${#missing_pkgs[@]})); then install_packages "${missing_pkgs[@]}"; fi
require_tools curl cargo

# Before anything of ours runs: what else keeps the machine busy.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

build_bench_server
make_out_dir /tmp/sesh-bench-stores.XXXXXX
RESULTS="$OUT/results.tsv" # round scenario variant rps p50_us p99_us errors server_ns_per_req redis_ns_per_req sessions_after
COMMANDS="$OUT/commands.tsv" # round scenario variant command calls_per_req usec_per_call
: >"$RESULTS"
: >"$COMMANDS"

SERVER_PID=""
REDIS_PID=""
REDIS_PORT=""
REDIS_DIR=""
REDB_FILE=""
ADDR=""

stop_redis() {
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    if [[ -n "$REDIS_DIR" ]]; then
        rm -rf "$REDIS_DIR"
        REDIS_DIR=""
    fi
}

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    stop_redis
    if [[ -n "$REDB_FILE" ]]; then rm -f "$REDB_FILE"; fi
    if [[ -z "${BENCH_OUT:-}" && "${KEEP:-0}" != "1" ]]; then
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rcli() { redis-cli -h "$HOST" -p "$REDIS_PORT" "$@"; }

# start_redis: a redis-server of our own on a free loopback port, no
# persistence. Sets REDIS_PID, REDIS_PORT, REDIS_DIR.
start_redis() {
    REDIS_DIR=$(mktemp -d "$OUT/redis.XXXXXX")
    local attempt i port
    for ((attempt = 0; attempt < 20; attempt++)); do
        port=$((20000 + RANDOM % 40000))
        redis-server --bind "$HOST" --port "$port" --protected-mode yes \
            --save "" --appendonly no --dir "$REDIS_DIR" --daemonize no \
            >>"$OUT/redis.log" 2>&1 &
        REDIS_PID=$!
        REDIS_PORT=$port
        for ((i = 0; i < 100; i++)); do
            kill -0 "$REDIS_PID" 2>/dev/null || break # port taken: it exits
            # The answer must come from our process, not from a server that
            # already held the port.
            if [[ "$(rcli info server 2>/dev/null | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')" == "$REDIS_PID" ]]; then
                return 0
            fi
            sleep 0.05
        done
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    done
    log "could not start redis-server on a free loopback port"
    exit 1
}

# stored_sessions VARIANT: sessions in the store (Redis: DBSIZE, emptied
# before each run; redb: the store's occupancy from /stats).
stored_sessions() {
    if is_redis "$1"; then
        rcli dbsize | tr -d '\r'
    else
        curl -sf --max-time 10 "http://$ADDR/stats" | tr ' ' '\n' | awk -F= '$1 == "sessions" { print $2 }'
    fi
}

# -------------------------------------------------------- throughput ------

throughput_run() {
    local round=$1 variant=$2 scenario=$3
    local extra=()
    if is_redis "$variant"; then
        rcli flushall >/dev/null
        extra=(--redis "redis://$HOST:$REDIS_PORT/0")
    else
        REDB_FILE="$OUT/sessions.$round.$scenario.redb"
        rm -f "$REDB_FILE"
        extra=(--redb "$REDB_FILE")
    fi
    start_server "$variant" "${extra[@]}"
    local cookies=""
    if [[ "$scenario" == returning ]]; then
        cookies="$OUT/cookies.$variant"
        mint_cookies "$variant" "$cookies"
    fi
    run_wrk "$WARMUP" "$cookies" >/dev/null
    local before_sessions
    before_sessions=$(stored_sessions "$variant")
    local line s0 s1 r0=0 r1=0
    # Redis's per-command counters cover the measured run only.
    is_redis "$variant" && rcli config resetstat >/dev/null
    s0=$(cpu_ticks "$SERVER_PID")
    is_redis "$variant" && r0=$(cpu_ticks "$REDIS_PID")
    line=$(run_wrk "$DURATION" "$cookies")
    s1=$(cpu_ticks "$SERVER_PID")
    is_redis "$variant" && r1=$(cpu_ticks "$REDIS_PID")
    local requests rps p50 p99 errors cpu rcpu="-"
    requests=$(field requests "$line")
    rps=$(field rps "$line")
    p50=$(field p50_us "$line")
    p99=$(field p99_us "$line")
    cpu=$(ns_per_req "$((s1 - s0))" "$requests")
    if is_redis "$variant"; then
        rcpu=$(ns_per_req "$((r1 - r0))" "$requests")
        # cmdstat_evalsha:calls=N,usec=N,usec_per_call=X,... (commands run
        # inside a script are counted too, and their time is part of the
        # script's).
        rcli info commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$requests" \
            -v pre="$round"$'\t'"$scenario"$'\t'"$variant" '
            /^cmdstat_/ {
                cmd = substr($1, 9); calls = 0; upc = 0
                for (i = 2; i < NF; i += 2) {
                    if ($i == "calls") calls = $(i + 1)
                    if ($i == "usec_per_call") upc = $(i + 1)
                }
                if (cmd !~ /^(config|info)/ && n > 0) printf "%s\t%s\t%.3f\t%.2f\n", pre, cmd, calls / n, upc
            }' >>"$COMMANDS"
    fi
    errors=$(($(field err_connect "$line") + $(field err_read "$line") + $(field err_write "$line") + $(field err_status "$line") + $(field err_timeout "$line")))
    local sessions_after check=""
    sessions_after=$(stored_sessions "$variant")
    if [[ "$scenario" == returning ]]; then
        # A replayed cookie must have selected its session all along, and
        # the run must have created no session.
        local count
        count=$(curl -sf --max-time 5 -H "Cookie: $(head -n1 "$cookies")" "http://$ADDR/" | awk '{ print $2 }')
        check=" replayed-count=$count sessions=$before_sessions->$sessions_after"
        if [[ -z "$count" || "$count" -lt 3 ]]; then
            log "returning clients: the replayed cookie did not select its session ($variant)"
            exit 1
        fi
        if [[ "$sessions_after" != "$before_sessions" ]]; then
            log "returning clients: $variant created sessions during the run ($before_sessions -> $sessions_after)"
            exit 1
        fi
    fi
    stop_server
    if [[ -n "$REDB_FILE" ]]; then
        rm -f "$REDB_FILE"
        REDB_FILE=""
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$variant" "$rps" "$p50" "$p99" "$errors" "$cpu" "$rcpu" "$sessions_after" >>"$RESULTS"
    log "    $scenario $variant: $rps req/s, p50 ${p50}us, p99 ${p99}us, server CPU ${cpu}ns/req, redis CPU ${rcpu}ns/req, errors $errors, sessions at end $sessions_after$check"
}

# ------------------------------------------------------------- rounds ------

REDIS_VERSION=$(redis-server --version | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^v=/) { sub(/^v=/, "", $i); print $i } }')

log "==> $ROUNDS rounds: ${VARIANTS[*]} x ${SCENARIOS[*]}, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s); redis-server $REDIS_VERSION; raw results in $OUT"
for ((round = 1; round <= ROUNDS; round++)); do
    log "==> round $round/$ROUNDS"
    start_redis
    log "    redis-server $REDIS_PID on $HOST:$REDIS_PORT"
    n=${#VARIANTS[@]}
    for ((k = 0; k < n; k++)); do
        variant=${VARIANTS[$(((k + round - 1) % n))]}
        for scenario in "${SCENARIOS[@]}"; do
            if is_floor "$variant" && [[ "$scenario" != new ]]; then continue; fi
            throughput_run "$round" "$variant" "$scenario"
        done
    done
    stop_redis
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------- report ------

# median, minmax, fmt, col, ratios, verdict: scripts/bench-lib.sh
# total_ratios SCENARIO NUM DEN: (server + redis CPU) of NUM over DEN, per round
total_ratios() {
    awk -F'\t' -v s="$1" -v a="$2" -v b="$3" '
        $2 == s && $3 == a { num[$1] = $8 + $9 }
        $2 == s && $3 == b { den[$1] = $8 + $9 }
        END { for (r in num) if (den[r] > 0) printf "%.4f\n", num[r] / den[r] }' "$RESULTS"
}
us() { awk -v x="$1" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.2f", x / 1000 }'; }
ms() { awk -v x="$1" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.2f", x / 1000 }'; }
has() { [[ -n "$(col "$1" "$2" 4)" ]]; }

machine_facts
redb_fs=$(df -T "$OUT" 2>/dev/null | awk 'NR == 2 { print $2 }')

report() {
    echo "## Stores: Redis and redb"
    echo
    echo "Generated by \`scripts/bench-stores.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit$dirty."
    echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r); $(rustc --version); $(wrk -v 2>&1 | head -n1 | awk '{ print "wrk " $2 }'); redis-server $REDIS_VERSION."
    echo "Load average (1, 5, 15 min) before the run: $LOAD_START; at its end: $LOAD_END. It counts"
    echo "the benchmark's own processes too (wrk, the server, redis-server: 3 to 5 busy threads), and"
    echo "those of any benchmark that ran just before."
    echo
    echo "The counter app of the HTTP section (\`GET /\` answers \`count <n>\`, \`bench-server\` in benches/http,"
    echo "a 2-worker tokio runtime on 127.0.0.1) on persistent stores. \`wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s\` after a"
    echo "${WARMUP}s warm-up, a fresh server per run, $ROUNDS rounds with the variant order rotated. wrk, the server"
    echo "and redis-server share the same $(nproc) cores, so only ratios within this run mean anything."
    echo "*returning*: $SESSIONS sessions minted before the run, their cookies replayed round robin (the run"
    echo "must create no session); *new*: no cookie, every request makes a session. Values are medians"
    echo "over the rounds; ratios are per round, median (min–max)."
    echo
    if has returning sesh-redis && has returning tower-sessions-redis; then
        echo "### Redis"
        echo
        echo "One redis-server $REDIS_VERSION per round on a free loopback port, no persistence (\`--save \"\""
        echo "--appendonly no\`), emptied (\`FLUSHALL\`) before every run. \`sesh-redis\`: sesh-tokio's"
        echo "\`RedisStore\` with \`RedisConfig::new(url)\` defaults (one multiplexed redis-rs connection, 1 s"
        echo "timeouts, a write cache of 10,000 sessions) and a key prefix unique to the server process; one"
        echo "string value per session. \`Session<Counter>::update\`: the compare-and-swap Lua script (\`EVALSHA\`:"
        echo "\`GET\`, then \`SET … KEEPTTL\`, or \`SET … PX\` when the deadline moves) from the store's cached copy"
        echo "(a \`GET\` first when it has none, or after a conflict); \`SET … NX PX\` for a new session."
        echo "\`tower-sessions-redis\`: tower-sessions 0.14 with tower-sessions-redis-store 0.16 (fred 10,"
        echo "a pool of 1 connection, like sesh; 4 measured slightly slower), \`get\` + \`insert\`, 30 min"
        echo "inactivity expiry: \`GET\`, then \`SET … XX\`"
        echo "(\`SET … NX\` for a new session)."
        echo
        echo "| scenario | sesh-redis req/s | tower-sessions-redis req/s | sesh / tower-sessions | p50 sesh / tower-sessions (ms) | p99 sesh / tower-sessions (ms) | errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        local s
        for s in "${SCENARIOS[@]}"; do
            local rs rt r rmm errs
            rs=$(col "$s" sesh-redis 4 | median)
            rt=$(col "$s" tower-sessions-redis 4 | median)
            r=$(ratios "$s" sesh-redis tower-sessions-redis | median)
            rmm=$(ratios "$s" sesh-redis tower-sessions-redis | minmax)
            errs=$(awk -F'\t' -v s="$s" '$2 == s && $3 ~ /-redis$/ { e += $7 } END { print e + 0 }' "$RESULTS")
            printf '| %s | %s | %s | %s (%s) | %s / %s | %s / %s | %s |\n' "$s" \
                "$(fmt "$rs" 0)" "$(fmt "$rt" 0)" "$(fmt "$r" 2)" "$rmm" \
                "$(ms "$(col "$s" sesh-redis 5 | median)")" "$(ms "$(col "$s" tower-sessions-redis 5 | median)")" \
                "$(ms "$(col "$s" sesh-redis 6 | median)")" "$(ms "$(col "$s" tower-sessions-redis 6 | median)")" "$errs"
        done
        echo
        echo "CPU time per request (user + system from /proc/PID/stat), median over the rounds: the app"
        echo "server's and redis-server's. \"tower-sessions / sesh (total)\" is tower-sessions' total over sesh's, per round,"
        echo "median (min–max): the req/s ratio a CPU-bound run would show."
        echo
        echo "| scenario | sesh: server / redis µs/req | tower-sessions: server / redis µs/req | total sesh / tower-sessions µs/req | tower-sessions / sesh (total) | sessions at the end: sesh / tower-sessions |"
        echo "|---|---:|---:|---:|---:|---:|"
        for s in "${SCENARIOS[@]}"; do
            local ss sr ts tr q qmm
            ss=$(col "$s" sesh-redis 8 | median)
            sr=$(col "$s" sesh-redis 9 | median)
            ts=$(col "$s" tower-sessions-redis 8 | median)
            tr=$(col "$s" tower-sessions-redis 9 | median)
            q=$(total_ratios "$s" tower-sessions-redis sesh-redis | median)
            qmm=$(total_ratios "$s" tower-sessions-redis sesh-redis | minmax)
            printf '| %s | %s / %s | %s / %s | %s / %s | %s (%s) | %s / %s |\n' "$s" \
                "$(us "$ss")" "$(us "$sr")" "$(us "$ts")" "$(us "$tr")" \
                "$(us "$(awk -v a="$ss" -v b="$sr" 'BEGIN { print a + b }')")" \
                "$(us "$(awk -v a="$ts" -v b="$tr" 'BEGIN { print a + b }')")" \
                "$(fmt "$q" 2)" "$qmm" \
                "$(fmt "$(col "$s" sesh-redis 10 | median)" 0)" "$(fmt "$(col "$s" tower-sessions-redis 10 | median)" 0)"
        done
        echo
        echo "What Redis ran during the measured runs (\`INFO commandstats\`, reset before each): calls per"
        echo "HTTP request and Redis's own time per call (µs), median over the rounds. Commands inside a"
        echo "script (\`get\`, \`set\` under \`evalsha\`) are listed too, and their time is"
        echo "part of the script's."
        echo
        echo "| scenario | variant | command | calls / request | µs / call |"
        echo "|---|---|---|---:|---:|"
        for s in "${SCENARIOS[@]}"; do
            local v c
            for v in sesh-redis tower-sessions-redis; do
                for c in $(awk -F'\t' -v s="$s" -v v="$v" '$2 == s && $3 == v { print $4 }' "$COMMANDS" | sort -u); do
                    printf '| %s | %s | %s | %s | %s |\n' "$s" "$v" "$c" \
                        "$(fmt "$(awk -F'\t' -v s="$s" -v v="$v" -v c="$c" '$2 == s && $3 == v && $4 == c { print $5 }' "$COMMANDS" | median)" 2)" \
                        "$(fmt "$(awk -F'\t' -v s="$s" -v v="$v" -v c="$c" '$2 == s && $3 == v && $4 == c { print $6 }' "$COMMANDS" | median)" 2)"
                done
            done
        done
        echo
        if has new redis-floor && has new fred-floor; then
            echo "**The floor for new visitors.** \`redis-floor\` and \`fred-floor\` keep no session at all: each"
            echo "request sends one \`SET … NX PX\` (what both stores send for a new session) of a 40-byte value"
            echo "through one connection of redis-rs (as sesh) or of a fred pool of 1 (as tower-sessions), and"
            echo "answers with a \`Set-Cookie\` as long as sesh's. No session store on the same client can cost less"
            echo "per new visitor, so \`redis-floor / tower-sessions-redis\` bounds the new-visitor ratio any"
            echo "store on redis-rs can reach in this run."
            echo
            echo "| new visitors | req/s | server µs/req | redis µs/req | req/s over tower-sessions-redis |"
            echo "|---|---:|---:|---:|---:|"
            local v
            for v in redis-floor fred-floor sesh-redis tower-sessions-redis; do
                printf '| %s | %s | %s | %s | %s (%s) |\n' "$v" \
                    "$(fmt "$(col new "$v" 4 | median)" 0)" "$(us "$(col new "$v" 8 | median)")" "$(us "$(col new "$v" 9 | median)")" \
                    "$(fmt "$(ratios new "$v" tower-sessions-redis | median)" 2)" "$(ratios new "$v" tower-sessions-redis | minmax)"
            done
            echo
        fi
    fi
    if has returning sesh-redb; then
        echo "### redb"
        echo
        echo "\`sesh-redb\`: sesh-tokio's \`RedbStore\` on a fresh file per run in the results directory"
        echo "(${redb_fs:-unknown} file system), removed after the run. For a returning client"
        echo "\`Session::update\` is a read transaction (load), then a write transaction (compare-and-swap"
        echo "save); for a new visitor, one write transaction (create). Each write is durable when it"
        echo "returns (\`Durability::Immediate\`: the file is synced before the commit returns). Reads run on"
        echo "tokio's blocking pool; writes go to the store's writer thread, where the writes waiting share"
        echo "one transaction and one fsync (group commit, at most 64). No peer: tower-sessions has no redb store."
        echo
        echo "| scenario | req/s | req/s min–max | p50 (ms) | p99 (ms) | p99 min–max (ms) | server µs/req | errors | sessions at the end |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        local s
        for s in "${SCENARIOS[@]}"; do
            local p99mm errs
            p99mm=$(col "$s" sesh-redb 6 | awk '{ print $1 / 1000 }' | minmax)
            errs=$(awk -F'\t' -v s="$s" '$2 == s && $3 == "sesh-redb" { e += $7 } END { print e + 0 }' "$RESULTS")
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" \
                "$(fmt "$(col "$s" sesh-redb 4 | median)" 0)" \
                "$(col "$s" sesh-redb 4 | awk '{ printf "%.0f\n", $1 }' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }')" \
                "$(ms "$(col "$s" sesh-redb 5 | median)")" "$(ms "$(col "$s" sesh-redb 6 | median)")" "$p99mm" \
                "$(us "$(col "$s" sesh-redb 8 | median)")" "$errs" "$(fmt "$(col "$s" sesh-redb 10 | median)" 0)"
        done
        echo
    fi
    if has returning sesh-redis && has returning tower-sessions-redis; then
        echo "| target | median | worst round | |"
        echo "|---|---:|---:|---|"
        local s
        for s in "${SCENARIOS[@]}"; do
            local r rmin
            r=$(ratios "$s" sesh-redis tower-sessions-redis | median)
            rmin=$(ratios "$s" sesh-redis tower-sessions-redis | sort -g | head -n1)
            local bound=""
            if [[ "$s" == new ]] && has new redis-floor; then
                bound=" (bound: redis-floor at $(fmt "$(ratios new redis-floor tower-sessions-redis | median)" 2))"
            fi
            printf '| %s: sesh-redis ≥ %s × tower-sessions-redis (req/s) | %s | %s | %s%s |\n' \
                "$s" "$TARGET_REDIS" "$(fmt "$r" 2)" "$(fmt "$rmin" 2)" "$(verdict "$r" '>=' "$TARGET_REDIS")" "$bound"
        done
        echo
    fi
    echo "<details><summary>Raw runs</summary>"
    echo
    echo "| round | scenario | variant | req/s | p50 (ms) | p99 (ms) | errors | server µs/req | redis µs/req | sessions at the end |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %.2f | %.2f | %s | %.2f | %s | %s |\n", $1, $2, $3, $4, $5 / 1000, $6 / 1000, $7, $8 / 1000, ($9 == "-" ? "-" : sprintf("%.2f", $9 / 1000)), $10 }' "$RESULTS"
    echo
    echo "</details>"
}

REPORT="$OUT/report.md"
report >"$REPORT"
cat "$REPORT"

if [[ -n "$BENCH_MD" ]]; then
    write_section "$BENCH_MD" '<!-- bench:stores:start -->' '<!-- bench:stores:end -->' "$REPORT" '<!-- bench:http:end -->'
fi
