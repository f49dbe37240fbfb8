//! The counter over real HTTP/1.1 on loopback, on an ephemeral port. The
//! client keeps no cookies: each test sends the `Cookie` header itself.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use counter::{Options, StoreSpec};
use reqwest::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use reqwest::{Client, StatusCode};

const SECRET: &[u8] = b"a test secret that is 32 bytes!!";

/// Starts a server with `Secure` on or off; returns its URL.
async fn start(secure_cookies: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options {
        secret: SECRET.to_vec(),
        secure_cookies,
        store: StoreSpec::Memory,
    };
    tokio::spawn(async move {
        if let Err(e) = counter::serve(listener, options).await {
            panic!("server failed: {e}");
        }
    });
    format!("http://{addr}/")
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    set_cookies: Vec<String>,
    cache_control: Option<String>,
    body: String,
}

impl Answer {
    /// The count in the body.
    fn count(&self) -> u64 {
        let digits: String = self
            .body
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no count in {:?}", self.body))
    }

    /// The `name=value` pair of the only `Set-Cookie`.
    fn cookie_pair(&self) -> String {
        assert_eq!(self.set_cookies.len(), 1, "{:?}", self.set_cookies);
        self.set_cookies[0].split(';').next().unwrap().to_owned()
    }
}

async fn get(client: &Client, url: &str, cookie: Option<&str>) -> Answer {
    let mut request = client.get(url);
    if let Some(c) = cookie {
        request = request.header(COOKIE, c);
    }
    let response = request.send().await.unwrap();
    let header = |name| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let set_cookies = header(SET_COOKIE);
    let cache_control = header(CACHE_CONTROL).into_iter().next();
    Answer {
        status: response.status(),
        set_cookies,
        cache_control,
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn counts_with_the_cookie_and_restarts_without() {
    let url = start(false).await;
    let client = client();

    let first = get(&client, &url, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.count(), 1, "{}", first.body);
    assert!(first.body.contains("visited"), "{}", first.body);
    let cookie = first.cookie_pair();

    let second = get(&client, &url, Some(&cookie)).await;
    assert_eq!(second.count(), 2);
    assert!(
        second.set_cookies.is_empty(),
        "nothing changed that needs a new cookie: {:?}",
        second.set_cookies
    );
    assert_eq!(get(&client, &url, Some(&cookie)).await.count(), 3);

    // A new client starts at 1, and the first one goes on.
    let other = get(&client, &url, None).await;
    assert_eq!(other.count(), 1);
    assert_ne!(other.cookie_pair(), cookie);
    assert_eq!(get(&client, &url, Some(&cookie)).await.count(), 4);
}

#[tokio::test]
async fn a_forged_cookie_selects_no_session() {
    let url = start(false).await;
    let client = client();
    let cookie = get(&client, &url, None).await.cookie_pair();
    assert_eq!(get(&client, &url, Some(&cookie)).await.count(), 2);

    // Change the first character of the signature.
    let (id, tag) = cookie.split_once('.').unwrap();
    let first = if tag.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{id}.{first}{}", &tag[1..]);
    let answer = get(&client, &url, Some(&forged)).await;
    assert_eq!(answer.count(), 1);
    assert_ne!(answer.cookie_pair(), cookie);
}

/// Checks `sid=<45 characters>` followed by exactly `attributes`.
fn assert_set_cookie(answer: &Answer, attributes: &str) {
    assert_eq!(answer.set_cookies.len(), 1, "{:?}", answer.set_cookies);
    let header = &answer.set_cookies[0];
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
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

#[tokio::test]
async fn set_cookie_without_secure_for_plain_http() {
    let url = start(false).await;
    let answer = get(&client(), &url, None).await;
    assert_set_cookie(&answer, "; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax");
}

#[tokio::test]
async fn set_cookie_with_secure() {
    let url = start(true).await;
    let client = client();
    let answer = get(&client, &url, None).await;
    assert_set_cookie(
        &answer,
        "; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax",
    );
    // The server does not care how the cookie came back: it still counts.
    let cookie = answer.cookie_pair();
    assert_eq!(get(&client, &url, Some(&cookie)).await.count(), 2);
}
