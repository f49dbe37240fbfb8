//! What the owner index (issue 16) costs, on the memory store, redb and
//! Redis (a redis-server of its own, started and stopped here):
//!
//! 1. **revoke all**: ending every session of a user with 1,000 sessions in a
//!    store that holds only them, and in a store of 10⁶ (the other sessions
//!    belong to 99,900 other users, ten each). The index makes both the same.
//! 2. **per request**: a returning request of the counter app (one update)
//!    whose session has an owner, against one whose session has none, in
//!    process (no socket), as this thread's CPU time and wall time.
//!
//! ```text
//! owner-cost [ROUNDS] [STORE_SIZE] [REQUESTS]   # default 5, 1000000, 20000
//! ```
//!
//! It prints Markdown tables: medians over the rounds with the spread
//! (min–max).

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

use std::sync::Arc;
use std::time::Instant as WallClock;

use axum::Router;
use axum::routing::get;
use sesh::expiry::ExpiryPolicy;
use sesh::owner::{SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh_bench_http::BoxError;
use sesh_bench_http::measure::{
    call, median_and_spread, new_ids, thread_cpu_ns, unlinked_redb, wall_now,
};
use sesh_tests::http::redis_server::RedisServer;
use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionError, SessionLayer, SessionStore};

/// The user whose sessions are revoked, and how many she has.
const USER_SESSIONS: usize = 1_000;
/// Sessions of each other user in the large store.
const OTHERS_EACH: usize = 10;
/// Creates in flight while filling a store (redb batches them into commits).
const FILL_CONCURRENCY: usize = 256;
/// Cookies the per-request measurement replays.
const COOKIES: usize = 1_024;
const SECRET: [u8; 32] = [7; 32];

type Store = Arc<dyn SessionStore>;

fn user(name: &str) -> Result<UserId, BoxError> {
    Ok(UserId::new(name.as_bytes())?)
}

/// A store of `kind` holding no sessions, bounded far above `capacity`.
async fn new_store(kind: &str, capacity: usize, redis: &RedisServer) -> Result<Store, BoxError> {
    let key = StoreKey::new(&SECRET)?;
    let bound = capacity * 2 + COOKIES * 2;
    Ok(match kind {
        "memory" => Arc::new(MemoryStore::new(bound).with_max_sessions_per_user(USER_SESSIONS)),
        "redb" => {
            let store = unlinked_redb("owner-cost", key).await?;
            Arc::new(
                store
                    .with_max_sessions(bound)
                    .with_max_sessions_per_user(USER_SESSIONS),
            )
        }
        _ => {
            let prefix = format!("owner-cost:{}:", wall_now().as_millis());
            let config = RedisConfig::new(redis.url())
                .with_prefix(prefix)
                .with_max_sessions(bound)
                .with_max_sessions_per_user(USER_SESSIONS);
            Arc::new(RedisStore::connect(config, key).await?)
        }
    })
}

