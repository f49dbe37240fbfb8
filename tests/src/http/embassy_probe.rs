//! The probe app for sesh-embassy on picoserve, served by a real embassy-net
//! TCP/IP stack and bridged to loopback TCP: the [`TestServer`] for
//! sesh-embassy (feature `embassy`).
//!
//! # How a request travels
//!
//! ```text
//!  suite's tokio client ──TCP──▶ 127.0.0.1:port (tokio listener, one task per connection)
//!        │ bytes over channels (cross-thread)
//!        ▼
//!  "embassy-net" thread: stack B (10.0.0.2) ─in-memory IP link─▶ stack A (10.0.0.1:80)
//!        TcpSocket::connect per connection                      picoserve, WORKERS workers
//!                                                                + sesh-embassy Session
//! ```
//!
//! The embassy side runs on its own std thread under
//! `futures_executor::block_on`: both stacks' runners, [`WORKERS`] picoserve
//! workers on stack A, as many bridge slots on stack B, and sesh-embassy's
//! sweeper. The tokio side accepts connections on `127.0.0.1:0`; for each,
//! a bridge slot opens an embassy-net `TcpSocket` from B to A and the bytes
//! are pumped both ways. When picoserve closes its end (one request per
//! connection), the slot closes B's socket properly
//! ([`with_connection`]) and the tokio side shuts the client's connection down. So every
//! request the suite sends crosses smoltcp twice and picoserve once. Both
//! stacks and the link between them are `sesh_host_net::LinkedStacks` (the
//! unpublished crate in `tests/host-net`).
//!
//! # The probe app
//!
//! [`crate::embassy_app`]: the routes of [`ROUTES`](super::ROUTES) with the
//! semantics of [`axum_probe`](super::axum_probe), on a fixed table of
//! [`CAPACITY`] sessions holding [`ProbeData`]; the QEMU probe image serves
//! the same module.
//!
//! # What differs from sesh-tokio
//!
//! - There is no store: [`TestServer::set_store_failing`] has nothing to
//!   switch (sesh-embassy keeps sessions in its own table).
//! - The table's clock is a [`ManualClock`] that stands still until
//!   [`TestServer::advance_clock`] moves it, as a paused tokio clock does for
//!   sesh-tokio ([`EmbassyServer::start_on_the_real_clock`]: embassy-time's
//!   std driver, the process's real clock). picoserve's and embassy-net's
//!   timers stay on embassy-time: only the sessions' time is manual.
//! - [`TestServer::restart`] moves the table into a new `Sessions` built
//!   from the new spec (cookie, expiry policy, keys), as a device rebooting
//!   with its table restored would.

use std::borrow::ToOwned;
use std::boxed::Box;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use embassy_futures::join::{join, join_array, join5};
use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use sesh_embassy::{Keys, Sessions};
use sesh_host_net::LinkedStacks;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::embassy_client::with_connection;
use super::{ServerError, ServerSpec, TestServer};

/// Stack A's address, and stack B's: the in-memory link of
/// `sesh_host_net`.
pub use sesh_host_net::{CLIENT, SERVER};

pub use crate::embassy_app::{
    BLOB_CAPACITY, CAPACITY, ManualClock, PORT, ProbeClock, ProbeData, USER_CAPACITY, WORKERS,
};

/// The RNG behind session ids: the OS's CSPRNG.
pub type ProbeRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The probe's table on the host.
pub type ProbeSessions = crate::embassy_app::ProbeSessions<ProbeRng>;

/// The probe router's state on the host.
pub type ProbeState = crate::embassy_app::ProbeState<ProbeRng>;

/// Per-slot TCP buffers on stack B.
const BRIDGE_TCP_BUFFER: usize = 16 * 1024;
/// Bytes moved per chunk across the thread boundary.
const CHUNK: usize = 16 * 1024;
/// Sockets per stack: a worker or bridge slot each, and spare.
const SOCKETS: usize = 2 * WORKERS;

/// A new, initialised table for `spec`, leaked for the `'static` borrow
/// that sesh-embassy's `Session` extractor needs.
pub async fn new_sessions(
    spec: &ServerSpec,
    clock: ProbeClock,
) -> Result<&'static ProbeSessions, ServerError> {
    if spec.max_sessions.is_some_and(|n| n != CAPACITY) {
        return Err(std::format!(
            "sesh-embassy's probe table holds {CAPACITY} sessions (fixed at build time); \
             the spec asks for {:?}",
            spec.max_sessions
        )
        .into());
    }
    let keys: Keys = spec.key_ring()?;
    let sessions = Sessions::with_clock(
        rand_core::UnwrapErr(getrandom::SysRng),
        keys,
        spec.cookie_config(),
        spec.policy(),
        clock,
    )?;
    // One table per server (and restart), so leaked rather than a StaticCell.
    Ok(Box::leak(Box::new(sessions)))
}

// ------------------------------------------------------- the bridge --

