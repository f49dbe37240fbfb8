//! The HTTP-level cases. Each is an async function over a [`MakeServer`]
//! that starts its own server (so cases share nothing) and fails by
//! panicking, like any `#[test]`. [`session_tests!`](crate::session_tests)
//! turns them into tests; [`CASES`] lists them with the runtime each needs.
// A case fails its test by panicking with a message that says what broke.
#![allow(clippy::panic)]

use std::borrow::ToOwned;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;
use std::{format, vec};

use sesh::cookie::SameSite;
use sesh::presession::PreSession;
use sesh::signing::{Key, KeyRing};
use sesh::{Instant, SessionId};

use super::client::{Connection, Request, Response, SetCookie};
use super::{CSRF_HEADER, Capability, Case, MakeServer, ROUTES, Runtime, ServerSpec, TestServer};
use crate::rng::TestRng;

/// The callback of [`for_each_case!`](crate::for_each_case) that makes [`CASES`].
macro_rules! case_list {
    (() $($name:ident: $rt:ident, needs [$($need:ident),*];)*) => {
        /// Every case, in the order of the case table
        /// ([`for_each_case!`](crate::for_each_case)), with its runtime and
        /// what it needs of a backend.
        pub const CASES: &[Case] = &[$(
            Case {
                name: stringify!($name),
                runtime: Runtime::$rt,
                needs: &[$(Capability::$need),*],
            },
        )*];
    };
}

crate::for_each_case!((case_list));

pub use super::owner_cases::{
    a_browser_session_still_expires_on_the_server, a_foreign_or_unknown_tag_revokes_nothing,
    a_remembered_session_keeps_its_own_deadlines, a_user_lists_their_sessions,
    remember_me_and_browser_session_cookies, revoking_a_session_signs_that_device_out,
    revoking_the_others_keeps_the_current_one,
};

/// The bound [`a_flood_never_evicts_a_logged_in_session`] asks for: the
/// size of sesh-embassy's probe table (`embassy_app::CAPACITY`), which is
/// fixed at build time, so that every server can serve it.
pub const FLOOD_BOUND: usize = 16;

/// The runtime case `name` needs (current-thread for unknown names).
pub fn runtime_of(name: &str) -> Runtime {
    CASES
        .iter()
        .find(|case| case.name == name)
        .map_or(Runtime::CurrentThread, |case| case.runtime)
}

/// Ring size for checking cookies: enough for every spec the cases build.
const RING: usize = 4;

// ------------------------------------------------------------------ helpers --

async fn send(server: &impl TestServer, request: Request) -> Response {
    match request.send(server.addr()).await {
        Ok(r) => r,
        Err(e) => panic!("{request:?} to {} failed: {e}", server.addr()),
    }
}

pub(crate) async fn get(server: &impl TestServer, target: &str, cookie: Option<&str>) -> Response {
    send(server, Request::get(target).maybe_cookie(cookie)).await
}

pub(crate) async fn post(server: &impl TestServer, target: &str, cookie: Option<&str>) -> Response {
    send(server, Request::post(target).maybe_cookie(cookie)).await
}

pub(crate) async fn stored(server: &impl TestServer) -> usize {
    match server.stored_sessions().await {
        Ok(n) => n,
        Err(e) => panic!("the store's occupancy failed: {e}"),
    }
}

pub(crate) async fn make_server<M: MakeServer>(make: &M, spec: &ServerSpec) -> M::Server {
    make.make(spec.clone()).await
}

/// Status and body text.
#[track_caller]
pub(crate) fn assert_answer(resp: &Response, status: u16, body: &str, context: &str) {
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (status, body),
        "{context}: status and body"
    );
}

#[track_caller]
pub(crate) fn assert_no_set_cookie(resp: &Response, context: &str) {
    let all = resp.header_all("set-cookie");
    assert!(
        all.is_empty(),
        "{context}: expected no Set-Cookie, got {all:?}"
    );
}

/// `Cache-Control: no-store` and `Vary: Cookie`, as every response that sets
/// the cookie must carry.
#[track_caller]
pub(crate) fn assert_cache_headers(resp: &Response, context: &str) {
    let cache = resp.header_all("cache-control").join(",");
    assert!(
        cache
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store")),
        "{context}: Set-Cookie without Cache-Control: no-store (got {cache:?})"
    );
    let vary = resp.header_all("vary").join(",");
    assert!(
        vary.split(',')
            .any(|v| v.trim().eq_ignore_ascii_case("cookie") || v.trim() == "*"),
        "{context}: Set-Cookie without Vary: Cookie (got {vary:?})"
    );
}

