//! Idle and absolute expiry, with a throttled rolling refresh.

use serde::{Deserialize, Serialize};

use crate::{Duration, Instant};

/// The two deadlines of one session.
///
/// A session is live while `now < min(idle, absolute)`: at the deadline
/// itself it has expired. Records store deadlines rather than start times so
/// that a restore after a reboot (when a monotonic clock restarts at zero) can
/// keep each session's *remaining* lifetime; see
/// [`Table::restore_snapshot`](crate::table::Table::restore_snapshot).
///
/// ```
/// use sesh::{expiry::Deadlines, Instant};
/// let d = Deadlines { idle: Instant::from_secs(60), absolute: Instant::from_secs(3_600) };
/// assert!(!d.is_expired(Instant::from_millis(59_999)));
/// assert!(d.is_expired(Instant::from_secs(60))); // at the deadline it has expired
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deadlines {
    /// Last use plus the idle timeout; moved forward by a refresh.
    pub idle: Instant,
    /// Creation (or the last id regeneration) plus the absolute lifetime; never moves.
    pub absolute: Instant,
}

impl Deadlines {
    /// The earlier of the two: when the session expires.
    ///
    /// ```
    /// use sesh::{expiry::Deadlines, Instant};
    /// let d = Deadlines { idle: Instant::from_secs(5), absolute: Instant::from_secs(3) };
    /// assert_eq!(d.expires_at(), Instant::from_secs(3));
    /// ```
    pub fn expires_at(&self) -> Instant {
        core::cmp::min(self.idle, self.absolute)
    }

    /// Whether the session has expired at `now` (`now >= expires_at()`).
    ///
    /// ```
    /// use sesh::{expiry::Deadlines, Instant};
    /// let d = Deadlines { idle: Instant::from_secs(5), absolute: Instant::from_secs(9) };
    /// assert!(!d.is_expired(Instant::from_millis(4_999)));
    /// assert!(d.is_expired(Instant::from_secs(5)));
    /// ```
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at()
    }

    /// The time left at `now`: the cookie's `Max-Age`.
    ///
    /// ```
    /// use sesh::{expiry::Deadlines, Duration, Instant};
    /// let d = Deadlines { idle: Instant::from_secs(5), absolute: Instant::from_secs(9) };
    /// assert_eq!(d.remaining(Instant::from_secs(2)), Duration::from_secs(3));
    /// ```
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at().saturating_duration_since(now)
    }
}

/// How long sessions live.
///
/// - **Idle timeout**: a session unused for this long expires. Use refreshes
///   it, but only once `refresh_percent` of the timeout has passed since the
///   last refresh, so that a busy session does not cost a flash or Redis
///   write (and a new `Set-Cookie`) on every request.
/// - **Absolute lifetime**: a session expires this long after it was created
///   (or its id regenerated), however busy it is.
///
/// Defaults: 30 minutes idle, 8 hours absolute, refresh after 25 % of the idle
/// timeout; OWASP suggests 15–30 minutes idle and 4–8 hours absolute for
/// ordinary applications.
///
/// ```
/// use sesh::{Duration, ExpiryPolicy};
/// const POLICY: ExpiryPolicy = ExpiryPolicy::new()
///     .with_idle_timeout(Duration::from_mins(10))
///     .with_absolute_lifetime(Duration::from_hours(4))
///     .with_refresh_percent(50);
/// assert_eq!(POLICY.idle_timeout(), Duration::from_mins(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExpiryPolicy {
    idle: Duration,
    absolute: Duration,
    refresh_percent: u8,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy::new()
    }
}

