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

# Makes sure SESH_ADMIN_PASSWORD_HASH holds the PBKDF2 hash the NUCLEO image
# needs at build time: exits when it is missing; `random` is replaced by the
# hash of a random password nobody keeps (for CI and size builds).
need_admin_password_hash() {
    case "${SESH_ADMIN_PASSWORD_HASH:-}" in
        "")
            echo "the NUCLEO-H743ZI image needs SESH_ADMIN_PASSWORD_HASH at build time:" >&2
            echo "  export SESH_ADMIN_PASSWORD_HASH=\"\$(cargo run -q -p firmware --features host-server --bin firmware-host -- --hash-password)\"" >&2
            echo "(or SESH_ADMIN_PASSWORD_HASH=random for a build nobody logs in to)" >&2
            exit 1
            ;;
        random)
            SESH_ADMIN_PASSWORD_HASH=$(head -c 18 /dev/urandom | base64 |
                cargo run -q -p firmware --features host-server --bin firmware-host -- --hash-password)
            export SESH_ADMIN_PASSWORD_HASH
            ;;
    esac
}
