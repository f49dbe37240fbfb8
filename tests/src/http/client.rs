//! The one HTTP/1.1 client of the tests, for talking to any server under
//! test (hyper through axum, picoserve, …) byte for byte.
//!
//! The wire format is transport-independent: [`Request::to_bytes`] writes a
//! request and [`read_response_with`] reads a response from any source of
//! bytes. Here they run over tokio TCP ([`Request::send`], [`Connection`],
//! [`Request::send_blocking`] for plain `#[test]`s); `embassy_client`
//! (feature `embassy`) runs them over an embassy-net socket.
//!
//! It writes exactly the headers it is given, in order, so a case can send
//! several `Cookie:` headers or raw bytes that are not UTF-8, and it reads
//! the status, every header (repeated `Set-Cookie` included, in order) and
//! the body framed by `Content-Length` or `chunked`, or by the end of the
//! connection. Each request uses its own connection and asks the server to
//! close it (`Connection: close`).

use core::future::Future;
use std::borrow::ToOwned;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;
use std::{format, vec};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The largest response head (status line and headers) read.
pub const MAX_HEAD_LEN: usize = 64 * 1024;
/// The largest response body read.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// A request to send, built up header by header.
///
/// ```
/// use sesh_tests::http::client::Request;
/// let req = Request::post("/login")
///     .cookie("sid=abc")
///     .cookie(b"theme=\xff\xfe")
///     .form("user=alice");
/// assert_eq!(req.headers().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with `method` for `target` (a path with an optional query).
    pub fn new(method: &str, target: &str) -> Self {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(target: &str) -> Self {
        Request::new("GET", target)
    }

    /// A `POST` request.
    pub fn post(target: &str) -> Self {
        Request::new("POST", target)
    }

    /// Adds a header line as given: the value may hold any bytes but CR and LF.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Adds one more `Cookie:` header (several are sent as several lines).
    pub fn cookie(self, value: impl AsRef<[u8]>) -> Self {
        self.header("Cookie", value)
    }

    /// Adds a `Cookie:` header when `value` is `Some`.
    pub fn maybe_cookie(self, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.cookie(v),
            None => self,
        }
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub fn form(self, body: &str) -> Self {
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.as_bytes())
    }

    /// Sets a urlencoded form of `fields` as the body ([`form_urlencode`]).
    pub fn form_fields(self, fields: &[(&str, &str)]) -> Self {
        self.form(&form_urlencode(fields))
    }

    /// Sets the body; `Content-Length` is added when the request is written.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    /// The headers added so far, in order.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The bytes that go on the wire.
    pub fn to_bytes(&self, host: &str) -> io::Result<Vec<u8>> {
        let line_ok = |b: &[u8]| !b.iter().any(|&c| c == b'\r' || c == b'\n');
        let head_ok = line_ok(self.method.as_bytes())
            && line_ok(self.target.as_bytes())
            && self
                .headers
                .iter()
                .all(|(n, v)| line_ok(n.as_bytes()) && !n.contains(':') && line_ok(v));
        if !head_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "CR or LF in a request line or header",
            ));
        }
        let mut out = Vec::with_capacity(256usize.saturating_add(self.body.len()));
        out.extend_from_slice(
            format!(
                "{} {} HTTP/1.1\r\nHost: {host}\r\n",
                self.method, self.target
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() || self.method == "POST" || self.method == "PUT" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Opens a connection to `addr`, sends the request and reads the response.
    pub async fn send(&self, addr: SocketAddr) -> io::Result<Response> {
        let watched = super::hang::request(|| format!("{} {} to {addr}", self.method, self.target));
        let response = Connection::connect(addr)
            .await?
            .send_watched(self, &watched)
            .await;
        if response.is_ok() {
            watched.answered();
        }
        response
    }

    /// [`send`](Self::send) for a plain `#[test]` (on a runtime of its own),
    /// bounded by [`BLOCKING_TIMEOUT`]. Only connecting fails with
    /// `ConnectionRefused`, so that error means the server never saw the
    /// request.
    pub fn send_blocking(&self, addr: SocketAddr) -> io::Result<Response> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            tokio::time::timeout(BLOCKING_TIMEOUT, self.send(addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in time"))?
        })
    }
}

