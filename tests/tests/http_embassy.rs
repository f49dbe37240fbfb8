//! The HTTP-level suite against sesh-embassy: the probe app on picoserve
//! (four workers) on a real embassy-net TCP/IP stack, which runs on its own
//! thread; each request of the suite's tokio client goes to a loopback
//! listener and is bridged onto an embassy-net `TcpSocket` from a second
//! stack across an in-memory IP link (see `sesh_tests::http::embassy_probe`).
//!
//! Every case of `sesh_tests::http::cases` runs except those that need what
//! sesh-embassy lacks (`sesh_tests::http::Capability`: a store to fail, a
//! clock to move); `every_case_runs_or_is_skipped_with_a_reason` prints each
//! with its reason.
//!
//! Why the clock cannot be moved: `sesh_embassy::now()` reads embassy-time's
//! global driver, and in every workspace test build that is the std driver,
//! the process's real monotonic clock (sesh-embassy's and firmware's
//! dev-dependencies enable `embassy-time/std`, and features unify). Its
//! `mock-driver`, which could be advanced, cannot be built beside `std`:
//! both define the symbol `_embassy_time_now`; and it would be one clock for
//! every case running in parallel in this binary. `idle_timeout_on_the_real_clock`
//! checks expiry on the real clock with a 2 s idle timeout instead.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::embassy_probe::EmbassyServer;

async fn embassy_server(spec: ServerSpec) -> EmbassyServer {
    EmbassyServer::start(spec)
        .await
        .expect("the embassy probe server starts")
}

sesh_tests::embassy_session_tests!(embassy_server);
