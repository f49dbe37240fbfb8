//! The stores section: the counter app of `bench-server` on Redis
//! (`sesh-redis` against `tower-sessions-redis`, and the floors `redis-floor`
//! and `fred-floor` that keep no session) and on redb (`sesh-redb`, alone),
//! under both load set-ups.

use std::fmt::Write as _;

use super::{
    Backend, Runs, Scenario, Settings, Spec, Stored, db_ns, details, log, ms_cell, p50, p99,
    ratio_cell, rps, server_ns, targets_table, throughput_run, total_ns, us_cell,
};
use crate::Error;
use crate::facts::{Facts, load_average};

use crate::report::{Table, med, num, spread};
use crate::server::{Redis, Server};
use crate::stats::{Target, summarize, verdict_across};

/// What each run starts: its name in the report, bench-server's variant,
/// and the bound sesh's `RedisStore` is given (`--max-sessions`).
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    server: &'static str,
    bound: Option<usize>,
}

/// The bound of `sesh-redis`: room for every session a run makes, as
/// tower-sessions-redis has no bound (a 5 s new-visitor run on a quiet
/// machine makes a few hundred thousand).
const ROOMY_BOUND: usize = 10_000_000;
/// `RedisConfig`'s default bound (`sesh_tokio::store::DEFAULT_MAX_SESSIONS`),
/// passed explicitly so that the report names what ran.
const DEFAULT_BOUND: usize = 100_000;
/// `sesh-redis` at the default bound, new visitors only: past the bound every
/// create also evicts one session (`ZPOPMIN` and `DEL` in the create script).
const BOUNDED: &str = "sesh-redis-default-bound";

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "sesh-redis",
        server: "sesh-redis",
        bound: Some(ROOMY_BOUND),
    },
    Variant {
        name: "tower-sessions-redis",
        server: "tower-sessions-redis",
        bound: None,
    },
    Variant {
        name: "redis-floor",
        server: "redis-floor",
        bound: None,
    },
    Variant {
        name: "fred-floor",
        server: "fred-floor",
        bound: None,
    },
    Variant {
        name: BOUNDED,
        server: "sesh-redis",
        bound: Some(DEFAULT_BOUND),
    },
    Variant {
        name: "sesh-redb",
        server: "sesh-redb",
        bound: None,
    },
];
const TARGET: f64 = 1.3;

/// Runs the section and returns its Markdown.
pub fn run(s: &Settings) -> Result<String, Error> {
    let load_start = load_average();
    let bench = s.bin("bench-server");
    let mut runs = Runs::default();
    let mut redis_version = String::new();
    for round in 1..=s.rounds {
        log(&format!("==> stores: round {round}/{}", s.rounds));
        let redis = Redis::start(&s.out)?;
        redis_version = redis
            .cli(&["info", "server"])?
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
            .unwrap_or_default();
        for v in super::rotated(&VARIANTS, round) {
            let is_redb = v.server == "sesh-redb";
            // Only new visitors create sessions: the rest would repeat sesh-redis.
            let new_only = v.name.ends_with("-floor") || v.name == BOUNDED;
            for scenario in Scenario::ALL {
                if new_only && scenario != Scenario::New {
                    continue;
                }
                for &setup in &s.setups {
                    let redb = s.out.join(format!("sessions.{round}.redb"));
                    let mut args = if is_redb {
                        let _ = std::fs::remove_file(&redb);
                        vec!["--redb".to_owned(), redb.display().to_string()]
                    } else {
                        vec!["--redis".to_owned(), redis.url()]
                    };
                    if let Some(bound) = v.bound {
                        args.extend(["--max-sessions".to_owned(), bound.to_string()]);
                    }
                    let start = || Server::bench(&bench, v.server, &args, &s.out);
                    let spec = Spec {
                        variant: v.name,
                        start: &start,
                        fake_cookies: false,
                        backend: if is_redb {
                            Backend::None
                        } else {
                            Backend::Redis(&redis)
                        },
                        stored: if is_redb {
                            Stored::Stats
                        } else {
                            Stored::Dbsize
                        },
                    };
                    let result = throughput_run(s, round, setup, scenario, &spec);
                    let _ = std::fs::remove_file(&redb);
                    runs.0.push(result?);
                }
            }
        }
    }
    Ok(render(s, &runs, &redis_version, &load_start))
}

