#!/usr/bin/env bash
# Runs the firmware image for QEMU's Arm MPS2 AN386 (examples/boards/mps2-an386:
# the login UI on a Cortex-M4F with a LAN9118) in qemu-system-arm, with a host
# port forwarded to the firmware's port 80 on QEMU's user network.
#
#   scripts/qemu-firmware.sh                         # http://127.0.0.1:8080/
#   scripts/qemu-firmware.sh --port 18080 --flash /tmp/f.bin
#   scripts/qemu-firmware.sh --no-build -- --idle-timeout 5 --stats-port 18081
#
# Options:
#   --port PORT    host port forwarded to the firmware's port 80 [default: 8080]
#   --flash FILE   host file holding the emulated flash (signing key, session
#                  snapshots); the firmware creates it on first start
#                  [default: ./firmware-flash.bin]
#   --no-build     run the image built last instead of building it (release)
#   -- ARGS...     knobs for the firmware, emulator only (see the board's
#                  README): --idle-timeout SECS, --absolute-lifetime SECS,
#                  --stats-port PORT (forwarded too, same port on both sides),
#                  --crash panic|fault|stack
#
# QEMU runs until it exits (a panic or fault in the firmware exits 1) or this
# script gets SIGINT/SIGTERM/SIGHUP, which it passes on to QEMU; the script
# exits with QEMU's status. Once the firmware answers HTTP it prints
# `firmware listening on http://127.0.0.1:PORT/`. Everything QEMU prints (the
# firmware's semihosting console) passes through.
set -euo pipefail

usage() {
    # The comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
    echo "qemu-firmware: $*" >&2
    exit 2
}

port=8080
flash=./firmware-flash.bin
build=1
firmware_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port)
            [[ $# -ge 2 ]] || die "--port needs a value"
            port=$2
            shift 2
            ;;
        --port=*)
            port=${1#--port=}
            shift
            ;;
        --flash)
            [[ $# -ge 2 ]] || die "--flash needs a value"
            flash=$2
            shift 2
            ;;
        --flash=*)
            flash=${1#--flash=}
            shift
            ;;
        --no-build)
            build=0
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            firmware_args=("$@")
            break
            ;;
        *)
            die "unknown option '$1' (firmware knobs go after --; try --help)"
            ;;
    esac
done

valid_port() {
    [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535))
}
valid_port "$port" || die "--port '$port' is not a TCP port (1-65535)"