/// How long [`Request::send_blocking`] waits for a whole response.
pub const BLOCKING_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection, so that a case can connect many clients first and
/// send their requests together.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    host: String,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let watched = super::hang::connect(|| addr.to_string());
        let connection = Self::connect(addr).await?;
        watched.answered();
        Ok(connection)
    }

    async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            host: addr.to_string(),
        })
    }

    /// Connects to `addr` from the local address `source` (any of
    /// 127.0.0.0/8 is loopback), for servers that tell clients apart by
    /// address.
    pub async fn open_from(addr: SocketAddr, source: IpAddr) -> io::Result<Self> {
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            host: addr.to_string(),
        })
    }

    /// Sends `request` and reads the response; the connection is used up.
    pub async fn send(self, request: &Request) -> io::Result<Response> {
        let watched = super::hang::request(|| {
            format!(
                "{} {} to {} (connected)",
                request.method, request.target, self.host
            )
        });
        let response = self.send_watched(request, &watched).await;
        if response.is_ok() {
            watched.answered();
        }
        response
    }

    /// [`send`](Self::send), noting its phases in a hung case's report.
    async fn send_watched(
        mut self,
        request: &Request,
        watched: &super::hang::Request,
    ) -> io::Result<Response> {
        watched.phase("sending");
        let bytes = request.to_bytes(&self.host)?;
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await?;
        watched.phase("reading the response");
        read_response(&mut self.stream).await
    }
}

/// A response as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// Every header in order, names as sent, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of header `name` (case-insensitive), in order, as text
    /// (bytes that are not UTF-8 are replaced).
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The value of header `name` when it appears exactly once.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut all = self.header_all(name);
        if all.len() == 1 { all.pop() } else { None }
    }

    /// Every `Set-Cookie` header, parsed, in order.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.header_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v))
            .collect()
    }

    /// The `Set-Cookie` headers for the cookie called `name`.
    pub fn set_cookies_named(&self, name: &str) -> Vec<SetCookie> {
        self.set_cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect()
    }

    /// `name=value` of the one `Set-Cookie` that gives cookie `name` a
    /// value (`None` when none or several do; a removal has no value).
    pub fn cookie_set(&self, name: &str) -> Option<String> {
        let mut set: Vec<SetCookie> = self
            .set_cookies_named(name)
            .into_iter()
            .filter(|c| !c.value.is_empty())
            .collect();
        if set.len() == 1 {
            set.pop().map(|c| c.pair())
        } else {
            None
        }
    }

    /// The body as text (bytes that are not UTF-8 are replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `value` of the first `<input … name="{name}" … value="…">` in
    /// the body, such as a form's CSRF token.
    ///
    /// ```
    /// # use sesh_tests::http::client::Response;
    /// let page = Response { status: 200, reason: String::new(), headers: vec![],
    ///     body: br#"<input type="hidden" name="csrf" value="t0k">"#.to_vec() };
    /// assert_eq!(page.input_value("csrf").as_deref(), Some("t0k"));
    /// ```
    pub fn input_value(&self, name: &str) -> Option<String> {
        let body = self.text();
        let marker = format!("name=\"{name}\"");
        let at = body.find(&marker)?;
        let tag_start = body.get(..at)?.rfind('<')?;
        let tag_end = at.checked_add(body.get(at..)?.find('>')?)?;
        let tag = body.get(tag_start..tag_end)?;
        let value = tag.split("value=\"").nth(1)?;
        value.split('"').next().map(ToOwned::to_owned)
    }
}

