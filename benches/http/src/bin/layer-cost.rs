//! CPU cost of a request through each variant's app, in process: no socket,
//! no HTTP parsing, one thread, timed by the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`). What is left is what the session layer adds
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
//!
//! A second table, the *floor*, times alone (same method: thread CPU time,
//! median and spread over the rounds) each step a returning request through
//! sesh cannot skip, and compares their sum with the cost sesh adds.
//!
//! The *composed floor*, `floor-layer` (`sesh_bench_http::floor`), does
//! those steps together in one hand-written layer, with the same primitives
//! and nothing else, and makes a new visitor's session as any session
//! library must (an id from the adapter's CSPRNG, one create in the same
//! `MemoryStore` with the same bound as sesh's, the signed cookie in a
//! `Set-Cookie` with sesh's attributes, `Cache-Control: no-store`,
//! `Vary: Cookie`); it is timed in both scenarios' rounds beside the
//! others, and `sesh − floor-layer` per round is what sesh costs beyond it. Every session variant's answers are checked after each timed run
//! (status, body, each session's counter, cache headers), so a variant that
//! skipped its work would fail rather than look cheap.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

use std::hint::black_box;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use sesh::expiry::{Deadlines, ExpiryPolicy, Lifetime};
use sesh_bench_http::floor::{FloorLayer, floor_app};
use sesh_bench_http::measure::{
    answer, call, cell, median_and_spread, new_ids, per_round, store_sessions, thread_cpu_ns,
    visits, wall_now,
};
use sesh_bench_http::{BoxError, bare_app, sesh_keys, sesh_memory_app, tower_app};
use sesh_tokio::SessionStore;

const SESSIONS: usize = 1024;
/// The variants of both scenarios (`floor-layer` left out of the first table).
const VARIANTS: [&str; 4] = ["bare", "sesh", "tower-sessions", "floor-layer"];

/// The variant's app, prepared as `axum::serve` prepares it
/// (`into_make_service` calls `with_state`): every handler is turned into a
/// route, and every layer applied, once. Called unprepared, axum would
/// rebuild the route and re-apply the layers on every request, a cost no
/// server pays.
fn app(variant: &str) -> Result<Router, BoxError> {
    let app = match variant {
        "bare" => bare_app(),
        "sesh" => sesh_memory_app(None)?,
        // axum's own cost of a layer: the route wrapped once more.
        "bare+layer" => bare_app().layer(tower::layer::util::Identity::new()),
        _ => tower_app(),
    };
    Ok(app.with_state(()))
}

