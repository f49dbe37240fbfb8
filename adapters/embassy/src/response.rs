//! Adding the session's `Set-Cookie` to whatever the handler answers.

use picoserve::ResponseSent;
use picoserve::io::Read;
use picoserve::response::{
    Body, Connection, HeadersIter, IntoResponse, Response, ResponseWriter, StatusCode,
};
use sesh::cookie::{CookieConfig, write_removal, write_set_cookie};
use sesh::presession::{PreCookieName, PreSession};
use sesh::{Duration, Instant, SessionId};

use crate::sessions::Keys;

/// Room for one `Set-Cookie` value: name, 45-character value, attributes.
pub const SET_COOKIE_CAPACITY: usize = 256;

/// What the response must do with the cookie.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieChange {
    Keep,
    Set { id: SessionId, expires_at: Instant },
    Remove,
}

/// The handler's response plus the session's cookie header, made by
/// [`Session::respond`](crate::Session::respond).
///
/// picoserve appends headers and never replaces them, so sesh adds its
/// `Set-Cookie` headers here and nowhere else: the session cookie's, and the
/// pre-session cookie's when [`Session::csrf_token`](crate::Session::csrf_token)
/// made a form token for a visitor without a session.
pub struct WithSession<T> {
    inner: T,
    set_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    pre_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    /// The response depends on the session cookie even though it is unchanged.
    vary: bool,
    failed: bool,
}

impl<T> WithSession<T> {
    pub(crate) fn new(
        inner: T,
        change: CookieChange,
        presented: bool,
        cookie: &CookieConfig<'_>,
        keys: Option<&Keys>,
    ) -> Self {
        let mut value = heapless::String::new();
        let written = match (change, keys) {
            (CookieChange::Keep, _) => {
                return WithSession {
                    inner,
                    set_cookie: None,
                    pre_cookie: None,
                    vary: presented,
                    failed: false,
                };
            }
            (CookieChange::Set { id, expires_at }, Some(keys)) => {
                let max_age = expires_at.saturating_duration_since(crate::clock::now());
                write_set_cookie(&mut value, cookie, keys.sign(&id), max_age)
            }
            (CookieChange::Remove, _) => write_removal(&mut value, cookie),
            (CookieChange::Set { .. }, None) => Err(core::fmt::Error),
        };
        // A cookie that does not fit must not be half-sent: answer 500.
        let failed = written.is_err();
        WithSession {
            inner,
            set_cookie: (!failed).then_some(value),
            pre_cookie: None,
            vary: true,
            failed,
        }
    }

    /// Adds the pre-session cookie `pre` with its `Max-Age`.
    pub(crate) fn with_pre_session(
        mut self,
        pre: Option<(PreSession, Duration)>,
        cookie: &CookieConfig<'_>,
    ) -> Self {
        let Some((pre, max_age)) = pre else {
            return self;
        };
        let mut value = heapless::String::new();
        let written = PreCookieName::for_session_cookie(cookie.name())
            .map_err(|_| core::fmt::Error)
            .and_then(|name| {
                write_set_cookie(&mut value, &name.config(*cookie), pre.encode(), max_age)
            });
        if written.is_err() {
            self.failed = true;
        }
        self.pre_cookie = Some(value);
        self.vary = true;
        self
    }
}

impl<T: IntoResponse> IntoResponse for WithSession<T> {
    async fn write_to<R: Read, W: ResponseWriter<Error = R::Error>>(
        self,
        connection: Connection<'_, R>,
        response_writer: W,
    ) -> Result<ResponseSent, W::Error> {
        if self.failed {
            let response = Response::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session cookie too long\n",
            );
            return response_writer.write_response(connection, response).await;
        }
        self.inner
            .write_to(
                connection,
                AddSessionHeaders {
                    inner: response_writer,
                    set_cookie: self.set_cookie,
                    pre_cookie: self.pre_cookie,
                    vary: self.vary,
                },
            )
            .await
    }
}

struct AddSessionHeaders<W> {
    inner: W,
    set_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    pre_cookie: Option<heapless::String<SET_COOKIE_CAPACITY>>,
    vary: bool,
}

impl<W: ResponseWriter> ResponseWriter for AddSessionHeaders<W> {
    type Error = W::Error;

    async fn write_response<R: Read<Error = Self::Error>, H: HeadersIter, B: Body>(
        self,
        connection: Connection<'_, R>,
        response: Response<H, B>,
    ) -> Result<ResponseSent, Self::Error> {
        match (&self.set_cookie, &self.pre_cookie) {
            (Some(value), Some(pre)) => {
                let headers = [
                    ("Set-Cookie", value.as_str()),
                    ("Set-Cookie", pre.as_str()),
                    ("Cache-Control", "no-store"),
                    ("Vary", "Cookie"),
                ];
                self.inner
                    .write_response(connection, response.with_headers(headers))
                    .await
            }
            (Some(value), None) | (None, Some(value)) => {
                let headers = [
                    ("Set-Cookie", value.as_str()),
                    ("Cache-Control", "no-store"),
                    ("Vary", "Cookie"),
                ];
                self.inner
                    .write_response(connection, response.with_headers(headers))
                    .await
            }
            (None, None) if self.vary => {
                self.inner
                    .write_response(connection, response.with_header("Vary", "Cookie"))
                    .await
            }
            (None, None) => self.inner.write_response(connection, response).await,
        }
    }
}
