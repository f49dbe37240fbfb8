//! The one session-record encoding every store shares: flash, redb and Redis.

use core::fmt;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::expiry::Deadlines;
use crate::owner::SessionMeta;

/// The newest schema version, written as the first byte of a record with
/// session metadata ([`SessionRecord::encode_with_meta`]): the version-1
/// body followed by a [`SessionMeta`] (5 bytes without owner or label, at
/// most [`MAX_META_LEN`](crate::owner::MAX_META_LEN)).
///
/// ```
/// use sesh::record::{DecodeError, SessionRecord, RECORD_VERSION};
/// let newer = [RECORD_VERSION + 1];
/// assert_eq!(SessionRecord::<u32>::decode(&newer), Err(DecodeError::UnknownVersion(3)));
/// ```
pub const RECORD_VERSION: u8 = 2;

/// The version of a record without metadata, as [`SessionRecord::encode`]
/// writes it (and every record before version 2 was). It decodes with no
/// owner and the default lifetime.
pub const RECORD_VERSION_WITHOUT_META: u8 = 1;

/// One session as stored: its deadlines, its protected flag and its data.
///
/// Encoded as one schema-version byte followed by the postcard encoding of
/// this struct. The id is *not* inside: stores key records by the id (the host
/// stores by a keyed hash of it, so a leaked database hands out no cookies),
/// and snapshots write it in front of each record.
///
/// Deadlines rather than creation and last-use times are stored; they carry
/// the same information for a given policy, and survive a clock that
/// restarts at zero (see [`Deadlines`]).
///
/// ```
/// use sesh::{record::SessionRecord, ExpiryPolicy, Instant};
/// let record = SessionRecord { deadlines: ExpiryPolicy::new().start(Instant::ZERO), protected: true, data: 7u32 };
/// let mut buf = [0u8; 32];
/// let bytes = record.encode(&mut buf)?;
/// assert_eq!(bytes[0], sesh::record::RECORD_VERSION_WITHOUT_META);
/// assert_eq!(SessionRecord::<u32>::decode(bytes)?, record);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionRecord<D> {
    /// When the session expires.
    pub deadlines: Deadlines,
    /// Logged in: never evicted to make room.
    pub protected: bool,
    /// The application's data.
    pub data: D,
}

/// Why a record could not be encoded.
///
/// ```
/// use sesh::{record::{EncodeError, SessionRecord}, ExpiryPolicy, Instant};
/// let deadlines = ExpiryPolicy::new().start(Instant::ZERO);
/// let record = SessionRecord { deadlines, protected: false, data: [0u8; 32] };
/// let err = record.encode(&mut [0u8; 16]).unwrap_err();
/// assert_eq!(err, EncodeError::BufferTooSmall);
/// assert_eq!(err.to_string(), "the buffer is too small for the session record");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The buffer is too small for the record.
    BufferTooSmall,
    /// The data's `Serialize` implementation failed.
    Serialize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "the buffer is too small for the session record",
            EncodeError::Serialize => "the session data could not be serialized",
        })
    }
}

impl core::error::Error for EncodeError {}

/// Why stored bytes are not a record.
///
/// ```
/// use sesh::record::{DecodeError, SessionRecord, RECORD_VERSION};
/// let err = SessionRecord::<u32>::decode(&[]).unwrap_err();
/// assert_eq!(err, DecodeError::Empty);
/// assert_eq!(err.to_string(), "the session record is empty");
/// assert_eq!(SessionRecord::<u32>::decode(&[RECORD_VERSION]), Err(DecodeError::Corrupt));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// No bytes at all.
    Empty,
    /// A schema version this build does not know (a newer writer, or garbage).
    UnknownVersion(u8),
    /// The bytes do not decode as a record of this data type.
    Corrupt,
    /// Bytes are left over after the record.
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("the session record is empty"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown session record version {v}"),
            DecodeError::Corrupt => f.write_str("the session record is corrupt"),
            DecodeError::TrailingBytes => f.write_str("the session record has trailing bytes"),
        }
    }
}

impl core::error::Error for DecodeError {}

