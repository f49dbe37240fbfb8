//! The login demo over real HTTP/1.1 on loopback, on an ephemeral port. The
//! client keeps no cookies and follows no redirects: each test sends the
//! `Cookie` header itself and sees every 303.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use login::{Credentials, Options, StoreSpec};
use reqwest::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE, X_FRAME_OPTIONS,
};
use reqwest::{Client, StatusCode};
use sesh::throttle::ThrottlePolicy;
use sesh_tokio::throttle::LoginThrottle;
use sesh_tokio::{HostClock, MemoryStore, SessionStore};

const SECRET: &[u8] = b"a test secret that is 32 bytes!!";
const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery staple";

struct Server {
    url: String,
    store: Arc<MemoryStore>,
    client: Client,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `sid=…` pair of the only `Set-Cookie`.
    fn cookie(&self) -> String {
        let all = self.set_cookies();
        assert_eq!(all.len(), 1, "{all:?}");
        let pair = all[0].split(';').next().unwrap().to_owned();
        assert!(pair.starts_with("sid=") && pair.len() == 4 + 45, "{pair}");
        pair
    }

    /// The `sid-pre=…` pair of the only `Set-Cookie`: the pre-session
    /// cookie a form's token is bound to while nothing is stored.
    fn pre_cookie(&self) -> String {
        let all = self.set_cookies();
        assert_eq!(all.len(), 1, "{all:?}");
        let pair = all[0].split(';').next().unwrap().to_owned();
        assert!(
            pair.starts_with("sid-pre=") && pair.len() == 8 + 22,
            "{pair}"
        );
        pair
    }

    /// The value of the hidden `csrf` field: 22 characters for a session's
    /// token, 32 for an anonymous form's.
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let (_, rest) = self
            .body
            .split_once(marker)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let (token, _) = rest.split_once('"').unwrap();
        let token = token.to_owned();
        assert!(token.len() == 22 || token.len() == 32, "{token}");
        token
    }

    fn header(&self, name: reqwest::header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn start() -> Server {
    start_with(LoginThrottle::new().unwrap()).await
}

/// A server counting login attempts in `throttle`.
async fn start_with(throttle: LoginThrottle) -> Server {
    let store = Arc::new(MemoryStore::default());
    let options = Options {
        secret: SECRET.to_vec(),
        secure_cookies: false,
        credentials: Credentials::new(USER, PASSWORD).unwrap(),
        store: StoreSpec::Memory,
        idle_timeout: None,
    };
    let app = login::app(
        login::layer(store.clone(), &options).unwrap(),
        options.credentials,
        throttle,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            panic!("server failed: {e}");
        }
    });
    let client = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Server {
        url: format!("http://{addr}"),
        store,
        client,
    }
}

impl Server {
    async fn answer(response: reqwest::Response) -> Answer {
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            request = request.header(COOKIE, c);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        self.post_from(&self.client, path, cookie, form).await
    }

