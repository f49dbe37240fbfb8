//! Which cookie and cache headers a response carries, decided once for every
//! adapter from what happened to the session during the request: see
//! [`CookieDecision`].

#[cfg(feature = "signed")]
use core::fmt::{self, Write};

#[cfg(feature = "signed")]
use super::{CookieConfig, write_removal, write_session_only_cookie, write_set_cookie};
#[cfg(feature = "signed")]
use crate::presession::{PreCookieName, PreSession};
#[cfg(feature = "signed")]
use crate::signing::KeyRing;
use crate::{Duration, Instant, SessionId};

/// The session cookie the request carried, as the adapter read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestCookie {
    /// No session cookie at all.
    Absent,
    /// One value that verified with the current key.
    Current,
    /// One value that verified with a retired key of the ring: a live
    /// session behind it gets its cookie re-signed with the current key.
    RetiredKey,
    /// A session cookie that selects nothing: malformed, ambiguous (several
    /// different values), unsigned or with a tag that does not verify.
    Refused,
}

impl RequestCookie {
    /// Whether the request carried a session cookie, valid or not.
    ///
    /// ```
    /// use sesh::cookie::RequestCookie;
    /// assert!(RequestCookie::Refused.was_sent());
    /// assert!(!RequestCookie::Absent.was_sent());
    /// ```
    pub const fn was_sent(self) -> bool {
        !matches!(self, RequestCookie::Absent)
    }
}

/// What the response does with the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionCookie {
    /// No `Set-Cookie` for the session: the client keeps what it has.
    Keep,
    /// Set the cookie to `id` (signed by the adapter) with this `Max-Age`.
    Set {
        /// The session id the cookie carries.
        id: SessionId,
        /// How long the cookie lives: until the session expires.
        max_age: Duration,
    },
    /// Delete the cookie (`Max-Age=0`).
    Remove,
}

/// The pre-session cookie a response sets (feature `signed`).
#[cfg(feature = "signed")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PreSessionCookie {
    /// The cookie's value.
    pub pre: PreSession,
    /// How long it lives: as long as the form token made for it.
    pub max_age: Duration,
}

/// What the session cookie will be, before `now` turns it into headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Pending {
    Keep,
    Set { id: SessionId, expires_at: Instant },
    Remove,
}

