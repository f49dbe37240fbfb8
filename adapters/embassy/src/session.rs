//! The handler's view: an extractor with owned data and the session operations.

use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::RawMutex;
use picoserve::extract::{FromRef, FromRequestParts};
use picoserve::request::RequestParts;
use rand_core::TryCryptoRng;
use sesh::cookie::{CookieScan, ScanOutcome};
use sesh::presession::{FormToken, PreCookieName, PreSession};
use sesh::table::{Access, CreateError, NotFound, RegenerateError};
use sesh::{Instant, SessionId};

use crate::clock::now;
use crate::error::SessionError;
use crate::response::{CookieChange, WithSession};
use crate::sessions::{Inner, Sessions};

/// The request's session. Extract it in a handler; finish with
/// [`Session::respond`], which adds the one `Set-Cookie` the response needs.
///
/// The state must give access to the `static` [`Sessions`]: implement
/// `picoserve::extract::FromRef<AppState>` for `&'static Sessions<…>`.
///
/// Every method locks the table only for the operation itself. Data comes
/// out as an owned clone: picoserve handlers cannot borrow from the request.
/// A session is stored only once data is written (lazy), and a cookie whose
/// id is unknown, expired, unsigned or forged selects nothing (strict).
pub struct Session<M: RawMutex + 'static, D: 'static, R: 'static, const N: usize> {
    sessions: &'static Sessions<M, D, R, N>,
    /// The id this request speaks for: the presented one, then any new one.
    id: Cell<Option<SessionId>>,
    presented: bool,
    needs_resign: bool,
    change: Cell<CookieChange>,
    /// The pre-session cookie the request presented (one value that parses).
    presented_pre: Option<PreSession>,
    /// The pre-session cookie to (re)send: a form token was made for it.
    pre_cookie: Cell<Option<PreSession>>,
}

impl<'r, S, M, D, R, const N: usize> FromRequestParts<'r, S> for Session<M, D, R, N>
where
    M: RawMutex + 'static,
    D: 'static,
    R: 'static,
    &'static Sessions<M, D, R, N>: FromRef<S>,
{
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(
        state: &'r S,
        parts: &RequestParts<'r>,
    ) -> Result<Self, Self::Rejection> {
        let sessions = <&'static Sessions<M, D, R, N>>::from_ref(state);
        Ok(Session::from_cookie_headers(
            sessions,
            parts.headers().iter().filter_map(|(name, value)| {
                name.as_raw()
                    .eq_ignore_ascii_case(b"cookie")
                    .then_some(value.as_raw())
            }),
        )
        .await)
    }
}

