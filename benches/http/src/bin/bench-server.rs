//! The counter app for the HTTP load benchmarks (`scripts/bench.sh`, which
//! runs the harness in benches/harness), in one of these variants on a
//! loopback address:
//!
//! - `bare`: axum, no sessions; the count is one global counter.
//! - `sesh`: sesh-tokio with its `MemoryStore`; the count lives in
//!   `Session<Counter>` and changes through `session.update`.
//! - `tower-sessions`: tower-sessions 0.15 with its `MemoryStore`; the count
//!   changes through `session.get` / `session.insert`.
//! - `sesh-redis`: the `sesh` app on `sesh_tokio::store::RedisStore`
//!   (`RedisConfig::new(url)` defaults, a key prefix unique to this process,
//!   and the bound `--max-sessions` when given).
//! - `tower-sessions-redis`: the `tower-sessions` app on tower-sessions 0.14
//!   with tower-sessions-redis-store 0.16 (fred, a pool of 1 connection,
//!   as many as `RedisConfig`'s default); 0.14 because that store does not
//!   build against tower-sessions 0.15 yet.
//! - `sesh-redb`: the `sesh` app on `sesh_tokio::store::RedbStore` in the
//!   file `--redb PATH`.
//! - `sesh-postgres`: the `sesh` app on `sesh_tokio::store::PostgresStore`
//!   (`--postgres URL`, a pool of 8, a table unique to this process).
//! - `tower-sessions-postgres`: the `tower-sessions` app on tower-sessions
//!   0.14 with tower-sessions-sqlx-store 0.15 (sqlx, a pool of 8, a table
//!   unique to this process).
//! - `floor-layer`: the counter app on `sesh_bench_http::floor`, the least
//!   a session layer must do (returning and new visitors) with sesh's
//!   primitives, on a `MemoryStore` (the bound `--max-sessions` when given):
//!   the floor under the `sesh` variants' CPU per request (its `/stats`
//!   reports no occupancy).
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
//!              [--redb PATH] [--postgres postgres://…@127.0.0.1:PORT/DB]
//! ```
//!
//! The server binds `--addr` (port 0 picks a free port; only loopback
//! addresses are accepted), prints the bound address and writes it to
//! `--addr-file`. `--max-sessions` sets the bound of sesh's `MemoryStore`
//! (`sesh`, `floor-layer`) or `RedisStore` (`sesh-redis`); without it each keeps its
//! default (`DEFAULT_MAX_SESSIONS`, 100,000 sessions). tower-sessions has no
//! bound, so a new-visitor run compares like for like only when sesh's
//! bound leaves room for every session the run makes. `--redis` is required by the
//! two Redis variants and must name a loopback host; `--redb` by `sesh-redb`.

use std::net::SocketAddr;

use sesh_bench_http::{
    BoxError, bare_app, floor, fred_floor_app, redis_floor_app, sesh_app, sesh_memory_app,
    sesh_postgres_app, sesh_redb_app, tower_app, tower_postgres_app, tower_redis_app,
};

/// Which app to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    Sesh,
    TowerSessions,
    SeshRedis,
    TowerSessionsRedis,
    SeshRedb,
    SeshPostgres,
    TowerSessionsPostgres,
    RedisFloor,
    FredFloor,
    FloorLayer,
}

struct Args {
    variant: Variant,
    addr: SocketAddr,
    addr_file: Option<String>,
    max_sessions: Option<usize>,
    redis: Option<String>,
    redb: Option<String>,
    postgres: Option<String>,
}

const USAGE: &str = "usage: bench-server <bare|sesh|tower-sessions|sesh-redis|tower-sessions-redis|sesh-redb|sesh-postgres|tower-sessions-postgres|redis-floor|fred-floor|floor-layer> \
[--addr 127.0.0.1:0] [--addr-file PATH] [--max-sessions N] [--redis redis://127.0.0.1:PORT/0] [--redb PATH] \
[--postgres postgres://USER@127.0.0.1:PORT/DB]";

