//! The firmware section: the login UI of examples/firmware as the real
//! Cortex-M4F image in QEMU (examples/boards/mps2-an386) beside the same app
//! on the host (`firmware-host`), in the same run.
//!
//! scripts/bench-firmware.sh does the processes (builds, boots QEMU, logs in,
//! runs `wrk --latency`) and leaves raw files in a directory; this module
//! parses them (wrk's text, the boot times, scripts/firmware.sh's sizes, the
//! image's `stack: peak` line) and computes the figures: req/s per target,
//! the per-round QEMU ÷ host ratio (the emulator's speed is not a chip's, so
//! only the ratio to the host measured in the same round means something),
//! p99, errors, boot times.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Scenario, Settings, log};
use crate::Error;
use crate::facts::{Facts, load_average, output};
use crate::report::{Table, num, spread};
use crate::stats::{Summary, paired_ratios, summarize};

/// Seconds per wrk run.
pub const DURATION: u32 = 10;
/// Boots timed, each on a new flash file.
pub const BOOTS: u32 = 5;
/// wrk's connections (one thread): the image serves a few at a time.
pub const CONNECTIONS: u32 = 4;

/// What one `wrk --latency` run printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wrk {
    /// `Requests/sec:`.
    pub rps: f64,
    /// The `99%` line of the latency distribution, ms.
    pub p99_ms: f64,
    /// `Socket errors:` connect + read + write + timeout (0 without the line).
    pub socket_errors: u64,
    /// `Non-2xx or 3xx responses:` (0 without the line).
    pub non_2xx: u64,
}

/// A wrk time (`812.00us`, `8.16ms`, `1.02s`, `1.00m`, `1.00h`) in ms.
pub fn parse_ms(value: &str) -> Result<f64, Error> {
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1_000.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = value.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return Err(format!("wrk time without a unit: {value:?}").into());
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x * factor)
        .ok_or_else(|| format!("bad wrk time {value:?}").into())
}

fn count(value: &str, line: &str) -> Result<u64, Error> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("bad count {value:?} in wrk's line {line:?}").into())
}

/// Parses wrk's text output (run with `--latency`).
pub fn parse_wrk(text: &str) -> Result<Wrk, Error> {
    let mut rps = None;
    let mut p99_ms = None;
    let mut socket_errors = 0u64;
    let mut non_2xx = 0u64;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            let x = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("bad wrk line {line:?}"))?;
            rps = Some(x);
        } else if let Some(v) = line.strip_prefix("99%") {
            p99_ms = Some(parse_ms(v.trim())?);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // `connect 0, read 28, write 0, timeout 0`
            for part in v.split(',') {
                let n = part
                    .split_whitespace()
                    .nth(1)
                    .ok_or_else(|| format!("bad wrk line {line:?}"))?;
                socket_errors = socket_errors.saturating_add(count(n, line)?);
            }
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = non_2xx.saturating_add(count(v, line)?);
        }
    }
    Ok(Wrk {
        rps: rps.ok_or("no `Requests/sec:` line in wrk's output")?,
        p99_ms: p99_ms.ok_or("no `99%` line in wrk's output (run without --latency?)")?,
        socket_errors,
        non_2xx,
    })
}

/// Where a load run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The image in QEMU.
    Qemu,
    /// `firmware-host`.
    Host,
}

impl Target {
    /// Both, in the order the script runs them.
    pub const ALL: [Target; 2] = [Target::Qemu, Target::Host];

    /// The name in the raw files' names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Qemu => "qemu",
            Target::Host => "host",
        }
    }
}

/// One wrk run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadRun {
    /// 1-based round.
    pub round: u32,
    /// QEMU or the host.
    pub target: Target,
    /// Returning or new.
    pub scenario: Scenario,
    /// What wrk printed.
    pub wrk: Wrk,
}

/// One boot: ms from starting QEMU to `firmware: serving`, and to the first
/// answered request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boot {
    /// To the image's `firmware: serving` line.
    pub serving_ms: f64,
    /// To the first answered `GET /me`.
    pub answer_ms: f64,
}

/// Parses boot.txt: `serving_ms<TAB>first_answer_ms` per line.
pub fn parse_boots(text: &str) -> Result<Vec<Boot>, Error> {
    let ms = |v: Option<&str>, line: &str| -> Result<f64, Error> {
        v.and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("bad boot line {line:?}").into())
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            Ok(Boot {
                serving_ms: ms(fields.next(), line)?,
                answer_ms: ms(fields.next(), line)?,
            })
        })
        .collect()
}