/// A browser's cookie jar in miniature: it keeps what `Set-Cookie` says
/// (removal by an empty value or `Max-Age` ≤ 0 included) and sends it all
/// back in one `Cookie:` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a cookie by hand (for example a forged one).
    pub fn set(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    /// Empties the jar.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// Follows every `Set-Cookie` of `response`.
    pub fn update(&mut self, response: &Response) {
        for cookie in response.set_cookies() {
            let removed = cookie.value.is_empty()
                || cookie
                    .attribute("max-age")
                    .flatten()
                    .is_some_and(|age| age.trim() == "0" || age.trim().starts_with('-'));
            self.cookies.retain(|(n, _)| *n != cookie.name);
            if !removed {
                self.cookies.push((cookie.name, cookie.value));
            }
        }
    }

    /// `request` with the jar's cookies in one `Cookie:` header.
    pub fn add_to(&self, request: Request) -> Request {
        if self.cookies.is_empty() {
            return request;
        }
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        request.cookie(pairs.join("; "))
    }
}

/// `application/x-www-form-urlencoded` for `fields`.
///
/// ```
/// use sesh_tests::http::client::form_urlencode;
/// assert_eq!(form_urlencode(&[("user", "a b"), ("csrf", "x&y")]), "user=a%20b&csrf=x%26y");
/// ```
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        for (j, text) in [name, value].into_iter().enumerate() {
            if j > 0 {
                out.push('=');
            }
            for byte in text.bytes() {
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

/// One `Set-Cookie` header value, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The header value as received.
    pub raw: String,
    /// The cookie name.
    pub name: String,
    /// The cookie value.
    pub value: String,
    /// The attributes in order: name and, for `Name=Value` ones, the value.
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Splits a header value at `;` and `=`, trimming spaces.
    ///
    /// ```
    /// let c = sesh_tests::http::client::SetCookie::parse("sid=v; Path=/; HttpOnly");
    /// assert_eq!((c.name.as_str(), c.value.as_str()), ("sid", "v"));
    /// assert_eq!(c.attribute("path"), Some(Some("/")));
    /// assert_eq!(c.attribute("HttpOnly"), Some(None));
    /// assert_eq!(c.pair(), "sid=v");
    /// ```
    pub fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';');
        let (name, value) = match parts.next().and_then(|p| p.split_once('=')) {
            Some((n, v)) => (n.trim().to_owned(), v.trim().to_owned()),
            None => (String::new(), String::new()),
        };
        let attributes = parts
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.trim().to_owned(), Some(v.trim().to_owned())),
                None => (p.to_owned(), None),
            })
            .collect();
        SetCookie {
            raw: raw.to_owned(),
            name,
            value,
            attributes,
        }
    }

    /// The attribute `name` (case-insensitive): `Some(Some(value))`,
    /// `Some(None)` for a flag, `None` when absent.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// How often attribute `name` appears (case-insensitive).
    pub fn attribute_count(&self, name: &str) -> usize {
        self.attributes
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// `Max-Age` in seconds, if present and a number.
    pub fn max_age(&self) -> Option<u64> {
        self.attribute("max-age")??.parse().ok()
    }

    /// `name=value`, as a `Cookie:` header sends it back.
    pub fn pair(&self) -> String {
        format!("{}={}", self.name, self.value)
    }
}

fn bad_data(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A source of response bytes: a socket of any network stack.
pub trait ReadBytes {
    /// Reads into `buf` as `AsyncRead` does: 0 at the end of the stream.
    fn read_bytes(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>>;
}

impl ReadBytes for TcpStream {
    async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf).await
    }
}

impl ReadBytes for &[u8] {
    async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }
}

