//! Signed cookie values (`id.tag`), key rotation, CSRF tokens and log tags.
//!
//! Every tag is HMAC-SHA256 (the `hmac` crate) over a purpose label and the
//! id's bytes, truncated to 128 bits, and every comparison is constant-time
//! (`subtle`).

use core::fmt;

use hmac::block_api::HmacCore;
use hmac::digest::block_api::{Buffer, CoreProxy};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::base64;
use crate::id::{EncodedId, ParseIdError, SessionId};

const ID_LABEL: &[u8] = b"sesh/id/v1";
const CSRF_LABEL: &[u8] = b"sesh/csrf/v1";
const LOG_LABEL: &[u8] = b"sesh/log/v1";
/// Derives the key that seals snapshots from a signing key, so that a
/// snapshot's seal and a cookie's tag are never made with the same key.
const SNAPSHOT_LABEL: &[u8] = b"sesh/snapshot/v1";

/// Length of a snapshot seal: HMAC-SHA256 truncated to 128 bits, as cookie tags.
pub(crate) const SEAL_LEN: usize = 16;

/// Shortest secret [`Key::new`] accepts, in bytes.
///
/// ```
/// use sesh::signing::{Key, KeyError, MIN_KEY_LEN};
/// assert!(Key::new(&[7; MIN_KEY_LEN]).is_ok());
/// assert_eq!(Key::new(&[7; MIN_KEY_LEN - 1]).err(), Some(KeyError::TooShort));
/// ```
pub const MIN_KEY_LEN: usize = 32;

/// A signing key made from a secret of at least 32 bytes.
///
/// `Debug` does not print the secret.
///
/// ```
/// use sesh::signing::{Key, KeyError};
/// assert!(Key::new(&[7; 32]).is_ok());
/// assert_eq!(Key::new(b"short").err(), Some(KeyError::TooShort));
/// ```
#[derive(Clone)]
pub struct Key {
    /// The `hmac` crate's keyed state: the SHA-256 states after the key's
    /// inner and outer pad blocks (RFC 2104 §4, hashed once), without a
    /// message buffer. A tag, cloned from it, costs two compressions.
    core: HmacCore<Sha256>,
}

/// SHA-256's block, and the length of an HMAC-SHA256 key in the `hmac` crate.
const BLOCK: usize = 64;

// A label and an id fit one block with SHA-256's padding: two compressions.
const _: () = assert!(ID_LABEL.len() + 16 <= BLOCK - 9);
const _: () = assert!(CSRF_LABEL.len() + 16 <= BLOCK - 9);
const _: () = assert!(LOG_LABEL.len() + 16 <= BLOCK - 9);

/// Why a key was refused.
///
/// ```
/// use sesh::signing::{Key, KeyError, KeyRing};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let err = ring.with_previous(Key::new(&[2; 32])?).unwrap_err();
/// assert_eq!(err, KeyError::RingFull);
/// assert_eq!(err.to_string(), "the key ring is full");
/// # Ok::<(), KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    TooShort,
    /// The key ring has no room for another key.
    RingFull,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::TooShort => "a signing key needs at least 32 bytes",
            KeyError::RingFull => "the key ring is full",
        })
    }
}

impl core::error::Error for KeyError {}

