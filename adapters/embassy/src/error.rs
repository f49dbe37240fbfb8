//! Errors a handler sees from its session.

use core::fmt;

use picoserve::response::{IntoResponse, StatusCode};

/// A session operation failed. Its response is 503 (out of room or
/// randomness) or 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionError {
    /// Every slot holds a logged-in session: no new session fits.
    Full,
    /// The RNG failed; no session was created (fail closed).
    Rng,
    /// The RNG repeated live ids on every attempt.
    Collision,
    /// [`Sessions::init`](crate::Sessions::init) has not run yet (no RNG
    /// or keys): a start-up ordering bug, 500. It means nothing else: an
    /// operation on a session that is not live starts a new one instead.
    NotReady,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionError::Full => "the session table is full of logged-in sessions",
            SessionError::Rng => "the random number generator failed",
            SessionError::Collision => {
                "the random number generator keeps repeating live session ids"
            }
            SessionError::NotReady => "sessions are not initialised",
        })
    }
}

impl core::error::Error for SessionError {}

impl SessionError {
    /// The status a response for this error carries.
    pub fn status(&self) -> StatusCode {
        match self {
            SessionError::NotReady => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for SessionError {
    async fn write_to<
        R: picoserve::io::Read,
        W: picoserve::response::ResponseWriter<Error = R::Error>,
    >(
        self,
        connection: picoserve::response::Connection<'_, R>,
        response_writer: W,
    ) -> Result<picoserve::ResponseSent, W::Error> {
        warn!("session error: {}", self);
        let response = picoserve::response::Response::new(self.status(), "session unavailable\n")
            .with_header("Cache-Control", "no-store");
        response_writer.write_response(connection, response).await
    }
}
