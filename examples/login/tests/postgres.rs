//! The `login` binary on `--store postgres://…`, as real processes over
//! real TCP on 127.0.0.1, on a throwaway PostgreSQL (sesh-tests'
//! `PostgresServer`): two servers on one database share a sign-in and a
//! sign-out. Needs Debian's `postgresql` (scripts/test.sh installs it); fails,
//! rather than skips, without it.
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
use sesh_tests::http::example_process::ExampleProcess;
use sesh_tests::http::postgres_server::PostgresServer;

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
fn two_servers_on_one_postgres_share_the_sign_in() {
    let postgres = PostgresServer::start().expect("postgres starts");
    let dir = tempfile::tempdir().unwrap();
    let url = postgres.url();
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
