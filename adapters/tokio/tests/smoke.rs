//! In-process checks of the layer through `tower::ServiceExt::oneshot`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Visits {
    count: u64,
}

async fn count(session: Session<Visits>) -> Result<String, SessionError> {
    let n = session
        .update(|v| {
            v.count += 1;
            v.count
        })
        .await?;
    Ok(n.to_string())
}

async fn peek(session: Session<Visits>) -> Result<String, SessionError> {
    Ok(session
        .get()
        .await?
        .map(|v| v.count)
        .unwrap_or(0)
        .to_string())
}

fn app() -> Router {
    let config = SessionConfig::new(&[7; 32]).unwrap().with_secure(false);
    Router::new()
        .route("/", get(count))
        .route("/peek", get(peek))
        .layer(SessionLayer::new(MemoryStore::default(), config).unwrap())
}

async fn send(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
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
    (
        status,
        set_cookie,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn counts_with_the_cookie_and_restarts_without() {
    let app = app();
    let (status, set, body) = send(&app, "/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let set = set.expect("a new session sets the cookie");
    let pair = set.split(';').next().unwrap().to_owned();
    let (_, set2, body) = send(&app, "/", Some(&pair)).await;
    assert_eq!(body, "2");
    assert!(
        set2.is_none(),
        "nothing changed that needs a cookie: {set2:?}"
    );
    assert_eq!(send(&app, "/", Some(&pair)).await.2, "3");
    assert_eq!(send(&app, "/", None).await.2, "1");
}

#[tokio::test]
async fn reading_stores_nothing_and_sets_no_cookie() {
    let app = app();
    let (status, set, body) = send(&app, "/peek", None).await;
    assert_eq!((status, set, body.as_str()), (StatusCode::OK, None, "0"));
}

/// A handler's own `Vary` names a header that merely contains "cookie": the
/// layer still adds `Vary: Cookie`; one that names `Cookie` (any case) or
/// `*` is left as it is.
#[tokio::test]
async fn vary_cookie_is_added_unless_a_token_names_it() {
    for (own, expected) in [
        ("X-Cookie-Consent", &["X-Cookie-Consent", "Cookie"][..]),
        ("Cookies", &["Cookies", "Cookie"]),
        ("Accept-Encoding, COOKIE", &["Accept-Encoding, COOKIE"]),
        ("*", &["*"]),
    ] {
        let config = SessionConfig::new(&[7; 32]).unwrap().with_secure(false);
        let app = Router::new()
            .route(
                "/",
                get(move |session: Session<Visits>| async move {
                    session.update(|v| v.count += 1).await?;
                    Ok::<_, SessionError>(([(header::VARY, own)], "ok"))
                }),
            )
            .layer(SessionLayer::new(MemoryStore::default(), config).unwrap());
        let res = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(res.headers().contains_key(header::SET_COOKIE));
        let vary: Vec<&str> = res
            .headers()
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vary, expected, "handler's Vary: {own}");
    }
}

/// A form page: the CSRF token of a visitor with or without a session.
async fn form(session: Session<Visits>) -> Result<String, SessionError> {
    Ok(session.csrf_token().await?.to_string())
}

/// 200 when the `token` query parameter verifies, else 403.
async fn check(
    session: Session<Visits>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<StatusCode, SessionError> {
    let token = query
        .as_deref()
        .and_then(|q| q.strip_prefix("token="))
        .unwrap_or("");
    Ok(if session.verify_csrf(token).await? {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    })
}

/// Issue 14, finding 1: an anonymous form token is valid for the idle
/// timeout (here 60 s) on the layer's clock, and only with its pre-session
/// cookie; nothing is stored for it.
#[tokio::test(start_paused = true)]
async fn a_form_token_expires_with_the_idle_timeout() {
    let store = std::sync::Arc::new(MemoryStore::default());
    let config = SessionConfig::new(&[7; 32])
        .unwrap()
        .with_secure(false)
        .with_idle_timeout(sesh::Duration::from_secs(60));
    let app = Router::new()
        .route("/form", get(form))
        .route("/check", get(check))
        .layer(SessionLayer::new(store.clone(), config).unwrap());
    let (status, set, token) = send(&app, "/form", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token.len(), 32, "{token}");
    let set = set.expect("the pre-session cookie");
    assert!(
        set.starts_with("sid-pre=") && set.contains("Max-Age=60"),
        "{set}"
    );
    let pre = set.split(';').next().unwrap().to_owned();
    use sesh_tokio::SessionStore as _;
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 0);

    let path = format!("/check?token={token}");
    tokio::time::advance(std::time::Duration::from_millis(59_999)).await;
    assert_eq!(send(&app, &path, Some(&pre)).await.0, StatusCode::OK);
    assert_eq!(send(&app, &path, None).await.0, StatusCode::FORBIDDEN);
    tokio::time::advance(std::time::Duration::from_millis(1)).await;
    assert_eq!(
        send(&app, &path, Some(&pre)).await.0,
        StatusCode::FORBIDDEN,
        "expired at the idle timeout"
    );
    // A new form for the same browser: the same cookie, a fresh token.
    let (_, again, fresh) = send(&app, "/form", Some(&pre)).await;
    assert_eq!(again.unwrap().split(';').next(), Some(pre.as_str()));
    let path = format!("/check?token={fresh}");
    assert_eq!(send(&app, &path, Some(&pre)).await.0, StatusCode::OK);
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 0);
}

/// A store where another writer always wins: every compare-and-swap and
/// every compare-and-delete answers `Conflict`. Everything else is the
/// memory store's (with no in-place edit, so updates use compare-and-swap).
struct AlwaysOvertaken(MemoryStore);

impl sesh_tokio::SessionStore for AlwaysOvertaken {
    fn load<'a>(
        &'a self,
        id: &'a sesh::SessionId,
        now: sesh::Instant,
    ) -> sesh_tokio::store::StoreFuture<'a, Option<sesh_tokio::store::StoredSession>> {
        self.0.load(id, now)
    }
    fn create<'a>(
        &'a self,
        id: &'a sesh::SessionId,
        record: &'a sesh::record::SessionRecord<Vec<u8>>,
        now: sesh::Instant,
    ) -> sesh_tokio::store::StoreFuture<'a, sesh_tokio::store::Created> {
        self.0.create(id, record, now)
    }
    fn save<'a>(
        &'a self,
        _: &'a sesh::SessionId,
        _: &'a sesh::record::SessionRecord<Vec<u8>>,
        _: u64,
        _: sesh::Instant,
    ) -> sesh_tokio::store::StoreFuture<'a, sesh_tokio::store::Saved> {
        Box::pin(async move { Ok(sesh_tokio::store::Saved::Conflict) })
    }
    fn delete<'a>(&'a self, id: &'a sesh::SessionId) -> sesh_tokio::store::StoreFuture<'a, ()> {
        self.0.delete(id)
    }
    fn delete_version<'a>(
        &'a self,
        _: &'a sesh::SessionId,
        _: u64,
        _: sesh::Instant,
    ) -> sesh_tokio::store::StoreFuture<'a, sesh_tokio::store::Removed> {
        Box::pin(async move { Ok(sesh_tokio::store::Removed::Conflict) })
    }
    fn purge_expired(&self, now: sesh::Instant) -> sesh_tokio::store::StoreFuture<'_, usize> {
        self.0.purge_expired(now)
    }
    fn occupancy(
        &self,
    ) -> sesh_tokio::store::StoreFuture<'_, Option<sesh_tokio::store::Occupancy>> {
        self.0.occupancy()
    }
}

