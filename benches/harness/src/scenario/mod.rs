//! The sections of the report and what they share: the settings, a
//! throughput run (fresh server, warm-up, measured wrk run, CPU from /proc,
//! checks) and the runs' bookkeeping.

pub mod counter;
pub mod firmware;
pub mod http;
pub mod inproc;
pub mod postgres;
pub mod stores;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::http::{first_number, get, stat};
use crate::load::{Setup, WrkResult, run_wrk};
use crate::report::{self, Table, num};
use crate::server::{Postgres, Redis, Server, cpu_ticks, ns_per_request};
use crate::stats::{Summary, paired_ratios, summarize};

/// The settings every section reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The repository (for the wrk scripts, BENCHMARKS.md, git facts).
    pub root: PathBuf,
    /// Where the release binaries are (bench-server, counter, the bins).
    pub bin_dir: PathBuf,
    /// A directory for this run's files (cookies, logs, redb files).
    pub out: PathBuf,
    /// Rounds per section.
    pub rounds: u32,
    /// Rounds of the counter section, whose verdicts rest on CPU ratios
    /// that spread by ±15 % between rounds under `wrk -t32`.
    pub counter_rounds: u32,
    /// Seconds per measured wrk run.
    pub duration: u32,
    /// Seconds of warm-up before each.
    pub warmup: u32,
    /// Sessions minted before a returning-client run.
    pub sessions: usize,
    /// New visitors in a memory run.
    pub mem_sessions: u64,
    /// The load set-ups.
    pub setups: Vec<Setup>,
    /// Clock ticks per second.
    pub hz: u64,
}

impl Settings {
    /// benches/http/wrk/NAME.
    pub fn lua(&self, name: &str) -> PathBuf {
        self.root.join("benches/http/wrk").join(name)
    }

    /// A release binary.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// One sentence on the load: set-ups, length, rounds.
    pub fn load_sentence(&self) -> String {
        let setups: Vec<String> = self
            .setups
            .iter()
            .map(|s| format!("`{}`", s.label()))
            .collect();
        format!(
            "Load: {} (each figure appears under each), {} s runs after a {} s warm-up, a fresh \
             server per run, {} round{} with the variant order rotated. *returning*: {} sessions \
             minted before the run, their cookies replayed round robin (benches/http/wrk/load.lua); \
             *new*: no cookie, every request makes a session. Values are medians over the rounds; \
             ratios are per round, median (min–max).",
            setups.join(" and "),
            self.duration,
            self.warmup,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            self.sessions
        )
    }
}

/// Progress on stderr.
pub fn log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Returning clients or new visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// Pre-minted cookies replayed.
    Returning,
    /// No cookie: every request makes a session.
    New,
}

impl Scenario {
    /// Both, in report order.
    pub const ALL: [Scenario; 2] = [Scenario::Returning, Scenario::New];

    /// `returning` / `new`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Returning => "returning",
            Scenario::New => "new",
        }
    }
}

/// One measured wrk run.
#[derive(Debug, Clone)]
pub struct Run {
    /// 1-based round.
    pub round: u32,
    /// The load set-up.
    pub setup: Setup,
    /// Returning or new.
    pub scenario: Scenario,
    /// The variant's name.
    pub variant: String,
    /// What wrk measured.
    pub wrk: WrkResult,
    /// The server's CPU time per request, ns.
    pub server_ns: Option<f64>,
    /// The backing database's CPU time per request (Redis, PostgreSQL), ns.
    pub db_ns: Option<f64>,
    /// Sessions stored at the end, when the store says.
    pub sessions_after: Option<u64>,
    /// Redis commands: name, calls per request, µs per call.
    pub commands: Vec<(String, f64, f64)>,
}

/// All runs of a section.
#[derive(Debug, Default, Clone)]
pub struct Runs(pub Vec<Run>);

impl Runs {
    /// The per-round values of `f` for one variant: the mean of its runs in
    /// that round (a baseline run before and after the others counts as
    /// one value, the mean of the two).
    pub fn by_round(
        &self,
        setup: Setup,
        scenario: Scenario,
        variant: &str,
        f: impl Fn(&Run) -> Option<f64>,
    ) -> BTreeMap<u32, f64> {
        let mut sums: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
        for (round, x) in self
            .0
            .iter()
            .filter(|r| r.setup == setup && r.scenario == scenario && r.variant == variant)
            .filter_map(|r| f(r).map(|x| (r.round, x)))
        {
            let (sum, n) = sums.entry(round).or_insert((0.0, 0.0));
            *sum += x;
            *n += 1.0;
        }
        sums.into_iter()
            .map(|(round, (sum, n))| (round, sum / n))
            .collect()
    }