impl<D: Serialize> SessionRecord<D> {
    /// Encodes into `buf`, returning the bytes written.
    ///
    /// ```
    /// use sesh::{record::SessionRecord, ExpiryPolicy, Instant};
    /// let deadlines = ExpiryPolicy::new().start(Instant::ZERO);
    /// let record = SessionRecord { deadlines, protected: false, data: 1u8 };
    /// let mut buf = [0u8; 32];
    /// let bytes = record.encode(&mut buf)?;
    /// assert!(bytes.len() < 32);
    /// assert_eq!(SessionRecord::decode(bytes), Ok(record));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], EncodeError> {
        let (version, body) = buf.split_first_mut().ok_or(EncodeError::BufferTooSmall)?;
        *version = RECORD_VERSION_WITHOUT_META;
        let used = postcard::to_slice(self, body).map_err(encode_error)?.len();
        buf.get_mut(..=used).ok_or(EncodeError::BufferTooSmall)
    }

    /// Encodes with the session's metadata (version [`RECORD_VERSION`]),
    /// returning the bytes written.
    ///
    /// ```
    /// use sesh::{owner::{SessionMeta, UserId}, record::SessionRecord, ExpiryPolicy, Instant};
    /// let record = SessionRecord { deadlines: ExpiryPolicy::new().start(Instant::ZERO), protected: true, data: 1u8 };
    /// let meta = SessionMeta { owner: Some(UserId::new(b"alice")?), ..SessionMeta::new(Instant::ZERO) };
    /// let mut buf = [0u8; 64];
    /// let bytes = record.encode_with_meta(&meta, &mut buf)?;
    /// assert_eq!(SessionRecord::decode_with_meta(bytes)?, (record, Some(meta)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_with_meta<'b>(
        &self,
        meta: &SessionMeta,
        buf: &'b mut [u8],
    ) -> Result<&'b mut [u8], EncodeError> {
        let (version, body) = buf.split_first_mut().ok_or(EncodeError::BufferTooSmall)?;
        *version = RECORD_VERSION;
        let first = postcard::to_slice(self, body).map_err(encode_error)?.len();
        let rest = body.get_mut(first..).ok_or(EncodeError::BufferTooSmall)?;
        let second = postcard::to_slice(meta, rest).map_err(encode_error)?.len();
        let used = first
            .checked_add(second)
            .ok_or(EncodeError::BufferTooSmall)?;
        buf.get_mut(..=used).ok_or(EncodeError::BufferTooSmall)
    }

    /// Encodes into a new vector.
    ///
    /// ```
    /// use sesh::{record::SessionRecord, ExpiryPolicy, Instant};
    /// let deadlines = ExpiryPolicy::new().start(Instant::ZERO);
    /// let record = SessionRecord { deadlines, protected: true, data: 1u8 };
    /// let bytes = record.to_vec()?;
    /// let mut buf = [0u8; 32];
    /// assert_eq!(bytes, record.encode(&mut buf)?); // the same bytes as `encode`
    /// # Ok::<(), sesh::record::EncodeError>(())
    /// ```
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        let out = alloc::vec![RECORD_VERSION_WITHOUT_META];
        postcard::to_extend(self, out).map_err(encode_error)
    }

    /// Encodes with metadata into a new vector: the bytes of
    /// [`encode_with_meta`](Self::encode_with_meta).
    #[cfg(feature = "alloc")]
    pub fn to_vec_with_meta(&self, meta: &SessionMeta) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        let out = alloc::vec![RECORD_VERSION];
        let out = postcard::to_extend(self, out).map_err(encode_error)?;
        postcard::to_extend(meta, out).map_err(encode_error)
    }
}

