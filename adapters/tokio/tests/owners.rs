//! Sessions with an owner through the layer (issue 16), on the memory and
//! redb stores: login marks the owner, the owner's list, revocation by
//! display tag, and per-session lifetimes in the cookie and the deadlines.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::RawQuery;
use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, UserId};
use sesh_tokio::store::Revoked;
use sesh_tokio::{Session, SessionConfig, SessionError, SessionLayer, SessionStore};
use tower::ServiceExt;

type S = Session<String>;

fn param<'a>(query: &'a Option<String>, name: &str) -> &'a str {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or("")
}

/// `/login?user=..&life=remember|browser|default&label=..`
async fn login(session: S, RawQuery(q): RawQuery) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    session.replace(param(&q, "user").to_owned()).await?;
    session.set_protected(true).await?;
    session
        .set_owner(UserId::new(param(&q, "user").as_bytes()).unwrap())
        .await?;
    session
        .set_label(Label::truncated(param(&q, "label")))
        .await?;
    match param(&q, "life") {
        "remember" => session.set_lifetime(Lifetime::REMEMBER_ME).await?,
        "browser" => session.set_lifetime(Lifetime::BrowserSession).await?,
        _ => {}
    }
    Ok("ok")
}

/// The user logged in, or "anonymous".
async fn whoami(session: S) -> Result<String, SessionError> {
    Ok(session
        .get()
        .await?
        .unwrap_or_else(|| "anonymous".to_owned()))
}

/// One line per session: `tag current label`.
async fn list(session: S) -> Result<String, SessionError> {
    let mut sessions = session.sessions().await?;
    sessions.sort_by_key(|s| s.tag);
    Ok(sessions
        .iter()
        .map(|s| format!("{} {} {}\n", s.tag, s.current, s.label.as_str()))
        .collect())
}

async fn revoke(session: S, RawQuery(q): RawQuery) -> Result<&'static str, SessionError> {
    let Some(tag) = DisplayTag::parse(param(&q, "tag")) else {
        return Ok("bad tag");
    };
    Ok(match session.revoke(&tag).await? {
        Revoked::Ended => "ended",
        Revoked::NotFound => "not found",
    })
}

async fn revoke_others(session: S) -> Result<String, SessionError> {
    Ok(session.revoke_others().await?.to_string())
}

/// A write as the request's first use of the session.
async fn touch(session: S) -> Result<&'static str, SessionError> {
    session.update(|_| ()).await?;
    Ok("ok")
}

async fn regenerate(session: S) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    Ok("ok")
}

fn app(store: Arc<dyn SessionStore>) -> Router {
    let config = SessionConfig::new(&[7; 32])
        .unwrap()
        .with_secure(false)
        .with_idle_timeout(sesh::Duration::from_secs(60))
        .with_absolute_lifetime(sesh::Duration::from_secs(3600));
    Router::new()
        .route("/login", get(login))
        .route("/whoami", get(whoami))
        .route("/list", get(list))
        .route("/revoke", get(revoke))
        .route("/revoke-others", get(revoke_others))
        .route("/regenerate", get(regenerate))
        .route("/touch", get(touch))
        .layer(SessionLayer::new(store, config).unwrap())
}