    /// [`post`](Self::post) with another client (another source address).
    async fn post_from(
        &self,
        client: &Client,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = client.post(format!("{}{path}", self.url)).form(form);
        if let Some(c) = cookie {
            request = request.header(COOKIE, c);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    /// Sessions in the store.
    async fn sessions(&self) -> usize {
        self.store.occupancy().await.unwrap().unwrap().sessions
    }

    /// Fetches the form as a new visitor: its pre-session cookie and CSRF token.
    async fn form(&self) -> (String, String) {
        let form = self.get("/", None).await;
        assert_eq!(form.status, StatusCode::OK);
        (form.pre_cookie(), form.csrf())
    }

    /// Signs in from the form (its pre-session cookie); returns the session cookie.
    async fn sign_in(&self, cookie: &str, csrf: &str) -> String {
        let answer = self
            .post(
                "/login",
                Some(cookie),
                &[("username", USER), ("password", PASSWORD), ("csrf", csrf)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header(LOCATION), Some("/"));
        answer.cookie()
    }
}

/// Issue 14, finding 1: the form of an anonymous visitor stores nothing; its
/// token is bound to the pre-session cookie.
#[tokio::test]
async fn the_form_carries_a_csrf_token_and_a_cookie() {
    let server = start().await;
    let form = server.get("/", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.header(CONTENT_TYPE).unwrap().starts_with("text/html"),
        "{:?}",
        form.headers
    );
    assert!(
        form.body
            .contains(r#"<form method="post" action="/login">"#)
    );
    assert!(form.body.contains(r#"name="username""#) && form.body.contains(r#"name="password""#));
    assert_eq!(form.csrf().len(), 32, "an anonymous form's token");
    assert_eq!(
        form.set_cookies()[0]
            .split_once(';')
            .map(|(_, attributes)| attributes),
        Some(" Path=/; Max-Age=1800; HttpOnly; SameSite=Lax")
    );
    form.pre_cookie();
    assert_eq!(
        form.header(reqwest::header::CACHE_CONTROL),
        Some("no-store")
    );
    assert_eq!(
        form.header(CONTENT_SECURITY_POLICY),
        Some("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    );
    assert_eq!(form.header(X_FRAME_OPTIONS), Some("DENY"));
    assert_eq!(
        server.sessions().await,
        0,
        "an anonymous form stores nothing"
    );

    // The same browser keeps its pre-session (sent again, so that it lives
    // as long as the new token), and either token signs in.
    let (cookie, csrf) = (form.pre_cookie(), form.csrf());
    let again = server.get("/", Some(&cookie)).await;
    assert_eq!(again.pre_cookie(), cookie);
    assert_eq!(again.csrf().len(), 32);
    assert_eq!(server.sessions().await, 0);
    server.sign_in(&cookie, &csrf).await;
    assert_eq!(server.sessions().await, 1, "the login's session alone");
}

#[tokio::test]
async fn login_without_a_valid_csrf_token_is_forbidden() {
    let server = start().await;
    let (cookie, csrf) = server.form().await;
    let right = [("username", USER), ("password", PASSWORD)];

    // No token at all.
    let answer = server.post("/login", Some(&cookie), &right).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // A wrong token.
    let wrong = "A".repeat(22);
    let answer = server
        .post(
            "/login",
            Some(&cookie),
            &[right[0], right[1], ("csrf", &wrong)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // The right token without its pre-session cookie (a cross-site post from a page that stole it).
    let answer = server
        .post("/login", None, &[right[0], right[1], ("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    // The token with another visitor's pre-session cookie.
    let (other_cookie, _) = server.form().await;
    let answer = server
        .post(
            "/login",
            Some(&other_cookie),
            &[right[0], right[1], ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    assert_eq!(server.sessions().await, 0, "the forms store nothing");
    assert_eq!(
        server.get("/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_credentials_answer_401_and_store_no_session() {
    let server = start().await;
    let (cookie, csrf) = server.form().await;
    assert_eq!(server.sessions().await, 0);

    // Two: a third would leave the next attempt waiting (see below).
    for (user, password) in [(USER, "admin"), ("root", PASSWORD)] {
        let answer = server
            .post(
                "/login",
                Some(&cookie),
                &[("username", user), ("password", password), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(
            answer.body.contains("Wrong user name or password."),
            "{}",
            answer.body
        );
        assert_eq!(
            answer.csrf(),
            csrf,
            "the form comes back, ready for another try"
        );
        assert!(
            answer.set_cookies().is_empty(),
            "{:?}",
            answer.set_cookies()
        );
        assert_eq!(server.sessions().await, 0, "nothing stored");
    }
    assert_eq!(
        server.get("/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The form still works afterwards.
    server.sign_in(&cookie, &csrf).await;
}

#[tokio::test]
async fn user_text_is_escaped() {
    let server = start().await;
    let (cookie, csrf) = server.form().await;
    let answer = server
        .post(
            "/login",
            Some(&cookie),
            &[
                ("username", r#""><script>alert(1)</script>"#),
                ("password", "x"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.body.contains("<script>"), "{}", answer.body);
    assert!(
        answer
            .body
            .contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn login_moves_the_session_to_a_new_id() {
    let server = start().await;
    let (before, csrf) = server.form().await;
    let after = server.sign_in(&before, &csrf).await;
    assert!(before.starts_with("sid-pre=") && after.starts_with("sid="));
    assert_eq!(server.sessions().await, 1, "the login's session alone");

    let me = server.get("/me", Some(&after)).await;
    assert_eq!((me.status, me.body.trim()), (StatusCode::OK, USER));
    let old = server.get("/me", Some(&before)).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.get("/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_status_page_shows_the_session() {
    let server = start().await;
    let (before, old_csrf) = server.form().await;
    let cookie = server.sign_in(&before, &old_csrf).await;
    // Another visitor's form, which stores nothing.
    server.form().await;

    let page = server.get("/", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(USER), "{}", page.body);
    assert!(page.body.contains("1 in this session"), "{}", page.body);
    assert!(page.body.contains(" GMT (in 30 minutes)"), "{}", page.body);
    assert!(
        page.body.contains("1 of 100000 sessions in use"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"action="/logout""#), "{}", page.body);
    assert_ne!(page.csrf(), old_csrf, "the token changes with the id");

    let page = server.get("/", Some(&cookie)).await;
    assert!(page.body.contains("2 in this session"), "{}", page.body);
}

#[tokio::test]
async fn logout_needs_the_token_and_removes_the_cookie() {
    let server = start().await;
    let (before, old_csrf) = server.form().await;
    let cookie = server.sign_in(&before, &old_csrf).await;
    let csrf = server.get("/", Some(&cookie)).await.csrf();

    let answer = server.post("/logout", Some(&cookie), &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let answer = server
        .post("/logout", Some(&cookie), &[("csrf", &old_csrf)])
        .await;
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "the pre-login token is dead"
    );
    assert_eq!(
        server.get("/me", Some(&cookie)).await.status,
        StatusCode::OK
    );

    let answer = server
        .post("/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.header(LOCATION), Some("/"));
    assert_eq!(
        answer.set_cookies(),
        ["sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
    );
    assert_eq!(server.sessions().await, 0);

    // The browser may keep sending the old cookie: it selects nothing.
    assert_eq!(
        server.get("/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = server.get("/", Some(&cookie)).await;
    assert!(page.body.contains(r#"action="/login""#), "{}", page.body);
}

/// A client whose connections come from `source` (any of 127.0.0.0/8 is
/// this machine's loopback).
fn client_from(source: [u8; 4]) -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap()
}

/// Waits of 300 ms, 600 ms, …, so that a test can sit one out.
fn short_waits() -> LoginThrottle {
    LoginThrottle::new().unwrap().with_policy(
        ThrottlePolicy::new().with_base_delay(sesh::Duration::from_millis(300)),
        HostClock::new(),
    )
}

async fn try_login(
    server: &Server,
    client: &Client,
    cookie: &str,
    csrf: &str,
    user: &str,
    password: &str,
) -> Answer {
    server
        .post_from(
            client,
            "/login",
            Some(cookie),
            &[("username", user), ("password", password), ("csrf", csrf)],
        )
        .await
}

/// Issue 14, finding 3: many wrong passwords with one CSRF token, then the
/// right one. After three, every attempt waits, and the right password
/// during the wait does not sign in; once the wait is over it does.
#[tokio::test]
async fn after_three_failures_even_the_right_password_gets_429() {
    let server = start_with(short_waits()).await;
    let (cookie, csrf) = server.form().await;
    for _ in 0..3 {
        let answer = try_login(&server, &server.client, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let mut refused = 0;
    for password in ["guess", PASSWORD, "guess", PASSWORD] {
        let answer = try_login(&server, &server.client, &cookie, &csrf, USER, password).await;
        if answer.status == StatusCode::SEE_OTHER {
            break;
        }
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{password}");
        refused += 1;
        assert_eq!(answer.header(reqwest::header::RETRY_AFTER), Some("1"));
        assert_eq!(
            answer.header(reqwest::header::CACHE_CONTROL),
            Some("no-store")
        );
        assert!(
            answer
                .body
                .contains("Too many failed attempts. Try again in 1 s."),
            "{}",
            answer.body
        );
        assert_eq!(answer.csrf(), csrf, "the form comes back");
        assert!(
            answer.set_cookies().is_empty(),
            "not signed in: no new session id"
        );
        assert_eq!(
            server.get("/me", Some(&cookie)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(refused, 4, "no attempt within the wait is let through");
    assert_eq!(server.sessions().await, 0);

    tokio::time::sleep(std::time::Duration::from_millis(320)).await;
    let cookie = server.sign_in(&cookie, &csrf).await;
    assert_eq!(
        server.get("/me", Some(&cookie)).await.status,
        StatusCode::OK
    );

    // The right password forgot the failures: three more are free again.
    let (cookie, csrf) = server.form().await;
    for _ in 0..3 {
        let answer = try_login(&server, &server.client, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = try_login(&server, &server.client, &cookie, &csrf, USER, "guess").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Failures for one user name from several addresses hold that user back
/// everywhere; another name from a fresh address is not held back, and
/// one address is held back whatever name it tries.
#[tokio::test]
async fn the_user_and_the_address_are_counted_apart() {
    let server = start_with(LoginThrottle::new().unwrap()).await;
    let (cookie, csrf) = server.form().await;
    for n in 2..5 {
        let client = client_from([127, 0, 0, n]);
        let answer = try_login(&server, &client, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "127.0.0.{n}");
    }
    let fresh = client_from([127, 0, 0, 5]);
    let answer = try_login(&server, &fresh, &cookie, &csrf, USER, PASSWORD).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the user waits"
    );
    let answer = try_login(&server, &fresh, &cookie, &csrf, "operator", "guess").await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "another name is not held back"
    );

    let one = client_from([127, 0, 0, 6]);
    for user in ["a", "b", "c"] {
        let answer = try_login(&server, &one, &cookie, &csrf, user, "guess").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = try_login(&server, &one, &cookie, &csrf, "d", "guess").await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address waits"
    );
}

/// Posts without the form's token are refused before they are counted:
/// they cannot hold a user back.
#[tokio::test]
async fn posts_without_a_valid_token_are_not_counted() {
    let server = start().await;
    let (cookie, csrf) = server.form().await;
    for _ in 0..10 {
        let answer = try_login(&server, &server.client, &cookie, "forged", USER, "guess").await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
    }
    server.sign_in(&cookie, &csrf).await;
}

/// A burst of wrong passwords sent at once is counted whole: at most the
/// three free ones are checked.
#[tokio::test]
async fn a_burst_in_flight_at_once_gets_three_checks() {
    let server = Arc::new(start().await);
    let (cookie, csrf) = server.form().await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (server, cookie, csrf) = (server.clone(), cookie.clone(), csrf.clone());
        burst.spawn(async move {
            try_login(&server, &server.client, &cookie, &csrf, USER, "guess")
                .await
                .status
        });
    }
    let statuses = burst.join_all().await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (3, 27), "{statuses:?}");
}
