#!/usr/bin/env bash
# Builds examples/footprint for a Cortex-M4F with the size profile and prints
# what it costs in flash and RAM.
#
#   scripts/footprint.sh            # build, print, check both budgets
#
# Budgets (from the issue): .text <= 10 KiB including HMAC-SHA256, and the
# session table static <= 16 x (32 + 48) = 1280 bytes: 48 bytes of overhead a
# slot beyond its 32 bytes of data. Either fails the script; override them
# with FOOTPRINT_TEXT_BUDGET=<bytes> and FOOTPRINT_TABLE_BUDGET=<bytes>. The
# example's table has no metadata pool (SessionTable's OWNED = 0, the
# default): per-user metadata is opt-in, and a pool would add about
# size_of::<Option<SessionMeta>>() a entry on top of this budget.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=thumbv7em-none-eabihf
PROFILE=footprint
TEXT_BUDGET=${FOOTPRINT_TEXT_BUDGET:-10240}
SLOTS=16
SLOT_BUDGET=$((32 + 48))
TABLE_BUDGET=${FOOTPRINT_TABLE_BUDGET:-$((SLOTS * SLOT_BUDGET))}
TABLE_SYMBOL='footprint::firmware::TABLE'

for tool in arm-none-eabi-size arm-none-eabi-nm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "footprint: $tool not found (apt-get install binutils-arm-none-eabi)" >&2
        exit 1
    fi
done

cargo build -p footprint --target "$TARGET" --profile "$PROFILE"

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
elf="${target_dir:-target}/$TARGET/$PROFILE/footprint"

echo
arm-none-eabi-size -A -d "$elf"
arm-none-eabi-size -B -d "$elf"

section() {
    arm-none-eabi-size -A -d "$elf" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
text=$(section .text)
rodata=$(section .rodata)
vectors=$(section .vector_table)
data=$(section .data)
bss=$(section .bss)
ram=$((data + bss))
flash=$((vectors + text + rodata + data))

table_hex=$(arm-none-eabi-nm --size-sort -S -C "$elf" | awk -v sym="$TABLE_SYMBOL" '$4 == sym { print $2 }')
if [[ -z "$table_hex" ]]; then
    echo "footprint: symbol $TABLE_SYMBOL not found" >&2
    exit 1
fi
table=$((16#$table_hex))

echo
echo "footprint: .text ${text} B, .rodata ${rodata} B, flash ${flash} B (vectors+text+rodata+data image);" \
    "static RAM ${ram} B (.data ${data} + .bss ${bss}); table static ${table} B" \
    "(${SLOTS} slots, no metadata pool; budget ${TABLE_BUDGET} B)"

over=0
if ((text > TEXT_BUDGET)); then
    echo "footprint: .text ${text} B is over the budget of ${TEXT_BUDGET} B" >&2
    over=1
fi
if ((table > TABLE_BUDGET)); then
    echo "footprint: the table static ${table} B is over the budget of ${TABLE_BUDGET} B" \
        "(${SLOTS} x (32 + 48))" >&2
    over=1
fi
exit "$over"
