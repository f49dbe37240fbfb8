//! The memory store in process: memory per stored session, and what a new
//! visitor costs on the store's side.
//!
//! Memory: the growth of this process's resident set while `SESSIONS`
//! sessions of 8 data bytes are created (their ids made beforehand), divided
//! by `SESSIONS`. `scale` reports the same measurement, each count in a
//! process of its own.
//!
//! New visitors: this thread's CPU time per session created as the layer
//! creates one (`create_with_meta`, one data byte as the counter's first
//! visit stores), in each state the shipped counter's store goes through
//! under a flood of new visitors, beside the id draw and the cookie the
//! layer adds to each. Median over the rounds, with the spread (min–max).
//!
//! ```text
//! store-memory [--rounds N] [--creates N] [SESSIONS...]
//! # defaults: 5 rounds, 500000 creates, 100000 1000000 sessions
//! ```
//!
//! For profiling one case, `STORE_MEMORY_ONLY=id|cookie|steady|growing|full`
//! runs only that part of each round (`growing` includes the refill).

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

#[path = "scale/footprint.rs"]
mod footprint;

use std::hint::black_box;

use sesh::SessionId;
use sesh::cookie::{CookieDecision, RequestCookie};
use sesh::expiry::ExpiryPolicy;
use sesh::owner::SessionMeta;
use sesh::record::SessionRecord;
use sesh_bench_http::BoxError;
use sesh_bench_http::measure::{median_and_spread, new_ids, thread_cpu_ns, wall_now};
use sesh_tokio::{MemoryStore, RandomSource, SessionStore};

/// The memory store's default bound (what the shipped counter runs with).
const DEFAULT_BOUND: usize = 100_000;
/// The bound of a store with room (`--max-sessions 10000000`).
const ROOM: usize = 10_000_000;
/// Creates per batch of the steady case; each batch is deleted again.
const STEADY_BATCH: usize = 4_096;

/// The rows of the new-visitor table, in order.
const ROWS: [&str; 8] = [
    "id: 16 bytes from `OsRandom`, the layer's default source (its `SessionId::generate`)",
    "cookie: the signed `Set-Cookie` value (`CookieDecision`, `KeyRing::sign`, formatting)",
    "create, steady: room, 1,024 stored and up to 4,096 more, no growth (deleted after each batch)",
    "create, steady at 100,000 stored: as above with 100,000 stored (room, no eviction)",
    "create, growing: from empty with room (`--max-sessions 10000000`), CREATES creates",
    "create, refill: the same store after every session was deleted, CREATES creates (no growth, but freed slots reused out of order and the index full of deleted marks)",
    "create, full: default bound (100,000, full before timing): each create evicts",
    "delete: one session of a store with room (steady case's)",
];

/// The 16 bytes of an id from `source`, as the layer draws them.
struct Source<'a>(&'a dyn RandomSource);

impl rand_core::TryRng for Source<'_> {
    type Error = sesh::RngError;

    fn try_next_u32(&mut self) -> Result<u32, sesh::RngError> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, sesh::RngError> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), sesh::RngError> {
        self.0.fill(dst)
    }
}

impl rand_core::TryCryptoRng for Source<'_> {}

/// A store that knows the layer's record for a first visit.
struct Visit {
    record: SessionRecord<Vec<u8>>,
    meta: SessionMeta,
    now: sesh::Instant,
}

impl Visit {
    fn new() -> Self {
        let now = wall_now();
        Visit {
            record: SessionRecord {
                deadlines: ExpiryPolicy::new().start(now),
                protected: false,
                data: vec![1],
            },
            meta: SessionMeta::new(now),
            now,
        }
    }

    /// Creates a session under each of `ids`; CPU ns per create.
    async fn create(&self, store: &MemoryStore, ids: &[SessionId]) -> Result<u64, BoxError> {
        let start = thread_cpu_ns();
        for id in ids {
            store
                .create_with_meta(id, &self.record, &self.meta, self.now)
                .await?;
        }
        Ok(thread_cpu_ns() - start)
    }

    /// Creates `ids` in batches into a store with room that holds
    /// `resident` sessions, deleting each batch again (the first batch,
    /// which grows the store to its size, untimed); CPU ns per create and
    /// per delete.
    async fn steady(&self, ids: &[SessionId], resident: usize) -> Result<(f64, f64), BoxError> {
        let store = MemoryStore::new(ROOM);
        self.create(&store, &new_ids(resident)?).await?;
        let (mut created, mut create_ns, mut delete_ns) = (0usize, 0u64, 0u64);
        for (i, batch) in ids.chunks(STEADY_BATCH).enumerate() {
            let c = self.create(&store, batch).await?;
            let d = self.delete(&store, batch).await?;
            if i > 0 {
                created += batch.len();
                create_ns += c;
                delete_ns += d;
            }
        }
        Ok((per(create_ns, created), per(delete_ns, created)))
    }