    /// Median and spread of `f` for one variant.
    pub fn summary(
        &self,
        setup: Setup,
        scenario: Scenario,
        variant: &str,
        f: impl Fn(&Run) -> Option<f64>,
    ) -> Option<Summary> {
        let v: Vec<f64> = self
            .by_round(setup, scenario, variant, f)
            .into_values()
            .collect();
        summarize(&v)
    }

    /// Median and spread of the per-round ratio `f(num) / f(den)`.
    pub fn ratio(
        &self,
        setup: Setup,
        scenario: Scenario,
        num: &str,
        den: &str,
        f: impl Fn(&Run) -> Option<f64> + Copy,
    ) -> Option<Summary> {
        summarize(&paired_ratios(
            &self.by_round(setup, scenario, num, f),
            &self.by_round(setup, scenario, den, f),
        ))
    }

    /// Whether a variant ran in this set-up and scenario.
    pub fn has(&self, setup: Setup, scenario: Scenario, variant: &str) -> bool {
        self.0
            .iter()
            .any(|r| r.setup == setup && r.scenario == scenario && r.variant == variant)
    }

    /// Errors over every run of a scenario in one set-up, for these variants.
    pub fn errors(&self, setup: Setup, scenario: Scenario, variants: &[&str]) -> u64 {
        self.0
            .iter()
            .filter(|r| {
                r.setup == setup && r.scenario == scenario && variants.contains(&r.variant.as_str())
            })
            .map(|r| r.wrk.errors)
            .fold(0, u64::saturating_add)
    }

    /// The raw runs as a Markdown table in a `<details>` block.
    pub fn raw_table(&self, db: Option<&str>) -> String {
        let mut header = vec![
            "round",
            "load",
            "scenario",
            "variant",
            "req/s",
            "p50 (ms)",
            "p99 (ms)",
            "errors",
            "server µs/req",
        ];
        if let Some(db) = db {
            header.push(db);
        }
        header.push("sessions at the end");
        let mut t = Table::new(&header).left(1).left(2).left(3);
        for r in &self.0 {
            let mut row = vec![
                r.round.to_string(),
                format!("`{}`", r.setup.label()),
                r.scenario.name().to_owned(),
                r.variant.clone(),
                num(Some(r.wrk.rps), 0),
                num(Some(r.wrk.p50_us / 1000.0), 2),
                num(Some(r.wrk.p99_us / 1000.0), 2),
                r.wrk.errors.to_string(),
                num(r.server_ns.map(|x| x / 1000.0), 2),
            ];
            if db.is_some() {
                row.push(num(r.db_ns.map(|x| x / 1000.0), 2));
            }
            row.push(
                r.sessions_after
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            );
            t.row(row);
        }
        t.render()
    }
}

/// req/s of a run.
pub fn rps(r: &Run) -> Option<f64> {
    Some(r.wrk.rps)
}

/// Server CPU per request of a run, ns.
pub fn server_ns(r: &Run) -> Option<f64> {
    r.server_ns
}

/// Database CPU per request of a run, ns.
pub fn db_ns(r: &Run) -> Option<f64> {
    r.db_ns
}

/// Server plus database CPU per request, ns.
pub fn total_ns(r: &Run) -> Option<f64> {
    Some(r.server_ns? + r.db_ns.unwrap_or(0.0))
}

/// p50 latency, µs.
pub fn p50(r: &Run) -> Option<f64> {
    Some(r.wrk.p50_us)
}

/// p99 latency, µs.
pub fn p99(r: &Run) -> Option<f64> {
    Some(r.wrk.p99_us)
}

/// What backs the store of a run, for its CPU and its session count.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    /// Nothing outside the server (memory store, redb, bare).
    None,
    /// A redis-server: emptied before the run, its CPU and commands read.
    Redis(&'a Redis),
    /// A PostgreSQL cluster: its CPU read.
    Postgres(&'a Postgres),
}

/// How to count the sessions a store holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// It cannot say.
    Unknown,
    /// bench-server's `/stats` (`sessions=`).
    Stats,
    /// Redis's `DBSIZE`.
    Dbsize,
}

