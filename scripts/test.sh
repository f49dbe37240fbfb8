#!/usr/bin/env bash
# The project's single "run every test" command (CI runs it through .ci/run).
#
# 1. Installs what a fresh Debian machine lacks, only when it is missing:
#    rustup targets and components, Debian packages.
# 2. Runs every check: rustfmt, clippy, rustdoc, no_std builds for the MCU targets, the
#    firmware size benchmark, cargo test, the browser tests (scripts/e2e.sh).
#
# Every check runs even when an earlier one failed, and the script exits
# non-zero if any failed. FAIL_FAST=1 stops at the first failure instead.
#
# Adding a step: write a function that prints its header with `header`, then
# add it to INSTALL_STEPS or CHECK_STEPS at the bottom. A tool from Debian:
# add a `need_apt <command> <package>` line to install_debian_packages.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FMT_FLAGS=()
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_TERM_COLOR=never
    FMT_FLAGS=(--color never) # rustfmt colours its diffs on its own
fi

MCU_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf thumbv8m.main-none-eabihf)
HOST_TARGET=$(rustc -vV | sed -n 's/^host: //p')
# Crates outside the host workspace, each with its own .cargo/config.toml:
# the board images and the QEMU probe image.
BOARD_WORKSPACE=examples/boards
QEMU_PROBE=tests/qemu-probe
RUST_COMPONENTS=(rustfmt clippy)

header() {
    printf '\n==> %s\n' "$*"
}

# run, as_root
# shellcheck source=scripts/common.sh
source scripts/common.sh

# ---------------------------------------------------------------- installs --

install_rust_targets() {
    header "rustup targets: ${MCU_TARGETS[*]}"
    local installed missing=()
    installed=$(rustup target list --installed)
    for t in "${MCU_TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    if ((${#missing[@]})); then
        run rustup target add "${missing[@]}"
    else
        echo "all installed"
    fi
}

