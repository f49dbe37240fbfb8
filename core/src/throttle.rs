//! Login throttling: a fixed-capacity attempt limiter with exponential
//! back-off, keyed by a hash of a client address or a user name, driven by an
//! [`Instant`] you pass in.
//!
//! [`AttemptLimiter::attempt`] counts an attempt *before* the password is
//! checked, and [`AttemptLimiter::succeeded`] forgets the key once the
//! password was right. So a burst of requests in flight at once is counted
//! whole, and a key that keeps failing waits longer and longer:
//!
//! - the first [`ThrottlePolicy::free_failures`] attempts (3 by default) are
//!   free;
//! - after that, each attempt must wait [`ThrottlePolicy::delay_after`] the
//!   previous one: 1 s, then 2 s, 4 s, … up to 15 minutes by default;
//! - an attempt refused while waiting is not counted and checks no password,
//!   even a right one;
//! - a key that stays quiet for [`ThrottlePolicy::forget_after`] (15 minutes
//!   by default) after its wait ended starts afresh.
//!
//! **A full table fails closed.** The table holds at most `N` keys, and an
//! entry leaves it only when its key succeeds or when it is forgotten by the
//! time rule above, never because other keys need room. When every slot
//! holds an entry that is not yet forgotten, a *new* key is refused
//! ([`AttemptError::Full`]) until a slot frees; keys already in the table go
//! on as before. A flood of new client addresses or user names therefore
//! never unlocks a user the table is holding back (evicting "the least
//! backed-off" entry would let a flood of keys with more failures push the
//! user's entry out, and reset its back-off), at the price that such a flood
//! can keep *new* keys waiting. That is no new denial of service: anyone can
//! already hold a user back by failing that user's password a few times.
//! Size `N` above the number of distinct keys that fail within
//! `forget_after` in normal use.
//!
//! Keys are 128 bits.
#![cfg_attr(
    feature = "signed",
    doc = "[`KeyHasher`] (feature `signed`) makes them with a"
)]
#![cfg_attr(
    not(feature = "signed"),
    doc = "`KeyHasher` (feature `signed`) makes them with a"
)]
//! keyed hash (HMAC-SHA256 under a secret made per boot or per process), so
//! the table holds no user names or addresses and a client cannot choose
//! names that collide with another's key.
//!
//! ```
//! use sesh::throttle::{AttemptError, AttemptKey, AttemptLimiter};
//! use sesh::{Duration, Instant};
//!
//! let mut users: AttemptLimiter<8> = AttemptLimiter::new();
//! let alice = AttemptKey::from_bytes([1; 16]);
//! let t0 = Instant::from_secs(100);
//!
//! // Three wrong passwords are free…
//! for _ in 0..3 {
//!     users.attempt(&alice, t0)?; // counted; then the password is checked (wrong)
//! }
//! // …the fourth waits a second, even with the right password.
//! assert_eq!(
//!     users.attempt(&alice, t0),
//!     Err(AttemptError::BackingOff { retry_after: Duration::from_secs(1) })
//! );
//! let t1 = t0 + Duration::from_secs(1);
//! users.attempt(&alice, t1)?; // allowed again: this time the password is right
//! users.succeeded(&alice);
//! assert_eq!(users.failures(&alice, t1), 0);
//! # Ok::<(), AttemptError>(())
//! ```

use core::fmt;

use crate::time::{Duration, Instant};

/// What the limiter counts attempts against: 128 bits, normally a keyed hash
/// of a client address or a user name
#[cfg_attr(feature = "signed", doc = "([`KeyHasher`]).")]
#[cfg_attr(not(feature = "signed"), doc = "(`KeyHasher`, feature `signed`).")]
///
/// `Debug` prints no bytes.
///
/// ```
/// use sesh::throttle::AttemptKey;
/// let key = AttemptKey::from_bytes([7; 16]);
/// assert_eq!(key.as_bytes(), &[7; 16]);
/// assert_eq!(format!("{key:?}"), "AttemptKey(..)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AttemptKey([u8; 16]);

impl AttemptKey {
    /// A key from 16 bytes the caller made (say, its own keyed hash).
    ///
    /// ```
    /// let key = sesh::throttle::AttemptKey::from_bytes([0; 16]);
    /// assert_eq!(key, sesh::throttle::AttemptKey::from_bytes([0; 16]));
    /// ```
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        AttemptKey(bytes)
    }

    /// The key's bytes.
    ///
    /// ```
    /// assert_eq!(sesh::throttle::AttemptKey::from_bytes([3; 16]).as_bytes()[0], 3);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for AttemptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttemptKey(..)")
    }
}

