//! Memory per stored session of the memory store, in process: the growth of
//! this process's resident set while `SESSIONS` sessions of 8 data bytes are
//! created (their ids made beforehand), divided by `SESSIONS`. `scale`
//! reports the same measurement, each count in a process of its own.
//!
//! ```text
//! store-memory [SESSIONS...]     # default 100000 1000000
//! ```

#[path = "scale/footprint.rs"]
mod footprint;

use sesh_bench_http::BoxError;

fn main() -> Result<(), BoxError> {
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
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
    Ok(())
}