/// An image's sections, bytes (Berkeley: `.text` includes the vectors and
/// `.rodata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// `.text`.
    pub text: u64,
    /// `.data`.
    pub data: u64,
    /// `.bss`.
    pub bss: u64,
}

/// Parses scripts/firmware.sh's summary line, `firmware (BOARD, …):
/// .text N B, .data N B, .bss N B; …`.
pub fn parse_sizes(text: &str) -> Result<Sizes, Error> {
    let line = text
        .lines()
        .find(|l| l.starts_with("firmware (") && l.contains(": .text "))
        .ok_or("no `firmware (…): .text …` line in scripts/firmware.sh's output")?;
    let field = |key: &str| -> Result<u64, Error> {
        line.split_once(key)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("no {key:?} size in {line:?}").into())
    };
    Ok(Sizes {
        text: field(": .text ")?,
        data: field(", .data ")?,
        bss: field(", .bss ")?,
    })
}

/// The last `stack: peak N of M bytes` of a QEMU log, as `N of M bytes`.
pub fn peak_stack(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.split_once("stack: peak ")?;
        let mut w = rest.split_whitespace();
        let peak = w.next()?.parse::<u64>().ok()?;
        (w.next()? == "of").then_some(())?;
        let size = w.next()?.parse::<u64>().ok()?;
        Some(format!("{peak} of {size} bytes"))
    })
}

/// `340380` as `340,380`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len().saturating_add(digits.len() / 3));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && digits.len().saturating_sub(i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The figures of one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioFigures {
    /// QEMU's req/s over the rounds.
    pub qemu_rps: Option<Summary>,
    /// firmware-host's req/s over the rounds.
    pub host_rps: Option<Summary>,
    /// QEMU ÷ firmware-host req/s, per round.
    pub ratio: Option<Summary>,
    /// The median p99, ms, QEMU.
    pub qemu_p99_ms: Option<f64>,
    /// The median p99, ms, firmware-host.
    pub host_p99_ms: Option<f64>,
    /// Socket errors in all rounds, QEMU.
    pub qemu_socket_errors: u64,
    /// Socket errors in all rounds, firmware-host.
    pub host_socket_errors: u64,
    /// Non-2xx answers in all rounds, QEMU.
    pub qemu_non_2xx: u64,
    /// Non-2xx answers in all rounds, firmware-host.
    pub host_non_2xx: u64,
}

fn by_round(
    runs: &[LoadRun],
    target: Target,
    scenario: Scenario,
    f: impl Fn(&Wrk) -> f64,
) -> BTreeMap<u32, f64> {
    runs.iter()
        .filter(|r| r.target == target && r.scenario == scenario)
        .map(|r| (r.round, f(&r.wrk)))
        .collect()
}

fn total(runs: &[LoadRun], target: Target, scenario: Scenario, f: impl Fn(&Wrk) -> u64) -> u64 {
    runs.iter()
        .filter(|r| r.target == target && r.scenario == scenario)
        .fold(0u64, |n, r| n.saturating_add(f(&r.wrk)))
}

/// The figures of `scenario` over `runs`.
pub fn scenario_figures(runs: &[LoadRun], scenario: Scenario) -> ScenarioFigures {
    let rps = |t| by_round(runs, t, scenario, |w| w.rps);
    let p99 = |t| {
        let v: Vec<f64> = by_round(runs, t, scenario, |w| w.p99_ms)
            .into_values()
            .collect();
        crate::stats::median(&v)
    };
    let (q, h) = (rps(Target::Qemu), rps(Target::Host));
    ScenarioFigures {
        qemu_rps: summarize(&q.values().copied().collect::<Vec<_>>()),
        host_rps: summarize(&h.values().copied().collect::<Vec<_>>()),
        ratio: summarize(&paired_ratios(&q, &h)),
        qemu_p99_ms: p99(Target::Qemu),
        host_p99_ms: p99(Target::Host),
        qemu_socket_errors: total(runs, Target::Qemu, scenario, |w| w.socket_errors),
        host_socket_errors: total(runs, Target::Host, scenario, |w| w.socket_errors),
        qemu_non_2xx: total(runs, Target::Qemu, scenario, |w| w.non_2xx),
        host_non_2xx: total(runs, Target::Host, scenario, |w| w.non_2xx),
    }
}

