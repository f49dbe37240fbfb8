//! The processes a benchmark starts: the servers under test on
//! 127.0.0.1 on a free port, redis-server, PostgreSQL. Each is stopped when its
//! handle drops, also on error, so no run leaves a process behind. And what
//! /proc says about them: CPU time and resident set.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Error;

/// A child process, killed and reaped on drop.
#[derive(Debug)]
pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    /// Spawns `cmd`, stderr (and stdout unless the caller piped it) appended
    /// to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Process, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        cmd.stdin(Stdio::null()).stderr(file.try_clone()?);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Process {
            child,
            name: name.to_owned(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error when it has exited.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            Some(status) => Err(format!("{} exited ({status})", self.name).into()),
            None => Ok(()),
        }
    }

    /// Interrupts it (SIGINT, so wrk prints its summary) and waits up to
    /// `within` for it to exit; killed on drop otherwise.
    pub fn interrupt(&mut self, within: Duration) -> Result<(), Error> {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait()?.is_none() {
            if start.elapsed() > within {
                return Err(format!("{} did not stop at SIGINT", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Its stdout, when piped.
    fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server under test, listening on a loopback address.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub process: Process,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Polls `ready` every 20 ms for up to `within`, failing early when `process`
/// exits.
fn wait_for<T>(
    process: &mut Process,
    within: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        process.check_alive()?;
        if start.elapsed() > within {
            return Err(format!("{} did not get ready within {within:?}", process.name).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn loopback(addr: SocketAddr, name: &str) -> Result<SocketAddr, Error> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{name} gave a non-loopback address {addr}").into())
    }
}

impl Server {
    /// Starts `bench-server VARIANT ARGS…` on 127.0.0.1:0; it writes the
    /// address it got to a file in `dir`.
    pub fn bench(bin: &Path, variant: &str, args: &[String], dir: &Path) -> Result<Server, Error> {
        let addr_file = dir.join("addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = Command::new(bin);
        cmd.arg(variant)
            .args(["--addr", "127.0.0.1:0", "--addr-file"])
            .arg(&addr_file)
            .args(args)
            .stdout(Stdio::null());
        let name = format!("bench-server {variant}");
        let mut process = Process::spawn(&name, &mut cmd, &dir.join("server.log"))?;
        let addr = wait_for(&mut process, Duration::from_secs(30), || {
            std::fs::read_to_string(&addr_file)
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok())
        })?;
        let addr = loopback(addr, &name)?;
        Ok(Server { process, addr })
    }

    /// Starts the shipped `counter` example on 127.0.0.1:0 with `--store
    /// STORE`, then the `extra` flags, and the signing secret in its
    /// environment; it prints
    /// `counter listening on http://ADDR/`. Cookies go without `Secure` on
    /// loopback by default; `--insecure-cookies` says so explicitly.
    pub fn counter(bin: &Path, store: &str, extra: &[&str], dir: &Path) -> Result<Server, Error> {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--addr",
            "127.0.0.1:0",
            "--store",
            store,
            "--insecure-cookies",
        ])
        .args(extra)
        .env(
            "SESH_SECRET",
            "harness-secret-harness-secret-harness-secret",
        )
        .stdout(Stdio::piped());
        let name = format!("counter --store {store} {}", extra.join(" "));
        let name = name.trim_end();
        let log = dir.join("server.log");
        let mut process = Process::spawn(name, &mut cmd, &log)?;
        let stdout = process.take_stdout().ok_or("counter: no stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end (so the server never blocks on a full
        // pipe), copying it to the log and sending the address once.
        let mut log_file = std::fs::OpenOptions::new().append(true).open(&log)?;
        std::thread::spawn(move || {
            use std::io::Write;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log_file, "{line}");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
        });
        let addr = wait_for(&mut process, Duration::from_secs(30), || {
            rx.try_recv()
                .ok()
                .and_then(|a| a.parse::<SocketAddr>().ok())
        })?;
        let addr = loopback(addr, name)?;
        Ok(Server { process, addr })
    }
}

/// A free TCP port on 127.0.0.1 (for servers that cannot report theirs: it
/// may be taken again before they bind, so callers retry).
pub fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A redis-server of the harness's own on a free loopback port, no
/// persistence, in its own directory.
#[derive(Debug)]
pub struct Redis {
    process: Process,
    /// Its port.
    pub port: u16,
}

impl Redis {
    /// Starts one (retrying on a port taken meanwhile) and waits until it
    /// answers as this very process.
    pub fn start(dir: &Path) -> Result<Redis, Error> {
        let data = dir.join("redis");
        std::fs::create_dir_all(&data)?;
        let mut last = String::new();
        for _ in 0..10 {
            let port = free_port()?;
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args([
                    "--protected-mode",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&data)
                .stdout(Stdio::null());
            let mut process = Process::spawn("redis-server", &mut cmd, &dir.join("redis.log"))?;
            let pid = process.pid().to_string();
            let ready = wait_for(&mut process, Duration::from_secs(10), || {
                let info = redis_cli(port, &["info", "server"]).ok()?;
                info.lines()
                    .any(|l| l.trim() == format!("process_id:{pid}"))
                    .then_some(())
            });
            match ready {
                Ok(()) => return Ok(Redis { process, port }),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("could not start redis-server on a free loopback port: {last}").into())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Runs a redis-cli command against it.
    pub fn cli(&self, args: &[&str]) -> Result<String, Error> {
        redis_cli(self.port, args)
    }
}

fn redis_cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!("redis-cli {args:?} failed").into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

/// A throwaway PostgreSQL cluster (initdb defaults: fsync and
/// synchronous_commit on) on a free loopback port, stopped and removed on
/// drop.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Its port.
    pub port: u16,
}

/// Runs `cmd` as the postgres user when we are root (PostgreSQL refuses to
/// run as root).
fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The directory of PostgreSQL's server binaries, if installed.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

impl Postgres {
    /// Makes a cluster in a new directory under /tmp (the postgres user must
    /// reach it) and starts it.
    pub fn start(bin: &Path, log: &Path) -> Result<Postgres, Error> {
        let dir = std::env::temp_dir().join(format!("sesh-bench-pg.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut pg = Postgres {
            bin: bin.to_owned(),
            dir: dir.clone(),
            port: 0,
        };
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()?
                .success();
            if !ok {
                return Err("cannot chown the cluster directory to postgres".into());
            }
        }
        let log_file = std::fs::File::create(log)?;
        let ok = as_pg(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .status()?
            .success();
        if !ok {
            return Err(format!("initdb failed (see {})", log.display()).into());
        }
        for _ in 0..10 {
            let port = free_port()?;
            let ok = as_pg(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "30", "-o"])
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
                    dir.display()
                ))
                .arg("start")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?
                .success();
            if ok {
                pg.port = port;
                return Ok(pg);
            }
        }
        Err("could not start PostgreSQL on a free loopback port".into())
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// CPU ticks of the postmaster and all its children so far.
    pub fn ticks(&self) -> Result<u64, Error> {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))?;
        let pm: u32 = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("bad postmaster.pid")?;
        let mut total = cpu_ticks(pm)?;
        for child in children(pm) {
            total = total.saturating_add(cpu_ticks(child).unwrap_or(0));
        }
        Ok(total)
    }

    /// `postgres --version`'s number.
    pub fn version(&self) -> String {
        Command::new(self.bin.join("postgres"))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                // postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .nth(2)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.dir.join("data/postmaster.pid").exists() {
            let _ = as_pg(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| stat_fields(&s).and_then(|f| f.get(1).and_then(|x| x.parse().ok())))
                == Some(pid)
        })
        .collect()
}

/// The fields of /proc/PID/stat after the command name (which may hold
/// spaces): state, ppid, ...
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(") ")?;
    Some(rest.split_whitespace().collect())
}

/// User + system CPU time of `pid` so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_ticks(&stat).ok_or_else(|| format!("bad /proc/{pid}/stat").into())
}