fn render(s: &Settings, runs: &Runs, redis_version: &str, load_start: &str) -> String {
    let facts = Facts::read(&s.root);
    let fs = std::process::Command::new("df")
        .args(["-T"])
        .arg(&s.out)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let mut md = String::from("## Stores: Redis and redb\n\n");
    md.push_str(&facts.header(
        "bench stores",
        &format!("; redis-server {redis_version}"),
        load_start,
        &load_average(),
    ));
    let _ = writeln!(
        md,
        "\nThe counter app of the HTTP section (`bench-server`, a 2-worker tokio runtime on \
         127.0.0.1) on persistent stores. {} The run must create no session in *returning* \
         (checked on the store's count).\n",
        s.load_sentence()
    );
    let _ = write!(
        md,
        "### Redis\n\nOne redis-server per round on a free loopback port, no persistence (`--save \"\" \
         --appendonly no`), emptied (`FLUSHALL`) before every run. `sesh-redis`: sesh-tokio's \
         `RedisStore` with `RedisConfig::new(url)` defaults (one multiplexed redis-rs connection, 1 s \
         timeouts, a write cache of 10,000 sessions) but for its bound, \
         `with_max_sessions({})`, and a key prefix unique to the server process; \
         `Session<Counter>::update` is the compare-and-swap Lua script (`EVALSHA`) from the store's \
         cached copy; a new session is the create Lua script (`EVALSHA`: `EXISTS`, the bound \
         checked on the index of sessions, a few expired ones dropped, `SET … PX`, `ZADD` to the \
         index). `tower-sessions-redis`: tower-sessions 0.14 \
         with tower-sessions-redis-store 0.16 (fred 10, a pool of 1 connection), `get` + `insert`, \
         30 min inactivity expiry: `GET`, then `SET … XX` (`SET … NX` for a new session). \
         tower-sessions-redis keeps every session until it expires; sesh's store is bounded, and a \
         create that finds it full first evicts a session (`ZPOPMIN` and `DEL` in the create \
         script). `sesh-redis` is given room for every session a run makes, so that both do the \
         same work; `{BOUNDED}` (new visitors only) runs at `RedisConfig`'s default bound, \
         {}, which a new-visitor run passes.\n\n",
        grouped(ROOMY_BOUND),
        grouped(DEFAULT_BOUND),
    );
    let _ = writeln!(
        md,
        "The floor for new visitors: `redis-floor` and `fred-floor` keep no session; each \
         request sends one `SET … NX PX` of a 40-byte value through redis-rs (as sesh) or fred \
         (as tower-sessions) and answers with a `Set-Cookie` as long as sesh's. \
         `redis-floor ÷ tower-sessions-redis` bounds the new-visitor ratio any store on \
         redis-rs can reach in this run. Keys at the end: Redis's `DBSIZE` after the run \
         (warm-up included), median over the rounds; sesh's count includes its index, one sorted \
         set.\n"
    );
    for &setup in &s.setups {
        let _ = writeln!(md, "#### `{}`\n", setup.label());
        let mut t = Table::new(&[
            "scenario",
            "sesh-redis req/s",
            "tower-sessions-redis req/s",
            "sesh ÷ tower-sessions",
            "p50 sesh / tower-sessions (ms)",
            "p99 sesh / tower-sessions (ms)",
            "server µs/req sesh / tower-sessions",
            "Redis µs/req sesh / tower-sessions",
            "tower-sessions ÷ sesh, total CPU",
            "errors",
        ]);
        let (a, b) = ("sesh-redis", "tower-sessions-redis");
        for sc in Scenario::ALL {
            let mut cells = runs.pair_cells(setup, sc, a, b);
            cells.extend([
                ratio_cell(runs.ratio(setup, sc, b, a, total_ns)),
                runs.errors(setup, sc, &[a, b]).to_string(),
            ]);
            t.row(cells);
        }
        md.push_str(&t.render());
        md.push('\n');
        let mut t = Table::new(&[
            "new visitors",
            "sesh's bound",
            "req/s",
            "server µs/req",
            "Redis µs/req",
            "req/s ÷ tower-sessions-redis",
            "keys at the end",
        ]);
        for v in ["redis-floor", "fred-floor", a, BOUNDED, b] {
            let bound = match VARIANTS.iter().find(|x| x.name == v).and_then(|x| x.bound) {
                Some(n) => grouped(n),
                None if v == b => "none".to_owned(),
                None => "-".to_owned(),
            };
            t.row(vec![
                v.to_owned(),
                bound,
                num(med(runs.summary(setup, Scenario::New, v, rps)), 0),
                us_cell(runs.summary(setup, Scenario::New, v, server_ns)),
                us_cell(runs.summary(setup, Scenario::New, v, db_ns)),
                ratio_cell(runs.ratio(setup, Scenario::New, v, b, rps)),
                num(
                    med(runs.summary(setup, Scenario::New, v, sessions_after)),
                    0,
                ),
            ]);
        }
        md.push_str(&t.render());
        md.push('\n');
    }
    md.push_str(&commands(s, runs));
    md.push_str(&redb(s, runs, &fs));
    md.push_str(&targets(s, runs));
    md.push('\n');
    md.push_str(&details("Raw runs", &runs.raw_table(Some("Redis µs/req"))));
    md
}

