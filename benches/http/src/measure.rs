//! What the in-process benchmarks (`layer-cost`, `owner-cost`, `store-memory`,
//! `sweep-stall`) measure with: a request through an app, this thread's CPU
//! time, medians with their spread, and sessions stored straight into a store.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use sesh::expiry::Deadlines;
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};
use sesh_tokio::SessionStore;
use tower::ServiceExt;

use crate::BoxError;

/// Sends `GET target` (with `cookie`, if any) to `app`; an error unless it
/// succeeds. Returns the `name=value` of its `Set-Cookie`, if any.
pub async fn call(
    app: &Router,
    target: &str,
    cookie: Option<&str>,
) -> Result<Option<String>, BoxError> {
    let mut request = Request::get(target);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    if !response.status().is_success() {
        return Err(format!("{target}: status {}", response.status()).into());
    }
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    axum::body::to_bytes(response.into_body(), 1024).await?;
    Ok(set_cookie)
}

/// This thread's time on a CPU so far (the first field of schedstat), so
/// that other processes on the machine inflate the result less than wall
/// time would.
pub fn cpu_time_ns() -> Result<u64, BoxError> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let first = stat.split_whitespace().next().ok_or("empty schedstat")?;
    Ok(first.parse()?)
}

/// Median (the mean of the two middle values for an even count), minimum
/// and maximum of the finite values (NaN for none), by the harness's
/// [`stats`](sesh_bench_harness::stats).
pub fn median_and_spread(values: Vec<f64>) -> (f64, f64, f64) {
    sesh_bench_harness::stats::summarize(&values)
        .map_or((f64::NAN, f64::NAN, f64::NAN), |s| (s.median, s.min, s.max))
}

/// `count` fresh session ids from the system's CSPRNG.
pub fn new_ids(count: usize) -> Result<Vec<SessionId>, BoxError> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    Ok((0..count)
        .map(|_| SessionId::generate(&mut rng))
        .collect::<Result<_, _>>()?)
}

/// Stores a session of 8 data bytes with `deadlines` under each of `ids`.
pub async fn store_sessions(
    store: &impl SessionStore,
    ids: &[SessionId],
    deadlines: Deadlines,
    now: Instant,
) -> Result<(), BoxError> {
    for id in ids {
        let record = SessionRecord {
            deadlines,
            protected: false,
            data: vec![0u8; 8],
        };
        store.create(id, &record, now).await?;
    }
    Ok(())
}

/// The wall clock as a sesh `Instant` (milliseconds since the Unix epoch).
pub fn wall_now() -> Instant {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A redb store on a new file in the temporary directory, unlinked at once:
/// the file stays open through the store and goes when the store does,
/// whatever happens after.
pub async fn unlinked_redb(
    label: &str,
    key: sesh_tokio::store::StoreKey,
) -> Result<sesh_tokio::store::RedbStore, BoxError> {
    let path = std::env::temp_dir().join(format!(
        "sesh-{label}-{}-{}.redb",
        std::process::id(),
        wall_now().as_millis()
    ));
    let store = sesh_tokio::store::RedbStore::open(&path, key).await?;
    std::fs::remove_file(&path)?;
    Ok(store)
}
