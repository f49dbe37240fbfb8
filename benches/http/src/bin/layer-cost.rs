//! CPU cost of a request through each variant's app, in process: no socket,
//! no HTTP parsing, one thread, timed by the thread's CPU time (Linux
//! `/proc/thread-self/schedstat`). What is left is what the session layer adds
//! to axum, so the differences are far steadier than req/s over loopback.
//!
//! ```text
//! layer-cost [ROUNDS] [REQUESTS]     # default 5 rounds of 200,000 requests
//! ```
//!
//! Each round runs every variant (order rotated) for both scenarios:
//! *returning* replays 1,024 cookies minted before the round; *new* sends no
//! cookie. It prints a Markdown table: ns per request, the cost each session
//! layer adds to `bare`, and their ratio, as the median over the rounds with
//! the spread (min–max) of the per-round values.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

use axum::Router;
use sesh_bench_http::measure::{call, cpu_time_ns, median_and_spread};
use sesh_bench_http::{BoxError, bare_app, sesh_memory_app, tower_app};

const SESSIONS: usize = 1024;
const VARIANTS: [&str; 3] = ["bare", "sesh", "tower-sessions"];

/// The variant's app, prepared as `axum::serve` prepares it
/// (`into_make_service` calls `with_state`): every handler is turned into a
/// route, and every layer applied, once. Called unprepared, axum would
/// rebuild the route and re-apply the layers on every request, a cost no
/// server pays.
fn app(variant: &str) -> Result<Router, BoxError> {
    let app = match variant {
        "bare" => bare_app(),
        "sesh" => sesh_memory_app(None)?,
        _ => tower_app(),
    };
    Ok(app.with_state(()))
}

/// Cookies of live sessions (for `bare`, random ones of the same shape).
async fn mint(app: &Router, variant: &str) -> Result<Vec<String>, BoxError> {
    let mut cookies = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        if variant == "bare" {
            cookies.push(format!(
                "sid=AAAAAAAAAAAAAAAAAAAA{i:02}.BBBBBBBBBBBBBBBBBBBBBB"
            ));
        } else {
            cookies.push(
                call(app, "/", None)
                    .await?
                    .ok_or("no Set-Cookie on a new session")?,
            );
        }
    }
    Ok(cookies)
}

async fn measure(variant: &str, returning: bool, requests: usize) -> Result<f64, BoxError> {
    let app = app(variant)?;
    let cookies = if returning {
        mint(&app, variant).await?
    } else {
        Vec::new()
    };
    let cookie = |i: usize| cookies.get(i % SESSIONS.max(1)).map(String::as_str);
    for i in 0..requests / 10 {
        call(&app, "/", cookie(i)).await?;
    }
    let start = cpu_time_ns()?;
    for i in 0..requests {
        call(&app, "/", cookie(i)).await?;
    }
    Ok((cpu_time_ns()? - start) as f64 / requests as f64)
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let requests: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // For profiling one case: LAYER_COST_ONLY=sesh/returning.
    let only = std::env::var("LAYER_COST_ONLY").unwrap_or_default();
    println!(
        "| scenario | bare ns/req | sesh ns/req | tower-sessions ns/req | added by sesh | added by tower-sessions | tower-sessions added / sesh added | bare / sesh |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (scenario, returning) in [("returning", true), ("new", false)] {
        let mut ns: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for round in 0..rounds {
            for k in 0..VARIANTS.len() {
                let index = (round + k) % VARIANTS.len();
                let variant = VARIANTS.get(index).copied().unwrap_or("bare");
                if !only.is_empty() && only != format!("{variant}/{scenario}") {
                    continue;
                }
                let cost = runtime.block_on(measure(variant, returning, requests))?;
                if let Some(list) = ns.get_mut(index) {
                    list.push(cost);
                }
            }
        }
        let [bare, sesh, tower] = [0, 1, 2].map(|i| ns.get(i).cloned().unwrap_or_default());
        let per_round = |f: &dyn Fn(f64, f64, f64) -> f64| -> String {
            let values = bare
                .iter()
                .zip(&sesh)
                .zip(&tower)
                .map(|((b, s), t)| f(*b, *s, *t))
                .collect();
            let (mid, min, max) = median_and_spread(values);
            if mid.abs() >= 10.0 {
                format!("{mid:.0} ({min:.0}–{max:.0})")
            } else {
                format!("{mid:.2} ({min:.2}–{max:.2})")
            }
        };
        println!(
            "| {scenario} | {} | {} | {} | {} | {} | {} | {} |",
            per_round(&|b, _, _| b),
            per_round(&|_, s, _| s),
            per_round(&|_, _, t| t),
            per_round(&|b, s, _| s - b),
            per_round(&|b, _, t| t - b),
            per_round(&|b, s, t| (t - b) / (s - b)),
            per_round(&|b, s, _| b / s),
        );
    }
    Ok(())
}
