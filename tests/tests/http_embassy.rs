//! The HTTP-level suite against sesh-embassy: the probe app on picoserve
//! (four workers) on a real embassy-net TCP/IP stack, which runs on its own
//! thread; each request of the suite's tokio client goes to a loopback
//! listener and is bridged onto an embassy-net `TcpSocket` from a second
//! stack across an in-memory IP link (see `sesh_tests::http::embassy_probe`).
//!
//! Every case of `sesh_tests::http::cases` runs except these five, which
//! cannot apply to sesh-embassy (one line each):
//!
//! - `store_error_answers_500`: sesh-embassy has no store (sessions live in its own `static` table), so no store call exists that could fail.
//! - `expired_id_selects_no_session`: it advances the clock 61 s; sesh-embassy reads embassy-time's real-time std driver (see below), so that is 61 s of real waiting.
//! - `idle_timeout_expires_the_session`: it advances the clock 60 s in two steps of 59.999 s and 1 ms; the real clock can neither be waited on that long nor stepped to the millisecond.
//! - `refresh_is_throttled`: it advances the clock 94 s in steps that must land on exact seconds (20, 35, 55, 94); on the real clock that is 94 s of waiting with no exactness.
//! - `absolute_lifetime_caps_the_session`: it advances the clock 100 s and checks `Max-Age` to the second (50, then 1); same reason, on the real clock.
//!
//! Why the clock cannot be moved: `sesh_embassy::now()` reads embassy-time's
//! global driver, and in every workspace test build that is the std driver,
//! the process's real monotonic clock (sesh-embassy's and firmware's
//! dev-dependencies enable `embassy-time/std`, and features unify). Its
//! `mock-driver`, which could be advanced, cannot be built beside `std`:
//! both define the symbol `_embassy_time_now`; and it would be one clock for
//! every case running in parallel in this binary. `idle_timeout_on_the_real_clock`
//! below checks expiry on the real clock with a 2 s idle timeout instead.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::embassy_probe::EmbassyServer;

async fn embassy_server(spec: ServerSpec) -> EmbassyServer {
    EmbassyServer::start(spec)
        .await
        .expect("the embassy probe server starts")
}

/// Runs `session_tests!` for these cases and keeps their names for
/// `every_case_runs_or_is_left_out_with_a_reason`.
macro_rules! embassy_cases {
    ($($case:ident),+ $(,)?) => {
        sesh_tests::session_tests!(embassy_server; $($case),+);
        const RUN: &[&str] = &[$(stringify!($case)),+];
    };
}

embassy_cases!(
    routes_are_served,
    counter_counts_with_the_cookie,
    set_cookie_has_the_default_attributes,
    set_cookie_has_the_configured_attributes,
    reading_is_lazy,
    forged_tag_selects_no_session,
    tampered_id_selects_no_session,
    unsigned_id_selects_no_session,
    unknown_signed_id_selects_no_session,
    cookie_headers_are_scanned_strictly,
    cookie_header_abuse_selects_nothing,
    login_regenerates_the_id,
    logout_removes_the_cookie_and_the_session,
    csrf_token_is_bound_to_the_session,
    concurrent_increments_are_not_lost,
    key_rotation_resigns_then_retires,
    data_over_the_limit_is_refused,
);

/// The cases the module docs explain, one line each.
const LEFT_OUT: &[&str] = &[
    "store_error_answers_500",
    "expired_id_selects_no_session",
    "idle_timeout_expires_the_session",
    "refresh_is_throttled",
    "absolute_lifetime_caps_the_session",
];

/// Every case of the suite either runs here or is left out with its reason
/// in the module docs: a case added to the suite cannot be dropped silently.
#[test]
fn every_case_runs_or_is_left_out_with_a_reason() {
    let mut listed: Vec<&str> = RUN.iter().chain(LEFT_OUT).copied().collect();
    let mut known: Vec<&str> = sesh_tests::http::cases::CASES
        .iter()
        .map(|(name, _)| *name)
        .collect();
    listed.sort_unstable();
    known.sort_unstable();
    assert_eq!(listed, known, "cases run here plus cases left out");
    let docs = include_str!("http_embassy.rs");
    for case in LEFT_OUT {
        assert!(
            docs.contains(&format!("//! - `{case}`: ")),
            "{case} is left out without its line in the module docs"
        );
    }
}

/// Expiry on embassy-time's real clock, end to end: a session with a 2 s
/// idle timeout answers right after it starts, selects nothing once 2 s have
/// passed, and sesh-embassy's sweeper (running beside the picoserve workers)
/// has purged it from the table by then.
#[tokio::test]
async fn idle_timeout_on_the_real_clock() {
    use sesh_tests::http::TestServer;
    use sesh_tests::http::client::Request;

    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(2),
        absolute_lifetime: sesh::Duration::from_hours(1),
        refresh_percent: 100,
        ..ServerSpec::default()
    };
    let server = embassy_server(spec).await;
    let first = Request::get("/count")
        .send(server.addr())
        .await
        .expect("/count");
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    let cookie = first.set_cookies().pop().expect("a session cookie");
    assert_eq!(cookie.max_age(), Some(2), "Max-Age is the idle timeout");
    let peek = Request::get("/peek").cookie(cookie.pair());
    let alive = peek.send(server.addr()).await.expect("/peek");
    assert_eq!(alive.text(), "1", "alive before its idle deadline");
    assert_eq!(server.stored_sessions().await.ok(), Some(1));

    server
        .advance_clock(core::time::Duration::from_millis(2_100))
        .await;
    let expired = peek.send(server.addr()).await.expect("/peek");
    assert_eq!(
        (expired.status, expired.text().as_str()),
        (200, "0"),
        "gone at its idle deadline"
    );
    assert!(
        expired.set_cookies().is_empty(),
        "an expired id sets nothing"
    );
    // The sweeper wakes at the deadline; allow it a moment on a busy machine.
    let mut stored = server.stored_sessions().await.ok();
    for _ in 0..50 {
        if stored == Some(0) {
            break;
        }
        tokio::time::sleep(core::time::Duration::from_millis(20)).await;
        stored = server.stored_sessions().await.ok();
    }
    assert_eq!(stored, Some(0), "the sweeper purged the expired session");
    server.stop().await;
}
