//! The response future: adds `Set-Cookie` and cache headers once the
//! application has answered, exactly as [`sesh::cookie::CookieDecision`]
//! decided them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;
use sesh::cookie::SessionCookie;

use crate::state::RequestSession;

pin_project! {
    /// The future [`SessionService`](crate::SessionService) returns.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        session: Arc<RequestSession>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, session: Arc<RequestSession>) -> Self {
        ResponseFuture { inner, session }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(finish(this.session, response)))
    }
}

/// A bare error response, with no cookie and nothing cacheable.
fn error_response<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn finish<B: Default>(session: &RequestSession, mut response: Response<B>) -> Response<B> {
    let outcome = session.outcome();
    if let Some(status) = outcome.store_failed {
        // A failed write must not reach the client as a success (express-session #538).
        // The whole response is replaced, so layers that add headers (CSP and
        // the like) belong outside the SessionLayer.
        return error_response(status);
    }
    let decided = outcome.headers;
    let config = &session.shared.config;
    let cookie = config.cookie();
    // Both values are made before either is added: no half-sent pair.
    // An array, not a Vec: most responses set no cookie and allocate nothing.
    let session_cookie = || {
        if decided.session() == SessionCookie::Keep {
            return Ok(None);
        }
        cookie_header(|out| config.keys().write_session_cookie(&decided, out, &cookie))
    };
    let pre_cookie = || {
        if decided.pre_session().is_none() {
            return Ok(None);
        }
        cookie_header(|out| decided.write_pre_session_cookie(out, &cookie))
    };
    let values = session_cookie().and_then(|set| Ok([set, pre_cookie()?]));
    let values = match values {
        Ok(values) => values,
        Err(CookieHeaderError::Format) => {
            tracing::error!("could not format the Set-Cookie header");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(CookieHeaderError::Invalid) => {
            tracing::error!("the Set-Cookie header is not a valid header value");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let headers = response.headers_mut();
    for header in values.into_iter().flatten() {
        headers.append(SET_COOKIE, header);
    }
    if decided.no_store() {
        // A shared cache must never store a response that sets a session (Flask CVE-2023-30861).
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if decided.vary_cookie() && !varies_on_cookie(headers.get_all(VARY).iter()) {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    response
}

/// Why a `Set-Cookie` value could not be made.
enum CookieHeaderError {
    /// Formatting failed.
    Format,
    /// The text is not a valid header value.
    Invalid,
}

/// The `Set-Cookie` value `write` formats, if it writes one (`Ok(true)`).
///
/// It is formatted on the stack, so that the header value's own copy is the
/// only allocation; a value too long for the buffer (a very long path or
/// domain) is formatted again into a `String`.
fn cookie_header(
    write: impl Fn(&mut dyn fmt::Write) -> Result<bool, fmt::Error>,
) -> Result<Option<HeaderValue>, CookieHeaderError> {
    let mut line = Line {
        bytes: [0; LINE],
        len: 0,
        overflowed: false,
    };
    let written = write(&mut line);
    let text = match written {
        Ok(false) => return Ok(None),
        Ok(true) => line.bytes.get(..line.len).unwrap_or_default(),
        Err(_) if line.overflowed => {
            let mut text = String::new();
            if !write(&mut text).map_err(|_| CookieHeaderError::Format)? {
                return Ok(None);
            }
            return HeaderValue::from_str(&text)
                .map(Some)
                .map_err(|_| CookieHeaderError::Invalid);
        }
        Err(_) => return Err(CookieHeaderError::Format),
    };
    HeaderValue::from_bytes(text)
        .map(Some)
        .map_err(|_| CookieHeaderError::Invalid)
}

/// Room for a `Set-Cookie` value on the stack: sesh's default one is about
/// 90 bytes.
const LINE: usize = 256;

/// A `fmt::Write` into a fixed buffer that says when it ran out of room.
struct Line {
    bytes: [u8; LINE],
    len: usize,
    overflowed: bool,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.saturating_add(s.len());
        let Some(slot) = self.bytes.get_mut(self.len..end) else {
            self.overflowed = true;
            return Err(fmt::Error);
        };
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Whether `Vary` values already name `Cookie` (or `*`): as a
/// comma-separated list of field names, compared whole and without regard
/// to case (RFC 9110 §12.5.5), so that `Vary: X-Cookie-Consent` or
/// `Vary: Cookies` does not count. An unreadable value names nothing.
fn varies_on_cookie<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> bool {
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|name| name == "*" || name.eq_ignore_ascii_case("cookie"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varies(values: &[&[u8]]) -> bool {
        let values: Vec<HeaderValue> = values
            .iter()
            .filter_map(|v| HeaderValue::from_bytes(v).ok())
            .collect();
        varies_on_cookie(values.iter())
    }

    /// A value that fits the stack buffer and one that does not come out the
    /// same as formatted into a `String`; nothing written is no header.
    #[test]
    fn cookie_headers_of_any_length() {
        for len in [0, 1, 90, LINE - 1, LINE, LINE + 1, 5000] {
            let text = "a".repeat(len);
            let header = cookie_header(|out| out.write_str(&text).map(|()| true))
                .ok()
                .flatten()
                .unwrap();
            assert_eq!(header.as_bytes(), text.as_bytes(), "{len}");
        }
        assert!(matches!(cookie_header(|_| Ok(false)), Ok(None)));
        assert!(matches!(
            cookie_header(|_| Err(fmt::Error)),
            Err(CookieHeaderError::Format)
        ));
        assert!(matches!(
            cookie_header(|out| out.write_str("a\nb").map(|()| true)),
            Err(CookieHeaderError::Invalid)
        ));
        let long = "\n".repeat(LINE + 1);
        assert!(matches!(
            cookie_header(|out| out.write_str(&long).map(|()| true)),
            Err(CookieHeaderError::Invalid)
        ));
    }

    #[test]
    fn vary_is_read_as_a_list_of_names() {
        for yes in [
            &[&b"Cookie"[..]][..],
            &[b"cookie"],
            &[b"COOKIE"],
            &[b"Accept-Encoding, Cookie"],
            &[b"Accept-Encoding,cookie ,Origin"],
            &[b"Accept-Encoding", b" Cookie "],
            &[b"*"],
            &[b"Origin, *"],
        ] {
            assert!(varies(yes), "{yes:?}");
        }
        for no in [
            &[][..],
            &[&b"X-Cookie-Consent"[..]],
            &[b"Cookies"],
            &[b"Set-Cookie"],
            &[b"Accept-Encoding, Cookie-Policy"],
            &[b"Cookie\xff"],
            &[b"\xffCookie"],
            &[b"", b"Origin"],
            &[b"**"],
        ] {
            assert!(!varies(no), "{no:?}");
        }
    }
}
