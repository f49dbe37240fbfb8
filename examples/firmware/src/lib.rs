//! The sesh login UI as firmware: picoserve on embassy-net, sessions in a
//! table of [`CAPACITY`] slots, no heap.
//!
//! The same UI as the host `login` example:
//!
//! | route          | what it does |
//! |----------------|--------------|
//! | `GET /`        | counts the visit; shows the user and a logout button, or the login form |
//! | `POST /login`  | form `username`, `password`, `csrf`: bad CSRF → 403, wrong credentials → 401 with the form, success → new session id, 303 to `/` |
//! | `GET /me`      | 200 with the user name when logged in, 401 otherwise |
//! | `POST /logout` | form `csrf`: destroys the session, removal cookie, 303 to `/` |
//! | `GET /sessions` | the signed-in user's sessions (label, last seen, expiry, "this device"), a revoke button on each, "Sign out everywhere else"; 303 to `/` when signed out |
//! | `GET /sessions.json` | the same as a JSON array of `{"tag","current","label","created_at","last_seen","expires_at"}` (RFC 3339, see [`WallClock`]); 401 when signed out |
//! | `POST /sessions/revoke` | form `tag`, `csrf`: ends one of the user's sessions, 303 to `/sessions`; bad CSRF → 403, another user's or an unknown tag → 404 |
//! | `POST /sessions/revoke-others` | form `csrf`: ends all the user's other sessions, 303 to `/sessions`; bad CSRF → 403 |
//!
//! `POST /login` also takes `remember=on`: a persistent session (30 days
//! idle, 90 absolute, a cookie with `Max-Age`); without it a browser
//! session (a cookie without `Max-Age` or `Expires`, ended by the server
//! at [`POLICY`]'s deadlines). The session's label is a summary of the
//! browser's `User-Agent` ([`label_for`]).
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
//! use static_cell::StaticCell;
//!
//! // On the board: `#[embassy_executor::task(pool_size = firmware::WORKERS)]`.
//! async fn web(
//!     id: usize,
//!     stack: embassy_net::Stack<'static>,
//!     sessions: &'static firmware::AppSessions<MyRng>,
//! ) -> ! {
//!     firmware::serve(id, stack, sessions).await
//! }
//!
//! // At boot: the table, with the RNG and the provisioned keys, in .bss.
//! # fn boot(rng: MyRng, keys: sesh_embassy::Keys) -> Option<&'static firmware::AppSessions<MyRng>> {
//! static SESSIONS: StaticCell<firmware::AppSessions<MyRng>> = StaticCell::new();
//! let sessions = SESSIONS.init(firmware::new_sessions(rng, keys).ok()?);
//! # Some(sessions)
//! # }
//! ```
//!
//! [`router`] and [`serve`] admit the account in [`LOGIN`]: the demo
//! account `admin` / `admin` ([`Credentials::DEMO`], for the emulator, the
//! host server and the tests) until the board provisions its own with
//! [`Login::provision`] at boot (a board image must: see [`login`]). Login
//! attempts are throttled per user name and for the whole device.
#![no_std]

mod clock;
mod devices;
mod handlers;
mod html;
pub mod login;

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embassy_net::tcp::{State, TcpReader, TcpSocket, TcpWriter};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use picoserve::io::ReadExt;
use picoserve::routing::{PathRouter, get, post};
use picoserve::{Router, Timeouts, Timer};
use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use sesh::cookie::{CookieConfig, SameSite};
use sesh::{Duration, ExpiryPolicy};
use sesh_embassy::{EmbassyClock, Session, Sessions};

pub use clock::{Rfc3339, WallClock};
pub use devices::{LABEL_LEN, label_for};
pub use html::escape;
pub use login::{Credentials, CredentialsError, Login};

/// Sessions the table holds. A new anonymous session evicts the oldest
/// anonymous one when the table is full; logged-in sessions are never evicted.
pub const CAPACITY: usize = 16;

/// Sessions that can be signed in at once: each keeps its owner, label and
/// lifetime in the table's metadata pool (176 bytes an entry), which
/// "sign out everywhere" and the device list read. A login past it evicts
/// the least recently used holder that is not logged in, or, when every
/// one is, is refused with 503 (the new session is ended, never left
/// logged in without an owner).
pub const SIGNED_IN: usize = 8;

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

/// The shared session table: every worker uses the one the board built.
pub type AppSessions<R> =
    Sessions<CriticalSectionRawMutex, Account, R, CAPACITY, 2, EmbassyClock, SIGNED_IN>;

/// A request's session.
pub type AppSession<R> =
    Session<CriticalSectionRawMutex, Account, R, CAPACITY, 2, EmbassyClock, SIGNED_IN>;

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