/// One throughput run to make.
pub struct Spec<'a> {
    /// The variant's name in the report.
    pub variant: &'a str,
    /// Starts a fresh server.
    pub start: &'a dyn Fn() -> Result<Server, Error>,
    /// `bare`: no session to mint; random cookies of sesh's shape instead, so
    /// requests have the same size.
    pub fake_cookies: bool,
    /// What backs the store.
    pub backend: Backend<'a>,
    /// How to count stored sessions.
    pub stored: Stored,
}

fn stored_sessions(spec: &Spec<'_>, server: &Server) -> Option<u64> {
    match (spec.stored, spec.backend) {
        (Stored::Stats, _) => get(server.addr, "/stats", None)
            .ok()
            .and_then(|r| stat(&r.body, "sessions")),
        (Stored::Dbsize, Backend::Redis(redis)) => redis
            .cli(&["dbsize"])
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        _ => None,
    }
}

fn backend_ticks(backend: Backend<'_>) -> Result<Option<u64>, Error> {
    match backend {
        Backend::None => Ok(None),
        Backend::Redis(r) => Ok(Some(cpu_ticks(r.pid())?)),
        Backend::Postgres(p) => Ok(Some(p.ticks()?)),
    }
}

/// Random bytes from the system.
fn random_bytes(n: usize) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// Unpadded base64url.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits = bits.saturating_add(8);
        while bits >= 6 {
            bits = bits.saturating_sub(6);
            let i = (acc >> bits) & 63;
            out.push(char::from(*ALPHABET.get(i as usize).unwrap_or(&b'A')));
        }
    }
    if bits > 0 {
        let i = (acc << (6u32.saturating_sub(bits))) & 63;
        out.push(char::from(*ALPHABET.get(i as usize).unwrap_or(&b'A')));
    }
    out
}

/// Writes `count` cookies to `file`: minted by the server (one cookie-less
/// `GET /` each), or random ones of sesh's shape for `bare`.
fn cookies(server: &Server, count: usize, fake: bool, file: &Path) -> Result<(), Error> {
    let mut lines = Vec::with_capacity(count);
    for _ in 0..count {
        let cookie = if fake {
            let r = random_bytes(32)?;
            format!(
                "sid={}.{}",
                base64url(r.get(..16).unwrap_or_default()),
                base64url(r.get(16..).unwrap_or_default())
            )
        } else {
            get(server.addr, "/", None)?
                .set_cookie
                .ok_or("a new visitor got no Set-Cookie")?
        };
        lines.push(cookie);
    }
    let distinct: std::collections::BTreeSet<&String> = lines.iter().collect();
    if distinct.len() != count {
        return Err(format!("minted {} distinct cookies, wanted {count}", distinct.len()).into());
    }
    std::fs::write(file, lines.join("\n") + "\n")?;
    Ok(())
}

/// Parses `INFO commandstats` into (command, calls per request, µs per call),
/// leaving out the harness's own `config` and `info`.
pub fn parse_commandstats(info: &str, requests: u64) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    for line in info.lines() {
        let Some(rest) = line.trim().strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((cmd, fields)) = rest.split_once(':') else {
            continue;
        };
        if cmd.starts_with("config") || cmd.starts_with("info") || requests == 0 {
            continue;
        }
        let field = |name: &str| {
            fields
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<f64>().ok())
        };
        #[allow(clippy::cast_precision_loss, reason = "request counts fit an f64")]
        let per_request = field("calls").unwrap_or(0.0) / requests as f64;
        out.push((
            cmd.to_owned(),
            per_request,
            field("usec_per_call").unwrap_or(0.0),
        ));
    }
    out
}