impl<M: RawMutex + 'static, D: 'static, R: 'static, const N: usize> Session<M, D, R, N> {
    /// Reads the session cookie from the raw values of every `Cookie` header.
    /// Anything but one value that verifies selects no session.
    pub async fn from_cookie_headers<'h>(
        sessions: &'static Sessions<M, D, R, N>,
        headers: impl Iterator<Item = &'h [u8]>,
    ) -> Self {
        let pre_name = PreCookieName::for_session_cookie(sessions.cookie().name()).ok();
        let mut scan = CookieScan::new(sessions.cookie().name());
        let mut pre_scan = CookieScan::new(pre_name.as_ref().map_or("", PreCookieName::as_str));
        headers.for_each(|h| {
            scan.feed(h);
            pre_scan.feed(h);
        });
        let outcome = scan.outcome();
        let presented_pre = match (&pre_name, pre_scan.outcome()) {
            (Some(_), ScanOutcome::Found(value)) => PreSession::parse(value).ok(),
            _ => None,
        };
        let verified = match outcome {
            ScanOutcome::Found(value) => {
                let inner = sessions.lock().await;
                inner.keys.as_ref().and_then(|keys| keys.verify(value).ok())
            }
            _ => None,
        };
        Session {
            sessions,
            id: Cell::new(verified.map(|v| v.id())),
            presented: !matches!(outcome, ScanOutcome::Absent),
            needs_resign: verified.is_some_and(|v| v.needs_resign()),
            change: Cell::new(CookieChange::Keep),
            presented_pre,
            pre_cookie: Cell::new(None),
        }
    }

    fn note_access(&self, id: SessionId, access: Access) {
        if access.refreshed {
            self.change.set(CookieChange::Set {
                id,
                expires_at: access.expires_at,
            });
            self.sessions.changed.signal(());
        } else if self.needs_resign && matches!(self.change.get(), CookieChange::Keep) {
            self.change.set(CookieChange::Set {
                id,
                expires_at: access.expires_at,
            });
        }
    }

    /// A clone of the data, or `None` without a live session. To read a
    /// field or two of a large `D`, [`read`](Self::read) copies less.
    pub async fn get(&self) -> Option<D>
    where
        D: Clone,
    {
        self.read(D::clone).await
    }

    /// Runs `read` on the data in place, with no copy of the rest (on a
    /// microcontroller, stack), and returns its result; `None` without a
    /// live session. The table stays locked while `read` runs: keep it
    /// short. For example `session.read(|account| account.visits)`.
    pub async fn read<T>(&self, read: impl FnOnce(&D) -> T) -> Option<T> {
        let id = self.id.get()?;
        let mut inner = self.sessions.lock().await;
        let (data, access) = inner.table.get(&id, now())?;
        let out = read(data);
        drop(inner);
        self.note_access(id, access);
        Some(out)
    }

    /// Sessions in the table (live or awaiting the sweeper) and its
    /// capacity, for status pages.
    pub async fn occupancy(&self) -> (usize, usize) {
        self.sessions.occupancy().await
    }

    /// Whether the session is live and marked logged in.
    pub async fn is_protected(&self) -> bool {
        let Some(id) = self.id.get() else {
            return false;
        };
        let mut inner = self.sessions.lock().await;
        let Some((_, access)) = inner.table.get(&id, now()) else {
            return false;
        };
        drop(inner);
        self.note_access(id, access);
        access.protected
    }

    /// When the session expires (milliseconds since boot), or `None`
    /// without a live session (one past its deadline that the sweeper has
    /// not removed yet is not live).
    pub async fn expires_at(&self) -> Option<Instant> {
        let id = self.id.get()?;
        let now = now();
        let inner = self.sessions.lock().await;
        inner
            .table
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| r.deadlines)
            .filter(|deadlines| !deadlines.is_expired(now))
            .map(|deadlines| deadlines.expires_at())
    }

    /// Stores `data` as a new session; the caller holds the lock.
    fn create_locked(
        &self,
        inner: &mut Inner<D, R, N>,
        now: Instant,
        data: D,
    ) -> Result<SessionId, SessionError>
    where
        R: TryCryptoRng,
    {
        let rng = inner.rng.as_mut().ok_or(SessionError::NotReady)?;
        let (id, access) = inner.table.create(rng, now, data).map_err(|e| match e {
            CreateError::Full(_) => SessionError::Full,
            CreateError::Rng(_) => SessionError::Rng,
            CreateError::Collision(_) => SessionError::Collision,
        })?;
        self.id.set(Some(id));
        self.change.set(CookieChange::Set {
            id,
            expires_at: access.expires_at,
        });
        self.sessions.changed.signal(());
        Ok(id)
    }

    /// The live id, if the presented (or new) id still names a session.
    fn live_id(&self, inner: &Inner<D, R, N>, now: Instant) -> Option<SessionId> {
        self.id.get().filter(|id| inner.table.contains(id, now))
    }

    /// Changes the data in one atomic read-modify-write (the table stays
    /// locked for the closure) and returns the closure's result. Starts a
    /// session from `D::default()` if there is none.
    pub async fn update<T>(&self, change: impl FnOnce(&mut D) -> T) -> Result<T, SessionError>
    where
        D: Default,
        R: TryCryptoRng,
    {
        let mut inner = self.sessions.lock().await;
        let now = now();
        // One lookup: without a live session the closure comes back unrun.
        let change = match self.change_live(&mut inner, now, change, |d, change| change(d)) {
            Ok(out) => return Ok(out),
            Err(change) => change,
        };
        let mut data = D::default();
        let out = change(&mut data);
        self.create_locked(&mut inner, now, data)?;
        Ok(out)
    }

    /// Replaces the data (no `D::default()` needed). Starts a session if
    /// there is none.
    pub async fn replace(&self, data: D) -> Result<(), SessionError>
    where
        R: TryCryptoRng,
    {
        let mut inner = self.sessions.lock().await;
        let now = now();
        // One lookup: without a live session the data comes back unstored.
        match self.change_live(&mut inner, now, data, |d, data| *d = data) {
            Ok(()) => Ok(()),
            Err(data) => self.create_locked(&mut inner, now, data).map(drop),
        }
    }

    /// Runs `change` with `value` on the live session's data and notes the
    /// access; hands `value` back, unused, without a live session.
    fn change_live<V, T>(
        &self,
        inner: &mut Inner<D, R, N>,
        now: Instant,
        value: V,
        change: impl FnOnce(&mut D, V) -> T,
    ) -> Result<T, V> {
        let Some(id) = self.id.get() else {
            return Err(value);
        };
        let (out, access) = inner.table.update_with(&id, now, value, change)?;
        self.note_access(id, access);
        self.sessions.changed.signal(());
        Ok(out)
    }

    /// Moves the session to a fresh id, keeping its data; call it at login.
    /// Without a live session it does nothing.
    pub async fn regenerate(&self) -> Result<(), SessionError>
    where
        R: TryCryptoRng,
    {
        let Some(old) = self.id.get() else {
            return Ok(());
        };
        let mut inner = self.sessions.lock().await;
        let inner = &mut *inner;
        let rng = inner.rng.as_mut().ok_or(SessionError::NotReady)?;
        match inner.table.regenerate(&old, rng, now()) {
            Ok((id, access)) => {
                self.id.set(Some(id));
                self.change.set(CookieChange::Set {
                    id,
                    expires_at: access.expires_at,
                });
                self.sessions.changed_urgently();
                Ok(())
            }
            Err(RegenerateError::NotFound) => {
                self.id.set(None);
                Ok(())
            }
            Err(RegenerateError::Rng) => Err(SessionError::Rng),
            Err(RegenerateError::Collision) => Err(SessionError::Collision),
        }
    }

    /// Marks the session logged in (or not); logged-in sessions are never
    /// evicted for anonymous ones. Starts a session if there is none.
    pub async fn set_protected(&self, protected: bool) -> Result<(), SessionError>
    where
        D: Default,
        R: TryCryptoRng,
    {
        let mut inner = self.sessions.lock().await;
        let now = now();
        let live = self
            .id
            .get()
            .and_then(|id| Some((id, inner.table.set_protected(&id, now, protected).ok()?)));
        let (id, access) = match live {
            Some(live) => live,
            None => {
                let id = self.create_locked(&mut inner, now, D::default())?;
                match inner.table.set_protected(&id, now, protected) {
                    Ok(access) => (id, access),
                    // Created at `now` and already expired: only a policy
                    // with a zero idle timeout or lifetime does that. There
                    // is nothing to mark; the response's cookie (set by the
                    // create, `Max-Age=0`) already ends it, as `update`'s would.
                    Err(NotFound) => {
                        debug_assert!(!inner.table.contains(&id, now));
                        drop(inner);
                        self.sessions.changed_urgently();
                        return Ok(());
                    }
                }
            }
        };
        drop(inner);
        self.note_access(id, access);
        self.sessions.changed_urgently();
        Ok(())
    }

    /// Deletes the session and sends a removal cookie.
    pub async fn destroy(&self) {
        if let Some(id) = self.id.take() {
            self.sessions.lock().await.table.destroy(&id);
            self.sessions.changed_urgently();
        }
        let had_cookie = self.presented || matches!(self.change.get(), CookieChange::Set { .. });
        self.change.set(if had_cookie {
            CookieChange::Remove
        } else {
            CookieChange::Keep
        });
    }

    /// The CSRF token for a form. Stores nothing, and never starts a
    /// session.
    ///
    /// With a live session it is the session's token
    /// ([`FormToken::Session`], derived from its id, so it changes at every
    /// regenerate). Without one (an anonymous visitor's login form) it is a
    /// pre-session token ([`FormToken::PreSession`], see
    /// [`sesh::presession`]): bound to the pre-session cookie
    /// (`<cookie name>-pre`; the request's, else a new random one that
    /// [`respond`](Self::respond) sets with the idle timeout as its
    /// `Max-Age`), valid for the idle timeout. At login the first write
    /// creates the session; the pre-session cookie is left to expire (it
    /// holds no rights and names nothing stored).
    pub async fn csrf_token(&self) -> Result<FormToken, SessionError>
    where
        R: TryCryptoRng,
    {
        let mut inner = self.sessions.lock().await;
        let now = now();
        if let Some(id) = self.live_id(&inner, now) {
            return inner
                .keys
                .as_ref()
                .map(|k| FormToken::Session(k.csrf_token(&id)))
                .ok_or(SessionError::NotReady);
        }
        let inner = &mut *inner;
        let pre = match self.presented_pre.or(self.pre_cookie.get()) {
            Some(pre) => pre,
            None => {
                let rng = inner.rng.as_mut().ok_or(SessionError::NotReady)?;
                PreSession::generate(rng).map_err(|_| SessionError::Rng)?
            }
        };
        let expires_at = now.saturating_add(inner.table.policy().idle_timeout());
        let keys = inner.keys.as_ref().ok_or(SessionError::NotReady)?;
        self.pre_cookie.set(Some(pre));
        Ok(FormToken::PreSession(keys.pre_csrf_token(&pre, expires_at)))
    }

    /// Checks a CSRF token in constant time: with a live session, against
    /// the session's token only (a login kills the forms served before it);
    /// without one, as a pre-session token against the pre-session cookie
    /// the request presented and its expiry. False for anything else.
    pub async fn verify_csrf(&self, token: &str) -> bool {
        let inner = self.sessions.lock().await;
        let now = now();
        let id = self.live_id(&inner, now);
        inner.keys.as_ref().is_some_and(|k| {
            k.verify_form_token(id.as_ref(), self.presented_pre.as_ref(), token, now)
        })
    }

    /// Wraps the handler's response so that it carries the cookie change, if
    /// any, with `Cache-Control: no-store` and `Vary: Cookie`; a response to a
    /// request that sent a session cookie gets `Vary: Cookie` in any case.
    /// Handlers should not add these headers themselves (picoserve appends).
    pub async fn respond<T>(self, response: T) -> WithSession<T> {
        let inner = self.sessions.lock().await;
        let pre = self
            .pre_cookie
            .get()
            .map(|pre| (pre, inner.table.policy().idle_timeout()));
        WithSession::new(
            response,
            self.change.get(),
            self.presented,
            self.sessions.cookie(),
            inner.keys.as_ref(),
        )
        .with_pre_session(pre, self.sessions.cookie())
    }
}
