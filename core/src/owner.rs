//! Sessions with an owner: who a session belongs to, how it is shown to that
//! user, and how it is ended by them.
//!
//! A handler marks a session as a user's at login
//! ([`Table::set_owner`](crate::table::Table::set_owner)); the user can then
//! list their sessions ([`Table::sessions_of`](crate::table::Table::sessions_of)),
//! end one by its [`DisplayTag`] ([`Table::revoke`](crate::table::Table::revoke))
//! or all but the current one ([`Table::revoke_all`](crate::table::Table::revoke_all)).
//! A tag of another user's session revokes nothing: one user can never end
//! another's session.

use core::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::expiry::Lifetime;
use crate::{Instant, SessionId};

/// The longest user id and label, in bytes.
pub const MAX_OWNER_LEN: usize = 64;

/// The most bytes a [`SessionMeta`] adds to an encoded record (version 2)
/// or to each record of a snapshot: size snapshot and store buffers with it.
/// An owner and a label of 64 bytes each, and the largest times and
/// lifetimes.
pub const MAX_META_LEN: usize = 172;

/// The per-user cap on sessions a table keeps by default
/// ([`Table::with_max_sessions_per_user`](crate::table::Table::with_max_sessions_per_user)).
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 32;

/// An opaque user key of at most [`MAX_OWNER_LEN`] bytes (a user name, a
/// database key): who a session belongs to. Kept inline with a one-byte
/// length, so a fixed table holds it without a heap.
///
/// ```
/// use sesh::owner::{UserId, UserIdError};
/// let alice = UserId::new(b"alice")?;
/// assert_eq!(alice.as_bytes(), b"alice");
/// assert_eq!(UserId::new(&[0; 65]), Err(UserIdError));
/// # Ok::<(), UserIdError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct UserId(heapless::Vec<u8, MAX_OWNER_LEN, u8>);

/// A user id longer than [`MAX_OWNER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UserIdError;

impl fmt::Display for UserIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the user id is longer than 64 bytes")
    }
}

impl core::error::Error for UserIdError {}

impl UserId {
    /// The user id `bytes`, or an error over 64 bytes.
    pub fn new(bytes: &[u8]) -> Result<UserId, UserIdError> {
        heapless::Vec::from_slice(bytes)
            .map(UserId)
            .map_err(|_| UserIdError)
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

// User ids may be personal data (an e-mail address): logs show the length only.
impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({} bytes)", self.0.len())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for UserId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "UserId({=usize} bytes)", self.0.len())
    }
}

/// A short caller-given text shown next to a session (say, "Firefox on
/// Linux"), at most [`MAX_OWNER_LEN`] bytes.
///
/// ```
/// use sesh::owner::Label;
/// assert_eq!(Label::new("Firefox on Linux")?.as_str(), "Firefox on Linux");
/// assert!(Label::new(&"x".repeat(65)).is_err());
/// // Cut at a character boundary instead of refusing:
/// assert_eq!(Label::truncated(&"é".repeat(40)).as_str().len(), 64);
/// # Ok::<(), sesh::owner::LabelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
// A one-byte length: the text fits in 64 bytes, and a slot stays small.
pub struct Label(heapless::String<MAX_OWNER_LEN, u8>);

/// A label longer than [`MAX_OWNER_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LabelError;

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the label is longer than 64 bytes")
    }
}

impl core::error::Error for LabelError {}

impl Label {
    /// The label `text`, or an error over 64 bytes.
    pub fn new(text: &str) -> Result<Label, LabelError> {
        heapless::String::try_from(text)
            .map(Label)
            .map_err(|_| LabelError)
    }

