#!/usr/bin/env bash
# Builds the NUCLEO-H743ZI board image (examples/boards/nucleo-h743zi: the
# login UI on picoserve, STM32H743ZI Ethernet) in release and prints its size
# (Berkeley: .text, .data, .bss) and how long the build took.
#
#   scripts/firmware.sh
#   FIRMWARE_PROFILE=footprint scripts/firmware.sh   # opt-level "z", panic abort
#   FIRMWARE_BOARD=mps2-an386 scripts/firmware.sh    # another board crate
#
# The NUCLEO image needs its admin password's hash at build time,
# SESH_ADMIN_PASSWORD_HASH (from `firmware-host --hash-password`); the value
# `random` makes one from a random password that nobody keeps, for builds
# that only measure or check the image (CI).
#
# Each board crate picks its target in its own .cargo/config.toml, so the
# build runs from the board's folder.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROFILE=${FIRMWARE_PROFILE:-release}
BOARD=${FIRMWARE_BOARD:-nucleo-h743zi}
BOARD_DIR=examples/boards/$BOARD

if ! command -v arm-none-eabi-size >/dev/null 2>&1; then
    echo "firmware: arm-none-eabi-size not found (apt-get install binutils-arm-none-eabi)" >&2
    exit 1
fi

if [[ $BOARD == nucleo-h743zi ]]; then
    # shellcheck source=scripts/common.sh
    source scripts/common.sh
    need_admin_password_hash
fi

started=$SECONDS
(cd "$BOARD_DIR" && cargo build --locked --bin "$BOARD" --profile "$PROFILE")
elapsed=$((SECONDS - started))

target=$(sed -n 's/^target = "\(.*\)"/\1/p' "$BOARD_DIR/.cargo/config.toml")
elf="examples/boards/target/$target/$PROFILE/$BOARD"

echo
arm-none-eabi-size -B -d "$elf"
read -r text data bss _ < <(arm-none-eabi-size -B -d "$elf" | awk 'NR == 2')
echo
echo "firmware ($BOARD, $target, profile $PROFILE): .text ${text} B, .data ${data} B, .bss ${bss} B;" \
    "flash $((text + data)) B, static RAM $((data + bss)) B; build ${elapsed}s"

# The session table is built at boot into a StaticCell: zero-initialised, so
# in .bss. A `static` made by a const fn would sit in .data (its size twice:
# in flash and in RAM).
symbols=$(arm-none-eabi-nm -C "$elf")
if ! grep -qE '^[0-9a-f]+ [bB] .*::SESSIONS$' <<<"$symbols"; then
    echo "firmware ($BOARD): no session table (SESSIONS) in .bss" >&2
    exit 1
fi

