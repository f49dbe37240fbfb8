//! The table every picoserve worker shares.

use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::mutex::{Mutex, MutexGuard};
use embassy_sync::signal::Signal;
use rand_core::TryCryptoRng;
use sesh::cookie::{CookieConfig, CookieConfigError};
use sesh::presession::PreCookieName;
use sesh::signing::KeyRing;
use sesh::{ExpiryPolicy, SessionTable};

use crate::clock::{Clock, EmbassyClock};

/// Signing keys: the current one and `K - 1` previous ones that still
/// verify, for rotation. `K` is the const parameter of [`Sessions`] (2 by
/// default: each key is about 80 bytes of RAM).
pub type Keys<const K: usize = 2> = KeyRing<K>;

/// What sits behind the mutex: the table, the RNG and the keys.
pub struct Inner<D, R, const N: usize, const K: usize = 2, const OWNED: usize = 0> {
    pub(crate) table: SessionTable<D, N, OWNED>,
    pub(crate) rng: R,
    pub(crate) keys: Keys<K>,
}

/// One session table shared by every picoserve worker task, behind an
/// embassy-sync mutex.
///
/// Build it at boot, with its RNG and keys, into a
/// [`StaticCell`](https://docs.rs/static_cell), as embassy-net's `Stack` is
/// built: the cell is zero-initialised memory, so the table lands in `.bss`
/// (a `static` built by a `const fn` would sit in `.data`, costing its size
/// twice, in flash and in RAM), and there is no "not yet initialised" state
/// for a handler to run into.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use sesh::cookie::CookieConfig;
/// use sesh::signing::{Key, KeyRing};
/// use sesh_embassy::Sessions;
/// use static_cell::StaticCell;
/// # type Rng = rand_core::UnwrapErr<getrandom::SysRng>;
///
/// #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
/// struct Account { user: Option<heapless::String<16>>, visits: u32 }
///
/// type AppSessions = Sessions<CriticalSectionRawMutex, Account, Rng, 16>;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // On a board: a ChaCha generator seeded from the TRNG, a provisioned key.
/// # let rng = rand_core::UnwrapErr(getrandom::SysRng);
/// # let key = Key::new(&[7; 32])?;
/// static SESSIONS: StaticCell<AppSessions> = StaticCell::new();
/// let sessions: &'static AppSessions = SESSIONS.init(Sessions::new(
///     rng,
///     KeyRing::new(key),
///     CookieConfig::new("sid"),
///     sesh::ExpiryPolicy::new(),
/// )?);
/// // Hand `sessions` to the web workers, the sweeper, the flash writer.
/// # let _ = sessions;
/// # Ok(())
/// # }
/// ```
///
/// **Which raw mutex.** The mutex is held only for short, non-blocking table
/// operations, never across an `.await` on I/O.
/// - `CriticalSectionRawMutex`: always correct. Use it when the web server
///   and anything else touching sessions may run in different executors or
///   interrupt priorities (for example a sweeper on an interrupt executor).
/// - `NoopRawMutex`: when every task that touches the sessions runs on one
///   thread-mode executor (the usual picoserve set-up); it costs nothing.
/// - `ThreadModeRawMutex`: the same guarantee, checked at run time.
///
/// **Parameters.** `N` sessions; a key ring of `K` keys (default 2: the
/// current key and one previous); the clock `C` (default [`EmbassyClock`],
/// embassy-time; tests pass their own with [`Sessions::with_clock`]);
/// `OWNED`, the most sessions that have an owner, a label or a lifetime of
/// their own (`sesh::SessionTable`'s metadata pool, 176 bytes an
/// entry). It is 0 by default: a device without sign-in pays nothing for
/// it, and [`Session::set_owner`](crate::Session::set_owner) then answers
/// `MetaError::NoRoom`. A device with sign-in names it last:
///
/// ```
/// # use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// # type Rng = rand_core::UnwrapErr<getrandom::SysRng>;
/// use sesh_embassy::{EmbassyClock, Sessions};
/// // 16 sessions, up to 4 of them signed in (owner, label, remember-me).
/// type AppSessions = Sessions<CriticalSectionRawMutex, u32, Rng, 16, 2, EmbassyClock, 4>;
/// ```
pub struct Sessions<
    M: RawMutex,
    D,
    R,
    const N: usize,
    const K: usize = 2,
    C = EmbassyClock,
    const OWNED: usize = 0,
> {
    inner: Mutex<M, Inner<D, R, N, K, OWNED>>,
    cookie: CookieConfig<'static>,
    clock: C,
    /// Raised after every change worth persisting; the flash writer waits on it.
    pub(crate) changed: Signal<M, ()>,
    /// Raised with `changed` for a change a power cut must not undo (a login,
    /// a logout): the flash writer saves it without its coalescing delay.
    pub(crate) urgent: Signal<M, ()>,
}