/// One bridged connection, as the embassy side sees it: the client's bytes
/// come in on `up`, the server's go out on `down`. Dropping `down` tells
/// the tokio side that the embassy connection is over.
struct BridgedConnection {
    up: mpsc::Receiver<Vec<u8>>,
    down: mpsc::Sender<Vec<u8>>,
}

/// Connections waiting for a bridge slot (thread-safe, async on both sides).
type Pending = Channel<CriticalSectionRawMutex, BridgedConnection, WORKERS>;

/// One picoserve worker on stack A.
/// One bridge slot on stack B: takes the next waiting connection, connects
/// to stack A, relays, closes; forever.
async fn bridge_slot(stack: Stack<'static>, pending: &Pending) -> ! {
    let mut rx = vec![0u8; BRIDGE_TCP_BUFFER];
    let mut tx = vec![0u8; BRIDGE_TCP_BUFFER];
    loop {
        let connection = pending.receive().await;
        bridge(stack, &mut rx, &mut tx, connection).await;
    }
}

async fn bridge(
    stack: Stack<'static>,
    rx: &mut [u8],
    tx: &mut [u8],
    mut connection: BridgedConnection,
) {
    let relayed = with_connection(stack, (rx, tx), (SERVER, PORT), async |socket| {
        relay(socket, &mut connection).await;
    })
    .await;
    if let Err(e) = relayed {
        log_problem(&std::format!("bridge: connect to the probe failed: {e:?}"));
    }
}

/// Pumps bytes both ways until the server closes (or fails). If the client
/// stops sending first, the server gets a FIN and its answer still flows.
async fn relay(socket: &mut TcpSocket<'_>, connection: &mut BridgedConnection) {
    let BridgedConnection { up, down } = connection;
    let mut buf = vec![0u8; CHUNK];
    let client_finished = {
        let (mut reader, mut writer) = socket.split();
        let to_server = async {
            while let Some(chunk) = up.recv().await {
                let mut rest = chunk.as_slice();
                while !rest.is_empty() {
                    match writer.write(rest).await {
                        Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                        Err(_) => return false,
                    }
                }
            }
            writer.flush().await.is_ok()
        };
        let to_client = forward(&mut buf, down, async |b| reader.read(b).await);
        match select(to_server, to_client).await {
            Either::First(finished) => finished,
            Either::Second(()) => false,
        }
    };
    if client_finished {
        socket.close();
        forward(&mut buf, down, async |b| socket.read(b).await).await;
    }
}