install_rust_components() {
    header "rustup components: ${RUST_COMPONENTS[*]}"
    local installed missing=()
    installed=$(rustup component list --installed)
    for c in "${RUST_COMPONENTS[@]}"; do
        grep -q "^$c\(-\|$\)" <<<"$installed" || missing+=("$c")
    done
    if ((${#missing[@]})); then
        run rustup component add "${missing[@]}"
    else
        echo "all installed"
    fi
}

APT_PENDING=()

# need_apt <command> <package>: install <package> if <command> is missing.
need_apt() {
    if ! command -v "$1" >/dev/null 2>&1; then
        APT_PENDING+=("$2")
    fi
}

install_debian_packages() {
    header "Debian packages"
    APT_PENDING=()
    need_apt arm-none-eabi-size binutils-arm-none-eabi
    need_apt riscv64-unknown-elf-size binutils-riscv64-unknown-elf # the ESP32-C3 image's sizes
    need_apt qemu-system-arm qemu-system-arm
    need_apt redis-server redis-server
    # PostgreSQL for the postgres store tests: initdb and postgres sit under
    # /usr/lib/postgresql/*/bin, off PATH; postgresql-common's pg_ctlcluster is on it.
    need_apt pg_ctlcluster postgresql
    need_apt chromium chromium
    if ((${#APT_PENDING[@]})); then
        run as_root apt-get update
        run as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${APT_PENDING[@]}"
    else
        echo "all installed"
    fi
}

# ------------------------------------------------------------------ checks --

check_fmt() {
    header "rustfmt"
    run cargo fmt --all -- --check "${FMT_FLAGS[@]}"
    for dir in "$BOARD_WORKSPACE" "$QEMU_PROBE" tests/mcu; do
        (cd "$dir" && run cargo fmt --all -- --check "${FMT_FLAGS[@]}")
    done
}

check_clippy() {
    header "clippy (host, all targets, all features)"
    run cargo clippy --workspace --all-targets --all-features -- -D warnings
}

check_docs() {
    header "rustdoc (warnings are errors: broken links, private items)"
    run env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps
    # A firmware reads sesh's docs without its optional features: no link may break there.
    run env RUSTDOCFLAGS="-D warnings" cargo doc -p sesh --no-default-features --no-deps
}

check_mcu_builds() {
    header "no_std builds of sesh: ${MCU_TARGETS[*]}"
    for t in "${MCU_TARGETS[@]}"; do
        run cargo build -p sesh --target "$t"
        run cargo build -p sesh --target "$t" --no-default-features
    done
    run cargo build -p sesh --target thumbv7em-none-eabihf --features alloc
}

check_footprint() {
    header "footprint firmware (thumbv7em-none-eabihf, profile footprint)"
    # The firmware code only exists for target_os = "none", so lint it there.
    run cargo clippy -p footprint --target thumbv7em-none-eabihf -- -D warnings
    run bash scripts/footprint.sh
}

check_firmware() {
    header "firmware: the board images (examples/boards) and the QEMU probe image, release, sizes"
    # The NUCLEO image's admin password hash: one random password, once, so
    # that its clippy and build runs compile the same image.
    SESH_ADMIN_PASSWORD_HASH=random
    need_admin_password_hash
    # The app library, linted for the target it runs on.
    run cargo clippy -p firmware --target thumbv7em-none-eabihf -- -D warnings
    for board in nucleo-h743zi mps2-an386 esp32c3 pico2w; do
        (cd "$BOARD_WORKSPACE/$board" && run cargo clippy --locked --release -- -D warnings)
        run env FIRMWARE_BOARD="$board" bash scripts/firmware.sh
    done
    # The Wi-Fi boards' station option (it needs a network name), and the crate they share.
    (cd "$BOARD_WORKSPACE/esp32c3" && run env SESH_WIFI_SSID=ci SESH_WIFI_PASSWORD=ci-password \
        cargo clippy --locked --release --features station -- -D warnings)
    (cd "$BOARD_WORKSPACE/pico2w" && run env SESH_WIFI_SSID=ci SESH_WIFI_PASSWORD=ci-password \
        cargo clippy --locked --release -p pico2w -p wifi-portal --features pico2w/station -- -D warnings)
    # The portal's DHCP server and key provisioning, on the host.
    (cd "$BOARD_WORKSPACE/wifi-portal" && run cargo clippy --locked --tests --target "$HOST_TARGET" -- -D warnings)
    (cd "$BOARD_WORKSPACE/wifi-portal" && run cargo test --locked --target "$HOST_TARGET")
    # The LAN9118 driver against its device model, on the host.
    (cd "$BOARD_WORKSPACE/mps2-an386" && run cargo clippy --locked --lib --tests --target "$HOST_TARGET" -- -D warnings)
    (cd "$BOARD_WORKSPACE/mps2-an386" && run cargo test --locked --lib --target "$HOST_TARGET")
    # The image the HTTP suite boots in QEMU (tests/tests/http_qemu.rs).
    (cd "$QEMU_PROBE" && run cargo clippy --locked --release -- -D warnings)
    (cd "$QEMU_PROBE" && run cargo build --locked --release)
}

check_mcu_cases() {
    header "core cases on emulated microcontrollers (QEMU): Cortex-M4 mps2-an386, Cortex-M0 microbit"
    # tests/mcu is its own workspace; its .cargo/config.toml makes `cargo run` start QEMU.
    (cd tests/mcu && run cargo clippy --release --locked -- -D warnings)
    (cd tests/mcu && run cargo run --release --locked)
    (cd tests/mcu && run cargo run --release --locked --target thumbv6m-none-eabi)
}

check_tests() {
    header "cargo test"
    # Every failing test binary is reported, not only the first.
    run cargo test --workspace --no-fail-fast
    # Flash snapshots, on a RAM NOR flash with power cuts injected.
    run cargo test -p sesh-embassy --features flash
}

check_package() {
    header "cargo package: sesh, sesh-tokio and sesh-embassy, as crates.io would get them (built from the packages)"
    # cargo verifies each crate against the others unpacked from a temporary registry in
    # target/package, and caches what it unpacks under a key made from that path: a cache left
    # by an earlier run from the same directory would be used instead of today's sources.
    local unpacked="${CARGO_HOME:-$HOME/.cargo}/registry/src"
    rm -rf "$unpacked"/-*/sesh-[0-9]* "$unpacked"/-*/sesh-tokio-[0-9]* "$unpacked"/-*/sesh-embassy-[0-9]*
    run cargo package --locked -p sesh -p sesh-tokio -p sesh-embassy
}

check_e2e() {
    header "end-to-end: the login UIs (login, firmware-host, the firmware image in QEMU) in headless Chromium (e2e/, node --test)"
    run bash scripts/e2e.sh
}

# -------------------------------------------------------------------- main --

INSTALL_STEPS=(install_rust_targets install_rust_components install_debian_packages)
CHECK_STEPS=(check_fmt check_clippy check_docs check_package check_mcu_builds check_footprint check_firmware check_mcu_cases check_tests check_e2e)

started=$SECONDS

# Installs stop the run at once: nothing after them works without them.
for step in "${INSTALL_STEPS[@]}"; do
    "$step"
done

results=()
failed=0
for step in "${CHECK_STEPS[@]}"; do
    step_started=$SECONDS
    # A subshell outside any `if` or `||`, so that `set -e` works inside it.
    set +e
    (set -e; "$step")
    rc=$?
    set -e
    elapsed=$((SECONDS - step_started))
    if ((rc == 0)); then
        results+=("ok      ${step#check_} (${elapsed}s)")
    else
        results+=("FAILED  ${step#check_} (exit ${rc}, ${elapsed}s)")
        failed=1
        if [[ "${FAIL_FAST:-0}" == "1" ]]; then
            break
        fi
    fi
done

header "summary ($((SECONDS - started))s)"
printf '    %s\n' "${results[@]}"
exit "$failed"