fn parse_args() -> Result<Args, BoxError> {
    let mut args = std::env::args().skip(1);
    let variant = match args.next().as_deref() {
        Some("bare") => Variant::Bare,
        Some("sesh") => Variant::Sesh,
        Some("tower-sessions") => Variant::TowerSessions,
        Some("sesh-redis") => Variant::SeshRedis,
        Some("tower-sessions-redis") => Variant::TowerSessionsRedis,
        Some("sesh-redb") => Variant::SeshRedb,
        Some("sesh-postgres") => Variant::SeshPostgres,
        Some("tower-sessions-postgres") => Variant::TowerSessionsPostgres,
        Some("redis-floor") => Variant::RedisFloor,
        Some("fred-floor") => Variant::FredFloor,
        Some("floor-layer") => Variant::FloorLayer,
        _ => return Err(USAGE.into()),
    };
    let mut parsed = Args {
        variant,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        addr_file: None,
        max_sessions: None,
        redis: None,
        redb: None,
        postgres: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => parsed.addr = value.parse()?,
            "--addr-file" => parsed.addr_file = Some(value),
            "--max-sessions" => parsed.max_sessions = Some(value.parse()?),
            "--redis" => parsed.redis = Some(value),
            "--redb" => parsed.redb = Some(value),
            "--postgres" => parsed.postgres = Some(value),
            _ => return Err(USAGE.into()),
        }
    }
    if !parsed.addr.ip().is_loopback() {
        return Err("bench-server serves on loopback addresses only".into());
    }
    if let Some(url) = &parsed.redis {
        check_loopback_redis(url)?;
    }
    if let Some(url) = &parsed.postgres {
        check_loopback_postgres(url)?;
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

/// Accepts `postgres://[USER@]127.0.0.1:PORT/DB` (or `localhost`, `[::1]`) only.
fn check_loopback_postgres(url: &str) -> Result<(), BoxError> {
    let rest = url
        .strip_prefix("postgres://")
        .ok_or("--postgres: expected postgres://USER@127.0.0.1:PORT/DB")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _port)| host);
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err("--postgres: bench-server talks to a loopback PostgreSQL only".into())
    }
}

// ------------------------------------------------------------------ main --

async fn serve(args: Args) -> Result<(), BoxError> {
    let redis = || {
        args.redis
            .as_deref()
            .ok_or("this variant needs --redis URL")
    };
    let postgres = || {
        args.postgres
            .as_deref()
            .ok_or("this variant needs --postgres URL")
    };
    let app = match args.variant {
        Variant::Bare => bare_app(),
        Variant::Sesh => sesh_memory_app(args.max_sessions)?,
        Variant::TowerSessions => tower_app(),
        Variant::SeshRedis => sesh_redis_app(redis()?, args.max_sessions)?,
        Variant::TowerSessionsRedis => tower_redis_app(redis()?).await?,
        Variant::RedisFloor => redis_floor_app(redis()?).await?,
        Variant::FredFloor => fred_floor_app(redis()?).await?,
        Variant::FloorLayer => {
            floor::floor_server_app(floor::FloorLayer::with_max_sessions(args.max_sessions)?)
        }
        Variant::SeshRedb => {
            sesh_redb_app(args.redb.as_deref().ok_or("sesh-redb needs --redb PATH")?).await?
        }
        Variant::SeshPostgres => sesh_postgres_app(postgres()?).await?,
        Variant::TowerSessionsPostgres => tower_postgres_app(postgres()?).await?,
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

/// The sesh app on `RedisStore`: `RedisConfig::new(url)` defaults, a key
/// prefix unique to this process (runs never read each other's sessions),
/// and the bound `max_sessions` when given.
fn sesh_redis_app(url: &str, max_sessions: Option<usize>) -> Result<axum::Router, BoxError> {
    use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("sesh-bench:{}-{nanos}:", std::process::id());
    let mut config = RedisConfig::new(url).with_prefix(prefix);
    if let Some(max) = max_sessions {
        config = config.with_max_sessions(max);
    }
    // The store's own key (ids stored as keyed hashes), not the cookie secret.
    let store = RedisStore::new(config, StoreKey::new(&[9; 32])?)?;
    sesh_app(store)
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}