/// `Contended` is what endless contention gives, and only that: an update
/// or a regenerate that loses every attempt answers 503, and the session is
/// still there, unchanged, under its old id (nothing lost).
#[tokio::test]
async fn losing_every_compare_and_swap_is_contended_and_loses_nothing() {
    let config = SessionConfig::new(&[7; 32]).unwrap().with_secure(false);
    let app =
        Router::new()
            .route("/", get(count))
            .route("/peek", get(peek))
            .route(
                "/regenerate",
                get(|session: Session<Visits>| async move {
                    session.regenerate().await.map(|()| "moved")
                }),
            )
            .route(
                "/occupancy",
                get(|session: Session<Visits>| async move {
                    let occupancy = session.occupancy().await?.map(|o| o.sessions);
                    Ok::<_, SessionError>(occupancy.unwrap_or(0).to_string())
                }),
            )
            .layer(SessionLayer::new(AlwaysOvertaken(MemoryStore::default()), config).unwrap());
    let (status, set, body) = send(&app, "/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"), "a create");
    let pair = set.unwrap().split(';').next().unwrap().to_owned();

    let (status, set, _) = send(&app, "/", Some(&pair)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(set, None);
    assert_eq!(
        SessionError::Contended.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (status, set, _) = send(&app, "/regenerate", Some(&pair)).await;
    assert_eq!((status, set), (StatusCode::SERVICE_UNAVAILABLE, None));

    let (status, _, body) = send(&app, "/peek", Some(&pair)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "1"),
        "kept, old id"
    );
    let (_, _, sessions) = send(&app, "/occupancy", None).await;
    assert_eq!(sessions, "1", "each attempt's new copy was removed again");
}
