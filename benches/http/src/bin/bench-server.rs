//! The counter app for the HTTP load benchmarks (`scripts/bench.sh` and
//! `scripts/bench-stores.sh`), in one of these variants on a loopback address:
//!
//! - `bare`: axum, no sessions; the count is one global counter.
//! - `sesh`: sesh-tokio with its `MemoryStore`; the count lives in
//!   `Session<Counter>` and changes through `session.update`.
//! - `tower-sessions`: tower-sessions 0.15 with its `MemoryStore`; the count
//!   changes through `session.get` / `session.insert`.
//! - `sesh-redis`: the `sesh` app on `sesh_tokio::store::RedisStore`
//!   (`RedisConfig::new(url)` defaults, a key prefix unique to this process).
//! - `tower-sessions-redis`: the `tower-sessions` app on tower-sessions 0.14
//!   with tower-sessions-redis-store 0.16 (fred, a pool of 4 connections,
//!   as many as `RedisConfig`'s default); 0.14 because that store does not
//!   build against tower-sessions 0.15 yet.
//! - `sesh-redb`: the `sesh` app on `sesh_tokio::store::RedbStore` in the
//!   file `--redb PATH`.
//!
//! Every variant runs on a multi-thread tokio runtime with 2 workers and
//! answers `GET /` with the same body shape, `count <n>\n`. Two more routes
//! never touch a session: `GET /health` (for warm-ups before a memory
//! measurement) and `GET /stats` (`calls=<counter handler calls>
//! sessions=<sesh's store occupancy, or ->`).
//!
//! ```text
//! bench-server <VARIANT> [--addr 127.0.0.1:0] [--addr-file PATH]
//!              [--max-sessions N] [--redis redis://127.0.0.1:PORT/0]
//!              [--redb PATH]
//! ```
//!
//! The server binds `--addr` (port 0 picks a free port; only loopback
//! addresses are accepted), prints the bound address and writes it to
//! `--addr-file`. `--max-sessions` sets the sesh `MemoryStore` bound (default:
//! `MemoryStore::default()`, 100,000 sessions). `--redis` is required by the
//! two Redis variants and must name a loopback host; `--redb` by `sesh-redb`.

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
    SeshRedis,
    TowerSessionsRedis,
    SeshRedb,
}

struct Args {
    variant: Variant,
    addr: SocketAddr,
    addr_file: Option<String>,
    max_sessions: Option<usize>,
    redis: Option<String>,
    redb: Option<String>,
}

const USAGE: &str = "usage: bench-server <bare|sesh|tower-sessions|sesh-redis|tower-sessions-redis|sesh-redb> \
[--addr 127.0.0.1:0] [--addr-file PATH] [--max-sessions N] [--redis redis://127.0.0.1:PORT/0] [--redb PATH]";

/// The secret of the sesh variants' cookie signing key and store key.
const SECRET: [u8; 32] = [7; 32];

fn parse_args() -> Result<Args, BoxError> {
    let mut args = std::env::args().skip(1);
    let variant = match args.next().as_deref() {
        Some("bare") => Variant::Bare,
        Some("sesh") => Variant::Sesh,
        Some("tower-sessions") => Variant::TowerSessions,
        Some("sesh-redis") => Variant::SeshRedis,
        Some("tower-sessions-redis") => Variant::TowerSessionsRedis,
        Some("sesh-redb") => Variant::SeshRedb,
        _ => return Err(USAGE.into()),
    };
    let mut parsed = Args {
        variant,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        addr_file: None,
        max_sessions: None,
        redis: None,
        redb: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => parsed.addr = value.parse()?,
            "--addr-file" => parsed.addr_file = Some(value),
            "--max-sessions" => parsed.max_sessions = Some(value.parse()?),
            "--redis" => parsed.redis = Some(value),
            "--redb" => parsed.redb = Some(value),
            _ => return Err(USAGE.into()),
        }
    }
    if !parsed.addr.ip().is_loopback() {
        return Err("bench-server serves on loopback addresses only".into());
    }
    if let Some(url) = &parsed.redis {
        check_loopback_redis(url)?;
    }
    Ok(parsed)
}

/// Accepts `redis://127.0.0.1:PORT[/DB]` (or `localhost`, `[::1]`) only.
fn check_loopback_redis(url: &str) -> Result<(), BoxError> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or("--redis: expected redis://127.0.0.1:PORT/0")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host);
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err("--redis: bench-server talks to a loopback Redis only".into())
    }
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

fn sesh_app(store: impl sesh_tokio::SessionStore) -> Result<Router, BoxError> {
    let config = sesh_tokio::SessionConfig::new(&SECRET)?.with_secure(false);
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

// --------------------------------------------------- sesh on each store --

fn sesh_memory_app(max_sessions: Option<usize>) -> Result<Router, BoxError> {
    sesh_app(match max_sessions {
        Some(n) => sesh_tokio::MemoryStore::new(n),
        None => sesh_tokio::MemoryStore::default(),
    })
}

fn sesh_redis_app(url: &str) -> Result<Router, BoxError> {
    use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
    // Unique per process, so that runs never read each other's sessions.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("sesh-bench:{}-{nanos}:", std::process::id());
    let store = RedisStore::new(
        RedisConfig::new(url).with_prefix(prefix),
        StoreKey::new(&SECRET)?,
    )?;
    sesh_app(store)
}

async fn sesh_redb_app(path: &str) -> Result<Router, BoxError> {
    use sesh_tokio::store::{RedbStore, StoreKey};
    let store = RedbStore::open(path, StoreKey::new(&SECRET)?).await?;
    sesh_app(store)
}

// ---------------------------------------- tower-sessions 0.14 on Redis --

/// Connections in the fred pool: `RedisConfig`'s default for sesh.
const TOWER_REDIS_POOL: usize = 4;

async fn tower14_counter(session: tower_sessions_14::Session) -> Result<String, StatusCode> {
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

async fn tower_redis_app(url: &str) -> Result<Router, BoxError> {
    use tower_sessions_14::cookie::time::Duration;
    use tower_sessions_redis_store::RedisStore;
    use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
    let pool = Pool::new(Config::from_url(url)?, None, None, None, TOWER_REDIS_POOL)?;
    // The connection tasks run until the process ends.
    let _connections = pool.connect_pool();
    pool.wait_for_connect().await?;
    let layer = tower_sessions_14::SessionManagerLayer::new(RedisStore::new(pool))
        .with_secure(false)
        .with_expiry(tower_sessions_14::Expiry::OnInactivity(Duration::minutes(
            30,
        )));
    Ok(Router::new()
        .route("/", get(tower14_counter))
        .route("/stats", get(bare_stats))
        .route("/health", get(health))
        .layer(layer))
}

// ------------------------------------------------------------------ main --

async fn serve(args: Args) -> Result<(), BoxError> {
    let redis = || {
        args.redis
            .as_deref()
            .ok_or("this variant needs --redis URL")
    };
    let app = match args.variant {
        Variant::Bare => bare_app(),
        Variant::Sesh => sesh_memory_app(args.max_sessions)?,
        Variant::TowerSessions => tower_app(),
        Variant::SeshRedis => sesh_redis_app(redis()?)?,
        Variant::TowerSessionsRedis => tower_redis_app(redis()?).await?,
        Variant::SeshRedb => {
            sesh_redb_app(args.redb.as_deref().ok_or("sesh-redb needs --redb PATH")?).await?
        }
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