/// Records what happened to one request's session and decides the response's
/// `Set-Cookie`, `Vary: Cookie` and `Cache-Control: no-store` headers.
///
/// An adapter makes a [`CookieDecision`] from the request's session cookie
/// ([`RequestCookie`]), reports each session event to it while the handler
/// runs, and at the end writes the headers [`CookieDecision::decide`]
/// answers ([`CookieHeaders`]), and no others. The rules:
///
/// - **Session cookie** ([`SessionCookie`]): set when a session was created,
///   regenerated or refreshed, and when a live session was used whose cookie
///   was signed by a retired key (re-signed with the current one). Removed
///   when the session was destroyed and the request carried a session cookie
///   (valid or not: a forged or unknown one goes too). Otherwise left as it
///   is: a forged, unknown or expired cookie that is only read is not
///   removed, so the client keeps whatever a concurrent response set.
#[cfg_attr(
    feature = "signed",
    doc = "- **Pre-session cookie** (feature `signed`, [`crate::presession`]): set"
)]
#[cfg_attr(
    not(feature = "signed"),
    doc = "- **Pre-session cookie** (feature `signed`, `sesh::presession`): set"
)]
///   whenever a pre-session form token was made, with the token's lifetime.
/// - **`Vary: Cookie`** when the response's content may depend on the
///   session: the handler read or changed the session or learned that there
///   is none (any event after [`CookieDecision::new`]), or a `Set-Cookie` of
///   ours goes out. A response that never touched the session does not vary,
///   even if the request sent a cookie, so caches may share it; one that read
///   the session varies even if the request sent none, so that a cache does
///   not hand an anonymous answer to a signed-in user (or back).
/// - **`Cache-Control: no-store`** whenever a `Set-Cookie` of ours goes out:
///   a shared cache must never replay a cookie to another client.
///
/// It is `Copy`, allocates nothing, never panics and reads no clock: the
/// adapter passes `now` to [`decide`](Self::decide). Report every event
/// that happens; the order matters only as the events' order does (a
/// session destroyed after it was created is gone).
///
/// ```
/// use sesh::cookie::{CookieDecision, RequestCookie, SessionCookie};
/// use sesh::{Duration, Instant, SessionId};
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let now = Instant::from_secs(100);
///
/// // A request without a cookie whose handler wrote data: a session starts.
/// let mut decision = CookieDecision::new(RequestCookie::Absent);
/// decision.missing();
/// let id = SessionId::generate(&mut rng)?;
/// decision.created(id, now.saturating_add(Duration::from_mins(30)));
/// let headers = decision.decide(now);
/// assert_eq!(headers.session(), SessionCookie::Set { id, max_age: Duration::from_mins(30) });
/// assert!(headers.vary_cookie() && headers.no_store());
///
/// // A request with a cookie whose handler never looked at the session.
/// let headers = CookieDecision::new(RequestCookie::Current).decide(now);
/// assert_eq!(headers.session(), SessionCookie::Keep);
/// assert!(!headers.vary_cookie() && !headers.no_store());
/// # Ok::<(), sesh::RngError>(())
/// ```
///
/// A cookie signed by a retired key is re-signed when its session is used;
/// a logout removes the cookie:
///
/// ```
/// use sesh::cookie::{CookieDecision, RequestCookie, SessionCookie};
/// use sesh::{Instant, SessionId};
/// # let id = SessionId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng))?;
/// let now = Instant::from_secs(10);
///
/// // A cookie signed by a retired key, for a live session that is read.
/// let mut decision = CookieDecision::new(RequestCookie::RetiredKey);
/// decision.used(id, Instant::from_secs(70));
/// let headers = decision.decide(now);
/// assert_eq!(headers.session(), SessionCookie::Set { id, max_age: sesh::Duration::from_secs(60) });
///
/// // Logging out removes the cookie.
/// decision.destroyed();
/// assert_eq!(decision.decide(now).session(), SessionCookie::Remove);
/// # Ok::<(), sesh::RngError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CookieDecision {
    request: RequestCookie,
    accessed: bool,
    cookie: Pending,
    /// The live session to re-sign, when the request's cookie needs it.
    resign: Option<(SessionId, Instant)>,
    /// The session's cookie is a browser-session cookie (no `Max-Age`).
    browser_session: bool,
    #[cfg(feature = "signed")]
    pre_session: Option<(PreSession, Instant)>,
}

impl CookieDecision {
    /// Nothing has happened yet; the request carried `request`.
    ///
    /// ```
    /// use sesh::cookie::{CookieDecision, RequestCookie};
    /// let decision = CookieDecision::new(RequestCookie::Absent);
    /// assert_eq!(decision.request_cookie(), RequestCookie::Absent);
    /// ```
    pub const fn new(request: RequestCookie) -> Self {
        CookieDecision {
            request,
            accessed: false,
            cookie: Pending::Keep,
            resign: None,
            browser_session: false,
            #[cfg(feature = "signed")]
            pre_session: None,
        }
    }

    /// The request's session cookie, as given to [`new`](Self::new).
    pub const fn request_cookie(&self) -> RequestCookie {
        self.request
    }

    /// Whether the handler has touched the session (any event so far).
    pub const fn was_accessed(&self) -> bool {
        self.accessed
    }

    /// The response depends on the session, and no other event says how:
    /// for example a CSRF token was checked, or an operation failed before
    /// it could tell whether a session is live.
    pub fn accessed(&mut self) {
        self.accessed = true;
    }

    /// The live session `id` was read or changed, and it expires at
    /// `expires_at` (its deadline did not move). The cookie stays, unless
    /// the request's was signed by a retired key: then it is re-signed.
    pub fn used(&mut self, id: SessionId, expires_at: Instant) {
        self.accessed = true;
        if self.request == RequestCookie::RetiredKey && self.cookie == Pending::Keep {
            self.resign = Some((id, expires_at));
        }
    }

