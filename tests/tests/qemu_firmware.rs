//! The firmware as a real microcontroller image: `examples/boards/mps2-an386`
//! (the login UI of `examples/firmware` on QEMU's Cortex-M4F machine, LAN9118
//! Ethernet, DHCP, sessions and key in a semihosting-backed flash file),
//! driven over HTTP through a loopback port QEMU forwards to the guest's
//! port 80.
//!
//! - A login survives a power cut (SIGKILL of QEMU), with the remaining
//!   lifetime of the last snapshot kept, not reset to a full one.
//! - A logout stays done across a power cut: sesh-embassy writes logins and
//!   logouts to flash without the coalescing delay of other changes, so the
//!   window in which a logout can come back is one flash write after its
//!   response ([`URGENT_WINDOW`] bounds it here).
//! - A flood of new clients, far more than the 16-slot table holds, evicts
//!   no logged-in session (their login forms store nothing: each gets a
//!   pre-session cookie and no session), and the firmware keeps answering
//!   without a fault.
//! - A panic, a hard fault and a stack overflow each end QEMU with a
//!   non-zero status and a readable message, instead of a hang.
#![allow(missing_docs, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::qemu::{BOOT_TIMEOUT, QemuMachine, free_port, image};

/// The firmware's session table.
const CAPACITY: usize = 16;
/// How long after an ordinary change its snapshot is surely in flash: the
/// firmware's coalescing delay (5 s) plus room for the write on a busy machine.
const SNAPSHOT_WINDOW: Duration = Duration::from_secs(8);
/// How long after a login or logout its snapshot is surely in flash: one
/// write, with room for a busy machine.
const URGENT_WINDOW: Duration = Duration::from_secs(1);

fn firmware_image() -> PathBuf {
    image("examples/boards/mps2-an386", "mps2-an386")
}

/// Boots the firmware over the flash file `dir/flash.bin` with the
/// emulator's test knobs `args`, and waits until it answers HTTP.
async fn boot(dir: &Path, args: &[&str]) -> QemuMachine {
    let mut all = vec!["--flash", "flash.bin"];
    all.extend_from_slice(args);
    let machine = QemuMachine::start(&firmware_image(), dir, &all, &[(80, free_port())]);
    machine.expect_line("firmware: serving", BOOT_TIMEOUT);
    // QEMU accepts on the host port before the guest listens; `/me` without
    // a cookie stores nothing.
    for _ in 0..400 {
        if let Ok(r) = Request::get("/me").send(machine.addr(80)).await {
            assert_eq!(r.status, 401, "/me without a cookie");
            return machine;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the firmware does not answer:\n{}", machine.output_text());
}

/// The quoted value that follows `marker` on a page.
fn quoted_after<'p>(page: &'p str, marker: &str) -> Option<&'p str> {
    page.split_once(marker)?.1.split('"').next()
}

/// The value of `<input ... name="csrf" value="…">` on a page.
fn csrf_of(page: &Response) -> String {
    page.input_value("csrf").expect("a CSRF field")
}

/// `data-expires-in` of the page: the session's seconds left.
fn expires_in(page: &str) -> u64 {
    quoted_after(page, "data-expires-in=\"")
        .and_then(|n| n.parse().ok())
        .expect("an expiry in seconds")
}

/// The `sid` cookie a response sets, as `sid=value`.
fn session_cookie(response: &Response) -> String {
    response
        .set_cookies_named("sid")
        .pop()
        .unwrap_or_else(|| panic!("no sid cookie in {response:?}"))
        .pair()
}

/// The `sid-pre` cookie a login form sets, as `sid-pre=value`: what the
/// form's CSRF token is bound to (no session is stored for it).
fn pre_session_cookie(response: &Response) -> String {
    response
        .set_cookies_named("sid-pre")
        .pop()
        .unwrap_or_else(|| panic!("no sid-pre cookie in {response:?}"))
        .pair()
}