/// How many attempts are free, how the wait grows, and when a quiet key is
/// forgotten.
///
/// ```
/// use sesh::throttle::ThrottlePolicy;
/// use sesh::Duration;
/// let policy = ThrottlePolicy::new();
/// assert_eq!(policy.free_failures(), 3);
/// assert_eq!(policy.delay_after(2), Duration::ZERO);
/// assert_eq!(policy.delay_after(3), Duration::from_secs(1));
/// assert_eq!(policy.delay_after(4), Duration::from_secs(2));
/// assert_eq!(policy.delay_after(40), Duration::from_mins(15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ThrottlePolicy {
    free_failures: u32,
    base_delay: Duration,
    max_delay: Duration,
    forget_after: Duration,
}

impl ThrottlePolicy {
    /// 3 free attempts, then a wait of 1 s doubling with each further
    /// attempt up to 15 minutes; forgotten after 15 quiet minutes.
    ///
    /// ```
    /// assert_eq!(sesh::throttle::ThrottlePolicy::new(), Default::default());
    /// ```
    pub const fn new() -> Self {
        ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_mins(15),
            forget_after: Duration::from_mins(15),
        }
    }

    /// Attempts a key may make without waiting (after a success, or once
    /// forgotten). ⚠️ Each one is a password guess: keep it small.
    ///
    /// ```
    /// let policy = sesh::throttle::ThrottlePolicy::new().with_free_failures(5);
    /// assert_eq!(policy.free_failures(), 5);
    /// ```
    pub const fn with_free_failures(mut self, free: u32) -> Self {
        self.free_failures = free;
        self
    }

    /// The first wait, doubled with each further attempt.
    ///
    /// ```
    /// use sesh::{throttle::ThrottlePolicy, Duration};
    /// let policy = ThrottlePolicy::new().with_base_delay(Duration::from_millis(100));
    /// assert_eq!(policy.delay_after(4), Duration::from_millis(200));
    /// ```
    pub const fn with_base_delay(mut self, base: Duration) -> Self {
        self.base_delay = base;
        self
    }

    /// The longest wait.
    ///
    /// ```
    /// use sesh::{throttle::ThrottlePolicy, Duration};
    /// let policy = ThrottlePolicy::new().with_max_delay(Duration::from_secs(3));
    /// assert_eq!(policy.delay_after(10), Duration::from_secs(3));
    /// ```
    pub const fn with_max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// How long a key must stay quiet after its wait ended to be forgotten
    /// (its count starts again at zero, and its slot is free).
    ///
    /// ```
    /// use sesh::{throttle::ThrottlePolicy, Duration};
    /// let policy = ThrottlePolicy::new().with_forget_after(Duration::from_hours(1));
    /// assert_eq!(policy.forget_after(), Duration::from_hours(1));
    /// ```
    pub const fn with_forget_after(mut self, quiet: Duration) -> Self {
        self.forget_after = quiet;
        self
    }

    /// See [`with_free_failures`](Self::with_free_failures).
    ///
    /// ```
    /// assert_eq!(sesh::throttle::ThrottlePolicy::new().free_failures(), 3);
    /// ```
    pub const fn free_failures(&self) -> u32 {
        self.free_failures
    }

    /// See [`with_forget_after`](Self::with_forget_after).
    ///
    /// ```
    /// use sesh::{throttle::ThrottlePolicy, Duration};
    /// assert_eq!(ThrottlePolicy::new().forget_after(), Duration::from_mins(15));
    /// ```
    pub const fn forget_after(&self) -> Duration {
        self.forget_after
    }

    /// The wait after `failures` counted attempts: none while they are
    /// fewer than [`free_failures`](Self::free_failures), then the base
    /// delay, doubled for each further one, at most the maximum.
    ///
    /// ```
    /// use sesh::{throttle::ThrottlePolicy, Duration};
    /// let policy = ThrottlePolicy::new();
    /// assert_eq!(policy.delay_after(0), Duration::ZERO);
    /// assert_eq!(policy.delay_after(5), Duration::from_secs(4));
    /// assert_eq!(policy.delay_after(u32::MAX), Duration::from_mins(15));
    /// ```
    pub const fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = failures.saturating_sub(self.free_failures);
        let factor = match 1u64.checked_shl(doublings) {
            Some(f) => f,
            None => u64::MAX,
        };
        let millis = self.base_delay.as_millis().saturating_mul(factor);
        let max = self.max_delay.as_millis();
        Duration::from_millis(if millis < max { millis } else { max })
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy::new()
    }
}

