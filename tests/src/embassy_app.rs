//! The probe app for sesh-embassy: the routes of the HTTP suite
//! (`sesh_tests::http::ROUTES`) as picoserve handlers on a sesh-embassy table,
//! `no_std` with `alloc` (feature `embassy-app`). The host suite serves it on
//! an in-process embassy-net stack (`http::embassy_probe`); the QEMU probe
//! image (`tests/qemu-probe`) serves the very same code on the emulated
//! board's LAN9118.
//!
//! sesh-embassy stores data in place (no encoding), so the data limit of the
//! `ServerSpec` is enforced by the handlers: [`ProbeData::data_len`] is
//! checked before anything is written, and data over the limit answers 413
//! without storing. The blob can never exceed [`BLOB_CAPACITY`], so a spec
//! with a larger limit behaves as if the limit were [`BLOB_CAPACITY`] for
//! `/big`.

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use core::cell::Cell;
use core::convert::Infallible;
use core::sync::atomic::{AtomicUsize, Ordering};

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use picoserve::ResponseSent;
use picoserve::extract::{FromRef, FromRequestParts, State};
use picoserve::io::Read;
use picoserve::request::RequestParts;
use picoserve::response::{Connection, IntoResponse, Response, ResponseWriter, StatusCode};
use picoserve::routing::{PathRouter, get, post};
use picoserve::{Router, Timeouts};
use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use sesh::owner::{DisplayTag, SignIn, UserId};
use sesh::table::NotFound;
use sesh_embassy::{Clock, Session, SessionError, Sessions, WithSession};

use crate::form::form_field;
use crate::owner_routes::{login_label, login_lifetime, session_line};
use crate::spec::{CSRF_HEADER, MAX_BIG_BYTES};

/// Sessions the probe's table holds.
pub const CAPACITY: usize = 16;
/// The largest blob `/big` can store.
pub const BLOB_CAPACITY: usize = 4096;
/// The longest user name `/login` can store.
pub const USER_CAPACITY: usize = 64;
/// Largest request body `/login` reads (a form).
const FORM_CAPACITY: usize = 1024;
/// picoserve workers (one connection each).
pub const WORKERS: usize = 4;
/// The HTTP port.
pub const PORT: u16 = 80;
/// Per-worker HTTP buffer: the whole request head must fit, and the suite
/// sends one with 64 KiB of cookie junk.
pub const HTTP_BUFFER: usize = 80 * 1024;
/// Per-worker TCP buffers.
pub const TCP_BUFFER: usize = 8 * 1024;

/// picoserve's settings: one request per connection, as the suite's client
/// asks anyway (`Connection: close`).
const SERVER_CONFIG: picoserve::Config = picoserve::Config::new(Timeouts {
    start_read_request: embassy_time::Duration::from_secs(5),
    persistent_start_read_request: embassy_time::Duration::from_secs(1),
    read_request: embassy_time::Duration::from_secs(5),
    write: embassy_time::Duration::from_secs(5),
})
.close_connection_after_response();

/// The probe app's session data, in fixed-capacity fields.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeData {
    /// `/count`'s counter.
    pub count: u64,
    /// The user `/login` stored.
    pub user: Option<heapless::String<USER_CAPACITY>>,
    /// `/big`'s blob.
    pub blob: heapless::Vec<u8, BLOB_CAPACITY>,
}

impl ProbeData {
    /// The size the probe counts against `ServerSpec::max_data_len`: 8 bytes
    /// of counter plus the user's and the blob's bytes.
    pub fn data_len(&self) -> usize {
        8 + self.user.as_ref().map_or(0, |u| u.len()) + self.blob.len()
    }
}

/// The probe's session table over the session RNG `R`.
/// `CriticalSectionRawMutex`, because the host suite reads it
/// (`stored_sessions`) from another thread. Every session may have an
/// owner (a metadata pool of `CAPACITY`), as in the host tables the suite
/// also runs against.
pub type ProbeSessions<R> =
    Sessions<CriticalSectionRawMutex, ProbeData, R, CAPACITY, 2, ProbeClock, CAPACITY>;

type ProbeSession<R> =
    Session<CriticalSectionRawMutex, ProbeData, R, CAPACITY, 2, ProbeClock, CAPACITY>;

