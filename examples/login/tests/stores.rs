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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sesh_tests::http::example_process::{ExampleProcess, SECRET_ENV};
use sesh_tests::http::redis_server::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_login");
const SECRET: &str = "a test secret that is 32 bytes!!";
const USER: &str = "admin";
const PASSWORD: &str = "correct-horse-battery-staple";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `login` process, killed and reaped on drop.
type Login = ExampleProcess;

/// Starts `login --addr 127.0.0.1:0 --user … --password … ARGS` in `dir`.
fn start_login(dir: &Path, args: &[&str], secret: Option<&str>) -> Login {
    let mut all = vec!["--user", USER, "--password", PASSWORD];
    all.extend_from_slice(args);
    ExampleProcess::start("login", BIN, dir, &all, secret)
}

#[derive(Debug)]
struct Answer {
    status: u16,
    cookie: Option<String>,
    /// The pre-session cookie an anonymous form's token is bound to.
    pre_cookie: Option<String>,
    body: String,
}

impl Answer {
    fn new_cookie(&self) -> String {
        self.cookie
            .clone()
            .unwrap_or_else(|| panic!("no session cookie set: {self:?}"))
    }

    fn pre_cookie(&self) -> String {
        self.pre_cookie
            .clone()
            .unwrap_or_else(|| panic!("no pre-session cookie set: {self:?}"))
    }

    fn csrf(&self) -> String {
        let (_, rest) = self
            .body
            .split_once(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no csrf field in {self:?}"));
        rest.split('"').next().unwrap().to_owned()
    }
}

/// One request on its own connection; `form` makes it a form POST.
fn send(addr: SocketAddr, path: &str, cookie: Option<&str>, form: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let method = if form.is_some() { "POST" } else { "GET" };
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(form) = form {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(form.unwrap_or(""));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let pairs: Vec<String> = lines
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim().split(';').next().unwrap().to_owned())
        .collect();
    let find = |prefix: &str| {
        pairs
            .iter()
            .find(|pair| pair.starts_with(prefix) && pair.len() > prefix.len())
            .cloned()
    };
    Answer {
        status,
        cookie: find("sid="),
        pre_cookie: find("sid-pre="),
        body: body.to_owned(),
    }
}

/// Signs in through the form; returns the signed-in session's cookie.
fn sign_in(addr: SocketAddr) -> String {
    let form = send(addr, "/", None, None);
    assert_eq!(form.status, 200);
    // An anonymous form: a pre-session cookie, nothing stored.
    assert_eq!(form.cookie, None, "{form:?}");
    let (cookie, csrf) = (form.pre_cookie(), form.csrf());
    let answer = send(
        addr,
        "/login",
        Some(&cookie),
        Some(&format!("username={USER}&password={PASSWORD}&csrf={csrf}")),
    );
    assert_eq!(answer.status, 303, "{answer:?}");
    let signed_in = answer.new_cookie();
    assert_ne!(signed_in, cookie);
    signed_in
}

fn assert_signed_in(addr: SocketAddr, cookie: &str) {
    let me = send(addr, "/me", Some(cookie), None);
    assert_eq!((me.status, me.body.trim()), (200, USER), "{me:?}");
}

#[test]
fn help_lists_the_store_option_and_redis_needs_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--help")
        .env_remove(SECRET_ENV)
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--store <STORE>") && help.contains("redb:./sesh-sessions.redb"));
    let out = Command::new(BIN)
        .args(["--store", "redis://127.0.0.1:9/0"])
        .current_dir(dir.path())
        .env_remove(SECRET_ENV)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
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
        let mut command = Command::new(BIN);
        command
            .args(["--addr", "192.0.2.1:1", "--store", "memory"])
            .current_dir(dir.path())
            .env(SECRET_ENV, SECRET)
            .env_remove(PASSWORD_ENV);
        if let Some(password) = password {
            command.env(PASSWORD_ENV, password);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
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
    assert!(page.body.contains("1 in this session"), "{}", page.body);
    let logout = send(
        server.addr,
        "/logout",
        Some(&cookie),
        Some(&format!("csrf={}", page.csrf())),
    );
    assert_eq!(logout.status, 303, "{logout:?}");
    assert_eq!(send(server.addr, "/me", Some(&cookie), None).status, 401);
}

#[test]
fn two_servers_on_one_redis_share_the_sign_in() {
    if let Err(e) = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        panic!(
            "redis-server is not on PATH ({e}): the Redis store tests need it; \
             `bash scripts/test.sh` installs it (Debian package redis-server)"
        );
    }
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
        Some(&format!("csrf={}", page.csrf())),
    );
    assert_eq!(logout.status, 303, "{logout:?}");
    assert_eq!(send(a.addr, "/me", Some(&cookie), None).status, 401);
}