/// Why [`AttemptLimiter::attempt`] refused an attempt. Nothing was counted,
/// and no password may be checked.
///
/// ```
/// use sesh::throttle::{AttemptError, AttemptKey, AttemptLimiter};
/// use sesh::{Duration, Instant};
/// let mut one: AttemptLimiter<1> = AttemptLimiter::new();
/// one.attempt(&AttemptKey::from_bytes([1; 16]), Instant::ZERO)?;
/// let err = one.attempt(&AttemptKey::from_bytes([2; 16]), Instant::ZERO).unwrap_err();
/// assert!(matches!(err, AttemptError::Full { .. }));
/// assert_eq!(err.retry_after(), Duration::from_mins(15));
/// assert_eq!(err.to_string(), "too many clients are failing to log in: retry in 900 s");
/// # Ok::<(), AttemptError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AttemptError {
    /// The key failed too often: it may try again after `retry_after`.
    BackingOff {
        /// How long until the key's next attempt is allowed (never zero).
        retry_after: Duration,
    },
    /// The key is new and every slot holds a key that is not yet forgotten:
    /// refused rather than push out a key that is being held back.
    Full {
        /// How long until the soonest slot frees (never zero).
        retry_after: Duration,
    },
}

impl AttemptError {
    /// How long until an attempt may be allowed: the value of a
    /// `Retry-After` header (in whole seconds, rounded up:
    /// [`Duration::as_secs_ceil`]).
    ///
    /// ```
    /// use sesh::{throttle::AttemptError, Duration};
    /// let err = AttemptError::BackingOff { retry_after: Duration::from_millis(1500) };
    /// assert_eq!(err.retry_after().as_secs_ceil(), 2);
    /// ```
    pub const fn retry_after(&self) -> Duration {
        match self {
            AttemptError::BackingOff { retry_after } | AttemptError::Full { retry_after } => {
                *retry_after
            }
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::BackingOff { retry_after } => write!(
                f,
                "too many failed attempts: retry in {} s",
                retry_after.as_secs_ceil()
            ),
            AttemptError::Full { retry_after } => write!(
                f,
                "too many clients are failing to log in: retry in {} s",
                retry_after.as_secs_ceil()
            ),
        }
    }
}

impl core::error::Error for AttemptError {}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: AttemptKey,
    /// Attempts counted since the key was last forgotten or succeeded.
    failures: u32,
    /// When the last counted attempt was made.
    last: Instant,
}

impl Entry {
    fn waits_until(&self, policy: &ThrottlePolicy) -> Instant {
        self.last.saturating_add(policy.delay_after(self.failures))
    }

    fn forgotten_at(&self, policy: &ThrottlePolicy) -> Instant {
        self.waits_until(policy).saturating_add(policy.forget_after)
    }
}

/// Counts attempts per key in a table of `N` slots: no heap, `const fn new()`
/// for a `static`. See the [module documentation](self) for the rules.
///
/// ```
/// use sesh::throttle::{AttemptKey, AttemptLimiter, ThrottlePolicy};
/// use sesh::{Duration, Instant};
///
/// static POLICY: ThrottlePolicy = ThrottlePolicy::new().with_free_failures(1);
/// let mut limiter: AttemptLimiter<4> = AttemptLimiter::new().with_policy(POLICY);
/// let key = AttemptKey::from_bytes([9; 16]);
/// limiter.attempt(&key, Instant::ZERO)?;
/// assert_eq!(limiter.retry_after(&key, Instant::ZERO), Duration::from_secs(1));
/// assert_eq!(limiter.len(), 1);
/// # Ok::<(), sesh::throttle::AttemptError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AttemptLimiter<const N: usize> {
    entries: heapless::Vec<Entry, N>,
    policy: ThrottlePolicy,
}

impl<const N: usize> AttemptLimiter<N> {
    /// An empty limiter with [`ThrottlePolicy::new`].
    ///
    /// ```
    /// let limiter: sesh::throttle::AttemptLimiter<16> = sesh::throttle::AttemptLimiter::new();
    /// assert!(limiter.is_empty());
    /// assert_eq!(limiter.capacity(), 16);
    /// ```
    pub const fn new() -> Self {
        AttemptLimiter {
            entries: heapless::Vec::new(),
            policy: ThrottlePolicy::new(),
        }
    }

