//! A real redis-server for tests: started on a free loopback port, stopped on drop.
//! With feature `redis-tls`, [`RedisServer::start_tls`] starts one that speaks
//! TLS only, with a certificate made at start.

use std::borrow::ToOwned;
use std::format;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
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
    tls: Option<TlsFiles>,
}

/// The certificates of a TLS server, in a directory of their own that is
/// removed with the server.
#[derive(Debug)]
struct TlsFiles {
    dir: PathBuf,
    ca: PathBuf,
}

impl RedisServer {
    /// Starts redis-server on a free port (the test script installs it).
    pub fn start() -> io::Result<Self> {
        RedisServer::start_with(&[])
    }

    /// Starts redis-server with more settings, as command-line arguments
    /// (`["--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru"]`).
    pub fn start_with(config: &[&str]) -> io::Result<Self> {
        let config: Vec<String> = config.iter().map(|s| (*s).to_owned()).collect();
        let mut failure = io::Error::other("redis-server did not start");
        // Another process (tests start servers in parallel) can take the
        // free port before redis-server binds it: then try another port.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut server = RedisServer {
                child: None,
                port,
                config: config.clone(),
                tls: None,
            };
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => failure = e,
            }
        }
        Err(failure)
    }

    /// Starts redis-server on TLS only (`--port 0 --tls-port PORT`, no
    /// client certificates asked), with a new CA and a server certificate
    /// for `127.0.0.1` and `localhost` that it signed, written to a
    /// temporary directory removed on drop. It listens on `127.0.0.2` as
    /// well, which the certificate does not name. [`url`](Self::url) is then
    /// `rediss://…`, and [`ca_file`](Self::ca_file) holds the CA.
    #[cfg(feature = "redis-tls")]
    pub fn start_tls() -> io::Result<Self> {
        let mut failure = io::Error::other("redis-server did not start");
        // As in `start_with`: another process may take the free port first.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match RedisServer::start_tls_on(port) {
                Ok(server) => return Ok(server),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => failure = e,
            }
        }
        Err(failure)
    }

    #[cfg(feature = "redis-tls")]
    fn start_tls_on(port: u16) -> io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("sesh-redis-tls-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        // Owned first, so that the directory goes however the rest ends.
        let mut server = RedisServer {
            child: None,
            port,
            config: Vec::new(),
            tls: Some(TlsFiles {
                ca: dir.join("ca.pem"),
                dir: dir.clone(),
            }),
        };
        let (ca, cert, key) = make_certificates(port).map_err(io::Error::other)?;
        let path = |name: &str| -> io::Result<String> {
            let file = dir.join(name);
            file.to_str()
                .map(ToOwned::to_owned)
                .ok_or_else(|| io::Error::other("a UTF-8 temporary directory"))
        };
        std::fs::write(dir.join("ca.pem"), ca)?;
        std::fs::write(dir.join("server.pem"), cert)?;
        std::fs::write(dir.join("server.key"), key)?;
        server.config = [
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            path("server.pem")?,
            "--tls-key-file".to_owned(),
            path("server.key")?,
            "--tls-ca-cert-file".to_owned(),
            path("ca.pem")?,
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
            // 127.0.0.2 too, an address the certificate does not name.
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "127.0.0.2".to_owned(),
        ]
        .into();
        server.start_again()?;
        Ok(server)
    }

    /// The CA file (PEM) that signed a [TLS](Self::start_tls) server's
    /// certificate; `None` for a plain one.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca.as_path())
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

    /// The URL of database 0: `rediss://` for a [TLS](Self::start_tls)
    /// server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
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
    /// unless [durable](Self::start_durable)). A TLS server is waited for
    /// until it accepts connections (it has no data to load).
    pub fn start_again(&mut self) -> io::Result<()> {
        self.kill();
        let port = self.port.to_string();
        // A TLS server's `--port 0` in its config turns the plain port off.
        let mut child = Command::new("redis-server")
            .args(["--port", &port])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
            let ready = if self.tls.is_some() {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.pong()
            };
            if ready {
                // Another process that took the port answers too: ours then
                // exits at once, failing to bind, and the caller tries again.
                std::thread::sleep(Duration::from_millis(50));
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("redis-server exited: {status} (port {port} taken?)"),
                    ));
                }
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

/// A new CA, and a server certificate for `127.0.0.1` and `localhost` it
/// signed: (CA certificate, server certificate, server key), in PEM. The
/// CA's name holds `port`, so that each server's CA is another authority.
#[cfg(feature = "redis-tls")]
fn make_certificates(port: u16) -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("sesh test CA {port}"));
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "sesh test redis-server");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(tls) = &self.tls {
            let _ = std::fs::remove_dir_all(&tls.dir);
        }
    }
}
