//! What the layer shares across requests, and what one request tracks.

use std::sync::{Arc, Mutex, MutexGuard};

use sesh::cookie::{CookieScan, ScanOutcome};
use sesh::expiry::Deadlines;
use sesh::presession::{PreCsrfToken, PreSession};
use sesh::record::SessionRecord;
use sesh::table::ID_ATTEMPTS;
use sesh::{Instant, SessionId};

use crate::clock::HostClock;
use crate::config::SessionConfig;
use crate::error::SessionError;
use crate::locks::Stripes;
use crate::random::{RandomSource, SourceRng};
use crate::store::{Created, Removed, Saved, SessionStore, StoredSession};

/// How often a writer retries a compare-and-swap another process won.
const SAVE_ATTEMPTS: usize = 64;

/// Shared by every request through one layer.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: SessionConfig,
    pub(crate) clock: HostClock,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) stripes: Stripes,
}

/// The session cookie a request presented, after verification.
#[derive(Clone, Copy)]
pub(crate) struct Presented {
    pub(crate) id: SessionId,
    pub(crate) needs_resign: bool,
}

/// Where this request's session stands.
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

/// What the response must do with the cookie.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieChange {
    Keep,
    Set { id: SessionId, expires_at: Instant },
    Remove,
}

struct Progress {
    current: Current,
    cookie: CookieChange,
    store_failed: Option<http::StatusCode>,
    accessed: bool,
    /// The pre-session cookie to send: a form token was made for it.
    pre_cookie: Option<PreSession>,
}

/// One request's session: created by the service, used by handlers, read
/// back when the response passes through.
pub(crate) struct RequestSession {
    pub(crate) shared: Arc<Shared>,
    presented: Option<Presented>,
    /// The pre-session cookie the request presented (exactly one value that parses).
    presented_pre: Option<PreSession>,
    cookie_sent: bool,
    progress: Mutex<Progress>,
}

/// What the response needs to know, read once the handler is done.
pub(crate) struct Outcome {
    pub(crate) cookie: CookieChange,
    /// The status the response must carry because the store failed.
    pub(crate) store_failed: Option<http::StatusCode>,
    pub(crate) accessed: bool,
    /// The pre-session cookie to (re)send, with the token's lifetime.
    pub(crate) pre_cookie: Option<PreSession>,
}

