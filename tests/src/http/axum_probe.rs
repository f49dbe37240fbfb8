//! The probe app for sesh-tokio on axum, a store wrapper that fails on
//! demand, and the [`TestServer`] handle that serves them over loopback TCP.
//!
//! Everything is generic over the [`SessionStore`], so each store's test
//! file is one factory and one [`session_tests!`](crate::session_tests) line:
//!
//! ```no_run
//! use sesh_tests::http::ServerSpec;
//! use sesh_tests::http::axum_probe::TokioServer;
//! use sesh_tokio::MemoryStore;
//!
//! async fn memory_server(spec: ServerSpec) -> TokioServer<MemoryStore> {
//!     TokioServer::start(MemoryStore::default(), spec).await.expect("server starts")
//! }
//!
//! sesh_tests::session_tests!(memory_server);
//! # fn main() {}
//! ```

use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::vec;
use std::vec::Vec;

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sesh::owner::{DisplayTag, SessionInfo, SessionMeta, SignIn, UserId};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};
use sesh_tokio::store::{
    Created, InPlaceEdit, Occupancy, Removed, Revoked, Saved, StoreFuture, StoredSession,
};
use sesh_tokio::{Session, SessionConfig, SessionLayer, SessionStore, StoreError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::owner_routes::{login_label, login_lifetime, session_line};

use super::{CSRF_HEADER, MAX_BIG_BYTES, ServerError, ServerSpec, TestServer, form_field};

/// The probe app's session data.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeData {
    /// `/count`'s counter.
    pub count: u64,
    /// The user `/login` stored.
    pub user: Option<String>,
    /// `/big`'s blob.
    pub blob: Vec<u8>,
}

type Probe = Session<ProbeData>;
type Answer = Result<Response, sesh_tokio::SessionError>;

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, body.into()).into_response()
}

async fn count(session: Probe) -> Answer {
    let n = session
        .update(|d| {
            d.count = d.count.saturating_add(1);
            d.count
        })
        .await?;
    Ok(text(StatusCode::OK, n.to_string()))
}

async fn peek(session: Probe) -> Answer {
    let n = session.get().await?.map(|d| d.count).unwrap_or(0);
    Ok(text(StatusCode::OK, n.to_string()))
}

async fn login(session: Probe, RawQuery(query): RawQuery, body: Bytes) -> Answer {
    let query = query.unwrap_or_default();
    // The fields come from the query when it names the user, else the form.
    let fields = if form_field(query.as_bytes(), "user").is_some() {
        query.as_bytes()
    } else {
        &body[..]
    };
    let Some(user) = form_field(fields, "user").filter(|u| !u.is_empty()) else {
        return Ok(text(StatusCode::BAD_REQUEST, "field user is missing"));
    };
    let Ok(owner) = UserId::new(user.as_bytes()) else {
        return Ok(text(StatusCode::BAD_REQUEST, "user over 64 bytes"));
    };
    let sign_in = SignIn::new(owner)
        .with_label(login_label(fields))
        .with_lifetime(login_lifetime(fields));
    // The anonymous session's data comes along (the suite checks it).
    let data = |current: Option<&ProbeData>| ProbeData {
        user: Some(user.clone()),
        ..current.cloned().unwrap_or_default()
    };
    session.sign_in(&sign_in, data).await?;
    Ok(text(StatusCode::OK, user))
}

/// Moves the session to a new id, keeping its data (tests/regenerate_race.rs).
async fn regenerate(session: Probe) -> Answer {
    session.regenerate().await?;
    Ok(text(StatusCode::OK, "regenerated"))
}

/// Whether the request's session is logged in (protected, with a user).
async fn logged_in(session: &Probe) -> Result<bool, sesh_tokio::SessionError> {
    let user = session.get().await?.and_then(|d| d.user);
    Ok(user.is_some() && session.is_protected().await?)
}

fn not_logged_in() -> Response {
    text(StatusCode::UNAUTHORIZED, "not logged in")
}

async fn sessions(session: Probe) -> Answer {
    if !logged_in(&session).await? {
        return Ok(not_logged_in());
    }
    let list = session.sessions().await?;
    Ok(text(
        StatusCode::OK,
        list.iter().map(session_line).collect::<String>(),
    ))
}

async fn revoke(session: Probe, RawQuery(query): RawQuery) -> Answer {
    if !logged_in(&session).await? {
        return Ok(not_logged_in());
    }
    let tag = query
        .and_then(|q| form_field(q.as_bytes(), "tag"))
        .and_then(|t| DisplayTag::parse(&t));
    let ended = match tag {
        Some(tag) => session.revoke(&tag).await?,
        None => Revoked::NotFound,
    };
    Ok(match ended {
        Revoked::Ended => text(StatusCode::OK, "ended"),
        Revoked::NotFound => text(StatusCode::NOT_FOUND, "not found"),
    })
}