/// Buffered reading of one response.
struct Reader<'a, R> {
    source: &'a mut R,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: ReadBytes> Reader<'_, R> {
    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = vec![0u8; 16 * 1024];
        let n = self.source.read_bytes(&mut chunk).await?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(true)
    }

    /// Takes everything up to and including `delimiter`, reading as needed.
    async fn take_until(&mut self, delimiter: &[u8], limit: usize) -> io::Result<Vec<u8>> {
        let mut searched = 0usize;
        loop {
            if let Some(at) = find(self.buf.get(searched..).unwrap_or_default(), delimiter) {
                let end = searched.saturating_add(at).saturating_add(delimiter.len());
                let rest = self.buf.split_off(end);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            if self.buf.len() > limit {
                return Err(bad_data("line or head too long"));
            }
            searched = self
                .buf
                .len()
                .saturating_sub(delimiter.len().saturating_sub(1));
            if !self.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-response",
                ));
            }
        }
    }

    /// Takes exactly `n` bytes.
    async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n > MAX_BODY_LEN {
            return Err(bad_data("body too long"));
        }
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the body's end",
                ));
            }
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Takes everything until the peer closes.
    async fn take_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? {
            if self.buf.len() > MAX_BODY_LEN {
                return Err(bad_data("body too long"));
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

type Head = (u16, String, Vec<(String, Vec<u8>)>);

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or_else(|| bad_data("no status line"))?;
    let status_line = std::str::from_utf8(status_line).map_err(|_| bad_data("status line"))?;
    let mut words = status_line.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad_data("not an HTTP/1.x response"));
    }
    let status = words
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| bad_data("bad status code"))?;
    let reason = words.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| bad_data("header line without a colon"))?;
        let (name, value) = line.split_at(colon);
        let name = std::str::from_utf8(name).map_err(|_| bad_data("header name"))?;
        if name.is_empty() || name.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(bad_data("bad header name"));
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        headers.push((name.to_owned(), value.to_vec()));
    }
    Ok((status, reason, headers))
}

fn header_text<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .collect()
}

async fn read_chunked<R: ReadBytes>(reader: &mut Reader<'_, R>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = reader.take_until(b"\r\n", 4096).await?;
        let line = line.strip_suffix(b"\r\n").unwrap_or(&line);
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size.trim_ascii())
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| bad_data("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let trailer = reader.take_until(b"\r\n", MAX_HEAD_LEN).await?;
                if trailer == b"\r\n" {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY_LEN {
            return Err(bad_data("body too long"));
        }
        body.extend_from_slice(&reader.take(size).await?);
        if reader.take(2).await? != b"\r\n" {
            return Err(bad_data("chunk not followed by CRLF"));
        }
    }
}

/// Reads one response (skipping interim 1xx ones) from `stream`.
pub async fn read_response(stream: &mut TcpStream) -> io::Result<Response> {
    read_response_with(stream).await
}

/// Reads one response (skipping interim 1xx ones) from any byte source.
///
/// ```
/// use sesh_tests::http::client::read_response_with;
/// let mut wire: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let response = runtime.block_on(read_response_with(&mut wire)).unwrap();
/// assert_eq!((response.status, response.text().as_str()), (200, "hi"));
/// ```
pub async fn read_response_with(source: &mut impl ReadBytes) -> io::Result<Response> {
    let mut reader = Reader {
        source,
        buf: Vec::new(),
        eof: false,
    };
    loop {
        let head = reader.take_until(b"\r\n\r\n", MAX_HEAD_LEN).await?;
        let (status, reason, headers) = parse_head(&head)?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let chunked = header_text(&headers, "transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().ends_with(b"chunked"));
        let lengths = header_text(&headers, "content-length");
        let body = if status == 204 || status == 304 || status == 101 {
            Vec::new()
        } else if chunked {
            read_chunked(&mut reader).await?
        } else if let Some(first) = lengths.first() {
            if lengths.iter().any(|v| v != first) {
                return Err(bad_data("conflicting Content-Length headers"));
            }
            let n = std::str::from_utf8(first)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| bad_data("bad Content-Length"))?;
            reader.take(n).await?
        } else {
            reader.take_to_end().await?
        };
        return Ok(Response {
            status,
            reason,
            headers,
            body,
        });
    }
}
