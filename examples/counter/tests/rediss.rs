//! `counter --store rediss://…` against a redis-server that speaks TLS
//! only, with a CA and a certificate made at start: with `--redis-ca` it
//! counts, and two servers share the count; a bad `--redis-ca` stops it at
//! start, naming the file; so does a certificate it cannot trust (no CA).
//! Needs `redis-server` on `PATH` (scripts/test.sh installs it).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::example_process::{ExampleProcess, SECRET_ENV};
use sesh_tests::http::redis_server::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_counter");
const SECRET: &str = "a test secret that is 32 bytes!!";

fn get(addr: SocketAddr, cookie: Option<&str>) -> Response {
    Request::get("/")
        .maybe_cookie(cookie)
        .send_blocking(addr)
        .unwrap_or_else(|e| panic!("GET http://{addr}/: {e}"))
}

fn count(answer: &Response) -> u64 {
    let body = answer.text();
    assert_eq!(answer.status, 200, "{body}");
    let n = body.split_whitespace().find_map(|w| w.parse().ok());
    n.unwrap_or_else(|| panic!("no count in {body:?}"))
}

#[test]
fn counts_over_tls_with_the_redis_ca() {
    let redis = RedisServer::start_tls().expect("a TLS redis-server starts");
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let ca = redis.ca_file().unwrap().to_str().unwrap();
    let args = ["--store", url.as_str(), "--redis-ca", ca];
    let a = ExampleProcess::start("counter", BIN, dir.path(), &args, Some(SECRET));
    let b = ExampleProcess::start("counter", BIN, dir.path(), &args, Some(SECRET));
    let first = get(a.addr, None);
    assert_eq!(count(&first), 1);
    let cookie = first.cookie_set("sid").expect("a session cookie");
    for n in 2..=6 {
        let server = if n % 2 == 0 { &b } else { &a };
        assert_eq!(count(&get(server.addr, Some(&cookie))), n);
    }
    assert!(
        a.log_text().contains("sessions in Redis"),
        "{}",
        a.log_text()
    );
}

#[test]
fn a_bad_redis_ca_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let bad = bad.to_str().unwrap();
    let args = [
        "--store",
        "rediss://127.0.0.1:9/0",
        "--redis-ca",
        bad,
        "--addr",
        "127.0.0.1:0",
    ];
    let env = [(SECRET_ENV, Some(SECRET))];
    let (status, _, stderr) = ExampleProcess::run_to_exit(BIN, dir.path(), &args, &env);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(bad) && stderr.contains("holds no certificate"),
        "{stderr}"
    );
    let args = ["--store", "redis://127.0.0.1:9/0", "--redis-ca", bad];
    let (status, _, stderr) = ExampleProcess::run_to_exit(BIN, dir.path(), &args, &env);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--redis-ca FILE is for"), "{stderr}");
}

/// Without `--redis-ca` the test CA is not trusted (it is in no system
/// store): the server stops at start and says why, rather than serving
/// 500s while a reachable Redis is refused.
#[test]
fn without_the_ca_the_server_stops_at_start_and_says_why() {
    let redis = RedisServer::start_tls().expect("a TLS redis-server starts");
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let args = ["--store", url.as_str(), "--addr", "127.0.0.1:0"];
    let env = [(SECRET_ENV, Some(SECRET))];
    let (status, _, stderr) = ExampleProcess::run_to_exit(BIN, dir.path(), &args, &env);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
}
