//! Whole-table snapshots: header, records, CRC.
//!
//! Layout (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SESH` |
//! | 1 | snapshot format version ([`SNAPSHOT_VERSION`]) |
//! | 8 | `saved_at`, the caller's clock when written |
//! | 4 | session count |
//! | … | per session: 16 id bytes, then a [`SessionRecord`] |
//! | 4 | CRC-32 (IEEE) of everything before it |

use core::fmt;

use serde::{Serialize, de::DeserializeOwned};

use super::{Slots, Table};
use crate::crc::crc32;
use crate::expiry::Deadlines;
use crate::record::{DecodeError, EncodeError, SessionRecord};
use crate::{Instant, SessionId};

const MAGIC: [u8; 4] = *b"SESH";
/// The snapshot format version this build writes and reads.
///
/// ```
/// use sesh::{table::SNAPSHOT_VERSION, Instant, SessionTable};
/// let mut buf = [0u8; 64];
/// let len = SessionTable::<u32, 4>::new().write_snapshot(&mut buf, Instant::ZERO).unwrap();
/// assert_eq!(len, 21); // header and CRC, no sessions
/// assert_eq!((&buf[..4], buf[4]), (&b"SESH"[..], SNAPSHOT_VERSION));
/// ```
pub const SNAPSHOT_VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 8 + 4;
const CRC_LEN: usize = 4;

/// Why a snapshot could not be written.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{table::SnapshotError, Instant, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// table.create(&mut rng, Instant::ZERO, 7).unwrap();
/// let err = table.write_snapshot(&mut [0u8; 16], Instant::ZERO).unwrap_err();
/// assert_eq!(err, SnapshotError::BufferTooSmall);
/// assert_eq!(err.to_string(), "the buffer is too small for the snapshot");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SnapshotError {
    /// The buffer is too small for every live session.
    BufferTooSmall,
    /// A session's data could not be serialized.
    Serialize,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnapshotError::BufferTooSmall => "the buffer is too small for the snapshot",
            SnapshotError::Serialize => "a session's data could not be serialized",
        })
    }
}

impl core::error::Error for SnapshotError {}

impl From<EncodeError> for SnapshotError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::BufferTooSmall => SnapshotError::BufferTooSmall,
            EncodeError::Serialize => SnapshotError::Serialize,
        }
    }
}

/// Why a snapshot was not restored. The table is left empty in every case:
/// never half-restored.
///
/// ```
/// use sesh::{table::RestoreError, Instant, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// let err = table.restore_snapshot(b"not a snapshot at all", Instant::ZERO).unwrap_err();
/// assert_eq!(err, RestoreError::BadMagic);
/// assert_eq!(err.to_string(), "not a sesh snapshot");
/// assert_eq!(table.restore_snapshot(b"SESH", Instant::ZERO), Err(RestoreError::Truncated));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestoreError {
    /// Restore needs an empty table.
    NotEmpty,
    /// Shorter than a header and checksum, or cut off inside a record.
    Truncated,
    /// Not a sesh snapshot.
    BadMagic,
    /// Written by a newer (or unknown) format version.
    UnsupportedVersion(u8),
    /// The CRC does not match: the bytes were damaged.
    Checksum,
    /// A record does not decode.
    Record(DecodeError),
    /// More sessions than the table holds.
    TooMany,
    /// Two records with one id.
    Duplicate,
    /// Bytes after the last record.
    TrailingBytes,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::NotEmpty => f.write_str("restore needs an empty table"),
            RestoreError::Truncated => f.write_str("the snapshot is truncated"),
            RestoreError::BadMagic => f.write_str("not a sesh snapshot"),
            RestoreError::UnsupportedVersion(v) => write!(f, "unsupported snapshot version {v}"),
            RestoreError::Checksum => f.write_str("the snapshot's checksum does not match"),
            RestoreError::Record(e) => write!(f, "a snapshot record is bad: {e}"),
            RestoreError::TooMany => f.write_str("the snapshot holds more sessions than the table"),
            RestoreError::Duplicate => f.write_str("the snapshot holds one id twice"),
            RestoreError::TrailingBytes => {
                f.write_str("the snapshot has bytes after its last record")
            }
        }
    }
}

impl core::error::Error for RestoreError {}

/// A little cursor over a byte slice that never panics.
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(SnapshotError::BufferTooSmall)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(SnapshotError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    fn rest(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.at..).unwrap_or_default()
    }
}

fn take<const L: usize>(bytes: &mut &[u8]) -> Result<[u8; L], RestoreError> {
    let (head, rest) = bytes
        .split_first_chunk::<L>()
        .ok_or(RestoreError::Truncated)?;
    *bytes = rest;
    Ok(*head)
}

/// A snapshot whose header and CRC checked out: its clock and its records.
struct Checked<'b> {
    saved_at: Instant,
    count: u32,
    records: &'b [u8],
}

fn check(bytes: &[u8]) -> Result<Checked<'_>, RestoreError> {
    let body_len = bytes
        .len()
        .checked_sub(CRC_LEN)
        .ok_or(RestoreError::Truncated)?;
    let (body, crc) = bytes
        .split_at_checked(body_len)
        .ok_or(RestoreError::Truncated)?;
    if body.len() < HEADER_LEN {
        return Err(RestoreError::Truncated);
    }
    let mut cursor = body;
    if take::<4>(&mut cursor)? != MAGIC {
        return Err(RestoreError::BadMagic);
    }
    let [version] = take::<1>(&mut cursor)?;
    if version != SNAPSHOT_VERSION {
        return Err(RestoreError::UnsupportedVersion(version));
    }
    let stored_crc = u32::from_le_bytes(crc.try_into().map_err(|_| RestoreError::Truncated)?);
    if crc32(0, body) != stored_crc {
        return Err(RestoreError::Checksum);
    }
    let saved_at = Instant::from_millis(u64::from_le_bytes(take::<8>(&mut cursor)?));
    let count = u32::from_le_bytes(take::<4>(&mut cursor)?);
    Ok(Checked {
        saved_at,
        count,
        records: cursor,
    })
}

