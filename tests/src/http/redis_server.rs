//! A real redis-server for tests: started on a free loopback port, stopped on drop.

use std::borrow::ToOwned;
use std::format;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use super::example_process::send_signal;

/// A redis-server process on `127.0.0.1`, without persistence unless
/// started [durable](Self::start_durable). It can be stopped and started
/// again on the same port, to test outages.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    config: Vec<String>,
}

impl RedisServer {
    /// Starts redis-server on a free port (the test script installs it).
    pub fn start() -> io::Result<Self> {
        RedisServer::start_with(&[])
    }

    /// Starts redis-server with more settings, as command-line arguments
    /// (`["--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru"]`).
    pub fn start_with(config: &[&str]) -> io::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = config.iter().map(|s| (*s).to_owned()).collect();
        let mut server = RedisServer {
            child: None,
            port,
            config,
        };
        server.start_again()?;
        Ok(server)
    }

    /// Starts redis-server with an append-only file in `dir`, fsynced on
    /// every write: killed and started again, it has every acknowledged
    /// write back.
    pub fn start_durable(dir: &Path) -> io::Result<Self> {
        let dir = dir
            .to_str()
            .ok_or_else(|| io::Error::other("a UTF-8 path"))?;
        let durable = [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            dir,
        ];
        RedisServer::start_with(&durable)
    }

    /// The URL of database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL), as a crash or an outage would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the running server.
    pub fn signal(&self, signal: &str) -> io::Result<()> {
        let child = self.child.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "redis-server is not running")
        })?;
        send_signal(child.id(), signal);
        Ok(())
    }

    /// Starts the server again on the same port and waits until it answers
    /// `PING`, which it does once its data is loaded (an empty database
    /// unless [durable](Self::start_durable)).
    pub fn start_again(&mut self) -> io::Result<()> {
        self.kill();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(&self.config)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "redis-server does not start ({e}); `bash scripts/test.sh` installs it \
                         (Debian package redis-server)"
                    ),
                )
            })?;
        for _ in 0..2000 {
            if self.pong() {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "redis-server did not start",
        ))
    }
}

impl RedisServer {
    /// Whether the server answers `PING` with `PONG`.
    fn pong(&self) -> bool {
        let attempt = || -> io::Result<bool> {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
            let mut reply = [0u8; 7];
            stream.read_exact(&mut reply)?;
            Ok(&reply == b"+PONG\r\n")
        };
        attempt().unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
