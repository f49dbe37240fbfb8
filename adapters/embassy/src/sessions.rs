//! The table every picoserve worker shares.

use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::mutex::{Mutex, MutexGuard};
use embassy_sync::signal::Signal;
use rand_core::TryCryptoRng;
use sesh::cookie::{CookieConfig, CookieConfigError};
use sesh::presession::PreCookieName;
use sesh::signing::KeyRing;
use sesh::{ExpiryPolicy, SessionTable};

/// Signing keys: the current one and one previous, for rotation.
pub type Keys = KeyRing<2>;

/// What sits behind the mutex: the table, the RNG and the keys.
pub struct Inner<D, R, const N: usize> {
    pub(crate) table: SessionTable<D, N>,
    pub(crate) rng: Option<R>,
    pub(crate) keys: Option<Keys>,
}

/// One session table shared by every picoserve worker task, behind an
/// embassy-sync mutex. Make it a `static`:
///
/// ```
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use sesh::cookie::CookieConfig;
/// use sesh_embassy::Sessions;
/// # type Rng = rand_core::UnwrapErr<getrandom::SysRng>;
///
/// #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
/// struct Account { user: Option<heapless::String<16>>, visits: u32 }
///
/// static SESSIONS: Sessions<CriticalSectionRawMutex, Account, Rng, 16> =
///     Sessions::new(CookieConfig::new("sid"), sesh::ExpiryPolicy::new());
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
pub struct Sessions<M: RawMutex, D, R, const N: usize> {
    inner: Mutex<M, Inner<D, R, N>>,
    cookie: CookieConfig<'static>,
    /// Raised after every change worth persisting; the flash writer waits on it.
    pub(crate) changed: Signal<M, ()>,
    /// Raised with `changed` for a change a power cut must not undo (a login,
    /// a logout): the flash writer saves it without its coalescing delay.
    pub(crate) urgent: Signal<M, ()>,
}

impl<M: RawMutex, D, R, const N: usize> Sessions<M, D, R, N> {
    /// Empty sessions with this cookie and expiry policy. Call
    /// [`Sessions::init`] at boot, before serving.
    pub const fn new(cookie: CookieConfig<'static>, policy: ExpiryPolicy) -> Self {
        Sessions {
            inner: Mutex::new(Inner {
                table: SessionTable::new().with_policy(policy),
                rng: None,
                keys: None,
            }),
            cookie,
            changed: Signal::new(),
            urgent: Signal::new(),
        }
    }

    /// Hands over the RNG and the signing keys, after checking the cookie
    /// settings.
    ///
    /// The RNG must be cryptographic: the board's TRNG (embassy-nrf, esp-hal;
    /// or embassy-rp / embassy-stm32 through `sesh::rng::Rng09`), or a ChaCha
    /// generator seeded from it. A generator seeded with a constant gives the
    /// same ids after every boot: anyone who saw one boot's ids can predict
    /// the next. The keys must come from provisioning (flash, OTP), never
    /// from the firmware image.
    pub async fn init(&self, rng: R, keys: Keys) -> Result<(), CookieConfigError>
    where
        R: TryCryptoRng,
    {
        self.cookie.validate()?;
        // The pre-session cookie (`<name>-pre`) must be valid too.
        let pre = PreCookieName::for_session_cookie(self.cookie.name())
            .map_err(|_| CookieConfigError::InvalidName)?;
        pre.config(self.cookie).validate()?;
        let mut inner = self.inner.lock().await;
        inner.rng = Some(rng);
        inner.keys = Some(keys);
        Ok(())
    }

    /// The cookie settings.
    pub fn cookie(&self) -> &CookieConfig<'static> {
        &self.cookie
    }

    /// Locks the table (and RNG and keys). Keep the guard short.
    pub async fn lock(&self) -> MutexGuard<'_, M, Inner<D, R, N>> {
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
            .purge_expired(crate::clock::now());
        if purged > 0 {
            self.changed.signal(());
        }
        purged
    }
}

impl<M: RawMutex, D, R, const N: usize> Sessions<M, D, R, N> {
    /// Notes a change that must reach flash at once (login, logout).
    pub(crate) fn changed_urgently(&self) {
        self.urgent.signal(());
        self.changed.signal(());
    }
}

impl<D, R, const N: usize> Inner<D, R, N> {
    /// The table, for direct use (snapshots, status pages).
    pub fn table(&mut self) -> &mut SessionTable<D, N> {
        &mut self.table
    }
}