/// Reads the next id and record.
fn next_record<D: DeserializeOwned>(
    cursor: &mut &[u8],
) -> Result<(SessionId, SessionRecord<D>), RestoreError> {
    let id = SessionId::from_bytes(take::<16>(cursor)?);
    let (record, rest) = SessionRecord::decode_prefix(cursor).map_err(RestoreError::Record)?;
    *cursor = rest;
    Ok((id, record))
}

/// Moves deadlines from the snapshot's clock to the current one, keeping the
/// time each session had left when it was saved.
fn rebase(deadlines: Deadlines, saved_at: Instant, now: Instant) -> Deadlines {
    Deadlines {
        idle: now.saturating_add(deadlines.idle.saturating_duration_since(saved_at)),
        absolute: now.saturating_add(deadlines.absolute.saturating_duration_since(saved_at)),
    }
}

impl<S: Slots> Table<S> {
    /// Writes every live session into `buf`; returns the bytes used.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 42).unwrap();
    /// let mut buf = [0u8; 256];
    /// let len = table.write_snapshot(&mut buf, Instant::ZERO).unwrap();
    ///
    /// let mut after_reboot = SessionTable::<u32, 4>::new();
    /// after_reboot.restore_snapshot(&buf[..len], Instant::ZERO).unwrap();
    /// assert_eq!(after_reboot.peek(&id, Instant::ZERO), Some(&42));
    /// ```
    pub fn write_snapshot(&self, buf: &mut [u8], now: Instant) -> Result<usize, SnapshotError>
    where
        S::Data: Serialize,
    {
        let live = || {
            self.slots
                .entries()
                .filter(|e| !e.deadlines.is_expired(now))
        };
        let count = u32::try_from(live().count()).map_err(|_| SnapshotError::BufferTooSmall)?;
        let mut w = Writer { buf, at: 0 };
        w.put(&MAGIC)?;
        w.put(&[SNAPSHOT_VERSION])?;
        w.put(&now.as_millis().to_le_bytes())?;
        w.put(&count.to_le_bytes())?;
        for entry in live() {
            w.put(entry.id.as_bytes())?;
            let record = SessionRecord {
                deadlines: entry.deadlines,
                protected: entry.protected,
                data: &entry.data,
            };
            let used = record.encode(w.rest())?.len();
            w.at =
                w.at.checked_add(used)
                    .ok_or(SnapshotError::BufferTooSmall)?;
        }
        let crc = crc32(0, w.buf.get(..w.at).unwrap_or_default());
        w.put(&crc.to_le_bytes())?;
        Ok(w.at)
    }

    /// Restores a snapshot into this empty table; returns the sessions restored.
    ///
    /// **The reboot rule:** each session keeps the time it had left when the
    /// snapshot was written. Deadlines are moved from the snapshot's clock to
    /// `now`, so a monotonic clock that restarted at zero works, and the time
    /// the device was off does not count against sessions. They are then
    /// capped by the current policy, so nothing lives longer than the policy
    /// allows from now, and sessions with no time left are dropped. Nothing
    /// becomes immortal.
    ///
    /// The whole snapshot is checked (CRC, every record, count, trailing
    /// bytes) before the table is touched; on any error the table is left
    /// empty.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.create(&mut rng, Instant::from_secs(1_000), 7).unwrap();
    /// let mut buf = [0u8; 128];
    /// let len = table.write_snapshot(&mut buf, Instant::from_secs(1_060)).unwrap();
    ///
    /// // After a reboot the clock restarts at zero; the session keeps its 29 minutes.
    /// let mut restored = SessionTable::<u32, 4>::new();
    /// assert_eq!(restored.restore_snapshot(&buf[..len], Instant::ZERO), Ok(1));
    /// assert_eq!(restored.next_expiry(), Some(Instant::ZERO + Duration::from_mins(29)));
    /// ```
    pub fn restore_snapshot(&mut self, bytes: &[u8], now: Instant) -> Result<usize, RestoreError>
    where
        S::Data: DeserializeOwned,
    {
        if !self.is_empty() {
            return Err(RestoreError::NotEmpty);
        }
        let checked = check(bytes)?;
        let fits = usize::try_from(checked.count).is_ok_and(|n| n <= self.capacity());
        if !fits {
            return Err(RestoreError::TooMany);
        }
        // Pass one: every record must decode, with nothing after the last one.
        let mut cursor = checked.records;
        for _ in 0..checked.count {
            next_record::<S::Data>(&mut cursor)?;
        }
        if !cursor.is_empty() {
            return Err(RestoreError::TrailingBytes);
        }
        // Pass two: store them.
        let mut cursor = checked.records;
        let mut restored = 0usize;
        for _ in 0..checked.count {
            let (id, mut record) = match next_record::<S::Data>(&mut cursor) {
                Ok(r) => r,
                Err(e) => return self.abandon(e),
            };
            record.deadlines = rebase(record.deadlines, checked.saved_at, now);
            match self.insert(id, record, now) {
                Ok(_) => restored = restored.saturating_add(1),
                Err(super::InsertError::Expired(_)) => {}
                Err(super::InsertError::Exists(_)) => return self.abandon(RestoreError::Duplicate),
                Err(super::InsertError::Full(_)) => return self.abandon(RestoreError::TooMany),
            }
        }
        Ok(restored)
    }

    fn abandon(&mut self, error: RestoreError) -> Result<usize, RestoreError> {
        self.clear();
        Err(error)
    }
}
