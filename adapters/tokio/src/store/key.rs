//! Store keys and record tags: a keyed hash of the session id, so stored data
//! hands out no cookies, and a MAC that binds each stored record to its key.

use hmac::{Hmac, KeyInit, Mac};
use sesh::SessionId;
use sesh::signing::{KeyError, MIN_KEY_LEN};
use sha2::Sha256;

/// Derives the key of record tags from the secret, so that a record tag
/// and a store key (or a cookie tag, if the secret is also the signing
/// secret) are never made with the same key.
const BINDING_LABEL: &[u8] = b"sesh record binding v1";

/// Length of the tag [`StoreKey::seal`] appends: HMAC-SHA256 truncated to
/// 128 bits, as cookie tags.
pub const TAG_LEN: usize = 16;

/// Hashes session ids into store keys (HMAC-SHA256, 128 bits), and binds
/// each stored record to its key.
///
/// Persistent stores never write a raw id: a leaked database file, a backup
/// or a `KEYS *` on Redis lists only these hashes, which select nothing when
/// put in a cookie. Keep this secret as stable as the store itself (it is
/// separate from the cookie signing keys so that those can rotate); change
/// it and every stored session is orphaned.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let key = sesh_tokio::store::StoreKey::new(&[5; 32])?;
/// let id = sesh::SessionId::generate(&mut rng)?;
/// assert_eq!(key.hash(&id), key.hash(&id));
/// assert_ne!(key.hash(&id).as_slice(), id.encode().as_str().as_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **Records bound to their keys.** Someone who can write the database
/// (Redis reachable from elsewhere, a copy of the redb file) but does not
/// hold this secret must not be able to copy a logged-in session's record
/// onto the key of a session whose cookie they hold, nor edit a record.
/// So every record a store writes ends with a tag,
/// HMAC-SHA256(k, store key ‖ bytes) truncated to [`TAG_LEN`] bytes, where
/// `k` = HMAC-SHA256(secret, "sesh record binding v1"); and every read
/// checks it in constant time. A record moved to another key, edited, or
/// written without the secret (or by a sesh that did not tag records)
/// loads as absent.
///
/// ```
/// let key = sesh_tokio::store::StoreKey::new(&[5; 32])?;
/// let (mine, theirs) = ([1; 16], [2; 16]);
/// let mut value = b"a record".to_vec();
/// key.seal(&mine, &mut value);
/// assert_eq!(key.open(&mine, &value), Some(&b"a record"[..]));
/// assert_eq!(key.open(&theirs, &value), None); // moved to another key
/// value[0] ^= 1;
/// assert_eq!(key.open(&mine, &value), None); // edited
/// # Ok::<(), sesh::signing::KeyError>(())
/// ```
#[derive(Clone)]
pub struct StoreKey {
    mac: Hmac<Sha256>,
    binding: Hmac<Sha256>,
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// A key from `secret` (at least 32 random bytes).
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort);
        }
        let keyed =
            || <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| KeyError::TooShort);
        let mut mac = keyed()?;
        mac.update(b"sesh/store/v1");
        let mut derive = keyed()?;
        derive.update(BINDING_LABEL);
        let binding = <Hmac<Sha256> as KeyInit>::new_from_slice(&derive.finalize().into_bytes())
            .map_err(|_| KeyError::TooShort)?;
        Ok(StoreKey { mac, binding })
    }

    /// The store key for `id`.
    pub fn hash(&self, id: &SessionId) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(id.encode().as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.iter_mut().zip(digest.iter()).for_each(|(o, d)| *o = *d);
        out
    }

    /// The index key for the user `user`'s sessions: a keyed hash as for
    /// ids, so the index names no user. Ids hash as their base64 text,
    /// which never holds a NUL byte: the prefix keeps the two apart.
    pub fn hash_user(&self, user: &sesh::owner::UserId) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(b"\0sesh user\0");
        mac.update(user.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.iter_mut().zip(digest.iter()).for_each(|(o, d)| *o = *d);
        out
    }

    fn binding(&self, key: &[u8; 16], bytes: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.binding.clone();
        mac.update(key);
        mac.update(bytes);
        mac
    }

    /// Appends the tag that binds `value` to the store key `key` (a
    /// [`hash`](Self::hash)); [`open`](Self::open) checks it.
    pub fn seal(&self, key: &[u8; 16], value: &mut Vec<u8>) {
        let tag = self.binding(key, value).finalize().into_bytes();
        value.extend(tag.iter().take(TAG_LEN));
    }

    /// The bytes [`seal`](Self::seal) was given, if `value` ends with their
    /// tag for `key`; `None` for a value moved from another key, edited,
    /// or sealed with another secret (compared in constant time).
    pub fn open<'v>(&self, key: &[u8; 16], value: &'v [u8]) -> Option<&'v [u8]> {
        let (bytes, tag) = value.split_last_chunk::<TAG_LEN>()?;
        self.binding(key, bytes)
            .verify_truncated_left(tag)
            .is_ok()
            .then_some(bytes)
    }
}
