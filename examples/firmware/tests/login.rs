//! The firmware app over a real embassy-net TCP/IP stack, in one process:
//! picoserve serves on stack A with two workers, and an HTTP/1.1 client
//! speaks to it from stack B across an in-memory link.
//!
//! Each test has its own `static` session table, its own pair of stacks and
//! a deterministic RNG (ChaCha20 from a fixed seed, for tests only: a device
//! seeds from its TRNG).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod common;

use firmware::{AppSessions, CAPACITY};
use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::embassy_client::Client;
use static_cell::StaticCell;

use common::{TestRng, boot, csrf, run};

/// The number on the page's counter.
fn visits(page: &Response) -> u32 {
    let text = page.text();
    let after = text.split("<p class=\"count\">").nth(1).expect("a counter");
    after.split('<').next().unwrap().parse().unwrap()
}

/// GET / for the form, then POST /login as admin. Returns the login answer.
async fn log_in(client: &mut Client<'_>) -> Response {
    let page = client.get("/").await.unwrap();
    assert_eq!(page.status, 200);
    let token = csrf(&page);
    client
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", "admin"),
                ("csrf", &token),
            ],
        )
        .await
        .unwrap()
}

#[test]
fn login_counter_logout() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 1);
    run(sessions, |mut client| async move {
        // Logged out: the form, with a token bound to a new pre-session
        // cookie; nothing is stored (issue 14, finding 1).
        let page = client.get("/").await.unwrap();
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert!(page.text().contains("action=\"/login\""));
        assert!(!page.text().contains("Signed in"));
        // Sent by the handler, and again by sesh-embassy as it sets a cookie.
        let cache = page.header_all("cache-control");
        assert!(
            !cache.is_empty() && cache.iter().all(|v| v == "no-store"),
            "{cache:?}"
        );
        let set_cookie = page.header("set-cookie").unwrap();
        assert!(set_cookie.starts_with("sid-pre="), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
        assert_eq!(visits(&page), 0, "an anonymous view counts nothing");
        let anonymous = client.cookie("sid-pre").unwrap().to_owned();
        assert_eq!(client.cookie("sid"), None);
        assert_eq!(sessions.occupancy().await.0, 0);
        assert_eq!(client.get("/me").await.unwrap().status, 401);

        let token = csrf(&page);
        let answer = client
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", "admin"),
                    ("csrf", &token),
                ],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 303);
        assert_eq!(answer.header("location").as_deref(), Some("/"));
        let logged_in = client.cookie("sid").unwrap().to_owned();
        assert_eq!(sessions.occupancy().await.0, 1);

        let me = client.get("/me").await.unwrap();
        assert_eq!((me.status, me.text().as_str()), (200, "admin"));

        let mut last = None;
        for expected in 1..=3 {
            let page = client.get("/").await.unwrap();
            assert_eq!(page.status, 200);
            assert!(page.text().contains("Signed in as <strong>admin</strong>"));
            assert!(page.text().contains("action=\"/logout\""));
            assert_eq!(visits(&page), expected);
            last = Some(page);
        }

        // The pre-session cookie names no session.
        let mut attacker = client.another();
        attacker.jar.set("sid-pre", &anonymous);
        assert_eq!(attacker.get("/me").await.unwrap().status, 401);

        let token = csrf(&last.unwrap());
        let answer = client
            .post_form("/logout", &[("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(answer.status, 303);
        assert_eq!(answer.header("location").as_deref(), Some("/"));
        let removal = answer.header("set-cookie").unwrap();
        assert!(
            removal.starts_with("sid=") && removal.contains("Max-Age=0"),
            "{removal}"
        );
        assert_eq!(client.cookie("sid"), None);

        assert_eq!(client.get("/me").await.unwrap().status, 401);
        // The old cookie, replayed, no longer names a session.
        client.jar.set("sid", &logged_in);
        assert_eq!(client.get("/me").await.unwrap().status, 401);
    });
}

#[test]
fn forged_cookies_are_refused() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 2);
    run(sessions, |mut client| async move {
        assert_eq!(log_in(&mut client).await.status, 303);
        let real = client.cookie("sid").unwrap().to_owned();
        assert_eq!(client.get("/me").await.unwrap().status, 200);

        let (id, tag) = real.split_once('.').expect("a signed cookie");
        let mut flipped = tag.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let forged = [
            String::from("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"),
            format!("{id}.{}", String::from_utf8(flipped).unwrap()),
            id.to_owned(),
            format!("{id}."),
            String::from("not-a-cookie"),
        ];
        let mut attacker = client.another();
        for value in &forged {
            attacker.jar.set("sid", value);
            let me = attacker.get("/me").await.unwrap();
            assert_eq!(me.status, 401, "forged cookie {value:?} was accepted");
        }
        // Another cookie beside the real one does not matter...
        let mut beside = client.another();
        beside.jar.set("theme", "dark");
        beside.jar.set("sid", &real);
        assert_eq!(beside.get("/me").await.unwrap().status, 200);
        // ...but two `sid` cookies, one real, are ambiguous: no session.
        let request = Request::get("/me").cookie(format!("sid={real}; sid={}", forged[0]));
        let me = client.send_raw(&request).await.unwrap();
        assert_eq!(me.status, 401);

        // The real one still works.
        assert_eq!(client.get("/me").await.unwrap().status, 200);
    });
}