impl Key {
    /// Makes a key from `secret` (at least 32 random bytes).
    ///
    /// ```
    /// let key = sesh::signing::Key::new(b"an example secret of 32 bytes...")?;
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn new(secret: &[u8]) -> Result<Key, KeyError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort);
        }
        // Never refused: HMAC hashes a key longer than a block.
        let core = HmacCore::new_from_slice(secret).map_err(|_| KeyError::TooShort)?;
        Ok(Key { core })
    }

    /// The key HMAC(self, `label`): a separate key for another purpose, so
    /// that no tag made for one purpose is ever valid for another.
    pub(crate) fn derive(&self, label: &[u8]) -> Key {
        // The 32-byte MAC, zero-padded to a block: the same HMAC key.
        let mut key = [0u8; BLOCK];
        key.iter_mut()
            .zip(self.mac(&[label]))
            .for_each(|(k, d)| *k = d);
        Key {
            core: HmacCore::new(&key.into()),
        }
    }

    /// HMAC-SHA256 of the concatenated `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::compose(self.core.clone(), Buffer::<HmacCore<Sha256>>::default());
        parts.iter().for_each(|part| mac.update(part));
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA256(key, label ‖ id), truncated to 128 bits.
    fn tag(&self, label: &[u8], id: &SessionId) -> [u8; 16] {
        truncate(&self.mac(&[label, id.as_bytes()]))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// A snapshot seal made with the ring's signing key (none for an empty
/// ring): HMAC-SHA256, truncated to [`SEAL_LEN`], under a key derived from
/// the signing key for snapshots only.
pub(crate) fn seal<const K: usize>(keys: &KeyRing<K>, message: &[u8]) -> [u8; SEAL_LEN] {
    truncate(&keys.current().derive(SNAPSHOT_LABEL).mac(&[message]))
}

/// Whether some key of the ring sealed `message` with `presented`. Every
/// key is tried and compared in constant time, as cookie tags are.
pub(crate) fn seal_matches<const K: usize>(
    keys: &KeyRing<K>,
    message: &[u8],
    presented: &[u8; SEAL_LEN],
) -> bool {
    let mut found = Choice::from(0);
    for key in keys.keys() {
        let mac = key.derive(SNAPSHOT_LABEL).mac(&[message]);
        found |= truncate(&mac).ct_eq(presented);
    }
    bool::from(found)
}

/// The id and tag of a value of exactly the shape sesh signs (22 base64url
/// characters, a dot, 22 more), without searching for the dot: what
/// splitting at the first dot gives, since an id that decodes holds none.
fn split_signed(value: &str) -> Option<(SessionId, [u8; 16])> {
    let (id, rest) = value.as_bytes().split_at_checked(base64::ENCODED_LEN)?;
    let [b'.', tag @ ..] = rest else {
        return None;
    };
    let id = SessionId::from_bytes(base64::decode16(id).ok()?);
    Some((id, base64::decode16(tag).ok()?))
}

/// The id and tag of `value` split at its first dot, or why it has none.
fn split_general(value: &str) -> Result<(SessionId, [u8; 16]), VerifyError> {
    let (id_text, tag_text) = value.split_once('.').ok_or(VerifyError::MissingTag)?;
    let id = SessionId::parse(id_text).map_err(VerifyError::Id)?;
    let tag = base64::decode16(tag_text.as_bytes()).map_err(|_| VerifyError::MalformedTag)?;
    Ok((id, tag))
}

/// HMAC-SHA256 under `key` of `message` (any length), truncated to 128 bits.
pub(crate) fn mac_128(key: &Key, message: &[u8]) -> [u8; 16] {
    truncate(&key.mac(&[message]))
}

/// Whether two tags are equal, in constant time: the halves' differences
/// folded into one comparison of 64 bits rather than sixteen of a byte
/// (subtle compares `u128` only with a feature).
fn tags_equal(a: &[u8; 16], b: &[u8; 16]) -> Choice {
    let half = |tag: &[u8; 16], high: bool| {
        let chunk = if high {
            tag.last_chunk::<8>()
        } else {
            tag.first_chunk::<8>()
        };
        chunk.map_or(0, |c| u64::from_ne_bytes(*c))
    };
    // The differing bits of both halves, folded: one comparison with zero.
    let diff = (half(a, false) ^ half(b, false)) | (half(a, true) ^ half(b, true));
    diff.ct_eq(&0)
}

fn truncate(full: &[u8; 32]) -> [u8; SEAL_LEN] {
    let mut out = [0u8; SEAL_LEN];
    out.iter_mut().zip(full.iter()).for_each(|(o, b)| *o = *b);
    out
}

/// Signing keys, newest first: the first key signs, every key verifies.
///
/// Rotation: put the new key first with [`KeyRing::rotate`]. Cookies signed by
/// an older key still verify, and [`Verified::needs_resign`] tells the adapter
/// to send the cookie again under the new key. Drop the old key once every
/// session it signed has expired (the absolute lifetime); after that, its
/// cookies are refused.
///
/// ```
/// use sesh::signing::{Key, KeyRing};
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let id = sesh::SessionId::generate(&mut rng)?;
/// let old = KeyRing::<2>::new(Key::new(&[1; 32])?);
/// let cookie = old.sign(&id).to_string();
///
/// let mut ring = old.clone();
/// ring.rotate(Key::new(&[2; 32])?);
/// let verified = ring.verify(&cookie)?;
/// assert_eq!(verified.id(), id);
/// assert!(verified.needs_resign());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyRing<const K: usize> {
    /// The key that signs: a ring always has one.
    current: Key,
    /// Older keys that still verify, newest first; at most `K - 1` of them.
    older: heapless::Vec<Key, K>,
}