async fn revoke_others(session: Probe) -> Answer {
    if !logged_in(&session).await? {
        return Ok(not_logged_in());
    }
    let ended = session.revoke_others().await?;
    Ok(text(StatusCode::OK, ended.to_string()))
}

async fn me(session: Probe) -> Answer {
    let user = session.get().await?.and_then(|d| d.user);
    Ok(match user {
        Some(user) if session.is_protected().await? => text(StatusCode::OK, user),
        _ => not_logged_in(),
    })
}

async fn logout(session: Probe) -> Answer {
    session.destroy().await?;
    Ok(text(StatusCode::OK, "bye"))
}

async fn csrf(session: Probe) -> Answer {
    let token = session.csrf_token().await?;
    Ok(text(StatusCode::OK, token.as_str()))
}

async fn csrf_check(session: Probe, headers: HeaderMap) -> Answer {
    let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let ok = match token {
        Some(t) => session.verify_csrf(t).await?,
        None => false,
    };
    Ok(if ok {
        text(StatusCode::OK, "ok")
    } else {
        text(StatusCode::FORBIDDEN, "bad csrf token")
    })
}

async fn big(session: Probe, RawQuery(query): RawQuery) -> Answer {
    let n = query
        .and_then(|q| form_field(q.as_bytes(), "bytes"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n <= MAX_BIG_BYTES);
    let Some(n) = n else {
        return Ok(text(StatusCode::BAD_REQUEST, "bytes=N, N at most 1 MiB"));
    };
    session.update(|d| d.blob = vec![0xA5; n]).await?;
    Ok(text(StatusCode::OK, n.to_string()))
}

/// Extracts the session and never uses it: the response must not vary by cookie.
async fn plain(_session: Probe) -> Answer {
    Ok(text(StatusCode::OK, "plain"))
}

/// The probe routes of [`ROUTES`](super::ROUTES), without a session layer.
pub fn probe_routes() -> Router {
    Router::new()
        .route("/count", get(count))
        .route("/peek", get(peek))
        .route("/login", post(login))
        .route("/regenerate", post(regenerate))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/csrf", get(csrf))
        .route("/csrf-check", post(csrf_check))
        .route("/big", get(big))
        .route("/plain", get(plain))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke", post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
}

/// The probe app behind a [`SessionLayer`] over `store` with `config`.
pub fn probe_app(
    store: impl SessionStore,
    config: SessionConfig,
) -> Result<Router, sesh::cookie::CookieConfigError> {
    Ok(probe_routes().layer(SessionLayer::new(store, config)?))
}

/// Key ring size: room for every spec the cases build.
const RING: usize = 4;

/// The sesh-tokio configuration a [`ServerSpec`] describes.
pub fn session_config(spec: &ServerSpec) -> Result<SessionConfig, sesh::signing::KeyError> {
    let config = SessionConfig::with_key_ring(spec.key_ring::<RING>()?)
        .with_cookie_name(spec.cookie_name.clone())
        .with_path(spec.path.clone())
        .with_same_site(spec.same_site)
        .with_secure(spec.secure)
        .with_http_only(spec.http_only)
        .with_idle_timeout(spec.idle_timeout)
        .with_absolute_lifetime(spec.absolute_lifetime)
        .with_refresh_percent(spec.refresh_percent)
        .with_max_data_len(spec.max_data_len);
    Ok(match &spec.domain {
        Some(domain) => config.with_domain(domain.clone()),
        None => config,
    })
}

/// The error a switched-off [`FailingStore`] reports.
#[derive(Debug)]
pub struct SwitchedOff;

impl std::fmt::Display for SwitchedOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("test store switched to failing")
    }
}

impl std::error::Error for SwitchedOff {}

/// Wraps a store; while its switch is on, every call fails with
/// [`StoreError::Unavailable`] and the wrapped store is not touched.
///
/// ```
/// use sesh_tests::http::axum_probe::FailingStore;
/// let store = FailingStore::new(sesh_tokio::MemoryStore::default());
/// store.set_failing(true);
/// assert!(store.is_failing());
/// ```
#[derive(Debug, Default)]
pub struct FailingStore<S> {
    inner: S,
    failing: AtomicBool,
    /// Calls left until the one that fails (1: the next); 0: none.
    fail_in: AtomicUsize,
}

impl<S> FailingStore<S> {
    /// Wraps `inner`, working.
    pub fn new(inner: S) -> Self {
        FailingStore {
            inner,
            failing: AtomicBool::new(false),
            fail_in: AtomicUsize::new(0),
        }
    }

