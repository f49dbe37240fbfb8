//! The HTTP-level suite against sesh-embassy: the probe app on picoserve
//! (four workers) on a real embassy-net TCP/IP stack, which runs on its own
//! thread; each request of the suite's tokio client goes to a loopback
//! listener and is bridged onto an embassy-net `TcpSocket` from a second
//! stack across an in-memory IP link (see `sesh_tests::http::embassy_probe`).
//!
//! Every case of `sesh_tests::http::cases` runs except those that need a
//! store to fail (`sesh_tests::http::Capability::FailingStore`: sesh-embassy
//! keeps sessions in its own table); `every_case_runs_or_is_skipped_with_a_reason`
//! prints them with the reason.
//!
//! The paused-clock cases run: the probe's table reads a
//! `sesh_tests::embassy_app::ManualClock` (sesh-embassy's injectable `Clock`)
//! that stands still until the case moves it. embassy-time itself stays the
//! std driver (its `mock-driver` cannot be built beside `std`, and would be
//! one clock for every case in this binary): picoserve's and embassy-net's
//! timers run on real time, only the sessions' time is manual.
//! `idle_timeout_on_the_real_clock` checks expiry on embassy-time's real
//! clock as well, as the QEMU image does.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::embassy_probe::EmbassyServer;

async fn embassy_server(spec: ServerSpec) -> EmbassyServer {
    EmbassyServer::start(spec)
        .await
        .expect("the embassy probe server starts")
}

async fn embassy_server_on_the_real_clock(spec: ServerSpec) -> EmbassyServer {
    EmbassyServer::start_on_the_real_clock(spec)
        .await
        .expect("the embassy probe server starts")
}

sesh_tests::session_tests!(embassy_server; lacks: [FailingStore]);

#[test]
fn idle_timeout_on_the_real_clock() {
    sesh_tests::http::run_case(
        "idle_timeout_on_the_real_clock",
        sesh_tests::http::Runtime::CurrentThread,
        || {
            sesh_tests::http::cases::idle_timeout_on_the_real_clock(
                embassy_server_on_the_real_clock,
            )
        },
    );
}