/// A signed cookie value: the id, a dot and the tag (45 characters).
///
/// ```
/// use sesh::signing::{Key, KeyRing};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let value = ring.sign(&id).to_string();
/// assert!(value.starts_with("AAAAAAAAAAAAAAAAAAAAAA."));
/// assert_eq!(ring.verify(&value)?.id(), id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedValue {
    id: EncodedId,
    tag: [u8; base64::ENCODED_LEN],
}

impl SignedValue {
    /// Length of every signed value.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing, SignedValue};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// assert_eq!(SignedValue::LEN, 45);
    /// assert_eq!(ring.sign(&id).to_string().len(), SignedValue::LEN);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const LEN: usize = 2 * base64::ENCODED_LEN + 1;
}

impl fmt::Display for SignedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.as_str())?;
        f.write_str(".")?;
        f.write_str(core::str::from_utf8(&self.tag).unwrap_or(""))
    }
}

impl fmt::Debug for SignedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedValue(..)")
    }
}

/// A cookie value whose tag verified.
///
/// ```
/// use sesh::signing::{Key, KeyRing, VerifyError};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let verified = ring.verify(&ring.sign(&id).to_string())?;
/// assert_eq!((verified.id(), verified.needs_resign()), (id, false));
/// let forged = format!("{}.{}", id.encode(), "A".repeat(22));
/// assert_eq!(ring.verify(&forged), Err(VerifyError::BadSignature));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    id: SessionId,
    key_index: usize,
}

impl Verified {
    /// The session id the cookie carries.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// assert_eq!(ring.verify(&ring.sign(&id).to_string())?.id(), id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// True when an older key signed it: send the cookie again, signed by the
    /// current key.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let mut ring = KeyRing::<2>::new(Key::new(&[1; 32])?);
    /// let old_cookie = ring.sign(&id).to_string();
    /// ring.rotate(Key::new(&[2; 32])?);
    /// assert!(ring.verify(&old_cookie)?.needs_resign());
    /// assert!(!ring.verify(&ring.sign(&id).to_string())?.needs_resign());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn needs_resign(&self) -> bool {
        self.key_index != 0
    }
}

/// Why a cookie value did not verify.
///
/// ```
/// use sesh::{signing::{Key, KeyRing, VerifyError}, ParseIdError};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let err = ring.verify("not-an-id.tag").unwrap_err();
/// assert_eq!(err, VerifyError::Id(ParseIdError::WrongLength));
/// assert_eq!(err.to_string(), "bad session id: a session id has exactly 22 characters");
/// assert_eq!(ring.verify("AAAAAAAAAAAAAAAAAAAAAA.short"), Err(VerifyError::MalformedTag));
/// # Ok::<(), sesh::signing::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VerifyError {
    /// The id part is not a session id.
    Id(ParseIdError),
    /// No `.tag` part: an unsigned id while signing is on.
    MissingTag,
    /// The tag is not 22 base64url characters.
    MalformedTag,
    /// No key in the ring made this tag.
    BadSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Id(e) => write!(f, "bad session id: {e}"),
            VerifyError::MissingTag => f.write_str("the session cookie is not signed"),
            VerifyError::MalformedTag => f.write_str("the session cookie's signature is malformed"),
            VerifyError::BadSignature => {
                f.write_str("the session cookie's signature does not verify")
            }
        }
    }
}