/// Logs in as the demo user; returns the new session's cookie.
async fn log_in(addr: SocketAddr) -> String {
    let page = Request::get("/").send(addr).await.expect("GET /");
    assert!(
        page.set_cookies_named("sid").is_empty(),
        "the form stores no session"
    );
    let anonymous = pre_session_cookie(&page);
    let form = format!("username=admin&password=admin&csrf={}", csrf_of(&page));
    let login = Request::post("/login")
        .cookie(&anonymous)
        .form(&form)
        .send(addr)
        .await
        .expect("POST /login");
    assert_eq!(login.status, 303, "logged in: {}", login.text());
    let cookie = session_cookie(&login);
    assert_ne!(cookie, anonymous, "a new id at login");
    cookie
}

async fn me(addr: SocketAddr, cookie: &str) -> Response {
    Request::get("/me")
        .cookie(cookie)
        .send(addr)
        .await
        .expect("GET /me")
}

#[tokio::test]
async fn a_login_survives_a_power_cut_with_its_remaining_lifetime() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The absolute lifetime (60 s) ends the session before the idle one.
    let knobs = ["--absolute-lifetime", "60", "--idle-timeout", "600"];
    let mut machine = boot(dir.path(), &knobs).await;
    let addr = machine.addr(80);
    let cookie = log_in(addr).await;
    assert_eq!(me(addr, &cookie).await.text(), "admin");
    // Ten seconds on, a visit changes the session; its snapshot (written
    // after the coalescing delay) holds at most 50 s of lifetime left.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let visit = Request::get("/").cookie(&cookie).send(addr).await;
    assert_eq!(visit.expect("GET /").status, 200);
    tokio::time::sleep(SNAPSHOT_WINDOW).await;
    machine.kill();

    let machine = boot(dir.path(), &knobs).await;
    assert!(
        machine.output_text().contains("sessions: 1 restored"),
        "the snapshot was restored:\n{}",
        machine.output_text()
    );
    let after = me(machine.addr(80), &cookie).await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (200, "admin"),
        "still logged in after the power cut"
    );
    let page = Request::get("/")
        .cookie(&cookie)
        .send(machine.addr(80))
        .await
        .expect("GET /");
    let page = page.text();
    assert!(
        page.contains("Signed in as <strong>admin</strong>"),
        "{page}"
    );
    assert!(
        page.contains("Visits this session</p><p class=\"count\">2<"),
        "{page}"
    );
    // A restore that reset the lifetime would show close to 60 s again.
    let left = expires_in(&page);
    assert!(
        left <= 50 && left > 0,
        "{left} s left: the remaining lifetime is kept, not reset to 60 s"
    );
}

#[tokio::test]
async fn a_logout_before_the_power_cut_stays_logged_out() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut machine = boot(dir.path(), &[]).await;
    let addr = machine.addr(80);
    let cookie = log_in(addr).await;
    tokio::time::sleep(URGENT_WINDOW).await;

    let page = Request::get("/")
        .cookie(&cookie)
        .send(addr)
        .await
        .expect("GET /");
    let logout = Request::post("/logout")
        .cookie(&cookie)
        .form(&format!("csrf={}", csrf_of(&page)))
        .send(addr)
        .await
        .expect("POST /logout");
    assert_eq!(logout.status, 303, "logged out");
    assert_eq!(me(addr, &cookie).await.status, 401);
    // The bound: one flash write after the logout's response, a power cut
    // cannot bring the session back (an ordinary change would still be
    // waiting out its 5 s coalescing delay here).
    tokio::time::sleep(URGENT_WINDOW).await;
    machine.kill();

    let machine = boot(dir.path(), &[]).await;
    assert_eq!(
        me(machine.addr(80), &cookie).await.status,
        401,
        "the logout held across the power cut"
    );
}