/// Creates `count` sessions owned by `owner(i)`, `FILL_CONCURRENCY` at a time.
async fn fill(
    store: &Store,
    count: usize,
    owner: impl Fn(usize) -> String,
) -> Result<(), BoxError> {
    let policy = ExpiryPolicy::new().with_idle_timeout(sesh::Duration::from_hours(1));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in new_ids(count)?.into_iter().enumerate() {
        let at = wall_now();
        let mut meta = SessionMeta::new(at);
        meta.owner = Some(user(&owner(i))?);
        let record = SessionRecord {
            deadlines: policy.start(at),
            protected: true,
            data: vec![0u8; 8],
        };
        let store = store.clone();
        tasks.spawn(async move { store.create_with_meta(&id, &record, &meta, at).await });
        while tasks.len() >= FILL_CONCURRENCY {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Milliseconds `revoke_all` takes for alice's `USER_SESSIONS` sessions.
async fn time_revoke_all(store: &Store) -> Result<f64, BoxError> {
    fill(store, USER_SESSIONS, |_| "alice".to_owned()).await?;
    let alice = user("alice")?;
    let start = WallClock::now();
    let ended = store.revoke_all(&alice, None, wall_now()).await?;
    let elapsed = start.elapsed();
    if ended != USER_SESSIONS {
        return Err(format!("revoke_all ended {ended}, not {USER_SESSIONS}").into());
    }
    Ok(elapsed.as_secs_f64() * 1e3)
}

// ------------------------------------------------------------ per request --

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

async fn count(session: Session<Counter>) -> Result<String, SessionError> {
    let n = session.update(|c| {
        c.count += 1;
        c.count
    });
    Ok(format!("count {}\n", n.await?))
}

/// The counter, which `/login?user=U` first makes U's.
async fn login(
    session: Session<Counter>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<String, SessionError> {
    let name = q.get("user").map_or("nobody", String::as_str);
    let Ok(owner) = UserId::new(name.as_bytes()) else {
        return Ok("user name over 64 bytes\n".to_owned());
    };
    session.update(|c| c.count += 1).await?;
    session.set_owner(owner).await?;
    Ok("ok\n".to_owned())
}

fn app(store: Store) -> Result<Router, BoxError> {
    let config = SessionConfig::new(&SECRET)?.with_secure(false);
    Ok(Router::new()
        .route("/", get(count))
        .route("/login", get(login))
        .layer(SessionLayer::new(store, config)?))
}

/// Commands Redis has run so far (all kinds, from `INFO commandstats`),
/// and its CPU seconds (`INFO cpu`, user + system).
async fn redis_counters(url: &str) -> Result<(f64, f64), BoxError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("all").query_async(&mut conn).await?;
    let commands = info
        .lines()
        .filter_map(|line| {
            line.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    let cpu = info
        .lines()
        .filter_map(|line| {
            let value = line
                .strip_prefix("used_cpu_user:")
                .or_else(|| line.strip_prefix("used_cpu_sys:"))?;
            value.trim().parse::<f64>().ok()
        })
        .sum();
    Ok((commands, cpu))
}

/// Per returning request: (CPU ns, wall ns, Redis commands and Redis CPU
/// ns), sessions with or without owners.
async fn per_request(
    store: Store,
    owned: bool,
    requests: usize,
    redis_url: Option<&str>,
) -> Result<(f64, f64, (f64, f64)), BoxError> {
    let app = app(store)?;
    let mut cookies = Vec::with_capacity(COOKIES);
    for i in 0..COOKIES {
        let target = if owned {
            format!("/login?user=u{i}")
        } else {
            "/".to_owned()
        };
        cookies.push(call(&app, &target, None).await?.ok_or("no cookie")?);
    }
    let cookie = |i: usize| cookies.get(i % COOKIES).map(String::as_str);
    for i in 0..requests / 10 {
        call(&app, "/", cookie(i)).await?;
    }
    let before = match redis_url {
        Some(url) => Some(redis_counters(url).await?),
        None => None,
    };
    let (cpu, wall) = (thread_cpu_ns(), WallClock::now());
    for i in 0..requests {
        call(&app, "/", cookie(i)).await?;
    }
    let (cpu, wall) = (thread_cpu_ns() - cpu, wall.elapsed());
    let per = |total: f64| total / requests as f64;
    let redis = match (redis_url, before) {
        // One INFO call is the count's own.
        (Some(url), Some((commands, cpu))) => {
            let (commands_after, cpu_after) = redis_counters(url).await?;
            (
                per(commands_after - commands - 1.0),
                per((cpu_after - cpu) * 1e9),
            )
        }
        _ => (f64::NAN, f64::NAN),
    };
    Ok((per(cpu as f64), per(wall.as_nanos() as f64), redis))
}

fn spread(values: Vec<f64>) -> String {
    let (mid, min, max) = median_and_spread(values);
    let digits = if mid.abs() >= 100.0 { 0 } else { 2 };
    format!("{mid:.digits$} ({min:.digits$}–{max:.digits$})")
}

async fn run(rounds: usize, store_size: usize, requests: usize) -> Result<(), BoxError> {
    let redis = RedisServer::start()?;
    let kinds = ["memory", "redb", "redis"];
    let others = store_size.saturating_sub(USER_SESSIONS);

    println!(
        "| store | revoke all, 1,000 sessions, store of 1,000 (ms) | same, store of {store_size} (ms) | large ÷ small |"
    );
    println!("|---|---:|---:|---:|");
    for kind in kinds {
        let (mut small, mut large, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let big = new_store(kind, store_size, &redis).await?;
        let filled = WallClock::now();
        fill(&big, others, |i| format!("user{}", i / OTHERS_EACH)).await?;
        eprintln!(
            "{kind}: {others} other sessions stored in {:?}",
            filled.elapsed()
        );
        for _ in 0..rounds {
            let alone = new_store(kind, USER_SESSIONS, &redis).await?;
            let s = time_revoke_all(&alone).await?;
            let l = time_revoke_all(&big).await?;
            small.push(s);
            large.push(l);
            ratio.push(l / s);
        }
        println!(
            "| {kind} | {} | {} | {} |",
            spread(small),
            spread(large),
            spread(ratio)
        );
        drop(big);
    }

    println!();
    println!(
        "| store | returning request, no owner (CPU ns) | with an owner (CPU ns) | owner ÷ none, CPU | no owner (wall ns) | with an owner (wall ns) | owner ÷ none, wall | Redis commands per request, none / owner | Redis CPU ns per request, none / owner |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for kind in kinds {
        let n = if kind == "memory" {
            requests * 10
        } else {
            requests
        };
        let url = redis.url();
        let redis_url = (kind == "redis").then_some(url.as_str());
        let mut columns: [Vec<f64>; 6] = Default::default();
        let mut commands = [f64::NAN; 2];
        let mut redis_cpu: [Vec<f64>; 2] = Default::default();
        for round in 0..rounds {
            // Alternate which goes first, so that a drift hits both alike.
            let mut both = [(false, 0.0, 0.0), (true, 0.0, 0.0)];
            if round % 2 == 1 {
                both.reverse();
            }
            for (owned, cpu, wall) in &mut both {
                let store = new_store(kind, COOKIES, &redis).await?;
                let (c, w, (cmds, server)) = per_request(store, *owned, n, redis_url).await?;
                (*cpu, *wall) = (c, w);
                if let Some(slot) = commands.get_mut(usize::from(*owned)) {
                    *slot = cmds;
                }
                if let Some(list) = redis_cpu.get_mut(usize::from(*owned)) {
                    list.push(server);
                }
            }
            both.sort_by_key(|(owned, _, _)| *owned);
            let [(_, plain_cpu, plain_wall), (_, owned_cpu, owned_wall)] = both;
            for (column, value) in columns.iter_mut().zip([
                plain_cpu,
                owned_cpu,
                owned_cpu / plain_cpu,
                plain_wall,
                owned_wall,
                owned_wall / plain_wall,
            ]) {
                column.push(value);
            }
        }
        let [a, b, c, d, e, f] = columns.map(spread);
        let [none, owner] = commands;
        let (cmds, server) = if none.is_nan() {
            ("–".to_owned(), "–".to_owned())
        } else {
            let [none_cpu, owner_cpu] = redis_cpu.map(spread);
            (
                format!("{none:.1} / {owner:.1}"),
                format!("{none_cpu} / {owner_cpu}"),
            )
        };
        println!("| {kind} | {a} | {b} | {c} | {d} | {e} | {f} | {cmds} | {server} |");
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mut next = |default: usize| -> Result<usize, BoxError> {
        Ok(args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (rounds, store_size, requests) = (next(5)?, next(1_000_000)?, next(20_000)?);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(rounds, store_size, requests))
}