impl core::error::Error for VerifyError {}

/// A per-session CSRF token: 22 base64url characters.
///
/// ```
/// use sesh::signing::{Key, KeyRing};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// let token = ring.csrf_token(&id);
/// assert_eq!(token, ring.csrf_token(&id)); // derived, so nothing to store
/// assert_eq!(format!("{token:?}"), "CsrfToken(..)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CsrfToken {
    chars: [u8; base64::ENCODED_LEN],
}

impl CsrfToken {
    /// The token text, for a hidden form field or a header.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = ring.csrf_token(&id);
    /// assert_eq!(token.as_str().len(), 22);
    /// assert!(ring.verify_csrf(&id, token.as_str()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.chars).unwrap_or("")
    }
}

impl fmt::Display for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

/// A short keyed hash of an id, safe to log: it identifies a session across
/// log lines without revealing the cookie.
///
/// ```
/// use sesh::signing::{Key, KeyRing, LogTag};
/// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
/// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
/// assert_eq!(ring.log_tag(&id), ring.log_tag(&id)); // stable for one id and key
/// assert_eq!(LogTag(0xbeef).to_string(), "0000beef");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogTag(pub u32);

impl fmt::Display for LogTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl<const K: usize> KeyRing<K> {
    /// A ring whose only key is `current`.
    ///
    /// ```
    /// let ring = sesh::signing::KeyRing::<2>::new(sesh::signing::Key::new(&[9; 32])?);
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    ///
    /// A ring must hold at least the current key: `KeyRing::<0>` does not
    /// compile.
    ///
    /// ```compile_fail
    /// let ring = sesh::signing::KeyRing::<0>::new(sesh::signing::Key::new(&[9; 32])?);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn new(current: Key) -> Self {
        const { assert!(K > 0, "a KeyRing needs room for at least its current key") };
        KeyRing {
            current,
            older: heapless::Vec::new(),
        }
    }

    /// Adds an older key that still verifies but no longer signs.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let ring = KeyRing::<2>::new(Key::new(&[2; 32])?).with_previous(Key::new(&[1; 32])?)?;
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn with_previous(mut self, older: Key) -> Result<Self, KeyError> {
        if self.len() >= K {
            return Err(KeyError::RingFull);
        }
        self.older.push(older).map_err(|_| KeyError::RingFull)?;
        Ok(self)
    }

    /// Makes `key` the signing key; the others stay for verification. When the
    /// ring is full the oldest key is dropped and returned.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let mut ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// assert!(ring.rotate(Key::new(&[2; 32])?).is_some());
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn rotate(&mut self, key: Key) -> Option<Key> {
        let previous = core::mem::replace(&mut self.current, key);
        if K == 1 {
            // No room for an older key: the previous one goes.
            return Some(previous);
        }
        let dropped = if self.len() >= K {
            self.older.pop()
        } else {
            None
        };
        // Cannot fail: at most K - 2 older keys are left, in room for K.
        let _ = self.older.insert(0, previous);
        dropped
    }

    /// Removes the oldest verification key, so its cookies stop working.
    /// The signing key is never removed.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing, VerifyError};
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let mut ring = KeyRing::<2>::new(Key::new(&[1; 32])?);
    /// let old_cookie = ring.sign(&id).to_string();
    /// ring.rotate(Key::new(&[2; 32])?);
    /// assert!(ring.retire_oldest().is_some());
    /// assert_eq!(ring.verify(&old_cookie), Err(VerifyError::BadSignature));
    /// assert!(ring.retire_oldest().is_none()); // the signing key stays
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retire_oldest(&mut self) -> Option<Key> {
        self.older.pop()
    }

    /// The number of keys.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let mut ring = KeyRing::<3>::new(Key::new(&[1; 32])?);
    /// ring.rotate(Key::new(&[2; 32])?);
    /// assert_eq!(ring.len(), 2);
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.older.len().saturating_add(1)
    }

    /// Always false: a ring holds at least its signing key.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// assert!(!KeyRing::<1>::new(Key::new(&[1; 32])?).is_empty());
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        false
    }

    fn current(&self) -> &Key {
        &self.current
    }

    /// The key that signs.
    pub(crate) fn signing_key(&self) -> &Key {
        self.current()
    }

    /// Every key, newest first.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        core::iter::once(&self.current).chain(self.older.iter())
    }

    fn tag_text(&self, label: &[u8], id: &SessionId) -> [u8; base64::ENCODED_LEN] {
        let tag = self.current().tag(label, id);
        base64::encode16(&tag)
    }

    /// The cookie value for `id`, signed with the current key.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let value = ring.sign(&id);
    /// assert_eq!(value, ring.sign(&id)); // deterministic: no RNG needed
    /// assert_eq!(ring.verify(&value.to_string())?.id(), id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign(&self, id: &SessionId) -> SignedValue {
        SignedValue {
            id: id.encode(),
            tag: self.tag_text(ID_LABEL, id),
        }
    }

    /// Checks a cookie value of the form `id.tag` against every key.
    ///
    /// Every key is tried and every comparison is constant-time, so the time
    /// taken does not depend on how much of a forged tag was right.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing, VerifyError};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// assert_eq!(ring.verify("AAAAAAAAAAAAAAAAAAAAAA"), Err(VerifyError::MissingTag));
    /// assert_eq!(ring.verify("AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"), Err(VerifyError::BadSignature));
    /// # Ok::<(), sesh::signing::KeyError>(())
    /// ```
    pub fn verify(&self, value: &str) -> Result<Verified, VerifyError> {
        let (id, presented) = match split_signed(value) {
            Some(parts) => parts,
            // Not of the shape sesh signs: the general split names the error.
            None => split_general(value)?,
        };
        self.match_key(ID_LABEL, &id, &presented)
            .map(|key_index| Verified { id, key_index })
            .ok_or(VerifyError::BadSignature)
    }

    /// The index of the key whose tag equals `presented`, checking all keys.
    fn match_key(&self, label: &[u8], id: &SessionId, presented: &[u8; 16]) -> Option<usize> {
        let mut found = Choice::from(0);
        let mut index = 0usize;
        for (i, key) in self.keys().enumerate() {
            let hit = tags_equal(&key.tag(label, id), presented) & !found;
            index = if bool::from(hit) { i } else { index };
            found |= hit;
        }
        bool::from(found).then_some(index)
    }

    /// The CSRF token for the session `id`.
    ///
    /// It is derived from the id, so it changes when the id is regenerated
    /// (at login) and needs no storage.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::generate(&mut rng)?;
    /// let token = ring.csrf_token(&id);
    /// assert!(ring.verify_csrf(&id, token.as_str()));
    /// assert!(!ring.verify_csrf(&id, "forged"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn csrf_token(&self, id: &SessionId) -> CsrfToken {
        CsrfToken {
            chars: self.tag_text(CSRF_LABEL, id),
        }
    }

    /// Checks a CSRF token for `id` in constant time, against every key.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let a = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// let b = sesh::SessionId::parse("BAAAAAAAAAAAAAAAAAAAAA")?;
    /// let token = ring.csrf_token(&a);
    /// assert!(ring.verify_csrf(&a, token.as_str()));
    /// assert!(!ring.verify_csrf(&b, token.as_str())); // bound to its session
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_csrf(&self, id: &SessionId, token: &str) -> bool {
        match base64::decode16(token.as_bytes()) {
            Ok(presented) => self.match_key(CSRF_LABEL, id, &presented).is_some(),
            Err(_) => false,
        }
    }

    /// A short keyed hash of `id` for logs.
    ///
    /// ```
    /// use sesh::signing::{Key, KeyRing};
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let ring = KeyRing::<1>::new(Key::new(&[1; 32])?);
    /// let id = sesh::SessionId::generate(&mut rng)?;
    /// assert_eq!(ring.log_tag(&id).to_string().len(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_tag(&self, id: &SessionId) -> LogTag {
        let [a, b, c, d, ..] = self.current().tag(LOG_LABEL, id);
        LogTag(u32::from_be_bytes([a, b, c, d]))
    }
}

