//! The shipped `counter` example (examples/counter, as users run it) against
//! bare axum and tower-sessions in the same run: req/s ÷ bare and server CPU
//! per request ÷ bare, returning clients and new visitors, on the memory
//! store and on Redis, under both load set-ups, with issue 19's targets.
//!
//! sesh's stores are bounded (100,000 sessions by default) and tower-sessions'
//! are not: a new-visitor run at ~40k req/s fills the default bound within
//! seconds and then evicts on every create. `counter-memory-room` gives the
//! counter room for the whole run, for new visitors only (returning clients
//! never reach the bound), so both comparisons are shown.
//!
//! `floor-layer` (`bench-server floor-layer`, benches/http/src/floor.rs) is
//! the floor under the counter: a hand-written layer doing only what a
//! session library cannot skip, with sesh's primitives and the same room.
//! Its new-visitor CPU ÷ bare, and the counter with room ÷ it, are printed
//! under the targets: how much of the target the floor itself takes.

use std::fmt::Write as _;

use super::{
    Backend, Runs, Scenario, Settings, Spec, Stored, db_ns, details, log, p99, ratio_cell, rps,
    server_ns, targets_table, throughput_run, us_cell,
};
use crate::Error;
use crate::facts::{Facts, load_average, output};
use crate::report::{Table, med, num};
use crate::server::{Redis, Server};
use crate::stats::{Direction, Target, verdict_across};

/// The counter with room: `--max-sessions` far above the sessions a run
/// makes (~40k req/s for warm-up and run: well under 10⁶), so that, like
/// tower-sessions' unbounded stores, it never evicts.
const ROOM: &str = "counter-memory-room";
const ROOM_MAX_SESSIONS: &str = "10000000";

/// The composed floor, with the room of [`ROOM`].
const FLOOR: &str = "floor-layer";

/// Whether `variant` runs `scenario`: the counter with room only for new
/// visitors, the only ones that could reach the default bound.
fn measured(variant: &str, scenario: Scenario) -> bool {
    variant != ROOM || scenario == Scenario::New
}

/// (variant, what it is, the most sessions it stores) in report order.
const MEMORY_ROWS: [(&str, &str, &str); 5] = [
    ("bare", "bare axum (`bench-server bare`)", "no sessions"),
    (
        "counter-memory",
        "sesh `counter --store memory`",
        "100,000 (the default); once full, new sessions evict the least recently used",
    ),
    (
        ROOM,
        "sesh `counter --store memory --max-sessions 10000000`",
        "10,000,000: not reached in a run",
    ),
    (
        FLOOR,
        "the floor: `bench-server floor-layer --max-sessions 10000000`, a hand-written layer \
         doing only what a session needs, with sesh's primitives (benches/http/src/floor.rs)",
        "10,000,000: not reached in a run",
    ),
    (
        "tower-sessions",
        "tower-sessions 0.15 `MemoryStore` (`bench-server tower-sessions`)",
        "no bound",
    ),
];
const REDIS_ROWS: [(&str, &str, &str); 2] = [
    (
        "counter-redis",
        "sesh `counter --store redis://…`",
        "100,000 (the default); once full, new sessions evict the least recently used",
    ),
    (
        "tower-sessions-redis",
        "tower-sessions-redis (`bench-server tower-sessions-redis`)",
        "no bound (Redis's memory)",
    ),
];

/// The variants the targets are checked on: (variant, label).
const TARGET_VARIANTS: [(&str, &str); 2] = [
    (
        "counter-memory",
        "`counter --store memory` (the default bound, 100,000)",
    ),
    (
        ROOM,
        "with room: `--max-sessions 10000000` (new visitors only)",
    ),
];

/// The issue's targets for the counter on the memory store.
const TARGETS: [(Scenario, &str, Target); 4] = [
    (
        Scenario::Returning,
        "req/s",
        Target {
            direction: Direction::AtLeast,
            value: 0.90,
        },
    ),
    (
        Scenario::Returning,
        "CPU",
        Target {
            direction: Direction::AtMost,
            value: 1.10,
        },
    ),
    (
        Scenario::New,
        "req/s",
        Target {
            direction: Direction::AtLeast,
            value: 0.85,
        },
    ),
    (
        Scenario::New,
        "CPU",
        Target {
            direction: Direction::AtMost,
            value: 1.20,
        },
    ),
];

