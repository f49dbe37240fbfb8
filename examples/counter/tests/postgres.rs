//! The `counter` binary on `--store postgres://…`, as real processes, on a
//! throwaway PostgreSQL (sesh-tests' `PostgresServer`: initdb into a
//! temporary directory, a free loopback port, removed at the end): two
//! servers on one database, `SIGKILL` of a server, and the database killed
//! and started again under a running server. Every child is killed on drop
//! and every wait is bounded. Needs Debian's `postgresql` (scripts/test.sh
//! installs it); fails, rather than skips, without it.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rand_core::Rng;
use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::example_process::ExampleProcess;
use sesh_tests::http::postgres_server::PostgresServer;

const BIN: &str = env!("CARGO_BIN_EXE_counter");
const SECRET: &str = "a test secret that is 32 bytes!!";

fn start_counter(dir: &Path, url: &str) -> ExampleProcess {
    ExampleProcess::start("counter", BIN, dir, &["--store", url], Some(SECRET))
}

/// `GET /` on a connection of its own, sent once: only a refused connect
/// (`ConnectionRefused`) means the server never saw it.
fn try_get(addr: SocketAddr, cookie: Option<&str>) -> io::Result<Response> {
    Request::get("/").maybe_cookie(cookie).send_blocking(addr)
}

fn get(addr: SocketAddr, cookie: Option<&str>) -> Response {
    try_get(addr, cookie).unwrap_or_else(|e| panic!("GET http://{addr}/: {e}"))
}

/// The count in a 200's body.
fn count(answer: &Response) -> u64 {
    let body = answer.text();
    assert_eq!(answer.status, 200, "{body}");
    let n = body.split_whitespace().find_map(|w| w.parse().ok());
    n.unwrap_or_else(|| panic!("no count in {body:?}"))
}

/// A fresh session: answers 1 and returns its cookie.
fn new_session(addr: SocketAddr) -> String {
    let first = get(addr, None);
    assert_eq!(count(&first), 1);
    let set = first.header_all("set-cookie");
    first
        .cookie_set("sid")
        .unwrap_or_else(|| panic!("no session cookie set: {set:?}"))
}

fn count_up(addr: SocketAddr, cookie: &str, from: u64, to: u64) {
    for n in from..=to {
        assert_eq!(count(&get(addr, Some(cookie))), n);
    }
}

#[test]
fn two_servers_share_one_postgres() {
    let postgres = PostgresServer::start().expect("postgres starts");
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let a = start_counter(dir.path(), &url);
    let b = start_counter(dir.path(), &url);

    // One client, alternating: a, b, a, b, … without a gap.
    let cookie = new_session(a.addr);
    for n in 2..=20 {
        let server = if n % 2 == 0 { &b } else { &a };
        let answer = get(server.addr, Some(&cookie));
        assert_eq!(count(&answer), n, "from {}", server.addr);
        let set = answer.header_all("set-cookie");
        assert!(set.is_empty(), "{set:?}");
    }

    // 200 increments at once, 100 through each server.
    let mut counts: Vec<u64> = thread::scope(|scope| {
        let requests: Vec<_> = (0..200)
            .map(|i| {
                let addr = if i % 2 == 0 { a.addr } else { b.addr };
                let cookie = &cookie;
                scope.spawn(move || count(&get(addr, Some(cookie))))
            })
            .collect();
        requests.into_iter().map(|r| r.join().unwrap()).collect()
    });
    // Each increment is one compare-and-swap: every answer is distinct.
    counts.sort_unstable();
    assert_eq!(counts, (21..=220).collect::<Vec<_>>());
    assert_eq!(count(&get(a.addr, Some(&cookie))), 221, "the final read");
    assert_eq!(count(&get(b.addr, Some(&cookie))), 222);
}

/// Sends requests one after the other until one fails (the server was
/// killed); every answer is exactly one more than the one before.
fn stream_until_killed(addr: SocketAddr, cookie: &str, mut last: u64) -> (u64, io::Error) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the server was never killed");
        match try_get(addr, Some(cookie)) {
            Ok(answer) => {
                assert_eq!(count(&answer), last + 1, "sequential requests, one server");
                last += 1;
            }
            Err(failure) => return (last, failure),
        }
    }
}