#[cfg(test)]
mod tests {
    fn hex(bytes: &[u8]) -> std::string::String {
        bytes.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    /// A key of any length (`Key::new` wants 32 bytes at least).
    fn any_key(secret: &[u8]) -> Key {
        Key {
            core: HmacCore::new_from_slice(secret).unwrap(),
        }
    }

    #[test]
    fn mac_matches_rfc_4231() {
        let long = "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
        let cases: [(&[u8], &[u8], &str); 7] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &[
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                    23, 24, 25,
                ],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Case 5 is checked truncated to 128 bits, as tags are.
            (
                &[0x0c; 20],
                b"Test With Truncation",
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &[0xaa; 131],
                long.as_bytes(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let mac = any_key(key).mac(&[data]);
            assert_eq!(hex(&mac[..expected.len() / 2]), expected);
        }
        // Fed in pieces, the same.
        let (first, rest) = long.as_bytes().split_at(70);
        assert_eq!(
            hex(&any_key(&[0xaa; 131]).mac(&[first, rest])),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        );
    }

    /// Values computed by the hand-written HMAC and base64 that the `hmac`
    /// crate replaced (and by Python's `hmac`): cookies, tokens, seals and
    /// throttle keys made before still verify.
    #[test]
    fn tags_seals_and_keys_are_those_of_earlier_versions() {
        let ring = KeyRing::<1>::new(Key::new(b"a secret of at least 32 bytes!!!").unwrap());
        let id = SessionId::from_bytes(core::array::from_fn(|i| (i * 17) as u8));
        let cookie = "ABEiM0RVZneImaq7zN3u_w._bx9xXxhf-doDniqSOFtHQ";
        assert_eq!(ring.sign(&id).to_string(), cookie);
        assert_eq!(ring.verify(cookie).unwrap().id(), id);
        assert_eq!(ring.csrf_token(&id).as_str(), "RyR8WPBHkKE6yFLhvqs2Jw");
        assert_eq!(ring.log_tag(&id), LogTag(0xf58b_ab3e));
        // A secret longer than a block is hashed first.
        let long = KeyRing::<1>::new(Key::new(&[0x5a; 100]).unwrap());
        assert_eq!(
            long.sign(&id).to_string(),
            "ABEiM0RVZneImaq7zN3u_w.S9D6RWUXjlmQUmPzpbMbFw"
        );
        let message: std::vec::Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        assert_eq!(
            hex(&seal(&ring, &message)),
            "6fdb89a13b92ea7c6f4def3d7d92093e"
        );
        assert_eq!(
            hex(&mac_128(ring.signing_key(), b"admin")),
            "a5a07a6f3988fc2356d2f870b4e88ebb"
        );
    }

    proptest::proptest! {
        /// A snapshot seal, under the derived key, is
        /// HMAC-SHA256(HMAC-SHA256(secret, label), message).
        #[test]
        fn seals_are_hmac_under_the_derived_key(
            secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 32..100),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let key = Key::new(&secret).unwrap();
            let derived = key.mac(&[SNAPSHOT_LABEL]);
            let full = any_key(&derived).mac(&[&message]);
            let ring = KeyRing::<1>::new(key);
            let sealed = seal(&ring, &message);
            proptest::prop_assert_eq!(&sealed[..], &full[..SEAL_LEN]);
            proptest::prop_assert!(seal_matches(&ring, &message, &sealed));
        }
    }

    #[test]
    fn a_seal_verifies_under_any_key_of_the_ring_and_no_other() {
        let old = KeyRing::<2>::new(Key::new(&[1; 32]).unwrap());
        let sealed = seal(&old, b"snapshot");
        let mut rotated = old.clone();
        rotated.rotate(Key::new(&[2; 32]).unwrap());
        assert!(seal_matches(&rotated, b"snapshot", &sealed));
        assert_ne!(seal(&rotated, b"snapshot"), sealed);
        assert!(!seal_matches(&rotated, b"snapshoT", &sealed));
        let other = KeyRing::<1>::new(Key::new(&[3; 32]).unwrap());
        assert!(!seal_matches(&other, b"snapshot", &sealed));
        // A seal is not a cookie tag: the keys differ.
        let id = SessionId::from_bytes([4; 16]);
        assert_ne!(
            &seal(&old, id.as_bytes())[..],
            &Key::new(&[1; 32]).unwrap().mac(&[id.as_bytes()])[..SEAL_LEN]
        );
    }

    use super::*;
    use crate::test_rng::CountingRng;
    use std::string::ToString;

    fn ring() -> KeyRing<2> {
        KeyRing::new(Key::new(&[1; 32]).unwrap())
    }

    fn id() -> SessionId {
        SessionId::generate(&mut CountingRng::default()).unwrap()
    }

    #[test]
    fn signed_value_round_trips() {
        let value = ring().sign(&id()).to_string();
        assert_eq!(value.len(), SignedValue::LEN);
        let v = ring().verify(&value).unwrap();
        assert_eq!(v.id(), id());
        assert!(!v.needs_resign());
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let value = ring().sign(&id()).to_string();
        for i in 0..value.len() {
            for bit in 0..8 {
                let mut bytes = value.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    assert!(ring().verify(text).is_err(), "flip {i}:{bit} accepted");
                }
            }
        }
    }

