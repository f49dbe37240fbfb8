//! The handler's view: an extractor with owned data and the session operations.

use core::cell::Cell;

use embassy_sync::blocking_mutex::raw::RawMutex;
use picoserve::extract::{FromRef, FromRequestParts};
use picoserve::request::RequestParts;
use rand_core::TryCryptoRng;
use sesh::cookie::{CookieDecision, CookieScan, RequestCookie, ScanOutcome, SessionCookie};
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SessionInfo, SignIn, UserId};
use sesh::presession::{FormToken, PreCookieName, PreSession};
use sesh::table::{Access, CreateError, MetaError, NotFound, RegenerateError};
use sesh::{Instant, SessionId};

use crate::clock::{Clock, EmbassyClock};
use crate::error::SessionError;
use crate::response::WithSession;
use crate::sessions::{Inner, Sessions};

/// The request's session. Extract it in a handler; finish with
/// [`Session::respond`], which adds the one `Set-Cookie` the response needs.
///
/// The state must give access to the [`Sessions`] built at boot: implement
/// `picoserve::extract::FromRef<AppState>` for `&'static Sessions<…>` (the
/// reference its `StaticCell` gave).
///
/// Every method locks the table only for the operation itself. Data comes
/// out as an owned clone: picoserve handlers cannot borrow from the request.
/// A session is stored only once data is written (lazy), and a cookie whose
/// id is unknown, expired, unsigned or forged selects nothing (strict).
pub struct Session<
    M: RawMutex + 'static,
    D: 'static,
    R: 'static,
    const N: usize,
    const K: usize = 2,
    C: Clock + 'static = EmbassyClock,
    const OWNED: usize = 0,
> {
    sessions: &'static Sessions<M, D, R, N, K, C, OWNED>,
    /// The id this request speaks for: the presented one, then any new one.
    id: Cell<Option<SessionId>>,
    /// What happened to the session: decides the response's headers.
    decision: Cell<CookieDecision>,
    /// The pre-session cookie the request presented (one value that parses).
    presented_pre: Option<PreSession>,
    /// The pre-session cookie to (re)send: a form token was made for it.
    pre_cookie: Cell<Option<PreSession>>,
    /// [`Session::respond`] ran: the headers went into a [`WithSession`].
    answered: bool,
}

impl<'r, S, M, D, R, const N: usize, const K: usize, C, const OWNED: usize> FromRequestParts<'r, S>
    for Session<M, D, R, N, K, C, OWNED>