/// What Redis ran per request, first load set-up.
fn commands(s: &Settings, runs: &Runs) -> String {
    let Some(&setup) = s.setups.first() else {
        return String::new();
    };
    let mut md = format!(
        "What Redis ran during the measured runs (`INFO commandstats`, reset before each; `{}`): \
         calls per HTTP request and Redis's own µs per call, median over the rounds. Commands \
         inside a script are listed too; their time is part of the script's.\n\n",
        setup.label()
    );
    let mut t = Table::new(&[
        "scenario",
        "variant",
        "command",
        "calls / request",
        "µs / call",
    ])
    .left(1)
    .left(2);
    for sc in Scenario::ALL {
        for v in ["sesh-redis", BOUNDED, "tower-sessions-redis"] {
            let mut names: Vec<&str> = runs
                .0
                .iter()
                .filter(|r| r.setup == setup && r.scenario == sc && r.variant == v)
                .flat_map(|r| r.commands.iter().map(|c| c.0.as_str()))
                .collect();
            names.sort_unstable();
            names.dedup();
            for c in names {
                let vals = |f: fn(&(String, f64, f64)) -> f64| -> Vec<f64> {
                    runs.0
                        .iter()
                        .filter(|r| r.setup == setup && r.scenario == sc && r.variant == v)
                        .flat_map(|r| r.commands.iter().filter(|x| x.0 == c).map(f))
                        .collect()
                };
                t.row(vec![
                    sc.name().to_owned(),
                    v.to_owned(),
                    c.to_owned(),
                    num(med(summarize(&vals(|x| x.1))), 2),
                    num(med(summarize(&vals(|x| x.2))), 2),
                ]);
            }
        }
    }
    md.push_str(&t.render());
    md.push('\n');
    md
}