/// The probe table's clock: embassy-time's, or a [`ManualClock`] that a
/// case moves (`TestServer::advance_clock`), so that a step of the suite's
/// paused-clock cases lands to the millisecond.
#[derive(Debug, Clone, Copy)]
pub enum ProbeClock {
    /// embassy-time's clock.
    Real,
    /// A clock that moves only when [`ManualClock::advance`] moves it.
    Manual(&'static ManualClock),
}

impl Clock for ProbeClock {
    fn now(&self) -> sesh::Instant {
        match self {
            ProbeClock::Real => sesh_embassy::now(),
            ProbeClock::Manual(clock) => clock.now(),
        }
    }
}

/// A clock that stands still until it is moved: what a paused tokio clock
/// is to sesh-tokio. A critical section, not an atomic: Cortex-M4 has no
/// 64-bit atomics.
#[derive(Debug)]
pub struct ManualClock(Mutex<CriticalSectionRawMutex, Cell<u64>>);

impl ManualClock {
    /// Where the probes' manual clocks start: a minute after boot, so that
    /// an instant a case takes for the past (1 ms) is past, as on a device.
    pub const START: sesh::Instant = sesh::Instant::from_secs(60);

    /// A clock standing at `at`.
    pub const fn starting_at(at: sesh::Instant) -> Self {
        ManualClock(Mutex::new(Cell::new(at.as_millis())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: sesh::Duration) {
        self.0
            .lock(|ms| ms.set(ms.get().saturating_add(by.as_millis())));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> sesh::Instant {
        sesh::Instant::from_millis(self.0.lock(Cell::get))
    }
}

/// The router's state: the leaked table and the data limit.
pub struct ProbeState<R: 'static> {
    /// The sessions.
    pub sessions: &'static ProbeSessions<R>,
    /// `ServerSpec::max_data_len`.
    pub max_data_len: usize,
}

// Not derived: a derive would ask `R: Clone`, and only the reference is copied.
impl<R> Clone for ProbeState<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for ProbeState<R> {}

impl<R> FromRef<ProbeState<R>> for &'static ProbeSessions<R> {
    fn from_ref(state: &ProbeState<R>) -> Self {
        state.sessions
    }
}

/// The data limit, as an extractor (`State<DataLimit>`).
#[derive(Clone, Copy)]
struct DataLimit(usize);

impl<R> FromRef<ProbeState<R>> for DataLimit {
    fn from_ref(state: &ProbeState<R>) -> Self {
        DataLimit(state.max_data_len)
    }
}

/// The raw query string, owned (picoserve handlers cannot borrow the request).
struct RawQuery(Option<String>);

impl<'r, S> FromRequestParts<'r, S> for RawQuery {
    type Rejection = Infallible;

    async fn from_request_parts(
        _state: &'r S,
        parts: &RequestParts<'r>,
    ) -> Result<Self, Infallible> {
        Ok(RawQuery(parts.query().map(|q| q.0.to_owned())))
    }
}

/// The first `x-csrf-token` header, if it is UTF-8.
struct CsrfHeader(Option<String>);

impl<'r, S> FromRequestParts<'r, S> for CsrfHeader {
    type Rejection = Infallible;

