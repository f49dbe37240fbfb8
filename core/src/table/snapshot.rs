//! Whole-table snapshots: header, records, seal, CRC.
//!
//! Layout (little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SESH` |
//! | 1 | snapshot format version: [`SNAPSHOT_VERSION`] (plain) or [`SEALED_SNAPSHOT_VERSION`] |
//! | 8 | `saved_at`, the caller's clock when written |
//! | 4 | session count |
//! | … | per session: 16 id bytes, then a [`SessionRecord`] with its metadata (record version 2; version-1 records from older snapshots still restore, with no owner) |
//! | 16 | sealed snapshots only: the seal, HMAC-SHA256 (truncated) of everything before it |
//! | 4 | CRC-32 (IEEE) of everything before it |
//!
//! The CRC catches damage (a worn flash cell, a write cut short); anyone
//! can recompute it. The seal catches deliberate change: it is keyed with
//! a key derived from the signing key ("sesh/snapshot/v1"), so someone who
//! can write the flash but does not hold the key can neither edit a
//! session, nor move a record to another id (say, a logged-in session's
//! record to an id they hold a cookie for), nor forge a snapshot.

use core::fmt;

use serde::{Serialize, de::DeserializeOwned};

use super::{Slots, Table};
use crate::crc::crc32;
use crate::expiry::Deadlines;
use crate::owner::SessionMeta;
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
/// The format version of sealed snapshots
#[cfg_attr(feature = "signed", doc = "([`Table::write_sealed_snapshot`]):")]
#[cfg_attr(
    not(feature = "signed"),
    doc = "(`write_sealed_snapshot`, feature `signed`):"
)]
/// the plain layout with a seal before the CRC.
pub const SEALED_SNAPSHOT_VERSION: u8 = 2;
const HEADER_LEN: usize = 4 + 1 + 8 + 4;
const CRC_LEN: usize = 4;
#[cfg(feature = "signed")]
const SEAL_LEN: usize = crate::signing::SEAL_LEN;

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
    /// Written by a newer (or unknown) format version, or a sealed snapshot
    /// given to [`Table::restore_snapshot`] (restore it with
    #[cfg_attr(feature = "signed", doc = "[`Table::restore_sealed_snapshot`]).")]
    #[cfg_attr(
        not(feature = "signed"),
        doc = "`restore_sealed_snapshot`, feature `signed`)."
    )]
    UnsupportedVersion(u8),
    /// The CRC does not match: the bytes were damaged.
    Checksum,
    /// A plain snapshot (from [`Table::write_snapshot`], or written before
    /// sesh sealed snapshots) where a sealed one is required: refused,
    /// since anyone who can write the storage can make one.
    Unsealed,
    /// The seal does not verify: the snapshot was changed after it was
    /// sealed (a record edited or moved to another id, with the CRC made
    /// again), or sealed with a key that is not in the ring.
    BadSeal,
    /// A record does not decode.
    Record(DecodeError),
    /// More sessions than the table holds.
    TooMany,
    /// More live sessions with an owner, a label or a lifetime of their own
    /// than the table's metadata pool holds (a fixed table's `OWNED`).
    TooManyOwned,
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
            RestoreError::Unsealed => {
                f.write_str("the snapshot is not sealed (written without a key): refused")
            }
            RestoreError::BadSeal => f.write_str(
                "the snapshot's seal does not verify: it was changed, or sealed with another key",
            ),
            RestoreError::Record(e) => write!(f, "a snapshot record is bad: {e}"),
            RestoreError::TooMany => f.write_str("the snapshot holds more sessions than the table"),
            RestoreError::TooManyOwned => f.write_str(
                "the snapshot holds more sessions with an owner, label or lifetime than the table's metadata pool",
            ),
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

