//! Sessions with an owner through the layer (issue 16), on the memory and
//! redb stores: a regenerated session stays its owner's. Listing, revoking
//! and lifetimes are cases of the HTTP suite (`sesh_tests::http`), which
//! runs on every store.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use sesh::owner::{Label, UserId};
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

/// `/login?user=..&label=..`
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

async fn revoke_others(session: S) -> Result<String, SessionError> {
    Ok(session.revoke_others().await?.to_string())
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
        .route("/revoke-others", get(revoke_others))
        .route("/regenerate", get(regenerate))
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
async fn log_in(app: &Router, user: &str) -> String {
    let answer = send(app, &format!("/login?user={user}&label={user}"), "").await;
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
    let first = log_in(&app, "alice").await;
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
    let other = log_in(&app, "alice").await;
    assert_eq!(listed(&app, &other).await.len(), 2);
    assert_eq!(send(&app, "/revoke-others", &other).await.body, "1");
    assert_eq!(send(&app, "/whoami", &moved).await.body, "anonymous");
    assert_eq!(send(&app, "/whoami", &other).await.body, "alice");
    assert_eq!(listed(&app, &other).await.len(), 1);
}

fn memory() -> Arc<dyn SessionStore> {
    Arc::new(sesh_tokio::MemoryStore::default())
}

mod memory {
    #[tokio::test]
    async fn owner_survives_regenerate() {
        super::owner_survives_regenerate(super::memory()).await;
    }
}

#[cfg(feature = "redb")]
mod redb {
    use std::sync::atomic::{AtomicUsize, Ordering};

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
}