    async fn from_request_parts(
        _state: &'r S,
        parts: &RequestParts<'r>,
    ) -> Result<Self, Infallible> {
        let value = parts.headers().get(CSRF_HEADER);
        Ok(CsrfHeader(
            value.and_then(|v| v.as_str().ok()).map(str::to_owned),
        ))
    }
}

/// What a handler answers, before the session adds its cookie.
enum Reply {
    Text(StatusCode, String),
    Error(SessionError),
}

impl IntoResponse for Reply {
    async fn write_to<R: Read, W: ResponseWriter<Error = R::Error>>(
        self,
        connection: Connection<'_, R>,
        writer: W,
    ) -> Result<ResponseSent, W::Error> {
        match self {
            Reply::Text(status, body) => {
                let response = Response::new(status, body.as_str());
                writer.write_response(connection, response).await
            }
            Reply::Error(error) => error.write_to(connection, writer).await,
        }
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    Reply::Text(status, body.into())
}

fn ok(body: impl Into<String>) -> Reply {
    text(StatusCode::OK, body)
}

fn over_the_limit() -> Reply {
    text(StatusCode::PAYLOAD_TOO_LARGE, "session data over the limit")
}

fn or_error(reply: Result<Reply, SessionError>) -> Reply {
    reply.unwrap_or_else(Reply::Error)
}

async fn count<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let n = session
        .update(|d| {
            d.count = d.count.saturating_add(1);
            d.count
        })
        .await;
    let reply = or_error(n.map(|n| ok(n.to_string())));
    session.respond(reply).await
}

async fn peek<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let n = session.read(|d| d.count).await.unwrap_or(0);
    session.respond(ok(n.to_string())).await
}

async fn login<R: TryCryptoRng>(
    session: ProbeSession<R>,
    RawQuery(query): RawQuery,
    State(DataLimit(limit)): State<DataLimit>,
    body: heapless::Vec<u8, FORM_CAPACITY>,
) -> WithSession<Reply> {
    let reply = or_error(log_in(&session, query, &body, limit).await);
    session.respond(reply).await
}

async fn log_in<R: TryCryptoRng>(
    session: &ProbeSession<R>,
    query: Option<String>,
    body: &[u8],
    limit: usize,
) -> Result<Reply, SessionError> {
    let query = query.unwrap_or_default();
    // The fields come from the query when it names the user, else the form.
    let fields = if form_field(query.as_bytes(), "user").is_some() {
        query.as_bytes()
    } else {
        body
    };
    let Some(user) = form_field(fields, "user").filter(|u| !u.is_empty()) else {
        return Ok(text(StatusCode::BAD_REQUEST, "field user is missing"));
    };
    let (Ok(stored), Ok(owner)) = (
        heapless::String::<USER_CAPACITY>::try_from(user.as_str()),
        UserId::new(user.as_bytes()),
    ) else {
        return Ok(over_the_limit());
    };
    // The anonymous session's data comes along (the suite checks it). It
    // is made under the table's lock, never held in this future (4 KiB
    // in each of the image's 104 slots).
    let with_user = |current: Option<&ProbeData>| ProbeData {
        user: Some(stored.clone()),
        ..current.cloned().unwrap_or_default()
    };
    let len = session.read(|d| with_user(Some(d)).data_len()).await;
    if len.unwrap_or_else(|| with_user(None).data_len()) > limit {
        return Ok(over_the_limit());
    }
    let sign_in = SignIn::new(owner)
        .with_label(login_label(fields))
        .with_lifetime(login_lifetime(fields));
    match session.sign_in(&sign_in, with_user).await {
        Ok(_) => Ok(ok(user)),
        Err(SessionError::Full) => Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions are signed in",
        )),
        Err(e) => Err(e),
    }
}

async fn logged_in<R: TryCryptoRng>(session: &ProbeSession<R>) -> bool {
    let user = session.read(|d| d.user.is_some()).await.unwrap_or(false);
    user && session.is_protected().await
}

fn not_logged_in() -> Reply {
    text(StatusCode::UNAUTHORIZED, "not logged in")
}

async fn sessions<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let reply = if logged_in(&session).await {
        let list = session.sessions::<CAPACITY>().await;
        ok(list.iter().map(session_line).collect::<String>())
    } else {
        not_logged_in()
    };
    session.respond(reply).await
}

async fn revoke<R: TryCryptoRng>(
    session: ProbeSession<R>,
    RawQuery(query): RawQuery,
) -> WithSession<Reply> {
    let tag = query
        .and_then(|q| form_field(q.as_bytes(), "tag"))
        .and_then(|t| DisplayTag::parse(&t));
    let reply = if !logged_in(&session).await {
        not_logged_in()
    } else {
        let ended = match tag {
            Some(tag) => session.revoke(&tag).await,
            None => Err(NotFound),
        };
        match ended {
            Ok(()) => ok("ended"),
            Err(NotFound) => text(StatusCode::NOT_FOUND, "not found"),
        }
    };
    session.respond(reply).await
}

async fn revoke_others<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let reply = if logged_in(&session).await {
        ok(session.revoke_others().await.to_string())
    } else {
        not_logged_in()
    };
    session.respond(reply).await
}

async fn me<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let user = session.read(|d| d.user.clone()).await.flatten();
    let reply = match user {
        Some(user) if session.is_protected().await => ok(user.as_str()),
        _ => not_logged_in(),
    };
    session.respond(reply).await
}

async fn logout<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    session.destroy().await;
    session.respond(ok("bye")).await
}

async fn csrf<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    let token = session.csrf_token().await;
    let reply = or_error(token.map(|t| ok(t.as_str())));
    session.respond(reply).await
}

