//! `bench`: runs the host benchmarks and writes their sections of
//! BENCHMARKS.md (`bash scripts/bench.sh` builds the release binaries, then
//! runs `bench all`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use sesh_bench_harness::Error;
use sesh_bench_harness::load::Setup;
use sesh_bench_harness::report::{Place, write_section};
use sesh_bench_harness::scenario::{
    Settings, counter, firmware, http, inproc, log, postgres, stores,
};
use sesh_bench_harness::server::clock_ticks;

/// A section of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// Every section below, in this order.
    All,
    /// bench-server bare / sesh / tower-sessions, memory per session.
    Http,
    /// The shipped counter binary against bare axum and tower-sessions.
    Counter,
    /// bench-server on Redis (with the floors) and redb.
    Stores,
    /// bench-server on PostgreSQL, when installed.
    Postgres,
    /// layer-cost (in process).
    LayerCost,
    /// scale (in process), when built.
    Scale,
    /// owner-cost (in process, its own redis-server).
    OwnerCost,
    /// sweep-stall (in process).
    SweepStall,
    /// store-memory (in process).
    StoreMemory,
    /// The firmware in QEMU beside firmware-host (scripts/bench-firmware.sh
    /// runs the processes), when qemu-system-arm is installed.
    Firmware,
}

/// Runs the host benchmarks and writes their sections into BENCHMARKS.md.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Cli {
    /// Which section to run.
    section: Section,
    /// Rounds per section (variant order rotated every round).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Rounds of the counter section: its CPU ratios spread by ±15 % between
    /// rounds under `wrk -t32`, so a median of 5 can move by 0.05 either way.
    #[arg(long, default_value_t = 9)]
    counter_rounds: u32,
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 5)]
    duration: u32,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Sessions minted before a returning-client run.
    #[arg(long, default_value_t = 1024)]
    sessions: usize,
    /// New visitors per memory run.
    #[arg(long, default_value_t = 100_000)]
    mem_sessions: u64,
    /// Load set-ups (t2: `wrk -t2 -c32`; t32: `wrk -t32 -c32`).
    #[arg(long, value_delimiter = ',', default_value = "t2,t32")]
    setups: Vec<Setup>,
    /// Print the sections only; leave BENCHMARKS.md alone.
    #[arg(long)]
    no_write: bool,
    /// The report file.
    #[arg(long, default_value = "BENCHMARKS.md")]
    bench_md: PathBuf,
    /// The repository's root (default: the current directory).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Where the release binaries are (default: beside this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Leave the firmware section out of `all` (it builds two board images).
    #[arg(long)]
    no_firmware: bool,
    /// Keep the run's files (cookies, server logs) and print where.
    #[arg(long)]
    keep: bool,
}

