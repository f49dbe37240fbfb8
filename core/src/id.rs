//! Session ids: 128 random bits, shown as 22 base64url characters.

use core::fmt;
use core::hash::{Hash, Hasher};

use rand_core::TryCryptoRng;
use subtle::ConstantTimeEq;

use crate::base64::{self, Base64Error};
use crate::rng::{self, RngError};

/// A session id: 128 bits from a cryptographic RNG.
///
/// The bytes stay private: an id is made with [`SessionId::generate`] or read
/// back with [`SessionId::parse`], and shown only through [`SessionId::encode`].
/// Equality is constant-time, and `Debug` never prints the id, so logging a
/// value that holds one does not leak a live cookie.
///
/// ```
/// use sesh::SessionId;
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let id = SessionId::generate(&mut rng)?;
/// let text = id.encode();
/// assert_eq!(text.as_str().len(), 22);
/// assert_eq!(SessionId::parse(text.as_str()), Ok(id));
/// assert_eq!(format!("{id:?}"), "SessionId(..)");
/// # Ok::<(), sesh::RngError>(())
/// ```
#[derive(Clone, Copy)]
pub struct SessionId {
    bytes: [u8; 16],
}

/// Why text is not a session id.
///
/// ```
/// use sesh::{ParseIdError, SessionId};
/// let err = SessionId::parse("too-short").unwrap_err();
/// assert_eq!(err, ParseIdError::WrongLength);
/// assert_eq!(err.to_string(), "a session id has exactly 22 characters");
/// assert_eq!(SessionId::parse("AAAAAAAAAAAAAAAAAAAAAB"), Err(ParseIdError::NonCanonical));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseIdError {
    /// Not exactly 22 characters.
    WrongLength,
    /// A character outside the base64url alphabet.
    InvalidCharacter,
    /// The last character carries bits beyond the 128th, so this is not the
    /// one encoding sesh would produce.
    NonCanonical,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseIdError::WrongLength => "a session id has exactly 22 characters",
            ParseIdError::InvalidCharacter => "a session id uses only base64url characters",
            ParseIdError::NonCanonical => "the session id's last character is not canonical",
        })
    }
}

impl core::error::Error for ParseIdError {}

impl From<Base64Error> for ParseIdError {
    fn from(e: Base64Error) -> Self {
        match e {
            Base64Error::Length => ParseIdError::WrongLength,
            Base64Error::Alphabet => ParseIdError::InvalidCharacter,
            Base64Error::NonCanonical => ParseIdError::NonCanonical,
        }
    }
}

/// A session id as text: 22 base64url characters, no allocation.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let text = sesh::SessionId::generate(&mut rng)?.encode();
/// assert!(text.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
/// # Ok::<(), sesh::RngError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncodedId {
    chars: [u8; base64::ENCODED_LEN],
}

impl EncodedId {
    /// The 22 characters.
    ///
    /// ```
    /// let id = sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA")?;
    /// assert_eq!(id.encode().as_str(), "AAAAAAAAAAAAAAAAAAAAAA");
    /// # Ok::<(), sesh::ParseIdError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored here.
        core::str::from_utf8(&self.chars).unwrap_or("")
    }
}

impl fmt::Display for EncodedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EncodedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodedId(..)")
    }
}

impl SessionId {
    /// Draws a new id from `rng`.
    ///
    /// An RNG failure is an error, never a weak id. Tables check a new id
    /// against the live ones; see [`SessionTable::create`](crate::SessionTable::create).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let a = sesh::SessionId::generate(&mut rng)?;
    /// let b = sesh::SessionId::generate(&mut rng)?;
    /// assert_ne!(a, b);
    /// # Ok::<(), sesh::RngError>(())
    /// ```
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<SessionId, RngError> {
        let mut bytes = [0u8; 16];
        rng::fill(rng, &mut bytes)?;
        Ok(SessionId { bytes })
    }

    /// Reads the 22-character form back.
    ///
    /// ```
    /// use sesh::{ParseIdError, SessionId};
    /// assert_eq!(SessionId::parse("abc"), Err(ParseIdError::WrongLength));
    /// assert_eq!(SessionId::parse("AAAAAAAAAAAAAAAAAAAA+A"), Err(ParseIdError::InvalidCharacter));
    /// assert!(SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").is_ok());
    /// ```
    pub fn parse(text: &str) -> Result<SessionId, ParseIdError> {
        Ok(SessionId {
            bytes: base64::decode16(text.as_bytes())?,
        })
    }

    /// The 22-character form that goes in a cookie.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// let id = sesh::SessionId::generate(&mut rng)?;
    /// assert_eq!(id.encode().to_string().len(), 22);
    /// # Ok::<(), sesh::RngError>(())
    /// ```
    pub fn encode(&self) -> EncodedId {
        EncodedId {
            chars: base64::encode16(&self.bytes),
        }
    }

    /// The raw bytes, for the crate's own MACs and records.
    pub(crate) const fn as_bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// Rebuilds an id from stored bytes.
    pub(crate) const fn from_bytes(bytes: [u8; 16]) -> SessionId {
        SessionId { bytes }
    }

    /// A 64-bit value for hash tables.
    ///
    /// Ids are uniformly random and every stored id was drawn by the server,
    /// so their first eight bytes are already a good hash.
    pub(crate) fn hash_word(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.bytes;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }
}

impl ConstantTimeEq for SessionId {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.bytes.ct_eq(&other.bytes)
    }
}

impl PartialEq for SessionId {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SessionId {}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_word());
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for SessionId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "SessionId(..)")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for EncodedId {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "EncodedId(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::{CountingRng, FailingRng};

    #[test]
    fn rng_failure_is_an_error() {
        assert_eq!(SessionId::generate(&mut FailingRng), Err(RngError));
    }

    #[test]
    fn parse_inverts_encode() {
        let id = SessionId::generate(&mut CountingRng::default()).unwrap();
        assert_eq!(SessionId::parse(id.encode().as_str()), Ok(id));
    }

    #[test]
    fn debug_hides_the_id() {
        let id = SessionId::generate(&mut CountingRng::default()).unwrap();
        let shown = std::format!("{id:?} {:?}", id.encode());
        assert!(!shown.contains(id.encode().as_str()));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text: String) {
            let _ = SessionId::parse(&text);
        }
    }
}