/// A fresh server, cookies minted when returning, a warm-up with the same
/// load, the measured wrk run with the server's (and its database's) CPU time
/// read around it, and checks: a replayed cookie selected its session and
/// the run stored no new session.
pub fn throughput_run(
    s: &Settings,
    round: u32,
    setup: Setup,
    scenario: Scenario,
    spec: &Spec<'_>,
) -> Result<Run, Error> {
    crate::check_interrupted()?;
    if let Backend::Redis(redis) = spec.backend {
        redis.cli(&["flushall"])?;
    }
    let server = (spec.start)()?;
    let cookie_file = s.out.join(format!("cookies.{}", spec.variant));
    let cookie_path = (scenario == Scenario::Returning).then_some(cookie_file.as_path());
    if let Some(file) = cookie_path {
        cookies(&server, s.sessions, spec.fake_cookies, file)?;
    }
    let lua = s.lua("load.lua");
    run_wrk(server.addr, setup, s.warmup.max(1), &lua, cookie_path)?;
    let before = stored_sessions(spec, &server);
    if let Backend::Redis(redis) = spec.backend {
        redis.cli(&["config", "resetstat"])?;
    }
    let s0 = cpu_ticks(server.process.pid())?;
    let d0 = backend_ticks(spec.backend)?;
    let wrk = run_wrk(server.addr, setup, s.duration, &lua, cookie_path)?;
    crate::check_interrupted()?;
    let s1 = cpu_ticks(server.process.pid())?;
    let d1 = backend_ticks(spec.backend)?;
    let server_ns = ns_per_request(s1.saturating_sub(s0), s.hz, wrk.requests);
    let db_ns = match (d0, d1) {
        (Some(a), Some(b)) => ns_per_request(b.saturating_sub(a), s.hz, wrk.requests),
        _ => None,
    };
    let commands = match spec.backend {
        Backend::Redis(redis) => {
            parse_commandstats(&redis.cli(&["info", "commandstats"])?, wrk.requests)
        }
        _ => Vec::new(),
    };
    let sessions_after = stored_sessions(spec, &server);
    let mut check = String::new();
    if let (Some(file), false) = (cookie_path, spec.fake_cookies) {
        let first = std::fs::read_to_string(file)?
            .lines()
            .next()
            .map(str::to_owned)
            .ok_or("no cookie")?;
        let count = first_number(&get(server.addr, "/", Some(&first))?.body);
        let _ = write!(check, " replayed-count={count:?}");
        if count.is_none_or(|c| c < 3) {
            return Err(format!(
                "returning clients: the replayed cookie did not select its session ({})",
                spec.variant
            )
            .into());
        }
        if let (Some(b), Some(a)) = (before, sessions_after) {
            let _ = write!(check, " sessions={b}->{a}");
            if a != b {
                return Err(format!(
                    "returning clients: {} created sessions during the run ({b} -> {a})",
                    spec.variant
                )
                .into());
            }
        }
    }
    drop(server);
    log(&format!(
        "    {} {} {}: {:.0} req/s, p50 {:.0}us, p99 {:.0}us, server {} ns/req, db {} ns/req, errors {}{check}",
        setup.label(),
        scenario.name(),
        spec.variant,
        wrk.rps,
        wrk.p50_us,
        wrk.p99_us,
        num(server_ns, 0),
        num(db_ns, 0),
        wrk.errors,
    ));
    Ok(Run {
        round,
        setup,
        scenario,
        variant: spec.variant.to_owned(),
        wrk,
        server_ns,
        db_ns,
        sessions_after,
        commands,
    })
}

/// The variants of round `round` (1-based), rotated so none always runs first.
pub fn rotated<T: Clone>(items: &[T], round: u32) -> Vec<T> {
    let n = items.len();
    if n == 0 {
        return Vec::new();
    }
    let shift = usize::try_from(round.saturating_sub(1))
        .unwrap_or(0)
        .checked_rem(n)
        .unwrap_or(0);
    items.iter().cycle().skip(shift).take(n).cloned().collect()
}

/// A ms cell from µs.
pub fn ms_cell(s: Option<Summary>) -> String {
    num(report::med(s).map(|v| v / 1000.0), 2)
}

impl Runs {
    /// The cells two variants `a` and `b` share in a store section's row:
    /// scenario, req/s of each, `a ÷ b`, then p50, p99, server and database
    /// CPU per request as `a / b`.
    pub fn pair_cells(&self, setup: Setup, sc: Scenario, a: &str, b: &str) -> Vec<String> {
        let both = |f: fn(&Run) -> Option<f64>, cell: fn(Option<Summary>) -> String| {
            format!(
                "{} / {}",
                cell(self.summary(setup, sc, a, f)),
                cell(self.summary(setup, sc, b, f))
            )
        };
        vec![
            sc.name().to_owned(),
            num(report::med(self.summary(setup, sc, a, rps)), 0),
            num(report::med(self.summary(setup, sc, b, rps)), 0),
            ratio_cell(self.ratio(setup, sc, a, b, rps)),
            both(p50, ms_cell),
            both(p99, ms_cell),
            both(server_ns, us_cell),
            both(db_ns, us_cell),
        ]
    }
}