    /// The same limiter with another policy.
    ///
    /// ```
    /// use sesh::throttle::{AttemptLimiter, ThrottlePolicy};
    /// let policy = ThrottlePolicy::new().with_free_failures(5);
    /// let limiter: AttemptLimiter<2> = AttemptLimiter::new().with_policy(policy);
    /// assert_eq!(limiter.policy(), &policy);
    /// ```
    pub const fn with_policy(mut self, policy: ThrottlePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy.
    ///
    /// ```
    /// let limiter: sesh::throttle::AttemptLimiter<2> = sesh::throttle::AttemptLimiter::new();
    /// assert_eq!(limiter.policy().free_failures(), 3);
    /// ```
    pub const fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// Keys held (forgotten ones included until a new key needs their slot
    /// or [`forget_expired`](Self::forget_expired) runs).
    ///
    /// ```
    /// use sesh::{throttle::{AttemptKey, AttemptLimiter}, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// limiter.attempt(&AttemptKey::from_bytes([1; 16]), Instant::ZERO)?;
    /// assert_eq!(limiter.len(), 1);
    /// # Ok::<(), sesh::throttle::AttemptError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    ///
    /// ```
    /// assert!(sesh::throttle::AttemptLimiter::<2>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `N`.
    ///
    /// ```
    /// assert_eq!(sesh::throttle::AttemptLimiter::<7>::new().capacity(), 7);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    fn position(&self, key: &AttemptKey) -> Option<usize> {
        self.entries.iter().position(|e| e.key == *key)
    }