/// Everything the section reports.
#[derive(Debug, Clone)]
pub struct Results {
    /// Rounds run.
    pub rounds: u32,
    /// QEMU's version, e.g. `7.2.22`.
    pub qemu_version: String,
    /// The mps2-an386 image's sizes.
    pub mps2: Sizes,
    /// The NUCLEO-H743ZI image's sizes.
    pub nucleo: Sizes,
    /// The boots timed.
    pub boots: Vec<Boot>,
    /// The image's peak stack, `N of M bytes`.
    pub peak_stack: Option<String>,
    /// Every wrk run.
    pub runs: Vec<LoadRun>,
}

/// `qemu-system-arm --version`'s version (`QEMU emulator version 7.2.22 (…)`).
pub fn qemu_version(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    let (_, rest) = first.split_once("version ")?;
    rest.split_whitespace().next().map(str::to_owned)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Reads the raw files scripts/bench-firmware.sh left in `dir`.
pub fn read_results(dir: &Path, rounds: u32, qemu_version: String) -> Result<Results, Error> {
    let mut runs = Vec::new();
    for round in 1..=rounds {
        for target in Target::ALL {
            for scenario in Scenario::ALL {
                let path = dir.join(format!(
                    "wrk-{}-{}-{round}.txt",
                    target.name(),
                    scenario.name()
                ));
                let wrk =
                    parse_wrk(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
                runs.push(LoadRun {
                    round,
                    target,
                    scenario,
                    wrk,
                });
            }
        }
    }
    let sizes = |name: &str| -> Result<Sizes, Error> {
        let path = dir.join(name);
        parse_sizes(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()).into())
    };
    let boots = parse_boots(&read(&dir.join("boot.txt"))?)?;
    if boots.is_empty() {
        return Err("boot.txt has no boot".into());
    }
    Ok(Results {
        rounds,
        qemu_version,
        mps2: sizes("mps2-size.txt")?,
        nucleo: sizes("nucleo-size.txt")?,
        boots,
        peak_stack: peak_stack(&read(&dir.join("qemu-load.log"))?),
        runs,
    })
}

/// Runs scripts/bench-firmware.sh and returns the section's Markdown;
/// `Ok(None)` when QEMU or the Arm binutils are not installed.
pub fn run(s: &Settings) -> Result<Option<String>, Error> {
    for tool in ["qemu-system-arm", "arm-none-eabi-size"] {
        if output(tool, &["--version"], &s.root).is_none() {
            log(&format!(
                "==> firmware: skipped: {tool} is not installed (scripts/bench-firmware.sh needs it)"
            ));
            return Ok(None);
        }
    }
    let load_start = load_average();
    let dir = s.out.join("firmware");
    std::fs::create_dir_all(&dir)?;
    log(&format!(
        "==> firmware: bash scripts/bench-firmware.sh (raw files in {})",
        dir.display()
    ));
    let status = Command::new("bash")
        .arg(s.root.join("scripts/bench-firmware.sh"))
        .env("BENCH_OUT", &dir)
        .env("ROUNDS", s.rounds.to_string())
        .env("DURATION", DURATION.to_string())
        .env("BOOTS", BOOTS.to_string())
        .env("CONNECTIONS", CONNECTIONS.to_string())
        .current_dir(&s.root)
        .stdin(Stdio::null())
        // Its progress goes with the harness's, not into the report.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot run scripts/bench-firmware.sh: {e}"))?;
    crate::check_interrupted()?;
    if !status.success() {
        return Err(format!("scripts/bench-firmware.sh failed ({status})").into());
    }
    let version = output("qemu-system-arm", &["--version"], &s.root)
        .and_then(|v| qemu_version(&v))
        .unwrap_or_else(|| "(unknown version)".to_owned());
    let results = read_results(&dir, s.rounds, version)?;
    let facts = Facts::read(&s.root);
    Ok(Some(render(&facts, &results, &load_start, &load_average())))
}

/// The section's Markdown.
pub fn render(facts: &Facts, r: &Results, load_start: &str, load_end: &str) -> String {
    let mut md = String::from("## Firmware in QEMU (scripts/bench-firmware.sh)\n\n");
    md.push_str(&facts.header(
        "bench firmware",
        &format!("; QEMU {}", r.qemu_version),
        load_start,
        load_end,
    ));
    md.push_str(&format!(
        "\nThe login UI of `examples/firmware` as the real Cortex-M4F image of \
         `examples/boards/mps2-an386` in QEMU {} (`-machine mps2-an386`, LAN9118 on the user \
         network, host port forwarded), beside the same app on the host (`firmware-host`, \
         picoserve on tokio), in the same run: {} round{}, `wrk -t1 -c{CONNECTIONS} -d{DURATION}s` \
         on `GET /`. The emulator runs the guest far slower than a chip would (TCG translation on \
         one host core), so its req/s are a relative figure. Returning: a signed-in session's \
         cookie on every request (a visit counter update each); new: no cookie (the login form \
         with a fresh form token and pre-session cookie; nothing is stored). Socket errors and \
         non-2xx answers are counted apart: a reset connection is the network's, a non-2xx the \
         firmware's.\n\n",
        r.qemu_version,
        r.rounds,
        if r.rounds == 1 { "" } else { "s" },
    ));
    let mut sizes = Table::new(&[
        "image (release, `arm-none-eabi-size -B`)",
        "`.text`",
        "`.data`",
        "`.bss`",
    ]);
    for (name, s) in [
        ("mps2-an386 (QEMU)", r.mps2),
        ("NUCLEO-H743ZI, same commit", r.nucleo),
    ] {
        sizes.row(vec![
            name.to_owned(),
            format!("{} B", thousands(s.text)),
            format!("{} B", thousands(s.data)),
            format!("{} B", thousands(s.bss)),
        ]);
    }
    md.push_str(&sizes.render());
    md.push('\n');

    let mut t = Table::new(&["figure", "value"]);
    let n = r.boots.len();
    let serving: Vec<f64> = r.boots.iter().map(|b| b.serving_ms).collect();
    let answer = summarize(&r.boots.iter().map(|b| b.answer_ms).collect::<Vec<_>>());
    t.row(vec![
        format!("QEMU start to `firmware: serving` (DHCP done; median of {n})"),
        format!("{} ms", num(crate::stats::median(&serving), 0)),
    ]);
    t.row(vec![
        format!("QEMU start to the first answered request (median of {n}; range)"),
        match answer {
            Some(a) => format!("{:.0} ms ({:.0}–{:.0})", a.median, a.min, a.max),
            None => "-".to_owned(),
        },
    ]);
    t.row(vec![
        "peak stack after the load and the floods (painted)".to_owned(),
        r.peak_stack.clone().unwrap_or_else(|| "-".to_owned()),
    ]);
    for sc in Scenario::ALL {
        let f = scenario_figures(&r.runs, sc);
        let name = sc.name();
        t.row(vec![
            format!("{name}: QEMU req/s (median; range)"),
            spread(f.qemu_rps, 0),
        ]);
        t.row(vec![
            format!("{name}: firmware-host req/s (median; range)"),
            spread(f.host_rps, 0),
        ]);
        t.row(vec![
            format!("{name}: QEMU ÷ firmware-host req/s (median; range over rounds)"),
            spread(f.ratio, 3),
        ]);
        t.row(vec![
            format!("{name}: p99, QEMU / firmware-host"),
            format!(
                "{} ms / {} ms",
                num(f.qemu_p99_ms, 2),
                num(f.host_p99_ms, 2)
            ),
        ]);
        t.row(vec![
            format!(
                "{name}: socket errors (connect, read, write, timeout) in all rounds, QEMU / firmware-host"
            ),
            format!("{} / {}", f.qemu_socket_errors, f.host_socket_errors),
        ]);
        t.row(vec![
            format!("{name}: non-2xx answers in all rounds, QEMU / firmware-host"),
            format!("{} / {}", f.qemu_non_2xx, f.host_non_2xx),
        ]);
    }
    md.push_str(&t.render());
    md
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// wrk 4.1.0 against the image (this harness's run at f6e6c22): socket
    /// errors, no non-2xx line.
    const QEMU_RETURNING: &str = "\
Running 10s test @ http://127.0.0.1:52389/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.39ms    3.79ms  67.29ms   96.15%
    Req/Sec   547.85     81.97   707.00     73.00%
  Latency Distribution
     50%    3.56ms
     75%    4.36ms
     90%    6.34ms
     99%   14.20ms
  5458 requests in 10.01s, 9.19MB read
  Socket errors: connect 0, read 6, write 0, timeout 0
Requests/sec:    545.23
Transfer/sec:      0.92MB
";

    /// Against firmware-host in the same run: no error lines.
    const HOST_NEW: &str = "\
Running 10s test @ http://127.0.0.1:36335/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.85ms    0.95ms  12.24ms   90.85%
    Req/Sec     5.45k     1.16k    6.55k    79.00%
  Latency Distribution
     50%  660.00us
     75%  712.00us
     90%    1.62ms
     99%    4.91ms
  54317 requests in 10.02s, 111.27MB read
Requests/sec:   5423.15
Transfer/sec:     11.11MB
";

    /// Made up from those: timeouts, p99 in seconds, wrong answers.
    const SLOW: &str = "\
Running 10s test @ http://127.0.0.1:41233/
  1 threads and 4 connections
  Latency Distribution
     50%  300.00ms
     99%    1.50s
  120 requests in 10.00s, 96.37KB read
  Socket errors: connect 2, read 0, write 1, timeout 40
  Non-2xx or 3xx responses: 7
Requests/sec:     12.00
Transfer/sec:      9.64KB
";

    #[test]
    fn parses_wrk_with_socket_errors() {
        let w = parse_wrk(QEMU_RETURNING).unwrap();
        assert_eq!(w.rps, 545.23);
        assert_eq!(w.p99_ms, 14.2);
        assert_eq!((w.socket_errors, w.non_2xx), (6, 0));
    }

    #[test]
    fn parses_wrk_without_errors_in_ms_and_us() {
        let w = parse_wrk(HOST_NEW).unwrap();
        assert_eq!(w.rps, 5423.15);
        assert_eq!(w.p99_ms, 4.91);
        assert_eq!((w.socket_errors, w.non_2xx), (0, 0));
        // On an idle machine the host's p99 is under a millisecond.
        let fast = HOST_NEW.replace("     99%    4.91ms", "     99%  812.00us");
        assert!((parse_wrk(&fast).unwrap().p99_ms - 0.812).abs() < 1e-12);
    }

    #[test]
    fn parses_wrk_in_seconds_with_non_2xx() {
        let w = parse_wrk(SLOW).unwrap();
        assert_eq!(w.rps, 12.0);
        assert_eq!(w.p99_ms, 1500.0);
        assert_eq!((w.socket_errors, w.non_2xx), (43, 7));
    }

    #[test]
    fn times_in_every_unit() {
        assert_eq!(parse_ms("250.00us").unwrap(), 0.25);
        assert_eq!(parse_ms("8.16ms").unwrap(), 8.16);
        assert_eq!(parse_ms("2.00s").unwrap(), 2000.0);
        assert_eq!(parse_ms("1.00m").unwrap(), 60_000.0);
        assert_eq!(parse_ms("1.00h").unwrap(), 3_600_000.0);
        for bad in ["", "8.16", "ms", "x ms", "-1.00ms", "NaNms", "infs"] {
            assert!(parse_ms(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_wrk_output_is_an_error() {
        assert!(parse_wrk("").is_err());
        // No latency distribution: run without --latency.
        assert!(parse_wrk("Requests/sec:   10.00\n").is_err());
        assert!(parse_wrk("     99%    1.00ms\n").is_err());
        assert!(parse_wrk("     99%    1.00ms\nRequests/sec:   ten\n").is_err());
        assert!(parse_wrk("     99%    fast\nRequests/sec:   1\n").is_err());
        let with = |line: &str| format!("     99%    1.00ms\n{line}\nRequests/sec:   1\n");
        assert!(
            parse_wrk(&with(
                "  Socket errors: connect x, read 0, write 0, timeout 0"
            ))
            .is_err()
        );
        assert!(parse_wrk(&with("  Socket errors: connect")).is_err());
        assert!(parse_wrk(&with("  Socket errors: connect -1, read 0")).is_err());
        assert!(parse_wrk(&with("  Non-2xx or 3xx responses: many")).is_err());
        assert_eq!(parse_wrk(&with("")).unwrap().rps, 1.0);
    }

    #[test]
    fn boots_sizes_stack_and_thousands() {
        let b = parse_boots("43\t61\n44\t57\n\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!((b[1].serving_ms, b[1].answer_ms), (44.0, 57.0));
        assert!(parse_boots("43\n").is_err());
        assert!(parse_boots("x\t1\n").is_err());
        assert!(parse_boots("").unwrap().is_empty());

        let out = "   text\t   data\t    bss\t    dec\t    hex\tfilename\n 340380\t    360\t 178624\t 519364\t  7ecc4\tmps2-an386\n\n\
                   firmware (mps2-an386, thumbv7em-none-eabihf, profile release): .text 340380 B, .data 360 B, .bss 178624 B; flash 340740 B, static RAM 178984 B; build 1s\n";
        assert_eq!(
            parse_sizes(out).unwrap(),
            Sizes {
                text: 340_380,
                data: 360,
                bss: 178_624
            }
        );
        assert!(parse_sizes("   text\t   data\n").is_err());
        assert!(parse_sizes("firmware (x): .text 1 B, .data y B, .bss 2 B;").is_err());

        let log = "firmware: serving\nstack: peak 40000 of 131072 bytes\nnoise\nstack: peak 46584 of 131072 bytes\nstack: peak x of y bytes\n";
        assert_eq!(peak_stack(log).as_deref(), Some("46584 of 131072 bytes"));
        assert_eq!(peak_stack("nothing"), None);

        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(178_624), "178,624");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            qemu_version(
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright\n"
            )
            .as_deref(),
            Some("7.2.22")
        );
        assert_eq!(qemu_version(""), None);
    }

    fn run(round: u32, target: Target, scenario: Scenario, rps: f64, p99_ms: f64) -> LoadRun {
        LoadRun {
            round,
            target,
            scenario,
            wrk: Wrk {
                rps,
                p99_ms,
                socket_errors: u64::from(round),
                non_2xx: u64::from(target == Target::Host),
            },
        }
    }

    fn results() -> Results {
        use Scenario::{New, Returning};
        use Target::{Host, Qemu};
        let runs = vec![
            run(1, Qemu, Returning, 600.0, 8.0),
            run(1, Host, Returning, 10_000.0, 0.5),
            run(2, Qemu, Returning, 632.0, 9.0),
            run(2, Host, Returning, 8_000.0, 0.7),
            run(3, Qemu, Returning, 580.0, 7.0),
            run(3, Host, Returning, 9_000.0, 0.6),
            run(1, Qemu, New, 504.0, 15.0),
            run(1, Host, New, 8_000.0, 0.66),
        ];
        Results {
            rounds: 3,
            qemu_version: "7.2.22".into(),
            mps2: Sizes {
                text: 340_380,
                data: 360,
                bss: 178_624,
            },
            nucleo: Sizes {
                text: 281_116,
                data: 320,
                bss: 171_296,
            },
            boots: vec![
                Boot {
                    serving_ms: 43.0,
                    answer_ms: 61.0,
                },
                Boot {
                    serving_ms: 40.0,
                    answer_ms: 101.0,
                },
                Boot {
                    serving_ms: 45.0,
                    answer_ms: 57.0,
                },
            ],
            peak_stack: Some("46584 of 131072 bytes".into()),
            runs,
        }
    }

    #[test]
    fn figures_of_a_small_result_set() {
        let r = results();
        let f = scenario_figures(&r.runs, Scenario::Returning);
        let q = f.qemu_rps.unwrap();
        assert_eq!((q.median, q.min, q.max, q.count), (600.0, 580.0, 632.0, 3));
        assert_eq!(f.host_rps.unwrap().median, 9_000.0);
        // Per round: 0.06, 0.079, 0.0644…; the median is round 3's.
        let ratio = f.ratio.unwrap();
        assert!((ratio.median - 580.0 / 9_000.0).abs() < 1e-12);
        assert!((ratio.min - 0.06).abs() < 1e-12);
        assert!((ratio.max - 0.079).abs() < 1e-12);
        assert_eq!((f.qemu_p99_ms, f.host_p99_ms), (Some(8.0), Some(0.6)));
        assert_eq!((f.qemu_socket_errors, f.host_socket_errors), (6, 6));
        assert_eq!((f.qemu_non_2xx, f.host_non_2xx), (0, 3));

        let n = scenario_figures(&r.runs, Scenario::New);
        assert_eq!(n.ratio.unwrap().count, 1);
        assert!((n.ratio.unwrap().median - 0.063).abs() < 1e-12);
        // Nothing measured: no figure, no panic.
        let none = scenario_figures(&[], Scenario::New);
        assert_eq!(
            (none.qemu_rps, none.ratio, none.qemu_p99_ms),
            (None, None, None)
        );
        assert_eq!(none.qemu_socket_errors, 0);
    }

    #[test]
    fn renders_the_section() {
        let facts = Facts {
            date: "2026-12-07 18:00 UTC".into(),
            cpus: 2,
            cpu_model: "AMD EPYC".into(),
            kernel: "6.1".into(),
            rustc: "rustc 1.95.0".into(),
            wrk: "wrk 4.1.0".into(),
            commit: "abc1234".into(),
        };
        let md = render(&facts, &results(), "0.1 0.2 0.3", "1.0 1.1 1.2");
        assert!(md.starts_with("## Firmware in QEMU (scripts/bench-firmware.sh)\n\nGenerated by `bash scripts/bench.sh` (`bench firmware`)"));
        assert!(md.contains("; QEMU 7.2.22."));
        assert!(md.contains("in QEMU 7.2.22 (`-machine mps2-an386`"));
        assert!(md.contains("3 rounds, `wrk -t1 -c4 -d10s` on `GET /`"));
        for row in [
            "| mps2-an386 (QEMU) | 340,380 B | 360 B | 178,624 B |",
            "| NUCLEO-H743ZI, same commit | 281,116 B | 320 B | 171,296 B |",
            "| QEMU start to `firmware: serving` (DHCP done; median of 3) | 43 ms |",
            "| QEMU start to the first answered request (median of 3; range) | 61 ms (57–101) |",
            "| peak stack after the load and the floods (painted) | 46584 of 131072 bytes |",
            "| returning: QEMU req/s (median; range) | 600 (580–632) |",
            "| returning: firmware-host req/s (median; range) | 9000 (8000–10000) |",
            "| returning: QEMU ÷ firmware-host req/s (median; range over rounds) | 0.064 (0.060–0.079) |",
            "| returning: p99, QEMU / firmware-host | 8.00 ms / 0.60 ms |",
            "| returning: socket errors (connect, read, write, timeout) in all rounds, QEMU / firmware-host | 6 / 6 |",
            "| returning: non-2xx answers in all rounds, QEMU / firmware-host | 0 / 3 |",
            "| new: QEMU req/s (median; range) | 504 |",
            "| new: QEMU ÷ firmware-host req/s (median; range over rounds) | 0.063 |",
            "| new: p99, QEMU / firmware-host | 15.00 ms / 0.66 ms |",
        ] {
            assert!(md.contains(row), "missing {row:?} in\n{md}");
        }
        assert!(md.contains("| image (release, `arm-none-eabi-size -B`) | `.text` | `.data` | `.bss` |\n|---|---:|---:|---:|\n"));
        assert!(md.contains("| figure | value |\n|---|---:|\n"));
        assert!(md.ends_with("|\n"));
    }

    #[test]
    fn reads_the_raw_files() {
        let dir = std::env::temp_dir().join(format!("sesh-harness-fw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sizes =
            "firmware (b, t, profile release): .text 1000 B, .data 2 B, .bss 3 B; flash 1002 B\n";
        std::fs::write(dir.join("mps2-size.txt"), sizes).unwrap();
        std::fs::write(dir.join("nucleo-size.txt"), sizes).unwrap();
        std::fs::write(dir.join("boot.txt"), "40\t60\n").unwrap();
        std::fs::write(dir.join("qemu-load.log"), "stack: peak 10 of 20 bytes\n").unwrap();
        for (t, sc, text) in [
            ("qemu", "returning", QEMU_RETURNING),
            ("qemu", "new", SLOW),
            ("host", "returning", HOST_NEW),
        ] {
            std::fs::write(dir.join(format!("wrk-{t}-{sc}-1.txt")), text).unwrap();
        }
        // host-new-1 is missing: a clear error naming it.
        let err = read_results(&dir, 1, "7.2".into()).unwrap_err().to_string();
        assert!(err.contains("wrk-host-new-1.txt"), "{err}");
        std::fs::write(dir.join("wrk-host-new-1.txt"), HOST_NEW).unwrap();
        let r = read_results(&dir, 1, "7.2".into()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(r.runs.len(), 4);
        assert_eq!(r.mps2.text, 1000);
        assert_eq!(r.peak_stack.as_deref(), Some("10 of 20 bytes"));
        let f = scenario_figures(&r.runs, Scenario::New);
        assert_eq!(f.qemu_non_2xx, 7);
        assert!((f.ratio.unwrap().median - 12.0 / 5423.15).abs() < 1e-12);
    }
}