/// The app's table with [`COOKIE`] and [`POLICY`], the session RNG and the
/// provisioned keys; a board puts it in a `StaticCell` at boot.
pub fn new_sessions<R: TryCryptoRng>(
    rng: R,
    keys: sesh_embassy::Keys,
) -> Result<AppSessions<R>, sesh::cookie::CookieConfigError> {
    Sessions::new(rng, keys, COOKIE, POLICY)
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

/// Room for a sealed snapshot of a full table, each session with an owner
/// of up to [`USER_LEN`] bytes and a label of up to [`LABEL_LEN`] (pinned by
/// a test); it still fits one 4 KiB flash sector with sequential-storage's
/// headers. Boards size their snapshot buffers with it.
pub const SNAPSHOT_BUF: usize = 3584;

/// The offset to Unix time for `/sessions.json`; the board sets it when it
/// learns the time (see [`WallClock`]).
pub static WALL_CLOCK: WallClock = WallClock::new();

/// Buffer sizes per worker.
pub const TCP_RX: usize = 1024;
/// See [`TCP_RX`].
pub const TCP_TX: usize = 2048;
/// See [`TCP_RX`].
pub const HTTP_BUFFER: usize = 2048;

/// The account and the login attempt counts that [`router`] (and so
/// [`serve`]) uses: [`Credentials::DEMO`] until [`Login::provision`].
pub static LOGIN: Login = Login::new(Credentials::DEMO);

/// The app's routes, with the session table and [`LOGIN`] as state.
pub fn router<R: TryCryptoRng + 'static>(
    sessions: &'static AppSessions<R>,
) -> Router<impl PathRouter> {
    router_with_login(sessions, &LOGIN)
}

/// The app's routes, admitting the account of `login` and counting
/// attempts there (tests give each server its own).
pub fn router_with_login<R: TryCryptoRng + 'static>(
    sessions: &'static AppSessions<R>,
    login: &'static Login,
) -> Router<impl PathRouter> {
    Router::new()
        .route("/", get(handlers::index::<R>))
        .route("/login", post(handlers::login::<R>))
        .route("/me", get(handlers::me::<R>))
        .route("/logout", post(handlers::logout::<R>))
        .route("/sessions", get(devices::page::<R>))
        .route("/sessions.json", get(devices::json::<R>))
        .route("/sessions/revoke", post(devices::revoke::<R>))
        .route("/sessions/revoke-others", post(devices::revoke_others::<R>))
        .with_state(login::AppState { sessions, login })
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
    // `id` names the worker in picoserve's logs, which this crate does not
    // enable; kept so that the workers' signature stays the same.
    let _ = id;
    let app = router(sessions);
    let mut tcp_rx = [0u8; TCP_RX];
    let mut tcp_tx = [0u8; TCP_TX];
    let mut http = [0u8; HTTP_BUFFER];
    serve_connections(&app, stack, port, &mut tcp_rx, &mut tcp_tx, &mut http).await
}

/// Accepts a connection on `port`, serves it with [`SERVER_CONFIG`] through
/// [`Connection`], and repeats forever: picoserve's `listen_and_serve`
/// (same keep-alive and timeout settings) with our own closing.
async fn serve_connections<P: PathRouter>(
    app: &Router<P>,
    stack: embassy_net::Stack<'_>,
    port: u16,
    tcp_rx: &mut [u8],
    tcp_tx: &mut [u8],
    http: &mut [u8],
) -> ! {
    loop {
        let mut socket = TcpSocket::new(stack, tcp_rx, tcp_tx);
        if socket.accept(port).await.is_err() {
            continue;
        }
        socket.set_keep_alive(Some(embassy_time::Duration::from_secs(30)));
        socket.set_timeout(Some(embassy_time::Duration::from_secs(45)));
        // A failed connection (timeout, reset) only ends itself.
        let _ = picoserve::Server::new(app, &SERVER_CONFIG, http)
            .serve(Connection(socket))
            .await;
    }
}

/// How long a closing connection waits for the ACK of its FIN once the
/// client has closed too and acknowledged every byte of the response, when
/// both sides closed at once (TCP state CLOSING). Long enough for the ACK of
/// any client that sends a plain one (well under 1 ms on the emulator, a few
/// ms on a LAN); far shorter than the 1 s smoltcp waits before it sends the
/// FIN again. See [`Connection`].
pub const CLOSING_LINGER: embassy_time::Duration = embassy_time::Duration::from_millis(10);

