//! The HTTP-level suite against sesh-embassy on a real microcontroller image:
//! the probe app (`sesh_tests::embassy_app`, the code `http_embassy` serves
//! on the host) built for Cortex-M4F as `tests/qemu-probe`, booted in QEMU's
//! `mps2-an386` machine per case, on the board crate's LAN9118 driver,
//! embassy-net with DHCP, the board's time driver and its semihosting flash.
//! Requests cross QEMU's user network through a forwarded loopback port
//! (see `sesh_tests::http::qemu_probe`).
//!
//! The same cases run as on the host embassy stack, and the same ones are
//! skipped (no store to fail): the image's sessions read a manual clock that
//! `advance_clock` moves through the control port, so the paused-clock cases
//! run; `idle_timeout_on_the_real_clock` boots the image on the emulator's
//! real clock instead. A key rotation restarts the image for real: it
//! saves its table to the flash file, QEMU exits, and a new QEMU boots it
//! with the new keys and restores the table.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::qemu_probe::QemuServer;

async fn qemu_server(spec: ServerSpec) -> QemuServer {
    QemuServer::start(spec)
        .await
        .expect("the probe image boots in QEMU")
}

async fn qemu_server_on_the_real_clock(spec: ServerSpec) -> QemuServer {
    QemuServer::start_on_the_real_clock(spec)
        .await
        .expect("the probe image boots in QEMU")
}

sesh_tests::session_tests!(qemu_server; lacks: [FailingStore]);

#[test]
fn idle_timeout_on_the_real_clock() {
    sesh_tests::http::run_case(
        "idle_timeout_on_the_real_clock",
        sesh_tests::http::Runtime::CurrentThread,
        || sesh_tests::http::cases::idle_timeout_on_the_real_clock(qemu_server_on_the_real_clock),
    );
}
