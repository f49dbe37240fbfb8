//! Caller-supplied time: the core never reads a clock.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since an epoch the caller chooses.
///
/// On a microcontroller this is usually the monotonic clock since boot
/// (`embassy_time::Instant::now().as_millis()`); on a host it can be a
/// monotonic clock anchored to the Unix epoch. Arithmetic saturates, so no
/// value coming from stored bytes can overflow.
///
/// ```
/// use sesh::{Duration, Instant};
/// let t = Instant::from_millis(1_000);
/// assert_eq!(t + Duration::from_secs(2), Instant::from_millis(3_000));
/// assert_eq!(t.saturating_duration_since(Instant::from_millis(5_000)), Duration::ZERO);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The epoch.
    ///
    /// ```
    /// use sesh::Instant;
    /// assert_eq!(Instant::ZERO, Instant::default());
    /// assert_eq!(Instant::ZERO.as_millis(), 0);
    /// ```
    pub const ZERO: Instant = Instant { millis: 0 };
    /// The latest representable instant.
    ///
    /// ```
    /// use sesh::{Duration, Instant};
    /// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
    /// assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    /// ```
    pub const MAX: Instant = Instant { millis: u64::MAX };

    /// An instant `millis` milliseconds after the epoch.
    ///
    /// ```
    /// assert_eq!(sesh::Instant::from_millis(5).as_millis(), 5);
    /// ```
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// An instant `secs` seconds after the epoch (saturating).
    ///
    /// ```
    /// assert_eq!(sesh::Instant::from_secs(2).as_millis(), 2_000);
    /// ```
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            millis: secs.saturating_mul(1000),
        }
    }

    /// Milliseconds since the epoch.
    ///
    /// ```
    /// assert_eq!(sesh::Instant::from_secs(1).as_millis(), 1_000);
    /// ```
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// ```
    /// use sesh::{Duration, Instant};
    /// let d = Instant::from_millis(9).saturating_duration_since(Instant::from_millis(4));
    /// assert_eq!(d, Duration::from_millis(5));
    /// ```
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    ///
    /// ```
    /// use sesh::{Duration, Instant};
    /// assert_eq!(Instant::MAX.saturating_add(Duration::from_secs(1)), Instant::MAX);
    /// ```
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant {
            millis: self.millis.saturating_add(d.as_millis()),
        }
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    ///
    /// ```
    /// use sesh::{Duration, Instant};
    /// assert_eq!(Instant::from_millis(3).saturating_sub(Duration::from_secs(1)), Instant::ZERO);
    /// ```
    pub const fn saturating_sub(self, d: Duration) -> Instant {
        Instant {
            millis: self.millis.saturating_sub(d.as_millis()),
        }
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.millis)
    }
}

/// A span of time in milliseconds.
///
/// The core keeps its own type rather than `core::time::Duration` so that
/// firmware does no 128-bit arithmetic; a `core::time::Duration` converts with
/// `From` (saturating).
///
/// ```
/// use sesh::Duration;
/// assert_eq!(Duration::from_mins(2), Duration::from_secs(120));
/// assert_eq!(Duration::from(core::time::Duration::from_millis(1500)).as_millis(), 1500);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// No time at all.
    ///
    /// ```
    /// use sesh::{Duration, Instant};
    /// assert_eq!(Duration::ZERO, Duration::default());
    /// assert_eq!(Instant::from_secs(1).saturating_duration_since(Instant::from_secs(2)), Duration::ZERO);
    /// ```
    pub const ZERO: Duration = Duration { millis: 0 };

    /// `millis` milliseconds.
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_millis(7).as_millis(), 7);
    /// ```
    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    /// `secs` seconds (saturating).
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_secs(7).as_millis(), 7_000);
    /// ```
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs.saturating_mul(1000),
        }
    }

    /// `mins` minutes (saturating).
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_mins(1).as_secs_ceil(), 60);
    /// ```
    pub const fn from_mins(mins: u64) -> Self {
        Duration::from_secs(mins.saturating_mul(60))
    }

    /// `hours` hours (saturating).
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_hours(1), sesh::Duration::from_mins(60));
    /// ```
    pub const fn from_hours(hours: u64) -> Self {
        Duration::from_mins(hours.saturating_mul(60))
    }

    /// Whole milliseconds.
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_secs(1).as_millis(), 1000);
    /// ```
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Seconds, rounded up: the value a cookie's `Max-Age` carries.
    ///
    /// ```
    /// assert_eq!(sesh::Duration::from_millis(1001).as_secs_ceil(), 2);
    /// assert_eq!(sesh::Duration::from_millis(1000).as_secs_ceil(), 1);
    /// ```
    pub const fn as_secs_ceil(self) -> u64 {
        self.millis.div_ceil(1000)
    }

    /// `self` scaled by `percent / 100`, without overflow.
    pub(crate) const fn percent(self, percent: u8) -> Duration {
        let p = percent as u64;
        // Split to keep the product in range for any u64.
        let whole = (self.millis / 100).saturating_mul(p);
        // Both factors are below 256, so the product fits.
        let part = (self.millis % 100).wrapping_mul(p) / 100;
        Duration {
            millis: whole.saturating_add(part),
        }
    }
}

impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Self {
        Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        core::time::Duration::from_millis(d.millis)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_exact_and_never_overflows() {
        assert_eq!(Duration::from_millis(1000).percent(25).as_millis(), 250);
        assert_eq!(Duration::from_millis(199).percent(50).as_millis(), 99);
        assert!(Duration::from_millis(u64::MAX).percent(100).as_millis() > u64::MAX / 2);
    }
}