async fn csrf_check<R: TryCryptoRng>(
    session: ProbeSession<R>,
    CsrfHeader(token): CsrfHeader,
) -> WithSession<Reply> {
    let valid = match token {
        Some(t) => session.verify_csrf(&t).await,
        None => false,
    };
    let reply = if valid {
        ok("ok")
    } else {
        text(StatusCode::FORBIDDEN, "bad csrf token")
    };
    session.respond(reply).await
}

async fn big<R: TryCryptoRng>(
    session: ProbeSession<R>,
    RawQuery(query): RawQuery,
    State(DataLimit(limit)): State<DataLimit>,
) -> WithSession<Reply> {
    let reply = or_error(store_blob(&session, query, limit).await);
    session.respond(reply).await
}

async fn store_blob<R: TryCryptoRng>(
    session: &ProbeSession<R>,
    query: Option<String>,
    limit: usize,
) -> Result<Reply, SessionError> {
    let n = query
        .and_then(|q| form_field(q.as_bytes(), "bytes"))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n <= MAX_BIG_BYTES);
    let Some(n) = n else {
        return Ok(text(StatusCode::BAD_REQUEST, "bytes=N, N at most 1 MiB"));
    };
    // The size with the new blob, over the limit or the blob's capacity:
    // refused before anything is written, so no session starts either.
    let fits = |d: &ProbeData| n <= BLOB_CAPACITY && d.data_len() - d.blob.len() + n <= limit;
    let fits_now = session.read(fits).await;
    if !fits_now.unwrap_or_else(|| fits(&ProbeData::default())) {
        return Ok(over_the_limit());
    }
    // Checked again under the table's lock, in case another request grew
    // the data in between.
    let stored = session
        .update(|d| {
            if !fits(d) {
                return false;
            }
            d.blob.clear();
            d.blob.resize(n, 0xA5).is_ok()
        })
        .await?;
    Ok(if stored {
        ok(n.to_string())
    } else {
        over_the_limit()
    })
}

/// Extracts the session and never uses it: the response must not vary by cookie.
async fn plain<R: TryCryptoRng>(session: ProbeSession<R>) -> WithSession<Reply> {
    session.respond(ok("plain")).await
}

/// The probe routes of `sesh_tests::http::ROUTES` over `state`. Each worker
/// builds its own (naming the router's type for a `static` needs nightly).
pub fn probe_router<R: TryCryptoRng + 'static>(state: ProbeState<R>) -> Router<impl PathRouter> {
    Router::new()
        .route("/count", get(count::<R>))
        .route("/peek", get(peek::<R>))
        .route("/login", post(login::<R>))
        .route("/me", get(me::<R>))
        .route("/logout", post(logout::<R>))
        .route("/csrf", get(csrf::<R>))
        .route("/csrf-check", post(csrf_check::<R>))
        .route("/big", get(big::<R>))
        .route("/plain", get(plain::<R>))
        .route("/sessions", get(sessions::<R>))
        .route("/sessions/revoke", post(revoke::<R>))
        .route("/sessions/revoke-others", post(revoke_others::<R>))
        .with_state(state)
}

/// One worker: serves the probe app on [`PORT`] of `stack`, one connection
/// at a time, forever. Its buffers ([`HTTP_BUFFER`], 2 × [`TCP_BUFFER`]) are
/// on the heap, so that a task of this future stays small.
pub async fn serve<R: TryCryptoRng + 'static>(
    id: usize,
    stack: embassy_net::Stack<'_>,
    state: ProbeState<R>,
) -> ! {
    let app = probe_router(state);
    let mut tcp_rx = alloc::vec![0u8; TCP_BUFFER];
    let mut tcp_tx = alloc::vec![0u8; TCP_BUFFER];
    let mut http = alloc::vec![0u8; HTTP_BUFFER];
    picoserve::Server::new(&app, &SERVER_CONFIG, &mut http)
        .listen_and_serve(id, stack, PORT, &mut tcp_rx, &mut tcp_tx)
        .await
        .into_never()
}

/// What connection slots ([`serve_slot`]) share: the HTTP buffers they
/// borrow while they serve, and how many of them hold a connection whose
/// request has not arrived. With more slots than buffers, the connections
/// beyond those being served wait, accepted, with their request in their
/// own small TCP buffer: a listen backlog, which smoltcp lacks (a connection
/// that finds no listening socket gets a RST).
pub struct Slots<const N: usize> {
    free: embassy_sync::channel::Channel<CriticalSectionRawMutex, alloc::vec::Vec<u8>, N>,
    waiting: AtomicUsize,
}