    #[test]
    fn wrong_key_truncated_and_unsigned_are_refused() {
        let other = KeyRing::<1>::new(Key::new(&[3; 32]).unwrap());
        let value = other.sign(&id()).to_string();
        assert_eq!(ring().verify(&value), Err(VerifyError::BadSignature));
        assert_eq!(ring().verify(&value[..40]), Err(VerifyError::MalformedTag));
        assert_eq!(
            ring().verify(id().encode().as_str()),
            Err(VerifyError::MissingTag)
        );
        assert_eq!(
            ring().verify("x.y"),
            Err(VerifyError::Id(ParseIdError::WrongLength))
        );
    }

    #[test]
    fn rotation_keeps_old_cookies_until_the_key_is_retired() {
        let value = ring().sign(&id()).to_string();
        let mut rotated = ring();
        rotated.rotate(Key::new(&[2; 32]).unwrap());
        assert!(rotated.verify(&value).unwrap().needs_resign());
        let resigned = rotated.sign(&id()).to_string();
        assert!(!rotated.verify(&resigned).unwrap().needs_resign());
        rotated.retire_oldest();
        assert_eq!(rotated.verify(&value), Err(VerifyError::BadSignature));
        assert!(rotated.verify(&resigned).is_ok());
        assert!(rotated.retire_oldest().is_none(), "the signing key stays");
    }

