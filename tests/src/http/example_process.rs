//! An example binary (`counter`, `login`) as a real process for tests:
//! started on `127.0.0.1:0`, its address read from the line it prints once
//! its store is open, killed and reaped on drop (printing its log when the
//! test is failing).
// A process that fails to start fails its #[test] by panicking, with its log.
#![allow(clippy::panic, clippy::expect_used)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use std::{eprintln, format};

/// The environment variable the examples read their secret from.
pub const SECRET_ENV: &str = "SESH_SECRET";

/// How long an example may take to open its store and start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);

/// A running example process, killed and reaped on drop.
#[derive(Debug)]
pub struct ExampleProcess {
    name: &'static str,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl ExampleProcess {
    /// Starts `bin --addr 127.0.0.1:0 ARGS` in `dir` with `secret` in
    /// [`SECRET_ENV`] (or none), its stderr in a log file in `dir`, and
    /// waits until it prints `<name> listening on http://ADDR/`, which the
    /// examples do after opening their store. Panics (with the log) if it
    /// does not within [`START_TIMEOUT`].
    pub fn start(
        name: &'static str,
        bin: &str,
        dir: &Path,
        args: &[&str],
        secret: Option<&str>,
    ) -> ExampleProcess {
        let log = dir.join(format!(
            "{name}-{}.log",
            NEXT_LOG.fetch_add(1, Ordering::Relaxed)
        ));
        let mut command = Command::new(bin);
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir)
            .env_remove(SECRET_ENV)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("a log file in the test directory"));
        if let Some(secret) = secret {
            command.env(SECRET_ENV, secret);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        // Guarded from here on.
        let mut process = ExampleProcess {
            name,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let stdout = process.child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Drain until the process exits.
            lines.for_each(drop);
        });
        let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|e| {
            panic!(
                "{name} {args:?} did not report its address ({e}); log:\n{}",
                process.log_text()
            )
        });
        let prefix = format!("{name} listening on http://");
        process.addr = line
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        process
    }

    /// The process itself, for signals and exit checks.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// What it wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `SIGKILL`, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Panics unless the process still runs and has logged no panic.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited ({status}); log:\n{}", self.name, self.log_text());
        }
        let log = self.log_text();
        assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- log of {} on {} ---\n{}",
                self.name,
                self.addr,
                self.log_text()
            );
        }
    }
}