/// Which snapshots a restore accepts.
#[derive(Clone, Copy)]
enum Accept<'k, const K: usize> {
    /// Plain snapshots only ([`SNAPSHOT_VERSION`]).
    Plain,
    /// Sealed snapshots only, sealed by a key of this ring.
    #[cfg(feature = "signed")]
    Sealed(&'k crate::signing::KeyRing<K>),
    #[cfg(not(feature = "signed"))]
    #[allow(dead_code)] // only the signed build seals
    Sealed(core::marker::PhantomData<&'k ()>),
}

/// Checks the header, the CRC and (for a sealed snapshot) the seal, in
/// that order: damage reads as damage (`Checksum`), and only an intact
/// snapshot can fail its seal.
fn check<'b, const K: usize>(
    bytes: &'b [u8],
    accept: Accept<'_, K>,
) -> Result<Checked<'b>, RestoreError> {
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
    match (version, accept) {
        (SNAPSHOT_VERSION, Accept::Plain) | (SEALED_SNAPSHOT_VERSION, Accept::Sealed(_)) => {}
        (SNAPSHOT_VERSION, Accept::Sealed(_)) => return Err(RestoreError::Unsealed),
        _ => return Err(RestoreError::UnsupportedVersion(version)),
    }
    let stored_crc = u32::from_le_bytes(crc.try_into().map_err(|_| RestoreError::Truncated)?);
    if crc32(body) != stored_crc {
        return Err(RestoreError::Checksum);
    }
    #[cfg(feature = "signed")]
    if let Accept::Sealed(keys) = accept {
        let (sealed, seal) = cursor
            .split_last_chunk::<SEAL_LEN>()
            .ok_or(RestoreError::Truncated)?;
        let signed_len = body.len().saturating_sub(SEAL_LEN);
        let message = body.get(..signed_len).ok_or(RestoreError::Truncated)?;
        if !crate::signing::seal_matches(keys, message, seal) {
            return Err(RestoreError::BadSeal);
        }
        cursor = sealed;
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
type Restored<D> = (SessionId, SessionRecord<D>, Option<SessionMeta>);

fn next_record<D: DeserializeOwned>(cursor: &mut &[u8]) -> Result<Restored<D>, RestoreError> {
    let id = SessionId::from_bytes(take::<16>(cursor)?);
    let (record, meta, rest) =
        SessionRecord::decode_prefix(cursor).map_err(RestoreError::Record)?;
    *cursor = rest;
    Ok((id, record, meta))
}

/// Moves a past instant from the snapshot's clock to the current one.
fn rebase_past(at: Instant, saved_at: Instant, now: Instant) -> Instant {
    now.saturating_sub(saved_at.saturating_duration_since(at))
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
    ///
    /// ⚠️ A plain snapshot is checked for damage (CRC), not for tampering:
    /// anyone who can write where it is kept can edit it, or move a
    /// logged-in session's record to an id of their own. To persist
    /// sessions, use
    #[cfg_attr(
        feature = "signed",
        doc = "[`write_sealed_snapshot`](Self::write_sealed_snapshot)."
    )]
    #[cfg_attr(
        not(feature = "signed"),
        doc = "`write_sealed_snapshot` (feature `signed`)."
    )]
    pub fn write_snapshot(&self, buf: &mut [u8], now: Instant) -> Result<usize, SnapshotError>
    where
        S::Data: Serialize,
    {
        let mut w = self.write_records(buf, now, SNAPSHOT_VERSION)?;
        let crc = crc32(w.buf.get(..w.at).unwrap_or_default());
        w.put(&crc.to_le_bytes())?;
        Ok(w.at)
    }

    /// Writes every live session into `buf` as a sealed snapshot; returns
    /// the bytes used (16 more than [`write_snapshot`](Self::write_snapshot)).
    ///
    /// The seal is an HMAC of the whole snapshot under a key derived from
    /// the ring's signing key, so [`restore_sealed_snapshot`](Self::restore_sealed_snapshot)
    /// refuses a snapshot edited, rearranged or made without that key.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::signing::{Key, KeyRing};
    /// use sesh::{table::RestoreError, Instant, SessionTable};
    /// let keys = KeyRing::<2>::new(Key::new(&[7; 32])?);
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 42)?;
    /// let mut buf = [0u8; 256];
    /// let len = table.write_sealed_snapshot(&mut buf, Instant::ZERO, &keys)?;
    ///
    /// let mut after_reboot = SessionTable::<u32, 4>::new();
    /// after_reboot.restore_sealed_snapshot(&buf[..len], Instant::ZERO, &keys)?;
    /// assert_eq!(after_reboot.peek(&id, Instant::ZERO), Some(&42));
    ///
    /// // Another key (someone who can write the flash, without the secret):
    /// let theirs = KeyRing::<1>::new(Key::new(&[8; 32])?);
    /// let mut refused = SessionTable::<u32, 4>::new();
    /// let err = refused.restore_sealed_snapshot(&buf[..len], Instant::ZERO, &theirs);
    /// assert_eq!(err, Err(RestoreError::BadSeal));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[cfg(feature = "signed")]
    pub fn write_sealed_snapshot<const K: usize>(
        &self,
        buf: &mut [u8],
        now: Instant,
        keys: &crate::signing::KeyRing<K>,
    ) -> Result<usize, SnapshotError>
    where
        S::Data: Serialize,
    {
        let mut w = self.write_records(buf, now, SEALED_SNAPSHOT_VERSION)?;
        let seal = crate::signing::seal(keys, w.buf.get(..w.at).unwrap_or_default());
        w.put(&seal)?;
        let crc = crc32(w.buf.get(..w.at).unwrap_or_default());
        w.put(&crc.to_le_bytes())?;
        Ok(w.at)
    }

    /// The header and the records, for either format.
    fn write_records<'b>(
        &self,
        buf: &'b mut [u8],
        now: Instant,
        version: u8,
    ) -> Result<Writer<'b>, SnapshotError>
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
        w.put(&[version])?;
        w.put(&now.as_millis().to_le_bytes())?;
        w.put(&count.to_le_bytes())?;
        for entry in live() {
            w.put(entry.id.as_bytes())?;
            let record = SessionRecord {
                deadlines: entry.deadlines,
                protected: entry.protected,
                data: entry.data,
            };
            let used = record.encode_with_meta(entry.meta, w.rest())?.len();
            w.at =
                w.at.checked_add(used)
                    .ok_or(SnapshotError::BufferTooSmall)?;
        }
        Ok(w)
    }

    /// Restores a snapshot into this empty table; returns the sessions restored.
    ///
    /// **The reboot rule:** each session keeps the time it had left when the
    /// snapshot was written. Deadlines are moved from the snapshot's clock to
    /// `now`, so a monotonic clock that restarted at zero works, and the time
    /// the device was off does not count against sessions. They are then
    /// capped by the current policy (for a session with its own
    /// [`Lifetime`](crate::expiry::Lifetime), by that lifetime), so nothing
    /// lives longer than it allows from now, and sessions with no time left
    /// are dropped. Nothing becomes immortal. Owners, labels and lifetimes
    /// come back with their sessions; creation and last-use times move to the
    /// new clock as the deadlines do.
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
    ///
    /// ⚠️ This reads plain snapshots, which prove nothing about who wrote
    /// them; a device restores with
    #[cfg_attr(
        feature = "signed",
        doc = "[`restore_sealed_snapshot`](Self::restore_sealed_snapshot)."
    )]
    #[cfg_attr(
        not(feature = "signed"),
        doc = "`restore_sealed_snapshot` (feature `signed`)."
    )]
    pub fn restore_snapshot(&mut self, bytes: &[u8], now: Instant) -> Result<usize, RestoreError>
    where
        S::Data: DeserializeOwned,
    {
        self.restore_checked(bytes, now, Accept::<0>::Plain)
    }

    /// Restores a sealed snapshot ([`write_sealed_snapshot`](Self::write_sealed_snapshot))
    /// into this empty table; returns the sessions restored.
    ///
    /// As [`restore_snapshot`](Self::restore_snapshot) (the reboot rule, all
    /// or nothing), and the seal must verify under a key of `keys` (any of
    /// them, so a snapshot written before a key rotation still restores):
    /// a snapshot changed after it was sealed, or sealed with another key,
    /// is [`RestoreError::BadSeal`], and a plain one
    /// [`RestoreError::Unsealed`]. The table stays empty in every case.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::signing::{Key, KeyRing};
    /// use sesh::{table::RestoreError, Instant, SessionTable};
    /// let keys = KeyRing::<2>::new(Key::new(&[7; 32])?);
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.create(&mut rng, Instant::ZERO, 42)?;
    /// let mut buf = [0u8; 256];
    /// let len = table.write_snapshot(&mut buf, Instant::ZERO)?;
    /// let mut restored = SessionTable::<u32, 4>::new();
    /// let err = restored.restore_sealed_snapshot(&buf[..len], Instant::ZERO, &keys);
    /// assert_eq!(err, Err(RestoreError::Unsealed));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[cfg(feature = "signed")]
    pub fn restore_sealed_snapshot<const K: usize>(
        &mut self,
        bytes: &[u8],
        now: Instant,
        keys: &crate::signing::KeyRing<K>,
    ) -> Result<usize, RestoreError>
    where
        S::Data: DeserializeOwned,
    {
        let restored = self.restore_checked(bytes, now, Accept::Sealed(keys));
        match &restored {
            Ok(n) => debug!("snapshot: {} sessions restored", n),
            // A refused snapshot leaves the device without sessions: say why.
            Err(e) => warn!("snapshot refused: {}", e),
        }
        restored
    }

    fn restore_checked<const K: usize>(
        &mut self,
        bytes: &[u8],
        now: Instant,
        accept: Accept<'_, K>,
    ) -> Result<usize, RestoreError>
    where
        S::Data: DeserializeOwned,
    {
        if !self.is_empty() {
            return Err(RestoreError::NotEmpty);
        }
        let checked = check(bytes, accept)?;
        let fits = usize::try_from(checked.count).is_ok_and(|n| n <= self.capacity());
        if !fits {
            return Err(RestoreError::TooMany);
        }
        // Pass one: every record must decode, with nothing after the last
        // one, and the live ones whose metadata says something must fit the
        // metadata pool (none is dropped half-way through pass two).
        let mut cursor = checked.records;
        let mut owned = 0usize;
        for _ in 0..checked.count {
            let (_, record, meta) = next_record::<S::Data>(&mut cursor)?;
            if let Some(meta) = meta.filter(|m| !super::slots::says_nothing(m)) {
                let deadlines = self
                    .policy
                    .for_lifetime(meta.lifetime)
                    .clamp(rebase(record.deadlines, checked.saved_at, now), now);
                if !deadlines.is_expired(now) {
                    owned = owned.saturating_add(1);
                }
            }
        }
        if !cursor.is_empty() {
            return Err(RestoreError::TrailingBytes);
        }
        if owned > self.slots.meta_capacity() {
            return Err(RestoreError::TooManyOwned);
        }
        // Pass two: store them.
        let mut cursor = checked.records;
        let mut restored = 0usize;
        for _ in 0..checked.count {
            let (id, mut record, meta) = match next_record::<S::Data>(&mut cursor) {
                Ok(r) => r,
                Err(e) => return self.abandon(e),
            };
            record.deadlines = rebase(record.deadlines, checked.saved_at, now);
            // A version-1 record knows no times: they start at the restore.
            let meta = match meta {
                Some(mut meta) => {
                    meta.created = rebase_past(meta.created, checked.saved_at, now);
                    meta.last_seen = rebase_past(meta.last_seen, checked.saved_at, now);
                    meta
                }
                None => SessionMeta::new(now),
            };
            match self.insert_with_meta(id, record, meta, now) {
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

#[cfg(all(test, feature = "signed"))]
mod tests {
    use super::*;
    use crate::SessionTable;
    use crate::signing::{Key, KeyRing};
    use crate::test_rng::CountingRng;

    type Small = SessionTable<u32, 4>;

    fn protected(t: &Small, id: &SessionId) -> bool {
        t.iter().any(|(i, r)| i == *id && r.protected)
    }

    fn keys() -> KeyRing<2> {
        KeyRing::new(Key::new(&[7; 32]).unwrap())
    }

    /// Two sessions, the first protected; their ids.
    fn table() -> (Small, SessionId, SessionId) {
        let mut rng = CountingRng::default();
        let mut t = Small::new();
        let (admin, _) = t.create(&mut rng, Instant::ZERO, 1).unwrap();
        t.set_protected(&admin, Instant::ZERO, true).unwrap();
        let (guest, _) = t.create(&mut rng, Instant::ZERO, 2).unwrap();
        (t, admin, guest)
    }

    fn sealed(t: &Small) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 256];
        let len = t
            .write_sealed_snapshot(&mut buf, Instant::ZERO, &keys())
            .unwrap();
        buf[..len].to_vec()
    }

    /// Writes the CRC again after an edit, as an attacker can.
    fn fix_crc(bytes: &mut [u8]) {
        let body = bytes.len() - CRC_LEN;
        let crc = crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }

    fn restore(bytes: &[u8]) -> (Result<usize, RestoreError>, Small) {
        let mut t = Small::new();
        let outcome = t.restore_sealed_snapshot(bytes, Instant::ZERO, &keys());
        (outcome, t)
    }

    #[test]
    fn a_sealed_snapshot_round_trips_and_is_sixteen_bytes_longer() {
        let (t, admin, guest) = table();
        let bytes = sealed(&t);
        let mut plain = [0u8; 256];
        let plain_len = t.write_snapshot(&mut plain, Instant::ZERO).unwrap();
        assert_eq!(bytes.len(), plain_len + SEAL_LEN);
        assert_eq!(bytes[4], SEALED_SNAPSHOT_VERSION);
        let (outcome, restored) = restore(&bytes);
        assert_eq!(outcome, Ok(2));
        assert_eq!(restored.peek(&admin, Instant::ZERO), Some(&1));
        assert_eq!(restored.peek(&guest, Instant::ZERO), Some(&2));
        assert!(protected(&restored, &admin));
        // A rotated ring still reads it; a plain restore refuses it.
        let mut rotated = keys();
        rotated.rotate(Key::new(&[8; 32]).unwrap());
        let mut again = Small::new();
        assert_eq!(
            again.restore_sealed_snapshot(&bytes, Instant::ZERO, &rotated),
            Ok(2)
        );
        let mut plain_reader = Small::new();
        assert_eq!(
            plain_reader.restore_snapshot(&bytes, Instant::ZERO),
            Err(RestoreError::UnsupportedVersion(SEALED_SNAPSHOT_VERSION))
        );
    }

    /// Snapshots written before the `crc` and `hmac` crates replaced the
    /// hand-written CRC and HMAC (same table, saved at 5 s) still restore.
    #[test]
    fn snapshots_of_earlier_versions_restore() {
        let hex = |text: &str| -> std::vec::Vec<u8> {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
                .collect()
        };
        let records = "881300000000000002000000010102030405060709090a0b0c0d0e0f01c0ee6d80e8dd0d010102010203040506070a090a0b0c0d0e0f01c0ee6d80e8dd0d0002";
        let sealed = hex(&std::format!(
            "5345534802{records}972dc4c4799ca6090229528e7c637be67317c02c"
        ));
        let plain = hex(&std::format!("5345534801{records}059a3479"));
        let (_, admin, guest) = table();
        let at = Instant::from_millis(5000);
        let mut t = Small::new();
        assert_eq!(t.restore_sealed_snapshot(&sealed, at, &keys()), Ok(2));
        assert_eq!(t.peek(&admin, at), Some(&1));
        assert_eq!(t.peek(&guest, at), Some(&2));
        assert!(protected(&t, &admin));
        let mut t = Small::new();
        assert_eq!(t.restore_snapshot(&plain, at), Ok(2));
        assert_eq!(t.peek(&guest, at), Some(&2));
        // Version-1 records carry no metadata: no owner, the default
        // lifetime, and so no times kept (they read as zero).
        assert!(
            t.iter_with_meta()
                .all(|(_, _, m)| *m == SessionMeta::new(Instant::ZERO))
        );
    }

    #[test]
    fn a_record_moved_to_another_id_is_refused() {
        let (t, admin, guest) = table();
        let mut bytes = sealed(&t);
        // Swap the two ids: the admin's record now sits under the guest's id.
        let at = |id: &SessionId, bytes: &[u8]| {
            bytes.windows(16).position(|w| w == id.as_bytes()).unwrap()
        };
        let (a, g) = (at(&admin, &bytes), at(&guest, &bytes));
        bytes[a..a + 16].copy_from_slice(guest.as_bytes());
        bytes[g..g + 16].copy_from_slice(admin.as_bytes());
        fix_crc(&mut bytes);
        let (outcome, restored) = restore(&bytes);
        assert_eq!(outcome, Err(RestoreError::BadSeal));
        assert!(restored.is_empty());
        // The same edit without a seal check would have made the guest admin.
        let mut plain = Small::new();
        bytes[4] = SNAPSHOT_VERSION;
        let unsealed_len = bytes.len() - SEAL_LEN;
        let mut unsealed = bytes[..unsealed_len - CRC_LEN].to_vec();
        unsealed.extend_from_slice(&[0; CRC_LEN]);
        fix_crc(&mut unsealed);
        assert_eq!(plain.restore_snapshot(&unsealed, Instant::ZERO), Ok(2));
        assert!(protected(&plain, &guest));
    }

    #[test]
    fn any_edit_with_a_fixed_crc_is_refused_and_damage_is_a_checksum_error() {
        let (t, _, _) = table();
        let bytes = sealed(&t);
        for at in 0..bytes.len() - CRC_LEN {
            let mut edited = bytes.clone();
            edited[at] ^= 0x01;
            let (damaged, restored) = restore(&edited);
            assert!(damaged.is_err(), "byte {at}");
            assert!(restored.is_empty(), "byte {at}");
            fix_crc(&mut edited);
            let (forged, restored) = restore(&edited);
            assert!(
                matches!(
                    forged,
                    Err(RestoreError::BadSeal
                        | RestoreError::BadMagic
                        | RestoreError::Unsealed
                        | RestoreError::UnsupportedVersion(_))
                ),
                "byte {at}: {forged:?}"
            );
            assert!(restored.is_empty(), "byte {at}");
            if at > 4 {
                assert_eq!(forged, Err(RestoreError::BadSeal), "byte {at}");
            }
        }
        let mut damaged = bytes.clone();
        damaged[20] ^= 0x01;
        assert_eq!(restore(&damaged).0, Err(RestoreError::Checksum));
    }

    #[test]
    fn plain_snapshots_and_other_keys_are_refused() {
        let (t, _, _) = table();
        let mut buf = [0u8; 256];
        let len = t.write_snapshot(&mut buf, Instant::ZERO).unwrap();
        assert_eq!(restore(&buf[..len]).0, Err(RestoreError::Unsealed));
        let theirs = KeyRing::<1>::new(Key::new(&[9; 32]).unwrap());
        let len = t
            .write_sealed_snapshot(&mut buf, Instant::ZERO, &theirs)
            .unwrap();
        assert_eq!(restore(&buf[..len]).0, Err(RestoreError::BadSeal));
    }
}