impl ExpiryPolicy {
    /// 30 minutes idle, 8 hours absolute, refresh after 25 %.
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy};
    /// const POLICY: ExpiryPolicy = ExpiryPolicy::new();
    /// assert_eq!(POLICY.idle_timeout(), Duration::from_mins(30));
    /// assert_eq!(POLICY, ExpiryPolicy::default());
    /// ```
    pub const fn new() -> Self {
        ExpiryPolicy {
            idle: Duration::from_mins(30),
            absolute: Duration::from_hours(8),
            refresh_percent: 25,
        }
    }

    /// Sets the idle timeout.
    ///
    /// ⚠️ Long idle timeouts leave an unattended, logged-in browser usable for
    /// longer; OWASP suggests 2–5 minutes for high-value applications.
    ///
    /// ```
    /// let p = sesh::ExpiryPolicy::new().with_idle_timeout(sesh::Duration::from_mins(5));
    /// assert_eq!(p.idle_timeout(), sesh::Duration::from_mins(5));
    /// ```
    pub const fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Sets the absolute lifetime.
    ///
    /// ⚠️ A long absolute lifetime lets a stolen cookie work for longer.
    ///
    /// ```
    /// let p = sesh::ExpiryPolicy::new().with_absolute_lifetime(sesh::Duration::from_hours(1));
    /// assert_eq!(p.absolute_lifetime(), sesh::Duration::from_hours(1));
    /// ```
    pub const fn with_absolute_lifetime(mut self, absolute: Duration) -> Self {
        self.absolute = absolute;
        self
    }

    /// Sets the share of the idle timeout (0–100 %, clamped) that must pass
    /// before a use refreshes the idle deadline. 0 refreshes on every use
    /// (a write per request); 100 never refreshes, so the idle timeout counts
    /// from creation.
    ///
    /// ```
    /// let p = sesh::ExpiryPolicy::new().with_refresh_percent(200);
    /// assert_eq!(p.refresh_percent(), 100);
    /// ```
    pub const fn with_refresh_percent(mut self, percent: u8) -> Self {
        self.refresh_percent = if percent > 100 { 100 } else { percent };
        self
    }

    /// The idle timeout.
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy};
    /// assert_eq!(ExpiryPolicy::new().idle_timeout(), Duration::from_mins(30));
    /// ```
    pub const fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// The absolute lifetime.
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy};
    /// assert_eq!(ExpiryPolicy::new().absolute_lifetime(), Duration::from_hours(8));
    /// ```
    pub const fn absolute_lifetime(&self) -> Duration {
        self.absolute
    }

    /// The refresh share in percent.
    ///
    /// ```
    /// use sesh::ExpiryPolicy;
    /// assert_eq!(ExpiryPolicy::new().refresh_percent(), 25);
    /// assert_eq!(ExpiryPolicy::new().with_refresh_percent(10).refresh_percent(), 10);
    /// ```
    pub const fn refresh_percent(&self) -> u8 {
        self.refresh_percent
    }

    /// The deadlines of a session created (or regenerated) at `now`.
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy, Instant};
    /// let d = ExpiryPolicy::new().start(Instant::ZERO);
    /// assert_eq!(d.idle, Instant::ZERO + Duration::from_mins(30));
    /// assert_eq!(d.absolute, Instant::ZERO + Duration::from_hours(8));
    /// ```
    pub fn start(&self, now: Instant) -> Deadlines {
        Deadlines {
            idle: now.saturating_add(self.idle),
            absolute: now.saturating_add(self.absolute),
        }
    }

    /// Applies a use at `now`: moves the idle deadline to `now + idle` if the
    /// refresh share has passed since the last refresh. Returns whether it did.
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy, Instant};
    /// let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_secs(100)).with_refresh_percent(25);
    /// let mut d = policy.start(Instant::ZERO);
    /// assert!(!policy.touch(&mut d, Instant::from_secs(24)));
    /// assert!(policy.touch(&mut d, Instant::from_secs(25)));
    /// assert_eq!(d.idle, Instant::from_secs(125));
    /// ```
    pub fn touch(&self, deadlines: &mut Deadlines, now: Instant) -> bool {
        // Time since the last refresh, from the deadline it set.
        let since_refresh = now
            .saturating_add(self.idle)
            .saturating_duration_since(deadlines.idle);
        let refresh =
            since_refresh >= self.idle.percent(self.refresh_percent) && self.refresh_percent < 100;
        if refresh {
            deadlines.idle = now.saturating_add(self.idle);
        }
        refresh
    }

    /// Caps stored deadlines to what this policy allows from `now`, so a record
    /// written under a longer policy, or bytes from a store, cannot outlive it.
    ///
    /// ```
    /// use sesh::{expiry::Deadlines, Duration, ExpiryPolicy, Instant};
    /// let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_secs(10));
    /// let far = Deadlines { idle: Instant::MAX, absolute: Instant::MAX };
    /// let capped = policy.clamp(far, Instant::ZERO);
    /// assert_eq!(capped.idle, Instant::from_secs(10));
    /// ```
    pub fn clamp(&self, deadlines: Deadlines, now: Instant) -> Deadlines {
        let limit = self.start(now);
        Deadlines {
            idle: core::cmp::min(deadlines.idle, limit.idle),
            absolute: core::cmp::min(deadlines.absolute, limit.absolute),
        }
    }
}