impl<M: RawMutex, D, R, const N: usize, const K: usize, const OWNED: usize>
    Sessions<M, D, R, N, K, EmbassyClock, OWNED>
{
    /// Empty sessions with their RNG, signing keys, cookie and expiry
    /// policy, after checking the cookie settings (the session cookie's and
    /// the pre-session cookie's, `<name>-pre`). Put the result in a
    /// `StaticCell` at boot (see [`Sessions`]).
    ///
    /// The RNG must be cryptographic: the board's TRNG (embassy-nrf, esp-hal;
    /// or embassy-rp / embassy-stm32 through `sesh::rng::Rng09`), or a ChaCha
    /// generator seeded from it. A generator seeded with a constant gives the
    /// same ids after every boot: anyone who saw one boot's ids can predict
    /// the next. The keys must come from provisioning (flash, OTP), never
    /// from the firmware image.
    pub fn new(
        rng: R,
        keys: Keys<K>,
        cookie: CookieConfig<'static>,
        policy: ExpiryPolicy,
    ) -> Result<Self, CookieConfigError>
    where
        R: TryCryptoRng,
    {
        Sessions::with_clock(rng, keys, cookie, policy, EmbassyClock)
    }
}

impl<M: RawMutex, D, R, const N: usize, const K: usize, C: Clock, const OWNED: usize>
    Sessions<M, D, R, N, K, C, OWNED>
{
    /// [`Sessions::new`] on another clock than embassy-time's: a test's
    /// manual clock, or a board's real-time clock.
    pub fn with_clock(
        rng: R,
        keys: Keys<K>,
        cookie: CookieConfig<'static>,
        policy: ExpiryPolicy,
        clock: C,
    ) -> Result<Self, CookieConfigError>
    where
        R: TryCryptoRng,
    {
        cookie.validate()?;
        let pre = PreCookieName::for_session_cookie(cookie.name())
            .map_err(|_| CookieConfigError::InvalidName)?;
        pre.config(cookie).validate()?;
        Ok(Sessions {
            inner: Mutex::new(Inner {
                table: SessionTable::new().with_policy(policy),
                rng,
                keys,
            }),
            cookie,
            clock,
            changed: Signal::new(),
            urgent: Signal::new(),
        })
    }

    /// Caps each user's sessions at `max` (default 32,
    /// `sesh::owner::DEFAULT_MAX_SESSIONS_PER_USER`; 0 counts as 1): a
    /// login past it ends that user's least recently used session. Call it
    /// at boot, before the table is shared.
    ///
    /// ```
    /// # use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    /// # use sesh::{cookie::CookieConfig, signing::{Key, KeyRing}, ExpiryPolicy};
    /// # use sesh_embassy::Sessions;
    /// # let rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let sessions = Sessions::<NoopRawMutex, u32, _, 16>::new(
    ///     rng, KeyRing::new(Key::new(&[7; 32])?), CookieConfig::new("sid"), ExpiryPolicy::new(),
    /// )?
    /// .with_max_sessions_per_user(4);
    /// # let _ = sessions;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        let inner = self.inner.get_mut();
        inner.table = core::mem::take(&mut inner.table).with_max_sessions_per_user(max);
        self
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig<'static> {
        &self.cookie
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Now, on the sessions' clock.
    pub fn now(&self) -> sesh::Instant {
        self.clock.now()
    }

    /// Locks the table (and RNG and keys). Keep the guard short.
    pub async fn lock(&self) -> MutexGuard<'_, M, Inner<D, R, N, K, OWNED>> {
        self.inner.lock().await
    }

    /// Sessions in use (live or awaiting the sweeper), and the capacity.
    pub async fn occupancy(&self) -> (usize, usize) {
        let inner = self.inner.lock().await;
        (inner.table.len(), inner.table.capacity())
    }

    /// Drops expired sessions now; returns how many.
    pub async fn purge_expired(&self) -> usize {
        let purged = self
            .inner
            .lock()
            .await
            .table
            .purge_expired(self.clock.now());
        if purged > 0 {
            self.changed.signal(());
        }
        purged
    }
}

impl<M: RawMutex, D, R, const N: usize, const K: usize, C, const OWNED: usize>
    Sessions<M, D, R, N, K, C, OWNED>
{
    /// Notes a change that must reach flash at once (login, logout).
    pub(crate) fn changed_urgently(&self) {
        self.urgent.signal(());
        self.changed.signal(());
    }
}

impl<D, R, const N: usize, const K: usize, const OWNED: usize> Inner<D, R, N, K, OWNED> {
    /// The table, for direct use (snapshots, status pages).
    pub fn table(&mut self) -> &mut SessionTable<D, N, OWNED> {
        &mut self.table
    }
}