/// The one `Set-Cookie` of `resp`, for the session cookie, after checking
/// the cache headers that must come with it.
#[track_caller]
pub(crate) fn session_cookie(resp: &Response, spec: &ServerSpec, context: &str) -> SetCookie {
    let mut all = resp.set_cookies();
    assert_eq!(
        all.len(),
        1,
        "{context}: expected exactly one Set-Cookie, got {:?}",
        resp.header_all("set-cookie")
    );
    let Some(cookie) = all.pop() else {
        panic!("{context}: no Set-Cookie");
    };
    assert_eq!(
        cookie.name, spec.cookie_name,
        "{context}: cookie name in {}",
        cookie.raw
    );
    assert_cache_headers(resp, context);
    cookie
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks the value is `<22>.<22>`, signed by the spec's current key, and
/// returns the id part.
#[track_caller]
fn assert_signed_value(value: &str, spec: &ServerSpec, context: &str) -> String {
    let Some((id, tag)) = value.split_once('.') else {
        panic!("{context}: cookie value {value:?} is not id.tag");
    };
    assert!(
        id.len() == 22 && tag.len() == 22 && is_base64url(id) && is_base64url(tag),
        "{context}: cookie value {value:?} is not <22 base64url>.<22 base64url>"
    );
    assert!(
        SessionId::parse(id).is_ok(),
        "{context}: {id:?} is not a session id"
    );
    let ring = match spec.key_ring::<RING>() {
        Ok(r) => r,
        Err(e) => panic!("{context}: the spec's keys: {e}"),
    };
    match ring.verify(value) {
        Ok(v) => assert!(
            !v.needs_resign(),
            "{context}: {value:?} is signed by an old key, not the current one"
        ),
        Err(e) => panic!("{context}: {value:?} does not verify with the configured keys: {e}"),
    }
    id.to_owned()
}

fn id_part(value: &str) -> &str {
    value.split_once('.').map_or(value, |(id, _)| id)
}

/// The attributes, exactly: `Path`, `Domain` (if configured), `Max-Age`,
/// `HttpOnly`, `Secure` (forced by `SameSite=None`), `SameSite`, each once,
/// and nothing else.
#[track_caller]
pub(crate) fn assert_attributes(
    cookie: &SetCookie,
    spec: &ServerSpec,
    max_age: u64,
    context: &str,
) {
    let mut expected: Vec<(String, Option<String>)> = vec![
        ("Path".into(), Some(spec.path.clone())),
        ("Max-Age".into(), Some(max_age.to_string())),
        ("SameSite".into(), Some(spec.same_site.to_string())),
    ];
    if let Some(domain) = &spec.domain {
        expected.push(("Domain".into(), Some(domain.clone())));
    }
    if spec.http_only {
        expected.push(("HttpOnly".into(), None));
    }
    if spec.effective_secure() {
        expected.push(("Secure".into(), None));
    }
    let normal = |attrs: &[(String, Option<String>)]| {
        let mut v: Vec<(String, Option<String>)> = attrs
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        normal(&cookie.attributes),
        normal(&expected),
        "{context}: attributes of {:?}",
        cookie.raw
    );
}

/// Checks that cookie value `presented` selects no session: `/peek` answers
/// 0 and sets nothing, and `/count` starts a new session under a new id
/// (never the presented one). Returns the new cookie's pair.
async fn assert_selects_nothing(
    server: &impl TestServer,
    spec: &ServerSpec,
    presented: &str,
    context: &str,
) -> String {
    let pair = format!("{}={presented}", spec.cookie_name);
    let peek = get(server, "/peek", Some(&pair)).await;
    assert_answer(&peek, 200, "0", &format!("{context}: /peek"));
    assert_no_set_cookie(&peek, &format!("{context}: /peek"));
    let count = get(server, "/count", Some(&pair)).await;
    assert_answer(&count, 200, "1", &format!("{context}: /count"));
    let fresh = session_cookie(&count, spec, &format!("{context}: /count"));
    let fresh_id = assert_signed_value(&fresh.value, spec, context);
    assert_ne!(
        fresh_id,
        id_part(presented),
        "{context}: the server adopted the presented id"
    );
    fresh.pair()
}

/// Starts a session with `/count` and returns its `Set-Cookie`.
async fn new_session(server: &impl TestServer, spec: &ServerSpec, context: &str) -> SetCookie {
    let resp = get(server, "/count", None).await;
    assert_answer(&resp, 200, "1", context);
    let cookie = session_cookie(&resp, spec, context);
    assert_signed_value(&cookie.value, spec, context);
    cookie
}

fn pair_of(spec: &ServerSpec, value: &str) -> String {
    format!("{}={value}", spec.cookie_name)
}

/// Changes the first character of a base64url text to another valid one.
fn flip_first(text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if let Some(c) = chars.first_mut() {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

fn test_id(seed: u64) -> SessionId {
    match SessionId::generate(&mut TestRng(seed)) {
        Ok(id) => id,
        Err(e) => panic!("test id: {e}"),
    }
}

pub(crate) fn secs(n: u64) -> core::time::Duration {
    core::time::Duration::from_secs(n)
}

// -------------------------------------------------------------------- cases --

/// Every route of [`ROUTES`] is served: no 404 or 405, no server error.
pub async fn routes_are_served(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "GET /count").await.pair();
    for route in ROUTES {
        let resp = send(
            &server,
            Request::new(route.method, route.example).cookie(&cookie),
        )
        .await;
        assert!(
            !matches!(resp.status, 404 | 405) && resp.status < 500,
            "{} {} is not served: {} {}",
            route.method,
            route.example,
            resp.status,
            resp.text()
        );
    }
    server.stop().await;
}

/// `/count` answers 1, 2, 3 with the cookie (sent once, at creation), and 1
/// again without it, under a new id.
pub async fn counter_counts_with_the_cookie(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let first = new_session(&server, &spec, "first /count").await;
    let cookie = first.pair();
    for n in ["2", "3"] {
        let resp = get(&server, "/count", Some(&cookie)).await;
        assert_answer(&resp, 200, n, "/count with the cookie");
        assert_no_set_cookie(&resp, "/count of an unchanged session");
    }
    let other = new_session(&server, &spec, "/count without the cookie").await;
    assert_ne!(
        id_part(&other.value),
        id_part(&first.value),
        "a new client got the same id"
    );
    assert_answer(
        &get(&server, "/peek", Some(&cookie)).await,
        200,
        "3",
        "/peek first",
    );
    assert_answer(
        &get(&server, "/peek", Some(&other.pair())).await,
        200,
        "1",
        "/peek second",
    );
    assert_eq!(stored(&server).await, 2, "two sessions stored");
    server.stop().await;
}

/// With the defaults the cookie is `sid=<22>.<22>; Path=/; Max-Age=1800;
/// HttpOnly; Secure; SameSite=Lax`, with `Cache-Control: no-store` and
/// `Vary: Cookie`.
pub async fn set_cookie_has_the_default_attributes(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let resp = get(&server, "/count", None).await;
    let cookie = session_cookie(&resp, &spec, "new session");
    assert_signed_value(&cookie.value, &spec, "new session");
    assert!(
        cookie.raw.starts_with(&format!("sid={};", cookie.value)),
        "header value starts with sid=<value>; : {:?}",
        cookie.raw
    );
    assert_attributes(&cookie, &spec, 1800, "new session");
    server.stop().await;
}

/// Name, `Path`, `Domain`, `SameSite`, `Secure`, `HttpOnly` and a `Max-Age`
/// capped by the absolute lifetime follow the configuration, in the cookie
/// and in its removal; `SameSite=None` forces `Secure`.
pub async fn set_cookie_has_the_configured_attributes(make: impl MakeServer) {
    let spec = ServerSpec {
        cookie_name: "probe_id".into(),
        path: "/app".into(),
        domain: Some("example.test".into()),
        same_site: SameSite::Strict,
        secure: false,
        http_only: false,
        idle_timeout: sesh::Duration::from_mins(10),
        absolute_lifetime: sesh::Duration::from_mins(5),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let resp = get(&server, "/count", None).await;
    let cookie = session_cookie(&resp, &spec, "custom cookie");
    assert_signed_value(&cookie.value, &spec, "custom cookie");
    assert_attributes(&cookie, &spec, 300, "custom cookie");
    let removal = post(&server, "/logout", Some(&cookie.pair())).await;
    let removal = session_cookie(&removal, &spec, "custom removal");
    assert_eq!(removal.value, "", "a removal cookie has an empty value");
    assert_attributes(&removal, &spec, 0, "custom removal");
    server.stop().await;

    let spec = ServerSpec {
        same_site: SameSite::None,
        secure: false,
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let resp = get(&server, "/count", None).await;
    let cookie = session_cookie(&resp, &spec, "SameSite=None");
    assert_attributes(&cookie, &spec, 1800, "SameSite=None forces Secure");
    server.stop().await;
}

/// Reading without a session stores nothing and sets no cookie; reading a
/// live session sets no cookie either, and the answer carries `Vary: Cookie`
/// so that no shared cache hands it to another user.
pub async fn reading_is_lazy(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let peek = get(&server, "/peek", None).await;
    assert_answer(&peek, 200, "0", "/peek of a new client");
    assert_no_set_cookie(&peek, "/peek of a new client");
    let me = get(&server, "/me", None).await;
    assert_eq!(me.status, 401, "/me of a new client");
    assert_no_set_cookie(&me, "/me of a new client");
    let logout = post(&server, "/logout", None).await;
    assert_no_set_cookie(&logout, "/logout of a new client");
    let check = send(
        &server,
        Request::post("/csrf-check").header(CSRF_HEADER, "AAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(check.status, 403, "/csrf-check of a new client");
    assert_no_set_cookie(&check, "/csrf-check of a new client");
    assert_eq!(stored(&server).await, 0, "nothing stored for reads");

    let cookie = new_session(&server, &spec, "/count").await.pair();
    let peek = get(&server, "/peek", Some(&cookie)).await;
    assert_answer(&peek, 200, "1", "/peek of a live session");
    assert_no_set_cookie(&peek, "/peek of a live session");
    let vary = peek.header_all("vary").join(",");
    assert!(
        vary.split(',')
            .any(|v| v.trim().eq_ignore_ascii_case("cookie") || v.trim() == "*"),
        "an answer that read the session varies by cookie (got Vary {vary:?})"
    );
    assert_eq!(stored(&server).await, 1, "one session stored");
    server.stop().await;
}

/// A live id with a forged tag selects nothing, and leaves the real session alone.
pub async fn forged_tag_selects_no_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let real = new_session(&server, &spec, "/count").await;
    let Some((id, tag)) = real.value.split_once('.') else {
        panic!("cookie value {:?} is not id.tag", real.value);
    };
    let forged = format!("{id}.{}", flip_first(tag));
    assert_selects_nothing(&server, &spec, &forged, "forged tag").await;
    assert_answer(
        &get(&server, "/peek", Some(&real.pair())).await,
        200,
        "1",
        "the real session is untouched",
    );
    assert_eq!(stored(&server).await, 2);
    server.stop().await;
}

/// A tampered id with the original tag selects nothing.
pub async fn tampered_id_selects_no_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let real = new_session(&server, &spec, "/count").await;
    let Some((id, tag)) = real.value.split_once('.') else {
        panic!("cookie value {:?} is not id.tag", real.value);
    };
    let tampered = format!("{}.{tag}", flip_first(id));
    assert_selects_nothing(&server, &spec, &tampered, "tampered id").await;
    assert_answer(
        &get(&server, "/peek", Some(&real.pair())).await,
        200,
        "1",
        "the real session is untouched",
    );
    server.stop().await;
}

/// Unsigned ids select nothing: a never-issued one, and a live one stripped
/// of its tag.
pub async fn unsigned_id_selects_no_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let never = test_id(1).encode();
    assert_selects_nothing(&server, &spec, never.as_str(), "never-issued unsigned id").await;
    let real = new_session(&server, &spec, "/count").await;
    let stripped = id_part(&real.value).to_owned();
    assert_selects_nothing(&server, &spec, &stripped, "live id without its tag").await;
    assert_answer(
        &get(&server, "/peek", Some(&real.pair())).await,
        200,
        "1",
        "the real session is untouched",
    );
    server.stop().await;
}

/// An id signed with the server's own key that the store does not know
/// selects nothing, and the server does not adopt it (no session fixation).
pub async fn unknown_signed_id_selects_no_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let ring: KeyRing<RING> = match spec.key_ring() {
        Ok(r) => r,
        Err(e) => panic!("key ring: {e}"),
    };
    let planted = ring.sign(&test_id(2)).to_string();
    let fresh = assert_selects_nothing(&server, &spec, &planted, "unknown signed id").await;
    assert_eq!(stored(&server).await, 1, "only the fresh session is stored");
    assert_answer(
        &get(&server, "/peek", Some(&pair_of(&spec, &planted))).await,
        200,
        "0",
        "the planted id is still unknown",
    );
    assert_answer(
        &get(&server, "/peek", Some(&fresh)).await,
        200,
        "1",
        "the fresh session",
    );
    server.stop().await;
}

/// A cookie whose session expired selects nothing.
pub async fn expired_id_selects_no_session(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        absolute_lifetime: sesh::Duration::from_hours(1),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let real = new_session(&server, &spec, "/count").await;
    server.advance_clock(secs(61)).await;
    assert_selects_nothing(&server, &spec, &real.value, "expired id").await;
    server.stop().await;
}

/// Several `Cookie:` headers, junk bytes in other cookies, repeats and
/// quotes find the session; two different session cookies select none.
pub async fn cookie_headers_are_scanned_strictly(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let a = new_session(&server, &spec, "session A").await;
    let b = new_session(&server, &spec, "session B").await;

    let junk = Request::get("/count")
        .cookie(b"theme=\xff\xfe; x=\x80\x81")
        .cookie(a.pair())
        .cookie("lang=en; empty=");
    let resp = send(&server, junk).await;
    assert_answer(&resp, 200, "2", "A among junk cookies in three headers");
    assert_no_set_cookie(&resp, "A among junk cookies");

    let repeated = Request::get("/count").cookie(format!("{}; {}", a.pair(), a.pair()));
    assert_answer(&send(&server, repeated).await, 200, "3", "A repeated");

    let quoted = Request::get("/peek").cookie(format!("{}=\"{}\"", spec.cookie_name, a.value));
    assert_answer(&send(&server, quoted).await, 200, "3", "A in quotes");

    let other_case = Request::get("/peek").cookie(format!("SID={}", a.value));
    let resp = send(&server, other_case).await;
    assert_answer(&resp, 200, "0", "names are case-sensitive");

    let both = Request::get("/peek").cookie(a.pair()).cookie(b.pair());
    let resp = send(&server, both).await;
    assert_answer(&resp, 200, "0", "A and B together select none");
    assert_no_set_cookie(&resp, "A and B together, /peek");
    let both = Request::get("/count").cookie(format!("{}; {}", b.pair(), a.pair()));
    let resp = send(&server, both).await;
    assert_answer(&resp, 200, "1", "A and B together: /count starts anew");
    let fresh = session_cookie(&resp, &spec, "A and B together, /count");
    assert!(
        fresh.value != a.value && fresh.value != b.value,
        "A and B together: a new id"
    );

    assert_answer(
        &get(&server, "/peek", Some(&a.pair())).await,
        200,
        "3",
        "A untouched",
    );
    assert_answer(
        &get(&server, "/peek", Some(&b.pair())).await,
        200,
        "1",
        "B untouched",
    );
    server.stop().await;
}

/// Abusive `Cookie` headers select no session, set no cookie and store
/// nothing; a live session is still found among 100 cookies and behind 8 KiB
/// and 64 KiB of junk (or, where the server bounds its headers, the request
/// is refused with a 4xx, never another session and never a 5xx).
pub async fn cookie_header_abuse_selects_nothing(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let a = new_session(&server, &spec, "session A").await;
    let many: String = (0..100)
        .map(|i| std::format!("c{i}=v{i}"))
        .collect::<Vec<_>>()
        .join("; ");
    let abuse: Vec<(&str, Request)> = std::vec![
        ("no Cookie header", Request::get("/peek")),
        ("an empty Cookie header", Request::get("/peek").cookie("")),
        (
            "an empty session cookie",
            Request::get("/peek").cookie("sid=")
        ),
        (
            "NUL and control bytes",
            Request::get("/peek").cookie(b"sid=\x00\x01\x1f\x7f")
        ),
        (
            "non-UTF-8 bytes",
            Request::get("/peek").cookie(b"sid=\xc3\x28\xff")
        ),
        (
            "the name with spaces inside",
            Request::get("/peek").cookie(std::format!("s id={}", a.value))
        ),
        (
            "a 100-cookie header",
            Request::get("/peek").cookie(many.clone())
        ),
        (
            "several Cookie headers of junk",
            Request::get("/peek")
                .cookie("a=1")
                .cookie("b=2")
                .cookie(";;;")
        ),
    ];
    for (what, request) in abuse {
        let resp = send(&server, request).await;
        assert!(
            resp.status == 200 || resp.status == 400,
            "{what}: status {}",
            resp.status
        );
        if resp.status == 200 {
            assert_eq!(resp.text(), "0", "{what}: a session was selected");
        }
        assert_no_set_cookie(&resp, what);
    }
    let among_many = Request::get("/peek").cookie(std::format!("{many}; {}", a.pair()));
    assert_answer(
        &send(&server, among_many).await,
        200,
        "1",
        "A among 100 cookies",
    );
    for size in [8 * 1024, 64 * 1024] {
        let junk = std::format!("junk={}; {}", "x".repeat(size), a.pair());
        let resp = send(&server, Request::get("/peek").cookie(junk)).await;
        assert!(
            (resp.status == 200 && resp.text() == "1") || (400..500).contains(&resp.status),
            "A behind {size} bytes of junk: {} {}",
            resp.status,
            resp.text()
        );
        assert_no_set_cookie(&resp, "A behind junk");
    }
    assert_eq!(
        server.stored_sessions().await.ok(),
        Some(1),
        "abuse stored nothing"
    );
    server.stop().await;
}

/// A login is one step: whichever of its store calls fails, the visitor is
/// either signed in with everything (their user, their data, their list)
/// or exactly as before (their anonymous session and its data, nobody
/// signed in, nothing else stored).
pub async fn a_sign_in_is_all_or_nothing(make: impl MakeServer) {
    const TRIES: usize = 8;
    let spec = ServerSpec::default();
    let mut refused = 0;
    for nth in 1..=TRIES {
        let server = make_server(&make, &spec).await;
        let before = new_session(&server, &spec, "/count").await.pair();
        server.fail_store_call(nth);
        let resp = post(&server, "/login?user=alice", Some(&before)).await;
        server.fail_store_call(0);
        let context = format!("login with store call {nth} failing");
        if resp.status == 200 {
            let after = session_cookie(&resp, &spec, &context).pair();
            assert_answer(
                &get(&server, "/me", Some(&after)).await,
                200,
                "alice",
                &context,
            );
            assert_answer(
                &get(&server, "/peek", Some(&after)).await,
                200,
                "1",
                &context,
            );
            let list = get(&server, "/sessions", Some(&after)).await;
            assert_eq!(list.text().lines().count(), 1, "{context}: alice's list");
            assert_eq!(
                get(&server, "/me", Some(&before)).await.status,
                401,
                "{context}"
            );
        } else {
            refused += 1;
            assert_eq!(resp.status, 500, "{context}: {}", resp.text());
            assert_answer(
                &get(&server, "/peek", Some(&before)).await,
                200,
                "1",
                &context,
            );
            assert_eq!(
                get(&server, "/me", Some(&before)).await.status,
                401,
                "{context}"
            );
        }
        assert_eq!(
            stored(&server).await,
            1,
            "{context}: one session, never two"
        );
        server.stop().await;
    }
    assert!(
        refused > 0 && refused < TRIES,
        "{refused} of {TRIES} logins failed: each failing call should refuse one, and a login makes fewer than {TRIES}"
    );
}

/// Login moves the session to a new id, keeps its data, and the old id no
/// longer works; the user comes from the query or a form body.
pub async fn login_regenerates_the_id(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let before = new_session(&server, &spec, "/count").await;
    let resp = post(&server, "/login?user=alice", Some(&before.pair())).await;
    assert_answer(&resp, 200, "alice", "login");
    let after = session_cookie(&resp, &spec, "login");
    let after_id = assert_signed_value(&after.value, &spec, "login");
    assert_ne!(after_id, id_part(&before.value), "login kept the old id");

    assert_answer(
        &get(&server, "/me", Some(&after.pair())).await,
        200,
        "alice",
        "/me new id",
    );
    assert_answer(
        &get(&server, "/peek", Some(&after.pair())).await,
        200,
        "1",
        "data kept",
    );
    let old = get(&server, "/me", Some(&before.pair())).await;
    assert_eq!(old.status, 401, "/me with the id from before login");
    assert_no_set_cookie(&old, "/me with the old id");
    let old = get(&server, "/peek", Some(&before.pair())).await;
    assert_answer(&old, 200, "0", "/peek with the old id");
    assert_eq!(stored(&server).await, 1, "the old session is gone");

    let form = send(&server, Request::post("/login").form("user=bob+b%C3%B6")).await;
    assert_answer(&form, 200, "bob bö", "login from a form, no session before");
    let bob = session_cookie(&form, &spec, "form login");
    assert_answer(
        &get(&server, "/me", Some(&bob.pair())).await,
        200,
        "bob bö",
        "/me bob",
    );
    assert_eq!(stored(&server).await, 2);

    let nobody = post(&server, "/login", None).await;
    assert_eq!(nobody.status, 400, "login without a user");
    assert_no_set_cookie(&nobody, "login without a user");
    server.stop().await;
}

/// Logout sends a removal cookie with the same attributes and `Max-Age=0`,
/// deletes the session, and the old id no longer works.
pub async fn logout_removes_the_cookie_and_the_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let resp = post(&server, "/login?user=alice", None).await;
    assert_answer(&resp, 200, "alice", "login");
    let login = session_cookie(&resp, &spec, "login");
    assert_eq!(stored(&server).await, 1);

    let resp = post(&server, "/logout", Some(&login.pair())).await;
    assert_eq!(resp.status, 200, "logout");
    let removal = session_cookie(&resp, &spec, "logout");
    assert_eq!(removal.value, "", "a removal cookie has an empty value");
    assert_attributes(&removal, &spec, 0, "removal cookie");
    assert_eq!(stored(&server).await, 0, "logout deletes the session");

    let me = get(&server, "/me", Some(&login.pair())).await;
    assert_eq!(me.status, 401, "/me after logout");
    assert_no_set_cookie(&me, "/me after logout");
    let peek = get(&server, "/peek", Some(&login.pair())).await;
    assert_answer(&peek, 200, "0", "/peek after logout");
    assert_selects_nothing(&server, &spec, &login.value, "id after logout").await;
    server.stop().await;
}

/// The CSRF token of a live session is stable within it, refused with
/// another or no session, and changes at login.
pub async fn csrf_token_is_bound_to_the_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "/count").await.pair();
    let resp = get(&server, "/csrf", Some(&cookie)).await;
    assert_eq!(resp.status, 200, "/csrf of a live session");
    let token = resp.text();
    assert!(
        token.len() == 22 && is_base64url(&token),
        "token {token:?} is 22 base64url characters"
    );
    assert_no_set_cookie(&resp, "/csrf of a live session");
    assert_eq!(stored(&server).await, 1);
    let again = get(&server, "/csrf", Some(&cookie)).await;
    assert_answer(&again, 200, &token, "the same token again");
    assert_no_set_cookie(&again, "/csrf of a live session");

    let server_ref = &server;
    let check = move |cookie: Option<String>, token: Option<String>| {
        let mut req = Request::post("/csrf-check").maybe_cookie(cookie.as_deref());
        if let Some(t) = token {
            req = req.header(CSRF_HEADER, t);
        }
        send(server_ref, req)
    };
    let ok = check(Some(cookie.clone()), Some(token.clone())).await;
    assert_eq!(ok.status, 200, "the right token");
    let wrong = check(Some(cookie.clone()), Some(flip_first(&token))).await;
    assert_eq!(wrong.status, 403, "a wrong token");
    let missing = check(Some(cookie.clone()), None).await;
    assert_eq!(missing.status, 403, "no token");
    let no_session = check(None, Some(token.clone())).await;
    assert_eq!(no_session.status, 403, "the token without its session");
    let other = new_session(&server, &spec, "another session").await.pair();
    let other_session = check(Some(other), Some(token.clone())).await;
    assert_eq!(other_session.status, 403, "the token with another session");

    let resp = post(&server, "/login?user=alice", Some(&cookie)).await;
    let login = session_cookie(&resp, &spec, "login").pair();
    let new_token = get(&server, "/csrf", Some(&login)).await.text();
    assert_ne!(new_token, token, "login changes the token");
    let stale = check(Some(login.clone()), Some(token)).await;
    assert_eq!(stale.status, 403, "the token from before login");
    let fresh = check(Some(login), Some(new_token)).await;
    assert_eq!(fresh.status, 200, "the token after login");
    server.stop().await;
}