    /// Makes only the `nth` call from now on fail (1: the next); 0: none.
    pub fn fail_call(&self, nth: usize) {
        self.fail_in.store(nth, Ordering::SeqCst);
    }

    /// Turns failing on or off.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Whether calls fail now.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::SeqCst)
    }

    /// The wrapped store, to inspect it past the switch.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn check(&self) -> Result<(), StoreError> {
        let this_call = self
            .fail_in
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|before| before == 1);
        if this_call || self.is_failing() {
            Err(StoreError::Unavailable(Box::new(SwitchedOff)))
        } else {
            Ok(())
        }
    }
}

impl<S: SessionStore> SessionStore for FailingStore<S> {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            self.check()?;
            self.inner.load(id, now).await
        })
    }

    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            self.check()?;
            self.inner.load_for_update(id, now).await
        })
    }

    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>> {
        match self.check() {
            Ok(()) => self.inner.edit_in_place(id, now, edit),
            Err(e) => Some(Err(e)),
        }
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            self.check()?;
            self.inner.create(id, record, now).await
        })
    }

    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            self.check()?;
            self.inner.create_with_meta(id, record, meta, now).await
        })
    }

    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(async move {
            self.check()?;
            self.inner
                .save_with_meta(id, record, meta, expected_version, now)
                .await
        })
    }

    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        Box::pin(async move {
            self.check()?;
            self.inner.sessions_of(user, current, now).await
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        Box::pin(async move {
            self.check()?;
            self.inner.revoke(user, tag, now).await
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            self.check()?;
            self.inner.revoke_all(user, except, now).await
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(async move {
            self.check()?;
            self.inner.save(id, record, expected_version, now).await
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check()?;
            self.inner.delete(id).await
        })
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        Box::pin(async move {
            self.check()?;
            self.inner.delete_version(id, expected_version, now).await
        })
    }

    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            self.check()?;
            self.inner.purge_expired(now).await
        })
    }

    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(async move {
            self.check()?;
            self.inner.occupancy().await
        })
    }
}

/// The probe app for sesh-tokio over store `S`, served by `axum::serve` on
/// an ephemeral loopback port: the [`TestServer`] for sesh-tokio.
#[derive(Debug)]
pub struct TokioServer<S> {
    store: Arc<FailingStore<S>>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

impl<S: SessionStore> TokioServer<S> {
    /// Serves the probe app over `store` with the settings of `spec` on
    /// `127.0.0.1:0`, on the current tokio runtime.
    pub async fn start(store: S, spec: ServerSpec) -> io::Result<Self> {
        let store = Arc::new(FailingStore::new(store));
        let (addr, shutdown, task) = serve(store.clone(), &spec).await?;
        Ok(TokioServer {
            store,
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The store, behind its failure switch.
    pub fn store(&self) -> &Arc<FailingStore<S>> {
        &self.store
    }

    async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log_problem(&std::format!("probe server failed: {e}")),
                Err(e) => log_problem(&std::format!("probe server task failed: {e}")),
            }
        }
    }
}

/// Reports a problem a case cannot act on, on stderr (captured by the test
/// harness and shown for failed tests).
fn log_problem(message: &str) {
    std::eprintln!("{message}");
}

type Served = (SocketAddr, oneshot::Sender<()>, JoinHandle<io::Result<()>>);

async fn serve<S: SessionStore>(
    store: Arc<FailingStore<S>>,
    spec: &ServerSpec,
) -> io::Result<Served> {
    let config = session_config(spec).map_err(invalid)?;
    let app = probe_app(store, config).map_err(invalid)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok((addr, tx, task))
}

impl<S: SessionStore> TestServer for TokioServer<S> {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn stored_sessions(&self) -> Result<usize, ServerError> {
        let occupancy = self.store.inner().occupancy().await?;
        Ok(occupancy
            .ok_or("the store keeps no count of its sessions")?
            .sessions)
    }

    fn set_store_failing(&self, failing: bool) {
        self.store.set_failing(failing);
    }

    fn fail_store_call(&self, nth: usize) {
        self.store.fail_call(nth);
    }

    async fn advance_clock(&self, by: core::time::Duration) {
        tokio::time::advance(by).await;
    }

    async fn restart(&mut self, spec: ServerSpec) -> Result<(), ServerError> {
        self.shut_down().await;
        let (addr, tx, task) = serve(self.store.clone(), &spec).await?;
        self.addr = addr;
        self.shutdown = Some(tx);
        self.task = Some(task);
        Ok(())
    }

    async fn stop(mut self) {
        self.shut_down().await;
    }
}

impl<S> Drop for TokioServer<S> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
