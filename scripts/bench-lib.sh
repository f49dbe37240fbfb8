# shellcheck shell=bash
# Shell helpers of scripts/bench-firmware.sh: sourced by it, not run on its
# own. The host benchmarks no longer use them: their harness is Rust
# (benches/harness, run by scripts/bench.sh).
#
# It reads BENCH_OUT (make_out_dir) and sets OUT (make_out_dir) and cpu_model,
# commit and dirty (machine_facts).

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

# ------------------------------------------------------------- report ------

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f–%.2f", lo, hi }'; }
# fmt VALUE DIGITS: the value rounded, or "-" when there is none.
fmt() { awk -v x="$1" -v p="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%." p "f", x }'; }
# machine_facts: sets cpu_model, commit and dirty for the report.
machine_facts() {
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=""
    # BENCHMARKS.md left out: a run rewrites it section by section.
    if [[ -n "$(git status --porcelain -- . ':(exclude)BENCHMARKS.md' 2>/dev/null)" ]]; then
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