impl<D: DeserializeOwned> SessionRecord<D> {
    /// Decodes a whole record; any other bytes are an error, never a panic.
    ///
    /// ```
    /// use sesh::record::{DecodeError, SessionRecord};
    /// # use sesh::{ExpiryPolicy, Instant};
    /// # let record = SessionRecord { deadlines: ExpiryPolicy::new().start(Instant::ZERO), protected: false, data: 5u16 };
    /// let mut buf = [0u8; 32];
    /// let len = record.encode(&mut buf)?.len();
    /// assert_eq!(SessionRecord::<u16>::decode(&buf[..len]), Ok(record));
    /// assert_eq!(SessionRecord::<u16>::decode(&buf[..len + 1]), Err(DecodeError::TrailingBytes));
    /// # Ok::<(), sesh::record::EncodeError>(())
    /// ```
    ///
    /// Reads both versions; a version-2 record's metadata is checked and
    /// dropped (a store that rewrites records keeps it with
    /// [`decode_with_meta`](Self::decode_with_meta)).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_meta(bytes).map(|(record, _)| record)
    }

    /// Decodes a whole record of either version, with its metadata: `None`
    /// for a version-1 record (no owner, default lifetime, times unknown).
    pub fn decode_with_meta(bytes: &[u8]) -> Result<(Self, Option<SessionMeta>), DecodeError> {
        let (record, meta, rest) = Self::decode_prefix(bytes)?;
        if rest.is_empty() {
            Ok((record, meta))
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    /// Decodes a record at the start of `bytes`, returning the rest.
    pub(crate) fn decode_prefix(
        bytes: &[u8],
    ) -> Result<(Self, Option<SessionMeta>, &[u8]), DecodeError> {
        let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        let with_meta = match version {
            RECORD_VERSION_WITHOUT_META => false,
            RECORD_VERSION => true,
            _ => return Err(DecodeError::UnknownVersion(version)),
        };
        let (record, rest) = postcard::take_from_bytes(body).map_err(|_| DecodeError::Corrupt)?;
        if !with_meta {
            return Ok((record, None, rest));
        }
        let (meta, rest) = postcard::take_from_bytes(rest).map_err(|_| DecodeError::Corrupt)?;
        Ok((record, Some(meta), rest))
    }
}

fn encode_error(e: postcard::Error) -> EncodeError {
    match e {
        postcard::Error::SerializeBufferFull => EncodeError::BufferTooSmall,
        _ => EncodeError::Serialize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpiryPolicy, Instant};

    type Data = heapless::String<16>;

    fn record() -> SessionRecord<Data> {
        SessionRecord {
            deadlines: ExpiryPolicy::new().start(Instant::from_secs(10)),
            protected: false,
            data: Data::try_from("hello").unwrap(),
        }
    }

    #[test]
    fn round_trips_and_rejects_neighbours() {
        let mut buf = [0u8; 64];
        let bytes = record().encode(&mut buf).unwrap().to_vec();
        assert_eq!(SessionRecord::<Data>::decode(&bytes), Ok(record()));
        assert_eq!(SessionRecord::<Data>::decode(&[]), Err(DecodeError::Empty));
        let mut future = bytes.clone();
        future[0] = 3;
        assert_eq!(
            SessionRecord::<Data>::decode(&future),
            Err(DecodeError::UnknownVersion(3))
        );
        for cut in 1..bytes.len() {
            assert!(
                SessionRecord::<Data>::decode(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            SessionRecord::<Data>::decode(&long),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn small_buffers_are_errors() {
        for len in 0..8 {
            let mut buf = std::vec![0u8; len];
            assert_eq!(
                record().encode(&mut buf).err(),
                Some(EncodeError::BufferTooSmall)
            );
        }
    }

    /// Bytes written by version 1 (before metadata) still decode, with no
    /// metadata; the record's deadlines at 10 s were 30 min and 8 h later.
    #[test]
    fn version_one_bytes_decode() {
        let v1 = [
            1u8, 208, 188, 110, 144, 182, 222, 13, 0, 5, b'h', b'e', b'l', b'l', b'o',
        ];
        let mut buf = [0u8; 64];
        let written = record().encode(&mut buf).unwrap().to_vec();
        assert_eq!(written, v1, "version 1 encoding changed");
        assert_eq!(
            SessionRecord::<Data>::decode_with_meta(&v1),
            Ok((record(), None))
        );
    }

    #[test]
    fn meta_round_trips_and_truncation_is_refused() {
        use crate::expiry::Lifetime;
        use crate::owner::{Label, UserId};
        let meta = SessionMeta {
            owner: Some(UserId::new(&[9; 64]).unwrap()),
            label: Label::new("Firefox").unwrap(),
            created: Instant::from_secs(3),
            last_seen: Instant::from_secs(4),
            lifetime: Lifetime::REMEMBER_ME,
        };
        let mut buf = [0u8; 256];
        let bytes = record().encode_with_meta(&meta, &mut buf).unwrap().to_vec();
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(
            SessionRecord::<Data>::decode_with_meta(&bytes),
            Ok((record(), Some(meta.clone())))
        );
        assert_eq!(SessionRecord::<Data>::decode(&bytes), Ok(record()));
        for cut in 1..bytes.len() {
            assert!(SessionRecord::<Data>::decode(&bytes[..cut]).is_err());
        }
        for len in 0..bytes.len() {
            let mut small = std::vec![0u8; len];
            assert!(record().encode_with_meta(&meta, &mut small).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = SessionRecord::<Data>::decode(&bytes);
            let _ = SessionRecord::<(u64, bool, [u8; 4])>::decode(&bytes);
        }
    }
}
