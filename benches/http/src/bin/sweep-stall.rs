//! How long a request waits while the sweeper purges the memory store:
//! `EXPIRED` sessions past their deadline and 1,024 live ones; one task runs
//! `purge_expired` while another loads live sessions in a loop, on a tokio
//! runtime with two workers. Prints the purge's duration and the requests'
//! latencies during it (median, p99, longest), and the longest of the same
//! loads for as long with no purge (the machine's own noise), over several
//! rounds. `scale`
//! reports the same measurement among its others.
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
        "| round | sessions purged | purge took (ms) | requests during it | median wait (µs) | p99 (µs) | longest (µs) | longest with no purge (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in 1..=rounds {
        let sweep::Round { took, waits, quiet } = runtime.block_on(sweep::round(expired))?;
        println!(
            "| {r} | {expired} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            took.as_secs_f64() * 1e3,
            waits.len(),
            sweep::quantile_us(&waits, 0.5),
            sweep::quantile_us(&waits, 0.99),
            sweep::quantile_us(&waits, 1.0),
            sweep::quantile_us(&quiet, 1.0)
        );
    }
    Ok(())
}
