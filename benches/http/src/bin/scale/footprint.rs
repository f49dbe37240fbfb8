//! Memory per stored session of the memory store: the growth of this
//! process's resident set while sessions of 8 data bytes are created (their
//! ids made beforehand), divided by their number. Shared by `store-memory`
//! and `scale` (which runs it in a child process of its own, so that memory
//! freed earlier in the run is not reused and counted as free).

use sesh::{ExpiryPolicy, Instant};
use sesh_bench_http::BoxError;
use sesh_bench_http::measure::{new_ids, store_sessions};
use sesh_tokio::MemoryStore;

fn resident_kib() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}

/// Bytes of resident memory per session, for `sessions` sessions in a
/// memory store bounded just above them.
pub async fn bytes_per_session(sessions: usize) -> Result<u64, BoxError> {
    let store = MemoryStore::new(sessions.saturating_add(16));
    // The ids exist before the first reading: only the store's growth counts.
    let ids = new_ids(sessions)?;
    let now = Instant::from_secs(1_000);
    let before = resident_kib()?;
    store_sessions(&store, &ids, ExpiryPolicy::new().start(now), now).await?;
    let grown = resident_kib()?.saturating_sub(before);
    let sessions = u64::try_from(sessions)?;
    Ok(grown
        .saturating_mul(1024)
        .checked_div(sessions)
        .unwrap_or_default())
}