#[test]
fn csrf_and_credentials_are_checked() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 3);
    run(sessions, |mut client| async move {
        // No form was served, so no token can verify.
        let answer = client
            .post_form(
                "/login",
                &[("username", "admin"), ("password", "admin"), ("csrf", "x")],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 403);
        assert_eq!(answer.header_all("set-cookie"), Vec::<String>::new());
        assert_eq!(sessions.occupancy().await.0, 0);

        let page = client.get("/").await.unwrap();
        let token = csrf(&page);
        let cookie = client.cookie("sid-pre").unwrap().to_owned();
        assert_eq!(sessions.occupancy().await.0, 0, "the form stores nothing");

        // A token from elsewhere is refused.
        let answer = client
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", "admin"),
                    ("csrf", "AAAAAAAAAAAAAAAAAAAAAA"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 403);

        // Wrong password: 401, the form again with an error and the same
        // token; nothing set, nothing stored.
        let answer = client
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", "wrong"),
                    ("csrf", &token),
                ],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 401);
        assert!(answer.text().contains("Wrong user name or password."));
        assert!(answer.text().contains("action=\"/login\""));
        assert_eq!(csrf(&answer), token);
        assert_eq!(answer.header_all("set-cookie"), Vec::<String>::new());
        assert_eq!(client.cookie("sid-pre"), Some(cookie.as_str()));
        assert_eq!(client.cookie("sid"), None);
        assert_eq!(sessions.occupancy().await.0, 0);
        assert_eq!(client.get("/me").await.unwrap().status, 401);

        // Wrong user, and markup in the user name, are just wrong.
        let answer = client
            .post_form(
                "/login",
                &[
                    ("username", "<b>admin"),
                    ("password", "admin"),
                    ("csrf", &token),
                ],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 401);
        assert!(!answer.text().contains("<b>"));

        // Logged in, a logout with the form's token from before is refused.
        assert_eq!(log_in(&mut client).await.status, 303);
        let answer = client
            .post_form("/logout", &[("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(answer.status, 403);
        assert_eq!(client.get("/me").await.unwrap().status, 200);
    });
}

/// Issue 14, finding 1: a flood of cookie-less visitors (20 requests used
/// to lock out a pending login form) stores nothing, so it neither evicts
/// anyone nor breaks a form that is open.
#[test]
fn anonymous_flood_keeps_the_login() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 4);
    run(sessions, |mut client| async move {
        assert_eq!(log_in(&mut client).await.status, 303);
        assert_eq!(visits(&client.get("/").await.unwrap()), 1);
        // A second browser with the login form open.
        let mut pending = client.another();
        let form = pending.get("/").await.unwrap();
        let token = csrf(&form);

        // Three tables' worth of cookie-less visitors: none stores anything.
        for _ in 0..3 * CAPACITY {
            let mut visitor = client.another();
            let page = visitor.get("/").await.unwrap();
            assert_eq!(page.status, 200);
            assert_eq!(visits(&page), 0);
            assert!(visitor.cookie("sid").is_none());
            assert!(visitor.cookie("sid-pre").is_some());
        }
        assert_eq!(sessions.occupancy().await.0, 1, "only the login");

        let me = client.get("/me").await.unwrap();
        assert_eq!((me.status, me.text().as_str()), (200, "admin"));
        assert_eq!(visits(&client.get("/").await.unwrap()), 2);

        // The pending form still signs in.
        let answer = pending
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", "admin"),
                    ("csrf", &token),
                ],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 303);
        assert_eq!(pending.get("/me").await.unwrap().status, 200);
        assert_eq!(sessions.occupancy().await.0, 2);
    });
}
