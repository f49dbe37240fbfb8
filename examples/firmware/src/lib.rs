//! The sesh login UI as firmware: picoserve on embassy-net, sessions in a
//! `static` table of [`CAPACITY`] slots, no heap.
//!
//! The same UI as the host `login` example:
//!
//! | route          | what it does |
//! |----------------|--------------|
//! | `GET /`        | counts the visit; shows the user and a logout button, or the login form |
//! | `POST /login`  | form `username`, `password`, `csrf`: bad CSRF → 403, wrong credentials → 401 with the form, success → new session id, 303 to `/` |
//! | `GET /me`      | 200 with the user name when logged in, 401 otherwise |
//! | `POST /logout` | form `csrf`: destroys the session, removal cookie, 303 to `/` |
//!
//! The app is generic over the network stack (any `embassy_net::Stack`) and
//! over the session RNG, so the board crates (`examples/boards/*`: the
//! NUCLEO-H743ZI, and QEMU's mps2-an386 as a real image in the emulator),
//! the host binary `firmware-host` and the host tests (`tests/`) serve the
//! very same code. Each web worker task calls
//! [`serve`], which builds the router with [`router`]: naming the router's
//! type in a `static` would need nightly Rust.
//!
//! ```no_run
//! # type MyRng = rand_core::UnwrapErr<getrandom::SysRng>;
//! static SESSIONS: firmware::AppSessions<MyRng> = firmware::new_sessions();
//!
//! // On the board: `#[embassy_executor::task(pool_size = firmware::WORKERS)]`.
//! async fn web(id: usize, stack: embassy_net::Stack<'static>) -> ! {
//!     firmware::serve(id, stack, &SESSIONS).await
//! }
//! ```
//!
//! The demo credentials are `admin` / `admin`.
#![no_std]

#[cfg(feature = "host-net")]
extern crate std;

mod handlers;
#[cfg(feature = "host-net")]
pub mod host_net;
mod html;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use picoserve::routing::{PathRouter, get, post};
use picoserve::{Router, Timeouts};
use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use sesh::cookie::{CookieConfig, SameSite};
use sesh::{Duration, ExpiryPolicy};
use sesh_embassy::{Session, Sessions};

pub use html::escape;

/// Sessions the table holds. A new anonymous session evicts the oldest
/// anonymous one when the table is full; logged-in sessions are never evicted.
pub const CAPACITY: usize = 16;

/// picoserve worker tasks (one TCP connection each). The board spawns this
/// many; the network stack needs a socket for each. A browser opens up to 6
/// connections to one host, and smoltcp has no listen backlog: a connection
/// that finds every worker busy is refused (RST), so there are more.
pub const WORKERS: usize = 8;

/// The HTTP port.
pub const PORT: u16 = 80;

/// Longest user name stored in a session.
pub const USER_LEN: usize = 32;

/// What a session stores. Small and `Clone`: handlers get owned copies.
#[derive(Clone, Default, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The logged-in user, `None` while logged out.
    pub user: Option<heapless::String<USER_LEN>>,
    /// Views of `/` in this session (since login, once logged in).
    pub visits: u32,
}

/// The shared session table: every worker uses the one `static`.
pub type AppSessions<R> = Sessions<CriticalSectionRawMutex, Account, R, CAPACITY>;

/// A request's session.
pub type AppSession<R> = Session<CriticalSectionRawMutex, Account, R, CAPACITY>;

/// The session cookie.
///
/// ⚠️ `Secure` is off because the board serves plain HTTP (there is no TLS
/// on it): a browser would never send a `Secure` cookie back over
/// `http://`. Anyone on the network path can read the cookie. Put the device
/// behind TLS (a reverse proxy) and turn `Secure` on for anything beyond a
/// lab network. `SameSite=Strict` plus the CSRF token guard the forms.
pub const COOKIE: CookieConfig<'static> = CookieConfig::new("sid")
    .with_secure(false)
    .with_same_site(SameSite::Strict);

