//! How long a request waits while the sweeper purges the memory store:
//! `EXPIRED` sessions past their deadline and 1,024 live ones; one task runs
//! `purge_expired` while another loads live sessions in a loop, on a tokio
//! runtime with two workers. Prints the purge's duration and the requests'
//! latencies during it (median, p99, longest), over several rounds.
//!
//! ```text
//! sweep-stall [ROUNDS] [EXPIRED]     # default 3 rounds of 1000000
//! ```

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as WallClock};

use sesh::expiry::ExpiryPolicy;
use sesh::{Instant, SessionId};
use sesh_bench_http::BoxError;
use sesh_bench_http::measure::{new_ids, store_sessions};
use sesh_tokio::{MemoryStore, SessionStore};

const LIVE: usize = 1_024;

async fn fill(
    store: &MemoryStore,
    count: usize,
    policy: ExpiryPolicy,
) -> Result<Vec<SessionId>, BoxError> {
    let ids = new_ids(count)?;
    store_sessions(store, &ids, policy.start(Instant::ZERO), Instant::ZERO).await?;
    Ok(ids)
}

/// (purge duration, request latencies during it)
async fn round(expired: usize) -> Result<(Duration, Vec<Duration>), BoxError> {
    // Room to spare: a shard that fills up would evict, not keep, sessions.
    let store = Arc::new(MemoryStore::new(2 * (expired + LIVE)));
    let short = ExpiryPolicy::new().with_idle_timeout(sesh::Duration::from_secs(1));
    fill(&store, expired, short).await?;
    let live = fill(&store, LIVE, ExpiryPolicy::new()).await?;
    let later = Instant::from_secs(2);
    let done = Arc::new(AtomicBool::new(false));
    let sweeper = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let start = WallClock::now();
            let purged = store.purge_expired(later).await;
            done.store(true, Ordering::SeqCst);
            purged.map(|n| (n, start.elapsed()))
        })
    };
    let mut waits = Vec::new();
    let mut i = 0_usize;
    while !done.load(Ordering::SeqCst) {
        let id = live.get(i % LIVE).ok_or("no live id")?;
        let start = WallClock::now();
        store
            .load(id, later)
            .await?
            .ok_or("a live session is gone")?;
        waits.push(start.elapsed());
        i += 1;
        tokio::task::yield_now().await;
    }
    let (purged, took) = sweeper.await??;
    if purged != expired {
        return Err(format!("purged {purged}, expected {expired}").into());
    }
    Ok((took, waits))
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let expired: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "| round | sessions purged | purge took (ms) | requests during it | median wait (µs) | p99 (µs) | longest (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in 1..=rounds {
        let (took, mut waits) = runtime.block_on(round(expired))?;
        waits.sort();
        let at = |q: f64| {
            let index = ((waits.len() as f64 - 1.0) * q).round() as usize;
            waits.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
        };
        println!(
            "| {r} | {expired} | {:.1} | {} | {:.1} | {:.1} | {:.1} |",
            took.as_secs_f64() * 1e3,
            waits.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