/// 100 parallel connections incrementing one session lose no update: the
/// answers are exactly 1..=100 and the counter ends at 100.
pub async fn concurrent_increments_are_not_lost(make: impl MakeServer) {
    const CLIENTS: usize = 100;
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    // An empty blob starts a session without counting.
    let resp = get(&server, "/big?bytes=0", None).await;
    let cookie = session_cookie(&resp, &spec, "/big?bytes=0").pair();
    assert_answer(
        &get(&server, "/peek", Some(&cookie)).await,
        200,
        "0",
        "start",
    );

    let request = Arc::new(Request::get("/count").cookie(&cookie));
    // The clients and this task, which lets them go.
    let start = Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let conn = match Connection::open(server.addr()).await {
            Ok(c) => c,
            Err(e) => panic!("connect: {e}"),
        };
        let (request, start) = (request.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            conn.send(&request).await
        }));
    }
    // Requests sent before the server holds every connection would race its
    // handshakes (behind QEMU's user network: see TestServer::accepted).
    if let Err(e) = server.accepted(CLIENTS).await {
        panic!("the server did not accept {CLIENTS} connections: {e}");
    }
    start.wait().await;
    let mut answers = Vec::with_capacity(CLIENTS);
    for task in tasks {
        let resp = match task.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("a concurrent /count failed: {e}"),
            Err(e) => panic!("a client task failed: {e}"),
        };
        assert_eq!(resp.status, 200, "concurrent /count: {}", resp.text());
        match resp.text().parse::<u64>() {
            Ok(n) => answers.push(n),
            Err(_) => panic!("concurrent /count answered {:?}", resp.text()),
        }
    }
    answers.sort_unstable();
    let expected: Vec<u64> = (1..=100).collect();
    assert_eq!(answers, expected, "every increment saw a distinct count");
    assert_answer(
        &get(&server, "/peek", Some(&cookie)).await,
        200,
        "100",
        "end",
    );
    assert_eq!(stored(&server).await, 1);
    server.stop().await;
}

