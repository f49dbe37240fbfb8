#!/usr/bin/env bash
# Builds the NUCLEO-H743ZI board image (examples/boards/nucleo-h743zi: the
# login UI on picoserve, STM32H743ZI Ethernet) in release and prints its size
# (Berkeley: .text, .data, .bss) and how long the build took.
#
#   scripts/firmware.sh
#   FIRMWARE_PROFILE=footprint scripts/firmware.sh   # opt-level "z", panic abort
#   FIRMWARE_BOARD=mps2-an386 scripts/firmware.sh    # another board crate
#   FIRMWARE_BOARD=esp32c3 / pico2w                  # the Wi-Fi boards
#
# Sizes come from arm-none-eabi-size for the Arm boards and from
# riscv64-unknown-elf-size (Debian's binutils-riscv64-unknown-elf; llvm-size
# also works) for the ESP32-C3.
#
# The NUCLEO and Wi-Fi images need their admin password's hash at build time,
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

target=$(sed -n 's/^target = "\(.*\)"/\1/p' "$BOARD_DIR/.cargo/config.toml")
case $target in
    riscv32*)
        if command -v riscv64-unknown-elf-size >/dev/null 2>&1; then
            SIZE=riscv64-unknown-elf-size NM=riscv64-unknown-elf-nm
        elif command -v llvm-size >/dev/null 2>&1 && command -v llvm-nm >/dev/null 2>&1; then
            SIZE=llvm-size NM=llvm-nm
        else
            echo "firmware: no RISC-V size tool (apt-get install binutils-riscv64-unknown-elf)" >&2
            exit 1
        fi
        ;;
    *) SIZE=arm-none-eabi-size NM=arm-none-eabi-nm ;;
esac
if ! command -v "$SIZE" >/dev/null 2>&1; then
    echo "firmware: $SIZE not found (apt-get install binutils-arm-none-eabi)" >&2
    exit 1
fi

if [[ $BOARD != mps2-an386 ]]; then
    # shellcheck source=scripts/common.sh
    source scripts/common.sh
    need_admin_password_hash
fi

started=$SECONDS
(cd "$BOARD_DIR" && cargo build --locked --bin "$BOARD" --profile "$PROFILE")
elapsed=$((SECONDS - started))

elf="${CARGO_TARGET_DIR:-examples/boards/target}/$target/$PROFILE/$BOARD"

echo
case $BOARD in
    esp32c3 | pico2w)
        # Summed by section: Berkeley's columns count the ESP32-C3 linker's
        # address-space placeholders (*_dummy) and, after --nmagic, the Pico's
        # .data as text. .text here is what the image puts in flash besides
        # .data (on the ESP32-C3 that includes .rwtext, code copied to IRAM).
        "$SIZE" -A -d "$elf" | grep -v -e '^\.debug' -e '^\.comment' -e 'attributes'
        read -r text data bss < <("$SIZE" -A -d "$elf" | awk '
            $1 ~ /^\.(vector_table|start_block|text|rodata.*|trap|rwtext.*|flash\.appdesc|bi_entries|end_block)$/ { t += $2 }
            $1 ~ /^\.data/ { d += $2 }
            $1 ~ /^\.bss/ { b += $2 }
            END { print t + 0, d + 0, b + 0 }')
        ;;
    *)
        "$SIZE" -B -d "$elf"
        read -r text data bss _ < <("$SIZE" -B -d "$elf" | awk 'NR == 2')
        ;;
esac
echo
echo "firmware ($BOARD, $target, profile $PROFILE): .text ${text} B, .data ${data} B, .bss ${bss} B;" \
    "flash $((text + data)) B, static RAM $((data + bss)) B; build ${elapsed}s"

# The session table is built at boot into a StaticCell: zero-initialised, so
# in .bss. A `static` made by a const fn would sit in .data (its size twice:
# in flash and in RAM).
symbols=$("$NM" -C "$elf")
if ! grep -qE '^[0-9a-f]+ [bB] .*::SESSIONS$' <<<"$symbols"; then
    echo "firmware ($BOARD): no session table (SESSIONS) in .bss" >&2
    exit 1
fi

