//! Session settings, with safe defaults.

use std::fmt;
use std::sync::Arc;

use sesh::cookie::{CookieConfig, CookieConfigError, CookieHeaders, SameSite};
use sesh::expiry::ExpiryPolicy;
use sesh::presession::{PreCookieName, PreCsrfToken, PreSession};
use sesh::signing::{CsrfToken, Key, KeyError, KeyRing, Verified, VerifyError};
use sesh::{Duration, Instant, SessionId};

/// What the layer asks of its key ring, whatever the ring's size: the
/// size stays a parameter of [`SessionConfig::with_key_ring`] only, not of
/// `SessionConfig`, `SessionLayer` and every `Session<D>`. One vtable call
/// per sign or verify, next to an HMAC, costs nothing measurable.
pub(crate) trait Keys: fmt::Debug + Send + Sync {
    fn verify(&self, value: &str) -> Result<Verified, VerifyError>;
    fn csrf_token(&self, id: &SessionId) -> CsrfToken;
    fn pre_csrf_token(&self, pre: &PreSession, expires_at: Instant) -> PreCsrfToken;
    fn verify_form_token(
        &self,
        session: Option<&SessionId>,
        pre: Option<&PreSession>,
        token: &str,
        now: Instant,
    ) -> bool;
    fn write_session_cookie(
        &self,
        headers: &CookieHeaders,
        out: &mut dyn fmt::Write,
        cookie: &CookieConfig<'_>,
    ) -> Result<bool, fmt::Error>;
}

impl<const K: usize> Keys for KeyRing<K> {
    fn verify(&self, value: &str) -> Result<Verified, VerifyError> {
        KeyRing::verify(self, value)
    }

    fn csrf_token(&self, id: &SessionId) -> CsrfToken {
        KeyRing::csrf_token(self, id)
    }

    fn pre_csrf_token(&self, pre: &PreSession, expires_at: Instant) -> PreCsrfToken {
        KeyRing::pre_csrf_token(self, pre, expires_at)
    }

    fn verify_form_token(
        &self,
        session: Option<&SessionId>,
        pre: Option<&PreSession>,
        token: &str,
        now: Instant,
    ) -> bool {
        KeyRing::verify_form_token(self, session, pre, token, now)
    }

    fn write_session_cookie(
        &self,
        headers: &CookieHeaders,
        out: &mut dyn fmt::Write,
        cookie: &CookieConfig<'_>,
    ) -> Result<bool, fmt::Error> {
        headers.write_session_cookie(out, cookie, self)
    }
}

/// Everything a [`SessionLayer`](crate::SessionLayer) needs to know.
///
/// Defaults (OWASP session cheat sheet): cookie `sid`; `Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, no `Domain`; 30 minutes idle, 8 hours absolute,
/// refresh after 25 % of the idle timeout; session data at most 4 KiB.
///
/// ```
/// use sesh_tokio::SessionConfig;
/// use sesh::{cookie::SameSite, Duration};
/// let config = SessionConfig::new(b"a signing secret of at least 32 bytes")?
///     .with_cookie_name("__Host-sid")
///     .with_same_site(SameSite::Strict)
///     .with_idle_timeout(Duration::from_mins(10));
/// config.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub(crate) cookie_name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) same_site: SameSite,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) policy: ExpiryPolicy,
    pub(crate) keys: Arc<dyn Keys>,
    pub(crate) max_data_len: usize,
}

