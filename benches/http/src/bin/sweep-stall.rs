//! How long a request waits while the sweeper purges the memory store:
//! `EXPIRED` sessions past their deadline and 1,024 live ones; one task runs
//! `purge_expired` while another loads live sessions in a loop, on a tokio
//! runtime with two workers. Prints the purge's duration and the requests'
//! latencies during it (median, p99, longest), and the longest of the same
//! loads for as long with no purge (the machine's own noise), over several
//! rounds; then the longest waits' median and spread against the target
//! (≤ 1 ms) and the verdict, beside the most CPU time one slice of the purge
//! holds a shard's lock (`sweep::longest_slice`). `scale` reports the same
//! measurement among its others.
//!
//! ```text
//! sweep-stall [ROUNDS] [EXPIRED]     # default 3 rounds of 1000000
//! ```

#![allow(
    clippy::arithmetic_side_effects,
    reason = "statistics over trusted, bounded counts"
)]

#[path = "scale/sweep.rs"]
mod sweep;

use sesh_bench_http::BoxError;
use sesh_bench_http::measure::median_and_spread;

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
        "| round | sessions purged | purge took (ms) | requests during it | median wait (µs) | p99 (µs) | longest (µs) | longest with no purge (µs) | preempted during the purge / with no purge | longest slice under a shard's lock (µs of CPU) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut longest, mut quietest, mut slices) = (Vec::new(), Vec::new(), Vec::new());
    for r in 1..=rounds {
        let sweep::Round {
            took,
            waits,
            quiet,
            preempted,
            quiet_preempted,
        } = runtime.block_on(sweep::round(expired))?;
        longest.push(sweep::quantile_us(&waits, 1.0));
        quietest.push(sweep::quantile_us(&quiet, 1.0));
        let slice = sweep::longest_slice(expired)?.as_secs_f64() * 1e6;
        slices.push(slice);
        println!(
            "| {r} | {expired} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {preempted} / {quiet_preempted} | {slice:.1} |",
            took.as_secs_f64() * 1e3,
            waits.len(),
            sweep::quantile_us(&waits, 0.5),
            sweep::quantile_us(&waits, 0.99),
            sweep::quantile_us(&waits, 1.0),
            sweep::quantile_us(&quiet, 1.0)
        );
    }
    let (mid, min, max) = median_and_spread(longest.clone());
    let (quiet_mid, quiet_min, quiet_max) = median_and_spread(quietest.clone());
    let (_, _, slice_max) = median_and_spread(slices);
    println!();
    println!(
        "| rounds | longest wait (µs), median (min–max) | longest with no purge (µs) | longest slice under a lock, all rounds (µs of CPU) | target | verdict |"
    );
    println!("|---:|---:|---:|---:|---:|---|");
    println!(
        "| {rounds} | {mid:.0} ({min:.0}–{max:.0}) | {quiet_mid:.0} ({quiet_min:.0}–{quiet_max:.0}) | {slice_max:.1} | ≤ {:.0} | {} |",
        sweep::TARGET_US,
        sweep::verdict(&longest, &quietest, slice_max)
    );
    Ok(())
}
