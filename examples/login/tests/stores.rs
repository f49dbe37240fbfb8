//! The `login` binary on its stores, as real processes over real TCP on
//! 127.0.0.1: a signed-in session survives `SIGKILL` on the default redb
//! store, and two servers on one Redis share it. Every child process is
//! killed and reaped by a guard on drop; every wait is bounded.
//!
//! The Redis test needs `redis-server` on `PATH` (scripts/test.sh installs
//! it) and fails, rather than skips, without it.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::net::SocketAddr;
use std::path::Path;

use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::example_process::{ExampleProcess, SECRET_ENV};
use sesh_tests::http::redis_server::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_login");
const SECRET: &str = "a test secret that is 32 bytes!!";
const USER: &str = "admin";
const PASSWORD: &str = "correct-horse-battery-staple";

/// A running `login` process, killed and reaped on drop.
type Login = ExampleProcess;

/// Starts `login --addr 127.0.0.1:0 --user … --password … ARGS` in `dir`.
fn start_login(dir: &Path, args: &[&str], secret: Option<&str>) -> Login {
    let mut all = vec!["--user", USER, "--password", PASSWORD];
    all.extend_from_slice(args);
    ExampleProcess::start("login", BIN, dir, &all, secret)
}

/// One request on its own connection; `form` makes it a form POST.
fn send(addr: SocketAddr, path: &str, cookie: Option<&str>, form: Option<&str>) -> Response {
    let request = match form {
        Some(form) => Request::post(path).form(form),
        None => Request::get(path),
    };
    let request = request.maybe_cookie(cookie);
    request
        .send_blocking(addr)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn csrf(page: &Response) -> String {
    let body = page.text();
    page.input_value("csrf")
        .unwrap_or_else(|| panic!("no csrf field in {body}"))
}

/// Signs in through the form; returns the signed-in session's cookie.
fn sign_in(addr: SocketAddr) -> String {
    let form = send(addr, "/", None, None);
    assert_eq!(form.status, 200);
    // An anonymous form: a pre-session cookie, nothing stored.
    assert_eq!(form.cookie_set("sid"), None, "{:?}", form.headers);
    let cookie = form.cookie_set("sid-pre").expect("a pre-session cookie");
    let csrf = csrf(&form);
    let answer = send(
        addr,
        "/login",
        Some(&cookie),
        Some(&format!("username={USER}&password={PASSWORD}&csrf={csrf}")),
    );
    assert_eq!(answer.status, 303, "{}", answer.text());
    let signed_in = answer.cookie_set("sid").expect("a session cookie");
    assert_ne!(signed_in, cookie);
    signed_in
}

fn assert_signed_in(addr: SocketAddr, cookie: &str) {
    let me = send(addr, "/me", Some(cookie), None);
    assert_eq!((me.status, me.text().trim()), (200, USER));
}

#[test]
fn help_lists_the_store_option_and_redis_needs_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (_, help, _) = ExampleProcess::run_to_exit(BIN, dir.path(), &["--help"], &[]);
    assert!(help.contains("--store <STORE>") && help.contains("redb:./sesh-sessions.redb"));
    let args = ["--store", "redis://127.0.0.1:9/0"];
    let (status, _, stderr) = ExampleProcess::run_to_exit(BIN, dir.path(), &args, &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--secret") && stderr.contains(SECRET_ENV),
        "{stderr}"
    );
}

/// The password from the environment: off loopback it lets the server past
/// the password check (to the port, which 192.0.2.1 cannot give: exit 1);
/// without it the server refuses (exit 2), and an empty one is a usage error.
#[test]
fn the_password_comes_from_the_environment() {
    const PASSWORD_ENV: &str = "SESH_LOGIN_PASSWORD";
    let dir = tempfile::tempdir().unwrap();
    let run = |password: Option<&str>| {
        let args = ["--addr", "192.0.2.1:1", "--store", "memory"];
        let env = [(SECRET_ENV, Some(SECRET)), (PASSWORD_ENV, password)];
        let (status, _, stderr) = ExampleProcess::run_to_exit(BIN, dir.path(), &args, &env);
        (status.code(), stderr)
    };
    let (code, stderr) = run(None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing") && stderr.contains(PASSWORD_ENV),
        "{stderr}"
    );
    let (code, stderr) = run(Some(PASSWORD));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on 192.0.2.1:1"), "{stderr}");
    let (code, stderr) = run(Some(""));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--password"), "{stderr}");
}

/// The default store, no secret given: after `SIGKILL` and a start on the
/// same directory, the user is still signed in and can sign out.
#[test]
fn a_signed_in_session_survives_sigkill_on_the_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_login(dir.path(), &[], None);
    let cookie = sign_in(server.addr);
    assert_signed_in(server.addr, &cookie);
    server.kill();
    assert!(dir.path().join("sesh-sessions.redb").is_file());
    assert!(dir.path().join("sesh-sessions.redb.secret").is_file());

    let server = start_login(dir.path(), &[], None);
    assert_signed_in(server.addr, &cookie);
    let page = send(server.addr, "/", Some(&cookie), None);
    assert!(page.text().contains("1 in this session"), "{}", page.text());
    let logout = send(
        server.addr,
        "/logout",
        Some(&cookie),
        Some(&format!("csrf={}", csrf(&page))),
    );
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert_eq!(send(server.addr, "/me", Some(&cookie), None).status, 401);
}

#[test]
fn two_servers_on_one_redis_share_the_sign_in() {
    let redis = RedisServer::start().expect("redis-server starts");
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let a = start_login(dir.path(), &["--store", url.as_str()], Some(SECRET));
    let b = start_login(dir.path(), &["--store", url.as_str()], Some(SECRET));
    let cookie = sign_in(a.addr);
    assert_signed_in(b.addr, &cookie);
    // Signing out on b signs out on a.
    let page = send(b.addr, "/", Some(&cookie), None);
    let logout = send(
        b.addr,
        "/logout",
        Some(&cookie),
        Some(&format!("csrf={}", csrf(&page))),
    );
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert_eq!(send(a.addr, "/me", Some(&cookie), None).status, 401);
}