/// Runs the section and returns its Markdown.
pub fn run(s: &Settings) -> Result<String, Error> {
    let s = &Settings {
        rounds: s.counter_rounds,
        ..s.clone()
    };
    let load_start = load_average();
    let with_redis = output("redis-server", &["--version"], &s.root).is_some();
    if !with_redis {
        log("==> counter: redis-server is missing: the Redis rows are left out");
    }
    let mut runs = Runs::default();
    let bench = s.bin("bench-server");
    let counter = s.bin("counter");
    if !counter.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p counter",
            counter.display()
        )
        .into());
    }
    let mut variants: Vec<&str> = MEMORY_ROWS.iter().map(|(v, ..)| *v).collect();
    if with_redis {
        variants.extend(REDIS_ROWS.iter().map(|(v, ..)| *v));
    }
    let mut redis_version = String::new();
    for round in 1..=s.rounds {
        log(&format!("==> counter: round {round}/{}", s.rounds));
        let redis = if with_redis {
            Some(Redis::start(&s.out)?)
        } else {
            None
        };
        if let Some(r) = &redis {
            redis_version = r
                .cli(&["info", "server"])?
                .lines()
                .find_map(|l| l.strip_prefix("redis_version:").map(str::to_owned))
                .unwrap_or_default();
        }
        for scenario in Scenario::ALL {
            for &setup in &s.setups {
                for variant in bracketed(&variants, scenario, round) {
                    let bins = (counter.as_path(), bench.as_path());
                    runs.0.push(one_run(
                        s,
                        (round, setup, scenario),
                        variant,
                        redis.as_ref(),
                        bins,
                    )?);
                }
            }
        }
    }
    Ok(render(s, &runs, with_redis, &redis_version, &load_start))
}

/// One cell's order in a round: bare, the other variants (rotated), bare
/// again. Each variant's ratio is then to the mean of two bare runs at most
/// a cell apart, not to one run minutes away: this machine's speed drifts
/// by 20 % between rounds.
fn bracketed<'a>(variants: &[&'a str], scenario: Scenario, round: u32) -> Vec<&'a str> {
    let others: Vec<&str> = variants
        .iter()
        .copied()
        .filter(|&v| v != "bare" && measured(v, scenario))
        .collect();
    let mut order = vec!["bare"];
    order.extend(super::rotated(&others, round));
    order.push("bare");
    order
}

/// One measured run of `variant` on a fresh server.
fn one_run(
    s: &Settings,
    (round, setup, scenario): (u32, crate::load::Setup, Scenario),
    variant: &str,
    redis: Option<&Redis>,
    (counter, bench): (&std::path::Path, &std::path::Path),
) -> Result<super::Run, Error> {
    let url = redis.map(Redis::url).unwrap_or_default();
    let out = s.out.clone();
    let start = || -> Result<Server, Error> {
        match variant {
            "counter-memory" => Server::counter(counter, "memory", &[], &out),
            ROOM => Server::counter(
                counter,
                "memory",
                &["--max-sessions", ROOM_MAX_SESSIONS],
                &out,
            ),
            FLOOR => Server::bench(
                bench,
                variant,
                &["--max-sessions".to_owned(), ROOM_MAX_SESSIONS.to_owned()],
                &out,
            ),
            "counter-redis" => Server::counter(counter, &url, &[], &out),
            "tower-sessions-redis" => {
                Server::bench(bench, variant, &["--redis".to_owned(), url.clone()], &out)
            }
            _ => Server::bench(bench, variant, &[], &out),
        }
    };
    let on_redis = variant.ends_with("-redis");
    let backend = match (redis, on_redis) {
        (Some(r), true) => Backend::Redis(r),
        _ => Backend::None,
    };
    let spec = Spec {
        variant,
        start: &start,
        fake_cookies: variant == "bare",
        backend,
        stored: if on_redis {
            Stored::Dbsize
        } else {
            Stored::Unknown
        },
    };
    throughput_run(s, round, setup, scenario, &spec)
}

