//! The sessions' clock: embassy-time's by default, injectable for tests.

/// Where [`Sessions`](crate::Sessions) reads the time: expiry, refresh and
/// cookie `Max-Age` all come from it.
pub trait Clock {
    /// Now, in milliseconds since an origin that never moves back.
    fn now(&self) -> sesh::Instant;
}

/// embassy-time's clock (milliseconds since boot): the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> sesh::Instant {
        now()
    }
}

/// Now, on embassy-time's clock, in milliseconds since boot.
pub fn now() -> sesh::Instant {
    sesh::Instant::from_millis(embassy_time::Instant::now().as_millis())
}
