#!/usr/bin/env bash
# End-to-end tests of the login web UIs in a real browser (e2e/): Debian's
# Chromium, headless, driven by playwright-core under Node's test runner,
# against the host `login` example, the host-run firmware UI
# (`firmware-host`, feature `host-server` of examples/firmware) and the
# firmware image in QEMU (examples/boards/mps2-an386).
#
# 1. Installs what is missing: Debian's chromium when /usr/bin/chromium is
#    absent; e2e/node_modules with `npm ci` when it is absent. (Playwright's
#    own browser download, `npx playwright install`, is never used.)
# 2. Builds the two server binaries (debug).
# 3. Runs `node --test` in e2e/; exits non-zero if a test fails.
#
# The tests write PNGs of every UI, signed out and signed in, into
# target/e2e-screenshots/ (SESH_E2E_SCREENSHOTS=docs/screenshots refreshes
# the committed ones).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
# The whole browser run; each case has its own 60 s limit as well.
E2E_TIMEOUT=${E2E_TIMEOUT:-300}

# run, as_root
# shellcheck source=scripts/common.sh
source scripts/common.sh

if [[ ! -x "$CHROMIUM" ]]; then
    run as_root apt-get update
    run as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends chromium
fi
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "e2e: $tool not found (Node.js 20 or later is needed)" >&2
        exit 1
    fi
done
if [[ ! -d e2e/node_modules/playwright-core ]]; then
    (cd e2e && run npm ci --no-audit --no-fund)
fi

run cargo build -p login
# Named explicitly: with `-p a -p b --features b/x`, cargo skips b's binaries
# whose required-features is x.
run cargo build -p firmware --features host-server --bin firmware-host
# The firmware image for QEMU (e2e target `qemu`, started by scripts/qemu-firmware.sh).
(cd examples/boards/mps2-an386 && run cargo build --locked --release --bin mps2-an386)
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export SESH_E2E_BIN_DIR="${target_dir:-$PWD/target}/debug"
export CHROMIUM_PATH="$CHROMIUM"

started=$SECONDS
(cd e2e && run timeout "$E2E_TIMEOUT" node --test --test-concurrency=1)
echo "e2e: browser tests took $((SECONDS - started))s"