impl<const N: usize> Slots<N> {
    /// `N` buffers of [`HTTP_BUFFER`] bytes, on the heap.
    pub fn new() -> Self {
        let free = embassy_sync::channel::Channel::new();
        for _ in 0..N {
            let _ = free.try_send(alloc::vec![0u8; HTTP_BUFFER]);
        }
        Slots {
            free,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Connections established (the client's handshake is complete) that
    /// have sent nothing yet. Behind QEMU's user network a client's connect
    /// returns before the image has accepted; this count says when it has.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

impl<const N: usize> Default for Slots<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-slot TCP buffers: a request head up to this size waits in the slot
/// while every HTTP buffer is in use.
pub const SLOT_TCP_BUFFER: usize = 2 * 1024;

/// How long a slot's connection may go without any segment from the client
/// before smoltcp aborts it and frees the slot.
pub const SLOT_IDLE_TIMEOUT: embassy_time::Duration = embassy_time::Duration::from_secs(30);
/// After this long without traffic a slot's connection sends a keep-alive,
/// which the client's stack acknowledges: a live client keeps its accepted
/// connection however long it waits before sending, while a gone one (whose
/// FIN or RST was lost) is found within [`SLOT_IDLE_TIMEOUT`].
pub const SLOT_KEEP_ALIVE: embassy_time::Duration = embassy_time::Duration::from_secs(10);

/// One connection slot: accepts a connection on [`PORT`] of `stack`, waits
/// until its request starts to arrive (or the client closes it), then for
/// one of the HTTP buffers in `slots`, serves the connection with it, and
/// repeats forever.
/// Spawn more slots than buffers for a backlog.
///
/// A buffer goes only to a connection with something to read, like
/// `TCP_DEFER_ACCEPT`: picoserve's clock for the request's first byte
/// (`start_read_request`, 5 s) starts when it is handed the connection, and
/// clients may connect long before they send. The suite's most concurrent
/// case opens all its connections first and sends after, and they may reach
/// the guest over seconds (QEMU's user network listens with a backlog of 1,
/// which the QEMU harness widens, and the emulated NIC drops frames in a
/// burst: a lost SYN costs the client a retransmission of 1 s or more), so
/// connections that got a buffer at once used to be closed by that timeout
/// before their request came. A connection waiting for its request holds
/// only its slot, kept alive by [`SLOT_KEEP_ALIVE`].
pub async fn serve_slot<R: TryCryptoRng + 'static, const N: usize>(
    stack: embassy_net::Stack<'_>,
    state: ProbeState<R>,
    slots: &Slots<N>,
) -> ! {
    let app = probe_router(state);
    let mut tcp_rx = alloc::vec![0u8; SLOT_TCP_BUFFER];
    let mut tcp_tx = alloc::vec![0u8; SLOT_TCP_BUFFER];
    loop {
        let mut socket = embassy_net::tcp::TcpSocket::new(stack, &mut tcp_rx, &mut tcp_tx);
        socket.set_timeout(Some(SLOT_IDLE_TIMEOUT));
        socket.set_keep_alive(Some(SLOT_KEEP_ALIVE));
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        slots.waiting.fetch_add(1, Ordering::Relaxed);
        readable_or_closed(&socket).await;
        slots.waiting.fetch_sub(1, Ordering::Relaxed);
        let mut http = slots.free.receive().await;
        // A connection that fails only ends itself.
        let _ = picoserve::Server::new(&app, &SERVER_CONFIG, &mut http)
            .serve(socket)
            .await;
        // Never waits: at most N buffers exist.
        slots.free.send(http).await;
    }
}

/// Waits until `socket` has data to read or can receive no more (the client
/// closed or reset it, or it timed out). embassy-net's `wait_read_ready`
/// alone waits for data only; smoltcp wakes the same waker on every state
/// change, so the state is checked each time it fires.
async fn readable_or_closed(socket: &embassy_net::tcp::TcpSocket<'_>) {
    let mut data = core::pin::pin!(socket.wait_read_ready());
    core::future::poll_fn(|cx| {
        if data.as_mut().poll(cx).is_ready() || !socket.may_recv() {
            core::task::Poll::Ready(())
        } else {
            core::task::Poll::Pending
        }
    })
    .await
}
