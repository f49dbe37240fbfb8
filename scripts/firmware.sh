#!/usr/bin/env bash
# Builds the board binary of examples/firmware (STM32H743ZI, Ethernet, the
# login UI on picoserve) in release for thumbv7em-none-eabihf and prints its
# size (Berkeley: .text, .data, .bss) and how long the build took.
#
#   scripts/firmware.sh
#   FIRMWARE_PROFILE=footprint scripts/firmware.sh   # opt-level "z", panic abort
#
# The binary exists only for bare-metal targets; on the host it is an empty
# `main`, so host builds never compile embassy-stm32.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=thumbv7em-none-eabihf
PROFILE=${FIRMWARE_PROFILE:-release}
BIN=stm32h743

if ! command -v arm-none-eabi-size >/dev/null 2>&1; then
    echo "firmware: arm-none-eabi-size not found (apt-get install binutils-arm-none-eabi)" >&2
    exit 1
fi

started=$SECONDS
cargo build -p firmware --bin "$BIN" --target "$TARGET" --profile "$PROFILE"
elapsed=$((SECONDS - started))

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
elf="${target_dir:-target}/$TARGET/$PROFILE/$BIN"

echo
arm-none-eabi-size -B -d "$elf"
read -r text data bss _ < <(arm-none-eabi-size -B -d "$elf" | awk 'NR == 2')
echo
echo "firmware ($BIN, $TARGET, profile $PROFILE): .text ${text} B, .data ${data} B, .bss ${bss} B;" \
    "flash $((text + data)) B, static RAM $((data + bss)) B; build ${elapsed}s"