/// `SIGKILL` of the application server at random points (a fixed seed)
/// loses no answered count: PostgreSQL had committed it before the answer.
#[test]
fn a_sigkilled_server_loses_nothing_committed() {
    let postgres = PostgresServer::start().expect("postgres starts");
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let mut server = start_counter(dir.path(), &url);
    let cookie = new_session(server.addr);
    count_up(server.addr, &cookie, 2, 3);
    let mut rng = sesh_tests::rng::TestRng(0x5e54_1818);
    let mut last = 3;
    for round in 0..10 {
        let delay = Duration::from_micros(rng.next_u64() % 40_000);
        let (addr, stream_cookie) = (server.addr, cookie.clone());
        let stream = thread::spawn(move || stream_until_killed(addr, &stream_cookie, last));
        thread::sleep(delay);
        server.kill();
        let (answered, failure) = stream
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let maybe_in_flight = failure.kind() != io::ErrorKind::ConnectionRefused;
        server = start_counter(dir.path(), &url);
        let answer = get(server.addr, Some(&cookie));
        let n = count(&answer);
        // At most one request was in flight: its increment committed or
        // not, never half.
        let hi = answered + if maybe_in_flight { 2 } else { 1 };
        assert!(
            (answered + 1..=hi).contains(&n),
            "round {round} (kill after {delay:?}): answered up to {answered}, then {failure}, \
             then {n}"
        );
        assert!(answer.header_all("set-cookie").is_empty());
        last = n;
    }
}

/// The database is killed under a running server: requests answer 500
/// (soon, and without a session cookie) while it is down; once it is back
/// the same server answers again, with the count kept, without a restart.
#[test]
fn postgres_killed_mid_run_recovers_without_a_restart() {
    let mut postgres = PostgresServer::start().expect("postgres starts");
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let mut server = start_counter(dir.path(), &url);
    let cookie = new_session(server.addr);
    count_up(server.addr, &cookie, 2, 5);

    postgres.kill();
    for cookie in [Some(cookie.as_str()), None, Some(cookie.as_str())] {
        let started = Instant::now();
        let answer = get(server.addr, cookie);
        let took = started.elapsed();
        assert!(answer.status >= 500, "{} {}", answer.status, answer.text());
        let set = answer.header_all("set-cookie");
        assert!(set.is_empty(), "no session without a store: {set:?}");
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
    }

    postgres.start_again().expect("postgres starts again");
    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let answer = get(server.addr, Some(&cookie));
        match answer.status {
            200 => break answer,
            s if s >= 500 && Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            s => panic!("not recovered: {s} {}", answer.text()),
        }
    };
    assert_eq!(count(&recovered), 6, "the count goes on");
    count_up(server.addr, &cookie, 7, 8);
    server.assert_running();
}

/// The database hangs (every PostgreSQL process stopped, connections left
/// open): a request answers 500 after the store's 2 s timeout instead of
/// hanging; once it runs again, the same server answers, count kept.
#[test]
fn a_hung_postgres_answers_500_after_the_timeout_then_recovers() {
    let postgres = PostgresServer::start().expect("postgres starts");
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let mut server = start_counter(dir.path(), &url);
    let cookie = new_session(server.addr);
    count_up(server.addr, &cookie, 2, 3);

    postgres.signal("STOP").unwrap();
    let started = Instant::now();
    let answer = get(server.addr, Some(&cookie));
    let took = started.elapsed();
    postgres.signal("CONT").unwrap();
    assert!(answer.status >= 500, "{} {}", answer.status, answer.text());
    assert!(
        (Duration::from_millis(1500)..Duration::from_secs(6)).contains(&took),
        "answered after {took:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let answer = get(server.addr, Some(&cookie));
        match answer.status {
            200 => break answer,
            s if s >= 500 && Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            s => panic!("not recovered: {s} {}", answer.text()),
        }
    };
    // That request's one statement (the compare-and-swap, from the store's
    // copy of the session) timed out. If it never reached PostgreSQL, the
    // count goes on at 4; if it did, the backend runs it on waking up and
    // the count goes on at 5. The client saw a 500 either way.
    let n = count(&recovered);
    assert!([4, 5].contains(&n), "the count goes on: {n}");
    server.assert_running();
}