/// Without refreshes a session lives exactly the idle timeout: alive a
/// millisecond before, gone at the deadline.
pub async fn idle_timeout_expires_the_session(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        absolute_lifetime: sesh::Duration::from_hours(1),
        refresh_percent: 100,
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "/count").await;
    assert_attributes(&cookie, &spec, 60, "new session");
    server
        .advance_clock(core::time::Duration::from_millis(59_999))
        .await;
    let peek = get(&server, "/peek", Some(&cookie.pair())).await;
    assert_answer(&peek, 200, "1", "just before the idle deadline");
    assert_no_set_cookie(&peek, "just before the idle deadline");
    server
        .advance_clock(core::time::Duration::from_millis(1))
        .await;
    let peek = get(&server, "/peek", Some(&cookie.pair())).await;
    assert_answer(&peek, 200, "0", "at the idle deadline");
    assert_no_set_cookie(&peek, "at the idle deadline");
    assert_selects_nothing(&server, &spec, &cookie.value, "expired").await;
    server.stop().await;
}

/// A use before the refresh share sends no cookie; after it, the same
/// cookie with a renewed `Max-Age`, and the session outlives its first deadline.
pub async fn refresh_is_throttled(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        absolute_lifetime: sesh::Duration::from_hours(1),
        refresh_percent: 50,
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "t=0").await;
    assert_attributes(&cookie, &spec, 60, "t=0");
    let pair = cookie.pair();

    server.advance_clock(secs(20)).await;
    let resp = get(&server, "/count", Some(&pair)).await;
    assert_answer(&resp, 200, "2", "t=20");
    assert_no_set_cookie(&resp, "t=20, before the refresh share (30 s)");

    server.advance_clock(secs(15)).await;
    let resp = get(&server, "/count", Some(&pair)).await;
    assert_answer(&resp, 200, "3", "t=35");
    let renewed = session_cookie(&resp, &spec, "t=35, after the refresh share");
    assert_eq!(
        renewed.value, cookie.value,
        "a refresh keeps the id and tag"
    );
    assert_attributes(&renewed, &spec, 60, "t=35, renewed Max-Age");

    server.advance_clock(secs(20)).await;
    let resp = get(&server, "/peek", Some(&pair)).await;
    assert_answer(&resp, 200, "3", "t=55");
    assert_no_set_cookie(&resp, "t=55, 20 s after the refresh");

    server.advance_clock(secs(39)).await;
    let resp = get(&server, "/peek", Some(&pair)).await;
    assert_answer(
        &resp,
        200,
        "3",
        "t=94: past the first deadline (60), before the renewed one (95)",
    );
    let renewed = session_cookie(&resp, &spec, "t=94: a read refreshes too");
    assert_attributes(&renewed, &spec, 60, "t=94");
    server.stop().await;
}