fn render(
    s: &Settings,
    runs: &Runs,
    with_redis: bool,
    redis_version: &str,
    load_start: &str,
) -> String {
    let facts = Facts::read(&s.root);
    let mut md = String::new();
    md.push_str("## The shipped counter against bare axum (issue 19)\n\n");
    let extra = if with_redis {
        format!("; redis-server {redis_version}")
    } else {
        String::new()
    };
    md.push_str(&facts.header("bench counter", &extra, load_start, &load_average()));
    let _ = writeln!(
        md,
        "\nThe `counter` example as it ships (`cargo build --release -p counter`; `--addr \
         127.0.0.1:0 --insecure-cookies`, the secret from `SESH_SECRET`, default logging), beside \
         `bench-server`'s bare axum app and tower-sessions in the same run. {} Within a round, \
         each load set-up and scenario runs bare first and last with the other variants between \
         them, and each ratio is to the mean of those two bare runs (this machine's speed drifts \
         between rounds more than the targets' margins).{}\n",
        s.load_sentence(),
        if with_redis {
            " One redis-server per round on a free loopback port, no persistence, emptied before \
             every run; its CPU time per request is given apart."
        } else {
            " redis-server was missing: no Redis rows."
        }
    );
    let _ = writeln!(
        md,
        "*at most*: the most sessions each variant stores. sesh's stores are bounded (100,000 by \
         default, `--max-sessions N`), tower-sessions' are not: new visitors at tens of \
         thousands a second fill the default bound within seconds, and from then on new sessions \
         evict the least recently used ones (the memory store a sixteenth of a shard at a time). `{ROOM}` (`--max-sessions \
         {ROOM_MAX_SESSIONS}`, new visitors only) never evicts, as tower-sessions never does: \
         the like-for-like comparison. The Redis counter has no such variant: its new-visitor \
         rows reach the bound too (see the sessions at the end in the raw runs).\n"
    );
    let mut rows: Vec<(&str, &str, &str)> = MEMORY_ROWS.to_vec();
    if with_redis {
        rows.extend(REDIS_ROWS);
    }
    for &setup in &s.setups {
        let _ = writeln!(md, "### `{}`\n", setup.label());
        let mut t = Table::new(&[
            "variant",
            "at most",
            "scenario",
            "req/s",
            "req/s ÷ bare",
            "server µs/req",
            "server CPU per request ÷ bare",
            "Redis µs/req",
            "p99 (ms)",
            "errors",
        ])
        .left(1)
        .left(2);
        for sc in Scenario::ALL {
            for (v, what, bound) in rows.iter().filter(|(v, ..)| measured(v, sc)) {
                t.row(vec![
                    (*what).to_owned(),
                    (*bound).to_owned(),
                    sc.name().to_owned(),
                    num(med(runs.summary(setup, sc, v, rps)), 0),
                    if *v == "bare" {
                        "1".to_owned()
                    } else {
                        ratio_cell(runs.ratio(setup, sc, v, "bare", rps))
                    },
                    us_cell(runs.summary(setup, sc, v, server_ns)),
                    if *v == "bare" {
                        "1".to_owned()
                    } else {
                        ratio_cell(runs.ratio(setup, sc, v, "bare", server_ns))
                    },
                    us_cell(runs.summary(setup, sc, v, db_ns)),
                    num(med(runs.summary(setup, sc, v, p99)).map(|x| x / 1000.0), 2),
                    runs.errors(setup, sc, &[v]).to_string(),
                ]);
            }
        }
        md.push_str(&t.render());
        md.push('\n');
    }
    md.push_str(&targets(s, runs));
    md.push('\n');
    md.push_str(&floor_line(&s.setups, runs));
    md.push('\n');
    md.push_str(&details("Raw runs", &runs.raw_table(Some("Redis µs/req"))));
    md
}

fn targets(s: &Settings, runs: &Runs) -> String {
    let mut t = targets_table("target", &s.setups);
    for (variant, label) in TARGET_VARIANTS {
        for (sc, what, target) in TARGETS
            .into_iter()
            .filter(|(sc, ..)| measured(variant, *sc))
        {
            let mut cells = vec![format!(
                "{label}, {}: {} ÷ bare {}",
                sc.name(),
                if what == "CPU" {
                    "server CPU per request"
                } else {
                    "req/s"
                },
                target.describe()
            )];
            let mut per_setup = Vec::new();
            for &setup in &s.setups {
                let r = if what == "CPU" {
                    runs.ratio(setup, sc, variant, "bare", server_ns)
                } else {
                    runs.ratio(setup, sc, variant, "bare", rps)
                };
                let worst = r.map(|r| match target.direction {
                    Direction::AtLeast => r.min,
                    Direction::AtMost => r.max,
                });
                cells.push(format!("{} ({})", num(med(r), 2), num(worst, 2)));
                per_setup.push((med(r), None));
            }
            cells.push(verdict_across(&per_setup, target).label().to_owned());
            t.row(cells);
        }
    }
    let mut md = String::from(
        "Issue 19's targets for the shipped counter: met only when met under every load set-up. \
         The issue's verdict is on the default bound; the same ratios with room follow.\n\n",
    );
    md.push_str(&t.render());
    md
}