/// Cookies of live sessions (for `bare`, random ones of the same shape).
async fn mint(app: &Router, variant: &str) -> Result<Vec<String>, BoxError> {
    let mut cookies = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        if variant.starts_with("bare") {
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
    let (app, cookies) = if variant == "floor-layer" {
        let layer = FloorLayer::new()?;
        let cookies = if returning {
            layer.mint(SESSIONS).await?
        } else {
            Vec::new()
        };
        (floor_app(layer).with_state(()), cookies)
    } else {
        let app = app(variant)?;
        let cookies = if returning {
            mint(&app, variant).await?
        } else {
            Vec::new()
        };
        (app, cookies)
    };
    let cookie = |i: usize| cookies.get(i % SESSIONS.max(1)).map(String::as_str);
    for i in 0..requests / 10 {
        call(&app, "/", cookie(i)).await?;
    }
    let start = thread_cpu_ns();
    for i in 0..requests {
        call(&app, "/", cookie(i)).await?;
    }
    let spent = thread_cpu_ns() - start;
    if !variant.starts_with("bare") {
        check(&app, variant, &cookies, requests / 10, requests).await?;
    }
    Ok(spent as f64 / requests as f64)
}

/// Checks a session variant's answers after a timed run (untimed): each
/// returning session's counter went up once per request it got (one at
/// minting, `warm` and `timed` calls in turn, and this check's), and a new
/// visitor's starts at one with a cookie. sesh and the floor also send
/// `Vary: Cookie`, and `Cache-Control: no-store` exactly with a cookie.
async fn check(
    app: &Router,
    variant: &str,
    cookies: &[String],
    warm: usize,
    timed: usize,
) -> Result<(), BoxError> {
    let cache_headers = variant != "tower-sessions";
    let checks: Vec<(Option<&str>, usize)> = if cookies.is_empty() {
        vec![(None, 1)]
    } else {
        let sessions = cookies.len();
        cookies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let calls = 1 + visits(i, sessions, warm) + visits(i, sessions, timed) + 1;
                (Some(c.as_str()), calls)
            })
            .collect()
    };
    for (cookie, count) in checks {
        let got = answer(app, "/", cookie).await?;
        let wanted = format!("count {count}\n");
        let header = |name| got.headers.get(name).and_then(|v| v.to_str().ok());
        let problem = if got.status != axum::http::StatusCode::OK {
            Some(format!("status {}", got.status))
        } else if got.body != wanted {
            Some(format!("body {:?}, not {wanted:?}", got.body))
        } else if cache_headers
            && (header(header::CACHE_CONTROL) == Some("no-store"))
                != got.headers.contains_key(header::SET_COOKIE)
        {
            Some("Cache-Control: no-store without a cookie, or a cookie without it".to_owned())
        } else if cache_headers && header(header::VARY) != Some("Cookie") {
            Some("no Vary: Cookie".to_owned())
        } else if cookie.is_none() && got.headers.get(header::SET_COOKIE).is_none() {
            Some("a new visitor got no cookie".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!(
                "{variant}: wrong answer ({problem}; headers {:?})",
                got.headers
            )
            .into());
        }
    }
    Ok(())
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
    // For profiling one case: LAYER_COST_ONLY=sesh/returning; for one
    // scenario of every variant: LAYER_COST_ONLY=returning.
    let only = std::env::var("LAYER_COST_ONLY").unwrap_or_default();
    println!(
        "| scenario | bare ns/req | sesh ns/req | tower-sessions ns/req | added by sesh | added by tower-sessions | tower-sessions added / sesh added | bare / sesh |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut added_returning = Vec::new();
    let mut composed = Composed::default();
    let mut composed_new = Composed::default();
    for (scenario, returning) in [("returning", true), ("new", false)] {
        let variants = VARIANTS.len();
        let mut ns: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
        for round in 0..rounds {
            for k in 0..variants {
                let index = (round + k) % variants;
                let variant = VARIANTS.get(index).copied().unwrap_or("bare");
                if !only.is_empty() && only != scenario && only != format!("{variant}/{scenario}") {
                    continue;
                }
                let cost = runtime.block_on(measure(variant, returning, requests))?;
                if let Some(list) = ns.get_mut(index) {
                    list.push(cost);
                }
            }
        }
        let [bare, sesh, tower] = [0, 1, 2].map(|i| ns.get(i).cloned().unwrap_or_default());
        if bare.is_empty() && sesh.is_empty() && tower.is_empty() {
            continue; // left out by LAYER_COST_ONLY
        }
        let column = |f: &dyn Fn(f64, f64, f64) -> f64| -> String {
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
            column(&|b, _, _| b),
            column(&|_, s, _| s),
            column(&|_, _, t| t),
            column(&|b, s, _| s - b),
            column(&|b, _, t| t - b),
            column(&|b, s, t| (t - b) / (s - b)),
            column(&|b, s, _| b / s),
        );
        let floor = Composed {
            floor: ns.get(3).cloned().unwrap_or_default(),
            bare,
            sesh,
        };
        if returning {
            added_returning = per_round(&floor.bare, &floor.sesh, |b, s| s - b);
            composed = floor;
        } else {
            composed_new = floor;
        }
    }
    Composed::print(&[("returning", &composed), ("new", &composed_new)]);
    if only.is_empty() {
        floor(&runtime, rounds, requests, added_returning, &composed)?;
    }
    Ok(())
}

/// One scenario's per-round ns of bare, sesh and floor-layer.
#[derive(Default)]
struct Composed {
    bare: Vec<f64>,
    sesh: Vec<f64>,
    floor: Vec<f64>,
}

impl Composed {
    /// The floor's added cost, per round.
    fn added(&self) -> Vec<f64> {
        per_round(&self.bare, &self.floor, |b, f| f - b)
    }

    /// sesh less the floor, per round.
    fn gap(&self) -> Vec<f64> {
        per_round(&self.sesh, &self.floor, |s, f| s - f)
    }

