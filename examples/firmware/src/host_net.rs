//! Host-only test support (feature `host-net`, needs std): a real embassy-net
//! TCP/IP stack on each side of an in-memory link, and a tiny HTTP/1.1
//! client with a cookie jar.
//!
//! Nothing leaves the process: the link and the two stacks are
//! `sesh-host-net`'s (the unpublished crate in `tests/host-net`). [`Pair`]
//! builds a server stack on [`SERVER`] and a client stack on [`CLIENT`] and
//! drives both.
//!
//! ```no_run
//! use firmware::host_net::{Client, Pair, SERVER};
//! # async fn app(_: embassy_net::Stack<'static>) {}
//!
//! let pair = Pair::new();
//! let (server, client) = (pair.server, pair.client);
//! let status = pair.run(app(server), async {
//!     let mut client = Client::new(client, SERVER, 80);
//!     client.get("/").await.map(|r| r.status)
//! });
//! ```
//!
//! Another test crate reuses it with a dev-dependency on
//! `firmware = { path = "…/examples/firmware", features = ["host-net"] }`.

use core::fmt;
use core::future::Future;
use std::borrow::ToOwned;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use embassy_futures::select::{Either, select};
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{Ipv4Address, Runner, Stack};
use embassy_time::Duration;
use sesh_host_net::LinkedStacks;

pub use sesh_host_net::{CLIENT, MTU, Port, SERVER, ip_config, link};

/// Sockets on each stack (the server needs one per worker).
pub const SOCKETS: usize = 8;

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
    /// Builds both stacks ([`LinkedStacks::new`]: their socket tables are
    /// leaked, which gives `'static` stacks that worker futures can hold).
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

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection was not established.
    Connect(ConnectError),
    /// Reading or writing failed.
    Io(embassy_net::tcp::Error),
    /// The response is not HTTP/1.1 as this client understands it.
    Malformed(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "connect failed: {e:?}"),
            ClientError::Io(e) => write!(f, "socket error: {e:?}"),
            ClientError::Malformed(why) => write!(f, "malformed response: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every header called `name` (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// The `value` of the first `<input name="{name}" … value="…">` in the
    /// body, such as the CSRF token of a form.
    pub fn input_value(&self, name: &str) -> Option<&str> {
        let marker = format!("name=\"{name}\"");
        let at = self.body.find(&marker)?;
        let tag_start = self.body.get(..at)?.rfind('<')?;
        let tag_end = at.checked_add(self.body.get(at..)?.find('>')?)?;
        let tag = self.body.get(tag_start..tag_end)?;
        let value = tag.split("value=\"").nth(1)?;
        value.split('"').next()
    }
}

/// Sends one raw request on a new connection to `server:port` and reads the
/// response. The connection is closed cleanly (FIN, then flush) before the
/// socket is dropped, so the server's worker is free at once.
pub async fn send(
    stack: Stack<'_>,
    server: Ipv4Address,
    port: u16,
    request: &[u8],
) -> Result<Response, ClientError> {
    let mut rx = [0u8; 4096];
    let mut tx = [0u8; 4096];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.set_timeout(Some(Duration::from_secs(10)));
    socket
        .connect((server, port))
        .await
        .map_err(ClientError::Connect)?;
    let result = exchange(&mut socket, request).await;
    socket.close();
    // Sends the FIN; an error here only means the peer is gone already.
    let _ = socket.flush().await;
    result
}

async fn exchange(socket: &mut TcpSocket<'_>, request: &[u8]) -> Result<Response, ClientError> {
    let mut rest = request;
    while !rest.is_empty() {
        let n = socket.write(rest).await.map_err(ClientError::Io)?;
        rest = rest.get(n..).unwrap_or_default();
    }
    socket.flush().await.map_err(ClientError::Io)?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(total) = complete_length(&raw)? {
            raw.truncate(total);
            break;
        }
        let n = socket.read(&mut buf).await.map_err(ClientError::Io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    parse(&raw)
}

fn header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|at| at.checked_add(4))
}

/// The full response length once the head is in and says `Content-Length`.
fn complete_length(raw: &[u8]) -> Result<Option<usize>, ClientError> {
    let Some(end) = header_end(raw) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default());
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>())
    });
    match length {
        None => Ok(None),
        Some(Err(_)) => Err(ClientError::Malformed("bad Content-Length")),
        Some(Ok(len)) => {
            let total = end
                .checked_add(len)
                .ok_or(ClientError::Malformed("huge body"))?;
            Ok((raw.len() >= total).then_some(total))
        }
    }
}

fn parse(raw: &[u8]) -> Result<Response, ClientError> {
    let end = header_end(raw).ok_or(ClientError::Malformed("no end of headers"))?;
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
    let body = String::from_utf8_lossy(raw.get(end..).unwrap_or_default()).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines
        .next()
        .ok_or(ClientError::Malformed("no status line"))?;
    let mut parts = status_line.split(' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(ClientError::Malformed("not HTTP/1.1"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Malformed("bad status"))?;
    let headers = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or(ClientError::Malformed("bad header line"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `application/x-www-form-urlencoded` for `fields`.
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(&mut out, name);
        out.push('=');
        percent_encode(&mut out, value);
    }
    out
}

fn percent_encode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// A browser in miniature: one connection per request, and a cookie jar
/// that follows `Set-Cookie` (including removal by `Max-Age=0`).
pub struct Client<'d> {
    stack: Stack<'d>,
    server: Ipv4Address,
    port: u16,
    jar: Vec<(String, String)>,
}

impl<'d> Client<'d> {
    /// A client with an empty cookie jar.
    pub fn new(stack: Stack<'d>, server: Ipv4Address, port: u16) -> Self {
        Client {
            stack,
            server,
            port,
            jar: Vec::new(),
        }
    }

    /// The stack it speaks from (for another client beside it).
    pub fn stack(&self) -> Stack<'d> {
        self.stack
    }

    /// The jar's value for cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Puts a cookie in the jar by hand (for example a forged one).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.retain(|(n, _)| n != name);
        self.jar.push((name.to_owned(), value.to_owned()));
    }

    /// Empties the jar.
    pub fn clear_cookies(&mut self) {
        self.jar.clear();
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None).await
    }

    /// `POST path` with a urlencoded form.
    pub async fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let body = form_urlencode(fields);
        self.request("POST", path, Some(&body)).await
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&str>,
    ) -> Result<Response, ClientError> {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
            self.server, self.port
        );
        if !self.jar.is_empty() {
            let pairs: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            raw.push_str(&format!("Cookie: {}\r\n", pairs.join("; ")));
        }
        if let Some(body) = form {
            raw.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            raw.push_str("\r\n");
        }
        let response = send(self.stack, self.server, self.port, raw.as_bytes()).await?;
        for set_cookie in response.headers_named("set-cookie") {
            self.store(set_cookie);
        }
        Ok(response)
    }

    fn store(&mut self, set_cookie: &str) {
        let mut attributes = set_cookie.split(';');
        let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let name = name.trim().to_string();
        let removed = value.trim().is_empty()
            || attributes.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
        self.jar.retain(|(n, _)| *n != name);
        if !removed {
            self.jar.push((name, value.trim().to_string()));
        }
    }
}
