//! The suite's HTTP/1.1 client over an embassy-net TCP socket (feature
//! `embassy`, host only): a server stack and a client stack on the
//! in-memory link of `sesh_host_net` ([`Pair`]), and a [`Client`] with a
//! cookie jar that speaks from the client stack. Requests and responses go
//! through the wire format of [`client`](super::client), so there is one
//! HTTP parser for every transport.
//!
//! ```no_run
//! use sesh_tests::http::embassy_client::{Client, Pair, SERVER};
//! # async fn app(_: embassy_net::Stack<'static>) {}
//!
//! let pair = Pair::new();
//! let (server, client) = (pair.server, pair.client);
//! let status = pair.run(app(server), async {
//!     let mut client = Client::new(client, SERVER, 80);
//!     client.get("/").await.map(|r| r.status)
//! });
//! ```

use core::future::Future;
use std::format;
use std::io;
use std::vec;

use embassy_futures::select::{Either, select};
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{Ipv4Address, Runner, Stack};
use embassy_time::Duration;
use sesh_host_net::{LinkedStacks, Port};

use super::client::{CookieJar, ReadBytes, Request, Response, read_response_with};

pub use sesh_host_net::{CLIENT, SERVER};

/// Sockets on each stack of a [`Pair`] (the server needs one per worker).
pub const SOCKETS: usize = 8;
/// Connect attempts while no worker listens: a picoserve worker listens
/// again a moment after its previous connection closed.
const CONNECT_ATTEMPTS: u32 = 2000;
/// Per-socket buffers of [`send`].
const BUFFER: usize = 4096;

/// A server stack and a client stack on one in-memory link.
pub struct Pair {
    /// The stack at [`SERVER`]; serve the app on it.
    pub server: Stack<'static>,
    /// The stack at [`CLIENT`]; open [`Client`]s on it.
    pub client: Stack<'static>,
    runners: (Runner<'static, Port>, Runner<'static, Port>),
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

impl Pair {
    /// Builds both stacks ([`LinkedStacks::new`] leaks their socket tables,
    /// which gives `'static` stacks that worker futures can hold).
    pub fn new() -> Pair {
        let stacks = LinkedStacks::new::<SOCKETS>();
        Pair {
            server: stacks.server,
            client: stacks.client,
            runners: (stacks.server_runner, stacks.client_runner),
        }
    }

    /// Runs both stacks and `server` (for example the web workers, joined)
    /// on this thread until `client` finishes, and returns its output.
    pub fn run<T>(self, server: impl Future, client: impl Future<Output = T>) -> T {
        let (mut a, mut b) = self.runners;
        let background = async {
            embassy_futures::join::join3(a.run(), b.run(), server).await;
        };
        futures_executor::block_on(async {
            match select(client, background).await {
                Either::First(out) => out,
                Either::Second(()) => unreachable!("the stacks run forever"),
            }
        })
    }
}

/// Connects from `stack` to `server:port` on a socket over `rx` and `tx`,
/// trying again while nobody listens there, runs `body` on the connection,
/// then closes it cleanly: FIN, then `flush` until it is acknowledged, so
/// that the server's worker is free at once (dropping an open socket would
/// leave the worker waiting out its read timeout).
pub async fn with_connection<T>(
    stack: Stack<'_>,
    (rx, tx): (&mut [u8], &mut [u8]),
    (server, port): (Ipv4Address, u16),
    body: impl AsyncFnOnce(&mut TcpSocket<'_>) -> T,
) -> Result<T, ConnectError> {
    let mut attempt = 0;
    loop {
        let mut socket = TcpSocket::new(stack, &mut *rx, &mut *tx);
        socket.set_timeout(Some(Duration::from_secs(10)));
        socket.set_nagle_enabled(false);
        match socket.connect((server, port)).await {
            Ok(()) => {
                let out = body(&mut socket).await;
                socket.close();
                // An error only means that the peer is gone already.
                let _ = socket.flush().await;
                return Ok(out);
            }
            Err(ConnectError::ConnectionReset) if attempt < CONNECT_ATTEMPTS => {
                attempt += 1;
                drop(socket);
                embassy_time::Timer::after_millis(1).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn io_error(what: &str, e: impl core::fmt::Debug) -> io::Error {
    io::Error::other(format!("{what}: {e:?}"))
}

impl ReadBytes for TcpSocket<'_> {
    async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf).await.map_err(|e| io_error("read", e))
    }
}

/// Sends `request` (as [`Request::to_bytes`] writes it) on a new
/// connection from `stack` to `server:port` and reads the response.
pub async fn send(
    stack: Stack<'_>,
    server: Ipv4Address,
    port: u16,
    request: &Request,
) -> io::Result<Response> {
    let bytes = request.to_bytes(&format!("{server}:{port}"))?;
    let (mut rx, mut tx) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    let exchange = async |socket: &mut TcpSocket<'_>| {
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = socket.write(rest).await.map_err(|e| io_error("write", e))?;
            rest = rest.get(n..).unwrap_or_default();
        }
        socket.flush().await.map_err(|e| io_error("flush", e))?;
        read_response_with(socket).await
    };
    with_connection(stack, (&mut rx, &mut tx), (server, port), exchange)
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::ConnectionRefused, format!("{e:?}")))?
}

/// A browser in miniature on an embassy-net stack: one connection per
/// request, and a [`CookieJar`] that follows `Set-Cookie`.
pub struct Client<'d> {
    stack: Stack<'d>,
    server: Ipv4Address,
    port: u16,
    /// The cookies it sends.
    pub jar: CookieJar,
}

impl<'d> Client<'d> {
    /// A client with an empty cookie jar.
    pub fn new(stack: Stack<'d>, server: Ipv4Address, port: u16) -> Self {
        Client {
            stack,
            server,
            port,
            jar: CookieJar::default(),
        }
    }

    /// Another client, with an empty jar, beside this one.
    pub fn another(&self) -> Client<'d> {
        Client::new(self.stack, self.server, self.port)
    }

    /// The jar's value for cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name)
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send(Request::get(path)).await
    }

    /// `POST path` with a urlencoded form of `fields`.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> io::Result<Response> {
        self.send(Request::post(path).form_fields(fields)).await
    }

    /// Sends `request` with the jar's cookies and keeps what it sets.
    pub async fn send(&mut self, request: Request) -> io::Result<Response> {
        let request = self.jar.add_to(request);
        let response = send(self.stack, self.server, self.port, &request).await?;
        self.jar.update(&response);
        Ok(response)
    }

    /// Sends `request` as it is, without the jar.
    pub async fn send_raw(&self, request: &Request) -> io::Result<Response> {
        send(self.stack, self.server, self.port, request).await
    }
}