/// How long one session lives, chosen per session (at login, say).
///
/// - [`Lifetime::Default`]: the table's [`ExpiryPolicy`]; the cookie carries
///   `Max-Age`. Every session starts so.
/// - [`Lifetime::Persistent`] ("remember me"): the session's own idle and
///   absolute lifetimes (refreshed at the policy's refresh share); the
///   cookie carries `Max-Age`. [`Lifetime::REMEMBER_ME`] is 30 days idle,
///   90 days absolute.
/// - [`Lifetime::BrowserSession`]: the policy's deadlines on the server, but
///   the cookie has neither `Max-Age` nor `Expires`, so the browser drops it
///   when it closes.
///
/// ```
/// use sesh::{expiry::Lifetime, Duration, ExpiryPolicy, Instant};
/// let policy = ExpiryPolicy::new();
/// let own = policy.for_lifetime(Lifetime::REMEMBER_ME);
/// assert_eq!(own.idle_timeout(), Duration::from_hours(24 * 30));
/// assert_eq!(policy.for_lifetime(Lifetime::BrowserSession), policy);
/// assert!(!Lifetime::BrowserSession.cookie_has_max_age());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lifetime {
    /// The table's policy, cookie with `Max-Age`.
    #[default]
    Default,
    /// Its own idle timeout and absolute lifetime, cookie with `Max-Age`.
    Persistent {
        /// The idle timeout.
        idle: Duration,
        /// The absolute lifetime.
        absolute: Duration,
    },
    /// The table's policy, cookie without `Max-Age` or `Expires`.
    BrowserSession,
}

impl Lifetime {
    /// Remember me: 30 days idle, 90 days absolute.
    pub const REMEMBER_ME: Lifetime = Lifetime::Persistent {
        idle: Duration::from_hours(24 * 30),
        absolute: Duration::from_hours(24 * 90),
    };

    /// Whether the session's cookie carries `Max-Age` (false for a browser
    /// session).
    ///
    /// ```
    /// use sesh::expiry::Lifetime;
    /// assert!(Lifetime::Default.cookie_has_max_age() && Lifetime::REMEMBER_ME.cookie_has_max_age());
    /// ```
    pub const fn cookie_has_max_age(&self) -> bool {
        !matches!(self, Lifetime::BrowserSession)
    }
}

impl ExpiryPolicy {
    /// The policy that governs a session of `lifetime`: this one, or for a
    /// persistent session its own idle and absolute lifetimes (with this
    /// refresh share).
    ///
    /// ```
    /// use sesh::{expiry::Lifetime, Duration, ExpiryPolicy};
    /// let own = Lifetime::Persistent { idle: Duration::from_hours(1), absolute: Duration::from_hours(2) };
    /// let p = ExpiryPolicy::new().for_lifetime(own);
    /// assert_eq!((p.idle_timeout(), p.absolute_lifetime()), (Duration::from_hours(1), Duration::from_hours(2)));
    /// ```
    pub const fn for_lifetime(&self, lifetime: Lifetime) -> ExpiryPolicy {
        match lifetime {
            Lifetime::Persistent { idle, absolute } => ExpiryPolicy {
                idle,
                absolute,
                refresh_percent: self.refresh_percent,
            },
            Lifetime::Default | Lifetime::BrowserSession => *self,
        }
    }
}