    async fn delete(&self, store: &MemoryStore, ids: &[SessionId]) -> Result<u64, BoxError> {
        let start = thread_cpu_ns();
        for id in ids {
            store.delete(id).await?;
        }
        Ok(thread_cpu_ns() - start)
    }
}

fn per(ns: u64, count: usize) -> f64 {
    ns as f64 / count.max(1) as f64
}

/// One round: ns per visitor for each of [`ROWS`].
async fn round(creates: usize) -> Result<[f64; ROWS.len()], BoxError> {
    let only = std::env::var("STORE_MEMORY_ONLY").unwrap_or_default();
    let runs = |case: &str| only.is_empty() || only == case;
    let visit = Visit::new();
    let ids = new_ids(creates)?;
    let (mut id, mut cookie, mut steady, mut delete) = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    let (mut growing, mut refill, mut full, mut steady_bound) =
        (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    if runs("id") {
        let mut source = Source(&sesh_tokio::OsRandom);
        let start = thread_cpu_ns();
        for _ in 0..creates {
            black_box(SessionId::generate(&mut source)?);
        }
        id = per(thread_cpu_ns() - start, creates);
    }
    if runs("cookie") {
        let keys = sesh_bench_http::sesh_keys()?;
        let config = sesh::cookie::CookieConfig::new("sid");
        let expires = visit.record.deadlines.expires_at();
        let mut out = String::with_capacity(128);
        let start = thread_cpu_ns();
        for id in &ids {
            let mut decision = CookieDecision::new(RequestCookie::Absent);
            decision.created(*id, expires);
            out.clear();
            decision
                .decide(visit.now)
                .write_session_cookie(&mut out, &config, &keys)?;
            black_box(axum::http::HeaderValue::from_str(&out)?);
        }
        cookie = per(thread_cpu_ns() - start, creates);
    }
    if runs("steady") {
        (steady, delete) = visit.steady(&ids, 1_024).await?;
        (steady_bound, _) = visit.steady(&ids, DEFAULT_BOUND).await?;
    }
    if runs("growing") {
        let store = MemoryStore::new(ROOM);
        growing = per(visit.create(&store, &ids).await?, ids.len());
        visit.delete(&store, &ids).await?;
        refill = per(visit.create(&store, &ids).await?, ids.len());
    }
    if runs("full") {
        let store = MemoryStore::default();
        let before = new_ids(DEFAULT_BOUND)?;
        visit.create(&store, &before).await?;
        full = per(visit.create(&store, &ids).await?, ids.len());
    }

    Ok([
        id,
        cookie,
        steady,
        steady_bound,
        growing,
        refill,
        full,
        delete,
    ])
}

fn main() -> Result<(), BoxError> {
    let mut rounds = 5usize;
    let mut creates = 500_000usize;
    let mut counts: Vec<usize> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().ok_or("--rounds N")?.parse()?,
            "--creates" => creates = args.next().ok_or("--creates N")?.parse()?,
            count => counts.push(count.parse()?),
        }
    }
    if counts.is_empty() {
        counts = vec![100_000, 1_000_000];
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    println!("| sessions | bytes per session |");
    println!("|---:|---:|");
    for sessions in counts {
        let bytes = runtime.block_on(footprint::bytes_per_session(sessions))?;
        println!("| {sessions} | {bytes} |");
    }
    if rounds == 0 {
        return Ok(());
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); ROWS.len()];
    for _ in 0..rounds {
        let costs = runtime.block_on(round(creates))?;
        for (list, cost) in ns.iter_mut().zip(costs) {
            list.push(cost);
        }
    }
    println!();
    println!(
        "New visitors, store side: thread CPU ns per visitor, median of {rounds} rounds (min–max)."
    );
    println!();
    println!("| per new visitor | ns | spread |");
    println!("|---|---:|---:|");
    for (row, list) in ROWS.iter().zip(ns) {
        let (median, min, max) = median_and_spread(list);
        let row = row.replace("CREATES", &creates.to_string());
        println!("| {row} | {median:.0} | {min:.0}–{max:.0} |");
    }
    Ok(())
}
