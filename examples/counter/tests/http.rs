//! The counter over real HTTP/1.1 on loopback, on an ephemeral port. The
//! client keeps no cookies: each test sends the `Cookie` header itself.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;

use counter::{Options, StoreSpec};
use sesh_tests::http::client::{Request, Response};

const SECRET: &[u8] = b"a test secret that is 32 bytes!!";

/// Starts a server with `Secure` on or off; returns its address.
async fn start(secure_cookies: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options {
        secret: SECRET.to_vec(),
        secure_cookies,
        store: StoreSpec::Memory,
        max_sessions: None,
    };
    tokio::spawn(async move {
        if let Err(e) = counter::serve(listener, options).await {
            panic!("server failed: {e}");
        }
    });
    addr
}

async fn get(addr: SocketAddr, cookie: Option<&str>) -> Response {
    let request = Request::get("/").maybe_cookie(cookie);
    request.send(addr).await.unwrap()
}

/// The count in a 200's body.
fn count(answer: &Response) -> u64 {
    let body = answer.text();
    assert_eq!(answer.status, 200, "{body}");
    let n = body.split_whitespace().find_map(|w| w.parse().ok());
    n.unwrap_or_else(|| panic!("no count in {body:?}"))
}

/// The `name=value` pair of the only `Set-Cookie`.
fn cookie_pair(answer: &Response) -> String {
    let all = answer.set_cookies();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].pair()
}

#[tokio::test]
async fn counts_with_the_cookie_and_restarts_without() {
    let addr = start(false).await;

    let first = get(addr, None).await;
    assert_eq!(first.status, 200);
    assert_eq!(count(&first), 1);
    assert!(first.text().contains("visited"), "{}", first.text());
    let cookie = cookie_pair(&first);

    let second = get(addr, Some(&cookie)).await;
    assert_eq!(count(&second), 2);
    let set = second.header_all("set-cookie");
    assert!(
        set.is_empty(),
        "nothing changed that needs a new cookie: {set:?}"
    );
    assert_eq!(count(&get(addr, Some(&cookie)).await), 3);

    // A new client starts at 1, and the first one goes on.
    let other = get(addr, None).await;
    assert_eq!(count(&other), 1);
    assert_ne!(cookie_pair(&other), cookie);
    assert_eq!(count(&get(addr, Some(&cookie)).await), 4);
}

#[tokio::test]
async fn a_forged_cookie_selects_no_session() {
    let addr = start(false).await;
    let cookie = cookie_pair(&get(addr, None).await);
    assert_eq!(count(&get(addr, Some(&cookie)).await), 2);

    // Change the first character of the signature.
    let (id, tag) = cookie.split_once('.').unwrap();
    let first = if tag.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{id}.{first}{}", &tag[1..]);
    let answer = get(addr, Some(&forged)).await;
    assert_eq!(count(&answer), 1);
    assert_ne!(cookie_pair(&answer), cookie);
}

/// Checks `sid=<45 characters>` followed by exactly `attributes`.
fn assert_set_cookie(answer: &Response, attributes: &str) {
    let all = answer.header_all("set-cookie");
    assert_eq!(all.len(), 1, "{all:?}");
    let header = &all[0];
    let (pair, rest) = header.split_once(';').unwrap();
    let value = pair.strip_prefix("sid=").unwrap();
    assert_eq!(value.len(), 45, "{value}");
    assert!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
        "{value}"
    );
    assert_eq!(format!(";{rest}"), attributes, "{header}");
    assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn set_cookie_without_secure_for_plain_http() {
    let addr = start(false).await;
    let answer = get(addr, None).await;
    assert_set_cookie(&answer, "; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax");
}

#[tokio::test]
async fn set_cookie_with_secure() {
    let addr = start(true).await;
    let answer = get(addr, None).await;
    assert_set_cookie(
        &answer,
        "; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax",
    );
    // The server does not care how the cookie came back: it still counts.
    let cookie = cookie_pair(&answer);
    assert_eq!(count(&get(addr, Some(&cookie)).await), 2);
}