/// Reads with `read` and sends what it gets down to the client, until the
/// end of the stream, an error, or the client side going away.
async fn forward(
    buf: &mut [u8],
    down: &mpsc::Sender<Vec<u8>>,
    mut read: impl AsyncFnMut(&mut [u8]) -> Result<usize, embassy_net::tcp::Error>,
) {
    loop {
        match read(&mut *buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default().to_vec();
                if down.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The embassy side, on its own thread until `shutdown` fires: both stacks,
/// the picoserve workers, the bridge slots and the sweeper.
fn run_stacks(state: ProbeState, pending: Arc<Pending>, shutdown: oneshot::Receiver<()>) {
    let mut stacks = LinkedStacks::new::<SOCKETS>();
    let workers: [_; WORKERS] =
        core::array::from_fn(|id| crate::embassy_app::serve(id, stacks.server, state));
    let slots: [_; WORKERS] = core::array::from_fn(|_| bridge_slot(stacks.client, &pending));
    let everything = Box::pin(join5(
        stacks.server_runner.run(),
        stacks.client_runner.run(),
        join_array(workers),
        join_array(slots),
        sesh_embassy::run_sweeper(state.sessions),
    ));
    futures_executor::block_on(select(everything, shutdown));
}

/// The tokio side of one client connection: waits for its first bytes,
/// queues it for a bridge slot, then pumps until both directions end.
async fn serve_client(stream: TcpStream, pending: Arc<Pending>) {
    let _ = stream.set_nodelay(true);
    let (mut from_client, mut to_client) = stream.into_split();
    let mut buf = vec![0u8; CHUNK];
    let first = match from_client.read(&mut buf).await {
        Ok(0) | Err(_) => return,
        Ok(n) => buf.get(..n).unwrap_or_default().to_vec(),
    };
    let (up_tx, up_rx) = mpsc::channel::<Vec<u8>>(8);
    let (down_tx, mut down_rx) = mpsc::channel::<Vec<u8>>(8);
    if up_tx.send(first).await.is_err() {
        return;
    }
    pending
        .send(BridgedConnection {
            up: up_rx,
            down: down_tx,
        })
        .await;
    let upstream = async move {
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if up_tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let downstream = async move {
        while let Some(chunk) = down_rx.recv().await {
            if to_client.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    join(upstream, downstream).await;
}

async fn accept_loop(listener: tokio::net::TcpListener, pending: Arc<Pending>) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                connections.spawn(serve_client(stream, pending.clone()));
            }
            Err(e) => {
                log_problem(&std::format!("probe bridge: accept failed: {e}"));
                tokio::task::yield_now().await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Reports a problem a case cannot act on, on stderr (captured by the test
/// harness and shown for failed tests).
fn log_problem(message: &str) {
    std::eprintln!("{message}");
}

/// The embassy thread and the tokio listener of one run of the server.
struct Running {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: Option<oneshot::Receiver<()>>,
}

impl Running {
    async fn start(state: ProbeState) -> io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let pending = Arc::new(Pending::new());
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let slots = pending.clone();
        let thread = std::thread::Builder::new()
            .name("embassy-net".to_owned())
            .spawn(move || {
                run_stacks(state, slots, shutdown_rx);
                let _ = stopped_tx.send(());
            })?;
        let accept = tokio::spawn(accept_loop(listener, pending));
        Ok(Running {
            addr,
            accept,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            stopped: Some(stopped_rx),
        })
    }

    /// Closes the listener and every client connection, stops the embassy
    /// thread and waits for it.
    async fn stop(mut self) {
        self.accept.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log_problem("the embassy-net thread panicked");
        }
    }
}

impl Drop for Running {
    /// A case that panicked drops the server without `stop`: end both sides
    /// without waiting.
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The probe app on sesh-embassy and picoserve, on an embassy-net stack in
/// a background thread, reached through a loopback TCP bridge: the
/// [`TestServer`] for sesh-embassy.
pub struct EmbassyServer {
    sessions: &'static ProbeSessions,
    /// The table's clock; it carries over a restart.
    clock: ProbeClock,
    running: Option<Running>,
    addr: SocketAddr,
}

impl EmbassyServer {
    /// Starts the probe app with the settings of `spec` over a new, empty
    /// table on a [`ManualClock`], on the current tokio runtime.
    pub async fn start(spec: ServerSpec) -> Result<Self, ServerError> {
        // Leaked: the table it serves is too.
        let clock: &'static ManualClock =
            Box::leak(Box::new(ManualClock::starting_at(ManualClock::START)));
        Self::start_on(spec, ProbeClock::Manual(clock)).await
    }

    /// [`start`](Self::start) with embassy-time's std driver as the table's
    /// clock: [`TestServer::advance_clock`] then waits in real time.
    pub async fn start_on_the_real_clock(spec: ServerSpec) -> Result<Self, ServerError> {
        Self::start_on(spec, ProbeClock::Real).await
    }

    async fn start_on(spec: ServerSpec, clock: ProbeClock) -> Result<Self, ServerError> {
        let sessions = new_sessions(&spec, clock).await?;
        let running = Running::start(ProbeState {
            sessions,
            max_data_len: spec.max_data_len,
        })
        .await?;
        Ok(EmbassyServer {
            sessions,
            clock,
            addr: running.addr,
            running: Some(running),
        })
    }

    /// The session table.
    pub fn sessions(&self) -> &'static ProbeSessions {
        self.sessions
    }

    async fn shut_down(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

impl TestServer for EmbassyServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn stored_sessions(&self) -> Result<usize, ServerError> {
        Ok(self.sessions.occupancy().await.0)
    }

    /// sesh-embassy keeps sessions in its own table: there is no store to
    /// fail, so this switch does nothing (and says so on stderr).
    fn set_store_failing(&self, failing: bool) {
        if failing {
            log_problem("sesh-embassy has no store: set_store_failing(true) changes nothing");
        }
    }

    /// No store, no store call to fail (as [`TestServer::set_store_failing`]).
    fn fail_store_call(&self, nth: usize) {
        if nth > 0 {
            log_problem("sesh-embassy has no store: fail_store_call changes nothing");
        }
    }

    /// Moves the [`ManualClock`]; on the real clock, waits in real time.
    async fn advance_clock(&self, by: core::time::Duration) {
        match self.clock {
            ProbeClock::Manual(clock) => {
                let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
                clock.advance(sesh::Duration::from_millis(ms));
            }
            ProbeClock::Real => {
                let waited = tokio::task::spawn_blocking(move || std::thread::sleep(by)).await;
                if let Err(e) = waited {
                    log_problem(&std::format!("advance_clock: {e}"));
                }
            }
        }
    }

    /// Stops the stacks, then starts new ones over a new `Sessions` built
    /// from `spec` into which the old table (every session) is moved.
    async fn restart(&mut self, spec: ServerSpec) -> Result<(), ServerError> {
        self.shut_down().await;
        let sessions = new_sessions(&spec, self.clock).await?;
        {
            let mut old = self.sessions.lock().await;
            let mut new = sessions.lock().await;
            core::mem::swap(old.table(), new.table());
            new.table().set_policy(spec.policy());
        }
        self.sessions = sessions;
        let running = Running::start(ProbeState {
            sessions,
            max_data_len: spec.max_data_len,
        })
        .await?;
        self.addr = running.addr;
        self.running = Some(running);
        Ok(())
    }

    async fn stop(mut self) {
        self.shut_down().await;
    }
}
