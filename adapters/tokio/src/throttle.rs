//! Login throttling for a server: the core's
//! [`AttemptLimiter`] once per client
//! address and once per user name, behind one lock, on the [`HostClock`].
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use sesh_tokio::throttle::LoginThrottle;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let throttle = LoginThrottle::new()?; // share it: clones share the tables
//! let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
//! for _ in 0..3 {
//!     let attempt = throttle.begin(client, "admin")?; // counted now
//!     // …check the password: wrong, so the attempt is simply dropped.
//!     drop(attempt);
//! }
//! // The fourth must wait, whatever the password: answer 429.
//! let refused = throttle.begin(client, "admin").unwrap_err();
//! assert_eq!(refused.retry_after_secs(), 1);
//! # Ok(()) }
//! ```
//!
//! The rules (free attempts, doubling waits, a full table refusing new keys
//! rather than pushing out a held one) are the core's: see
//! [`sesh::throttle`]. Keys are keyed hashes under a secret made per
//! process, so the tables hold no names or addresses. An IPv6 client counts
//! by its /64 prefix (one subscriber usually holds a whole /64), an
//! IPv4-mapped one as its IPv4 address.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use sesh::Duration;
use sesh::throttle::{AttemptError, AttemptKey, AttemptLimiter, KeyHasher, ThrottlePolicy};

use crate::HostClock;
use crate::random::{OsRandom, RandomSource};

/// Client addresses, and user names, each table holds (about 32 bytes
/// each). Size it above the distinct keys that fail within the policy's
/// `forget_after` in normal use: beyond that, new ones are refused until
/// a slot frees.
pub const CAPACITY: usize = 1024;

struct Tables {
    clients: AttemptLimiter<CAPACITY>,
    users: AttemptLimiter<CAPACITY>,
}

struct Inner {
    tables: Mutex<Tables>,
    keys: KeyHasher,
    clock: HostClock,
}

impl Inner {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables hold plain counts: one a panicking thread left is
        // still consistent (each call changes them as a whole).
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Login attempts per client address and per user name, shared by every
/// request (clones share the tables).
#[derive(Clone)]
pub struct LoginThrottle {
    inner: Arc<Inner>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables = self.inner.tables();
        f.debug_struct("LoginThrottle")
            .field("clients", &tables.clients.len())
            .field("users", &tables.users.len())
            .field("policy", tables.users.policy())
            .finish()
    }
}

/// Why a [`LoginThrottle`] could not be made: the operating system gave no
/// randomness for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRandomness;

impl fmt::Display for NoRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no randomness for the login throttle's key")
    }
}

impl std::error::Error for NoRandomness {}

impl LoginThrottle {
    /// Empty tables with [`ThrottlePolicy::new`] (3 free attempts, then 1 s
    /// doubling up to 15 minutes), a random key, and a [`HostClock`]
    /// started now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let throttle = sesh_tokio::throttle::LoginThrottle::new().unwrap();
    /// # }
    /// ```
    pub fn new() -> Result<Self, NoRandomness> {
        let mut secret = [0u8; 32];
        OsRandom.fill(&mut secret).map_err(|_| NoRandomness)?;
        let keys = KeyHasher::new(&secret).map_err(|_| NoRandomness)?;
        secret.fill(0);
        Ok(LoginThrottle {
            inner: Arc::new(Inner {
                tables: Mutex::new(Tables {
                    clients: AttemptLimiter::new(),
                    users: AttemptLimiter::new(),
                }),
                keys,
                clock: HostClock::new(),
            }),
        })
    }

    /// The same, counting by `policy` (both tables), on `clock`. Call it
    /// before sharing the throttle: it starts from empty tables.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sesh::throttle::ThrottlePolicy;
    /// use sesh_tokio::{HostClock, throttle::LoginThrottle};
    /// let throttle = LoginThrottle::new()
    ///     .unwrap()
    ///     .with_policy(ThrottlePolicy::new().with_free_failures(5), HostClock::new());
    /// # }
    /// ```
    pub fn with_policy(self, policy: ThrottlePolicy, clock: HostClock) -> Self {
        LoginThrottle {
            inner: Arc::new(Inner {
                tables: Mutex::new(Tables {
                    clients: AttemptLimiter::new().with_policy(policy),
                    users: AttemptLimiter::new().with_policy(policy),
                }),
                keys: self.inner.keys.clone(),
                clock,
            }),
        }
    }

