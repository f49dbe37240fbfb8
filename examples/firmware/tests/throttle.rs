//! Login throttling and provisioned credentials, over a real embassy-net
//! TCP/IP stack in one process (as `login.rs`). Each test serves
//! [`firmware::router_with_login`] with a [`Login`] of its own, so that its
//! counts are its own, and waits on embassy-time's real clock (short waits).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod common;

use embassy_net::Stack;
use embassy_time::Timer;
use firmware::login::{DEVICE_POLICY, USER_POLICY};
use firmware::{AppSessions, Credentials, Login, PORT};
use sesh::Duration;
use sesh::throttle::ThrottlePolicy;
use sesh_tests::http::client::Response;
use sesh_tests::http::embassy_client::Client;
use static_cell::StaticCell;

use common::{TestRng, boot};

/// Waits of 300 ms, 600 ms, … per user; the device's default policy.
const SHORT: ThrottlePolicy = USER_POLICY.with_base_delay(Duration::from_millis(300));

fn run<F: Future<Output = ()>>(
    sessions: &'static AppSessions<TestRng>,
    login: &'static Login,
    scenario: impl FnOnce(Client<'static>) -> F + Send,
) {
    common::run_with(move |stack| workers(stack, sessions, login), scenario);
}

async fn worker(
    id: usize,
    stack: Stack<'static>,
    sessions: &'static AppSessions<TestRng>,
    login: &'static Login,
) {
    let app = firmware::router_with_login(sessions, login);
    let (mut rx, mut tx, mut http) = ([0u8; 1024], [0u8; 2048], [0u8; 2048]);
    picoserve::Server::new(&app, &firmware::SERVER_CONFIG, &mut http)
        .listen_and_serve(id, stack, PORT, &mut rx, &mut tx)
        .await;
}

async fn workers(
    stack: Stack<'static>,
    sessions: &'static AppSessions<TestRng>,
    login: &'static Login,
) {
    embassy_futures::join::join(
        worker(0, stack, sessions, login),
        worker(1, stack, sessions, login),
    )
    .await;
}

async fn try_login(client: &mut Client<'_>, token: &str, user: &str, password: &str) -> Response {
    client
        .post_form(
            "/login",
            &[("username", user), ("password", password), ("csrf", token)],
        )
        .await
        .unwrap()
}

async fn form(client: &mut Client<'_>) -> (Response, String) {
    let page = client.get("/").await.unwrap();
    assert_eq!(page.status, 200);
    let token = page.input_value("csrf").expect("a CSRF field");
    (page, token)
}

/// Issue 14, finding 3, on the firmware: after three wrong passwords the
/// right one is answered 429 with `Retry-After` and does not sign in; after
/// the wait it does.
#[test]
fn after_three_failures_even_the_right_password_gets_429() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    static LOGIN: Login = Login::with_policies(Credentials::DEMO, SHORT, DEVICE_POLICY);
    let sessions = boot(&SESSIONS, 21);
    run(sessions, &LOGIN, |mut client| async move {
        let (_, token) = form(&mut client).await;
        for _ in 0..3 {
            let answer = try_login(&mut client, &token, "admin", "guess").await;
            assert_eq!(answer.status, 401);
        }
        for password in ["admin", "guess", "admin"] {
            let answer = try_login(&mut client, &token, "admin", password).await;
            assert_eq!(answer.status, 429, "{password}");
            assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
            assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
            assert!(
                answer
                    .text()
                    .contains("Too many failed attempts. Try again in 1 s."),
                "{}",
                answer.text()
            );
            assert_eq!(answer.input_value("csrf").as_deref(), Some(token.as_str()));
            assert_eq!(
                answer.header_all("set-cookie"),
                Vec::<String>::new(),
                "not signed in"
            );
            assert_eq!(client.get("/me").await.unwrap().status, 401);
        }
        Timer::after_millis(350).await;
        let answer = try_login(&mut client, &token, "admin", "admin").await;
        assert_eq!(answer.status, 303);
        assert_eq!(client.get("/me").await.unwrap().status, 200);
    });
}

/// Made-up names share one count, which does not hold the account back;
/// and the device as a whole waits once its free attempts are used up.
#[test]
fn other_names_share_a_count_and_the_device_has_one() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    static LOGIN: Login = Login::with_policies(
        Credentials::DEMO,
        SHORT,
        DEVICE_POLICY.with_free_failures(5),
    );
    let sessions = boot(&SESSIONS, 22);
    run(sessions, &LOGIN, |mut client| async move {
        let (_, token) = form(&mut client).await;
        for n in 0..3 {
            let answer = try_login(&mut client, &token, &format!("user{n}"), "x").await;
            assert_eq!(answer.status, 401, "user{n}");
        }
        let answer = try_login(&mut client, &token, "root", "x").await;
        assert_eq!(answer.status, 429, "made-up names share a count");
        // The account's own count is untouched: two wrong passwords.
        for _ in 0..2 {
            assert_eq!(
                try_login(&mut client, &token, "admin", "x").await.status,
                401
            );
        }
        // Five counted on the device: it waits now, whatever the name.
        let answer = try_login(&mut client, &token, "admin", "admin").await;
        assert_eq!(answer.status, 429, "the device waits");
        assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
        Timer::after_millis(1_050).await;
        assert_eq!(
            try_login(&mut client, &token, "admin", "admin")
                .await
                .status,
            303
        );
    });
}

/// A provisioned account replaces the demo one: admin/admin no longer
/// signs in, and the page no longer offers it.
#[test]
fn provisioned_credentials_replace_the_demo_account() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    static LOGIN: Login = Login::new(Credentials::DEMO);
    const PHC: &str =
        "$pbkdf2-sha256$i=100$c29tZSBzYWx0IGJ5dGVz$BFzZHiRLagcwt6BguuXViyLML/L/uD3XwUvXu6a58+o";
    let root = Credentials::from_phc("root", PHC).unwrap();
    let sessions = boot(&SESSIONS, 23);
    run(sessions, &LOGIN, |mut client| async move {
        let (page, _) = form(&mut client).await;
        assert!(page.text().contains("Demo account: admin / admin"));
        LOGIN.provision(root);
        let (page, token) = form(&mut client).await;
        assert!(!page.text().contains("Demo account"), "{}", page.text());
        assert_eq!(
            try_login(&mut client, &token, "admin", "admin")
                .await
                .status,
            401
        );
        assert_eq!(
            try_login(&mut client, &token, "root", "admin").await.status,
            401
        );
        assert_eq!(
            try_login(&mut client, &token, "root", "s3cret")
                .await
                .status,
            303
        );
        assert_eq!(client.get("/me").await.unwrap().text(), "root");
    });
}
