//! `floor-layer`: the least a session layer must do for a request to the
//! counter app, hand-written as a tower layer for `layer-cost` and
//! `bench-server floor-layer` only (never published). For a returning
//! request it uses sesh's own primitives where they are public:
//! `CookieScan` finds the cookie, `KeyRing::verify` checks it, the
//! `MemoryStore`'s `edit_in_place` looks the session up and updates it in
//! place under the same expiry policy (clamp and throttled refresh), the
//! handler gets the session through the request's extensions and does the
//! same postcard update, and the response gets the same cache headers as
//! sesh's (`Vary: Cookie`; a `Set-Cookie` with `Cache-Control: no-store`
//! when the refresh is due).
//!
//! A new visitor (no cookie, a forged one, or one whose session is gone)
//! gets a session as any session library must make one: a 128-bit id from
//! the adapter's CSPRNG (`OsRandom`, as `SessionLayer` draws its ids), one
//! create in the same `MemoryStore` (`create_with_meta` with a new
//! session's metadata, as sesh calls it), the signed cookie
//! (`KeyRing::sign`) in a `Set-Cookie` with sesh's attributes, formatted
//! on the stack as sesh does, `Cache-Control: no-store` and `Vary: Cookie`,
//! and the handler's answer (`count 1`).
//!
//! It does nothing else: no lazy loading, no per-request lock, no cookie
//! decision, no pre-session cookie, no retry of a taken id (a 500 instead).
//! So `sesh − floor-layer`, timed in the same rounds, is what sesh's
//! generality costs a request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use axum::http::{HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::{Extension, Router};
use pin_project_lite::pin_project;
use sesh::SessionId;
use sesh::cookie::{CookieConfig, CookieScan, ScanOutcome, write_set_cookie};
use sesh::expiry::{Deadlines, ExpiryPolicy, Lifetime};
use sesh::owner::SessionMeta;
use sesh::record::SessionRecord;
use sesh::signing::KeyRing;
use sesh_tokio::store::Created;
use sesh_tokio::{HostClock, MemoryStore, OsRandom, RandomSource, SessionStore};

use crate::{BoxError, Counter, body, count_call, sesh_keys};

/// The cookie name and the data limit of sesh's defaults.
const COOKIE_NAME: &str = "sid";
const MAX_DATA_LEN: usize = 4096;

/// What every request through one floor layer shares.
struct Shared {
    keys: KeyRing<1>,
    store: MemoryStore,
    clock: HostClock,
    policy: ExpiryPolicy,
}

/// The floor layer (see the module docs).
#[derive(Clone)]
pub struct FloorLayer {
    shared: Arc<Shared>,
}

impl FloorLayer {
    /// A floor over a default `MemoryStore`, with the sesh apps' key.
    pub fn new() -> Result<Self, BoxError> {
        Self::with_max_sessions(None)
    }

    /// A floor over a `MemoryStore` bounded to `max_sessions` (the default
    /// bound for `None`, as `sesh_memory_app`), with the sesh apps' key.
    pub fn with_max_sessions(max_sessions: Option<usize>) -> Result<Self, BoxError> {
        Ok(FloorLayer {
            shared: Arc::new(Shared {
                keys: sesh_keys()?,
                store: max_sessions.map_or_else(MemoryStore::default, MemoryStore::new),
                clock: HostClock::new(),
                policy: ExpiryPolicy::new(),
            }),
        })
    }

    /// Stores `count` sessions holding `Counter { count: 1 }` (what a first
    /// visit to the sesh app leaves) and returns their `Cookie` headers.
    pub async fn mint(&self, count: usize) -> Result<Vec<String>, BoxError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let data = postcard::to_allocvec(&Counter { count: 1 })?;
        let mut cookies = Vec::with_capacity(count);
        for id in crate::measure::new_ids(count)? {
            let record = SessionRecord {
                deadlines: shared.policy.start(now),
                protected: false,
                data: data.clone(),
            };
            shared.store.create(&id, &record, now).await?;
            cookies.push(format!("{COOKIE_NAME}={}", shared.keys.sign(&id)));
        }
        Ok(cookies)
    }
}

impl<S> tower::Layer<S> for FloorLayer {
    type Service = FloorService<S>;

    fn layer(&self, inner: S) -> FloorService<S> {
        FloorService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// One request's session, shared by the handler and the response future.
struct RequestState {
    shared: Arc<Shared>,
    id: Option<SessionId>,
    /// The session the handler made, for a new visitor.
    created: OnceLock<SessionId>,
    /// The new expiry (ms) when the handler's update refreshed it or made
    /// the session, else 0.
    refreshed_until: AtomicU64,
}

/// The extension the handler extracts.
#[derive(Clone)]
pub struct FloorSession(Arc<RequestState>);

/// The floor's service.
#[derive(Clone)]
pub struct FloorService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B, R> tower::Service<Request<B>> for FloorService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let mut scan = CookieScan::new(COOKIE_NAME);
        for value in request.headers().get_all(COOKIE) {
            scan.feed(value.as_bytes());
        }
        let id = match scan.outcome() {
            ScanOutcome::Found(value) => self.shared.keys.verify(value).ok().map(|v| v.id()),
            _ => None,
        };
        let state = Arc::new(RequestState {
            shared: self.shared.clone(),
            id,
            created: OnceLock::new(),
            refreshed_until: AtomicU64::new(0),
        });
        request.extensions_mut().insert(FloorSession(state.clone()));
        FloorFuture {
            inner: self.inner.call(request),
            state,
        }
    }
}