impl RequestSession {
    /// Reads the session cookie from the request's `Cookie` headers.
    /// Anything but exactly one value that verifies selects no session.
    pub(crate) fn from_headers(shared: Arc<Shared>, headers: &http::HeaderMap) -> Self {
        let mut scan = CookieScan::new(shared.config.cookie_name());
        for value in headers.get_all(http::header::COOKIE) {
            scan.feed(value.as_bytes());
        }
        let outcome = scan.outcome();
        let presented = match outcome {
            ScanOutcome::Found(value) => match shared.config.keys().verify(value) {
                Ok(v) => Some(Presented {
                    id: v.id(),
                    needs_resign: v.needs_resign(),
                }),
                Err(e) => {
                    tracing::debug!(reason = %e, "session cookie refused");
                    None
                }
            },
            ScanOutcome::Ambiguous => {
                tracing::debug!("several different session cookies: none selected");
                None
            }
            ScanOutcome::Malformed | ScanOutcome::Absent => None,
        };
        let cookie_sent = !matches!(outcome, ScanOutcome::Absent);
        let presented_pre = shared.config.pre_cookie_name().and_then(|name| {
            let mut scan = CookieScan::new(name.as_str());
            for value in headers.get_all(http::header::COOKIE) {
                scan.feed(value.as_bytes());
            }
            match scan.outcome() {
                ScanOutcome::Found(value) => PreSession::parse(value).ok(),
                _ => None,
            }
        });
        let progress = Progress {
            current: Current::Unloaded,
            cookie: CookieChange::Keep,
            store_failed: None,
            accessed: false,
            pre_cookie: None,
        };
        RequestSession {
            shared,
            presented,
            presented_pre,
            cookie_sent,
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
        let mut p = self.progress();
        p.current = current;
        p.accessed = true;
    }

    /// A form token bound to the pre-session cookie: the one presented, else
    /// a new one. Stores nothing; the response (re)sends the cookie, so it
    /// lives as long as the token (the idle timeout).
    pub(crate) fn pre_csrf_token(&self) -> Result<PreCsrfToken, SessionError> {
        let pre = {
            let mut p = self.progress();
            let pre = match self.presented_pre.or(p.pre_cookie) {
                Some(pre) => pre,
                None => PreSession::generate(&mut SourceRng(self.shared.random.as_ref()))
                    .map_err(|_| SessionError::Rng)?,
            };
            p.pre_cookie = Some(pre);
            p.accessed = true;
            pre
        };
        let expires_at = self
            .now()
            .saturating_add(self.shared.config.policy().idle_timeout());
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

    fn set_cookie(&self, change: CookieChange) {
        self.progress().cookie = change;
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
        let Some(presented) = self.presented else {
            self.set_current(Current::Absent);
            return Ok(None);
        };
        let now = self.now();
        let loaded = match self.shared.store.load(&presented.id, now).await {
            Ok(l) => l,
            Err(e) => return self.failed(e),
        };
        let Some(mut stored) = loaded.filter(|s| !s.record.deadlines.is_expired(now)) else {
            self.set_current(Current::Absent);
            return Ok(None);
        };
        let policy = self.shared.config.policy();
        stored.record.deadlines = policy.clamp(stored.record.deadlines, now);
        if policy.touch(&mut stored.record.deadlines, now) {
            match self
                .shared
                .store
                .save(&presented.id, &stored.record, stored.version, now)
                .await
            {
                Ok(Saved::Stored(version)) => {
                    stored.version = version;
                    let expires_at = stored.record.deadlines.expires_at();
                    self.set_cookie(CookieChange::Set {
                        id: presented.id,
                        expires_at,
                    });
                }
                // Another request refreshed or changed it first; its answer carries the cookie.
                Ok(Saved::Conflict) => {}
                Ok(Saved::Missing) => {
                    self.set_current(Current::Absent);
                    return Ok(None);
                }
                Err(e) => return self.failed(e),
            }
        }
        self.set_current(Current::Live {
            id: presented.id,
            stored: stored.clone(),
        });
        Ok(Some((presented.id, stored)))
    }

    /// The id a write should start from: the live one, else the presented one.
    fn write_target(&self) -> Option<SessionId> {
        match &self.progress().current {
            Current::Live { id, .. } => Some(*id),
            Current::Absent => None,
            Current::Unloaded => self.presented.map(|p| p.id),
        }
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
        if let Some(id) = self.write_target() {
            // Turns also order an update against regenerate and destroy.
            let _turn = self.shared.stripes.lock(&id).await;
            match self.modify_in_place(id, &mut change) {
                InPlace::Done(done) => return done,
                InPlace::Absent => return self.create(change).await,
                InPlace::Unsupported => {}
            }
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
                let policy = self.shared.config.policy();
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
                        let expires_at = record.deadlines.expires_at();
                        self.set_current(Current::Live {
                            id,
                            stored: StoredSession { record, version },
                        });
                        if refreshed {
                            self.set_cookie(CookieChange::Set { id, expires_at });
                        }
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
        let policy = self.shared.config.policy();
        let mut refreshed = false;
        let mut answer = None;
        let mut edit = |deadlines: &mut Deadlines, protected: &mut bool, data: &[u8]| {
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
                let expires_at = stored.record.deadlines.expires_at();
                self.set_current(Current::Live { id, stored });
                if refreshed {
                    self.set_cookie(CookieChange::Set { id, expires_at });
                }
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
        let (id, version) = self.insert_fresh(&record, now).await?;
        let expires_at = record.deadlines.expires_at();
        self.set_current(Current::Live {
            id,
            stored: StoredSession { record, version },
        });
        self.set_cookie(CookieChange::Set { id, expires_at });
        Ok(out)
    }

    /// Stores `record` under a fresh id; a taken id is never overwritten.
    async fn insert_fresh(
        &self,
        record: &SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> Result<(SessionId, u64), SessionError> {
        for _ in 0..ID_ATTEMPTS {
            let id =
                SessionId::generate(&mut SourceRng(self.shared.random.as_ref())).map_err(|_| {
                    tracing::error!("random number generator failed: no session created");
                    SessionError::Rng
                })?;
            match self.shared.store.create(&id, record, now).await {
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
        let Some((old, _)) = self.current().await? else {
            return Ok(());
        };
        let _turn = self.shared.stripes.lock(&old).await;
        for _ in 0..SAVE_ATTEMPTS {
            let now = self.now();
            let loaded = match self.shared.store.load(&old, now).await {
                Ok(l) => l,
                Err(e) => return self.failed(e),
            };
            let Some(stored) = loaded.filter(|s| !s.record.deadlines.is_expired(now)) else {
                self.set_current(Current::Absent);
                return Ok(());
            };
            let record = SessionRecord {
                deadlines: self.shared.config.policy().start(now),
                ..stored.record
            };
            let (new, version) = self.insert_fresh(&record, now).await?;
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
                    let expires_at = record.deadlines.expires_at();
                    self.set_current(Current::Live {
                        id: new,
                        stored: StoredSession { record, version },
                    });
                    self.set_cookie(CookieChange::Set {
                        id: new,
                        expires_at,
                    });
                    return Ok(());
                }
                Ok(Removed::Conflict) => continue,
                // Destroyed meanwhile (another server logged it out).
                Ok(Removed::Missing) => {
                    self.set_current(Current::Absent);
                    return Ok(());
                }
                Err(e) => return self.failed(e),
            }
        }
        Err(SessionError::Contended)
    }

    /// Deletes the session and removes the cookie.
    pub(crate) async fn destroy(&self) -> Result<(), SessionError> {
        let target = self.write_target();
        if let Some(id) = target {
            let _turn = self.shared.stripes.lock(&id).await;
            if let Err(e) = self.shared.store.delete(&id).await {
                return self.failed(e);
            }
        }
        self.set_current(Current::Absent);
        let had_cookie =
            self.cookie_sent || matches!(self.progress().cookie, CookieChange::Set { .. });
        self.set_cookie(if had_cookie {
            CookieChange::Remove
        } else {
            CookieChange::Keep
        });
        Ok(())
    }

    /// Read once the inner service has answered.
    pub(crate) fn outcome(&self) -> Outcome {
        let p = self.progress();
        let mut cookie = p.cookie;
        // A cookie signed by a retired key comes back signed by the current one.
        if let (CookieChange::Keep, Current::Live { id, stored }, Some(presented)) =
            (cookie, &p.current, self.presented)
            && presented.needs_resign
            && presented.id == *id
        {
            cookie = CookieChange::Set {
                id: *id,
                expires_at: stored.record.deadlines.expires_at(),
            };
        }
        Outcome {
            cookie,
            store_failed: p.store_failed,
            accessed: p.accessed,
            pre_cookie: p.pre_cookie,
        }
    }
}