/// 10 minutes idle, 8 hours at most: an admin page on a device.
pub const POLICY: ExpiryPolicy = ExpiryPolicy::new()
    .with_idle_timeout(Duration::from_mins(10))
    .with_absolute_lifetime(Duration::from_hours(8));

/// The table for a `static`:
/// `static SESSIONS: AppSessions<Rng> = firmware::new_sessions();`.
/// Call [`Sessions::init`] with the RNG and keys before serving.
pub const fn new_sessions<R>() -> AppSessions<R> {
    Sessions::new(COOKIE, POLICY)
}

/// Server settings: one request per connection, so that a browser's idle
/// keep-alive connection never holds a worker.
pub const SERVER_CONFIG: picoserve::Config = picoserve::Config::new(Timeouts {
    start_read_request: embassy_time::Duration::from_secs(5),
    persistent_start_read_request: embassy_time::Duration::from_secs(1),
    read_request: embassy_time::Duration::from_secs(3),
    write: embassy_time::Duration::from_secs(3),
})
.close_connection_after_response();

/// Buffer sizes per worker.
pub const TCP_RX: usize = 1024;
/// See [`TCP_RX`].
pub const TCP_TX: usize = 2048;
/// See [`TCP_RX`].
pub const HTTP_BUFFER: usize = 2048;

/// The app's routes, with the session table as state.
pub fn router<R: TryCryptoRng + 'static>(
    sessions: &'static AppSessions<R>,
) -> Router<impl PathRouter> {
    Router::new()
        .route("/", get(handlers::index::<R>))
        .route("/login", post(handlers::login::<R>))
        .route("/me", get(handlers::me::<R>))
        .route("/logout", post(handlers::logout::<R>))
        .with_state(sessions)
}

/// One web worker: accepts a connection on [`PORT`] of `stack`, serves it,
/// and repeats forever. Spawn at least two (the board spawns [`WORKERS`]).
/// The buffers live in the calling task's future (static on the board).
pub async fn serve<R: TryCryptoRng + 'static>(
    id: usize,
    stack: embassy_net::Stack<'_>,
    sessions: &'static AppSessions<R>,
) -> ! {
    serve_on(id, stack, PORT, sessions).await
}

/// [`serve`] on another port.
pub async fn serve_on<R: TryCryptoRng + 'static>(
    id: usize,
    stack: embassy_net::Stack<'_>,
    port: u16,
    sessions: &'static AppSessions<R>,
) -> ! {
    let app = router(sessions);
    let mut tcp_rx = [0u8; TCP_RX];
    let mut tcp_tx = [0u8; TCP_TX];
    let mut http = [0u8; HTTP_BUFFER];
    picoserve::Server::new(&app, &SERVER_CONFIG, &mut http)
        .listen_and_serve(id, stack, port, &mut tcp_rx, &mut tcp_tx)
        .await
        .into_never()
}

/// ⚠️ For tests only, never on a product (it tells anyone how many sessions
/// exist): `GET /` answers the table's occupancy as JSON,
/// `{"sessions":N,"capacity":16}`. The emulator image
/// (examples/boards/mps2-an386, knob `--stats-port`, through
/// [`serve_stats_on`]) and `firmware-host --stats-addr` serve it for the
/// browser tests.
pub fn stats_router<R: 'static>(sessions: &'static AppSessions<R>) -> Router<impl PathRouter> {
    Router::new()
        .route("/", get(handlers::stats::<R>))
        .with_state(sessions)
}

/// ⚠️ For tests only: serves [`stats_router`] on `port` of `stack`, one
/// connection at a time, forever.
pub async fn serve_stats_on<R: 'static>(
    stack: embassy_net::Stack<'_>,
    port: u16,
    sessions: &'static AppSessions<R>,
) -> ! {
    let app = stats_router(sessions);
    let mut tcp_rx = [0u8; 512];
    let mut tcp_tx = [0u8; 512];
    let mut http = [0u8; 1024];
    picoserve::Server::new(&app, &SERVER_CONFIG, &mut http)
        .listen_and_serve("stats", stack, port, &mut tcp_rx, &mut tcp_tx)
        .await
        .into_never()
}
