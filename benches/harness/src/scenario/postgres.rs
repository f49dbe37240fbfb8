//! The PostgreSQL section: `sesh-postgres` against `tower-sessions-postgres`
//! on one throwaway cluster, under both load set-ups, with PostgreSQL's CPU
//! (the postmaster and all its children) per request.

use std::fmt::Write as _;

use super::{
    Backend, Runs, Scenario, Settings, Spec, Stored, details, log, rps, targets_table,
    throughput_run,
};
use crate::Error;
use crate::facts::{Facts, load_average};
use crate::report::{Table, med, num};
use crate::server::{Postgres, Server, postgres_bin};
use crate::stats::{Target, verdict_across};

const VARIANTS: [&str; 2] = ["sesh-postgres", "tower-sessions-postgres"];
const TARGET: f64 = 1.3;

/// Runs the section and returns its Markdown; `Ok(None)` when PostgreSQL is
/// not installed.
pub fn run(s: &Settings) -> Result<Option<String>, Error> {
    let Some(bin) = postgres_bin() else {
        log("==> postgres: skipped: PostgreSQL is not installed (/usr/lib/postgresql/*/bin)");
        return Ok(None);
    };
    let load_start = load_average();
    let pg = Postgres::start(&bin, &s.out.join("initdb.log"))?;
    log(&format!(
        "==> postgres: PostgreSQL {} on port {}",
        pg.version(),
        pg.port
    ));
    let bench = s.bin("bench-server");
    let mut runs = Runs::default();
    for round in 1..=s.rounds {
        log(&format!("==> postgres: round {round}/{}", s.rounds));
        for variant in super::rotated(&VARIANTS, round) {
            let args = vec!["--postgres".to_owned(), pg.url()];
            let start = || Server::bench(&bench, variant, &args, &s.out);
            for scenario in Scenario::ALL {
                for &setup in &s.setups {
                    let spec = Spec {
                        variant,
                        start: &start,
                        fake_cookies: false,
                        backend: Backend::Postgres(&pg),
                        stored: Stored::Unknown,
                    };
                    runs.0
                        .push(throughput_run(s, round, setup, scenario, &spec)?);
                }
            }
        }
    }
    let version = pg.version();
    drop(pg);
    Ok(Some(render(s, &runs, &version, &load_start)))
}

fn render(s: &Settings, runs: &Runs, version: &str, load_start: &str) -> String {
    let facts = Facts::read(&s.root);
    let mut md = String::from("## Stores: PostgreSQL\n\n");
    md.push_str(&facts.header(
        "bench postgres",
        &format!("; PostgreSQL {version}"),
        load_start,
        &load_average(),
    ));
    let _ = writeln!(
        md,
        "\nThe counter app (`bench-server`, a 2-worker tokio runtime on 127.0.0.1) on one \
         throwaway PostgreSQL cluster (initdb defaults: `fsync` and `synchronous_commit` on, so \
         every commit waits for its WAL flush), a fresh server and table per run. {}\n\n\
         `sesh-postgres`: sesh-tokio's `PostgresStore` (tokio-postgres, a deadpool pool of 8, \
         `PostgresConfig::new(url)` defaults: a write cache of 10,000 sessions); a returning \
         client's `Session::update` is one prepared `UPDATE … WHERE version = $expected` from the \
         cached copy. `tower-sessions-postgres`: tower-sessions 0.14 with \
         tower-sessions-sqlx-store 0.15 (sqlx, a pool of 8), `get` + `insert`, 30 min inactivity \
         expiry. PostgreSQL's CPU is the postmaster's and all its children's (backends, WAL \
         writer, checkpointer).\n",
        s.load_sentence()
    );
    let (a, b) = (VARIANTS[0], VARIANTS[1]);
    for &setup in &s.setups {
        let _ = writeln!(md, "### `{}`\n", setup.label());
        let mut t = Table::new(&[
            "scenario",
            "sesh req/s",
            "tower-sessions req/s",
            "sesh ÷ tower-sessions",
            "p50 sesh / tower-sessions (ms)",
            "p99 sesh / tower-sessions (ms)",
            "server µs/req sesh / tower-sessions",
            "PostgreSQL µs/req sesh / tower-sessions",
            "errors",
        ]);
        for sc in Scenario::ALL {
            let mut cells = runs.pair_cells(setup, sc, a, b);
            cells.extend([runs.errors(setup, sc, &VARIANTS).to_string()]);
            t.row(cells);
        }
        md.push_str(&t.render());
        md.push('\n');
    }
    let mut t = targets_table("target", &s.setups);
    let mut cells = vec![format!(
        "returning: sesh-postgres ≥ {TARGET} × tower-sessions-postgres (req/s)"
    )];
    let mut per_setup = Vec::new();
    for &setup in &s.setups {
        let r = runs.ratio(setup, Scenario::Returning, a, b, rps);
        cells.push(format!("{} ({})", num(med(r), 2), num(r.map(|r| r.min), 2)));
        per_setup.push((med(r), None));
    }
    cells.push(
        verdict_across(&per_setup, Target::at_least(TARGET))
            .label()
            .to_owned(),
    );
    t.row(cells);
    md.push_str(&t.render());
    md.push('\n');
    md.push_str(&details(
        "Raw runs",
        &runs.raw_table(Some("PostgreSQL µs/req")),
    ));
    md
}
