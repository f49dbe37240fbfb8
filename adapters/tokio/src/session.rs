//! The handler's view: a typed session.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sesh::Instant;
use sesh::presession::FormToken;

use crate::error::SessionError;
use crate::state::RequestSession;

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