/// Refreshes never carry a session past its absolute lifetime, and
/// `Max-Age` says so.
pub async fn absolute_lifetime_caps_the_session(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        absolute_lifetime: sesh::Duration::from_secs(100),
        refresh_percent: 0,
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "t=0").await;
    assert_attributes(&cookie, &spec, 60, "t=0");
    let pair = cookie.pair();

    server.advance_clock(secs(50)).await;
    let resp = get(&server, "/count", Some(&pair)).await;
    assert_answer(&resp, 200, "2", "t=50");
    let c = session_cookie(&resp, &spec, "t=50");
    assert_attributes(
        &c,
        &spec,
        50,
        "t=50: Max-Age capped by the absolute lifetime",
    );

    server.advance_clock(secs(49)).await;
    let resp = get(&server, "/count", Some(&pair)).await;
    assert_answer(&resp, 200, "3", "t=99");
    let c = session_cookie(&resp, &spec, "t=99");
    assert_attributes(&c, &spec, 1, "t=99");

    server.advance_clock(secs(1)).await;
    let resp = get(&server, "/peek", Some(&pair)).await;
    assert_answer(&resp, 200, "0", "t=100: past the absolute lifetime");
    assert_no_set_cookie(&resp, "t=100");
    server.stop().await;
}

/// A failing store answers 500 with no cookie and creates nothing; once it
/// works again the session counts on from where it was.
pub async fn store_error_answers_500(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let cookie = new_session(&server, &spec, "/count").await.pair();
    assert_answer(
        &get(&server, "/count", Some(&cookie)).await,
        200,
        "2",
        "/count",
    );

    server.set_store_failing(true);
    for (method, target, cookie) in [
        ("GET", "/count", Some(cookie.as_str())),
        ("GET", "/count", None),
        ("GET", "/peek", Some(cookie.as_str())),
        ("POST", "/login?user=alice", Some(cookie.as_str())),
        ("GET", "/csrf", Some(cookie.as_str())),
    ] {
        let context = format!(
            "{method} {target} (cookie: {}) on a failing store",
            cookie.is_some()
        );
        let resp = send(&server, Request::new(method, target).maybe_cookie(cookie)).await;
        assert_eq!(resp.status, 500, "{context}: {}", resp.text());
        assert_no_set_cookie(&resp, &context);
    }
    server.set_store_failing(false);

    assert_eq!(stored(&server).await, 1, "the failures created nothing");
    let me = get(&server, "/me", Some(&cookie)).await;
    assert_eq!(me.status, 401, "the failed login did not happen");
    let resp = get(&server, "/count", Some(&cookie)).await;
    assert_answer(&resp, 200, "3", "the session counts on");
    assert_no_set_cookie(&resp, "the session counts on");
    server.stop().await;
}