/// A ratio cell: `median (min–max)`.
pub fn ratio_cell(s: Option<Summary>) -> String {
    report::spread(s, 2)
}

/// A µs cell from ns.
pub fn us_cell(s: Option<Summary>) -> String {
    num(s.map(|s| s.median / 1000.0), 2)
}

/// A section's `<details>` block.
pub fn details(summary: &str, body: &str) -> String {
    format!("<details><summary>{summary}</summary>\n\n{body}\n</details>\n")
}

/// A targets table: the target, its median (worst round) under each load
/// set-up, and the verdict.
pub fn targets_table(first: &str, setups: &[Setup]) -> Table {
    let mut header = vec![first.to_owned()];
    header.extend(
        setups
            .iter()
            .map(|x| format!("`{}`: median (worst round)", x.label())),
    );
    header.push("verdict".to_owned());
    let last = header.len().saturating_sub(1);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    Table::new(&header).left(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rotation() {
        let v = ["a", "b", "c"];
        assert_eq!(rotated(&v, 1), vec!["a", "b", "c"]);
        assert_eq!(rotated(&v, 2), vec!["b", "c", "a"]);
        assert_eq!(rotated(&v, 4), vec!["a", "b", "c"]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }

    #[test]
    fn base64url_like_sesh_ids() {
        assert_eq!(base64url(&[0u8; 16]).len(), 22);
        assert_eq!(base64url(b"\xff\xff\xff"), "____");
        assert_eq!(base64url(b"f"), "Zg");
    }

    #[test]
    fn commandstats() {
        let info = "# Commandstats\ncmdstat_evalsha:calls=200,usec=300,usec_per_call=1.50,rejected_calls=0\ncmdstat_config:calls=1,usec=1,usec_per_call=1.00\ncmdstat_set:calls=100,usec=50,usec_per_call=0.50\n";
        let c = parse_commandstats(info, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.first().unwrap(), &("evalsha".to_owned(), 2.0, 1.5));
        assert!(parse_commandstats(info, 0).is_empty());
    }

    fn run(round: u32, variant: &str, rps: f64) -> Run {
        Run {
            round,
            setup: Setup::Shared,
            scenario: Scenario::New,
            variant: variant.to_owned(),
            wrk: WrkResult {
                rps,
                ..WrkResult::default()
            },
            server_ns: Some(rps * 2.0),
            db_ns: None,
            sessions_after: None,
            commands: Vec::new(),
        }
    }

    #[test]
    fn runs_pair_ratios_by_round() {
        let runs = Runs(vec![
            run(1, "a", 10.0),
            run(1, "b", 5.0),
            run(2, "a", 9.0),
            run(2, "b", 3.0),
            run(3, "a", 100.0),
        ]);
        let r = runs
            .ratio(Setup::Shared, Scenario::New, "a", "b", rps)
            .unwrap();
        assert_eq!((r.min, r.max, r.count), (2.0, 3.0, 2));
        assert!(runs.has(Setup::Shared, Scenario::New, "a"));
        assert!(!runs.has(Setup::PerConnection, Scenario::New, "a"));
        assert!(
            runs.raw_table(None)
                .contains("| 3 | `wrk -t2 -c32` | new | a | 100 |")
        );
    }

    #[test]
    fn a_baseline_run_twice_in_a_round_counts_as_its_mean() {
        let runs = Runs(vec![
            run(1, "base", 8.0),
            run(1, "a", 10.0),
            run(1, "base", 12.0),
            run(2, "base", 5.0),
            run(2, "a", 5.0),
        ]);
        let by_round = runs.by_round(Setup::Shared, Scenario::New, "base", rps);
        assert_eq!(
            by_round.into_iter().collect::<Vec<_>>(),
            [(1, 10.0), (2, 5.0)]
        );
        let r = runs
            .ratio(Setup::Shared, Scenario::New, "a", "base", rps)
            .unwrap();
        assert_eq!((r.min, r.max, r.count), (1.0, 1.0, 2));
    }

    #[test]
    fn pair_cells_of_two_variants() {
        let runs = Runs(vec![run(1, "a", 10.0), run(1, "b", 5.0)]);
        let cells = runs.pair_cells(Setup::Shared, Scenario::New, "a", "b");
        assert_eq!(
            cells,
            [
                "new",
                "10",
                "5",
                "2.00",
                "0.00 / 0.00",
                "0.00 / 0.00",
                "0.02 / 0.01",
                "- / -",
            ]
        );
    }
}
