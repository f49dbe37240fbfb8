//! Store keys: a keyed hash of the session id, so stored data hands out no cookies.

use hmac::{Hmac, KeyInit, Mac};
use sesh::SessionId;
use sesh::signing::{KeyError, MIN_KEY_LEN};
use sha2::Sha256;

/// Hashes session ids into store keys (HMAC-SHA256, 128 bits).
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
#[derive(Clone)]
pub struct StoreKey {
    mac: Hmac<Sha256>,
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
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|_| KeyError::TooShort)?;
        mac.update(b"sesh/store/v1");
        Ok(StoreKey { mac })
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
}
