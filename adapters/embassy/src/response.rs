//! Adding the session's `Set-Cookie` to whatever the handler answers.

use picoserve::ResponseSent;
use picoserve::io::Read;
use picoserve::response::{
    Body, Connection, HeadersIter, IntoResponse, Response, ResponseWriter, StatusCode,
};
use sesh::cookie::{CookieConfig, CookieHeaders};

use crate::sessions::Keys;

/// Room for one `Set-Cookie` value: name, 45-character value, attributes.
pub const SET_COOKIE_CAPACITY: usize = 256;

/// The handler's response plus the session's headers, made by
/// [`Session::respond`](crate::Session::respond).
///
/// picoserve appends headers and never replaces them, so sesh adds its
/// headers here and nowhere else, exactly as [`sesh::cookie::CookieDecision`]
/// decided: the session cookie's `Set-Cookie`, the pre-session cookie's when
/// [`Session::csrf_token`](crate::Session::csrf_token) made a form token for
/// a visitor without a session, `Cache-Control: no-store` with either, and
/// `Vary: Cookie` whenever the handler touched the session.
#[must_use = "return it from the handler: it carries the session's Set-Cookie"]
pub struct WithSession<T> {
    inner: T,
    /// `None` when a cookie did not fit: the response becomes a 500.
    headers: Option<SessionHeaders>,
}

/// The header values [`WithSession`] adds.
struct SessionHeaders {
    set_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    pre_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    no_store: bool,
    vary: bool,
}

impl<T> WithSession<T> {
    pub(crate) fn new<const K: usize>(
        inner: T,
        decided: CookieHeaders,
        cookie: &CookieConfig<'_>,
        keys: &Keys<K>,
    ) -> Self {
        let mut set_cookie = heapless::String::new();
        let written = decided.write_session_cookie(&mut set_cookie, cookie, keys);
        let mut pre_cookie = heapless::String::new();
        let pre_written = decided.write_pre_session_cookie(&mut pre_cookie, cookie);
        let headers = match (written, pre_written) {
            (Ok(set), Ok(pre)) => Some(SessionHeaders {
                set_cookie: set.then_some(set_cookie),
                pre_cookie: pre.then_some(pre_cookie),
                no_store: decided.no_store(),
                vary: decided.vary_cookie(),
            }),
            // A cookie that does not fit must not be half-sent: answer 500.
            _ => None,
        };
        WithSession { inner, headers }
    }
}

impl<T> WithSession<T> {
    /// Sends `Cache-Control: no-store` whether or not the session's cookie
    /// changed, and still only once: for a page only its user may see (the
    /// handler must then not add its own, since picoserve appends).
    pub fn no_store(mut self) -> Self {
        if let Some(headers) = &mut self.headers {
            headers.no_store = true;
        }
        self
    }
}

impl<T: IntoResponse> IntoResponse for WithSession<T> {
    async fn write_to<R: Read, W: ResponseWriter<Error = R::Error>>(
        self,
        connection: Connection<'_, R>,
        response_writer: W,
    ) -> Result<ResponseSent, W::Error> {
        let Some(headers) = self.headers else {
            let response = Response::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session cookie too long\n",
            )
            .with_header("Cache-Control", "no-store");
            return response_writer.write_response(connection, response).await;
        };
        self.inner
            .write_to(
                connection,
                AddSessionHeaders {
                    inner: response_writer,
                    headers,
                },
            )
            .await
    }
}

struct AddSessionHeaders<W> {
    inner: W,
    headers: SessionHeaders,
}

impl<W: ResponseWriter> ResponseWriter for AddSessionHeaders<W> {
    type Error = W::Error;

    async fn write_response<R: Read<Error = Self::Error>, H: HeadersIter, B: Body>(
        self,
        connection: Connection<'_, R>,
        response: Response<H, B>,
    ) -> Result<ResponseSent, Self::Error> {
        let h = &self.headers;
        // One array, not a chain: each chained header nests the response's
        // type, and the firmware's async state machines are already deep.
        let headers = [
            h.set_cookie.as_deref().map(|v| ("Set-Cookie", v)),
            h.pre_cookie.as_deref().map(|v| ("Set-Cookie", v)),
            h.no_store.then_some(("Cache-Control", "no-store")),
            h.vary.then_some(("Vary", "Cookie")),
        ];
        self.inner
            .write_response(connection, response.with_headers(headers))
            .await
    }
}