/// After a key rotation a cookie signed by the previous key still works and
/// comes back signed by the new key (same id); once the old key is
/// removed the old cookie fails and the re-signed one still works.
pub async fn key_rotation_resigns_then_retires(make: impl MakeServer) {
    let old_key = [0x01; 32];
    let new_key = [0x02; 32];
    let first = ServerSpec {
        key: old_key,
        ..ServerSpec::default()
    };
    let rotated = ServerSpec {
        key: new_key,
        previous_keys: vec![old_key],
        ..ServerSpec::default()
    };
    let retired = ServerSpec {
        key: new_key,
        ..ServerSpec::default()
    };
    let mut server = make_server(&make, &first).await;
    let old = new_session(&server, &first, "old key").await;

    if let Err(e) = server.restart(rotated.clone()).await {
        panic!("restart with the new key: {e}");
    }
    let resp = get(&server, "/count", Some(&old.pair())).await;
    assert_answer(&resp, 200, "2", "old cookie after rotation");
    let resigned = session_cookie(&resp, &rotated, "old cookie after rotation");
    assert_signed_value(&resigned.value, &retired, "re-signed by the new key");
    assert_eq!(id_part(&resigned.value), id_part(&old.value), "same id");
    assert_ne!(resigned.value, old.value, "a different tag");
    assert_attributes(&resigned, &rotated, 1800, "re-signed cookie");

    let resp = get(&server, "/count", Some(&resigned.pair())).await;
    assert_answer(&resp, 200, "3", "re-signed cookie");
    assert_no_set_cookie(&resp, "a cookie signed by the current key");
    let resp = get(&server, "/peek", Some(&old.pair())).await;
    assert_answer(&resp, 200, "3", "old cookie, read only");
    let again = session_cookie(&resp, &rotated, "old cookie, read only");
    assert_eq!(again.value, resigned.value, "re-signed on a read too");

    if let Err(e) = server.restart(retired.clone()).await {
        panic!("restart without the old key: {e}");
    }
    assert_selects_nothing(&server, &retired, &old.value, "old key removed").await;
    assert_answer(
        &get(&server, "/peek", Some(&resigned.pair())).await,
        200,
        "3",
        "the re-signed cookie still works",
    );
    server.stop().await;
}