    /// The first 64 bytes of `text` or fewer, cut at a character boundary
    /// (a `User-Agent` header can be long).
    pub fn truncated(text: &str) -> Label {
        let mut out = heapless::String::new();
        for c in text.chars() {
            if out.push(c).is_err() {
                break;
            }
        }
        Label(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Identifies a session to its user without revealing its id: the first 8
/// bytes of SHA-256("sesh/display-tag/v1" ‖ id), shown as 16 hex digits.
///
/// Safe to show: the id is 128 random bits, so the hash cannot be inverted,
/// and a tag is no cookie. It needs no key, so a table without keys (a
/// device) makes the same tags as a host, and they survive key rotation
/// and reboots; a regenerated session gets a new tag. It is not the log tag
/// (`KeyRing::log_tag`, an HMAC under the signing key truncated to 32 bits,
/// also safe to show but changing with the key), so that a user's screen
/// and the server's logs do not share a handle.
///
/// ```
/// use sesh::{owner::DisplayTag, SessionId};
/// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
/// let tag = DisplayTag::of(&id);
/// assert_eq!(tag.to_string().len(), 16);
/// assert_eq!(DisplayTag::parse(&tag.to_string()), Some(tag));
/// assert_eq!(DisplayTag::parse("not hex"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DisplayTag([u8; 8]);

impl DisplayTag {
    /// The tag of `id`.
    pub fn of(id: &SessionId) -> DisplayTag {
        let digest = Sha256::new()
            .chain_update(b"sesh/display-tag/v1")
            .chain_update(id.as_bytes())
            .finalize();
        let mut tag = [0u8; 8];
        for (t, d) in tag.iter_mut().zip(digest.iter()) {
            *t = *d;
        }
        DisplayTag(tag)
    }

    /// Reads a tag written by `Display` (16 hex digits, either case).
    pub fn parse(text: &str) -> Option<DisplayTag> {
        let bytes = text.as_bytes();
        if bytes.len() != 16 {
            return None;
        }
        let mut tag = [0u8; 8];
        for (out, pair) in tag.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_value(*pair.first()?)?;
            let lo = hex_value(*pair.get(1)?)?;
            *out = hi.checked_mul(16)?.checked_add(lo)?;
        }
        Some(DisplayTag(tag))
    }

    /// The tag's bytes.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for DisplayTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// What a session carries besides its deadlines, flag and data: its owner,
/// label, creation and last use, and its [`Lifetime`]. Kept in a fixed
/// table's metadata pool (no heap), in an `AllocSessionTable` on the heap,
/// and, from record version 2, in records and snapshots.
///
/// Both tables keep it only for a session with an owner, a label or a
/// lifetime other than the default, so that the many anonymous sessions
/// stay small: for the others it keeps no
/// times, and reads them as zero ([`Instant::ZERO`]). There, `created` is
/// when the session last got metadata after having none (usually the
/// login), and a regeneration keeps it, as everywhere.
///
/// ```
/// use sesh::{owner::SessionMeta, expiry::Lifetime, Instant};
/// let meta = SessionMeta::new(Instant::from_secs(5));
/// assert_eq!((meta.owner, meta.created, meta.lifetime), (None, Instant::from_secs(5), Lifetime::Default));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionMeta {
    /// The user the session belongs to, if any.
    pub owner: Option<UserId>,
    /// The caller's label.
    pub label: Label,
    /// When the session was created (not moved by a regeneration).
    pub created: Instant,
    /// The last use.
    pub last_seen: Instant,
    /// Which deadlines the session has and whether its cookie has `Max-Age`.
    pub lifetime: Lifetime,
}

impl SessionMeta {
    /// A new session's: no owner, no label, the default lifetime.
    pub const fn new(now: Instant) -> SessionMeta {
        SessionMeta {
            owner: None,
            label: Label(heapless::String::new()),
            created: now,
            last_seen: now,
            lifetime: Lifetime::Default,
        }
    }
}

/// One of a user's sessions, as listed by
/// [`Table::sessions_of`](crate::table::Table::sessions_of).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionInfo {
    /// Names the session for [`Table::revoke`](crate::table::Table::revoke).
    pub tag: DisplayTag,
    /// When it was created.
    pub created: Instant,
    /// Its last use.
    pub last_seen: Instant,
    /// When it expires.
    pub expires_at: Instant,
    /// The caller's label.
    pub label: Label,
    /// Its lifetime choice.
    pub lifetime: Lifetime,
    /// It is the session of the request that asked.
    pub current: bool,
}

/// Everything a login gives a session, applied in one step by
/// [`Table::sign_in`](crate::table::Table::sign_in) and by each adapter's
/// `Session::sign_in`: a fresh id, the user's data, the owner, a label, a
/// lifetime, and protection from eviction. One step means a failure leaves
/// the visitor as they were: never signed in without an owner (which "sign
/// out everywhere" could not find), never with half the settings.
///
/// ```
/// use sesh::{expiry::Lifetime, owner::{Label, SignIn, UserId}, Instant};
/// let sign_in = SignIn::new(UserId::new(b"alice")?)
///     .with_label(Label::truncated("Firefox on Linux"))
///     .with_lifetime(Lifetime::REMEMBER_ME);
/// let meta = sign_in.meta(Instant::from_secs(9));
/// assert_eq!(meta.owner.as_ref().map(|u| u.as_bytes()), Some(&b"alice"[..]));
/// assert_eq!((meta.created, meta.lifetime), (Instant::from_secs(9), Lifetime::REMEMBER_ME));
/// # Ok::<(), sesh::owner::UserIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SignIn {
    /// Whose session it becomes.
    pub owner: UserId,
    /// Shown in the user's list (empty: none).
    pub label: Label,
    /// How long it lives, and whether its cookie has `Max-Age`.
    pub lifetime: Lifetime,
}