/// A temporary directory removed on drop unless kept.
struct OutDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if self.keep {
            log(&format!("==> raw files kept in {}", self.path.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

const ORDER: [Section; 10] = [
    Section::Http,
    Section::Counter,
    Section::Stores,
    Section::Postgres,
    Section::LayerCost,
    Section::Scale,
    Section::OwnerCost,
    Section::SweepStall,
    Section::StoreMemory,
    Section::Firmware,
];

fn bin_name(section: Section) -> Option<&'static str> {
    match section {
        Section::LayerCost => Some("layer-cost"),
        Section::Scale => Some("scale"),
        Section::OwnerCost => Some("owner-cost"),
        Section::SweepStall => Some("sweep-stall"),
        Section::StoreMemory => Some("store-memory"),
        _ => None,
    }
}

/// Runs one section: `Ok(None)` when it was skipped.
fn run_section(s: &Settings, section: Section) -> Result<Option<(String, Place, String)>, Error> {
    let after = |l: &str| Place::After(l.to_owned());
    Ok(match section {
        Section::All => None,
        Section::Http => Some((
            "http".into(),
            after("## Where the host targets stand (read with the generated sections below)"),
            http::run(s)?,
        )),
        Section::Counter => Some((
            "counter".into(),
            after("<!-- bench:http:end -->"),
            counter::run(s)?,
        )),
        Section::Stores => Some((
            "stores".into(),
            after("<!-- bench:counter:end -->"),
            stores::run(s)?,
        )),
        Section::Postgres => postgres::run(s)?.map(|md| {
            (
                "postgres".to_owned(),
                after("<!-- bench:stores:end -->"),
                md,
            )
        }),
        Section::Firmware => firmware::run(s)?.map(|md| {
            (
                "firmware".to_owned(),
                after("<!-- bench:store-memory:end -->"),
                md,
            )
        }),
        other => {
            let name = bin_name(other).ok_or("no such bin")?;
            let bin = inproc::Bin::named(name).ok_or("no such bin")?;
            inproc::run(s, bin)?.map(|md| (name.to_owned(), bin.placement(), md))
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = ctrlc::set_handler(sesh_bench_harness::set_interrupted) {
        log(&format!(
            "bench: cannot catch Ctrl-C ({e}): an interrupted run may leave servers behind"
        ));
    }
    let bin_dir = cli.bin_dir.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
    });
    let Some(bin_dir) = bin_dir else {
        log("bench: cannot tell where the release binaries are (--bin-dir)");
        return ExitCode::FAILURE;
    };
    let root = std::fs::canonicalize(&cli.root).unwrap_or_else(|_| cli.root.clone());
    if !root.join("benches/http/wrk/load.lua").exists() {
        log("bench: run it from the repository's root (or pass --root)");
        return ExitCode::FAILURE;
    }
    let out = OutDir {
        path: std::env::temp_dir().join(format!("sesh-bench.{}", std::process::id())),
        keep: cli.keep,
    };
    if let Err(e) = std::fs::create_dir_all(&out.path) {
        log(&format!("bench: cannot make {}: {e}", out.path.display()));
        return ExitCode::FAILURE;
    }
    let mut setups = cli.setups.clone();
    setups.sort();
    setups.dedup();
    let settings = Settings {
        root: root.clone(),
        bin_dir,
        out: out.path.clone(),
        rounds: cli.rounds.max(1),
        counter_rounds: cli.counter_rounds.max(1),
        duration: cli.duration.max(1),
        warmup: cli.warmup,
        sessions: cli.sessions.max(1),
        mem_sessions: cli.mem_sessions.max(1),
        setups,
        hz: clock_ticks(),
    };
    let sections: Vec<Section> = if cli.section == Section::All {
        ORDER
            .iter()
            .copied()
            .filter(|s| !(cli.no_firmware && *s == Section::Firmware))
            .collect()
    } else {
        vec![cli.section]
    };
    let bench_md = if cli.bench_md.is_absolute() {
        cli.bench_md.clone()
    } else {
        root.join(&cli.bench_md)
    };
    let mut failed = Vec::new();
    for section in sections {
        if sesh_bench_harness::check_interrupted().is_err() {
            failed.push(format!("{section:?} (interrupted)"));
            continue;
        }
        let started = std::time::Instant::now();
        match run_section(&settings, section) {
            Ok(Some((name, place, md))) => {
                println!("{md}");
                if !cli.no_write {
                    match write_section(&bench_md, &name, &md, &place) {
                        Ok(()) => log(&format!(
                            "==> wrote the {name} section into {}",
                            bench_md.display()
                        )),
                        Err(e) => {
                            log(&format!("bench: cannot write {}: {e}", bench_md.display()));
                            failed.push(format!("{section:?}"));
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                log(&format!("bench: {section:?} failed: {e}"));
                failed.push(format!("{section:?}"));
            }
        }
        log(&format!(
            "==> {section:?} took {:.0} s",
            started.elapsed().as_secs_f64()
        ));
    }
    drop(out);
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        log(&format!("bench: failed sections: {}", failed.join(", ")));
        ExitCode::FAILURE
    }
}
