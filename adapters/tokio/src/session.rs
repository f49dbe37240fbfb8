//! The handler's view: a typed session.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sesh::Instant;
use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SessionInfo, SignIn, UserId};
use sesh::presession::FormToken;

use crate::error::SessionError;
use crate::state::RequestSession;
use crate::store::Revoked;

/// The request's session, with data of type `D`.
///
/// Nothing touches the store until a method is called (lazy), and a session
/// is stored only once data is written. The cookie is sent only when
/// something changed: a new session, a new id, a refreshed deadline, a
/// re-signature after key rotation, or a removal.
///
/// With feature `axum` (default) it is an extractor:
///
/// ```
/// use axum::{routing::get, Router};
/// use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionLayer};
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Visits { count: u64 }
///
/// async fn count(session: Session<Visits>) -> Result<String, sesh_tokio::SessionError> {
///     let n = session.update(|v| { v.count += 1; v.count }).await?;
///     Ok(format!("{n}"))
/// }
///
/// let config = SessionConfig::new(&[7; 32]).unwrap();
/// let app: Router = Router::new().route("/", get(count))
///     .layer(SessionLayer::new(MemoryStore::default(), config).unwrap());
/// ```
pub struct Session<D> {
    inner: Arc<RequestSession>,
    _data: PhantomData<fn() -> D>,
}

impl<D> Clone for Session<D> {
    fn clone(&self) -> Self {
        Session {
            inner: self.inner.clone(),
            _data: PhantomData,
        }
    }
}

impl<D> std::fmt::Debug for Session<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(..)")
    }
}

/// The request extension the layer inserts; [`Session`] is built from it.
#[derive(Clone)]
pub struct SessionHandle(pub(crate) Arc<RequestSession>);

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionHandle(..)")
    }
}

fn encode<D: Serialize>(data: &D) -> Result<Vec<u8>, SessionError> {
    postcard::to_allocvec(data).map_err(SessionError::Encode)
}

/// Decodes stored data; bytes that do not decode as `D` (a changed type) are
/// logged and read as absent, never as another user's data.
fn decode<D: DeserializeOwned>(bytes: &[u8]) -> Option<D> {
    match postcard::from_bytes(bytes) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "stored session data does not decode: treated as absent");
            None
        }
    }
}

/// A new session's data, when a metadata change starts one.
fn default_bytes<D: Serialize + Default>() -> Result<Vec<u8>, SessionError> {
    encode(&D::default())
}

impl<D: Serialize + DeserializeOwned + Default> Session<D> {
    /// The session of a request that passed through a
    /// [`SessionLayer`](crate::SessionLayer), for plain tower services.
    pub fn from_extensions(extensions: &http::Extensions) -> Result<Self, SessionError> {
        let handle = extensions
            .get::<SessionHandle>()
            .ok_or(SessionError::MissingLayer)?;
        Ok(Session {
            inner: handle.0.clone(),
            _data: PhantomData,
        })
    }

    /// The data, or `None` when there is no live session.
    pub async fn get(&self) -> Result<Option<D>, SessionError> {
        Ok(self
            .inner
            .current()
            .await?
            .and_then(|(_, stored)| decode(&stored.record.data)))
    }

    /// The data, or `D::default()` when there is no live session. Stores nothing.
    pub async fn get_or_default(&self) -> Result<D, SessionError> {
        Ok(self.get().await?.unwrap_or_default())
    }

    /// Changes the data in one atomic read-modify-write and returns what the
    /// closure returns. Starts a session (from `D::default()`) if there is none.
    ///
    /// Two requests on one session never lose each other's update: writers in
    /// this process take turns, and the store's compare-and-swap re-runs the
    /// closure on fresh data when another process won. So the closure may run
    /// more than once: keep side effects out of it. Keep it short too: on an
    /// in-process store ([`MemoryStore`](crate::MemoryStore)) it runs under
    /// the lock of the store's shard, so other sessions of that shard wait
    /// for it; do slow work before or after.
    pub async fn update<R>(&self, mut change: impl FnMut(&mut D) -> R) -> Result<R, SessionError> {
        self.inner
            .modify(|bytes, _| {
                let mut data: D = bytes.and_then(decode).unwrap_or_default();
                let out = change(&mut data);
                Ok((encode(&data)?, out))
            })
            .await
    }