/// The line under the targets: per load set-up, the new-visitor CPU of the
/// floor ÷ bare and of the counter with room ÷ the floor (per-round ratios).
fn floor_line(setups: &[crate::load::Setup], runs: &Runs) -> String {
    let cells: Vec<String> = setups
        .iter()
        .map(|&setup| {
            let ratio =
                |num, den| ratio_cell(runs.ratio(setup, Scenario::New, num, den, server_ns));
            format!(
                "`{}`: `{FLOOR}` ÷ bare {}, `{ROOM}` ÷ `{FLOOR}` {}",
                setup.label(),
                ratio(FLOOR, "bare"),
                ratio(ROOM, FLOOR),
            )
        })
        .collect();
    format!(
        "The floor under the new-visitor CPU target: `{FLOOR}` makes each new visitor's session \
         with sesh's primitives and nothing else (an id from `OsRandom`, one create in a \
         `MemoryStore` with the same room, the signed cookie, sesh's `Set-Cookie`, \
         `Cache-Control: no-store`, `Vary: Cookie`). Server CPU per request, new visitors, \
         per-round ratios, median (min–max): {}.\n",
        cells.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Setup, WrkResult};
    use crate::scenario::Run;

    /// The rows name the stores' default bound in words: they must follow it.
    #[test]
    fn the_default_bound_in_the_rows_is_sesh_tokios() {
        assert_eq!(sesh_tokio::store::DEFAULT_MAX_SESSIONS, 100_000);
        assert!(MEMORY_ROWS[1].2.starts_with("100,000 (the default)"));
        assert!(REDIS_ROWS[0].2.starts_with("100,000 (the default)"));
    }

    #[test]
    fn targets_are_the_issues() {
        assert_eq!(TARGETS.len(), 4);
        assert!(
            TARGETS
                .iter()
                .any(|(s, w, t)| *s == Scenario::New && *w == "CPU" && t.describe() == "≤ 1.2")
        );
    }

    #[test]
    fn each_cell_is_bracketed_by_bare() {
        let variants = ["bare", "counter-memory", ROOM, "tower-sessions"];
        assert_eq!(
            bracketed(&variants, Scenario::Returning, 1),
            ["bare", "counter-memory", "tower-sessions", "bare"]
        );
        assert_eq!(
            bracketed(&variants, Scenario::New, 2),
            ["bare", ROOM, "tower-sessions", "counter-memory", "bare"]
        );
    }

    fn run(round: u32, setup: Setup, variant: &str, server_ns: f64) -> Run {
        Run {
            round,
            setup,
            scenario: Scenario::New,
            variant: variant.to_owned(),
            wrk: WrkResult::default(),
            server_ns: Some(server_ns),
            db_ns: None,
            sessions_after: None,
            commands: Vec::new(),
        }
    }

    /// The floor runs both scenarios with the room of the counter with
    /// room, is no target, and its line gives per-round ratios per set-up:
    /// to the mean of the two bare runs of its round, and the counter with
    /// room to it.
    #[test]
    fn the_floor_line_pairs_rounds() {
        assert!(measured(FLOOR, Scenario::Returning) && measured(FLOOR, Scenario::New));
        assert!(TARGET_VARIANTS.iter().all(|(v, _)| *v != FLOOR));
        let row = MEMORY_ROWS.iter().find(|(v, ..)| *v == FLOOR);
        assert!(
            row.is_some_and(|(_, what, bound)| what.contains(ROOM_MAX_SESSIONS)
                && *bound == "10,000,000: not reached in a run")
        );
        let t32 = Setup::PerConnection;
        let runs = Runs(vec![
            run(1, t32, "bare", 900.0),
            run(1, t32, FLOOR, 1100.0),
            run(1, t32, ROOM, 1320.0),
            run(1, t32, "bare", 1100.0),
            run(2, t32, "bare", 1000.0),
            run(2, t32, FLOOR, 1200.0),
            run(2, t32, ROOM, 1200.0),
            run(2, t32, "bare", 1000.0),
        ]);
        let line = floor_line(&[t32, Setup::Shared], &runs);
        assert!(
            line.contains("`wrk -t32 -c32`: `floor-layer` ÷ bare 1.15 (1.10–1.20), `counter-memory-room` ÷ `floor-layer` 1.10 (1.00–1.20)"),
            "{line}"
        );
        // A set-up with no runs says so rather than printing a number.
        assert!(
            line.contains("`wrk -t2 -c32`: `floor-layer` ÷ bare -"),
            "{line}"
        );
    }

    #[test]
    fn room_runs_new_visitors_only() {
        assert!(measured(ROOM, Scenario::New));
        assert!(!measured(ROOM, Scenario::Returning));
        for (v, ..) in MEMORY_ROWS.iter().chain(&REDIS_ROWS) {
            assert!(measured(v, Scenario::New), "{v}");
        }
        assert!(measured("counter-memory", Scenario::Returning));
        // The default variant keeps the issue's four targets, room its two new-visitor ones.
        let checked: usize = TARGET_VARIANTS
            .iter()
            .map(|(v, _)| TARGETS.iter().filter(|(sc, ..)| measured(v, *sc)).count())
            .sum();
        assert_eq!(checked, 6);
        // Room for far more sessions than a run makes, as the labels say.
        let room = MEMORY_ROWS.iter().find(|(v, ..)| *v == ROOM);
        assert!(room.is_some_and(|(_, what, _)| what.contains(ROOM_MAX_SESSIONS)));
        assert!(TARGET_VARIANTS[1].1.contains(ROOM_MAX_SESSIONS));
        assert!(
            ROOM_MAX_SESSIONS
                .parse::<u64>()
                .is_ok_and(|n| n >= 1_000_000)
        );
    }
}