/// A served TCP connection: picoserve's graceful shutdown for embassy-net,
/// except that a simultaneous close does not hold the worker for a second.
///
/// picoserve closes a connection by sending its FIN, reading until the
/// client's FIN, then flushing until its FIN is acknowledged (up to the
/// write timeout). When the client closes at the same moment (it has read
/// the whole response and closes while our FIN is on its way), both FINs
/// cross and smoltcp enters CLOSING. A peer running BSD's TCP code (QEMU's
/// user network, libslirp, does) then acknowledges our FIN only inside a
/// retransmission of its own FIN; smoltcp 0.13 takes that segment for a
/// keep-alive (its sequence number is one below the receive window), answers
/// it with an ACK and drops it, ACK included. Our FIN then counts as
/// unacknowledged until smoltcp's retransmission timer (1 s at least) sends
/// it again, and the worker waits all that time: under a burst of short
/// connections, a few such closes leave no worker listening and new
/// connections are refused with RST.
///
/// Here, once the client's FIN is in and every byte of the response is
/// acknowledged, a connection in CLOSING waits at most [`CLOSING_LINGER`]
/// for the ACK of its FIN, then lets the socket go. Nothing is lost: the
/// client has the whole response and has closed its side; a segment it
/// still sends (the ACK, its FIN again) gets a RST, which ends its side.
/// Every other close is picoserve's: flushed until the FIN is acknowledged,
/// within the write timeout.
pub struct Connection<'s>(pub TcpSocket<'s>);

impl<'s, Runtime> picoserve::io::Socket<Runtime> for Connection<'s> {
    type Error = embassy_net::tcp::Error;
    type ReadHalf<'a>
        = TcpReader<'a>
    where
        Self: 'a;
    type WriteHalf<'a>
        = TcpWriter<'a>
    where
        Self: 'a;

    fn split(&mut self) -> (TcpReader<'_>, TcpWriter<'_>) {
        self.0.split()
    }

    /// picoserve's: resets the connection and waits until the RST is sent.
    async fn abort<T: Timer<Runtime>>(
        self,
        timeouts: &Timeouts,
        timer: &T,
    ) -> Result<(), picoserve::Error<Self::Error>> {
        let mut socket = self.0;
        TcpSocket::abort(&mut socket);
        timer
            .run_with_timeout(timeouts.write, socket.flush())
            .await
            .map_err(picoserve::Error::WriteTimeout)?
            .map_err(picoserve::Error::Write)
    }

    async fn shutdown<T: Timer<Runtime>>(
        self,
        timeouts: &Timeouts,
        timer: &T,
    ) -> Result<(), picoserve::Error<Self::Error>> {
        let mut socket = self.0;
        socket.close();

        // As picoserve: read (and discard) until the client's FIN, within the
        // read timeout, while the response and our FIN go out.
        {
            let (mut rx, mut tx) = socket.split();
            let mut client_closed =
                pin!(timer.run_with_timeout(timeouts.read_request, rx.discard_all_data()));
            let mut flushed = pin!(tx.flush());
            let mut flush_done = false;
            poll_fn(|cx| {
                if let Poll::Ready(read) = client_closed.as_mut().poll(cx) {
                    return Poll::Ready(match read {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(picoserve::Error::Read(e)),
                        Err(timeout) => Err(picoserve::Error::ReadTimeout(timeout)),
                    });
                }
                // A write error (a reset) ends the close at once.
                if !flush_done && let Poll::Ready(flush) = flushed.as_mut().poll(cx) {
                    flush_done = true;
                    if let Err(e) = flush {
                        return Poll::Ready(Err(picoserve::Error::Write(e)));
                    }
                }
                Poll::Pending
            })
            .await?;
        }

        // Flush until our FIN is acknowledged, within the write timeout; or,
        // in CLOSING, until every byte of the response is acknowledged.
        let flushed_or_closing = poll_fn(|cx| {
            // embassy-net's flush future keeps no state: a new one each
            // time registers this task's waker, which smoltcp wakes when
            // the send buffer drains and when the state changes.
            let flush = pin!(socket.flush()).poll(cx);
            if let Poll::Ready(flush) = flush {
                return Poll::Ready(Some(flush));
            }
            if socket.state() == State::Closing && socket.send_queue() == 0 {
                return Poll::Ready(None);
            }
            Poll::Pending
        });
        match timer
            .run_with_timeout(timeouts.write, flushed_or_closing)
            .await
            .map_err(picoserve::Error::WriteTimeout)?
        {
            Some(flush) => flush.map_err(picoserve::Error::Write),
            None => {
                // The response is delivered: a short wait for a plain ACK of
                // our FIN, then the socket goes whatever came.
                let _ = timer.run_with_timeout(CLOSING_LINGER, socket.flush()).await;
                Ok(())
            }
        }
    }
}

/// ⚠️ For tests only, never on a product (it tells anyone how many sessions
/// exist): `GET /` answers the table's occupancy as JSON,
/// `{"sessions":N,"capacity":16}`. The emulator image
/// (examples/boards/mps2-an386, knob `--stats-port`, through
/// [`serve_stats_on`]) and `firmware-host --stats-addr` serve it for the
/// browser tests.
pub fn stats_router<R: 'static>(sessions: &'static AppSessions<R>) -> Router<impl PathRouter> {
    Router::<_, &'static AppSessions<R>>::new()
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
    serve_connections(&app, stack, port, &mut tcp_rx, &mut tcp_tx, &mut http).await
}
