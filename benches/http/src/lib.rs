//! The counter app of the HTTP benchmarks in each variant, shared by
//! `bench-server` (over loopback TCP) and `layer-cost` (in process).

pub mod floor;
pub mod measure;

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

/// Calls of the counter handler, in every variant (the `bare` count itself).
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Any error, boxed.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The secret of the sesh variants' cookie signing key and store key.
const SECRET: [u8; 32] = [7; 32];

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

/// The counter app with no sessions.
pub fn bare_app() -> Router {
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
    let sessions = session
        .occupancy()
        .await?
        .map_or_else(|| "-".to_owned(), |o| o.sessions.to_string());
    Ok(format!(
        "calls={} sessions={sessions}\n",
        CALLS.load(Ordering::Relaxed),
    ))
}

/// The key ring the sesh variants sign their cookies with: `layer-cost`
/// times the signature check alone with it.
pub fn sesh_keys() -> Result<sesh::signing::KeyRing<1>, BoxError> {
    Ok(sesh::signing::KeyRing::new(sesh::signing::Key::new(
        &SECRET,
    )?))
}

/// The sesh counter app on `store`.
pub fn sesh_app(store: impl sesh_tokio::SessionStore) -> Result<Router, BoxError> {
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

/// The counter handler on one tower-sessions version's `Session` (0.14
/// and 0.15 have the same API but distinct types).
macro_rules! tower_counter {
    ($name:ident, $session:ty) => {
        async fn $name(session: $session) -> Result<String, StatusCode> {
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
    };
}

tower_counter!(tower_counter, tower_sessions::Session);

/// The counter app on tower-sessions 0.15 and its `MemoryStore`.
pub fn tower_app() -> Router {
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

/// The sesh app on a `MemoryStore` (default bound unless `max_sessions`).
pub fn sesh_memory_app(max_sessions: Option<usize>) -> Result<Router, BoxError> {
    sesh_app(match max_sessions {
        Some(n) => sesh_tokio::MemoryStore::new(n),
        None => sesh_tokio::MemoryStore::default(),
    })
}

/// The sesh app on `RedisStore`, with a key prefix unique to this process.
pub fn sesh_redis_app(url: &str) -> Result<Router, BoxError> {
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

/// The sesh app on `RedbStore` in the file `path`.
pub async fn sesh_redb_app(path: &str) -> Result<Router, BoxError> {
    use sesh_tokio::store::{RedbStore, StoreKey};
    let store = RedbStore::open(path, StoreKey::new(&SECRET)?).await?;
    sesh_app(store)
}

/// Connections in each PostgreSQL variant's pool (sesh's default, given
/// to both).
pub const POSTGRES_POOL: usize = 8;

/// The sesh app on `PostgresStore` (`PostgresConfig::new(url)` defaults, a
/// pool of [`POSTGRES_POOL`], a table unique to this process, migrated).
pub async fn sesh_postgres_app(url: &str) -> Result<Router, BoxError> {
    use sesh_tokio::store::{PostgresConfig, PostgresStore, StoreKey};
    let config = PostgresConfig::new(url)
        .with_table(format!("sesh_bench_{}", std::process::id()))
        .with_pool_size(POSTGRES_POOL);
    let store = PostgresStore::connect(config, StoreKey::new(&SECRET)?).await?;
    sesh_app(store)
}

/// The tower-sessions app on tower-sessions 0.14 with
/// tower-sessions-sqlx-store 0.15 (`PostgresStore` on an sqlx pool of
/// [`POSTGRES_POOL`] connections, a table unique to this process, migrated).
pub async fn tower_postgres_app(url: &str) -> Result<Router, BoxError> {
    use tower_sessions_14::cookie::time::Duration;
    use tower_sessions_sqlx_store::PostgresStore;
    use tower_sessions_sqlx_store::sqlx::postgres::PgPoolOptions;
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(POSTGRES_POOL)?)
        .connect(url)
        .await?;
    let store =
        PostgresStore::new(pool).with_table_name(format!("bench_{}", std::process::id()))?;
    store.migrate().await?;
    let layer = tower_sessions_14::SessionManagerLayer::new(store)
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

// ---------------------------------------- tower-sessions 0.14 on Redis --

/// Connections in the fred pool: as many as `RedisConfig`'s default for
/// sesh (one). One measured slightly faster for tower-sessions than four.
const TOWER_REDIS_POOL: usize = 1;

tower_counter!(tower14_counter, tower_sessions_14::Session);

/// The counter app on tower-sessions 0.14 and tower-sessions-redis-store.
pub async fn tower_redis_app(url: &str) -> Result<Router, BoxError> {
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

// ------------------------------------------------------- Redis floors --

/// What a new visitor costs on Redis with no session logic at all: each
/// request does one `SET … NX PX` (what both sesh and tower-sessions send
/// for a new session) of a value the size of sesh's, and answers with a
/// `Set-Cookie` the size of sesh's. No store built on the same client can
/// be cheaper per new visitor, so `floor / tower-sessions` bounds the
/// ratio any store on that client can reach.
const FLOOR_VALUE: [u8; 40] = [b'v'; 40];
const FLOOR_TTL_MS: u64 = 1_800_000;
const FLOOR_COOKIE: &str = "sid=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax";

fn floor_key(n: u64) -> String {
    format!("floor:{}:{n:016x}", std::process::id())
}

fn floor_response(stored: bool) -> axum::response::Response {
    use axum::response::IntoResponse;
    if stored {
        ([(axum::http::header::SET_COOKIE, FLOOR_COOKIE)], body(1)).into_response()
    } else {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// The floor on redis-rs: one multiplexed connection, as `RedisStore`'s default.
pub async fn redis_floor_app(url: &str) -> Result<Router, BoxError> {
    let connection = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let handler = move || {
        let mut connection = connection.clone();
        async move {
            let key = floor_key(count_call());
            let answer: redis::RedisResult<redis::Value> = redis::cmd("SET")
                .arg(key)
                .arg(&FLOOR_VALUE[..])
                .arg("NX")
                .arg("PX")
                .arg(FLOOR_TTL_MS)
                .query_async(&mut connection)
                .await;
            floor_response(matches!(answer, Ok(redis::Value::Okay)))
        }
    };
    Ok(Router::new()
        .route("/", get(handler))
        .route("/stats", get(bare_stats))
        .route("/health", get(health)))
}

/// The floor on fred: a pool of one connection, as the tower-sessions peer.
pub async fn fred_floor_app(url: &str) -> Result<Router, BoxError> {
    use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, KeysInterface, Pool};
    use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};
    let pool = Pool::new(Config::from_url(url)?, None, None, None, TOWER_REDIS_POOL)?;
    // The connection tasks run until the process ends.
    let _connections = pool.connect_pool();
    pool.wait_for_connect().await?;
    let handler = move || {
        let pool = pool.clone();
        async move {
            let key = floor_key(count_call());
            let answer: Result<Option<String>, _> = pool
                .set(
                    key,
                    &FLOOR_VALUE[..],
                    Some(Expiration::PX(FLOOR_TTL_MS as i64)),
                    Some(SetOptions::NX),
                    false,
                )
                .await;
            floor_response(matches!(answer, Ok(Some(_))))
        }
    };
    Ok(Router::new()
        .route("/", get(handler))
        .route("/stats", get(bare_stats))
        .route("/health", get(health)))
}