    /// The live session `id` was refreshed: its expiry moved to
    /// `expires_at`, so the cookie's `Max-Age` is sent again.
    pub fn refreshed(&mut self, id: SessionId, expires_at: Instant) {
        self.set(id, expires_at);
    }

    /// A session was created under `id`, expiring at `expires_at`.
    pub fn created(&mut self, id: SessionId, expires_at: Instant) {
        self.set(id, expires_at);
    }

    /// The live session moved to the fresh id `id`, expiring at `expires_at`.
    pub fn regenerated(&mut self, id: SessionId, expires_at: Instant) {
        self.set(id, expires_at);
    }

    fn set(&mut self, id: SessionId, expires_at: Instant) {
        self.accessed = true;
        self.cookie = Pending::Set { id, expires_at };
        self.resign = None;
    }

    /// The session's cookie is a browser-session cookie
    /// ([`Lifetime::BrowserSession`](crate::expiry::Lifetime)): a `Set`
    /// carries neither `Max-Age` nor `Expires`
    /// ([`CookieHeaders::browser_session`]). Report it whenever the
    /// session's lifetime says so
    /// ([`Lifetime::cookie_has_max_age`](crate::expiry::Lifetime::cookie_has_max_age)
    /// is false), with or after the event that sets the cookie.
    ///
    /// ```
    /// use sesh::cookie::{write_session_only_cookie, CookieConfig, CookieDecision, RequestCookie, SessionCookie};
    /// use sesh::{Instant, SessionId};
    /// # let id = SessionId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng))?;
    /// let mut decision = CookieDecision::new(RequestCookie::Current);
    /// decision.regenerated(id, Instant::from_secs(1800));
    /// decision.browser_session();
    /// let headers = decision.decide(Instant::ZERO);
    /// // What `write_session_cookie` (feature `signed`) then writes:
    /// let mut out = String::new();
    /// if let (SessionCookie::Set { id, .. }, true) = (headers.session(), headers.browser_session()) {
    ///     write_session_only_cookie(&mut out, &CookieConfig::new("sid"), id.encode())?;
    /// }
    /// assert!(out.starts_with("sid=") && !out.contains("Max-Age") && !out.contains("Expires"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn browser_session(&mut self) {
        self.browser_session = true;
    }

    /// The session was destroyed. The cookie is removed if the request
    /// carried one (even one that selected nothing); a session created and
    /// destroyed within a request without a cookie leaves nothing to remove.
    /// A [`browser_session`](Self::browser_session) report ends with the
    /// session: one created after it in the same request has its own lifetime.
    pub fn destroyed(&mut self) {
        self.accessed = true;
        self.resign = None;
        self.browser_session = false;
        self.cookie = if self.request.was_sent() {
            Pending::Remove
        } else {
            Pending::Keep
        };
    }

    /// The handler looked for the session and there is none live: no
    /// cookie, or one that is refused, unknown, expired, or whose session
    /// went meanwhile. Nothing is re-signed; the cookie itself stays (only
    /// [`destroyed`](Self::destroyed) removes it).
    pub fn missing(&mut self) {
        self.accessed = true;
        self.resign = None;
    }

    /// A pre-session form token, valid until `expires_at`, was made for
    /// `pre`: the pre-session cookie is (re)sent to live as long.
    #[cfg(feature = "signed")]
    pub fn pre_session_issued(&mut self, pre: PreSession, expires_at: Instant) {
        self.accessed = true;
        self.pre_session = Some((pre, expires_at));
    }

    /// [`decide`](Self::decide), reading the clock (`now`) only when a cookie
    /// is sent and needs a lifetime: most answers to a returning client send
    /// none, and a clock read is a good part of what they cost.
    ///
    /// ```
    /// use sesh::{cookie::{CookieDecision, RequestCookie}, Instant};
    /// let mut decision = CookieDecision::new(RequestCookie::Current);
    /// decision.accessed();
    /// let headers = decision.decide_with(|| unreachable!("no cookie, no clock"));
    /// assert_eq!(headers, decision.decide(Instant::from_millis(5)));
    /// ```
    pub fn decide_with(&self, now: impl FnOnce() -> Instant) -> CookieHeaders {
        let session_timed = match (self.cookie, self.resign) {
            (Pending::Set { .. }, _) | (Pending::Keep, Some(_)) => true,
            (Pending::Remove, _) | (Pending::Keep, None) => false,
        };
        #[cfg(feature = "signed")]
        let timed = session_timed || self.pre_session.is_some();
        #[cfg(not(feature = "signed"))]
        let timed = session_timed;
        // Untimed headers do not depend on the instant.
        self.decide(if timed { now() } else { Instant::ZERO })
    }

    /// The headers the response carries, with cookie lifetimes counted from
    /// `now`.
    pub fn decide(&self, now: Instant) -> CookieHeaders {
        let set = |id, expires_at: Instant| SessionCookie::Set {
            id,
            max_age: expires_at.saturating_duration_since(now),
        };
        let session = match (self.cookie, self.resign) {
            (Pending::Set { id, expires_at }, _) => set(id, expires_at),
            (Pending::Remove, _) => SessionCookie::Remove,
            (Pending::Keep, Some((id, expires_at))) => set(id, expires_at),
            (Pending::Keep, None) => SessionCookie::Keep,
        };
        CookieHeaders {
            session,
            #[cfg(feature = "signed")]
            pre_session: self.pre_session.map(|(pre, expires_at)| PreSessionCookie {
                pre,
                max_age: expires_at.saturating_duration_since(now),
            }),
            accessed: self.accessed,
            browser_session: self.browser_session,
        }
    }
}

