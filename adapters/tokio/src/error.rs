//! Errors a handler sees from its session.

use crate::store::StoreError;

/// A session operation failed. Nothing was silently dropped: the response
/// becomes an error (500, or 503 when the server is out of room or randomness),
/// even if the handler ignores this value.
#[derive(Debug)]
pub enum SessionError {
    /// The store failed; the cause is logged.
    Store(StoreError),
    /// The random number generator failed: no session was created (503).
    Rng,
    /// The generator repeated live ids on every attempt (503).
    Collision,
    /// The encoded data is larger than the configured limit; nothing was stored.
    TooLarge {
        /// The encoded size.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The data could not be encoded.
    Encode(postcard::Error),
    /// Other writers to this session (requests on other servers, or
    /// sharing no lock with this one) won every compare-and-swap of an
    /// update, or every compare-and-delete of a `regenerate`, for all its
    /// attempts (503). It means contention and nothing else. Nothing was
    /// lost: the session keeps the winners' data (and, after `regenerate`,
    /// its old id); the client may retry.
    Contended,
    /// The request did not pass through a `SessionLayer`.
    MissingLayer,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Store(e) => write!(f, "{e}"),
            SessionError::Rng => f.write_str("the random number generator failed"),
            SessionError::Collision => {
                f.write_str("the random number generator keeps repeating live session ids")
            }
            SessionError::TooLarge { len, limit } => {
                write!(
                    f,
                    "session data of {len} bytes is over the limit of {limit} bytes"
                )
            }
            SessionError::Encode(e) => write!(f, "session data could not be encoded: {e}"),
            SessionError::Contended => f.write_str("too many concurrent writers on one session"),
            SessionError::MissingLayer => f.write_str("no SessionLayer in front of this handler"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Store(e) => Some(e),
            SessionError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::Store(e)
    }
}

impl SessionError {
    /// The status a response for this error carries.
    pub fn status(&self) -> http::StatusCode {
        match self {
            SessionError::Store(StoreError::Full)
            | SessionError::Rng
            | SessionError::Collision
            | SessionError::Contended => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for SessionError {
    fn into_response(self) -> axum_core::response::Response {
        tracing::error!(error = %self, "session error");
        let status = self.status();
        let mut response = (status, status.canonical_reason().unwrap_or("error")).into_response();
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        response
    }
}
