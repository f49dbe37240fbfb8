//! A throwaway PostgreSQL for tests: `initdb` into a new directory, the
//! server on a free loopback port, stopped and the directory removed on drop.
//!
//! Root may not run PostgreSQL: as root, the cluster belongs to the
//! `postgres` user (Debian's `postgresql` package makes it) and the server
//! runs as that user.

use std::format;
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use std::vec::Vec;

use super::example_process::send_signal;

/// A PostgreSQL server on `127.0.0.1` with its own cluster directory,
/// trusting every local connection as `postgres`. It can be killed and
/// started again on the same port and data, to test outages.
#[derive(Debug)]
pub struct PostgresServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// `(uid, gid)` of `postgres` when running as root.
    user: Option<(u32, u32)>,
}

/// The server [`PostgresServer::shared`] hands out while a test holds it.
static SHARED: Mutex<Weak<PostgresServer>> = Mutex::new(Weak::new());

/// Numbers the clusters and tables of this process.
static NEXT: AtomicUsize = AtomicUsize::new(0);

impl PostgresServer {
    /// Makes a cluster in a new directory and starts the server on a free
    /// port (the test script installs Debian's `postgresql`).
    pub fn start() -> io::Result<Self> {
        let bin = bin_dir()?;
        let user = postgres_user()?;
        let dir = std::env::temp_dir().join(format!(
            "sesh-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = PostgresServer {
            child: None,
            port,
            dir,
            bin,
            user,
        };
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&server.dir, Some(uid), Some(gid))?;
        }
        let data = server.data();
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        server.start_again()?;
        Ok(server)
    }

    /// A server shared by the tests of this process that run at the same
    /// time: started by the first, stopped when the last drops it. Give
    /// each test its own table ([`table`](Self::table)).
    pub fn shared() -> io::Result<Arc<PostgresServer>> {
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = shared.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(PostgresServer::start()?);
        *shared = Arc::downgrade(&server);
        Ok(server)
    }

    /// A table name no other test of this process uses.
    pub fn table(prefix: &str) -> String {
        format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The URL of database `postgres` as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and every backend (SIGKILL), as a crash would:
    /// open connections drop at once. Its data stays, and
    /// [`start_again`](Self::start_again) recovers it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Backends outlive a killed postmaster for a moment, serving
            // their connections: kill them too.
            let _ = signal_all(child.id(), "KILL");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the server and every process
    /// it started (backends, WAL writer, …): `STOP` hangs the database
    /// without closing a connection.
    pub fn signal(&self, signal: &str) -> io::Result<()> {
        let child = self.child.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "postgres is not running")
        })?;
        signal_all(child.id(), signal)
    }

    /// Stops the server as an administrator restarting it would (fast
    /// shutdown: sessions are disconnected, committed data kept).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "INT");
            for _ in 0..500 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data, and waits until
    /// it accepts connections.
    pub fn start_again(&mut self) -> io::Result<()> {
        self.stop();
        let data = self.data();
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(self.dir.join("server.log"), Some(uid), Some(gid))?;
        }
        let mut last = None;
        // A killed server's backends may hold the port for a moment.
        for _ in 0..50 {
            let mut child = self
                .command("postgres")
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-k")
                .arg(&self.dir)
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.try_clone()?)
                .spawn()
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "postgres does not start ({e}); `bash scripts/test.sh` installs it \
                             (Debian package postgresql)"
                        ),
                    )
                })?;
            for _ in 0..1000 {
                if let Some(status) = child.try_wait()? {
                    last = Some(status);
                    break;
                }
                if self.ready() {
                    self.child = Some(child);
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if last.is_none() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "postgres did not start",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(io::Error::other(format!(
            "postgres exited ({last:?}): {log}"
        )))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A command of the server's bin directory, run as `postgres` when we
    /// are root.
    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.bin.join(program));
        // A group of its own: a Ctrl-C of the test run goes to the test
        // process, which stops the server on drop.
        command.process_group(0);
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid).env("HOME", &self.dir);
        }
        command.current_dir(&self.dir);
        command
    }

    /// Whether the server accepts connections (`pg_isready`).
    fn ready(&self) -> bool {
        self.command("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `signal` to the postmaster `pid` and to its children (each
/// backend makes itself a process group leader, so a group signal misses
/// them). The postmaster first, so that it starts no child meanwhile,
/// unless the signal is `CONT`.
fn signal_all(pid: u32, signal: &str) -> io::Result<()> {
    let send = |pid: u32| -> io::Result<bool> {
        Ok(Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .stderr(Stdio::null())
            .status()?
            .success())
    };
    let children = children_of(pid);
    if signal == "CONT" {
        for child in &children {
            send(*child)?;
        }
        send(pid)?;
    } else {
        send(pid)?;
        for child in children_of(pid).iter().chain(&children) {
            send(*child)?;
        }
    }
    Ok(())
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces, not ')'.
            let after = stat.rsplit_once(')')?.1;
            let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// The directory of `postgres`, `initdb` and `pg_isready`: where
/// `postgres` is on `PATH`, else Debian's newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> io::Result<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| {
            dir.join("postgres").is_file()
                && dir.join("initdb").is_file()
                && dir.join("pg_isready").is_file()
        })
    });
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                "no PostgreSQL server found; `bash scripts/test.sh` installs it (Debian package \
                 postgresql)",
            )
        })?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| io::Error::other("no /usr/lib/postgresql/*/bin/initdb"))
}

/// `postgres`'s ids when we are root (PostgreSQL refuses to run as root).
fn postgres_user() -> io::Result<Option<(u32, u32)>> {
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    Ok(Some((id(&["-u", "postgres"])?, id(&["-g", "postgres"])?)))
}

fn id(args: &[&str]) -> io::Result<u32> {
    let out = Command::new("id").args(args).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|_| {
        io::Error::other(format!(
            "`id {}` answered {text:?}: as root, tests run PostgreSQL as the postgres user",
            args.join(" ")
        ))
    })
}
