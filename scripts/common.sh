# shellcheck shell=bash
# Helpers every script here uses: sourced by scripts/test.sh, scripts/e2e.sh
# and scripts/bench-lib.sh, not run on its own.

# Echoes a command, then runs it.
run() {
    printf '+ %s\n' "$*"
    "$@"
}

# Runs a command as root (directly, or through sudo when there is one).
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root for: $*" >&2
        return 1
    fi
}