    /// The composed floor's table, a row per scenario that timed it.
    fn print(scenarios: &[(&str, &Composed)]) {
        if scenarios.iter().all(|(_, c)| c.floor.is_empty()) {
            return;
        }
        println!();
        println!(
            "Composed floor: `floor-layer`, a hand-written layer in benches/http doing only the \
             steps sesh cannot skip, together, with the same primitives. Returning: \
             `CookieScan`, `KeyRing::verify`, the memory store's in-place update, an `Arc` \
             through the request's extensions, postcard, `Vary: Cookie`. New visitor: the \
             same up to the cookie scan, then an id from sesh-tokio's `OsRandom`, one create in \
             a `MemoryStore` with sesh's bound (the default, 100,000: both evict once full), \
             `KeyRing::sign` in a `Set-Cookie` with sesh's attributes formatted on the stack, \
             `Cache-Control: no-store`, `Vary: Cookie`. Timed in the same rounds, answers \
             checked (ns per request, median (min–max) of per-round values)."
        );
        println!();
        println!(
            "| scenario | floor-layer ns/req | added by floor-layer | added by sesh | sesh − floor-layer |"
        );
        println!("|---|---:|---:|---:|---:|");
        for (scenario, c) in scenarios.iter().filter(|(_, c)| !c.floor.is_empty()) {
            println!(
                "| {scenario} | {} | {} | {} | {} |",
                cell(c.floor.clone()),
                cell(c.added()),
                cell(per_round(&c.bare, &c.sesh, |b, s| s - b)),
                cell(c.gap()),
            );
        }
    }
}

/// CPU time each floor step runs for: the thread's CPU time moves in
/// scheduler ticks (4 ms at 250 Hz), so a step of a few ns needs millions
/// of calls.
const STEP_NS: u64 = 200_000_000;

/// Calls of a floor step between two reads of the CPU time.
const BATCH: usize = 10_000;

/// ns per call of `step`, by this thread's CPU time: calls in batches of
/// `batch` (after a warm-up of one) until `STEP_NS` has passed.
fn time(batch: usize, mut step: impl FnMut(usize)) -> Result<f64, BoxError> {
    for i in 0..batch {
        step(i);
    }
    let start = thread_cpu_ns();
    let mut calls = 0usize;
    loop {
        for i in 0..batch {
            step(calls + i);
        }
        calls += batch;
        let spent = thread_cpu_ns() - start;
        if spent >= STEP_NS {
            return Ok(spent as f64 / calls as f64);
        }
    }
}

/// The counter handler's data, as in `sesh_bench_http` (same encoding).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Counter {
    count: u64,
}

/// The floor's steps, each as `(what, ns per request)` for one round.
const STEPS: [&str; 8] = [
    "find the session cookie in the request's `Cookie` header (sesh's `CookieScan`)",
    "verify the signed cookie (sesh's `KeyRing::verify`)",
    "memory store: one in-place update of 8 bytes (load and save in one step, as a returning request does; the new data's `Vec` included)",
    "the handler's postcard update (decode, add one, encode into a buffer)",
    "`Vary: Cookie` into the response's headers (sesh adds `Cache-Control: no-store` only with a cookie, which a returning request rarely gets)",
    "axum's cost of one no-op layer around the route (`bare` with `Identity`, less `bare`)",
    "one clock read (`HostClock::now`)",
    "hand the handler per-request state: an `Arc` in the request's extensions, whose map axum has already made (insert, get and clone, drop)",
];