#[tokio::test]
async fn a_flood_of_new_clients_evicts_no_logged_in_session() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut machine = boot(dir.path(), &[]).await;
    let addr = machine.addr(80);
    let cookie = log_in(addr).await;

    // Twenty times the table, none with a cookie, two clients at a time.
    // (QEMU's user network listens on the forwarded port with a backlog of
    // 1: more simultaneous connects lose SYNs in the host's kernel, and the
    // clients retry a second later.)
    let clients = 20 * CAPACITY;
    let mut answered = 0;
    for _ in 0..clients / 2 {
        let batch: Vec<_> = (0..2)
            .map(|_| tokio::spawn(async move { Request::get("/").send(addr).await }))
            .collect();
        for request in batch {
            let response = request.await.expect("joined").expect("an answer");
            assert_eq!(response.status, 200, "{}", response.text());
            assert!(
                response.set_cookies_named("sid").is_empty(),
                "an anonymous view stores no session"
            );
            answered += 1;
        }
    }
    assert_eq!(answered, clients);
    machine.assert_running();
    let after = me(addr, &cookie).await;
    assert_eq!(
        (after.status, after.text().as_str()),
        (200, "admin"),
        "the logged-in session outlived the flood"
    );
    let output = machine.output_text();
    for bad in ["panicked", "HardFault", "fault"] {
        assert!(!output.contains(bad), "{bad} in the output:\n{output}");
    }
}

/// Boots the firmware with `--crash how` and returns its exit status and
/// output once QEMU has ended by itself.
async fn crash(how: &str) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let elf = firmware_image();
    let mut machine = QemuMachine::start(
        &elf,
        dir.path(),
        &["--flash", "flash.bin", "--crash", how],
        &[(80, free_port())],
    );
    let status = machine
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("--crash {how} hangs:\n{}", machine.output_text()));
    (status, machine.output_text())
}

#[tokio::test]
async fn a_panic_ends_qemu_with_its_location() {
    let (status, output) = crash("panic").await;
    assert!(!status.success(), "non-zero exit:\n{output}");
    assert!(output.contains("panic: "), "{output}");
    assert!(output.contains(".rs:"), "a file and line:\n{output}");
}

#[tokio::test]
async fn a_hard_fault_ends_qemu_with_its_location() {
    let (status, output) = crash("fault").await;
    assert!(!status.success(), "non-zero exit:\n{output}");
    assert!(output.contains("BusFault"), "{output}");
    assert!(output.contains("pc="), "the faulting address:\n{output}");
}

#[tokio::test]
async fn a_stack_overflow_ends_qemu_with_a_message() {
    let (status, output) = crash("stack").await;
    assert!(!status.success(), "non-zero exit:\n{output}");
    assert!(output.contains("stack overflow"), "{output}");
}

/// Issue 16 on the real image: the session list as HTML and JSON (with
/// wall-clock times learned from the host), a revocation that reaches
/// flash at once and survives a power cut, and the image's stack through
/// the list's routes.
#[tokio::test]
async fn a_revoked_session_stays_revoked_after_a_power_cut() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut machine = boot(dir.path(), &[]).await;
    let addr = machine.addr(80);
    let kept = log_in(addr).await;
    let revoked = log_in(addr).await;

    let json = Request::get("/sessions.json")
        .cookie(&kept)
        .send(addr)
        .await
        .expect("GET /sessions.json");
    assert_eq!(json.status, 200, "{}", json.text());
    let text = json.text();
    assert_eq!(text.matches("\"tag\":").count(), 2, "{text}");
    assert!(text.contains("\"current\":true"), "{text}");
    // The image learns the date from the host through semihosting.
    assert!(!text.contains("\"created_at\":\"1970-"), "{text}");
    let page = Request::get("/sessions")
        .cookie(&kept)
        .send(addr)
        .await
        .expect("GET /sessions");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("this device"), "{}", page.text());
    let others = Request::post("/sessions/revoke-others")
        .cookie(&kept)
        .form(&format!("csrf={}", csrf_of(&page)))
        .send(addr)
        .await
        .expect("POST /sessions/revoke-others");
    assert_eq!(others.status, 303);
    assert_eq!(me(addr, &revoked).await.status, 401);
    tokio::time::sleep(URGENT_WINDOW).await;
    machine.kill();

    let machine = boot(dir.path(), &[]).await;
    let addr = machine.addr(80);
    assert_eq!(me(addr, &revoked).await.status, 401, "still revoked");
    assert_eq!(me(addr, &kept).await.status, 200, "the other one stays");
    let json = Request::get("/sessions.json")
        .cookie(&kept)
        .send(addr)
        .await
        .expect("GET /sessions.json");
    assert_eq!(
        json.text().matches("\"tag\":").count(),
        1,
        "{}",
        json.text()
    );
}
