//! A minimal HTTP/1.1 client for the harness's own requests (minting cookies,
//! reading `/stats`, checking a replayed cookie): one connection per request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::Error;

/// What a request answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `name=value` of the first `Set-Cookie`, if any.
    pub set_cookie: Option<String>,
    /// The body.
    pub body: String,
}

/// `GET path` on `addr` (with `cookie`); an error unless it answers 2xx.
pub fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Result<Reply, Error> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.take(1 << 20).read_to_end(&mut raw)?;
    let reply = parse_reply(&String::from_utf8_lossy(&raw))?;
    if !(200..300).contains(&reply.status) {
        return Err(format!("GET {path}: status {}", reply.status).into());
    }
    Ok(reply)
}

/// Parses a whole response (the body is read to the end of the connection,
/// or de-chunked when chunked).
pub fn parse_reply(raw: &str) -> Result<Reply, Error> {
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("truncated HTTP reply")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad HTTP status line")?;
    let mut set_cookie = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("set-cookie") && set_cookie.is_none() {
            set_cookie = value.split(';').next().map(|c| c.trim().to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Reply {
        status,
        set_cookie,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        let Some(chunk) = after.get(..n) else {
            body.push_str(after);
            break;
        };
        body.push_str(chunk);
        rest = after
            .get(n..)
            .unwrap_or_default()
            .trim_start_matches("\r\n");
    }
    body
}

/// The first unsigned integer in `text` (`count 7`, `visited this page 7 times`).
pub fn first_number(text: &str) -> Option<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}

/// The value of `key` in a `key=value key=value` line (bench-server's `/stats`).
pub fn stat(text: &str, key: &str) -> Option<u64> {
    text.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_replies() {
        let r = parse_reply("HTTP/1.1 200 OK\r\nset-cookie: sid=a.b; Path=/; HttpOnly\r\ncontent-length: 8\r\n\r\ncount 1\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.set_cookie.as_deref(), Some("sid=a.b"));
        assert_eq!(r.body, "count 1\n");
        let r = parse_reply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, "abcde");
        assert!(parse_reply("HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn numbers_and_stats() {
        assert_eq!(first_number("count 42\n"), Some(42));
        assert_eq!(first_number("You have visited this page 3 times"), Some(3));
        assert_eq!(first_number("none"), None);
        assert_eq!(stat("calls=10 sessions=-\n", "calls"), Some(10));
        assert_eq!(stat("calls=10 sessions=-\n", "sessions"), None);
    }
}
