//! The benchmark harness behind `bash scripts/bench.sh`: starts the servers
//! under test and the load generator (wrk), reads CPU time and memory from
//! /proc, computes medians, spreads, per-round ratios and verdicts, and
//! writes each section of BENCHMARKS.md between its markers.
//!
//! The binary is `bench` (`bench all`, `bench http`, … see `bench --help`);
//! the statistics ([`stats`]) are also what the in-process benches in
//! benches/http summarise with.

pub mod facts;
pub mod http;
pub mod load;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;

/// Any error, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Notes a Ctrl-C or SIGTERM: the run stops at its next step, and every
/// process it started is stopped as its handle drops.
pub fn set_interrupted() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// An error once the run was interrupted.
pub fn check_interrupted() -> Result<(), Error> {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}