impl SessionConfig {
    /// The defaults, signing with a key made from `secret` (at least 32
    /// random bytes; load it from your secret store, never from source).
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        // A ring of one: nothing older can verify, so room for more is waste.
        Ok(SessionConfig::with_key_ring(KeyRing::<1>::new(Key::new(
            secret,
        )?)))
    }

    /// The defaults, with a ready key ring (for rotation) of any size `K`:
    /// the signing key and up to `K - 1` older keys that still verify.
    /// A cookie signed with an older key selects its session and is
    /// re-signed with the current key in the same response.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// // Sign with key 3; cookies signed with keys 2 and 1 still verify.
    /// let keys = KeyRing::<3>::new(Key::new(&[3; 32])?)
    ///     .with_previous(Key::new(&[2; 32])?)?
    ///     .with_previous(Key::new(&[1; 32])?)?;
    /// let config = sesh_tokio::SessionConfig::with_key_ring(keys);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_key_ring<const K: usize>(keys: KeyRing<K>) -> Self {
        SessionConfig {
            cookie_name: "sid".into(),
            path: "/".into(),
            domain: None,
            same_site: SameSite::Lax,
            secure: true,
            http_only: true,
            policy: ExpiryPolicy::new(),
            keys: Arc::new(keys),
            max_data_len: 4096,
        }
    }

    /// Sets the cookie name (default `sid`). A name starting with `__Host-`
    /// also sets `Secure`, `Path=/` and no `Domain`, which browsers enforce.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_cookie_name("__Host-sid");
    /// assert!(c.validate().is_ok());
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        if self.cookie_name.to_ascii_lowercase().starts_with("__host-") {
            self.secure = true;
            self.path = "/".into();
            self.domain = None;
        }
        self
    }

    /// Sets `Path` (default `/`).
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_path("/admin");
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// ⚠️ Sets `Domain`, which sends the cookie to every subdomain, so any of
    /// them can read or overwrite it. Leave unset (host-only) unless
    /// subdomains must share sessions.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_domain("example.com");
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `SameSite` (default `Lax`). ⚠️ `SameSite::None` sends the cookie
    /// on every cross-site request (it forces `Secure`); rely on CSRF tokens
    /// then.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_same_site(sesh::cookie::SameSite::Strict);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// ⚠️ `with_secure(false)` lets the browser send the cookie over plain
    /// HTTP, readable by anyone on the network. Only for `http://localhost`
    /// development and tests.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_secure(false);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// ⚠️ `with_http_only(false)` lets page scripts read the session cookie,
    /// so one XSS bug hands out the session. sesh never needs it.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_http_only(false);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets the idle timeout (default 30 minutes). ⚠️ Longer timeouts leave
    /// an unattended browser logged in for longer.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_idle_timeout(sesh::Duration::from_mins(5));
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.policy = self.policy.with_idle_timeout(idle);
        self
    }

    /// Sets the absolute lifetime (default 8 hours). ⚠️ Longer lifetimes let
    /// a stolen cookie work for longer.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_absolute_lifetime(sesh::Duration::from_hours(2));
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_absolute_lifetime(mut self, absolute: Duration) -> Self {
        self.policy = self.policy.with_absolute_lifetime(absolute);
        self
    }

    /// Sets the share of the idle timeout after which a use refreshes it
    /// (default 25 %; 0 writes on every request).
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_refresh_percent(50);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_refresh_percent(mut self, percent: u8) -> Self {
        self.policy = self.policy.with_refresh_percent(percent);
        self
    }

    /// Sets the largest encoded session data, in bytes (default 4096). A write
    /// over it is an error the handler sees; nothing is truncated.
    ///
    /// ```
    /// let c = sesh_tokio::SessionConfig::new(&[1; 32])?.with_max_data_len(1024);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_max_data_len(mut self, max: usize) -> Self {
        self.max_data_len = max;
        self
    }

    /// The expiry policy.
    pub fn policy(&self) -> &ExpiryPolicy {
        &self.policy
    }

    /// The key ring, whatever its size.
    pub(crate) fn keys(&self) -> &dyn Keys {
        self.keys.as_ref()
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The core's view of the cookie settings.
    pub fn cookie(&self) -> CookieConfig<'_> {
        let c = CookieConfig::new(&self.cookie_name)
            .with_path(&self.path)
            .with_same_site(self.same_site)
            .with_secure(self.secure)
            .with_http_only(self.http_only);
        match &self.domain {
            Some(d) => c.with_domain(d),
            None => c,
        }
    }

    /// The pre-session cookie's name: the cookie name followed by `-pre`
    /// (see [`sesh::presession`]); `None` when that exceeds 64 bytes, which
    /// [`validate`](Self::validate) refuses.
    pub fn pre_cookie_name(&self) -> Option<PreCookieName> {
        PreCookieName::for_session_cookie(&self.cookie_name).ok()
    }

    /// Checks the cookie settings, for the session cookie and the
    /// pre-session cookie; [`SessionLayer::new`](crate::SessionLayer::new) calls it.
    pub fn validate(&self) -> Result<(), CookieConfigError> {
        self.cookie().validate()?;
        let name = self
            .pre_cookie_name()
            .ok_or(CookieConfigError::InvalidName)?;
        name.config(self.cookie()).validate()
    }
}
