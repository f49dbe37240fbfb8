//! A real redis-server for tests: started on a free loopback port, stopped on drop.

use std::borrow::ToOwned;
use std::format;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

/// A redis-server process on `127.0.0.1`, without persistence. It can be
/// stopped and started again on the same port, to test outages.
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

    /// Starts the server again on the same port and waits until it accepts
    /// connections (an empty database: persistence is off).
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
            .spawn()?;
        for _ in 0..500 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return Ok(());
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
