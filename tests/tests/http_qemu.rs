//! The HTTP-level suite against sesh-embassy on a real microcontroller image:
//! the probe app (`sesh_tests::embassy_app`, the code `http_embassy` serves
//! on the host) built for Cortex-M4F as `tests/qemu-probe`, booted in QEMU's
//! `mps2-an386` machine per case, on the board crate's LAN9118 driver,
//! embassy-net with DHCP, the board's time driver and its semihosting flash.
//! Requests cross QEMU's user network through a forwarded loopback port
//! (see `sesh_tests::http::qemu_probe`).
//!
//! The same cases run as on the host embassy stack, and the same ones are
//! skipped (`embassy_session_tests!`: no store, no movable clock): the
//! emulator's clock is the host's real time. A key rotation restarts the image for real: it
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

sesh_tests::embassy_session_tests!(qemu_server);
