//! The load generator: wrk as a process, with the Lua scripts in
//! benches/http/wrk, under the two load set-ups every HTTP ratio is reported
//! under.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// The connections every throughput run keeps open.
pub const CONNECTIONS: u32 = 32;

/// How wrk spreads its connections over its threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Setup {
    /// `wrk -t2 -c32`: two client threads (the set-up of the earlier reports;
    /// on a 2-core machine the client can be the bottleneck).
    #[value(name = "t2")]
    Shared,
    /// `wrk -t32 -c32`: one client thread per connection.
    #[value(name = "t32")]
    PerConnection,
}

impl Setup {
    /// Both set-ups, in report order.
    pub const ALL: [Setup; 2] = [Setup::Shared, Setup::PerConnection];

    /// wrk's `-t`.
    pub fn threads(self) -> u32 {
        match self {
            Setup::Shared => 2,
            Setup::PerConnection => CONNECTIONS,
        }
    }

    /// How the report names it: `wrk -t2 -c32`.
    pub fn label(self) -> String {
        format!("wrk -t{} -c{CONNECTIONS}", self.threads())
    }
}

/// wrk's `RESULT` line (benches/http/wrk/load.lua).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WrkResult {
    /// Responses in the run.
    pub requests: u64,
    /// The run's length in seconds.
    pub duration_s: f64,
    /// Responses per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Socket errors, timeouts and non-2xx answers.
    pub errors: u64,
}

/// Parses the `RESULT key=value ...` line in wrk's output.
pub fn parse_result(output: &str) -> Result<WrkResult, Error> {
    let line = output
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| format!("no RESULT line in wrk's output: {output:?}"))?;
    let mut r = WrkResult::default();
    let mut seen = 0u32;
    for pair in line.split_whitespace().skip(1) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("bad RESULT field {pair:?}"))?;
        let float = || -> Result<f64, Error> {
            value
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("bad RESULT value {pair:?}").into())
        };
        let int = || -> Result<u64, Error> {
            value
                .parse::<u64>()
                .map_err(|_| format!("bad RESULT value {pair:?}").into())
        };
        match key {
            "requests" => r.requests = int()?,
            "duration_s" => r.duration_s = float()?,
            "rps" => r.rps = float()?,
            "p50_us" => r.p50_us = float()?,
            "p99_us" => r.p99_us = float()?,
            k if k.starts_with("err_") => r.errors = r.errors.saturating_add(int()?),
            _ => continue,
        }
        seen = seen.saturating_add(1);
    }
    if r.requests == 0 || r.duration_s <= 0.0 {
        return Err(format!("wrk answered no request: {line}").into());
    }
    if r.rps == 0.0 {
        #[allow(clippy::cast_precision_loss, reason = "request counts fit an f64")]
        let rps = r.requests as f64 / r.duration_s;
        r.rps = rps;
    }
    Ok(r)
}

/// Runs `wrk` with `lua` against `http://addr/` for `seconds`, under `setup`:
/// returning clients when `cookies` names a file of cookies (one per line),
/// new visitors otherwise.
pub fn run_wrk(
    addr: SocketAddr,
    setup: Setup,
    seconds: u32,
    lua: &Path,
    cookies: Option<&Path>,
) -> Result<WrkResult, Error> {
    let out = Command::new("wrk")
        .arg(format!("-t{}", setup.threads()))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "5s", "-s"])
        .arg(lua)
        .arg(format!("http://{addr}/"))
        .env(
            "COOKIE_FILE",
            cookies.map(Path::as_os_str).unwrap_or_default(),
        )
        .env("WRK_THREADS", setup.threads().to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    parse_result(&stdout)
}

/// wrk's version, e.g. `wrk 4.1.0`.
pub fn wrk_version() -> String {
    Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.split_whitespace().nth(1).map_or_else(
                || "wrk (unknown version)".to_owned(),
                |v| format!("wrk {v}"),
            )
        })
        .unwrap_or_else(|| "wrk (missing)".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_the_result_line() {
        let out = "Running 1s test\nRESULT requests=1000 duration_s=2.000 rps=500.0 p50_us=120 p99_us=4100 err_connect=1 err_read=0 err_write=0 err_status=2 err_timeout=0\n";
        let r = parse_result(out).unwrap();
        assert_eq!(r.requests, 1000);
        assert_eq!(r.rps, 500.0);
        assert_eq!((r.p50_us, r.p99_us), (120.0, 4100.0));
        assert_eq!(r.errors, 3);
    }

    #[test]
    fn rejects_missing_or_bad_lines() {
        assert!(parse_result("nothing here").is_err());
        assert!(parse_result("RESULT requests=x duration_s=1").is_err());
        assert!(parse_result("RESULT requests=0 duration_s=1 rps=0").is_err());
        assert!(parse_result("RESULT requests=10 duration_s=NaN").is_err());
        // The bounded script has no rps: it is derived.
        let r =
            parse_result("RESULT requests=10 duration_s=2.000 err_status=0 err_connect=0").unwrap();
        assert_eq!(r.rps, 5.0);
    }

    #[test]
    fn set_ups() {
        assert_eq!(Setup::Shared.label(), "wrk -t2 -c32");
        assert_eq!(Setup::PerConnection.label(), "wrk -t32 -c32");
    }
}