/// The answer of [`CookieDecision::decide`]: the only cookie and cache
/// headers an adapter adds to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CookieHeaders {
    session: SessionCookie,
    #[cfg(feature = "signed")]
    pre_session: Option<PreSessionCookie>,
    accessed: bool,
    browser_session: bool,
}

impl CookieHeaders {
    /// The session cookie's `Set-Cookie`, if any.
    pub const fn session(&self) -> SessionCookie {
        self.session
    }

    /// The pre-session cookie's `Set-Cookie`, if any (feature `signed`).
    #[cfg(feature = "signed")]
    pub const fn pre_session(&self) -> Option<PreSessionCookie> {
        self.pre_session
    }

    /// Whether a [`SessionCookie::Set`] is a browser-session cookie: written
    /// without `Max-Age` or `Expires` ([`write_session_only_cookie`](super::write_session_only_cookie)), its
    /// `max_age` only the server's deadline.
    pub const fn browser_session(&self) -> bool {
        self.browser_session
    }

    /// Whether any `Set-Cookie` of sesh goes out.
    pub const fn sets_cookie(&self) -> bool {
        #[cfg(feature = "signed")]
        let pre = self.pre_session.is_some();
        #[cfg(not(feature = "signed"))]
        let pre = false;
        pre || !matches!(self.session, SessionCookie::Keep)
    }

    /// Whether the response carries `Vary: Cookie`: its content may depend
    /// on the session (the handler touched it, or a cookie is set). An
    /// adapter adds it only if the response's `Vary` does not already name
    /// `Cookie` or `*`.
    pub const fn vary_cookie(&self) -> bool {
        self.accessed || self.sets_cookie()
    }

    /// Whether the response carries `Cache-Control: no-store`: exactly when
    /// it sets a cookie, which a shared cache must never replay.
    pub const fn no_store(&self) -> bool {
        self.sets_cookie()
    }

