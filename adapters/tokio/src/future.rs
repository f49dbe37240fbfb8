//! The response future: adds `Set-Cookie` and cache headers once the
//! application has answered, exactly as [`sesh::cookie::CookieDecision`]
//! decided them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

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
    let mut value = String::new();
    let mut pre_value = String::new();
    let written = config
        .keys()
        .write_session_cookie(&decided, &mut value, &cookie)
        .and_then(|set| {
            Ok((
                set,
                decided.write_pre_session_cookie(&mut pre_value, &cookie)?,
            ))
        });
    let Ok((set, pre)) = written else {
        tracing::error!("could not format the Set-Cookie header");
        return error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    // Both values are checked before either is added: no half-sent pair.
    // An array, not a Vec: most responses set no cookie and allocate nothing.
    let mut values: [Option<HeaderValue>; 2] = [None, None];
    for (slot, value) in values
        .iter_mut()
        .zip([set.then_some(&value), pre.then_some(&pre_value)])
    {
        let Some(value) = value else { continue };
        let Ok(header) = HeaderValue::from_str(value) else {
            tracing::error!("the Set-Cookie header is not a valid header value");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR);
        };
        *slot = Some(header);
    }
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
