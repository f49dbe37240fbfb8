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
use std::process::{Child, Command, ExitStatus, Stdio};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
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

    /// Sends `SIGINT` (Ctrl-C) and waits (up to 10 s) for the exit.
    pub fn interrupt(&mut self) -> ExitStatus {
        send_signal(self.child.id(), "INT");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 10 s after SIGINT");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `bin ARGS` in `dir` to completion (for flags that make it
    /// exit), with [`SECRET_ENV`] removed and then `env` set (a `None`
    /// value removes the variable). Answers the status, stdout and stderr.
    pub fn run_to_exit(
        bin: &str,
        dir: &Path,
        args: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> (ExitStatus, String, String) {
        let mut command = Command::new(bin);
        command
            .args(args)
            .current_dir(dir)
            .env_remove(SECRET_ENV)
            .stdin(Stdio::null());
        for (name, value) in env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("{bin} does not run: {e}"));
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
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

/// Sends `signal` (`INT`, `STOP`, …) to process `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    assert!(sent.success(), "kill -{signal} {pid}: {sent}");
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