/// Data over the size limit is refused with an error status (413 or 5xx;
/// sesh-tokio: 500) and nothing is stored or changed.
pub async fn data_over_the_limit_is_refused(make: impl MakeServer) {
    let spec = ServerSpec {
        max_data_len: 256,
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let refused = |resp: &Response| resp.status == 413 || (500..600).contains(&resp.status);

    let resp = get(&server, "/big?bytes=1000", None).await;
    assert!(
        refused(&resp),
        "too big for a new session: {} {}",
        resp.status,
        resp.text()
    );
    assert_no_set_cookie(&resp, "too big for a new session");
    assert_eq!(stored(&server).await, 0, "nothing stored");

    let cookie = new_session(&server, &spec, "/count").await.pair();
    let resp = get(&server, "/big?bytes=1000", Some(&cookie)).await;
    assert!(
        refused(&resp),
        "too big for a live session: {} {}",
        resp.status,
        resp.text()
    );
    assert_no_set_cookie(&resp, "too big for a live session");
    assert_answer(
        &get(&server, "/peek", Some(&cookie)).await,
        200,
        "1",
        "data unchanged",
    );
    assert_eq!(stored(&server).await, 1);

    let resp = get(&server, "/big?bytes=100", Some(&cookie)).await;
    assert_answer(&resp, 200, "100", "under the limit");
    assert_answer(
        &get(&server, "/count", Some(&cookie)).await,
        200,
        "2",
        "still counts",
    );
    let resp = get(&server, "/big?bytes=lots", Some(&cookie)).await;
    assert_eq!(resp.status, 400, "a bad N");
    server.stop().await;
}

/// A bounded store under a flood of anonymous clients (finding 1 of issue
/// 14): a store of [`FLOOD_BOUND`] sessions takes three times as many new
/// visitors and stays within its bound, and the logged-in user stays logged
/// in (anonymous sessions go first). Once every session is logged in, a new
/// visitor, and a new login, is refused with 503 and no cookie, and nobody
/// is logged out; a logout makes room again.
pub async fn a_flood_never_evicts_a_logged_in_session(make: impl MakeServer) {
    let spec = ServerSpec {
        max_sessions: Some(FLOOD_BOUND),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let login = |user: String| {
        let server = &server;
        let spec = &spec;
        async move {
            let resp = post(server, &format!("/login?user={user}"), None).await;
            assert_answer(&resp, 200, &user, "login");
            session_cookie(&resp, spec, "login").pair()
        }
    };
    let alice = login("alice".to_owned()).await;

    for i in 0..3 * FLOOD_BOUND {
        let resp = get(&server, "/count", None).await;
        assert_answer(&resp, 200, "1", &format!("anonymous visitor {i}"));
        session_cookie(&resp, &spec, "anonymous visitor");
    }
    let n = stored(&server).await;
    assert!(
        n <= FLOOD_BOUND,
        "{n} sessions stored, over the bound of {FLOOD_BOUND}"
    );
    assert_answer(
        &get(&server, "/me", Some(&alice)).await,
        200,
        "alice",
        "alice after the flood",
    );

    // Everyone else logs in: the anonymous sessions make room.
    let mut users = vec![("alice".to_owned(), alice)];
    for i in 1..FLOOD_BOUND {
        let user = format!("user{i}");
        let cookie = login(user.clone()).await;
        users.push((user, cookie));
    }
    assert_eq!(
        stored(&server).await,
        FLOOD_BOUND,
        "full of logged-in sessions"
    );
    let resp = get(&server, "/count", None).await;
    assert_eq!(
        resp.status, 503,
        "a new visitor in a store full of logged-in sessions"
    );
    assert_no_set_cookie(&resp, "a refused visitor");
    let resp = post(&server, "/login?user=late", None).await;
    assert_eq!(
        resp.status, 503,
        "a new login in a store full of logged-in sessions"
    );
    assert_no_set_cookie(&resp, "a refused login");
    for (user, cookie) in &users {
        assert_answer(
            &get(&server, "/me", Some(cookie)).await,
            200,
            user,
            "every logged-in user is still logged in",
        );
    }
    assert_eq!(stored(&server).await, FLOOD_BOUND);

    // A logout frees a place for the next visitor.
    let resp = post(&server, "/logout", Some(&users[1].1)).await;
    assert_eq!(resp.status, 200, "logout");
    assert_answer(
        &get(&server, "/count", None).await,
        200,
        "1",
        "after a logout",
    );
    assert_answer(
        &get(&server, "/me", Some(&users[0].1)).await,
        200,
        "alice",
        "alice at the end",
    );
    server.stop().await;
}

/// Expiry on the server's real clock, end to end (sesh-embassy targets): a
/// session with a 2 s idle timeout answers right after it starts, selects
/// nothing once 2 s have passed, and sesh-embassy's sweeper (running beside
/// the picoserve workers) has purged it from the table by then. The other
/// expiry cases run on a manual clock (see [`Capability::MovableClock`]),
/// which bypasses what this one checks: that the default `EmbassyClock`
/// reads embassy-time (the host's time driver, or the image's timer in
/// QEMU) and that the sweeper's sleep on it wakes.
pub async fn idle_timeout_on_the_real_clock(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(2),
        absolute_lifetime: sesh::Duration::from_hours(1),
        refresh_percent: 100,
        ..ServerSpec::default()
    };
    let server = make.make(spec).await;
    let first = get(&server, "/count", None).await;
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    let Some(cookie) = first.set_cookies().pop() else {
        panic!("no session cookie")
    };
    assert_eq!(cookie.max_age(), Some(2), "Max-Age is the idle timeout");
    let cookie = cookie.pair();
    let alive = get(&server, "/peek", Some(&cookie)).await;
    assert_eq!(alive.text(), "1", "alive before its idle deadline");
    assert_eq!(stored(&server).await, 1);

    server
        .advance_clock(core::time::Duration::from_millis(2_100))
        .await;
    let expired = get(&server, "/peek", Some(&cookie)).await;
    assert_eq!(
        (expired.status, expired.text().as_str()),
        (200, "0"),
        "gone at its idle deadline"
    );
    assert!(
        expired.set_cookies().is_empty(),
        "an expired id sets nothing"
    );
    // The sweeper wakes at the deadline; allow it a moment on a busy machine.
    let mut stored = server.stored_sessions().await.ok();
    for _ in 0..100 {
        if stored == Some(0) {
            break;
        }
        tokio::time::sleep(core::time::Duration::from_millis(20)).await;
        stored = server.stored_sessions().await.ok();
    }
    assert_eq!(stored, Some(0), "the sweeper purged the expired session");
    server.stop().await;
}

/// The pre-session cookie's name for `spec`: the session cookie's and `-pre`.
fn pre_cookie_name(spec: &ServerSpec) -> String {
    format!("{}-pre", spec.cookie_name)
}

/// `GET /csrf` of a visitor without a session: a 32-character form token
/// and the pre-session cookie (the one presented, sent again, or a new
/// one), with the cache headers; nothing else is set. Returns the token and
/// the cookie's pair.
async fn anonymous_form(
    server: &impl TestServer,
    spec: &ServerSpec,
    presented: Option<&str>,
    context: &str,
) -> (String, String) {
    let resp = get(server, "/csrf", presented).await;
    assert_eq!(resp.status, 200, "{context}: {}", resp.text());
    let token = resp.text();
    assert!(
        token.len() == sesh::presession::PRE_CSRF_TOKEN_LEN && is_base64url(&token),
        "{context}: form token {token:?} is 32 base64url characters"
    );
    let mut all = resp.set_cookies();
    assert_eq!(
        all.len(),
        1,
        "{context}: expected the pre-session cookie alone, got {:?}",
        resp.header_all("set-cookie")
    );
    let Some(cookie) = all.pop() else {
        panic!("{context}: no Set-Cookie");
    };
    assert_eq!(
        cookie.name,
        pre_cookie_name(spec),
        "{context}: {}",
        cookie.raw
    );
    assert!(
        PreSession::parse(&cookie.value).is_ok(),
        "{context}: pre-session value {:?} is 22 base64url characters",
        cookie.value
    );
    // The session cookie's attributes, always HttpOnly, for the idle timeout.
    let pre_spec = ServerSpec {
        http_only: true,
        ..spec.clone()
    };
    assert_attributes(
        &cookie,
        &pre_spec,
        spec.idle_timeout.as_secs_ceil(),
        context,
    );
    assert_cache_headers(&resp, context);
    if let Some(presented) = presented {
        assert_eq!(
            cookie.pair(),
            presented,
            "{context}: the presented pre-session is kept"
        );
    }
    (token, cookie.pair())
}

/// `POST /csrf-check` with `cookie` and `token`; the status.
async fn csrf_check(server: &impl TestServer, cookie: Option<&str>, token: Option<&str>) -> u16 {
    let mut req = Request::post("/csrf-check").maybe_cookie(cookie);
    if let Some(t) = token {
        req = req.header(CSRF_HEADER, t);
    }
    send(server, req).await.status
}

/// A visitor without a session gets a form token (issue 14, finding 1)
/// without anything being stored, even while the store fails: it is bound
/// to a random pre-session cookie, verifies only with that cookie, and is
/// refused forged, changed, expired, under another key or with another
/// visitor's cookie. Logging in with it creates the one session, whose
/// token is then the session-bound one, and the form token dies.
pub async fn an_anonymous_form_token_stores_nothing(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let (token, pre) = anonymous_form(&server, &spec, None, "a new visitor's form").await;
    assert_eq!(stored(&server).await, 0, "a form token stores nothing");

    let check = send(
        &server,
        Request::post("/csrf-check")
            .cookie(&pre)
            .header(CSRF_HEADER, &token),
    )
    .await;
    assert_eq!(check.status, 200, "the form token with its pre-session");
    assert_no_set_cookie(&check, "a checked form token");
    assert_eq!(
        csrf_check(&server, None, Some(&token)).await,
        403,
        "without the pre-session"
    );
    assert_eq!(
        csrf_check(&server, Some(&pre), None).await,
        403,
        "without a token"
    );
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(&flip_first(&token))).await,
        403,
        "a changed token"
    );
    let (other_token, other) = anonymous_form(&server, &spec, None, "another visitor").await;
    assert_ne!(other, pre, "every visitor gets a pre-session of their own");
    assert_eq!(
        csrf_check(&server, Some(&other), Some(&token)).await,
        403,
        "the token with another visitor's pre-session"
    );
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(&other_token)).await,
        403,
        "another visitor's token"
    );
    let (again, _) = anonymous_form(&server, &spec, Some(&pre), "the form again").await;
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(&again)).await,
        200,
        "a second form"
    );

    // Made with the spec's own key for this pre-session: only the expiry differs.
    let value = pre.split_once('=').map_or("", |(_, v)| v);
    let presession = match PreSession::parse(value) {
        Ok(p) => p,
        Err(e) => panic!("pre-session {value:?}: {e}"),
    };
    let ring = match spec.key_ring::<RING>() {
        Ok(r) => r,
        Err(e) => panic!("the spec's keys: {e}"),
    };
    let expired = ring.pre_csrf_token(&presession, Instant::from_millis(1));
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(expired.as_str())).await,
        403,
        "an expired token"
    );
    let lasting = ring.pre_csrf_token(&presession, Instant::from_millis(u64::MAX));
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(lasting.as_str())).await,
        200,
        "the same token unexpired"
    );
    assert_ne!(spec.key, [0x17; 32], "another key than the server's");
    let foreign = match Key::new(&[0x17; 32]) {
        Ok(k) => KeyRing::<1>::new(k).pre_csrf_token(&presession, Instant::from_millis(u64::MAX)),
        Err(e) => panic!("key: {e}"),
    };
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(foreign.as_str())).await,
        403,
        "a token under another key"
    );

    // No store call is made for a form token.
    server.set_store_failing(true);
    anonymous_form(&server, &spec, None, "a form while the store fails").await;
    server.set_store_failing(false);
    assert_eq!(stored(&server).await, 0, "still nothing stored");

    // Logging in creates the session; its token is bound to it.
    let resp = post(&server, "/login?user=alice", Some(&pre)).await;
    assert_answer(&resp, 200, "alice", "login from the form");
    let login = session_cookie(&resp, &spec, "login").pair();
    assert_eq!(stored(&server).await, 1, "the login's session");
    let both = format!("{login}; {pre}");
    let bound = get(&server, "/csrf", Some(&both)).await;
    assert_eq!(bound.status, 200, "/csrf after login");
    assert_eq!(bound.text().len(), 22, "a session-bound token after login");
    assert_no_set_cookie(&bound, "/csrf after login");
    assert_eq!(
        csrf_check(&server, Some(&both), Some(&bound.text())).await,
        200,
        "the session's token"
    );
    assert_eq!(
        csrf_check(&server, Some(&both), Some(&token)).await,
        403,
        "the form token from before login, with both cookies"
    );
    assert_eq!(stored(&server).await, 1);
    server.stop().await;
}