pin_project! {
    /// The floor's response future: adds `Vary: Cookie` (and the cookie of
    /// a refresh or a new session, with `Cache-Control: no-store`).
    pub struct FloorFuture<F> {
        #[pin]
        inner: F,
        state: Arc<RequestState>,
    }
}

impl<F, R, E> Future for FloorFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        let until = this.state.refreshed_until.load(Ordering::Relaxed);
        let created = this.state.created.get().copied();
        if let (Some(id), true) = (created, until != 0) {
            let shared = &this.state.shared;
            let max_age =
                sesh::Instant::from_millis(until).saturating_duration_since(shared.clock.now());
            let config = CookieConfig::new(COOKIE_NAME).with_secure(false);
            // On the stack, as sesh formats it: the header value's copy is
            // the only allocation.
            let mut line = Line {
                bytes: [0; LINE],
                len: 0,
            };
            let value = write_set_cookie(&mut line, &config, shared.keys.sign(&id), max_age)
                .ok()
                .and_then(|()| HeaderValue::from_bytes(line.bytes.get(..line.len)?).ok());
            match value {
                Some(value) => {
                    headers.append(SET_COOKIE, value);
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                None => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
            }
        } else if let (Some(id), true) = (this.state.id, until != 0) {
            let shared = &this.state.shared;
            let max_age =
                sesh::Instant::from_millis(until).saturating_duration_since(shared.clock.now());
            let config = CookieConfig::new(COOKIE_NAME).with_secure(false);
            let mut line = String::new();
            let value = write_set_cookie(&mut line, &config, shared.keys.sign(&id), max_age)
                .ok()
                .and_then(|()| HeaderValue::from_str(&line).ok());
            match value {
                Some(value) => {
                    headers.append(SET_COOKIE, value);
                    // As sesh: a response that sets a cookie is never cached.
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                None => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
        let headers = response.headers_mut();
        if headers.get_all(VARY).iter().next().is_none() {
            headers.append(VARY, HeaderValue::from_static("Cookie"));
        }
        Poll::Ready(Ok(response))
    }
}

/// Room for a `Set-Cookie` value on the stack, as sesh's response future
/// has (sesh's default one is about 90 bytes).
const LINE: usize = 256;

/// A `fmt::Write` into a fixed buffer; an error when it is full.
struct Line {
    bytes: [u8; LINE],
    len: usize,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.saturating_add(s.len());
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Draws session ids from the adapter's [`OsRandom`], as `SessionLayer`
/// does (its own adapter is private to sesh-tokio).
struct OsRng;

impl rand_core::TryRng for OsRng {
    type Error = sesh::RngError;

    fn try_next_u32(&mut self) -> Result<u32, sesh::RngError> {
        let mut b = [0u8; 4];
        OsRandom.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, sesh::RngError> {
        let mut b = [0u8; 8];
        OsRandom.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), sesh::RngError> {
        OsRandom.fill(dst)
    }
}

impl rand_core::TryCryptoRng for OsRng {}

/// A new visitor's session: a fresh id, one create holding
/// `Counter { count: 1 }`, its expiry noted for the response's cookie.
async fn create(state: &RequestState) -> Result<String, StatusCode> {
    let shared = &state.shared;
    let now = shared.clock.now();
    let id = SessionId::generate(&mut OsRng).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let data = postcard::to_allocvec(&Counter { count: 1 })
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let record = SessionRecord {
        deadlines: shared.policy.start(now),
        protected: false,
        data,
    };
    let meta = SessionMeta::new(now);
    match shared
        .store
        .create_with_meta(&id, &record, &meta, now)
        .await
    {
        Ok(Created::Stored(_)) => {}
        Ok(Created::IdTaken) | Err(_) => return Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
    state
        .created
        .set(id)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let until = record.deadlines.expires_at().as_millis();
    state.refreshed_until.store(until.max(1), Ordering::Relaxed);
    Ok(body(1))
}

/// The counter handler on the floor: one in-place update of the session's
/// postcard data (add one), as the sesh handler's `Session::update` does;
/// a new session holding one when there is none.
async fn floor_counter(Extension(session): Extension<FloorSession>) -> Result<String, StatusCode> {
    count_call();
    let state = &session.0;
    let Some(id) = state.id else {
        return create(state).await;
    };
    let shared = &state.shared;
    let now = shared.clock.now();
    let mut refreshed = false;
    let mut count = None;
    let mut found = false;
    let mut edit = |deadlines: &mut Deadlines, _: &mut bool, data: &[u8], lifetime: Lifetime| {
        found = true;
        let policy = shared.policy.for_lifetime(lifetime);
        *deadlines = policy.clamp(*deadlines, now);
        refreshed = policy.touch(deadlines, now);
        let mut counter: Counter = postcard::from_bytes(data).unwrap_or_default();
        counter.count = counter.count.wrapping_add(1);
        let data = postcard::to_allocvec(&counter).ok()?;
        if data.len() > MAX_DATA_LEN {
            return None;
        }
        count = Some(counter.count);
        Some(data)
    };
    let stored = match shared.store.edit_in_place(&id, now, &mut edit) {
        Some(Ok(Some(stored))) => stored,
        // No live session under that id: a new one, as sesh's update makes.
        Some(Ok(None)) if !found => return create(state).await,
        Some(Ok(None)) => return Err(StatusCode::INTERNAL_SERVER_ERROR),
        Some(Err(_)) | None => return Err(StatusCode::INTERNAL_SERVER_ERROR),
    };
    if refreshed {
        let until = stored.record.deadlines.expires_at().as_millis();
        state.refreshed_until.store(until.max(1), Ordering::Relaxed);
    }
    let count = count.ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(body(count))
}

/// The counter app behind `layer` (only `/`: the floor serves nothing else).
pub fn floor_app(layer: FloorLayer) -> Router {
    Router::new().route("/", get(floor_counter)).layer(layer)
}

/// `floor_app` with bench-server's two other routes, outside the layer as
/// they touch no session: `/stats` (no occupancy: `sessions=-`) and `/health`.
pub fn floor_server_app(layer: FloorLayer) -> Router {
    floor_app(layer)
        .route("/stats", get(crate::bare_stats))
        .route("/health", get(crate::health))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::answer;

    /// The floor does the counter's work: each session's count goes up per
    /// request, with `Vary: Cookie`; no cookie, or a forged one, gets a new
    /// session, with sesh's cookie and cache headers, that later requests
    /// select.
    #[test]
    fn the_floor_counts_per_session_and_makes_new_ones() -> Result<(), BoxError> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        runtime.block_on(async {
            let layer = FloorLayer::new()?;
            let cookies = layer.mint(2).await?;
            let app = floor_app(layer).with_state(());
            for round in 2..5 {
                for cookie in &cookies {
                    let got = answer(&app, "/", Some(cookie)).await?;
                    assert_eq!(got.status, StatusCode::OK);
                    assert_eq!(got.body, format!("count {round}\n"));
                    assert_eq!(
                        got.headers.get(VARY).map(HeaderValue::as_bytes),
                        Some(&b"Cookie"[..])
                    );
                    assert!(!got.headers.contains_key(SET_COOKIE));
                }
            }
            let forged = cookies.first().map(|c| format!("{c}x")).unwrap_or_default();
            // Signed but never stored (or long gone): a new session too.
            let ids = crate::measure::new_ids(1)?;
            let unknown = format!("sid={}", sesh_keys()?.sign(ids.first().ok_or("no id")?));
            // The attributes sesh's counter app sends a new visitor.
            let sesh = answer(&crate::sesh_memory_app(None)?.with_state(()), "/", None).await?;
            let sesh_set = sesh.headers.get(SET_COOKIE).ok_or("sesh sent no cookie")?;
            let sesh_attributes = sesh_set
                .to_str()?
                .split_once("; ")
                .ok_or("no attributes")?
                .1;
            assert_eq!(
                sesh_attributes,
                "Path=/; Max-Age=1800; HttpOnly; SameSite=Lax"
            );
            let mut made = Vec::new();
            for cookie in [None, Some(forged.as_str()), Some("other=1"), Some(&unknown)] {
                let got = answer(&app, "/", cookie).await?;
                assert_eq!(got.status, StatusCode::OK, "{cookie:?}");
                assert_eq!(got.body, "count 1\n", "{cookie:?}");
                let header = |name| got.headers.get(name).and_then(|v| v.to_str().ok());
                assert_eq!(header(CACHE_CONTROL), Some("no-store"));
                assert_eq!(header(VARY), Some("Cookie"));
                let set = header(SET_COOKIE).ok_or("no Set-Cookie")?;
                let (pair, attributes) = set.split_once("; ").ok_or("no attributes")?;
                assert_eq!(attributes, sesh_attributes);
                assert!(pair.starts_with("sid=") && pair != unknown, "{pair}");
                made.push(pair.to_owned());
            }
            let distinct: std::collections::BTreeSet<&String> = made.iter().collect();
            assert_eq!(distinct.len(), made.len());
            for cookie in &made {
                let got = answer(&app, "/", Some(cookie)).await?;
                assert_eq!(got.body, "count 2\n");
                assert!(!got.headers.contains_key(SET_COOKIE));
            }
            Ok(())
        })
    }
}
