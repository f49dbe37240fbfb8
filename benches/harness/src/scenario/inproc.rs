//! The in-process benches of benches/http (no sockets, thread CPU time): each
//! bin prints Markdown on stdout, which goes between its own markers. A bin
//! that is not built is skipped with a note.

use std::process::{Command, Stdio};

use super::{Settings, log};
use crate::Error;
use crate::facts::{Facts, load_average};
use crate::report::Place;

/// One in-process bench.
#[derive(Debug, Clone, Copy)]
pub struct Bin {
    /// The bin's name, also its section's marker name.
    pub name: &'static str,
    /// The section's heading.
    pub heading: &'static str,
    /// One sentence on what it measures.
    pub about: &'static str,
    /// Where its markers go when BENCHMARKS.md has none yet.
    pub place: &'static str,
    /// Whether `place` is the line the section goes after (else before).
    pub after: bool,
}

/// The in-process benches, in `bench all` order.
pub const BINS: [Bin; 5] = [
    Bin {
        name: "layer-cost",
        heading: "## Session layer cost in process (layer-cost)",
        about: "The same requests to the HTTP section's three apps in process, through \
                `tower::ServiceExt::oneshot` on one thread: no socket, no HTTP parsing, no wrk. \
                Time is the thread's CPU time; *added* is the variant's cost minus bare's.",
        place: "<!-- bench:counter:end -->",
        after: true,
    },
    Bin {
        name: "scale",
        heading: "## Cost at scale (scale)",
        about: "Per-request cost with 10³, 10⁵ and 10⁶ sessions already stored, on the memory \
                store, redb and Redis, for 32 returning clients (the issue's set-up) and for any \
                stored session (the worst case), beside a bare lookup's floor; the longest wait \
                during a sweep; memory per session at 10⁶ (issue 19).",
        place: "<!-- bench:postgres:end -->",
        after: true,
    },
    Bin {
        name: "owner-cost",
        heading: "### Generated: owner-cost",
        about: "What the owner index costs (issue 16): revoke-all time and per-request cost \
                with and without an owner.",
        place: "## Sweeping the memory store (issue 19)",
        after: false,
    },
    Bin {
        name: "sweep-stall",
        heading: "### Generated: sweep-stall",
        about: "How long a request waits while the sweeper purges the memory store.",
        place: "<!-- bench:firmware:start -->",
        after: false,
    },
    Bin {
        name: "store-memory",
        heading: "## Memory per stored session, in process (store-memory)",
        about: "Memory per stored session of the memory store, in process (8 data bytes each).",
        place: "<!-- bench:sweep-stall:end -->",
        after: true,
    },
];

impl Bin {
    /// The bin named `name`.
    pub fn named(name: &str) -> Option<Bin> {
        BINS.iter().copied().find(|b| b.name == name)
    }

    /// Where its markers go.
    pub fn placement(&self) -> Place {
        if self.after {
            Place::After(self.place.to_owned())
        } else {
            Place::Before(self.place.to_owned())
        }
    }

    /// Its arguments under the settings: rounds where it takes them.
    pub fn args(&self, s: &Settings) -> Vec<String> {
        match self.name {
            "layer-cost" => vec![s.rounds.to_string(), "200000".into()],
            "owner-cost" => vec![s.rounds.to_string(), "1000000".into(), "20000".into()],
            "sweep-stall" => vec![s.rounds.to_string(), "1000000".into()],
            "scale" => vec!["--rounds".into(), s.rounds.to_string()],
            _ => Vec::new(),
        }
    }
}

/// Runs `bin` if it is built; `Ok(None)` (with a note on stderr) if not.
pub fn run(s: &Settings, bin: Bin) -> Result<Option<String>, Error> {
    let path = s.bin(bin.name);
    if !path.exists() {
        log(&format!(
            "==> {}: not built ({} is missing): skipped",
            bin.name,
            path.display()
        ));
        return Ok(None);
    }
    let args = bin.args(s);
    log(&format!("==> {} {}", bin.name, args.join(" ")));
    let load_start = load_average();
    let out = Command::new(&path)
        .args(&args)
        .current_dir(&s.root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.name))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", bin.name, out.status).into());
    }
    let facts = Facts::read(&s.root);
    let mut md = format!("{}\n\n", bin.heading);
    md.push_str(&facts.header(
        &format!("bench {}", bin.name),
        "",
        &load_start,
        &load_average(),
    ));
    let command: Vec<&str> = std::iter::once(bin.name)
        .chain(args.iter().map(String::as_str))
        .collect();
    md.push_str(&format!(
        "\n`{}` (benches/http, release). {}\n\n",
        command.join(" "),
        bin.about
    ));
    md.push_str(String::from_utf8_lossy(&out.stdout).trim_end());
    md.push('\n');
    Ok(Some(md))
}