/// A flood of anonymous form views and page views (issue 14, finding 1:
/// 20 requests used to lock out the firmware's login form) stores nothing,
/// even on a store bounded to [`FLOOD_BOUND`] sessions, and a visitor whose
/// form was open before the flood still logs in with its token.
pub async fn an_anonymous_flood_stores_nothing_and_locks_nobody_out(make: impl MakeServer) {
    let spec = ServerSpec {
        max_sessions: Some(FLOOD_BOUND),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let (token, pre) = anonymous_form(&server, &spec, None, "the pending form").await;
    for i in 0..4 * FLOOD_BOUND {
        let context = format!("anonymous visitor {i}");
        anonymous_form(&server, &spec, None, &context).await;
        let peek = get(&server, "/peek", None).await;
        assert_answer(&peek, 200, "0", &context);
        assert_no_set_cookie(&peek, &context);
    }
    assert_eq!(stored(&server).await, 0, "the flood stored nothing");
    assert_eq!(
        csrf_check(&server, Some(&pre), Some(&token)).await,
        200,
        "the pending form's token after the flood"
    );
    let resp = post(&server, "/login?user=alice", Some(&pre)).await;
    assert_answer(&resp, 200, "alice", "login after the flood");
    let login = session_cookie(&resp, &spec, "login").pair();
    assert_answer(
        &get(&server, "/me", Some(&login)).await,
        200,
        "alice",
        "alice is logged in",
    );
    assert_eq!(stored(&server).await, 1, "only the login's session");
    server.stop().await;
}

// ------------------------------------------------- the headers' one decision --

/// Whether `Vary` names `Cookie` (or `*`), and how many times it names it.
fn vary_cookie_count(resp: &Response) -> usize {
    resp.header_all("vary")
        .iter()
        .flat_map(|v| v.split(','))
        .filter(|v| v.trim().eq_ignore_ascii_case("cookie") || v.trim() == "*")
        .count()
}

fn has_no_store(resp: &Response) -> bool {
    resp.header_all("cache-control")
        .iter()
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
}

/// The cache headers of `resp` follow the one rule both adapters share
/// (`sesh::cookie::CookieDecision`): `Vary: Cookie` exactly when `varies`,
/// named once; `Cache-Control: no-store` exactly with a `Set-Cookie`, which
/// always varies.
#[track_caller]
fn assert_cache_rule(resp: &Response, varies: bool, context: &str) {
    let vary = vary_cookie_count(resp);
    assert_eq!(
        vary,
        usize::from(varies),
        "{context}: Vary: Cookie {}expected, got Vary {:?}",
        if varies { "" } else { "not " },
        resp.header_all("vary")
    );
    let sets = !resp.header_all("set-cookie").is_empty();
    assert_eq!(
        has_no_store(resp),
        sets,
        "{context}: Cache-Control: no-store must come exactly with a Set-Cookie (Set-Cookie {:?}, Cache-Control {:?})",
        resp.header_all("set-cookie"),
        resp.header_all("cache-control")
    );
}

/// `Vary: Cookie` goes on a response whose content may depend on the
/// session: one whose handler read it (with or without a cookie in the
/// request, also a cookie that selects nothing), and not on one whose
/// handler never touched it, even when the request sent a cookie, so that
/// caches may share it. Both adapters decide this in `sesh::cookie`.
pub async fn vary_follows_what_the_handler_did_with_the_session(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let live = new_session(&server, &spec, "/count").await.pair();
    let forged = pair_of(
        &spec,
        &format!("{}.AAAAAAAAAAAAAAAAAAAAAA", test_id(3).encode()),
    );
    for (cookie, who) in [
        (None, "no cookie"),
        (Some(live.as_str()), "a live session's cookie"),
        (Some(forged.as_str()), "a forged cookie"),
    ] {
        let plain = get(&server, "/plain", cookie).await;
        assert_answer(&plain, 200, "plain", &format!("/plain with {who}"));
        assert_no_set_cookie(&plain, &format!("/plain with {who}"));
        assert_cache_rule(&plain, false, &format!("/plain with {who}"));

        let peek = get(&server, "/peek", cookie).await;
        assert_eq!(peek.status, 200, "/peek with {who}");
        assert_no_set_cookie(&peek, &format!("/peek with {who}"));
        assert_cache_rule(&peek, true, &format!("/peek with {who}"));

        let me = get(&server, "/me", cookie).await;
        assert_no_set_cookie(&me, &format!("/me with {who}"));
        assert_cache_rule(&me, true, &format!("/me with {who}"));
    }
    // Only the live session's /peek saw data; the others saw none.
    assert_answer(&get(&server, "/peek", Some(&live)).await, 200, "1", "/peek");
    assert_eq!(stored(&server).await, 1, "reads store nothing");
    server.stop().await;
}

/// Every response that sets a cookie (a new session, a login, a removal,
/// the pre-session cookie) carries `Cache-Control: no-store` and `Vary:
/// Cookie`, and a response that sets none carries no `no-store` of sesh's; a
/// cookie that selects nothing is removed at logout and only then.
pub async fn every_set_cookie_comes_with_no_store_and_only_then(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;

    let resp = get(&server, "/count", None).await;
    let session = session_cookie(&resp, &spec, "a new session").pair();
    assert_cache_rule(&resp, true, "a new session");
    let resp = get(&server, "/count", Some(&session)).await;
    assert_no_set_cookie(&resp, "a change without a refresh");
    assert_cache_rule(&resp, true, "a change without a refresh");

    let resp = get(&server, "/csrf", None).await;
    assert_eq!(resp.status, 200, "an anonymous form");
    assert_eq!(resp.set_cookies().len(), 1, "the pre-session cookie alone");
    assert_cache_rule(&resp, true, "an anonymous form");

    let resp = post(&server, "/login?user=alice", Some(&session)).await;
    let login = session_cookie(&resp, &spec, "login").pair();
    assert_cache_rule(&resp, true, "login");

    let resp = post(&server, "/logout", Some(&login)).await;
    let removal = session_cookie(&resp, &spec, "logout");
    assert_eq!(removal.value, "", "logout removes the cookie");
    assert_cache_rule(&resp, true, "logout");

    let forged = pair_of(
        &spec,
        &format!("{}.AAAAAAAAAAAAAAAAAAAAAA", test_id(4).encode()),
    );
    let resp = get(&server, "/peek", Some(&forged)).await;
    assert_no_set_cookie(&resp, "a forged cookie that is only read");
    assert_cache_rule(&resp, true, "a forged cookie that is only read");
    let resp = post(&server, "/logout", Some(&forged)).await;
    let removal = session_cookie(&resp, &spec, "logout with a forged cookie");
    assert_eq!(removal.value, "", "logout removes a forged cookie");
    assert_cache_rule(&resp, true, "logout with a forged cookie");

    let resp = post(&server, "/logout", None).await;
    assert_no_set_cookie(&resp, "logout without a cookie");
    assert_cache_rule(&resp, true, "logout without a cookie");
    assert_eq!(stored(&server).await, 0, "nothing left stored");
    server.stop().await;
}