impl SignIn {
    /// A sign-in as `owner`, with no label and the default lifetime.
    pub fn new(owner: UserId) -> Self {
        SignIn {
            owner,
            label: Label::default(),
            lifetime: Lifetime::Default,
        }
    }

    /// Names the session in its user's list (a browser summary, say).
    ///
    /// ```
    /// use sesh::owner::{Label, SignIn, UserId};
    /// let sign_in = SignIn::new(UserId::new(b"alice")?).with_label(Label::new("phone")?);
    /// assert_eq!(sign_in.label.as_str(), "phone");
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn with_label(mut self, label: Label) -> Self {
        self.label = label;
        self
    }

    /// Chooses the session's lifetime: [`Lifetime::REMEMBER_ME`] for "remember
    /// me", [`Lifetime::BrowserSession`] for a cookie the browser drops.
    ///
    /// ```
    /// use sesh::{expiry::Lifetime, owner::{SignIn, UserId}};
    /// let sign_in = SignIn::new(UserId::new(b"alice")?).with_lifetime(Lifetime::BrowserSession);
    /// assert_eq!(sign_in.lifetime, Lifetime::BrowserSession);
    /// # Ok::<(), sesh::owner::UserIdError>(())
    /// ```
    pub fn with_lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The metadata of a session signed in at `now`: its owner, label and
    /// lifetime, created and last seen at `now`.
    pub fn meta(&self, now: Instant) -> SessionMeta {
        SessionMeta {
            owner: Some(self.owner.clone()),
            label: self.label.clone(),
            lifetime: self.lifetime,
            ..SessionMeta::new(now)
        }
    }
}

/// What [`Table::set_owner`](crate::table::Table::set_owner) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerSet {
    /// The session's use, as any use of it.
    pub access: crate::table::Access,
    /// The user's least recently used session, ended because the new one
    /// would have passed the per-user cap: a store deletes it too.
    pub ended: Option<SessionId>,
}

/// What [`Table::sign_in`](crate::table::Table::sign_in) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedIn {
    /// The session's new id: send it in the cookie.
    pub id: SessionId,
    /// The new session's deadlines, as any use of it (refreshed: the cookie
    /// goes out).
    pub access: crate::table::Access,
    /// The user's least recently used session, ended because the new one
    /// would have passed the per-user cap: a store deletes it too.
    pub ended: Option<SessionId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_differ_per_id_and_parse_back() {
        let a = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let b = SessionId::parse("AQAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_ne!(DisplayTag::of(&a), DisplayTag::of(&b));
        let text = DisplayTag::of(&a).to_string();
        assert_eq!(
            DisplayTag::parse(&text.to_uppercase()),
            Some(DisplayTag::of(&a))
        );
        assert_eq!(DisplayTag::parse(&text[..15]), None);
        assert_eq!(DisplayTag::parse("g000000000000000"), None);
    }

    #[test]
    fn user_ids_and_labels_are_bounded() {
        assert!(UserId::new(&[7; 64]).is_ok());
        assert_eq!(UserId::new(&[7; 65]), Err(UserIdError));
        assert_eq!(
            std::format!("{:?}", UserId::new(b"bob").unwrap()),
            "UserId(3 bytes)"
        );
        assert!(Label::new(&"x".repeat(64)).is_ok());
        assert_eq!(Label::truncated(&"ab".repeat(50)).as_str().len(), 64);
    }

    #[test]
    fn the_largest_meta_fits_max_meta_len() {
        let meta = SessionMeta {
            owner: Some(UserId::new(&[0xff; 64]).unwrap()),
            label: Label::new(&"é".repeat(32)).unwrap(),
            created: Instant::MAX,
            last_seen: Instant::MAX,
            lifetime: Lifetime::Persistent {
                idle: crate::Duration::from_millis(u64::MAX),
                absolute: crate::Duration::from_millis(u64::MAX),
            },
        };
        let mut buf = [0u8; 256];
        let len = postcard::to_slice(&meta, &mut buf).unwrap().len();
        assert_eq!(len, MAX_META_LEN);
        let none = postcard::to_slice(&SessionMeta::new(Instant::ZERO), &mut buf)
            .unwrap()
            .len();
        assert_eq!(none, 5);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text: std::string::String) {
            let _ = DisplayTag::parse(&text);
        }
    }
}