    /// The key of a client address: IPv4 (or IPv4-mapped IPv6) whole, IPv6
    /// by its /64 prefix.
    fn client_key(&self, client: IpAddr) -> AttemptKey {
        match client {
            IpAddr::V4(v4) => self.inner.keys.client(&v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.inner.keys.client(&v4.octets()),
                None => {
                    let octets = v6.octets();
                    self.inner
                        .keys
                        .client(octets.get(..8).unwrap_or(octets.as_slice()))
                }
            },
        }
    }

    /// Counts a login attempt by `client` as `user` *before* the password
    /// is checked, or refuses it. On `Ok`, check the password and call
    /// [`LoginAttempt::succeeded`] if it was right (dropping the attempt
    /// leaves it counted as a failure). On `Err`, check nothing and answer
    /// 429 with `Retry-After`: the attempt is refused whatever the password,
    /// and is not counted.
    pub fn begin(&self, client: IpAddr, user: &str) -> Result<LoginAttempt, Throttled> {
        self.begin_at(client, user, self.inner.clock.now())
    }

    /// [`begin`](Self::begin) at `now` instead of the throttle's clock.
    pub fn begin_at(
        &self,
        client: IpAddr,
        user: &str,
        now: sesh::Instant,
    ) -> Result<LoginAttempt, Throttled> {
        let client_key = self.client_key(client);
        let user_key = self.inner.keys.user(user);
        let mut tables = self.inner.tables();
        // Both must allow it before either counts it.
        let client_wait = tables.clients.retry_after(&client_key, now);
        let user_wait = tables.users.retry_after(&user_key, now);
        if client_wait > Duration::ZERO || user_wait > Duration::ZERO {
            let by = if user_wait >= client_wait {
                ThrottledBy::User
            } else {
                ThrottledBy::Client
            };
            return Err(Throttled {
                retry_after: client_wait.max(user_wait),
                by,
            });
        }
        let counted = tables
            .clients
            .attempt(&client_key, now)
            .map_err(|e| Throttled::from_core(e, ThrottledBy::Client))
            .and_then(|()| {
                tables
                    .users
                    .attempt(&user_key, now)
                    .map_err(|e| Throttled::from_core(e, ThrottledBy::User))
            });
        drop(tables);
        counted.map(|()| LoginAttempt {
            inner: Arc::clone(&self.inner),
            client: client_key,
            user: user_key,
        })
    }

    /// How long `client` logging in as `user` must wait now (zero when an
    /// attempt would be counted).
    pub fn retry_after(&self, client: IpAddr, user: &str) -> Duration {
        let now = self.inner.clock.now();
        let client_key = self.client_key(client);
        let user_key = self.inner.keys.user(user);
        let tables = self.inner.tables();
        tables
            .clients
            .retry_after(&client_key, now)
            .max(tables.users.retry_after(&user_key, now))
    }

    /// Entries held: (client addresses, user names).
    pub fn len(&self) -> (usize, usize) {
        let tables = self.inner.tables();
        (tables.clients.len(), tables.users.len())
    }

    /// Whether both tables are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// A counted login attempt: call [`succeeded`](Self::succeeded) once the
/// password was right. Dropping it leaves it counted as a failure.
#[must_use = "a right password must call `succeeded`, or it counts as a failure"]
pub struct LoginAttempt {
    inner: Arc<Inner>,
    client: AttemptKey,
    user: AttemptKey,
}

impl LoginAttempt {
    /// The password was right: forgets the client's and the user's
    /// failures.
    pub fn succeeded(self) {
        let mut tables = self.inner.tables();
        tables.clients.succeeded(&self.client);
        tables.users.succeeded(&self.user);
    }
}

impl fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginAttempt(..)")
    }
}

/// Which count refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottledBy {
    /// The client address failed too often (or the client table is full).
    Client,
    /// The user name failed too often (or the user table is full).
    User,
}

/// A refused login attempt: answer 429 with `Retry-After`, check no
/// password. With feature `axum` it is a response of its own (plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    retry_after: Duration,
    by: ThrottledBy,
}

impl Throttled {
    fn from_core(e: AttemptError, by: ThrottledBy) -> Self {
        Throttled {
            retry_after: e.retry_after(),
            by,
        }
    }

