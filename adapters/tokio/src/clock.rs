//! The host clock: monotonic, anchored to the Unix epoch once.

use sesh::Instant;

/// Turns tokio's monotonic clock into the core's [`Instant`].
///
/// The clock reads the wall clock once, at construction, and from then on
/// adds monotonic time. So a wall-clock jump while the server runs neither
/// expires sessions nor extends them, while instants stay comparable across
/// restarts and across servers that share a store (to within their clocks'
/// agreement at start-up). Under `tokio::time::pause` it follows the paused
/// clock, which makes expiry testable.
#[derive(Debug, Clone, Copy)]
pub struct HostClock {
    anchor_millis: u64,
    start: tokio::time::Instant,
}

impl HostClock {
    /// Anchors to the current wall-clock time.
    pub fn new() -> Self {
        let anchor_millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        HostClock::anchored_at(anchor_millis)
    }

    /// Anchors to `anchor_millis` since the Unix epoch (for tests).
    pub fn anchored_at(anchor_millis: u64) -> Self {
        HostClock {
            anchor_millis,
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now(&self) -> Instant {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        Instant::from_millis(self.anchor_millis).saturating_add(elapsed.into())
    }
}

impl Default for HostClock {
    fn default() -> Self {
        HostClock::new()
    }
}