fn redb(s: &Settings, runs: &Runs, fs: &str) -> String {
    let mut md = format!(
        "### redb\n\n`sesh-redb`: sesh-tokio's `RedbStore` on a fresh file per run ({fs} file \
         system), removed after it. A returning client's `Session::update` starts from the store's \
         copy of the session's last durable commit (its write cache, 10,000 sessions; a read \
         transaction on a miss) and is one compare-and-swap in a write transaction; a new \
         visitor, one write transaction. Every write is answered only once its commit is on disk \
         (`Durability::Immediate`); the writes waiting share one transaction and one fsync \
         (group commit, up to 256). No peer: tower-sessions has no redb store.\n\n"
    );
    let mut t = Table::new(&[
        "load",
        "scenario",
        "req/s (min–max)",
        "p50 (ms)",
        "p99 (ms) (min–max)",
        "server µs/req",
        "errors",
        "sessions at the end",
    ])
    .left(1);
    let v = "sesh-redb";
    for &setup in &s.setups {
        for sc in Scenario::ALL {
            t.row(vec![
                format!("`{}`", setup.label()),
                sc.name().to_owned(),
                spread(runs.summary(setup, sc, v, rps), 0),
                ms_cell(runs.summary(setup, sc, v, p50)),
                spread(runs.summary(setup, sc, v, p99).map(|x| x.scaled(0.001)), 2),
                us_cell(runs.summary(setup, sc, v, server_ns)),
                runs.errors(setup, sc, &[v]).to_string(),
                num(med(runs.summary(setup, sc, v, sessions_after)), 0),
            ]);
        }
    }
    md.push_str(&t.render());
    md.push('\n');
    md
}

/// The sessions (or keys) a run's store held at its end.
fn sessions_after(r: &super::Run) -> Option<f64> {
    #[allow(clippy::cast_precision_loss, reason = "session counts fit an f64")]
    r.sessions_after.map(|x| x as f64)
}

/// `n` with a comma between thousands: 10,000,000.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len().saturating_add(digits.len() / 3));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len().saturating_sub(i)) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn targets(s: &Settings, runs: &Runs) -> String {
    let mut t = targets_table("target", &s.setups);
    let target = Target::at_least(TARGET);
    for sc in Scenario::ALL {
        let mut cells = vec![format!(
            "{}: sesh-redis ≥ {TARGET} × tower-sessions-redis (req/s){}",
            sc.name(),
            if sc == Scenario::New {
                "; bound: redis-floor ÷ tower-sessions-redis"
            } else {
                ""
            }
        )];
        let mut per_setup = Vec::new();
        for &setup in &s.setups {
            let r = runs.ratio(setup, sc, "sesh-redis", "tower-sessions-redis", rps);
            let bound = (sc == Scenario::New)
                .then(|| med(runs.ratio(setup, sc, "redis-floor", "tower-sessions-redis", rps)))
                .flatten();
            let mut c = format!("{} ({})", num(med(r), 2), num(r.map(|r| r.min), 2));
            if let Some(b) = bound {
                let _ = write!(c, "; bound {}", num(Some(b), 2));
            }
            cells.push(c);
            per_setup.push((med(r), bound));
        }
        cells.push(verdict_across(&per_setup, target).label().to_owned());
        t.row(cells);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_are_variants() {
        let names: Vec<&str> = VARIANTS.iter().map(|v| v.name).collect();
        assert!(names.contains(&"redis-floor"));
        assert!(!names.contains(&"sesh"));
    }

    /// sesh-redis runs with room for the run; the default-bound row is
    /// the same server at the default bound, and no other variant is given one.
    #[test]
    fn bounds_are_named_and_passed() {
        let find = |name: &str| VARIANTS.iter().find(|v| v.name == name).copied();
        let roomy = find("sesh-redis").map(|v| (v.server, v.bound));
        assert_eq!(roomy, Some(("sesh-redis", Some(ROOMY_BOUND))));
        let bounded = find(BOUNDED).map(|v| (v.server, v.bound));
        assert_eq!(bounded, Some(("sesh-redis", Some(DEFAULT_BOUND))));
        assert!(
            VARIANTS
                .iter()
                .filter(|v| v.server != "sesh-redis")
                .all(|v| v.bound.is_none())
        );
        assert_eq!(grouped(10_000_000), "10,000,000");
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
    }
}