    /// The live entry of `key` (one not yet forgotten at `now`).
    fn live(&self, key: &AttemptKey, now: Instant) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key == *key && now < e.forgotten_at(&self.policy))
    }

    /// Attempts counted for `key` and not yet forgotten at `now`.
    ///
    /// ```
    /// use sesh::{throttle::{AttemptKey, AttemptLimiter}, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// let key = AttemptKey::from_bytes([1; 16]);
    /// limiter.attempt(&key, Instant::ZERO)?;
    /// limiter.attempt(&key, Instant::ZERO)?;
    /// assert_eq!(limiter.failures(&key, Instant::ZERO), 2);
    /// # Ok::<(), sesh::throttle::AttemptError>(())
    /// ```
    pub fn failures(&self, key: &AttemptKey, now: Instant) -> u32 {
        self.live(key, now).map_or(0, |e| e.failures)
    }

    /// How long `key` must wait at `now` before [`attempt`](Self::attempt)
    /// would count an attempt: zero when it would now, else the
    /// `retry_after` of the error it would return.
    ///
    /// ```
    /// use sesh::{throttle::{AttemptKey, AttemptLimiter}, Duration, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// let key = AttemptKey::from_bytes([1; 16]);
    /// assert_eq!(limiter.retry_after(&key, Instant::ZERO), Duration::ZERO);
    /// ```
    pub fn retry_after(&self, key: &AttemptKey, now: Instant) -> Duration {
        match self.refusal(key, now) {
            Some(err) => err.retry_after(),
            None => Duration::ZERO,
        }
    }

    /// Why an attempt of `key` at `now` would be refused, if it would.
    fn refusal(&self, key: &AttemptKey, now: Instant) -> Option<AttemptError> {
        if let Some(entry) = self.live(key, now) {
            let until = entry.waits_until(&self.policy);
            return (now < until).then(|| AttemptError::BackingOff {
                retry_after: until.saturating_duration_since(now),
            });
        }
        if self.position(key).is_some() || !self.entries.is_full() {
            return None;
        }
        // Full of other keys: the soonest one forgotten frees a slot.
        let soonest = self
            .entries
            .iter()
            .map(|e| e.forgotten_at(&self.policy))
            .min()?;
        (now < soonest).then(|| AttemptError::Full {
            retry_after: soonest.saturating_duration_since(now),
        })
    }

    /// Counts an attempt of `key` at `now`, *before* its password is
    /// checked, or refuses it. On `Ok`, check the password, and call
    /// [`succeeded`](Self::succeeded) if it was right; a wrong one needs no
    /// call (it is already counted). On `Err`, check nothing: the attempt
    /// is refused whatever the password, and it is not counted.
    ///
    /// ```
    /// use sesh::{throttle::{AttemptError, AttemptKey, AttemptLimiter}, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// let key = AttemptKey::from_bytes([1; 16]);
    /// for _ in 0..3 {
    ///     limiter.attempt(&key, Instant::ZERO)?;
    /// }
    /// let refused = limiter.attempt(&key, Instant::ZERO);
    /// assert!(matches!(refused, Err(AttemptError::BackingOff { .. })));
    /// assert_eq!(limiter.failures(&key, Instant::ZERO), 3, "a refused attempt is not counted");
    /// # Ok::<(), AttemptError>(())
    /// ```
    pub fn attempt(&mut self, key: &AttemptKey, now: Instant) -> Result<(), AttemptError> {
        if let Some(err) = self.refusal(key, now) {
            debug!("throttle: attempt refused");
            return Err(err);
        }
        let policy = self.policy;
        if let Some(entry) = self.entries.iter_mut().find(|e| e.key == *key) {
            let forgotten = now >= entry.forgotten_at(&policy);
            entry.failures = if forgotten {
                1
            } else {
                entry.failures.saturating_add(1)
            };
            entry.last = now;
            return Ok(());
        }
        if self.entries.is_full() {
            self.forget_expired(now);
        }
        let entry = Entry {
            key: *key,
            failures: 1,
            last: now,
        };
        // `refusal` found a slot free or forgettable, and forgetting freed it.
        self.entries.push(entry).map_err(|_| AttemptError::Full {
            retry_after: Duration::from_millis(1),
        })
    }

    /// The key's password was right: forgets its count. Returns whether
    /// the table held it.
    ///
    /// ```
    /// use sesh::{throttle::{AttemptKey, AttemptLimiter}, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// let key = AttemptKey::from_bytes([1; 16]);
    /// limiter.attempt(&key, Instant::ZERO)?;
    /// assert!(limiter.succeeded(&key));
    /// assert!(limiter.is_empty());
    /// # Ok::<(), sesh::throttle::AttemptError>(())
    /// ```
    pub fn succeeded(&mut self, key: &AttemptKey) -> bool {
        match self.position(key) {
            Some(i) => {
                self.entries.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Drops every key forgotten at `now` (a new key does it itself when
    /// the table is full); returns how many.
    ///
    /// ```
    /// use sesh::{throttle::{AttemptKey, AttemptLimiter}, Duration, Instant};
    /// let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
    /// limiter.attempt(&AttemptKey::from_bytes([1; 16]), Instant::ZERO)?;
    /// assert_eq!(limiter.forget_expired(Instant::ZERO + Duration::from_mins(15)), 1);
    /// assert!(limiter.is_empty());
    /// # Ok::<(), sesh::throttle::AttemptError>(())
    /// ```
    pub fn forget_expired(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        let policy = self.policy;
        self.entries.retain(|e| now < e.forgotten_at(&policy));
        before.saturating_sub(self.entries.len())
    }
}

impl<const N: usize> Default for AttemptLimiter<N> {
    fn default() -> Self {
        AttemptLimiter::new()
    }
}

#[cfg(feature = "signed")]
pub use keys::KeyHasher;

#[cfg(feature = "signed")]
mod keys {
    use core::fmt;

    use super::AttemptKey;
    use crate::signing::{Key, KeyError};

    const USER_LABEL: &[u8] = b"sesh/throttle/user/v1";
    const CLIENT_LABEL: &[u8] = b"sesh/throttle/client/v1";

    /// Makes [`AttemptKey`]s: HMAC-SHA256 under a key derived from a secret
    /// (one for user names, another for client addresses), truncated to 128
    /// bits. Make the secret at random per boot or per process: the table
    /// then holds no user names or addresses anyone could read back, and no
    /// client can choose names whose keys collide.
    ///
    /// `Debug` does not print the secret.
    ///
    /// ```
    /// use sesh::throttle::KeyHasher;
    /// let keys = KeyHasher::new(&[7; 32])?;
    /// assert_eq!(keys.user("admin"), keys.user("admin"));
    /// assert_ne!(keys.user("admin"), keys.user("Admin"));
    /// assert_ne!(keys.user("admin").as_bytes(), keys.client(b"admin").as_bytes());
    /// assert_ne!(keys.user("admin"), KeyHasher::new(&[8; 32])?.user("admin"));
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    #[derive(Clone)]
    pub struct KeyHasher {
        users: Key,
        clients: Key,
    }

    impl KeyHasher {
        /// A hasher keyed by `secret` (at least 32 bytes).
        ///
        /// ```
        /// use sesh::{signing::KeyError, throttle::KeyHasher};
        /// assert_eq!(KeyHasher::new(b"short").err(), Some(KeyError::TooShort));
        /// ```
        pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
            let key = Key::new(secret)?;
            Ok(KeyHasher {
                users: key.derive(USER_LABEL),
                clients: key.derive(CLIENT_LABEL),
            })
        }

        /// The key of a user name, exactly as typed.
        ///
        /// ```
        /// let keys = sesh::throttle::KeyHasher::new(&[7; 32])?;
        /// assert_ne!(keys.user("alice"), keys.user("bob"));
        /// # Ok::<(), sesh::signing::KeyError>(())
        /// ```
        pub fn user(&self, name: &str) -> AttemptKey {
            AttemptKey::from_bytes(crate::signing::mac_128(&self.users, name.as_bytes()))
        }

        /// The key of a client address, as bytes (say, an IPv4 address's 4
        /// octets, or an IPv6 /64 prefix's 8).
        ///
        /// ```
        /// let keys = sesh::throttle::KeyHasher::new(&[7; 32])?;
        /// assert_ne!(keys.client(&[192, 0, 2, 1]), keys.client(&[192, 0, 2, 2]));
        /// # Ok::<(), sesh::signing::KeyError>(())
        /// ```
        pub fn client(&self, address: &[u8]) -> AttemptKey {
            AttemptKey::from_bytes(crate::signing::mac_128(&self.clients, address))
        }
    }

    impl fmt::Debug for KeyHasher {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("KeyHasher(..)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> AttemptKey {
        AttemptKey::from_bytes([n; 16])
    }

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn at(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn back_off_doubles_and_is_capped() {
        let policy = ThrottlePolicy::new()
            .with_free_failures(2)
            .with_base_delay(secs(10))
            .with_max_delay(secs(35));
        let waits: [u64; 7] = [0, 0, 10, 20, 35, 35, 35];
        for (failures, wait) in waits.iter().enumerate() {
            assert_eq!(
                policy.delay_after(failures as u32),
                secs(*wait),
                "{failures}"
            );
        }
        let none = ThrottlePolicy::new().with_base_delay(Duration::ZERO);
        assert_eq!(none.delay_after(100), Duration::ZERO);
        let huge = ThrottlePolicy::new()
            .with_base_delay(Duration::from_millis(u64::MAX))
            .with_max_delay(Duration::from_millis(u64::MAX));
        assert_eq!(huge.delay_after(5).as_millis(), u64::MAX);
        assert_eq!(huge.delay_after(u32::MAX).as_millis(), u64::MAX);
    }

    #[test]
    fn a_right_password_during_back_off_is_not_even_checked() {
        let mut limiter: AttemptLimiter<4> = AttemptLimiter::new();
        let alice = key(1);
        for _ in 0..3 {
            limiter.attempt(&alice, at(0)).unwrap();
        }
        // Waiting: refused whatever the password, and not counted.
        for t in [0, 0, 0] {
            assert_eq!(
                limiter.attempt(&alice, at(t)),
                Err(AttemptError::BackingOff {
                    retry_after: secs(1)
                })
            );
        }
        assert_eq!(limiter.failures(&alice, at(0)), 3);
        assert_eq!(
            limiter.retry_after(&alice, Instant::from_millis(400)),
            Duration::from_millis(600)
        );
        // After the wait: one attempt, then 2 s.
        limiter.attempt(&alice, at(1)).unwrap();
        assert_eq!(limiter.retry_after(&alice, at(1)), secs(2));
        assert!(limiter.attempt(&alice, at(2)).is_err());
        limiter.attempt(&alice, at(3)).unwrap();
        assert_eq!(limiter.retry_after(&alice, at(3)), secs(4));
        // A success forgets everything.
        assert!(limiter.succeeded(&alice));
        assert!(!limiter.succeeded(&alice));
        assert_eq!(limiter.retry_after(&alice, at(3)), Duration::ZERO);
        assert_eq!(limiter.failures(&alice, at(3)), 0);
    }

    #[test]
    fn keys_are_counted_apart() {
        let mut limiter: AttemptLimiter<4> = AttemptLimiter::new();
        for _ in 0..4 {
            let _ = limiter.attempt(&key(1), at(0));
        }
        assert!(limiter.retry_after(&key(1), at(0)) > Duration::ZERO);
        assert_eq!(limiter.retry_after(&key(2), at(0)), Duration::ZERO);
        limiter.attempt(&key(2), at(0)).unwrap();
        assert_eq!(limiter.failures(&key(2), at(0)), 1);
    }

    #[test]
    fn a_quiet_key_is_forgotten_after_its_wait() {
        let policy = ThrottlePolicy::new()
            .with_free_failures(1)
            .with_forget_after(secs(60));
        let mut limiter: AttemptLimiter<2> = AttemptLimiter::new().with_policy(policy);
        limiter.attempt(&key(1), at(0)).unwrap();
        assert!(limiter.attempt(&key(1), at(0)).is_err());
        limiter.attempt(&key(1), at(1)).unwrap();
        // Waits 2 s (until 3), then is forgotten 60 s later.
        assert_eq!(limiter.retry_after(&key(1), at(1)), secs(2));
        assert_eq!(limiter.failures(&key(1), at(62)), 2);
        assert_eq!(limiter.failures(&key(1), at(63)), 0);
        limiter.attempt(&key(1), at(63)).unwrap();
        assert_eq!(limiter.failures(&key(1), at(63)), 1, "starts afresh");
        assert_eq!(limiter.len(), 1);
        // One failure: forgotten 1 s (its wait) + 60 s after.
        assert_eq!(limiter.forget_expired(at(123)), 0);
        assert_eq!(limiter.forget_expired(at(124)), 1);
        assert!(limiter.is_empty());
    }

    #[test]
    fn a_full_table_refuses_new_keys_and_keeps_the_held_ones() {
        let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
        for _ in 0..3 {
            limiter.attempt(&key(1), at(0)).unwrap();
        }
        limiter.attempt(&key(1), at(1)).unwrap();
        limiter.attempt(&key(2), at(0)).unwrap();
        assert_eq!(limiter.retry_after(&key(1), at(1)), secs(2));
        // A flood of new keys: refused until the soonest entry is forgotten
        // (key 2: no wait, forgotten 15 minutes after its attempt at 0).
        for n in 3..50 {
            assert_eq!(
                limiter.attempt(&key(n), at(2)),
                Err(AttemptError::Full {
                    retry_after: secs(898)
                })
            );
            assert_eq!(limiter.retry_after(&key(n), at(2)), secs(898));
        }
        assert_eq!(limiter.retry_after(&key(1), at(2)), secs(1));
        assert_eq!(limiter.failures(&key(1), at(2)), 4);
        // Keys already held go on.
        limiter.attempt(&key(2), at(2)).unwrap();
        // Once key 2 is forgotten, its slot goes to a new key; key 1 stays.
        let later = at(2) + Duration::from_mins(15);
        limiter.attempt(&key(9), later).unwrap();
        assert_eq!(limiter.len(), 2);
        assert_eq!(limiter.failures(&key(2), later), 0);
        assert_eq!(limiter.failures(&key(1), later), 4);
    }

    #[test]
    fn a_clock_going_back_never_lets_an_attempt_through() {
        let mut limiter: AttemptLimiter<2> = AttemptLimiter::new();
        for _ in 0..3 {
            limiter.attempt(&key(1), at(100)).unwrap();
        }
        assert!(limiter.attempt(&key(1), at(50)).is_err());
        assert_eq!(limiter.retry_after(&key(1), at(50)), secs(51));
    }

    #[test]
    fn a_zero_capacity_table_refuses_everything() {
        let mut limiter: AttemptLimiter<0> = AttemptLimiter::new();
        assert!(limiter.attempt(&key(1), at(0)).is_err());
        assert!(limiter.is_empty());
    }

    #[cfg(feature = "signed")]
    #[test]
    fn key_hasher_matches_hmac_of_a_derived_key() {
        use hmac::{KeyInit, Mac};
        type HmacSha256 = hmac::Hmac<sha2::Sha256>;
        let mac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
            let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().into()
        };
        let secret = [0x42u8; 40];
        let keys = KeyHasher::new(&secret).unwrap();
        // Long enough to take several blocks.
        let name = "a".repeat(200);
        for (made, label, msg) in [
            (
                keys.user("admin"),
                &b"sesh/throttle/user/v1"[..],
                &b"admin"[..],
            ),
            (keys.user(&name), b"sesh/throttle/user/v1", name.as_bytes()),
            (
                keys.client(&[127, 0, 0, 1]),
                b"sesh/throttle/client/v1",
                &[127, 0, 0, 1],
            ),
            (keys.user(""), b"sesh/throttle/user/v1", b""),
        ] {
            let derived = mac(&secret, label);
            let full = mac(&derived, msg);
            assert_eq!(made.as_bytes()[..], full[..16]);
        }
        assert_eq!(format!("{keys:?}"), "KeyHasher(..)");
    }

    /// One step of traffic: an attempt, or a success, of key `key` after
    /// `advance_ms`.
    #[derive(Debug, Clone)]
    enum Step {
        Attempt { key: u8, advance_ms: u32 },
        Success { key: u8, advance_ms: u32 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..40, 0u32..5_000).prop_map(|(key, advance_ms)| Step::Attempt { key, advance_ms }),
            1 => (0u8..40, 0u32..5_000).prop_map(|(key, advance_ms)| Step::Success { key, advance_ms }),
        ]
    }

    /// The wait of `key`'s own back-off (not a full table's).
    fn backing_off<const N: usize>(
        limiter: &AttemptLimiter<N>,
        key: &AttemptKey,
        now: Instant,
    ) -> Duration {
        match limiter.refusal(key, now) {
            Some(AttemptError::BackingOff { retry_after }) => retry_after,
            _ => Duration::ZERO,
        }
    }

    fn small_policy() -> ThrottlePolicy {
        ThrottlePolicy::new()
            .with_free_failures(2)
            .with_base_delay(Duration::from_millis(500))
            .with_max_delay(secs(8))
            .with_forget_after(secs(20))
    }

    proptest! {
        #[test]
        fn the_table_stays_bounded(steps in proptest::collection::vec(step(), 0..400)) {
            let mut limiter: AttemptLimiter<8> = AttemptLimiter::new().with_policy(small_policy());
            let mut now = Instant::ZERO;
            for s in steps {
                match s {
                    Step::Attempt { key: k, advance_ms } => {
                        now = now + Duration::from_millis(advance_ms.into());
                        let _ = limiter.attempt(&key(k), now);
                    }
                    Step::Success { key: k, advance_ms } => {
                        now = now + Duration::from_millis(advance_ms.into());
                        limiter.succeeded(&key(k));
                    }
                }
                prop_assert!(limiter.len() <= 8);
                let mut seen = std::collections::HashSet::new();
                prop_assert!(limiter.entries.iter().all(|e| seen.insert(e.key)), "one entry per key");
            }
        }

        /// The user's key (0) makes attempts; other keys (1..) make
        /// attempts and succeed in between, as many as they like. Another
        /// key's traffic never changes the user's count or wait; a user
        /// attempt the shared table allows, a table of its own fed the same
        /// allowed attempts allows too; and the only thing the others can
        /// do to the user is refuse a *new* entry while the table is full.
        #[test]
        fn other_keys_never_lower_a_users_back_off(
            steps in proptest::collection::vec((any::<bool>(), step()), 0..400)
        ) {
            let mut shared: AttemptLimiter<4> = AttemptLimiter::new().with_policy(small_policy());
            let mut alone: AttemptLimiter<1> = AttemptLimiter::new().with_policy(small_policy());
            let user = key(0);
            let mut now = Instant::ZERO;
            for (is_user, s) in steps {
                let (k, advance_ms, success) = match s {
                    Step::Attempt { key, advance_ms } => (key, advance_ms, false),
                    Step::Success { key, advance_ms } => (key, advance_ms, true),
                };
                now = now + Duration::from_millis(advance_ms.into());
                if is_user {
                    if success {
                        shared.succeeded(&user);
                        alone.succeeded(&user);
                    } else {
                        match shared.attempt(&user, now) {
                            Ok(()) => prop_assert_eq!(alone.attempt(&user, now), Ok(())),
                            Err(AttemptError::BackingOff { retry_after }) => {
                                prop_assert_eq!(
                                    alone.attempt(&user, now),
                                    Err(AttemptError::BackingOff { retry_after })
                                );
                            }
                            Err(AttemptError::Full { .. }) => {
                                // Only a new key is refused for room, and
                                // the user's own table would have counted it.
                                prop_assert_eq!(shared.failures(&user, now), 0);
                            }
                        }
                    }
                } else {
                    let other = key(k.saturating_add(1));
                    let before = (shared.failures(&user, now), backing_off(&shared, &user, now));
                    if success {
                        shared.succeeded(&other);
                    } else {
                        let _ = shared.attempt(&other, now);
                    }
                    let after = (shared.failures(&user, now), backing_off(&shared, &user, now));
                    prop_assert_eq!(after, before);
                }
                prop_assert_eq!(shared.failures(&user, now), alone.failures(&user, now));
            }
        }
    }
}