    /// How long until an attempt may be counted.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up, at
    /// least 1: the `Retry-After` header's value.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_ceil().max(1)
    }

    /// The `Retry-After` header's value.
    pub fn retry_after_header(&self) -> http::HeaderValue {
        http::HeaderValue::from(self.retry_after_secs())
    }

    /// Which count refused the attempt (for logs: tell the client nothing
    /// more than the wait).
    pub fn by(&self) -> ThrottledBy {
        self.by
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many failed login attempts: retry in {} s",
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for Throttled {}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Throttled {
    /// 429, `Retry-After`, `Cache-Control: no-store`, and a line of text.
    fn into_response(self) -> axum_core::response::Response {
        let mut response =
            (http::StatusCode::TOO_MANY_REQUESTS, format!("{self}\n")).into_response();
        let headers = response.headers_mut();
        headers.insert(http::header::RETRY_AFTER, self.retry_after_header());
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const ALICE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const BOB: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    fn fail(throttle: &LoginThrottle, client: IpAddr, user: &str) -> Result<(), Throttled> {
        throttle.begin(client, user).map(drop)
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_backs_off_and_a_right_password_waits_too() {
        let throttle = LoginThrottle::new().unwrap();
        for _ in 0..3 {
            fail(&throttle, ALICE, "admin").unwrap();
        }
        let refused = throttle.begin(ALICE, "admin").unwrap_err();
        assert_eq!(refused.retry_after(), Duration::from_secs(1));
        assert_eq!(refused.retry_after_header(), "1");
        // Refused attempts are not counted: the wait stays 1 s.
        for _ in 0..10 {
            assert!(throttle.begin(ALICE, "admin").is_err());
        }
        tokio::time::advance(std::time::Duration::from_millis(999)).await;
        assert!(throttle.begin(ALICE, "admin").is_err());
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        fail(&throttle, ALICE, "admin").unwrap();
        assert_eq!(throttle.retry_after(ALICE, "admin"), Duration::from_secs(2));
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        // The right password now: both counts are forgotten.
        throttle.begin(ALICE, "admin").unwrap().succeeded();
        assert!(throttle.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_is_held_back_from_every_address() {
        let throttle = LoginThrottle::new().unwrap();
        for n in 0..3u8 {
            fail(
                &throttle,
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)),
                "admin",
            )
            .unwrap();
        }
        let refused = throttle.begin(BOB, "admin").unwrap_err();
        assert_eq!(refused.by(), ThrottledBy::User);
        // Bob may still try another name: the user count is per name.
        fail(&throttle, BOB, "operator").unwrap();
        assert_eq!(throttle.len(), (4, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_by_one_count_does_not_add_to_the_other() {
        let throttle = LoginThrottle::new().unwrap();
        for user in ["a", "b", "c"] {
            fail(&throttle, ALICE, user).unwrap();
        }
        let refused = throttle.begin(ALICE, "d").unwrap_err();
        assert_eq!(refused.by(), ThrottledBy::Client);
        // "d" was not counted.
        assert_eq!(throttle.len(), (1, 3));
        assert_eq!(throttle.retry_after(BOB, "d"), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        let throttle = LoginThrottle::new().unwrap();
        for n in 0..3u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, n, n, n, n);
            fail(&throttle, IpAddr::V6(addr), &format!("user{n}")).unwrap();
        }
        let same_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
        assert_eq!(
            throttle.begin(same_64, "other").unwrap_err().by(),
            ThrottledBy::Client
        );
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        fail(&throttle, other_64, "other").unwrap();

        for user in ["x", "y", "z"] {
            fail(&throttle, ALICE, user).unwrap();
        }
        let IpAddr::V4(v4) = ALICE else {
            unreachable!()
        };
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(
            throttle.begin(mapped, "w").unwrap_err().by(),
            ThrottledBy::Client
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_and_the_policy_applies() {
        let throttle = LoginThrottle::new().unwrap().with_policy(
            ThrottlePolicy::new()
                .with_free_failures(1)
                .with_base_delay(Duration::from_secs(30)),
            HostClock::new(),
        );
        let other = throttle.clone();
        fail(&throttle, ALICE, "admin").unwrap();
        let refused = other.begin(ALICE, "admin").unwrap_err();
        assert_eq!(refused.retry_after_secs(), 30);
        assert_eq!(
            refused.to_string(),
            "too many failed login attempts: retry in 30 s"
        );
        assert!(format!("{other:?}").contains("clients: 1"));
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn throttled_is_a_429_with_retry_after() {
        use axum_core::response::IntoResponse;
        let response = Throttled {
            retry_after: Duration::from_millis(2_500),
            by: ThrottledBy::User,
        }
        .into_response();
        assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "3");
        assert_eq!(response.headers()[http::header::CACHE_CONTROL], "no-store");
    }
}
