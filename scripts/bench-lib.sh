# shellcheck shell=bash
# Shell helpers of scripts/bench-firmware.sh: sourced by it, not run on its
# own. Its statistics and report are the harness's (benches/harness, Rust).

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