    /// Replaces the data. Starts a session if there is none.
    pub async fn replace(&self, data: D) -> Result<(), SessionError> {
        let bytes = encode(&data)?;
        self.inner.modify(|_, _| Ok((bytes.clone(), ()))).await
    }

    /// Moves the session to a new id, keeping its data, and restarts its
    /// lifetime. Call it at login: an id planted before login is then useless.
    /// Without a live session it does nothing (the next write gets a fresh id anyway).
    ///
    /// An update that another server saves to the old id while the session
    /// moves is kept: the old id is removed only if it still holds the
    /// version that was copied ([`SessionStore::delete_version`](crate::SessionStore::delete_version)),
    /// else the move starts again from the new version.
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        self.inner.regenerate().await
    }

    /// Deletes the session and sends a removal cookie.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        self.inner.destroy().await
    }

    /// Marks the session logged in (or not). Protected sessions are never
    /// evicted to make room for anonymous ones. Starts a session if there is none.
    pub async fn set_protected(&self, protected: bool) -> Result<(), SessionError> {
        self.inner
            .modify(|bytes, flag| {
                *flag = protected;
                let data = match bytes {
                    Some(b) => b.to_vec(),
                    None => encode(&D::default())?,
                };
                Ok((data, ()))
            })
            .await
    }

    /// Whether the session is live and marked logged in.
    pub async fn is_protected(&self) -> Result<bool, SessionError> {
        Ok(self
            .inner
            .current()
            .await?
            .is_some_and(|(_, s)| s.record.protected))
    }

    /// When the session expires (milliseconds since the Unix epoch, per
    /// [`HostClock`](crate::HostClock)), or `None` without a live session.
    pub async fn expires_at(&self) -> Result<Option<Instant>, SessionError> {
        Ok(self
            .inner
            .current()
            .await?
            .map(|(_, s)| s.record.deadlines.expires_at()))
    }

    /// The CSRF token for a form, for a hidden form field or a header.
    /// Stores nothing, and never starts a session.
    ///
    /// With a live session it is the session's token
    /// ([`FormToken::Session`]): derived from the session id with the signing
    /// key, so it changes at every regenerate. Without one (an anonymous
    /// visitor's login form) it is a pre-session token
    /// ([`FormToken::PreSession`], see [`sesh::presession`]): bound to the
    /// pre-session cookie (`<cookie name>-pre`; the request's, else a new
    /// random one the response sets), valid for the idle timeout. The response
    /// then (re)sends that cookie with the idle timeout as its `Max-Age`, so
    /// the cookie outlives every token made for it, and carries
    /// `Cache-Control: no-store` and `Vary: Cookie`.
    ///
    /// At login the first write (or [`regenerate`](Self::regenerate))
    /// creates the session as before; the pre-session cookie is left to
    /// expire: it holds no rights, and it is bound to nothing stored.
    pub async fn csrf_token(&self) -> Result<FormToken, SessionError> {
        Ok(match self.inner.current().await? {
            Some((id, _)) => FormToken::Session(self.inner.shared.config.keys().csrf_token(&id)),
            None => FormToken::PreSession(self.inner.pre_csrf_token()?),
        })
    }

    /// Checks a CSRF token in constant time: with a live session, against
    /// the session's token only (a login kills the forms served before it);
    /// without one, as a pre-session token against the pre-session cookie
    /// the request presented and its expiry. False for anything else.
    pub async fn verify_csrf(&self, token: &str) -> Result<bool, SessionError> {
        let id = self.inner.current().await?.map(|(id, _)| id);
        Ok(self.inner.verify_form_token(id, token))
    }

    /// Signs the visitor in, in one step: a new session under a fresh id
    /// holds what `data` makes of the current session's data (`None`
    /// without one: carry a cart over, or start afresh), is protected from
    /// eviction, belongs to `sign_in.owner`, carries its label and lives by
    /// its lifetime from now; the request's old session, if any, is
    /// deleted, so an id planted
    /// before login is worthless (fixation). The new session is stored with
    /// its owner in one atomic store step (the per-user cap applies there,
    /// see [`set_owner`](Self::set_owner)), so it is in the user's list,
    /// and "sign out everywhere" ends it, from the moment it exists.
    ///
    /// On an error the visitor is as they were: never signed in without an
    /// owner or with half the settings, as a login of separate steps
    /// ([`regenerate`](Self::regenerate), [`replace`](Self::replace),
    /// [`set_owner`](Self::set_owner), ...) can be when the store fails
    /// midway. An update another server saves to the old session meanwhile
    /// is carried over, never lost: then `data` runs again on it, so keep
    /// side effects out of it. A store without an owner index
    /// fails with [`NoOwnerIndex`](crate::store::NoOwnerIndex).
    ///
    /// ```
    /// use sesh::expiry::Lifetime;
    /// use sesh::owner::{Label, SignIn, UserId};
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Account { name: String }
    ///
    /// // After the password checked out; a user id is at most 64 bytes.
    /// async fn log_in(session: Session<Account>, name: String, remember: bool) -> Result<(), SessionError> {
    ///     let Ok(user) = UserId::new(name.as_bytes()) else { return Ok(()) };
    ///     let lifetime = if remember { Lifetime::REMEMBER_ME } else { Lifetime::BrowserSession };
    ///     let sign_in = SignIn::new(user)
    ///         .with_label(Label::truncated("Firefox on Linux"))
    ///         .with_lifetime(lifetime);
    ///     session.sign_in(&sign_in, |_anonymous| Account { name: name.clone() }).await
    /// }
    /// ```
    pub async fn sign_in(
        &self,
        sign_in: &SignIn,
        mut data: impl FnMut(Option<&D>) -> D,
    ) -> Result<(), SessionError> {
        self.inner
            .sign_in(sign_in, |bytes| {
                let current: Option<D> = bytes.and_then(decode);
                encode(&data(current.as_ref()))
            })
            .await
    }

    /// Marks the session as `user`'s. At login, [`sign_in`](Self::sign_in)
    /// does this with the rest of a login in one step; this is for a
    /// session that changes hands later. The owner is saved with the record
    /// in one atomic store step, so the session is in the user's list
    /// ([`sessions`](Self::sessions)) from then on, and stays there through
    /// regenerations. If the user would pass the store's per-user cap, their
    /// least recently used other session ends. Starts a session if there is
    /// none. A store without an owner index fails with
    /// [`NoOwnerIndex`](crate::store::NoOwnerIndex).
    ///
    /// ```
    /// use sesh::owner::UserId;
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct User { name: String }
    ///
    /// // An administrator hands a session over; a user id is at most 64 bytes.
    /// async fn hand_over(session: Session<User>, name: String, user: UserId) -> Result<(), SessionError> {
    ///     session.replace(User { name }).await?;
    ///     session.set_owner(user).await
    /// }
    /// ```
    pub async fn set_owner(&self, user: UserId) -> Result<(), SessionError> {
        self.inner
            .change_meta(|meta| meta.owner = Some(user.clone()), default_bytes::<D>)
            .await
    }

    /// Names the session for its user's list (a device, say: a short
    /// summary of the `User-Agent`, up to 64 bytes with
    /// [`Label::truncated`]). Escape it when you show it: it comes from the
    /// client. Starts a session if there is none.
    ///
    /// ```
    /// use sesh::owner::Label;
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// async fn label(session: Session<()>, user_agent: &str) -> Result<(), SessionError> {
    ///     session.set_label(Label::truncated(user_agent)).await
    /// }
    /// ```
    pub async fn set_label(&self, label: Label) -> Result<(), SessionError> {
        self.inner
            .change_meta(|meta| meta.label = label.clone(), default_bytes::<D>)
            .await
    }

    /// Chooses how long this session lives: [`Lifetime::REMEMBER_ME`] (a
    /// cookie with `Max-Age` of its 30-day idle timeout, 90 days at most),
    /// [`Lifetime::BrowserSession`] (the layer's deadlines on the server, a
    /// cookie without `Max-Age` or `Expires` that the browser drops when it
    /// closes) or [`Lifetime::Default`]. The deadlines start again from now
    /// by that lifetime, every later refresh follows it, and the response
    /// sends the cookie again. Starts a session if there is none.
    ///
    /// ```
    /// use sesh::expiry::Lifetime;
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// async fn after_login(session: Session<()>, remember: bool) -> Result<(), SessionError> {
    ///     let lifetime = if remember { Lifetime::REMEMBER_ME } else { Lifetime::BrowserSession };
    ///     session.set_lifetime(lifetime).await
    /// }
    /// ```
    pub async fn set_lifetime(&self, lifetime: Lifetime) -> Result<(), SessionError> {
        self.inner
            .change_meta(|meta| meta.lifetime = lifetime, default_bytes::<D>)
            .await
    }

    /// The live sessions of this session's owner (see
    /// [`set_owner`](Self::set_owner)), this one marked `current`, each
    /// named by a [`DisplayTag`] (safe to show: it is no cookie). Empty
    /// without a live session or an owner. Nothing counts as a use of them.
    ///
    /// ```
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// async fn devices(session: Session<()>) -> Result<String, SessionError> {
    ///     let mut page = String::new();
    ///     for s in session.sessions().await? {
    ///         let this = if s.current { " (this device)" } else { "" };
    ///         page.push_str(&format!("{} {}{this}\n", s.tag, s.label.as_str()));
    ///     }
    ///     Ok(page)
    /// }
    /// ```
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, SessionError> {
        self.inner.sessions().await
    }

    /// Ends the owner's session named `tag` (from
    /// [`sessions`](Self::sessions)), for every server sharing the store at
    /// once. Only the owner's own sessions: another user's tag, an unknown
    /// or an expired one ends nothing and answers [`Revoked::NotFound`], as
    /// does a session without an owner. Ending the current session removes
    /// its cookie too.
    ///
    /// ```
    /// use sesh::owner::DisplayTag;
    /// use sesh_tokio::{store::Revoked, Session, SessionError};
    ///
    /// async fn revoke(session: Session<()>, tag: &str) -> Result<&'static str, SessionError> {
    ///     let Some(tag) = DisplayTag::parse(tag) else { return Ok("not found") };
    ///     Ok(match session.revoke(&tag).await? {
    ///         Revoked::Ended => "signed out",
    ///         Revoked::NotFound => "not found",
    ///     })
    /// }
    /// ```
    pub async fn revoke(&self, tag: &DisplayTag) -> Result<Revoked, SessionError> {
        self.inner.revoke(tag).await
    }

    /// Signs the owner out everywhere else: ends every session of this
    /// session's owner but this one, and answers how many ended (0 without
    /// an owner).
    ///
    /// ```
    /// use sesh_tokio::{Session, SessionError};
    ///
    /// async fn sign_out_elsewhere(session: Session<()>) -> Result<String, SessionError> {
    ///     let ended = session.revoke_others().await?;
    ///     Ok(format!("{ended} other sessions signed out"))
    /// }
    /// ```
    pub async fn revoke_others(&self) -> Result<usize, SessionError> {
        self.inner.revoke_others().await
    }

    /// How full the store is, for status pages: from the store's own
    /// counts, never a scan; `None` when the store keeps none (say "not
    /// counted" then).
    pub async fn occupancy(&self) -> Result<Option<crate::store::Occupancy>, SessionError> {
        self.inner
            .shared
            .store
            .occupancy()
            .await
            .map_err(SessionError::Store)
    }
}

#[cfg(feature = "axum")]
impl<D, S> axum_core::extract::FromRequestParts<S> for Session<D>
where
    D: Serialize + DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = SessionError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, SessionError> {
        Session::from_extensions(&parts.extensions)
    }
}
