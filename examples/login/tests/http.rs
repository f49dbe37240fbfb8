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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use login::{Credentials, Options, StoreSpec};
use sesh::SessionId;
use sesh::owner::{DisplayTag, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::throttle::ThrottlePolicy;
use sesh_tests::http::client::{Connection, Request, Response};
use sesh_tokio::throttle::LoginThrottle;
use sesh_tokio::{HostClock, MemoryStore, SessionStore};

const SECRET: &[u8] = b"a test secret that is 32 bytes!!";
const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery staple";

struct Server {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
}

/// What these tests read off the login app's answers.
trait Page {
    /// The `sid=…` pair of the only `Set-Cookie`.
    fn cookie(&self) -> String;
    /// The `sid-pre=…` pair of the only `Set-Cookie`: the pre-session
    /// cookie a form's token is bound to while nothing is stored.
    fn pre_cookie(&self) -> String;
    /// The value of the hidden `csrf` field: 22 characters for a session's
    /// token, 32 for an anonymous form's.
    fn csrf(&self) -> String;
}

impl Page for Response {
    fn cookie(&self) -> String {
        let all = self.set_cookies();
        assert_eq!(all.len(), 1, "{all:?}");
        let pair = all[0].pair();
        assert!(pair.starts_with("sid=") && pair.len() == 4 + 45, "{pair}");
        pair
    }

    fn pre_cookie(&self) -> String {
        let all = self.set_cookies();
        assert_eq!(all.len(), 1, "{all:?}");
        let pair = all[0].pair();
        assert!(
            pair.starts_with("sid-pre=") && pair.len() == 8 + 22,
            "{pair}"
        );
        pair
    }

    fn csrf(&self) -> String {
        let token = self
            .input_value("csrf")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.text()));
        assert!(token.len() == 22 || token.len() == 32, "{token}");
        token
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
        max_sessions: None,
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
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            panic!("server failed: {e}");
        }
    });
    Server { addr, store }
}

impl Server {
    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let request = Request::get(path).maybe_cookie(cookie);
        request.send(self.addr).await.unwrap()
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Response {
        self.post_from(None, path, cookie, form).await
    }