    #[test]
    fn csrf_tokens_differ_from_tags_and_between_sessions() {
        let r = ring();
        let a = id();
        let b = SessionId::from_bytes([9; 16]);
        assert_ne!(r.csrf_token(&a), r.csrf_token(&b));
        assert!(!r.verify_csrf(&b, r.csrf_token(&a).as_str()));
        assert!(!r.sign(&a).to_string().contains(r.csrf_token(&a).as_str()));
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics(text: String) {
            let _ = ring().verify(&text);
            let _ = ring().verify_csrf(&id(), &text);
        }

        /// Values near the signed shape (a dot anywhere, lengths around
        /// 22) get the answer and the error of the general split.
        #[test]
        fn the_signed_shape_verifies_as_the_general_split_does(
            text in "[A-Za-z0-9_.-]{20,24}\\.?[A-Za-z0-9_.-]{20,24}",
            signed in proptest::prelude::any::<bool>(),
        ) {
            let ring = ring();
            let text = if signed { ring.sign(&id()).to_string() } else { text };
            let general = |value: &str| {
                let (id, presented) = split_general(value)?;
                ring.match_key(ID_LABEL, &id, &presented)
                    .map(|key_index| Verified { id, key_index })
                    .ok_or(VerifyError::BadSignature)
            };
            proptest::prop_assert_eq!(ring.verify(&text), general(&text));
        }
    }
}
