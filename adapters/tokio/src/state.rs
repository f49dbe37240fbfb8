//! What the layer shares across requests, and what one request tracks.

use std::sync::{Arc, Mutex, MutexGuard};

use sesh::cookie::{CookieDecision, CookieHeaders, CookieScan, RequestCookie, ScanOutcome};
use sesh::expiry::{Deadlines, ExpiryPolicy, Lifetime};
use sesh::owner::{DisplayTag, SessionInfo, SessionMeta, SignIn};
use sesh::presession::{PreCookieName, PreCsrfToken, PreSession};
use sesh::record::SessionRecord;
use sesh::table::ID_ATTEMPTS;
use sesh::{Instant, SessionId};

use crate::clock::HostClock;
use crate::config::SessionConfig;
use crate::error::SessionError;
use crate::locks::Stripes;
use crate::random::{RandomSource, SourceRng};
use crate::store::{Created, Removed, Revoked, Saved, SessionStore, StoredSession};

/// How often a writer retries a compare-and-swap another process won.
const SAVE_ATTEMPTS: usize = 64;

/// Shared by every request through one layer.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) clock: HostClock,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) stripes: Stripes,
    /// The pre-session cookie's name, made once from the config's.
    pub(crate) pre_cookie_name: Option<PreCookieName>,
}

/// Where this request's session stands.
// One per request: its size (a session's metadata) costs nothing, a box an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Current {
    /// Not looked at yet (lazy: the store is untouched so far).
    Unloaded,
    /// No session: none presented, unknown, expired or destroyed.
    Absent,
    /// A live session.
    Live {
        id: SessionId,
        stored: StoredSession,
    },
}

/// How [`RequestSession::modify_in_place`] went.
enum InPlace<R> {
    /// The store edits through load and save instead.
    Unsupported,
    /// No live session: the caller creates one.
    Absent,
    /// Edited (or failed).
    Done(Result<R, SessionError>),
}

struct Progress {
    current: Current,
    /// What happened to the session: decides the response's headers.
    decision: CookieDecision,
    store_failed: Option<http::StatusCode>,
    /// The pre-session this request's form tokens are bound to.
    pre_cookie: Option<PreSession>,
}

/// One request's session: created by the service, used by handlers, read
/// back when the response passes through.
pub(crate) struct RequestSession {
    pub(crate) shared: Arc<Shared>,
    /// The session id of the request's cookie, once verified.
    presented: Option<SessionId>,
    /// The pre-session cookie the request presented (exactly one value that parses).
    presented_pre: Option<PreSession>,
    progress: Mutex<Progress>,
}

/// What the response needs to know, read once the handler is done.
pub(crate) struct Outcome {
    /// The cookie and cache headers, as the core decided them.
    pub(crate) headers: CookieHeaders,
    /// The status the response must carry because the store failed.
    pub(crate) store_failed: Option<http::StatusCode>,
}