    /// [`post`](Self::post) from another source address (`None`: the
    /// default one).
    async fn post_from(
        &self,
        source: Option<IpAddr>,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response {
        let request = Request::post(path).form_fields(form).maybe_cookie(cookie);
        let connection = match source {
            Some(source) => Connection::open_from(self.addr, source).await,
            None => Connection::open(self.addr).await,
        };
        connection.unwrap().send(&request).await.unwrap()
    }

    /// Sessions in the store.
    async fn sessions(&self) -> usize {
        self.store.occupancy().await.unwrap().unwrap().sessions
    }

    /// Fetches the form as a new visitor: its pre-session cookie and CSRF token.
    async fn form(&self) -> (String, String) {
        let form = self.get("/", None).await;
        assert_eq!(form.status, 200);
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
        assert_eq!(answer.status, 303, "{}", answer.text());
        assert_eq!(answer.header("location").as_deref(), Some("/"));
        answer.cookie()
    }
}

/// Issue 14, finding 1: the form of an anonymous visitor stores nothing; its
/// token is bound to the pre-session cookie.
#[tokio::test]
async fn the_form_carries_a_csrf_token_and_a_cookie() {
    let server = start().await;
    let form = server.get("/", None).await;
    assert_eq!(form.status, 200);
    assert!(
        form.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        form.headers
    );
    assert!(
        form.text()
            .contains(r#"<form method="post" action="/login">"#)
    );
    assert!(
        form.text().contains(r#"name="username""#) && form.text().contains(r#"name="password""#)
    );
    assert_eq!(form.csrf().len(), 32, "an anonymous form's token");
    assert_eq!(
        form.header_all("set-cookie")[0]
            .split_once(';')
            .map(|(_, attributes)| attributes),
        Some(" Path=/; Max-Age=1800; HttpOnly; SameSite=Lax")
    );
    form.pre_cookie();
    assert_eq!(form.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        form.header("content-security-policy").as_deref(),
        Some("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    );
    assert_eq!(form.header("x-frame-options").as_deref(), Some("DENY"));
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
    assert_eq!(answer.status, 403);
    // A wrong token.
    let wrong = "A".repeat(22);
    let answer = server
        .post(
            "/login",
            Some(&cookie),
            &[right[0], right[1], ("csrf", &wrong)],
        )
        .await;
    assert_eq!(answer.status, 403);
    // The right token without its pre-session cookie (a cross-site post from a page that stole it).
    let answer = server
        .post("/login", None, &[right[0], right[1], ("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.header_all("set-cookie").is_empty(),
        "{:?}",
        answer.header_all("set-cookie")
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
    assert_eq!(answer.status, 403);

    assert_eq!(server.sessions().await, 0, "the forms store nothing");
    assert_eq!(server.get("/me", Some(&cookie)).await.status, 401);
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
        assert_eq!(answer.status, 401);
        assert!(
            answer.text().contains("Wrong user name or password."),
            "{}",
            answer.text()
        );
        assert_eq!(
            answer.csrf(),
            csrf,
            "the form comes back, ready for another try"
        );
        assert!(
            answer.header_all("set-cookie").is_empty(),
            "{:?}",
            answer.header_all("set-cookie")
        );
        assert_eq!(server.sessions().await, 0, "nothing stored");
    }
    assert_eq!(server.get("/me", Some(&cookie)).await.status, 401);
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
    assert_eq!(answer.status, 401);
    assert!(!answer.text().contains("<script>"), "{}", answer.text());
    assert!(
        answer
            .text()
            .contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        answer.text()
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
    assert_eq!((me.status, me.text().trim()), (200, USER));
    let old = server.get("/me", Some(&before)).await;
    assert_eq!(old.status, 401);
    assert_eq!(server.get("/me", None).await.status, 401);
}

#[tokio::test]
async fn the_status_page_shows_the_session() {
    let server = start().await;
    let (before, old_csrf) = server.form().await;
    let cookie = server.sign_in(&before, &old_csrf).await;
    // Another visitor's form, which stores nothing.
    server.form().await;

    let page = server.get("/", Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains(USER), "{}", page.text());
    assert!(page.text().contains("1 in this session"), "{}", page.text());
    assert!(
        page.text().contains(" GMT (in 30 minutes)"),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains("1 of 100000 sessions in use"),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains(r#"action="/logout""#),
        "{}",
        page.text()
    );
    assert_ne!(page.csrf(), old_csrf, "the token changes with the id");

    let page = server.get("/", Some(&cookie)).await;
    assert!(page.text().contains("2 in this session"), "{}", page.text());
}

#[tokio::test]
async fn logout_needs_the_token_and_removes_the_cookie() {
    let server = start().await;
    let (before, old_csrf) = server.form().await;
    let cookie = server.sign_in(&before, &old_csrf).await;
    let csrf = server.get("/", Some(&cookie)).await.csrf();

    let answer = server.post("/logout", Some(&cookie), &[]).await;
    assert_eq!(answer.status, 403);
    let answer = server
        .post("/logout", Some(&cookie), &[("csrf", &old_csrf)])
        .await;
    assert_eq!(answer.status, 403, "the pre-login token is dead");
    assert_eq!(server.get("/me", Some(&cookie)).await.status, 200);

    let answer = server
        .post("/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location").as_deref(), Some("/"));
    assert_eq!(
        answer.header_all("set-cookie"),
        ["sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
    );
    assert_eq!(server.sessions().await, 0);

    // The browser may keep sending the old cookie: it selects nothing.
    assert_eq!(server.get("/me", Some(&cookie)).await.status, 401);
    let page = server.get("/", Some(&cookie)).await;
    assert!(
        page.text().contains(r#"action="/login""#),
        "{}",
        page.text()
    );
}

/// A client whose connections come from `source` (any of 127.0.0.0/8 is
/// this machine's loopback).
fn client_from(source: [u8; 4]) -> Option<IpAddr> {
    Some(IpAddr::from(source))
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
    client: Option<IpAddr>,
    cookie: &str,
    csrf: &str,
    user: &str,
    password: &str,
) -> Response {
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
        let answer = try_login(&server, None, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, 401);
    }
    let mut refused = 0;
    for password in ["guess", PASSWORD, "guess", PASSWORD] {
        let answer = try_login(&server, None, &cookie, &csrf, USER, password).await;
        if answer.status == 303 {
            break;
        }
        assert_eq!(answer.status, 429, "{password}");
        refused += 1;
        assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
        assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
        assert!(
            answer
                .text()
                .contains("Too many failed attempts. Try again in 1 s."),
            "{}",
            answer.text()
        );
        assert_eq!(answer.csrf(), csrf, "the form comes back");
        assert!(
            answer.header_all("set-cookie").is_empty(),
            "not signed in: no new session id"
        );
        assert_eq!(server.get("/me", Some(&cookie)).await.status, 401);
    }
    assert_eq!(refused, 4, "no attempt within the wait is let through");
    assert_eq!(server.sessions().await, 0);

    tokio::time::sleep(std::time::Duration::from_millis(320)).await;
    let cookie = server.sign_in(&cookie, &csrf).await;
    assert_eq!(server.get("/me", Some(&cookie)).await.status, 200);

    // The right password forgot the failures: three more are free again.
    let (cookie, csrf) = server.form().await;
    for _ in 0..3 {
        let answer = try_login(&server, None, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, 401);
    }
    let answer = try_login(&server, None, &cookie, &csrf, USER, "guess").await;
    assert_eq!(answer.status, 429);
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
        let answer = try_login(&server, client, &cookie, &csrf, USER, "guess").await;
        assert_eq!(answer.status, 401, "127.0.0.{n}");
    }
    let fresh = client_from([127, 0, 0, 5]);
    let answer = try_login(&server, fresh, &cookie, &csrf, USER, PASSWORD).await;
    assert_eq!(answer.status, 429, "the user waits");
    let answer = try_login(&server, fresh, &cookie, &csrf, "operator", "guess").await;
    assert_eq!(answer.status, 401, "another name is not held back");

    let one = client_from([127, 0, 0, 6]);
    for user in ["a", "b", "c"] {
        let answer = try_login(&server, one, &cookie, &csrf, user, "guess").await;
        assert_eq!(answer.status, 401);
    }
    let answer = try_login(&server, one, &cookie, &csrf, "d", "guess").await;
    assert_eq!(answer.status, 429, "the address waits");
}

/// Posts without the form's token are refused before they are counted:
/// they cannot hold a user back.
#[tokio::test]
async fn posts_without_a_valid_token_are_not_counted() {
    let server = start().await;
    let (cookie, csrf) = server.form().await;
    for _ in 0..10 {
        let answer = try_login(&server, None, &cookie, "forged", USER, "guess").await;
        assert_eq!(answer.status, 403);
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
            try_login(&server, None, &cookie, &csrf, USER, "guess")
                .await
                .status
        });
    }
    let statuses = burst.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (3, 27), "{statuses:?}");
}

// Issue 16: remember me, the user's sessions, and revoking them.

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

impl Server {
    /// Signs in as a new visitor from a browser that says `user_agent`,
    /// ticking "remember me" or not; the answer (a 303 with the cookie).
    async fn sign_in_from(&self, user_agent: &str, remember: bool) -> Response {
        let (cookie, csrf) = self.form().await;
        let mut fields = vec![("username", USER), ("password", PASSWORD), ("csrf", &csrf)];
        if remember {
            fields.push(("remember", "on"));
        }
        let request = Request::post("/login")
            .form_fields(&fields)
            .cookie(&cookie)
            .header("user-agent", user_agent);
        let answer = request.send(self.addr).await.unwrap();
        assert_eq!(answer.status, 303, "{}", answer.text());
        answer
    }

    /// The session cookie of a new login from `user_agent`.
    async fn device(&self, user_agent: &str) -> String {
        self.sign_in_from(user_agent, false).await.cookie()
    }

    /// `/sessions.json` as `(tag, current)` pairs, and the whole text.
    async fn listed(&self, cookie: &str) -> (Vec<(String, bool)>, String) {
        let answer = self.get("/sessions.json", Some(cookie)).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some("application/json")
        );
        let text = answer.text();
        let pairs = text
            .split(r#"{"tag":""#)
            .skip(1)
            .map(|item| {
                let tag = item.split('"').next().unwrap().to_owned();
                (tag, item.contains(r#""current":true"#))
            })
            .collect();
        (pairs, text)
    }

    /// The tag of the session `cookie` is.
    async fn own_tag(&self, cookie: &str) -> String {
        let (pairs, text) = self.listed(cookie).await;
        let current: Vec<_> = pairs.into_iter().filter(|(_, c)| *c).collect();
        assert_eq!(current.len(), 1, "{text}");
        current[0].0.clone()
    }

    /// A session CSRF token, from the sessions page.
    async fn page_csrf(&self, cookie: &str) -> String {
        let page = self.get("/sessions", Some(cookie)).await;
        assert_eq!(page.status, 200, "{}", page.text());
        page.csrf()
    }
}

#[tokio::test]
async fn remember_me_persists_the_cookie_else_a_browser_session() {
    let server = start().await;
    let remembered = server.sign_in_from(FIREFOX, true).await;
    let set = remembered.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0].attribute("Max-Age"), Some(Some("2592000")));

    let browser = server.sign_in_from(FIREFOX, false).await;
    let set = browser.set_cookies();
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0].attribute("Max-Age"), None, "{set:?}");
    assert_eq!(set[0].attribute("Expires"), None, "{set:?}");
    assert_eq!(
        server.get("/me", Some(&browser.cookie())).await.text(),
        "admin\n"
    );
}

#[tokio::test]
async fn the_sessions_page_lists_this_device_and_the_others() {
    let server = start().await;
    let laptop = server.device(FIREFOX).await;
    let strange = server.device("<script>alert(1)</script>").await;

    let home = server.get("/", Some(&laptop)).await;
    assert!(
        home.text().contains(r#"<a href="/sessions">"#),
        "{}",
        home.text()
    );

    let page = server.get("/sessions", Some(&laptop)).await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert_eq!(text.matches("(this device)").count(), 1, "{text}");
    assert!(text.contains("Firefox on Linux"), "{text}");
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !text.contains("<script>"),
        "{text}"
    );
    assert_eq!(
        text.matches(r#"action="/sessions/revoke""#).count(),
        2,
        "{text}"
    );
    assert!(text.contains(r#"action="/sessions/revoke-others""#));
    assert!(text.contains("last seen") && text.contains("expires"));

    // The JSON: both sessions, this one current, RFC 3339 times.
    let (pairs, json) = server.listed(&laptop).await;
    assert_eq!(pairs.len(), 2, "{json}");
    assert_eq!(pairs.iter().filter(|(_, c)| *c).count(), 1, "{json}");
    assert!(json.starts_with('[') && json.ends_with(']'), "{json}");
    assert!(json.contains(r#""label":"Firefox on Linux""#), "{json}");
    assert!(
        json.contains(r#""label":"\u003cscript\u003ealert(1)\u003c/script\u003e""#),
        "{json}"
    );
    for field in ["created_at", "last_seen", "expires_at"] {
        let value = json
            .split(&format!(r#""{field}":""#))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        // 2026-12-07T01:23:45Z
        assert_eq!(value.len(), 20, "{field}: {value}");
        assert!(
            value.as_bytes()[10] == b'T' && value.ends_with('Z'),
            "{field}: {value}"
        );
    }
    assert_eq!(server.listed(&strange).await.0.len(), 2);

    // Signed out: the page sends to the login form, the JSON is 401.
    let page = server.get("/sessions", None).await;
    assert_eq!(
        (page.status, page.header("location").as_deref()),
        (303, Some("/"))
    );
    assert_eq!(server.get("/sessions.json", None).await.status, 401);
}

#[tokio::test]
async fn revoking_needs_the_token_and_an_own_tag() {
    let server = start().await;
    let laptop = server.device(FIREFOX).await;
    let phone = server.device("Mozilla/5.0 (iPhone) Safari/604.1").await;
    let phone_tag = server.own_tag(&phone).await;
    let csrf = server.page_csrf(&laptop).await;

    // Without a valid token: 403, nothing ends.
    let answer = server
        .post("/sessions/revoke", Some(&laptop), &[("tag", &phone_tag)])
        .await;
    assert_eq!(answer.status, 403);
    let wrong = "A".repeat(22);
    let answer = server
        .post(
            "/sessions/revoke",
            Some(&laptop),
            &[("tag", &phone_tag), ("csrf", &wrong)],
        )
        .await;
    assert_eq!(answer.status, 403);
    // The phone's token is no good on the laptop either.
    let phone_csrf = server.page_csrf(&phone).await;
    let answer = server
        .post(
            "/sessions/revoke",
            Some(&laptop),
            &[("tag", &phone_tag), ("csrf", &phone_csrf)],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(server.get("/me", Some(&phone)).await.status, 200);

    // Unknown or malformed tags: 404.
    for tag in ["0123456789abcdef", "not a tag", ""] {
        let answer = server
            .post(
                "/sessions/revoke",
                Some(&laptop),
                &[("tag", tag), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(answer.status, 404, "{tag:?}");
    }

    // Another user's session (made in the store, as this demo has one
    // account): 404, and it lives on.
    let mallory = UserId::new(b"mallory").unwrap();
    let id = SessionId::parse("MALLORYMALLORYMALLORYA").unwrap();
    let now = HostClock::new().now();
    let record = SessionRecord {
        deadlines: sesh::ExpiryPolicy::new().start(now),
        protected: true,
        data: Vec::new(),
    };
    let meta = SessionMeta {
        owner: Some(mallory.clone()),
        ..SessionMeta::new(now)
    };
    server
        .store
        .create_with_meta(&id, &record, &meta, now)
        .await
        .unwrap();
    let foreign = DisplayTag::of(&id).to_string();
    let answer = server
        .post(
            "/sessions/revoke",
            Some(&laptop),
            &[("tag", &foreign), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, 404);
    let left = server.store.sessions_of(&mallory, None, now).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");

    // Its own other session: ended, back to the list.
    let answer = server
        .post(
            "/sessions/revoke",
            Some(&laptop),
            &[("tag", &phone_tag), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location").as_deref(), Some("/sessions"));
    assert_eq!(server.get("/me", Some(&phone)).await.status, 401);
    assert_eq!(server.listed(&laptop).await.0.len(), 1);
}

#[tokio::test]
async fn sign_out_everywhere_else_leaves_only_this_session() {
    let server = start().await;
    let others = [
        server.device(FIREFOX).await,
        server.device("curl/8.5.0").await,
    ];
    let desk = server.device(FIREFOX).await;
    assert_eq!(server.listed(&desk).await.0.len(), 3);

    let answer = server
        .post("/sessions/revoke-others", Some(&desk), &[])
        .await;
    assert_eq!(answer.status, 403, "no token");
    assert_eq!(server.listed(&desk).await.0.len(), 3);

    let csrf = server.page_csrf(&desk).await;
    let answer = server
        .post("/sessions/revoke-others", Some(&desk), &[("csrf", &csrf)])
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location").as_deref(), Some("/sessions"));
    let (pairs, json) = server.listed(&desk).await;
    assert_eq!(pairs.len(), 1, "{json}");
    assert!(pairs[0].1);
    for other in &others {
        assert_eq!(server.get("/me", Some(other)).await.status, 401);
    }
    assert_eq!(server.get("/me", Some(&desk)).await.status, 200);
}
