//! The HTTP section: the counter app of `bench-server` bare (axum, no
//! sessions), on sesh-tokio's `MemoryStore` and on tower-sessions 0.15's,
//! returning clients and new visitors under both load set-ups, server CPU per
//! request, and memory per stored session.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    Backend, Runs, Scenario, Settings, Spec, Stored, details, log, p99, ratio_cell, rps, server_ns,
    targets_table, throughput_run, us_cell,
};
use crate::Error;
use crate::facts::{Facts, load_average};
use crate::http::{get, stat};
use crate::load::Setup;
use crate::report::{Table, med, num, spread};
use crate::server::{Process, Server, vm_rss_kb};
use crate::stats::{Target, Verdict, summarize, verdict, verdict_across};

const VARIANTS: [&str; 3] = ["bare", "sesh", "tower-sessions"];
/// sesh's MemoryStore bound in the memory runs, so nothing is evicted.
const MEM_CAPACITY: u64 = 1_000_000;

/// One memory run: VmRSS growth over new visitors.
#[derive(Debug, Clone)]
struct Memory {
    round: u32,
    variant: &'static str,
    sessions: u64,
    before_kb: u64,
    after_kb: u64,
}

impl Memory {
    #[allow(
        clippy::cast_precision_loss,
        reason = "kB and session counts fit an f64"
    )]
    fn per_session(&self) -> Option<f64> {
        (self.sessions > 0)
            .then(|| (self.after_kb as f64 - self.before_kb as f64) * 1024.0 / self.sessions as f64)
    }
}

fn start(s: &Settings, variant: &str, args: Vec<String>) -> impl Fn() -> Result<Server, Error> {
    let bin = s.bin("bench-server");
    let out = s.out.clone();
    let variant = variant.to_owned();
    move || Server::bench(&bin, &variant, &args, &out)
}

fn calls(server: &Server) -> Result<u64, Error> {
    stat(&get(server.addr, "/stats", None)?.body, "calls")
        .ok_or_else(|| "no calls= in /stats".into())
}

/// A fresh server warmed up without sessions, VmRSS read, `mem_sessions` new
/// visitors sent (benches/http/wrk/bounded.lua stops each wrk thread at its
/// share), VmRSS read again.
fn memory_run(s: &Settings, round: u32, variant: &'static str) -> Result<Memory, Error> {
    let args = if variant == "sesh" {
        vec!["--max-sessions".to_owned(), MEM_CAPACITY.to_string()]
    } else {
        Vec::new()
    };
    let server = start(s, variant, args)()?;
    let url = format!("http://{}/", server.addr);
    let ok = Command::new("wrk")
        .args(["-t2", "-c8", "-d1s"])
        .arg(format!("{url}health"))
        .stdout(Stdio::null())
        .status()?
        .success();
    if !ok {
        return Err("the warm-up on /health failed".into());
    }
    std::thread::sleep(Duration::from_millis(500));
    let before_kb = vm_rss_kb(server.process.pid())?;
    let per_thread = s.mem_sessions.div_ceil(2);
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c8", "-d120s", "--timeout", "5s", "-s"])
        .arg(s.lua("bounded.lua"))
        .arg(&url)
        .arg("--")
        .arg(per_thread.to_string())
        .stdout(Stdio::null());
    let mut wrk = Process::spawn("wrk (bounded)", &mut cmd, &s.out.join("wrk-mem.log"))?;
    // Each thread stops at its quota; wrk then still waits for -d, so it is
    // interrupted once the count stops moving.
    let started = Instant::now();
    let mut last = u64::MAX;
    while started.elapsed() < Duration::from_secs(125) {
        std::thread::sleep(Duration::from_millis(200));
        crate::check_interrupted()?;
        let now = calls(&server)?;
        if now >= s.mem_sessions && now == last {
            break;
        }
        if wrk.check_alive().is_err() {
            break;
        }
        last = now;
    }
    let _ = wrk.interrupt(Duration::from_secs(5));
    drop(wrk);
    std::thread::sleep(Duration::from_millis(500));
    let after_kb = vm_rss_kb(server.process.pid())?;
    let handler_calls = calls(&server)?;
    let sessions = if variant == "sesh" {
        stat(&get(server.addr, "/stats", None)?.body, "sessions").ok_or("no sessions= in /stats")?
    } else {
        // Each cookie-less call makes one session.
        handler_calls
    };
    let m = Memory {
        round,
        variant,
        sessions,
        before_kb,
        after_kb,
    };
    log(&format!(
        "    memory {variant}: {sessions} sessions (handler calls {handler_calls}), VmRSS {before_kb} -> {after_kb} kB: {} B/session",
        num(m.per_session(), 1)
    ));
    Ok(m)
}

