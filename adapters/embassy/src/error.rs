//! Errors a handler sees from its session.

use core::fmt;

use picoserve::response::{IntoResponse, StatusCode};

/// A session operation failed. Its response is 503 (out of room or
/// randomness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionError {
    /// Every slot holds a logged-in session: no new session fits.
    Full,
    /// The RNG failed; no session was created (fail closed).
    Rng,
    /// The RNG repeated live ids on every attempt.
    Collision,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionError::Full => "the session table is full of logged-in sessions",
            SessionError::Rng => "the random number generator failed",
            SessionError::Collision => {
                "the random number generator keeps repeating live session ids"
            }
        })
    }
}

impl core::error::Error for SessionError {}

impl SessionError {
    /// The status a response for this error carries.
    pub fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
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
