//! The counter app for the HTTP load benchmark (`scripts/bench.sh`), in one
//! of three variants on a loopback address:
//!
//! - `bare`: axum, no sessions; the count is one global counter.
//! - `sesh`: sesh-tokio with its `MemoryStore`; the count lives in
//!   `Session<Counter>` and changes through `session.update`.
//! - `tower-sessions`: tower-sessions 0.15 with its `MemoryStore`; the count
//!   changes through `session.get` / `session.insert`.
//!
//! Every variant runs on a multi-thread tokio runtime with 2 workers and
//! answers `GET /` with the same body shape, `count <n>\n`. Two more routes
//! never touch a session: `GET /health` (for warm-ups before a memory
//! measurement) and `GET /stats` (`calls=<counter handler calls>
//! sessions=<sesh's store occupancy, or ->`).
//!
//! ```text
//! bench-server <bare|sesh|tower-sessions> [--addr 127.0.0.1:0]
//!              [--addr-file PATH] [--max-sessions N]
//! ```
//!
//! The server binds `--addr` (port 0 picks a free port; only loopback
//! addresses are accepted), prints the bound address and writes it to
//! `--addr-file`. `--max-sessions` sets the sesh `MemoryStore` bound (default:
//! `MemoryStore::default()`, 100,000 sessions).

use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

/// Calls of the counter handler, in every variant (the `bare` count itself).
static CALLS: AtomicU64 = AtomicU64::new(0);

type BoxError = Box<dyn Error + Send + Sync>;

/// Which app to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    Sesh,
    TowerSessions,
}

struct Args {
    variant: Variant,
    addr: SocketAddr,
    addr_file: Option<String>,
    max_sessions: Option<usize>,
}

const USAGE: &str = "usage: bench-server <bare|sesh|tower-sessions> [--addr 127.0.0.1:0] [--addr-file PATH] [--max-sessions N]";

fn parse_args() -> Result<Args, BoxError> {
    let mut args = std::env::args().skip(1);
    let variant = match args.next().as_deref() {
        Some("bare") => Variant::Bare,
        Some("sesh") => Variant::Sesh,
        Some("tower-sessions") => Variant::TowerSessions,
        _ => return Err(USAGE.into()),
    };
    let mut parsed = Args {
        variant,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        addr_file: None,
        max_sessions: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => parsed.addr = value.parse()?,
            "--addr-file" => parsed.addr_file = Some(value),
            "--max-sessions" => parsed.max_sessions = Some(value.parse()?),
            _ => return Err(USAGE.into()),
        }
    }
    if !parsed.addr.ip().is_loopback() {
        return Err("bench-server serves on loopback addresses only".into());
    }
    Ok(parsed)
}

/// The body every variant answers: same shape, same length for a given count.
fn body(n: u64) -> String {
    format!("count {n}\n")
}

fn count_call() -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
}

async fn health() -> &'static str {
    "ok\n"
}

// ------------------------------------------------------------------ bare --

async fn bare_counter() -> String {
    body(count_call())
}

async fn bare_stats() -> String {
    format!("calls={} sessions=-\n", CALLS.load(Ordering::Relaxed))
}

fn bare_app() -> Router {
    Router::new()
        .route("/", get(bare_counter))
        .route("/stats", get(bare_stats))
        .route("/health", get(health))
}

// ------------------------------------------------------------------ sesh --

/// The session data of the sesh variant.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    count: u64,
}

async fn sesh_counter(
    session: sesh_tokio::Session<Counter>,
) -> Result<String, sesh_tokio::SessionError> {
    count_call();
    let n = session
        .update(|c| {
            c.count = c.count.wrapping_add(1);
            c.count
        })
        .await?;
    Ok(body(n))
}

/// Reads the store's occupancy; the session itself is never loaded (lazy).
async fn sesh_stats(
    session: sesh_tokio::Session<Counter>,
) -> Result<String, sesh_tokio::SessionError> {
    let occupancy = session.occupancy().await?;
    Ok(format!(
        "calls={} sessions={}\n",
        CALLS.load(Ordering::Relaxed),
        occupancy.sessions
    ))
}

fn sesh_app(max_sessions: Option<usize>) -> Result<Router, BoxError> {
    let store = match max_sessions {
        Some(n) => sesh_tokio::MemoryStore::new(n),
        None => sesh_tokio::MemoryStore::default(),
    };
    let config = sesh_tokio::SessionConfig::new(&[7; 32])?.with_secure(false);
    let layer = sesh_tokio::SessionLayer::new(store, config)?;
    Ok(Router::new()
        .route("/", get(sesh_counter))
        .route("/stats", get(sesh_stats))
        .route("/health", get(health))
        .layer(layer))
}

// -------------------------------------------------------- tower-sessions --

const COUNT_KEY: &str = "count";

async fn tower_counter(session: tower_sessions::Session) -> Result<String, StatusCode> {
    count_call();
    let n: u64 = session
        .get(COUNT_KEY)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or_default();
    let n = n.wrapping_add(1);
    session
        .insert(COUNT_KEY, n)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(body(n))
}

fn tower_app() -> Router {
    use tower_sessions::cookie::time::Duration;
    // The same lifetime rule as sesh's default: 30 minutes idle.
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false)
        .with_expiry(tower_sessions::Expiry::OnInactivity(Duration::minutes(30)));
    Router::new()
        .route("/", get(tower_counter))
        .route("/stats", get(bare_stats))
        .route("/health", get(health))
        .layer(layer)
}

// ------------------------------------------------------------------ main --

async fn serve(args: Args) -> Result<(), BoxError> {
    let app = match args.variant {
        Variant::Bare => bare_app(),
        Variant::Sesh => sesh_app(args.max_sessions)?,
        Variant::TowerSessions => tower_app(),
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let local = listener.local_addr()?;
    if let Some(path) = &args.addr_file {
        // Written whole, then renamed, so a reader never sees half an address.
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, format!("{local}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    println!("bench-server {:?} listening on {local}", args.variant);
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}