/// utime + stime (fields 14 and 15) of a /proc/PID/stat line.
pub fn parse_ticks(stat: &str) -> Option<u64> {
    let f = stat_fields(stat)?;
    let user: u64 = f.get(11)?.parse().ok()?;
    let system: u64 = f.get(12)?.parse().ok()?;
    user.checked_add(system)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when it cannot say).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Nanoseconds of CPU per request for `ticks` over `requests`.
#[allow(
    clippy::cast_precision_loss,
    reason = "tick and request counts fit an f64"
)]
pub fn ns_per_request(ticks: u64, hz: u64, requests: u64) -> Option<f64> {
    (requests > 0 && hz > 0).then(|| ticks as f64 / hz as f64 * 1e9 / requests as f64)
}

/// The resident set of `pid`, kB (VmRSS).
pub fn vm_rss_kb(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("no VmRSS for {pid}").into())
}

/// The VmRSS line of a /proc/PID/status text, kB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat =
            "1234 (bench server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_ticks(stat), Some(300));
        assert_eq!(stat_fields(stat).unwrap().get(1), Some(&"1"));
        assert_eq!(parse_ticks("garbage"), None);
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t   4904 kB\n"), Some(4904));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(ns_per_request(100, 100, 1000), Some(1e6));
        assert_eq!(ns_per_request(100, 100, 0), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(vm_rss_kb(me).unwrap() > 0);
        cpu_ticks(me).unwrap();
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn a_dropped_process_is_gone() {
        let dir = std::env::temp_dir().join(format!("sesh-harness-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30").stdout(Stdio::null());
        let mut p = Process::spawn("sleep", &mut cmd, &dir.join("log")).unwrap();
        let pid = p.pid();
        p.check_alive().unwrap();
        drop(p);
        // Reaped: no /proc entry (not even a zombie).
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