impl RequestSession {
    /// Reads the session cookie from the request's `Cookie` headers.
    /// Anything but exactly one value that verifies selects no session.
    pub(crate) fn from_headers(shared: Arc<Shared>, headers: &http::HeaderMap) -> Self {
        let mut scan = CookieScan::new(shared.config.cookie_name());
        // Both cookies in one pass; without a pre-session name (never, once
        // validated) the second scan looks for a name no pair has.
        let mut pre_scan =
            CookieScan::new(shared.pre_cookie_name.as_ref().map_or("", |n| n.as_str()));
        for value in headers.get_all(http::header::COOKIE) {
            scan.feed_with(&mut pre_scan, value.as_bytes());
        }
        let outcome = scan.outcome();
        let (presented, request) = match outcome {
            ScanOutcome::Found(value) => match shared.config.keys().verify(value) {
                Ok(v) if v.needs_resign() => (Some(v.id()), RequestCookie::RetiredKey),
                Ok(v) => (Some(v.id()), RequestCookie::Current),
                Err(e) => {
                    tracing::debug!(reason = %e, "session cookie refused");
                    (None, RequestCookie::Refused)
                }
            },
            ScanOutcome::Ambiguous => {
                tracing::debug!("several different session cookies: none selected");
                (None, RequestCookie::Refused)
            }
            ScanOutcome::Malformed => (None, RequestCookie::Refused),
            ScanOutcome::Absent => (None, RequestCookie::Absent),
        };
        let presented_pre = match pre_scan.outcome() {
            ScanOutcome::Found(value) if shared.pre_cookie_name.is_some() => {
                PreSession::parse(value).ok()
            }
            _ => None,
        };
        let progress = Progress {
            current: Current::Unloaded,
            decision: CookieDecision::new(request),
            store_failed: None,
            pre_cookie: None,
        };
        RequestSession {
            shared,
            presented,
            presented_pre,
            progress: Mutex::new(progress),
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // Never held across an await, and no code panics while holding it.
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Records a store failure so the response becomes an error even if the
    /// handler ignores it.
    fn failed<T>(&self, e: crate::store::StoreError) -> Result<T, SessionError> {
        tracing::error!(error = %e, "session store error");
        let status = match e {
            crate::store::StoreError::Full => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        self.progress().store_failed = Some(status);
        Err(SessionError::Store(e))
    }

    fn set_current(&self, current: Current) {
        self.progress().current = current;
    }

    /// Records an event for the response's headers.
    fn note(&self, event: impl FnOnce(&mut CookieDecision)) {
        event(&mut self.progress().decision);
    }

    /// Where the session stands now, and the event that says so.
    fn set_live(&self, id: SessionId, stored: StoredSession, refreshed: bool) {
        let expires_at = stored.record.deadlines.expires_at();
        let lifetime = stored.meta.lifetime;
        let mut p = self.progress();
        p.current = Current::Live { id, stored };
        if refreshed {
            p.decision.refreshed(id, expires_at);
        } else {
            p.decision.used(id, expires_at);
        }
        note_lifetime(&mut p.decision, lifetime);
    }

    /// The policy the session's deadlines follow: its own lifetime's.
    fn policy_for(&self, lifetime: Lifetime) -> ExpiryPolicy {
        self.shared.config.policy().for_lifetime(lifetime)
    }

    fn set_absent(&self) {
        let mut p = self.progress();
        p.current = Current::Absent;
        p.decision.missing();
    }

    /// A form token bound to the pre-session cookie: the one presented, else
    /// a new one. Stores nothing; the response (re)sends the cookie, so it
    /// lives as long as the token (the idle timeout).
    pub(crate) fn pre_csrf_token(&self) -> Result<PreCsrfToken, SessionError> {
        let expires_at = self
            .now()
            .saturating_add(self.shared.config.policy().idle_timeout());
        let pre = {
            let mut p = self.progress();
            p.decision.accessed();
            let pre = match self.presented_pre.or(p.pre_cookie) {
                Some(pre) => pre,
                None => PreSession::generate(&mut SourceRng(self.shared.random.as_ref()))
                    .map_err(|_| SessionError::Rng)?,
            };
            p.pre_cookie = Some(pre);
            p.decision.pre_session_issued(pre, expires_at);
            pre
        };
        Ok(self.shared.config.keys().pre_csrf_token(&pre, expires_at))
    }

    /// Checks a form token against the live session (`id`) or the
    /// pre-session cookie presented.
    pub(crate) fn verify_form_token(&self, id: Option<SessionId>, token: &str) -> bool {
        self.shared.config.keys().verify_form_token(
            id.as_ref(),
            self.presented_pre.as_ref(),
            token,
            self.now(),
        )
    }

    /// The live session, loading it on first use and applying the throttled
    /// refresh (saved, and a new cookie sent) when it is due.
    pub(crate) async fn current(&self) -> Result<Option<(SessionId, StoredSession)>, SessionError> {
        let current = self.progress().current.clone();
        match current {
            Current::Live { id, stored } => return Ok(Some((id, stored))),
            Current::Absent => return Ok(None),
            Current::Unloaded => {}
        }
        self.note(CookieDecision::accessed);
        let Some(presented) = self.presented else {
            self.set_absent();
            return Ok(None);
        };
        let now = self.now();
        let loaded = match self.shared.store.load(&presented, now).await {
            Ok(l) => l,
            Err(e) => return self.failed(e),
        };
        let Some(mut stored) = loaded.filter(|s| !s.record.deadlines.is_expired(now)) else {
            self.set_absent();
            return Ok(None);
        };
        let policy = self.policy_for(stored.meta.lifetime);
        stored.record.deadlines = policy.clamp(stored.record.deadlines, now);
        let mut refreshed = false;
        if policy.touch(&mut stored.record.deadlines, now) {
            match self
                .shared
                .store
                .save(&presented, &stored.record, stored.version, now)
                .await
            {
                Ok(Saved::Stored(version)) => {
                    stored.version = version;
                    stored.meta.last_seen = now;
                    refreshed = true;
                }
                // Another request refreshed or changed it first; its answer carries the cookie.
                Ok(Saved::Conflict) => {}
                Ok(Saved::Missing) => {
                    self.set_absent();
                    return Ok(None);
                }
                Err(e) => return self.failed(e),
            }
        }
        self.set_live(presented, stored.clone(), refreshed);
        Ok(Some((presented, stored)))
    }

    /// The id a write should start from: the live one, else the presented one.
    fn write_target(&self) -> Option<SessionId> {
        write_target(&self.progress().current, self.presented)
    }

    /// One atomic read-modify-write of the session's data and flag.
    ///
    /// `change` gets the stored data (`None` for a new session) and the
    /// protected flag, and returns the new data. With a live session it runs
    /// under this process's lock for the session and is saved with
    /// compare-and-swap, re-run on conflict; without one, a session is
    /// created under a fresh id.
    pub(crate) async fn modify<R>(
        &self,
        mut change: impl FnMut(Option<&[u8]>, &mut bool) -> Result<(Vec<u8>, R), SessionError>,
    ) -> Result<R, SessionError> {
        let target = {
            let mut p = self.progress();
            // The answer depends on the session even if the write fails.
            p.decision.accessed();
            write_target(&p.current, self.presented)
        };
        if let Some(id) = target {
            // A store that edits in place runs the whole read-modify-write
            // under its own lock, so it needs no turn: a regenerate or a
            // metadata change it overtakes sees a new version and starts
            // again, and a destroy either removes the edit or comes first.
            match self.modify_in_place(id, &mut change) {
                InPlace::Done(done) => return done,
                InPlace::Absent => return self.create(change).await,
                InPlace::Unsupported => {}
            }
            // Turns also order an update against regenerate and destroy. A
            // free one is taken without polling a wait (the common case).
            let _turn = match self.shared.stripes.try_lock(&id) {
                Some(turn) => turn,
                None => self.shared.stripes.lock(&id).await,
            };
            let mut attempts = 0usize;
            loop {
                attempts = attempts.saturating_add(1);
                if attempts > SAVE_ATTEMPTS {
                    return Err(SessionError::Contended);
                }
                let now = self.now();
                // The first try may use the store's last-seen copy; a retry
                // after a conflict always reads the store.
                let load = if attempts == 1 {
                    self.shared.store.load_for_update(&id, now).await
                } else {
                    self.shared.store.load(&id, now).await
                };
                let loaded = match load {
                    Ok(l) => l,
                    Err(e) => return self.failed(e),
                };
                let Some(stored) = loaded.filter(|s| !s.record.deadlines.is_expired(now)) else {
                    break;
                };
                let mut record = stored.record;
                let policy = self.policy_for(stored.meta.lifetime);
                record.deadlines = policy.clamp(record.deadlines, now);
                let refreshed = policy.touch(&mut record.deadlines, now);
                let (data, out) = change(Some(&record.data), &mut record.protected)?;
                record.data = self.check_size(data)?;
                match self
                    .shared
                    .store
                    .save(&id, &record, stored.version, now)
                    .await
                {
                    Ok(Saved::Stored(version)) => {
                        let meta = SessionMeta {
                            last_seen: now,
                            ..stored.meta
                        };
                        self.set_live(
                            id,
                            StoredSession {
                                record,
                                version,
                                meta,
                            },
                            refreshed,
                        );
                        return Ok(out);
                    }
                    Ok(Saved::Conflict) => continue,
                    Ok(Saved::Missing) => break,
                    Err(e) => return self.failed(e),
                }
            }
        }
        self.create(change).await
    }

    /// [`modify`](Self::modify) as one step of a store that edits in place
    /// ([`SessionStore::edit_in_place`](crate::SessionStore::edit_in_place)).
    fn modify_in_place<R>(
        &self,
        id: SessionId,
        change: &mut impl FnMut(Option<&[u8]>, &mut bool) -> Result<(Vec<u8>, R), SessionError>,
    ) -> InPlace<R> {
        let now = self.now();
        let mut refreshed = false;
        let mut answer = None;
        let mut edit =
            |deadlines: &mut Deadlines, protected: &mut bool, data: &[u8], lifetime: Lifetime| {
                let policy = self.policy_for(lifetime);
                *deadlines = policy.clamp(*deadlines, now);
                refreshed = policy.touch(deadlines, now);
                let changed = change(Some(data), protected)
                    .and_then(|(data, out)| Ok((self.check_size(data)?, out)));
                match changed {
                    Ok((data, out)) => {
                        answer = Some(Ok(out));
                        Some(data)
                    }
                    Err(e) => {
                        answer = Some(Err(e));
                        None
                    }
                }
            };
        let Some(edited) = self.shared.store.edit_in_place(&id, now, &mut edit) else {
            return InPlace::Unsupported;
        };
        match (edited, answer) {
            (Err(e), _) => InPlace::Done(self.failed(e)),
            (Ok(_), Some(Err(e))) => InPlace::Done(Err(e)),
            (Ok(Some(stored)), Some(Ok(out))) => {
                self.set_live(id, stored, refreshed);
                InPlace::Done(Ok(out))
            }
            // The edit never ran: no live session.
            (Ok(_), _) => InPlace::Absent,
        }
    }

    async fn create<R>(
        &self,
        mut change: impl FnMut(Option<&[u8]>, &mut bool) -> Result<(Vec<u8>, R), SessionError>,
    ) -> Result<R, SessionError> {
        let now = self.now();
        let mut protected = false;
        let (data, out) = change(None, &mut protected)?;
        let record = SessionRecord {
            deadlines: self.shared.config.policy().start(now),
            protected,
            data: self.check_size(data)?,
        };
        let meta = SessionMeta::new(now);
        let (id, version) = self.insert_fresh(&record, &meta, now).await?;
        let expires_at = record.deadlines.expires_at();
        self.set_current(Current::Live {
            id,
            stored: StoredSession {
                record,
                version,
                meta,
            },
        });
        self.note(|d| d.created(id, expires_at));
        Ok(out)
    }

    /// Stores `record` with `meta` under a fresh id; a taken id is never
    /// overwritten. With `meta` a regenerated session keeps its owner.
    async fn insert_fresh(
        &self,
        record: &SessionRecord<Vec<u8>>,
        meta: &SessionMeta,
        now: Instant,
    ) -> Result<(SessionId, u64), SessionError> {
        for _ in 0..ID_ATTEMPTS {
            let id =
                SessionId::generate(&mut SourceRng(self.shared.random.as_ref())).map_err(|_| {
                    tracing::error!("random number generator failed: no session created");
                    SessionError::Rng
                })?;
            match self
                .shared
                .store
                .create_with_meta(&id, record, meta, now)
                .await
            {
                Ok(Created::Stored(version)) => return Ok((id, version)),
                Ok(Created::IdTaken) => {
                    tracing::warn!("a fresh session id was already taken: is the RNG broken?")
                }
                Err(e) => return self.failed(e),
            }
        }
        Err(SessionError::Collision)
    }

    fn check_size(&self, data: Vec<u8>) -> Result<Vec<u8>, SessionError> {
        let limit = self.shared.config.max_data_len;
        if data.len() > limit {
            return Err(SessionError::TooLarge {
                len: data.len(),
                limit,
            });
        }
        Ok(data)
    }

    /// Moves the live session to a fresh id, keeping its data; no-op without one.
    ///
    /// The old id goes with a compare-and-delete on the version that was
    /// copied: if another server saved the session in between, the copy is
    /// dropped and the move starts again from a fresh load, so that update
    /// is never lost with the old id.
    pub(crate) async fn regenerate(&self) -> Result<(), SessionError> {
        let Some((old, copy)) = self.current().await? else {
            return Ok(());
        };
        let mut copy = Some(copy);
        let _turn = self.shared.stripes.lock(&old).await;
        for _ in 0..SAVE_ATTEMPTS {
            let now = self.now();
            let Some(stored) = self.to_move(&old, &mut copy, now).await? else {
                self.set_absent();
                return Ok(());
            };
            let record = SessionRecord {
                deadlines: self.policy_for(stored.meta.lifetime).start(now),
                ..stored.record
            };
            let meta = SessionMeta {
                last_seen: now,
                ..stored.meta
            };
            let (new, version) = self.insert_fresh(&record, &meta, now).await?;
            // The new session exists from here on; unless the old one goes,
            // it is removed again and the new id is never sent.
            let removed = self
                .shared
                .store
                .delete_version(&old, stored.version, now)
                .await;
            if !matches!(removed, Ok(Removed::Deleted))
                && let Err(undo) = self.shared.store.delete(&new).await
            {
                tracing::error!(error = %undo, "could not remove the new session after a failed regenerate");
            }
            match removed {
                Ok(Removed::Deleted) => {
                    self.moved_to(new, record, version, meta);
                    return Ok(());
                }
                Ok(Removed::Conflict) => continue,
                // Destroyed meanwhile (another server logged it out).
                Ok(Removed::Missing) => {
                    self.set_absent();
                    return Ok(());
                }
                Err(e) => return self.failed(e),
            }
        }
        Err(SessionError::Contended)
    }

    /// Signs in: a new session under a fresh id holding what `data` makes
    /// of the request's session's data (if any), protected and with
    /// `sign_in`'s owner, label and lifetime, stored in one step
    /// ([`SessionStore::create_with_meta`], which applies the per-user cap);
    /// then the old session goes with a compare-and-delete on the version
    /// `data` read. If another server saved the old session in between, the
    /// new one is deleted and the sign-in starts again from a fresh load
    /// (`data` runs again), so that update is carried over, never lost; if
    /// the delete fails, the new session is deleted again and never sent:
    /// the visitor stays as they were.
    pub(crate) async fn sign_in(
        &self,
        sign_in: &SignIn,
        mut data: impl FnMut(Option<&[u8]>) -> Result<Vec<u8>, SessionError>,
    ) -> Result<(), SessionError> {
        self.note(CookieDecision::accessed);
        let (old, mut copy) = match self.current().await? {
            Some((id, stored)) => (Some(id), Some(stored)),
            None => (None, None),
        };
        // Ordered against this process's updates, regenerates and destroys
        // of the old session.
        let _turn = match &old {
            Some(old) => Some(self.shared.stripes.lock(old).await),
            None => None,
        };
        for _ in 0..SAVE_ATTEMPTS {
            let now = self.now();
            let loaded = match &old {
                Some(old) => self.to_move(old, &mut copy, now).await?,
                None => None,
            };
            let record = SessionRecord {
                deadlines: self.policy_for(sign_in.lifetime).start(now),
                protected: true,
                data: self.check_size(data(loaded.as_ref().map(|s| &s.record.data[..]))?)?,
            };
            let meta = sign_in.meta(now);
            let (id, version) = self.insert_fresh(&record, &meta, now).await?;
            let removed = match (&old, &loaded) {
                (Some(old), Some(loaded)) => {
                    self.shared
                        .store
                        .delete_version(old, loaded.version, now)
                        .await
                }
                // No session before, or it ended meanwhile: nothing to remove.
                _ => Ok(Removed::Missing),
            };
            if !matches!(removed, Ok(Removed::Deleted | Removed::Missing))
                && let Err(undo) = self.shared.store.delete(&id).await
            {
                tracing::error!(error = %undo, "could not remove the new session after a failed sign-in");
            }
            match removed {
                Ok(Removed::Deleted | Removed::Missing) => {
                    self.moved_to(id, record, version, meta);
                    return Ok(());
                }
                Ok(Removed::Conflict) => continue,
                Err(e) => return self.failed(e),
            }
        }
        Err(SessionError::Contended)
    }

    /// The session `id` a move (regenerate, sign-in) starts from: the
    /// request's own `copy` on the first attempt, a fresh load after that
    /// (the compare-and-delete on the version catches a stale copy, and the
    /// move starts again). Expired reads as gone.
    async fn to_move(
        &self,
        id: &SessionId,
        copy: &mut Option<StoredSession>,
        now: Instant,
    ) -> Result<Option<StoredSession>, SessionError> {
        let stored = match copy.take() {
            Some(copy) => Some(copy),
            None => match self.shared.store.load(id, now).await {
                Ok(loaded) => loaded,
                Err(e) => return self.failed(e),
            },
        };
        Ok(stored.filter(|s| !s.record.deadlines.is_expired(now)))
    }

    /// The request's session is now `stored` under the fresh id `id`
    /// (regenerated or signed in): its cookie goes out.
    fn moved_to(
        &self,
        id: SessionId,
        record: SessionRecord<Vec<u8>>,
        version: u64,
        meta: SessionMeta,
    ) {
        let expires_at = record.deadlines.expires_at();
        let lifetime = meta.lifetime;
        self.set_current(Current::Live {
            id,
            stored: StoredSession {
                record,
                version,
                meta,
            },
        });
        self.note(|d| {
            d.regenerated(id, expires_at);
            note_lifetime(d, lifetime);
        });
    }

    /// Changes the live session's metadata (owner, label, lifetime) with
    /// `change`, saved with the record in one compare-and-swap step
    /// ([`SessionStore::save_with_meta`]). Without a live session one is
    /// created first, holding `fresh()`. A new lifetime restarts the
    /// deadlines from now by that lifetime, and sends the cookie again.
    pub(crate) async fn change_meta(
        &self,
        change: impl Fn(&mut SessionMeta),
        fresh: impl Fn() -> Result<Vec<u8>, SessionError>,
    ) -> Result<(), SessionError> {
        self.note(CookieDecision::accessed);
        for _ in 0..SAVE_ATTEMPTS {
            let Some((id, _)) = self.current().await? else {
                self.create(|_, _| Ok((fresh()?, ()))).await?;
                continue;
            };
            let _turn = self.shared.stripes.lock(&id).await;
            let now = self.now();
            let loaded = match self.shared.store.load(&id, now).await {
                Ok(l) => l,
                Err(e) => return self.failed(e),
            };
            let Some(stored) = loaded.filter(|s| !s.record.deadlines.is_expired(now)) else {
                self.set_absent();
                continue;
            };
            let mut meta = stored.meta.clone();
            change(&mut meta);
            let mut record = stored.record;
            let policy = self.policy_for(meta.lifetime);
            let restart = meta.lifetime != stored.meta.lifetime;
            let refreshed = if restart {
                record.deadlines = policy.start(now);
                true
            } else {
                record.deadlines = policy.clamp(record.deadlines, now);
                policy.touch(&mut record.deadlines, now)
            };
            match self
                .shared
                .store
                .save_with_meta(&id, &record, Some(&meta), stored.version, now)
                .await
            {
                Ok(Saved::Stored(version)) => {
                    meta.last_seen = now;
                    self.set_live(
                        id,
                        StoredSession {
                            record,
                            version,
                            meta,
                        },
                        refreshed,
                    );
                    return Ok(());
                }
                Ok(Saved::Conflict) => {}
                // Ended meanwhile: the next turn starts a new session.
                Ok(Saved::Missing) => self.set_absent(),
                Err(e) => return self.failed(e),
            }
        }
        Err(SessionError::Contended)
    }

    /// The live session's id and owner, if it has one.
    async fn owned(&self) -> Result<Option<(SessionId, sesh::owner::UserId)>, SessionError> {
        Ok(self
            .current()
            .await?
            .and_then(|(id, stored)| Some((id, stored.meta.owner?))))
    }

    /// The owner's live sessions, the current one marked; none without an owner.
    pub(crate) async fn sessions(&self) -> Result<Vec<SessionInfo>, SessionError> {
        let Some((id, owner)) = self.owned().await? else {
            return Ok(Vec::new());
        };
        match self
            .shared
            .store
            .sessions_of(&owner, Some(&id), self.now())
            .await
        {
            Ok(list) => Ok(list),
            Err(e) => self.failed(e),
        }
    }

    /// Ends the owner's session `tag`; another user's or an unknown tag is
    /// not found. Ending the current one removes its cookie too.
    pub(crate) async fn revoke(&self, tag: &DisplayTag) -> Result<Revoked, SessionError> {
        let Some((id, owner)) = self.owned().await? else {
            return Ok(Revoked::NotFound);
        };
        let revoked = match self.shared.store.revoke(&owner, tag, self.now()).await {
            Ok(r) => r,
            Err(e) => return self.failed(e),
        };
        if revoked == Revoked::Ended && DisplayTag::of(&id) == *tag {
            let mut p = self.progress();
            p.current = Current::Absent;
            p.decision.destroyed();
        }
        Ok(revoked)
    }

    /// Ends every other session of the owner; how many ended.
    pub(crate) async fn revoke_others(&self) -> Result<usize, SessionError> {
        let Some((id, owner)) = self.owned().await? else {
            return Ok(0);
        };
        match self
            .shared
            .store
            .revoke_all(&owner, Some(&id), self.now())
            .await
        {
            Ok(n) => Ok(n),
            Err(e) => self.failed(e),
        }
    }

    /// Deletes the session and removes the cookie.
    pub(crate) async fn destroy(&self) -> Result<(), SessionError> {
        self.note(CookieDecision::accessed);
        let target = self.write_target();
        if let Some(id) = target {
            let _turn = self.shared.stripes.lock(&id).await;
            if let Err(e) = self.shared.store.delete(&id).await {
                return self.failed(e);
            }
        }
        let mut p = self.progress();
        p.current = Current::Absent;
        p.decision.destroyed();
        Ok(())
    }

    /// Read once the inner service has answered.
    pub(crate) fn outcome(&self) -> Outcome {
        let p = self.progress();
        Outcome {
            // The clock only for a cookie's lifetime: most answers send none.
            headers: p.decision.decide_with(|| self.now()),
            store_failed: p.store_failed,
        }
    }
}

/// The id a write should start from: the live one, else the presented one.
fn write_target(current: &Current, presented: Option<SessionId>) -> Option<SessionId> {
    match current {
        Current::Live { id, .. } => Some(*id),
        Current::Absent => None,
        Current::Unloaded => presented,
    }
}

/// A browser session's cookie goes out without `Max-Age`.
fn note_lifetime(decision: &mut CookieDecision, lifetime: Lifetime) {
    if !lifetime.cookie_has_max_age() {
        decision.browser_session();
    }
}
