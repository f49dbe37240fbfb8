//! Wall-clock time for the session list: a board has only a clock since
//! boot, so the offset to Unix time is learned (or never known).

use core::cell::Cell;
use core::fmt;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use sesh::Instant;

/// The offset from the sessions' clock (milliseconds since boot) to Unix
/// time, once someone trusted has told it: the host's system clock
/// (`firmware-host`), the emulator's host (mps2-an386, through
/// semihosting), or on a product an RTC or an authenticated time source.
/// Until then [`WallClock::rfc3339`] writes times since boot (see there).
pub struct WallClock(Mutex<CriticalSectionRawMutex, Cell<Option<u64>>>);

impl WallClock {
    /// No wall time known.
    pub const fn new() -> WallClock {
        WallClock(Mutex::new(Cell::new(None)))
    }

    /// Learns that `now` on the sessions' clock is `unix_ms` milliseconds
    /// after the Unix epoch. A time before boot is refused (`false`).
    ///
    /// ```
    /// use sesh::Instant;
    /// let clock = firmware::WallClock::new();
    /// assert!(clock.learn(Instant::from_secs(10), 1_700_000_010_000));
    /// assert_eq!(clock.unix_ms(Instant::from_secs(12)), Some(1_700_000_012_000));
    /// ```
    pub fn learn(&self, now: Instant, unix_ms: u64) -> bool {
        let Some(offset) = unix_ms.checked_sub(now.as_millis()) else {
            return false;
        };
        self.0.lock(|cell| cell.set(Some(offset)));
        true
    }

    /// `at` in Unix milliseconds, if the offset is known.
    pub fn unix_ms(&self, at: Instant) -> Option<u64> {
        let offset = self.0.lock(Cell::get)?;
        at.as_millis().checked_add(offset)
    }

    /// `at` as an RFC 3339 time in UTC, to the second: the wall time when
    /// the offset is known; otherwise the time since boot counted from
    /// the Unix epoch (`1970-01-01T00:05:00Z` is five minutes after boot),
    /// so that clients keep one format and can tell the two apart by the
    /// year.
    ///
    /// ```
    /// use sesh::Instant;
    /// let clock = firmware::WallClock::new();
    /// assert_eq!(clock.rfc3339(Instant::from_secs(300)).to_string(), "1970-01-01T00:05:00Z");
    /// clock.learn(Instant::ZERO, 1_796_605_385_000);
    /// assert_eq!(clock.rfc3339(Instant::from_secs(1)).to_string(), "2026-12-07T01:03:06Z");
    /// ```
    pub fn rfc3339(&self, at: Instant) -> Rfc3339 {
        Rfc3339(self.unix_ms(at).unwrap_or(at.as_millis()) / 1000)
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::new()
    }
}

/// Seconds since the Unix epoch, written as RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub u64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        let days = secs / 86_400;
        let rest = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for days on or after the epoch).
// Every intermediate is bounded by the 400-year era arithmetic: no
// operation can overflow or underflow for any `u64` day count.
#[allow(clippy::arithmetic_side_effects)]
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::Rfc3339;

    #[test]
    fn formats_known_dates() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Rfc3339(1_709_251_199).to_string(), "2024-02-29T23:59:59Z");
        assert_eq!(Rfc3339(4_102_444_800).to_string(), "2100-01-01T00:00:00Z");
    }
}