# The firmware's --stats-port, forwarded as the same port on the host.
stats_port=
for ((i = 0; i < ${#firmware_args[@]}; i++)); do
    case "${firmware_args[i]}" in
        --stats-port) stats_port=${firmware_args[i + 1]:-} ;;
        --stats-port=*) stats_port=${firmware_args[i]#--stats-port=} ;;
        --flash | --flash=*) die "pass the flash file as this script's --flash, before --" ;;
    esac
done
if [[ -n $stats_port ]]; then
    valid_port "$stats_port" || die "--stats-port '$stats_port' is not a TCP port (1-65535)"
    [[ $stats_port != "$port" ]] || die "--stats-port must differ from --port"
fi

# QEMU joins the semihosting arguments with spaces, so no value may hold
# whitespace; a comma is doubled in -semihosting-config's syntax.
[[ $flash == /* ]] || flash=$PWD/$flash
for word in "$flash" "${firmware_args[@]}"; do
    [[ $word != *[[:space:]]* ]] || die "'$word': the firmware's arguments cannot contain whitespace"
done
((${#flash} <= 255)) || die "the flash file's path is longer than 255 bytes: $flash"

command -v qemu-system-arm >/dev/null 2>&1 ||
    die "qemu-system-arm not found (apt-get install qemu-system-arm)"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
board_dir=examples/boards/mps2-an386
elf=examples/boards/target/thumbv7em-none-eabihf/release/mps2-an386
if ((build)); then
    (cd "$board_dir" && run cargo build --locked --release --bin mps2-an386)
fi
[[ -f $elf ]] || die "$elf is missing (run without --no-build)"

semihosting="enable=on,target=native,arg=mps2-an386"
for word in --flash "$flash" "${firmware_args[@]}"; do
    semihosting+=",arg=${word//,/,,}"
done
forwards="hostfwd=tcp:127.0.0.1:$port-:80"
if [[ -n $stats_port ]]; then
    forwards+=",hostfwd=tcp:127.0.0.1:$stats_port-:$stats_port"
fi

# An HTTP answer of any status means the firmware serves. The path is one no
# route matches, so that polling creates no session.
answers_http() {
    if command -v curl >/dev/null 2>&1; then
        local code
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/qemu-firmware-probe") || true
        [[ $code =~ ^[1-5][0-9][0-9]$ ]]
    else
        # QEMU's user network accepts a connection before the guest does,
        # so only a status line counts.
        local line=
        {
            exec 3<>"/dev/tcp/127.0.0.1/$port" &&
                printf 'GET /qemu-firmware-probe HTTP/1.0\r\n\r\n' >&3 &&
                read -r -t 2 line <&3
        } 2>/dev/null || true
        exec 3>&- 2>/dev/null || true
        [[ $line == HTTP/* ]]
    fi
}

qemu_pid=
watcher_pid=
relay_dir=

# Reports once the firmware answers; gives up when QEMU is gone or after 60 s.
watch_http() {
    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$qemu_pid" 2>/dev/null || return 0
        if answers_http; then
            echo "firmware listening on http://127.0.0.1:$port/"
            if [[ -n $stats_port ]]; then
                echo "firmware stats on http://127.0.0.1:$stats_port/"
            fi
            return 0
        fi
        sleep 0.1
    done
    echo "qemu-firmware: no HTTP answer on port $port after 60 s" >&2
}

forward() {
    if [[ -n $qemu_pid ]]; then
        kill -s "$1" "$qemu_pid" 2>/dev/null || true
    fi
}

cleanup() {
    if [[ -n $watcher_pid ]]; then
        kill "$watcher_pid" 2>/dev/null || true
        wait "$watcher_pid" 2>/dev/null || true
    fi
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [[ -n $relay_dir ]]; then
        rm -rf "$relay_dir"
    fi
}

trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
trap cleanup EXIT

# The user network (libslirp) runs in QEMU's main loop, which sleeps in
# ppoll() on the sockets and timeout slirp gave it. A frame the firmware
# sends reaches slirp on the vCPU thread instead (the LAN9118's TX write),
# and neither QEMU 7.2 nor libslirp 4.7 wakes the main loop then: the
# client's request waits in the forwarded socket, not polled since the
# guest's SYN-ACK connected it, and slirp's 2 ms delayed ACK waits too,
# until the main loop wakes for something else (slirp's 499 ms timer at
# worst: many requests took 0.2-0.5 s instead of ~3 ms). These redirectors
# send the firmware's frames through a local socket pair: the vCPU thread
# writes them to one end, the main loop reads the other, hands them to
# slirp itself and then polls again with slirp's new sockets and timeout.
# `slirp-in` must come first: QEMU runs a netdev's rx filters last to
# first, so a frame meets `slirp-out` (to the socket) before `slirp-in`,
# and what `slirp-in` reads back goes on to slirp.
relay_dir=$(mktemp -d "${TMPDIR:-/tmp}/qemu-firmware.XXXXXX")
relay=$relay_dir/slirp.sock
((${#relay} < 108)) || die "the socket path is too long (TMPDIR): $relay"
relay=${relay//,/,,} # QEMU's option syntax
qemu=(qemu-system-arm -machine mps2-an386 -nographic
    -semihosting-config "$semihosting"
    -nic "user,id=net0,model=lan9118,$forwards"
    -chardev "socket,id=slirp-in,path=$relay,server=on,wait=off"
    -chardev "socket,id=slirp-out,path=$relay"
    -object filter-redirector,id=slirp-rx-in,netdev=net0,queue=rx,indev=slirp-in
    -object filter-redirector,id=slirp-rx-out,netdev=net0,queue=rx,outdev=slirp-out
    -kernel "$elf")
printf '+ %s\n' "${qemu[*]}"
# stdin from /dev/null: -nographic would otherwise put the terminal in raw
# mode and hand Ctrl-C to the guest; this way Ctrl-C stops QEMU. (Not `run`:
# `$!` must be QEMU itself, for the signals.)
"${qemu[@]}" </dev/null &
qemu_pid=$!
watch_http &
watcher_pid=$!

# `wait` returns early when a trapped signal arrives: wait again until QEMU
# itself has exited.
status=0
while :; do
    wait "$qemu_pid" && status=0 || status=$?
    kill -0 "$qemu_pid" 2>/dev/null || break
done
qemu_pid=
exit "$status"