/// Runs the section and returns its Markdown.
pub fn run(s: &Settings) -> Result<String, Error> {
    let load_start = load_average();
    let mut runs = Runs::default();
    let mut memory = Vec::new();
    for round in 1..=s.rounds {
        log(&format!("==> http: round {round}/{}", s.rounds));
        for variant in super::rotated(&VARIANTS, round) {
            let start = start(s, variant, Vec::new());
            for scenario in Scenario::ALL {
                for &setup in &s.setups {
                    let spec = Spec {
                        variant,
                        start: &start,
                        fake_cookies: variant == "bare",
                        backend: Backend::None,
                        stored: if variant == "sesh" {
                            Stored::Stats
                        } else {
                            Stored::Unknown
                        },
                    };
                    runs.0
                        .push(throughput_run(s, round, setup, scenario, &spec)?);
                }
            }
        }
        let order: [&'static str; 2] = if round % 2 == 1 {
            ["sesh", "tower-sessions"]
        } else {
            ["tower-sessions", "sesh"]
        };
        for variant in order {
            memory.push(memory_run(s, round, variant)?);
        }
    }
    Ok(render(s, &runs, &memory, &load_start))
}

fn render(s: &Settings, runs: &Runs, memory: &[Memory], load_start: &str) -> String {
    let facts = Facts::read(&s.root);
    let mut md = String::new();
    let _ = writeln!(md, "## HTTP load (sesh-tokio vs axum and tower-sessions)\n");
    md.push_str(&facts.header("bench http", "", load_start, &load_average()));
    md.push_str(
        "wrk, the server and anything else running share the same cores: only ratios within \
         this run mean anything, and server CPU per request less than req/s.\n\n",
    );
    let _ = writeln!(
        md,
        "The counter app (`GET /` answers `count <n>`) served by `bench-server` (benches/http) on \
         127.0.0.1 with a 2-worker tokio runtime, in three variants: `bare` (axum, no sessions), \
         `sesh` (sesh-tokio, `MemoryStore::default()`, `Session<Counter>::update`) and \
         `tower-sessions` (0.15, its `MemoryStore`, `get` + `insert`, 30 min inactivity expiry). \
         {}\n",
        s.load_sentence()
    );
    for &setup in &s.setups {
        let _ = writeln!(md, "### `{}`\n", setup.label());
        let mut t = Table::new(&[
            "scenario",
            "bare req/s",
            "sesh req/s",
            "tower-sessions req/s",
            "sesh ÷ bare",
            "sesh ÷ tower-sessions",
            "bare ÷ tower-sessions (bound)",
            "p99 bare / sesh / tower-sessions (ms)",
            "errors",
        ]);
        for sc in Scenario::ALL {
            let p = |v: &str| num(med(runs.summary(setup, sc, v, p99)).map(|x| x / 1000.0), 2);
            t.row(vec![
                sc.name().to_owned(),
                num(med(runs.summary(setup, sc, "bare", rps)), 0),
                num(med(runs.summary(setup, sc, "sesh", rps)), 0),
                num(med(runs.summary(setup, sc, "tower-sessions", rps)), 0),
                ratio_cell(runs.ratio(setup, sc, "sesh", "bare", rps)),
                ratio_cell(runs.ratio(setup, sc, "sesh", "tower-sessions", rps)),
                ratio_cell(runs.ratio(setup, sc, "bare", "tower-sessions", rps)),
                format!("{} / {} / {}", p("bare"), p("sesh"), p("tower-sessions")),
                runs.errors(setup, sc, &VARIANTS).to_string(),
            ]);
        }
        md.push_str(&t.render());
        md.push('\n');
        let mut t = Table::new(&[
            "scenario",
            "bare µs/req",
            "sesh µs/req",
            "tower-sessions µs/req",
            "sesh ÷ bare",
            "tower-sessions ÷ sesh",
            "sessions at the end (sesh)",
        ]);
        for sc in Scenario::ALL {
            t.row(vec![
                sc.name().to_owned(),
                us_cell(runs.summary(setup, sc, "bare", server_ns)),
                us_cell(runs.summary(setup, sc, "sesh", server_ns)),
                us_cell(runs.summary(setup, sc, "tower-sessions", server_ns)),
                ratio_cell(runs.ratio(setup, sc, "sesh", "bare", server_ns)),
                ratio_cell(runs.ratio(setup, sc, "tower-sessions", "sesh", server_ns)),
                num(
                    med(runs.summary(setup, sc, "sesh", |r| r.sessions_after.map(|x| x as f64))),
                    0,
                ),
            ]);
        }
        md.push_str(
            "Server CPU time (user + system, /proc/PID/stat) per request, median over the rounds; \
             ratios per round, median (min–max).\n\n",
        );
        md.push_str(&t.render());
        md.push('\n');
    }
    md.push_str(
        "In *new*, sesh's default `MemoryStore` (100,000 sessions) fills up during the run and then \
         evicts on every new session; tower-sessions' store grows without bound.\n\n",
    );
    let per = |v: &str| -> Vec<f64> {
        memory
            .iter()
            .filter(|m| m.variant == v)
            .filter_map(Memory::per_session)
            .collect()
    };
    let mem_ratios: Vec<f64> = memory
        .iter()
        .filter(|m| m.variant == "sesh")
        .filter_map(|m| {
            let t = memory
                .iter()
                .find(|t| t.variant == "tower-sessions" && t.round == m.round)?;
            let (a, b) = (m.per_session()?, t.per_session()?);
            (b > 0.0).then(|| a / b)
        })
        .collect();
    let mem_ratio = summarize(&mem_ratios);
    #[allow(clippy::cast_precision_loss, reason = "session counts fit an f64")]
    let stored = |v: &str| -> Vec<f64> {
        memory
            .iter()
            .filter(|m| m.variant == v)
            .map(|m| m.sessions as f64)
            .collect()
    };
    let _ = writeln!(
        md,
        "Memory per stored session: VmRSS growth of a fresh server over {} new visitors \
         (`wrk -t2 -c8`, benches/http/wrk/bounded.lua), divided by the sessions stored (sesh: \
         store occupancy, `MemoryStore::new({MEM_CAPACITY})` so nothing is evicted; \
         tower-sessions: handler calls), median (min–max) over {} round{}.\n",
        s.mem_sessions,
        s.rounds,
        if s.rounds == 1 { "" } else { "s" }
    );
    let mut t = Table::new(&["", "sesh", "tower-sessions", "sesh ÷ tower-sessions"]);
    t.row(vec![
        "bytes per session".into(),
        spread(summarize(&per("sesh")), 0),
        spread(summarize(&per("tower-sessions")), 0),
        spread(mem_ratio, 2),
    ]);
    t.row(vec![
        "sessions stored".into(),
        num(med(summarize(&stored("sesh"))), 0),
        num(med(summarize(&stored("tower-sessions"))), 0),
        String::new(),
    ]);
    md.push_str(&t.render());
    md.push('\n');
    md.push_str(&targets(s, runs, mem_ratio));
    md.push('\n');
    let mut raw = runs.raw_table(None);
    raw.push('\n');
    let mut t = Table::new(&[
        "round",
        "variant",
        "sessions",
        "VmRSS before (kB)",
        "after (kB)",
        "bytes/session",
    ])
    .left(1);
    for m in memory {
        t.row(vec![
            m.round.to_string(),
            m.variant.to_owned(),
            m.sessions.to_string(),
            m.before_kb.to_string(),
            m.after_kb.to_string(),
            num(m.per_session(), 1),
        ]);
    }
    raw.push_str(&t.render());
    md.push_str(&details("Raw runs", &raw));
    md
}