struct Answer {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

impl Answer {
    /// The cookie pair to send next.
    fn cookie(&self) -> String {
        let set = self.set_cookie.as_deref().expect("a Set-Cookie");
        set.split(';').next().unwrap().to_owned()
    }
}

async fn send(app: &Router, path: &str, cookie: &str) -> Answer {
    let mut req = Request::get(path);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        set_cookie,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// Logs `user` in from a new device; its cookie.
async fn log_in(app: &Router, user: &str, life: &str) -> String {
    let answer = send(
        app,
        &format!("/login?user={user}&life={life}&label={user}-{life}"),
        "",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.cookie()
}

/// `(tag, current)` of each listed session.
async fn listed(app: &Router, cookie: &str) -> Vec<(String, bool)> {
    let answer = send(app, "/list", cookie).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer
        .body
        .lines()
        .map(|l| {
            let mut parts = l.split(' ');
            (
                parts.next().unwrap().to_owned(),
                parts.next() == Some("true"),
            )
        })
        .collect()
}

fn current_tag(list: &[(String, bool)]) -> String {
    let current: Vec<_> = list.iter().filter(|(_, c)| *c).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    current[0].0.clone()
}

async fn owner_survives_regenerate(store: Arc<dyn SessionStore>) {
    let app = app(store);
    let first = log_in(&app, "alice", "default").await;
    let before = listed(&app, &first).await;
    assert_eq!(before.len(), 1);
    let regenerated = send(&app, "/regenerate", &first).await;
    let moved = regenerated.cookie();
    assert_ne!(moved, first);
    let after = listed(&app, &moved).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(
        current_tag(&after),
        current_tag(&before),
        "a new id, a new tag"
    );
    assert_eq!(send(&app, "/whoami", &first).await.body, "anonymous");

    // The moved session is still alice's: another device ends it.
    let other = log_in(&app, "alice", "default").await;
    assert_eq!(listed(&app, &other).await.len(), 2);
    assert_eq!(send(&app, "/revoke-others", &other).await.body, "1");
    assert_eq!(send(&app, "/whoami", &moved).await.body, "anonymous");
    assert_eq!(send(&app, "/whoami", &other).await.body, "alice");
    assert_eq!(listed(&app, &other).await.len(), 1);
}

async fn listing_and_revoking(store: Arc<dyn SessionStore>) {
    let app = app(store);
    let laptop = log_in(&app, "alice", "default").await;
    let phone = log_in(&app, "alice", "default").await;
    let tablet = log_in(&app, "alice", "default").await;
    let bob = log_in(&app, "bob", "default").await;

    let from_laptop = listed(&app, &laptop).await;
    assert_eq!(from_laptop.len(), 3, "{from_laptop:?}");
    let from_phone = listed(&app, &phone).await;
    assert_ne!(current_tag(&from_laptop), current_tag(&from_phone));
    let phone_tag = current_tag(&from_phone);
    let bob_tag = current_tag(&listed(&app, &bob).await);

    // Another user's tag, or an unknown one, ends nothing.
    let foreign = send(&app, &format!("/revoke?tag={bob_tag}"), &laptop).await;
    assert_eq!(foreign.body, "not found");
    let unknown = send(&app, "/revoke?tag=0123456789abcdef", &laptop).await;
    assert_eq!(unknown.body, "not found");
    assert_eq!(send(&app, "/whoami", &bob).await.body, "bob");
    assert_eq!(listed(&app, &bob).await.len(), 1);
    assert_eq!(listed(&app, &laptop).await.len(), 3);

    // Bob cannot end alice's phone either.
    let by_bob = send(&app, &format!("/revoke?tag={phone_tag}"), &bob).await;
    assert_eq!(by_bob.body, "not found");
    assert_eq!(send(&app, "/whoami", &phone).await.body, "alice");

    // Alice ends her phone from the laptop.
    let ended = send(&app, &format!("/revoke?tag={phone_tag}"), &laptop).await;
    assert_eq!(ended.body, "ended");
    assert_eq!(send(&app, "/whoami", &phone).await.body, "anonymous");
    let left = listed(&app, &laptop).await;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|(t, _)| *t != phone_tag));

    // Ending the current session removes its cookie.
    let own = current_tag(&listed(&app, &tablet).await);
    let answer = send(&app, &format!("/revoke?tag={own}"), &tablet).await;
    assert_eq!(answer.body, "ended");
    let removal = answer.set_cookie.expect("a removal cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    // Sign out everywhere else: only the current one is left.
    let desktop = log_in(&app, "alice", "default").await;
    assert_eq!(send(&app, "/revoke-others", &desktop).await.body, "1");
    let only = listed(&app, &desktop).await;
    assert_eq!(only.len(), 1);
    assert!(only[0].1);
    assert_eq!(send(&app, "/whoami", &laptop).await.body, "anonymous");
    assert_eq!(send(&app, "/whoami", &bob).await.body, "bob");

    // Without an owner: nothing listed, nothing revoked.
    assert!(listed(&app, "").await.is_empty());
    assert_eq!(send(&app, "/revoke-others", "").await.body, "0");
}

async fn remember_me_and_browser_session(store: Arc<dyn SessionStore>) {
    let app = app(store);
    let answer = send(&app, "/login?user=alice&life=remember", "").await;
    let set = answer.set_cookie.clone().unwrap();
    assert!(set.contains("Max-Age=2592000"), "{set}");
    let remembered = answer.cookie();

    let answer = send(&app, "/login?user=alice&life=browser", "").await;
    let set = answer.set_cookie.clone().unwrap();
    assert!(
        !set.contains("Max-Age") && !set.contains("Expires"),
        "{set}"
    );
    let browser = answer.cookie();

    // Past the layer's idle timeout (60 s): the remembered session lives
    // on its own, and its refreshed cookie keeps its Max-Age. A write as a
    // request's first use keeps its own deadlines too.
    tokio::time::advance(Duration::from_secs(45)).await;
    assert_eq!(send(&app, "/touch", &remembered).await.body, "ok");
    let refreshed = send(&app, "/whoami", &browser).await;
    assert_eq!(refreshed.body, "alice");
    let set = refreshed.set_cookie.expect("refreshed");
    assert!(
        !set.contains("Max-Age") && !set.contains("Expires"),
        "{set}"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(send(&app, "/whoami", &browser).await.body, "anonymous");
    assert_eq!(send(&app, "/whoami", &remembered).await.body, "alice");
    // Days later, past the layer's absolute lifetime (1 h) too: the refresh
    // is due by the session's own idle timeout and keeps its Max-Age.
    tokio::time::advance(Duration::from_secs(10 * 24 * 3600)).await;
    let later = send(&app, "/whoami", &remembered).await;
    assert_eq!(later.body, "alice");
    let set = later.set_cookie.expect("refreshed");
    assert!(set.contains("Max-Age=2592000"), "{set}");
}

fn memory() -> Arc<dyn SessionStore> {
    Arc::new(sesh_tokio::MemoryStore::default())
}

mod memory {
    #[tokio::test]
    async fn owner_survives_regenerate() {
        super::owner_survives_regenerate(super::memory()).await;
    }

    #[tokio::test]
    async fn listing_and_revoking() {
        super::listing_and_revoking(super::memory()).await;
    }

    #[tokio::test(start_paused = true)]
    async fn remember_me_and_browser_session() {
        super::remember_me_and_browser_session(super::memory()).await;
    }
}

#[cfg(feature = "redb")]
mod redb {
    use super::*;

    static FILES: AtomicUsize = AtomicUsize::new(0);

    /// A fresh file, removed when dropped.
    struct TempFile(std::path::PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    async fn redb() -> (Arc<dyn SessionStore>, TempFile) {
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sesh-owners-{}-{n}.redb", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let key = sesh_tokio::store::StoreKey::new(&[9; 32]).unwrap();
        let store = sesh_tokio::store::RedbStore::open(&path, key)
            .await
            .unwrap();
        (Arc::new(store), TempFile(path))
    }

    #[tokio::test]
    async fn owner_survives_regenerate() {
        let (store, _file) = redb().await;
        super::owner_survives_regenerate(store).await;
    }

    #[tokio::test]
    async fn listing_and_revoking() {
        let (store, _file) = redb().await;
        super::listing_and_revoking(store).await;
    }

    #[tokio::test(start_paused = true)]
    async fn remember_me_and_browser_session() {
        let (store, _file) = redb().await;
        super::remember_me_and_browser_session(store).await;
    }
}