/// One round of the floor: every step timed alone, in `STEPS` order.
fn floor_round(
    runtime: &tokio::runtime::Runtime,
    requests: usize,
) -> Result<[f64; STEPS.len()], BoxError> {
    // Cookies as the sesh app sends them: the value after `sid=`.
    let app = app("sesh")?;
    let cookies = runtime.block_on(mint(&app, "sesh"))?;
    let values: Vec<&str> = cookies
        .iter()
        .filter_map(|c| c.split_once('=').map(|(_, v)| v))
        .collect();
    let name = cookies
        .first()
        .and_then(|c| c.split_once('='))
        .map_or("", |(n, _)| n);
    let mut failures = 0usize;
    let scan = time(BATCH, |i| {
        let header = cookies
            .get(i % cookies.len().max(1))
            .map_or("", String::as_str);
        let mut scan = sesh::cookie::CookieScan::new(black_box(name));
        scan.feed(black_box(header).as_bytes());
        let found = matches!(
            black_box(scan.outcome()),
            sesh::cookie::ScanOutcome::Found(_)
        );
        failures += usize::from(!found);
    })?;
    if failures > 0 {
        return Err(format!("{failures} Cookie headers held no session cookie").into());
    }
    let keys = sesh_keys()?;
    let verify = time(BATCH, |i| {
        let value = values.get(i % values.len().max(1)).copied().unwrap_or("");
        failures += usize::from(black_box(keys.verify(black_box(value))).is_err());
    })?;
    if failures > 0 {
        return Err(format!("{failures} cookies did not verify").into());
    }

    let store = sesh_tokio::MemoryStore::default();
    let ids = new_ids(SESSIONS)?;
    let now = wall_now();
    runtime.block_on(store_sessions(
        &store,
        &ids,
        ExpiryPolicy::new().start(now),
        now,
    ))?;
    let mut edit =
        |_: &mut Deadlines, _: &mut bool, data: &[u8], _: Lifetime| Some(black_box(data).to_vec());
    let mut missing = 0usize;
    let update = time(BATCH, |i| {
        let Some(id) = ids.get(i % SESSIONS) else {
            return;
        };
        match store.edit_in_place(id, now, &mut edit) {
            Some(Ok(Some(stored))) => drop(black_box(stored)),
            _ => missing += 1,
        }
    })?;
    if missing > 0 {
        return Err(format!("{missing} in-place updates found no session").into());
    }

    let stored = postcard::to_allocvec(&Counter { count: 41 })?;
    let mut errors = 0usize;
    let postcard_update = time(BATCH, |_| {
        let mut data: Counter = postcard::from_bytes(black_box(&stored)).unwrap_or_default();
        data.count = data.count.wrapping_add(1);
        let mut out = [0u8; 16];
        errors += usize::from(postcard::to_slice(&data, &mut out).is_err());
        black_box(&out);
    })?;
    if errors > 0 {
        return Err("postcard could not encode".into());
    }

    // The handler's response headers, as axum makes them for a `String`;
    // timed with and without sesh's header, the difference kept.
    let response_headers = |with_vary: bool| {
        move |_: usize| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if with_vary && headers.get_all(header::VARY).iter().next().is_none() {
                headers.append(header::VARY, HeaderValue::from_static("Cookie"));
            }
            black_box(headers);
        }
    };
    let plain = time(BATCH, response_headers(false))?;
    let headers = time(BATCH, response_headers(true))? - plain;

    let layered = runtime.block_on(measure("bare+layer", true, requests))?;
    let bare = runtime.block_on(measure("bare", true, requests))?;

    let clock = sesh_tokio::HostClock::new();
    let read = time(BATCH, |_| {
        black_box(clock.now());
    })?;

    // The smallest state a layer can share with an extractor through the
    // request (sesh's is larger): one `Arc`, boxed into the extension map.
    // axum has already put its URL parameters in that map, so the map's
    // own allocation is timed alone and taken off.
    let extensions = |with_handoff: bool| {
        move |i: usize| {
            let mut extensions = axum::http::Extensions::new();
            extensions.insert(black_box(0u8));
            if with_handoff {
                extensions.insert(std::sync::Arc::new(black_box(i)));
                let got = extensions.get::<std::sync::Arc<usize>>().cloned();
                black_box(got);
            }
            black_box(extensions);
        }
    };
    let map = time(BATCH, extensions(false))?;
    let handoff = time(BATCH, extensions(true))? - map;

    Ok([
        scan,
        verify,
        update,
        postcard_update,
        headers,
        layered - bare,
        read,
        handoff,
    ])
}

/// Prints the floor table: each step's cost, their sum, the cost sesh adds
/// to a returning request (`added`, per round) and the target.
fn floor(
    runtime: &tokio::runtime::Runtime,
    rounds: usize,
    requests: usize,
    added: Vec<f64>,
    composed: &Composed,
) -> Result<(), BoxError> {
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); STEPS.len()];
    let mut sums = Vec::new();
    for _ in 0..rounds {
        let round = floor_round(runtime, requests)?;
        for (list, ns) in steps.iter_mut().zip(round) {
            list.push(ns);
        }
        sums.push(round.iter().sum());
    }
    println!();
    println!(
        "Floor of a returning request through sesh: the steps it cannot skip, each timed alone \
         (ns per request, median (min–max) over the rounds); the sum is per round."
    );
    println!();
    println!("| step | ns |");
    println!("|---|---:|");
    for (name, values) in STEPS.iter().zip(steps) {
        println!("| {name} | {} |", cell(values));
    }
    println!("| **sum of the steps** | **{}** |", cell(sums));
    println!(
        "| added by sesh, returning (measured above) | {} |",
        cell(added)
    );
    println!(
        "| added by floor-layer: the steps composed in one layer (measured above) | {} |",
        cell(composed.added())
    );
    println!(
        "| sesh − floor-layer (measured above) | {} |",
        cell(composed.gap())
    );
    println!("| target for the added cost | 400 |");
    Ok(())
}
