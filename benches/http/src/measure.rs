//! What the in-process benchmarks (`layer-cost`, `owner-cost`, `store-memory`,
//! `sweep-stall`) measure with: a request through an app, this thread's CPU
//! time, medians with their spread, and sessions stored straight into a store.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use rustix::time::{ClockId, clock_gettime};
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

/// What [`answer`] returns: the status, headers and body of a response.
pub struct Answer {
    /// The response's status.
    pub status: axum::http::StatusCode,
    /// Its headers.
    pub headers: axum::http::HeaderMap,
    /// Its body, as text (lossy).
    pub body: String,
}

/// Sends `GET target` (with `cookie`, if any) to `app` and returns the
/// whole answer, whatever its status: for checking answers, not timing.
pub async fn answer(app: &Router, target: &str, cookie: Option<&str>) -> Result<Answer, BoxError> {
    let mut request = Request::get(target);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1024).await?;
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// How many of the calls `0..calls`, sent to sessions in turn (call `j` to
/// session `j % sessions`), went to session `i`.
pub fn visits(i: usize, sessions: usize, calls: usize) -> usize {
    if i >= sessions {
        return 0;
    }
    let (Some(rounds), Some(rest)) = (calls.checked_div(sessions), calls.checked_rem(sessions))
    else {
        return 0;
    };
    rounds.saturating_add(usize::from(i < rest))
}

/// `f(a, b)` of each round's pair of values (as many as the shorter list).
pub fn per_round(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| f(*a, *b)).collect()
}

/// `median (min–max)` of per-round values, in whole ns; `–` for none.
pub fn cell(values: Vec<f64>) -> String {
    let (mid, min, max) = median_and_spread(values);
    if mid.is_nan() {
        return "–".to_owned();
    }
    format!("{mid:.0} ({min:.0}–{max:.0})")
}

/// This thread's CPU time so far, ns: other processes on the machine
/// inflate it less than wall time. By `clock_gettime`, exact: schedstat
/// counts a running thread's time only at each scheduler tick (4 ms here),
/// which over 200,000 requests is 20 ns per request.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(ClockId::ThreadCPUTime)
}

/// CPU time of every thread of this process so far, ns (a store's own
/// threads included, such as redb's writer).
pub fn process_cpu_ns() -> u64 {
    clock_ns(ClockId::ProcessCPUTime)
}

fn clock_ns(clock: ClockId) -> u64 {
    let t = clock_gettime(clock);
    let (Ok(s), Ok(ns)) = (u64::try_from(t.tv_sec), u64::try_from(t.tv_nsec)) else {
        return 0;
    };
    s.saturating_mul(1_000_000_000).saturating_add(ns)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_count_every_call_once() {
        for (sessions, calls) in [(1, 0), (1, 7), (4, 10), (1024, 20_000), (3, 2)] {
            let each: Vec<usize> = (0..sessions).map(|i| visits(i, sessions, calls)).collect();
            assert_eq!(each.iter().sum::<usize>(), calls, "{sessions} {calls}");
            for (i, n) in each.iter().enumerate() {
                let by_hand = (0..calls).filter(|j| j % sessions == i).count();
                assert_eq!(*n, by_hand, "{sessions} {calls} {i}");
            }
        }
        assert_eq!(visits(0, 0, 5), 0);
        assert_eq!(visits(4, 4, 100), 0);
    }

    #[test]
    fn per_round_pairs_rounds_in_order() {
        assert_eq!(
            per_round(&[10.0, 20.0, 30.0], &[1.0, 5.0], |a, b| a - b),
            vec![9.0, 15.0]
        );
        assert!(per_round(&[], &[1.0], |a, b| a + b).is_empty());
    }

    #[test]
    fn cells_show_median_and_spread() {
        assert_eq!(cell(vec![5.0, 1.0, 3.0]), "3 (1–5)");
        assert_eq!(cell(vec![2.0, 4.0]), "3 (2–4)");
        assert_eq!(cell(vec![-12.4, 7.6, 0.2]), "0 (-12–8)");
        assert_eq!(cell(Vec::new()), "–");
    }
}
