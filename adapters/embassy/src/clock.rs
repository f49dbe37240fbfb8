//! embassy-time's clock as the core's `Instant`.

/// Now, in milliseconds since boot.
pub fn now() -> sesh::Instant {
    sesh::Instant::from_millis(embassy_time::Instant::now().as_millis())
}

/// The embassy instant for a core instant.
pub(crate) fn to_embassy(at: sesh::Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_millis(at.as_millis())
}