    /// Writes the session cookie's `Set-Cookie` value into `out`, its id
    /// signed by `keys` ([`write_set_cookie`], or [`write_removal`]).
    /// Answers whether there was one to write; an error means `out` is too
    /// small, and then the response must not go out half-made.
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, CookieDecision, RequestCookie};
    /// use sesh::signing::{Key, KeyRing};
    /// let keys = KeyRing::<1>::new(Key::new(&[7; 32])?);
    /// let mut decision = CookieDecision::new(RequestCookie::Current);
    /// decision.destroyed();
    /// let mut out: heapless::String<128> = heapless::String::new();
    /// assert_eq!(decision.decide(sesh::Instant::ZERO).write_session_cookie(&mut out, &CookieConfig::new("sid"), &keys), Ok(true));
    /// assert_eq!(out, "sid=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "signed")]
    pub fn write_session_cookie<W: Write + ?Sized, const K: usize>(
        &self,
        out: &mut W,
        config: &CookieConfig<'_>,
        keys: &KeyRing<K>,
    ) -> Result<bool, fmt::Error> {
        match self.session {
            SessionCookie::Keep => return Ok(false),
            SessionCookie::Set { id, .. } if self.browser_session => {
                write_session_only_cookie(out, config, keys.sign(&id))?
            }
            SessionCookie::Set { id, max_age } => {
                write_set_cookie(out, config, keys.sign(&id), max_age)?
            }
            SessionCookie::Remove => write_removal(out, config)?,
        }
        Ok(true)
    }

    /// Writes the pre-session cookie's `Set-Cookie` value into `out`, named
    /// after the session cookie `config` ([`PreCookieName`]). Answers
    /// whether there was one to write; an error means `out` is too small or
    /// the session cookie's name too long for a pre-session name.
    ///
    /// ```
    /// use sesh::cookie::{CookieConfig, CookieDecision, RequestCookie};
    /// use sesh::presession::PreSession;
    /// use sesh::Instant;
    /// let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let mut decision = CookieDecision::new(RequestCookie::Absent);
    /// decision.pre_session_issued(pre, Instant::from_secs(1800));
    /// let mut out = String::new();
    /// assert_eq!(decision.decide(Instant::ZERO).write_pre_session_cookie(&mut out, &CookieConfig::new("sid")), Ok(true));
    /// assert_eq!(out, "sid-pre=AAAAAAAAAAAAAAAAAAAAAA; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "signed")]
    pub fn write_pre_session_cookie<W: Write + ?Sized>(
        &self,
        out: &mut W,
        config: &CookieConfig<'_>,
    ) -> Result<bool, fmt::Error> {
        let Some(cookie) = self.pre_session else {
            return Ok(false);
        };
        let name = PreCookieName::for_session_cookie(config.name()).map_err(|_| fmt::Error)?;
        write_set_cookie(
            out,
            &name.config(*config),
            cookie.pre.encode(),
            cookie.max_age,
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::CountingRng;

    fn id(seed: u64) -> SessionId {
        SessionId::generate(&mut CountingRng(seed)).unwrap()
    }

    const NOW: Instant = Instant::from_secs(1_000);

    fn at(secs: u64) -> Instant {
        NOW.saturating_add(Duration::from_secs(secs))
    }

    fn set(id: SessionId, secs: u64) -> SessionCookie {
        SessionCookie::Set {
            id,
            max_age: Duration::from_secs(secs),
        }
    }

    #[test]
    fn untouched_sends_nothing_whatever_the_request_carried() {
        for request in [
            RequestCookie::Absent,
            RequestCookie::Current,
            RequestCookie::RetiredKey,
            RequestCookie::Refused,
        ] {
            let h = CookieDecision::new(request).decide(NOW);
            assert_eq!(h.session(), SessionCookie::Keep);
            #[cfg(feature = "signed")]
            assert_eq!(h.pre_session(), None);
            assert!(!h.vary_cookie() && !h.no_store() && !h.sets_cookie());
        }
    }

    #[test]
    fn reads_vary_but_set_nothing() {
        let mut d = CookieDecision::new(RequestCookie::Absent);
        d.missing();
        let h = d.decide(NOW);
        assert_eq!(h.session(), SessionCookie::Keep);
        assert!(h.vary_cookie() && !h.no_store());

        let mut d = CookieDecision::new(RequestCookie::Current);
        d.used(id(1), at(60));
        let h = d.decide(NOW);
        assert_eq!(h.session(), SessionCookie::Keep);
        assert!(h.vary_cookie() && !h.no_store());
    }

    #[test]
    fn retired_key_is_resigned_only_for_a_live_session() {
        let mut d = CookieDecision::new(RequestCookie::RetiredKey);
        d.used(id(1), at(60));
        assert_eq!(d.decide(NOW).session(), set(id(1), 60));
        // The session went meanwhile: nothing to re-sign.
        d.missing();
        assert_eq!(d.decide(NOW).session(), SessionCookie::Keep);
        let mut d = CookieDecision::new(RequestCookie::RetiredKey);
        d.missing();
        assert_eq!(d.decide(NOW).session(), SessionCookie::Keep);
    }

    #[test]
    fn refresh_create_regenerate_set_and_the_last_wins() {
        let mut d = CookieDecision::new(RequestCookie::Current);
        d.refreshed(id(1), at(30));
        assert_eq!(d.decide(NOW).session(), set(id(1), 30));
        d.regenerated(id(2), at(40));
        assert_eq!(d.decide(NOW).session(), set(id(2), 40));
        d.used(id(2), at(50));
        assert_eq!(d.decide(NOW).session(), set(id(2), 40));
        let h = d.decide(NOW);
        assert!(h.vary_cookie() && h.no_store());
    }

    #[test]
    fn destroy_removes_only_a_cookie_the_request_carried() {
        for request in [
            RequestCookie::Current,
            RequestCookie::RetiredKey,
            RequestCookie::Refused,
        ] {
            let mut d = CookieDecision::new(request);
            d.used(id(1), at(1));
            d.destroyed();
            let h = d.decide(NOW);
            assert_eq!(h.session(), SessionCookie::Remove, "{request:?}");
            assert!(h.no_store() && h.vary_cookie());
        }
        let mut d = CookieDecision::new(RequestCookie::Absent);
        d.created(id(1), at(60));
        d.destroyed();
        let h = d.decide(NOW);
        assert_eq!(h.session(), SessionCookie::Keep);
        assert!(h.vary_cookie() && !h.no_store());
        // Destroyed, then a new session: it is set.
        let mut d = CookieDecision::new(RequestCookie::Current);
        d.destroyed();
        d.created(id(3), at(5));
        assert_eq!(d.decide(NOW).session(), set(id(3), 5));
    }

    #[test]
    fn max_age_counts_from_now_and_never_underflows() {
        let mut d = CookieDecision::new(RequestCookie::Absent);
        d.created(id(1), Instant::from_secs(10));
        assert_eq!(d.decide(Instant::from_secs(20)).session(), set(id(1), 0));
        assert_eq!(
            d.decide(Instant::from_millis(9_500)).session(),
            SessionCookie::Set {
                id: id(1),
                max_age: Duration::from_millis(500)
            }
        );
    }

    #[cfg(feature = "signed")]
    #[test]
    fn pre_session_is_set_and_written() {
        let pre = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let mut d = CookieDecision::new(RequestCookie::Refused);
        d.pre_session_issued(pre, at(1800));
        let h = d.decide(NOW);
        assert_eq!(h.session(), SessionCookie::Keep);
        assert_eq!(
            h.pre_session(),
            Some(PreSessionCookie {
                pre,
                max_age: Duration::from_secs(1800)
            })
        );
        assert!(h.vary_cookie() && h.no_store());
        let mut out = std::string::String::new();
        let config = CookieConfig::new("__Host-sid").with_host_prefix();
        assert_eq!(h.write_pre_session_cookie(&mut out, &config), Ok(true));
        assert!(out.starts_with("__Host-sid-pre=AAAAAAAAAAAAAAAAAAAAAA; Path=/; Max-Age=1800;"));
        let keys = KeyRing::<1>::new(crate::signing::Key::new(&[1; 32]).unwrap());
        out.clear();
        assert_eq!(h.write_session_cookie(&mut out, &config, &keys), Ok(false));
        assert_eq!(out, "");
    }

    #[cfg(feature = "signed")]
    #[test]
    fn written_session_cookie_is_signed_and_small_buffers_fail() {
        let keys = KeyRing::<1>::new(crate::signing::Key::new(&[1; 32]).unwrap());
        let mut d = CookieDecision::new(RequestCookie::Absent);
        d.created(id(4), at(60));
        let h = d.decide(NOW);
        let mut out = std::string::String::new();
        assert_eq!(
            h.write_session_cookie(&mut out, &CookieConfig::new("sid"), &keys),
            Ok(true)
        );
        let expected = std::format!(
            "sid={}; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax",
            keys.sign(&id(4))
        );
        assert_eq!(out, expected);
        let mut small: heapless::String<16> = heapless::String::new();
        assert!(
            h.write_session_cookie(&mut small, &CookieConfig::new("sid"), &keys)
                .is_err()
        );
        let long = "x".repeat(crate::presession::MAX_PRE_COOKIE_NAME);
        let mut d = CookieDecision::new(RequestCookie::Absent);
        d.pre_session_issued(PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap(), NOW);
        assert!(
            d.decide(NOW)
                .write_pre_session_cookie(&mut out, &CookieConfig::new(&long))
                .is_err()
        );
    }

    #[cfg(feature = "signed")]
    #[test]
    fn a_browser_session_cookie_has_no_max_age_but_a_removal_does() {
        let keys = KeyRing::<1>::new(crate::signing::Key::new(&[1; 32]).unwrap());
        let mut d = CookieDecision::new(RequestCookie::Current);
        d.refreshed(id(5), at(60));
        d.browser_session();
        let h = d.decide(NOW);
        assert!(h.browser_session() && h.no_store() && h.vary_cookie());
        let mut out = std::string::String::new();
        assert_eq!(
            h.write_session_cookie(&mut out, &CookieConfig::new("sid"), &keys),
            Ok(true)
        );
        let expected = std::format!(
            "sid={}; Path=/; HttpOnly; Secure; SameSite=Lax",
            keys.sign(&id(5))
        );
        assert_eq!(out, expected);
        d.destroyed();
        out.clear();
        d.decide(NOW)
            .write_session_cookie(&mut out, &CookieConfig::new("sid"), &keys)
            .unwrap();
        assert!(out.contains("Max-Age=0"), "{out}");
        assert!(
            !CookieDecision::new(RequestCookie::Current)
                .decide(NOW)
                .browser_session()
        );
    }

    #[test]
    fn a_session_created_after_a_destroyed_browser_session_keeps_max_age() {
        let mut d = CookieDecision::new(RequestCookie::Current);
        d.used(id(5), at(60));
        d.browser_session();
        d.destroyed();
        d.created(id(6), at(120));
        let h = d.decide(NOW);
        assert!(!h.browser_session());
        assert!(matches!(h.session(), SessionCookie::Set { id: new, .. } if new == id(6)));
    }

    /// `decide_with` answers as `decide` at the same instant after any run
    /// of events, and reads the clock exactly when a cookie it sends has a
    /// lifetime.
    #[test]
    fn decide_with_reads_the_clock_only_for_a_lifetime() {
        type Event = fn(&mut CookieDecision);
        let events: [Event; 9] = [
            CookieDecision::accessed,
            |d| d.used(id(1), at(60)),
            |d| d.refreshed(id(1), at(90)),
            |d| d.created(id(2), at(120)),
            |d| d.regenerated(id(3), at(150)),
            CookieDecision::browser_session,
            CookieDecision::destroyed,
            CookieDecision::missing,
            #[cfg(feature = "signed")]
            |d| {
                let pre = crate::presession::PreSession::generate(&mut CountingRng(4)).unwrap();
                d.pre_session_issued(pre, at(30));
            },
            #[cfg(not(feature = "signed"))]
            CookieDecision::accessed,
        ];
        for request in [
            RequestCookie::Absent,
            RequestCookie::Current,
            RequestCookie::RetiredKey,
            RequestCookie::Refused,
        ] {
            for first in &events {
                for second in &events {
                    let mut d = CookieDecision::new(request);
                    first(&mut d);
                    second(&mut d);
                    let mut reads = 0;
                    let h = d.decide_with(|| {
                        reads += 1;
                        NOW
                    });
                    assert_eq!(h, d.decide(NOW));
                    let timed = matches!(h.session(), SessionCookie::Set { .. });
                    #[cfg(feature = "signed")]
                    let timed = timed || h.pre_session().is_some();
                    assert_eq!(reads, usize::from(timed), "{d:?}");
                }
            }
        }
    }
}
