# shellcheck shell=bash
# The harness shared by scripts/bench.sh and scripts/bench-stores.sh: sourced
# by them, not run on its own.
#
# It reads the caller's settings and paths: ROOT, HOST, THREADS, CONNECTIONS,
# SESSIONS, LUA_LOAD, OUT, SERVER_BIN, RESULTS, BENCH_OUT. It sets
# SERVER_PID and ADDR (start_server), SERVER_BIN (build_bench_server), OUT
# (make_out_dir), and cpu_model, commit and dirty (machine_facts).

log() { printf '%s\n' "$*" >&2; }

# as_root
# shellcheck source=scripts/common.sh
source "$ROOT/scripts/common.sh"

# install_packages PACKAGE...: from Debian.
install_packages() {
    log "==> installing $*"
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}

# require_tools COMMAND...: exits when one is not on PATH.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { log "missing: $tool"; exit 1; }
    done
}

build_bench_server() {
    log "==> building bench-server (release)"
    cargo build --release -p sesh-bench-http --bin bench-server >&2
    SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/bench-server"
}

# make_out_dir TEMPLATE: OUT is $BENCH_OUT when set, else a new
# `mktemp -d TEMPLATE`.
make_out_dir() {
    if [[ -n "${BENCH_OUT:-}" ]]; then
        OUT=$BENCH_OUT
        mkdir -p "$OUT"
    else
        OUT=$(mktemp -d "$1")
    fi
}

# start_server VARIANT [ARGS...]: sets SERVER_PID and ADDR.
start_server() {
    local variant=$1
    shift
    local addr_file="$OUT/addr"
    rm -f "$addr_file"
    "$SERVER_BIN" "$variant" --addr "$HOST:0" --addr-file "$addr_file" "$@" \
        >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [[ -s "$addr_file" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { log "bench-server $variant died (see $OUT/server.log)"; exit 1; }
        sleep 0.05
    done
    ADDR=$(head -n1 "$addr_file")
    [[ "$ADDR" == "$HOST":* ]] || { log "bench-server $variant gave no loopback address"; exit 1; }
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: user + system time so far, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

ns_per_req() { # ns_per_req TICKS REQUESTS
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.0f", (n > 0 ? t / hz * 1e9 / n : 0) }'
}

# mint_cookies VARIANT FILE: SESSIONS cookies from the server, one
# name=value per line.
mint_cookies() {
    local variant=$1 file=$2
    local cfg="$OUT/curl.cfg"
    local i
    for ((i = 0; i < SESSIONS; i++)); do
        printf 'url = "http://%s/"\n' "$ADDR"
    done >"$cfg"
    curl -s --max-time 120 -o /dev/null -D - -K "$cfg" |
        awk 'tolower($1) == "set-cookie:" { sub(/^[^:]*:[ \t]*/, ""); sub(/;.*/, ""); sub(/\r$/, ""); print }' \
            >"$file"
    local distinct
    distinct=$(sort -u "$file" | wc -l)
    if [[ "$distinct" -ne "$SESSIONS" ]]; then
        log "minted $distinct distinct cookies for $variant, wanted $SESSIONS"
        exit 1
    fi
}

# run_wrk SECONDS [COOKIE_FILE]: prints wrk's RESULT line.
run_wrk() {
    local secs=$1 cookies=${2:-}
    COOKIE_FILE="$cookies" WRK_THREADS="$THREADS" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s -s "$LUA_LOAD" "http://$ADDR/" |
        grep '^RESULT'
}

field() { # field NAME LINE
    tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# ------------------------------------------------------------- report ------

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f–%.2f", lo, hi }'; }
# fmt VALUE DIGITS: the value rounded, or "-" when there is none.
fmt() { awk -v x="$1" -v p="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%." p "f", x }'; }
col() { # col SCENARIO VARIANT COLUMN
    awk -F'\t' -v s="$1" -v v="$2" -v c="$3" '$2 == s && $3 == v { print $c }' "$RESULTS"
}
# ratios SCENARIO NUM DEN [COLUMN]: one ratio per round (default column: req/s)
ratios() {
    awk -F'\t' -v s="$1" -v a="$2" -v b="$3" -v c="${4:-4}" '
        $2 == s && $3 == a { num[$1] = $c }
        $2 == s && $3 == b { den[$1] = $c }
        END { for (r in num) if (den[r] > 0) printf "%.4f\n", num[r] / den[r] }' "$RESULTS"
}
verdict() { # verdict VALUE OP TARGET
    awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? (x >= t) : (x <= t); print ok ? "met" : "**missed**" }'
}

# machine_facts: sets cpu_model, commit and dirty for the report.
machine_facts() {
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=""
    if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
        dirty=" (work tree with uncommitted changes)"
    fi
}

# write_section FILE START END REPORT [AFTER]: puts REPORT between the marker
# lines START and END of FILE, replacing what was there. Missing markers are
# added after the line AFTER when given and present, else at the end; a
# missing FILE is created.
write_section() {
    local file=$1 start=$2 end=$3 report=$4 after=${5:-}
    [[ -f "$file" ]] || printf '# Benchmarks\n' >"$file"
    if grep -qF "$start" "$file" && grep -qF "$end" "$file"; then
        awk -v start="$start" -v end="$end" -v report="$report" '
            $0 == start { print; while ((getline line < report) > 0) print line; skip = 1; next }
            $0 == end { skip = 0 }
            !skip { print }' "$file" >"$file.tmp"
    elif [[ -n "$after" ]] && grep -qxF "$after" "$file"; then
        awk -v after="$after" -v start="$start" -v end="$end" -v report="$report" '
            { print }
            $0 == after && !done {
                printf "\n%s\n", start
                while ((getline line < report) > 0) print line
                print end
                done = 1
            }' "$file" >"$file.tmp"
    else
        { cat "$file"; printf '\n%s\n' "$start"; cat "$report"; printf '%s\n' "$end"; } >"$file.tmp"
    fi
    mv "$file.tmp" "$file"
    log "==> wrote the section into $file"
}