where
    M: RawMutex + 'static,
    D: 'static,
    R: 'static,
    C: Clock + 'static,
    &'static Sessions<M, D, R, N, K, C, OWNED>: FromRef<S>,
{
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(
        state: &'r S,
        parts: &RequestParts<'r>,
    ) -> Result<Self, Self::Rejection> {
        let sessions = <&'static Sessions<M, D, R, N, K, C, OWNED>>::from_ref(state);
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

impl<M, D, R, const N: usize, const K: usize, C, const OWNED: usize>
    Session<M, D, R, N, K, C, OWNED>
where
    M: RawMutex + 'static,
    D: 'static,
    R: 'static,
    C: Clock + 'static,
{
    /// Reads the session cookie from the raw values of every `Cookie` header.
    /// Anything but one value that verifies selects no session.
    pub async fn from_cookie_headers<'h>(
        sessions: &'static Sessions<M, D, R, N, K, C, OWNED>,
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
            ScanOutcome::Found(value) => sessions.lock().await.keys.verify(value).ok(),
            _ => None,
        };
        let request = match (outcome, verified) {
            (ScanOutcome::Absent, _) => RequestCookie::Absent,
            (_, Some(v)) if v.needs_resign() => RequestCookie::RetiredKey,
            (_, Some(_)) => RequestCookie::Current,
            (_, None) => RequestCookie::Refused,
        };
        Session {
            sessions,
            id: Cell::new(verified.map(|v| v.id())),
            decision: Cell::new(CookieDecision::new(request)),
            presented_pre,
            pre_cookie: Cell::new(None),
            answered: false,
        }
    }

    /// Records an event for the response's headers.
    fn note(&self, event: impl FnOnce(&mut CookieDecision)) {
        let mut decision = self.decision.get();
        event(&mut decision);
        self.decision.set(decision);
    }

    fn note_access(&self, id: SessionId, access: Access) {
        if access.refreshed {
            self.note(|d| d.refreshed(id, access.expires_at));
            self.sessions.changed.signal(());
        } else {
            self.note(|d| d.used(id, access.expires_at));
        }
    }

    /// Records a lookup's result: a live session, or none.
    fn note_lookup(&self, found: Option<(SessionId, Access)>) {
        match found {
            Some((id, access)) => self.note_access(id, access),
            None => self.note(CookieDecision::missing),
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
        let Some(id) = self.id.get() else {
            self.note(CookieDecision::missing);
            return None;
        };
        let mut inner = self.sessions.lock().await;
        let found = inner
            .table
            .get(&id, self.sessions.now())
            .map(|(data, access)| (read(data), access));
        drop(inner);
        self.note_lookup(found.as_ref().map(|(_, access)| (id, *access)));
        found.map(|(out, _)| out)
    }

    /// Sessions in the table (live or awaiting the sweeper) and its
    /// capacity, for status pages.
    pub async fn occupancy(&self) -> (usize, usize) {
        self.sessions.occupancy().await
    }

    /// Whether the session is live and marked logged in.
    pub async fn is_protected(&self) -> bool {
        let Some(id) = self.id.get() else {
            self.note(CookieDecision::missing);
            return false;
        };
        let mut inner = self.sessions.lock().await;
        let access = inner
            .table
            .get(&id, self.sessions.now())
            .map(|(_, access)| access);
        drop(inner);
        self.note_lookup(access.map(|access| (id, access)));
        access.is_some_and(|access| access.protected)
    }

    /// When the session expires (milliseconds since boot), or `None`
    /// without a live session (one past its deadline that the sweeper has
    /// not removed yet is not live).
    pub async fn expires_at(&self) -> Option<Instant> {
        let inner = self.sessions.lock().await;
        let live = self.live(&inner, self.sessions.now());
        drop(inner);
        live.map(|(_, expires_at)| expires_at)
    }

    /// The live session and when it expires, without refreshing it;
    /// recorded as a read (or as no session) for the response's headers.
    fn live(&self, inner: &Inner<D, R, N, K, OWNED>, now: Instant) -> Option<(SessionId, Instant)> {
        let live = self.id.get().and_then(|id| {
            inner
                .table
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, r)| r.deadlines)
                .filter(|deadlines| !deadlines.is_expired(now))
                .map(|deadlines| (id, deadlines.expires_at()))
        });
        match live {
            Some((id, expires_at)) => self.note(|d| d.used(id, expires_at)),
            None => self.note(CookieDecision::missing),
        }
        live
    }

    /// Stores `data` as a new session; the caller holds the lock.
    fn create_locked(
        &self,
        inner: &mut Inner<D, R, N, K, OWNED>,
        now: Instant,
        data: D,
    ) -> Result<SessionId, SessionError>
    where
        R: TryCryptoRng,
    {
        let (id, access) = inner
            .table
            .create(&mut inner.rng, now, data)
            .map_err(session_error)?;
        self.id.set(Some(id));
        self.note(|d| d.created(id, access.expires_at));
        self.sessions.changed.signal(());
        Ok(id)
    }

    /// Changes the data in one atomic read-modify-write (the table stays
    /// locked for the closure) and returns the closure's result. Starts a
    /// session from `D::default()` if there is none.
    pub async fn update<T>(&self, change: impl FnOnce(&mut D) -> T) -> Result<T, SessionError>
    where
        D: Default,
        R: TryCryptoRng,
    {
        // The answer depends on the session even if the write fails.
        self.note(CookieDecision::accessed);
        let mut inner = self.sessions.lock().await;
        let now = self.sessions.now();
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
        self.note(CookieDecision::accessed);
        let mut inner = self.sessions.lock().await;
        let now = self.sessions.now();
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
        inner: &mut Inner<D, R, N, K, OWNED>,
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
            self.note(CookieDecision::missing);
            return Ok(());
        };
        self.note(CookieDecision::accessed);
        let mut inner = self.sessions.lock().await;
        let inner = &mut *inner;
        match inner
            .table
            .regenerate(&old, &mut inner.rng, self.sessions.now())
        {
            Ok((id, access)) => {
                self.id.set(Some(id));
                self.note(|d| d.regenerated(id, access.expires_at));
                self.sessions.changed_urgently();
                Ok(())
            }
            Err(RegenerateError::NotFound) => {
                self.id.set(None);
                self.note(CookieDecision::missing);
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
        self.note(CookieDecision::accessed);
        let mut inner = self.sessions.lock().await;
        let now = self.sessions.now();
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
        self.note(CookieDecision::destroyed);
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
        let now = self.sessions.now();
        if let Some((id, _)) = self.live(&inner, now) {
            return Ok(FormToken::Session(inner.keys.csrf_token(&id)));
        }
        let inner = &mut *inner;
        let pre = match self.presented_pre.or(self.pre_cookie.get()) {
            Some(pre) => pre,
            None => PreSession::generate(&mut inner.rng).map_err(|_| SessionError::Rng)?,
        };
        let expires_at = now.saturating_add(inner.table.policy().idle_timeout());
        self.pre_cookie.set(Some(pre));
        self.note(|d| d.pre_session_issued(pre, expires_at));
        Ok(FormToken::PreSession(
            inner.keys.pre_csrf_token(&pre, expires_at),
        ))
    }

    /// Checks a CSRF token in constant time: with a live session, against
    /// the session's token only (a login kills the forms served before it);
    /// without one, as a pre-session token against the pre-session cookie
    /// the request presented and its expiry. False for anything else.
    pub async fn verify_csrf(&self, token: &str) -> bool {
        let inner = self.sessions.lock().await;
        let now = self.sessions.now();
        let id = self.live(&inner, now).map(|(id, _)| id);
        inner
            .keys
            .verify_form_token(id.as_ref(), self.presented_pre.as_ref(), token, now)
    }

    /// Signs the visitor in as one step of the table
    /// ([`sesh::table::Table::sign_in`]): the current session, if any, ends;
    /// a new one under a fresh id holds what `data` makes of the current
    /// session's data (`None` without one), is protected from eviction,
    /// belongs to `sign_in.owner`, carries its label and lives by its
    /// lifetime from now. An id planted before login is dead (fixation), and
    /// the session is in the user's list at once. If the user then has more
    /// sessions than the per-user cap, their least recently used other one
    /// ends; its tag is returned. Saved to flash at once.
    ///
    /// On an error nothing changed: the visitor is as they were, never
    /// signed in without an owner. `Err(SessionError::Full)` when every slot
    /// or metadata entry (`OWNED`) holds a signed-in session: answer 503.
    ///
    /// `data` runs under the table's lock, so the carry-over is atomic, and
    /// the data it makes never lives in this future: a large `D` costs no
    /// RAM per worker (an argument of an async fn would).
    pub async fn sign_in(
        &self,
        sign_in: &SignIn,
        data: impl FnOnce(Option<&D>) -> D,
    ) -> Result<Option<DisplayTag>, SessionError>
    where
        R: TryCryptoRng,
    {
        self.note(CookieDecision::accessed);
        let mut inner = self.sessions.lock().await;
        let inner = &mut *inner;
        let now = self.sessions.now();
        let current = self.id.get();
        let data = data(current.and_then(|id| inner.table.peek(&id, now)));
        let done = inner
            .table
            .sign_in(current.as_ref(), sign_in, data, &mut inner.rng, now)
            .map_err(|e| {
                if matches!(e, CreateError::Full(_)) {
                    warn!("no room for a signed-in session: sign-in refused");
                }
                session_error(e)
            })?;
        self.id.set(Some(done.id));
        // `respond` reads the lifetime for the cookie's Max-Age.
        self.note(|d| d.regenerated(done.id, done.access.expires_at));
        self.sessions.changed_urgently();
        Ok(done.ended.as_ref().map(DisplayTag::of))
    }

    /// Marks the live session as `user`'s (at login,
    /// [`sign_in`](Self::sign_in) does this with the rest in one step). If
    /// `user` then has more sessions than the per-user cap
    /// (`sesh::owner::DEFAULT_MAX_SESSIONS_PER_USER`,
    /// or [`Sessions::with_max_sessions_per_user`]), their least recently
    /// used other session ends; its tag is returned. Saved to flash at once.
    /// `Err(MetaError::NotFound)` without a live session;
    /// `Err(MetaError::NoRoom)` when the table's metadata pool (`OWNED`, see
    /// [`Sessions`]) is full of logged-in sessions: nothing changed, answer
    /// 503.
    pub async fn set_owner(&self, user: UserId) -> Result<Option<DisplayTag>, MetaError> {
        let id = self.live_id()?;
        let mut inner = self.sessions.lock().await;
        let set = inner.table.set_owner(&id, user, self.sessions.now());
        drop(inner);
        let set = self.noted_meta(id, set.map(|set| (set.access, set)))?;
        self.sessions.changed_urgently();
        Ok(set.ended.as_ref().map(DisplayTag::of))
    }

    /// The live session's owner, if it has one (see
    /// [`set_owner`](Self::set_owner)). Not counted as a use.
    pub async fn owner(&self) -> Option<UserId> {
        let inner = self.sessions.lock().await;
        let now = self.sessions.now();
        let (id, _) = self.live(&inner, now)?;
        inner
            .table
            .meta(&id, now)
            .and_then(|meta| meta.owner.clone())
    }

    /// Gives the live session a label of the caller's (at most 64 bytes: a
    /// browser summary, say; [`Label::truncated`] cuts a longer text), shown
    /// by [`sessions`](Self::sessions). Errors as
    /// [`set_owner`](Self::set_owner)'s.
    pub async fn set_label(&self, label: Label) -> Result<(), MetaError> {
        let id = self.live_id()?;
        let mut inner = self.sessions.lock().await;
        let access = inner.table.set_label(&id, label, self.sessions.now());
        drop(inner);
        self.noted_meta(id, access.map(|access| (access, ())))?;
        self.sessions.changed.signal(());
        Ok(())
    }

    /// Chooses the live session's lifetime, at login: [`Lifetime::REMEMBER_ME`]
    /// (or another `Lifetime::Persistent`: its own idle and absolute
    /// deadlines, a cookie with `Max-Age`), or [`Lifetime::BrowserSession`]
    /// (the policy's deadlines on the server, a cookie with neither
    /// `Max-Age` nor `Expires`, on this answer and every later refresh).
    /// The deadlines start again from now and the cookie is sent again.
    /// Saved to flash at once, so a reboot keeps the deadlines.
    /// Errors as [`set_owner`](Self::set_owner)'s.
    pub async fn set_lifetime(&self, lifetime: Lifetime) -> Result<(), MetaError> {
        let id = self.live_id()?;
        let mut inner = self.sessions.lock().await;
        let access = inner.table.set_lifetime(&id, lifetime, self.sessions.now());
        drop(inner);
        self.noted_meta(id, access.map(|access| (access, ())))?;
        self.sessions.changed_urgently();
        Ok(())
    }

    /// The live sessions of this session's owner, most recently seen first,
    /// at most `L` of them (the `L` most recently seen); the request's own
    /// is marked `current`. Empty without a live session or an owner. No
    /// heap: the list is returned by value, so keep `L` small on a
    /// microcontroller (each entry is about 130 bytes). Not counted as a use.
    pub async fn sessions<const L: usize>(&self) -> heapless::Vec<SessionInfo, L> {
        let mut list = heapless::Vec::new();
        self.visit_sessions(|info| {
            if let Err(info) = list.push(info) {
                // Full: keep the L most recently seen.
                if let Some(oldest) = list.iter_mut().min_by_key(|s| s.last_seen)
                    && oldest.last_seen < info.last_seen
                {
                    *oldest = info;
                }
            }
        })
        .await;
        list.sort_unstable_by_key(|s| core::cmp::Reverse(s.last_seen));
        list
    }

    /// Calls `visit` with each live session of this session's owner, in no
    /// particular order, the request's own marked `current`; nothing
    /// without a live session or an owner. The table stays locked while
    /// `visit` runs: keep it short (copy what a page needs). Unlike
    /// [`sessions`](Self::sessions) it holds no list, so a handler that keeps
    /// a smaller row per session saves RAM in every worker. Not counted as
    /// a use.
    pub async fn visit_sessions(&self, mut visit: impl FnMut(SessionInfo)) {
        let inner = self.sessions.lock().await;
        let now = self.sessions.now();
        let Some((id, _)) = self.live(&inner, now) else {
            return;
        };
        let Some(owner) = inner.table.meta(&id, now).and_then(|m| m.owner.as_ref()) else {
            return;
        };
        inner
            .table
            .sessions_of(owner, Some(&id), now)
            .for_each(&mut visit);
    }

    /// Ends the owner's session whose display tag is `tag` (from
    /// [`sessions`](Self::sessions)). Only this session's owner's sessions
    /// can be ended: another user's tag, an expired session's, an unknown
    /// tag, or a request without a live owned session ends nothing and
    /// answers `Err(NotFound)`. Revoking the request's own session logs it
    /// out (removal cookie). Saved to flash at once.
    pub async fn revoke(&self, tag: &DisplayTag) -> Result<(), NotFound> {
        let mut inner = self.sessions.lock().await;
        let now = self.sessions.now();
        let (id, _) = self.live(&inner, now).ok_or(NotFound)?;
        let owner = inner
            .table
            .meta(&id, now)
            .and_then(|m| m.owner.clone())
            .ok_or(NotFound)?;
        let ended = inner.table.revoke(&owner, tag, now)?;
        drop(inner);
        if ended == id {
            self.id.set(None);
            self.note(CookieDecision::destroyed);
        }
        self.sessions.changed_urgently();
        Ok(())
    }

    /// Ends every session of this session's owner except this one ("sign
    /// out everywhere else"); answers how many live sessions ended (0
    /// without a live owned session). Saved to flash at once.
    pub async fn revoke_others(&self) -> usize {
        let mut inner = self.sessions.lock().await;
        let now = self.sessions.now();
        let Some((id, _)) = self.live(&inner, now) else {
            return 0;
        };
        let Some(owner) = inner.table.meta(&id, now).and_then(|m| m.owner.clone()) else {
            return 0;
        };
        let ended = inner.table.revoke_all(&owner, Some(&id), now);
        drop(inner);
        if ended > 0 {
            self.sessions.changed_urgently();
        }
        ended
    }

    /// The request's session id, or `NotFound` (noted for the headers).
    fn live_id(&self) -> Result<SessionId, NotFound> {
        self.note(CookieDecision::accessed);
        self.id.get().ok_or_else(|| {
            self.note(CookieDecision::missing);
            NotFound
        })
    }

    /// Notes a table operation's access on `id`, or a missing session.
    fn noted<T>(&self, id: SessionId, done: Result<(Access, T), NotFound>) -> Result<T, NotFound> {
        match done {
            Ok((access, out)) => {
                self.note_access(id, access);
                Ok(out)
            }
            Err(NotFound) => {
                self.note(CookieDecision::missing);
                Err(NotFound)
            }
        }
    }

    /// [`noted`](Self::noted) for a metadata change: a refused one
    /// (`NoRoom`) left the session as it was, so nothing is noted.
    fn noted_meta<T>(
        &self,
        id: SessionId,
        done: Result<(Access, T), MetaError>,
    ) -> Result<T, MetaError> {
        match done {
            Ok(done) => self.noted(id, Ok(done)).map_err(MetaError::from),
            Err(MetaError::NotFound) => self.noted(id, Err(NotFound)).map_err(MetaError::from),
            Err(MetaError::NoRoom) => {
                warn!(
                    "no room in the session table's metadata pool: owner, label or lifetime refused"
                );
                Err(MetaError::NoRoom)
            }
        }
    }

    /// Wraps the handler's response so that it carries the headers
    /// [`sesh::cookie::CookieDecision`] decides from what this request did
    /// with the session: the cookie change, if any, with `Cache-Control:
    /// no-store`, and `Vary: Cookie` whenever the session was touched (read,
    /// written, or found absent), with or without a cookie in the request. A
    /// handler that never touched the session gets no `Vary`, even when the
    /// request sent a cookie. Handlers should not add these headers
    /// themselves (picoserve appends).
    #[must_use = "return it from the handler: it carries the session's Set-Cookie"]
    pub async fn respond<T>(mut self, response: T) -> WithSession<T> {
        self.answered = true;
        let inner = self.sessions.lock().await;
        let now = self.sessions.now();
        // Checked here, so that every Set-Cookie of a browser session (at
        // login and at each later refresh) goes out without Max-Age.
        if let Some(id) = self.id.get()
            && inner
                .table
                .meta(&id, now)
                .is_some_and(|meta| !meta.lifetime.cookie_has_max_age())
        {
            self.note(CookieDecision::browser_session);
        }
        WithSession::new(
            response,
            self.decision.get().decide(now),
            self.sessions.cookie(),
            &inner.keys,
        )
    }
}

/// A handler that changed its session but answered without
/// [`Session::respond`] lost the `Set-Cookie`: the client never learns the
/// new id (the session is orphaned until it expires) or keeps a removed one.
/// The types make `respond` the only way to send session headers; this
/// catches the handler that sends none.
impl<M, D, R, const N: usize, const K: usize, C, const OWNED: usize> Drop
    for Session<M, D, R, N, K, C, OWNED>
where
    M: RawMutex + 'static,
    D: 'static,
    R: 'static,
    C: Clock + 'static,
{
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let lost = !matches!(
            self.decision.get().decide(self.sessions.now()).session(),
            SessionCookie::Keep
        ) || self.pre_cookie.get().is_some();
        if lost {
            warn!(
                "a handler changed its session but answered without Session::respond: no Set-Cookie was sent"
            );
        }
    }
}

/// What a table's refusal to create a session means to a handler.
fn session_error<D>(e: CreateError<D>) -> SessionError {
    match e {
        CreateError::Full(_) => SessionError::Full,
        CreateError::Rng(_) => SessionError::Rng,
        CreateError::Collision(_) => SessionError::Collision,
    }
}