/// The targets, each under every load set-up: median (worst round).
fn targets(s: &Settings, runs: &Runs, mem_ratio: Option<crate::stats::Summary>) -> String {
    let mut t = targets_table("target", &s.setups);
    let cell = |setup: Setup, num_v: &str, den_v: &str, target: Target| {
        let r = runs.ratio(setup, Scenario::Returning, num_v, den_v, rps);
        let worst = r.map(|r| match target.direction {
            crate::stats::Direction::AtLeast => r.min,
            crate::stats::Direction::AtMost => r.max,
        });
        (r.map(|r| r.median), worst)
    };
    let mut row =
        |label: &str, num_v: &str, den_v: &str, target: Target, bound: Option<(&str, &str)>| {
            let mut cells = vec![label.to_owned()];
            let mut per_setup = Vec::new();
            for &setup in &s.setups {
                let (m, w) = cell(setup, num_v, den_v, target);
                let b =
                    bound.and_then(|(a, d)| med(runs.ratio(setup, Scenario::Returning, a, d, rps)));
                let mut c = format!("{} ({})", num(m, 2), num(w, 2));
                if let Some(b) = b {
                    let _ = write!(c, "; bound {}", num(Some(b), 2));
                }
                cells.push(c);
                per_setup.push((m, b));
            }
            cells.push(verdict_across(&per_setup, target).label().to_owned());
            t.row(cells);
        };
    row(
        "returning: sesh ≥ 0.90 × bare (req/s)",
        "sesh",
        "bare",
        Target::at_least(0.90),
        None,
    );
    row(
        "returning: sesh ≥ 1.5 × tower-sessions (req/s; bound: bare ÷ tower-sessions, no session layer beats bare)",
        "sesh",
        "tower-sessions",
        Target::at_least(1.5),
        Some(("bare", "tower-sessions")),
    );
    let mut cells = vec!["memory per session: sesh ≤ 0.25 × tower-sessions".to_owned()];
    for _ in &s.setups {
        cells.push(format!(
            "{} ({})",
            num(mem_ratio.map(|r| r.median), 2),
            num(mem_ratio.map(|r| r.max), 2)
        ));
    }
    let v = verdict(mem_ratio.map(|r| r.median), Target::at_most(0.25));
    cells.push(
        if v == Verdict::NoData {
            "no data"
        } else {
            v.label()
        }
        .to_owned(),
    );
    t.row(cells);
    t.render()
}
