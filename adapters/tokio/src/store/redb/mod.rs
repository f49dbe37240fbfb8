//! Sessions in one redb file: no server, crash-safe transactions.

mod handle;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use sesh::owner::{DEFAULT_MAX_SESSIONS_PER_USER, DisplayTag, SessionInfo, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

use super::key::StoreKey;
use super::write_cache::WriteCache;
use super::{
    Created, DEFAULT_MAX_SESSIONS, Occupancy, Removed, Revoked, Saved, SessionStore, StoreError,
    StoreFuture, StoredSession,
};
use handle::{DatabaseHandle, Opener, is_io_failure};
use writer::{Batching, Context, Pending, Ran, Writer, echo};

/// Store key (16-byte keyed hash of the id) → version (8 bytes,
/// little-endian), the core record, and the tag that binds both to the
/// store key ([`StoreKey::seal`]).
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sesh_sessions_v2");
/// Expiry index: deadline (8 bytes, big-endian, so byte order is time order) + store key → ().
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sesh_expiry_v2");
/// The unprotected sessions in eviction order, keyed as [`EXPIRY`]: the
/// first is the one whose deadline comes first (see [`RedbStore`]).
const UNPROTECTED: TableDefinition<&[u8], ()> = TableDefinition::new("sesh_unprotected_v2");
/// Owner index: user hash ([`StoreKey::hash_user`], 16 bytes) + store key
/// → the session's display tag (8 bytes): a user's sessions are one range,
/// and the tag is there because the id is not.
const OWNERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sesh_owners_v2");

/// The tables of sesh before records carried a tag (dropped at open).
const SESSIONS_V1: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sesh_sessions_v1");
const EXPIRY_V1: TableDefinition<&[u8], ()> = TableDefinition::new("sesh_expiry_v1");

/// The most expired sessions a full store drops for one new session
/// (the sweeper drops the rest).
const PURGE_BATCH: usize = 256;
/// The most unprotected sessions a full store evicts for one new session:
/// one normally, more while it is over a bound that was lowered.
const EVICT_BATCH: usize = 64;

/// Sessions the write cache keeps by default ([`RedbStore::with_write_cache`]).
const DEFAULT_WRITE_CACHE: usize = 10_000;
/// Most writes one commit carries by default ([`RedbStore::with_max_batch`]).
const DEFAULT_MAX_BATCH: usize = 256;
/// How long the writer waits for more writes by default ([`RedbStore::with_batch_wait`]).
const DEFAULT_BATCH_WAIT: Duration = Duration::ZERO;

/// Sessions in a redb database file: the default store of the examples.
///
/// Every write is durable when it returns (redb's `Durability::Immediate`),
/// so a crash, even `SIGKILL` or power loss, keeps every answered write and
/// the file always opens. Writes that arrive together share one commit
/// (group commit, on a writer thread), so concurrent requests pay one fsync
/// between them. Ids are stored only as
/// keyed hashes ([`StoreKey`]). An expiry index makes
/// [`purge_expired`](SessionStore::purge_expired) proportional to what it
/// removes, and an owner index (user hash and store key → display tag,
/// written in the same transaction as the record) makes a user's sessions
/// one range: listing and revoking them cost what they cost, whatever else
/// the file holds. Listing is a write transaction, as it drops index
/// entries it finds stale. Reads run on tokio's blocking pool.
///
/// **Durable writes, and what they cost.** A returning client's update
/// ([`Session::update`](crate::Session::update)) starts from the store's
/// copy of the session's last commit when it has one
/// ([`with_write_cache`](Self::with_write_cache), 10,000 sessions by
/// default): no read transaction, no trip through the blocking pool. The
/// write then goes to the writer thread, which runs the writes waiting
/// together in one transaction, with the tables opened once, and commits
/// them with one fsync (redb's one-phase commit with checksums: the pages,
/// then the header, one `fdatasync`). Every write is answered only once
/// the commit holding it is on disk, and each fails on its own: a create
/// refused as [`StoreError::Full`] or a write that fails midway is left
/// out of the commit and the others of its batch still commit (only an
/// I/O error, which redb applies to the whole transaction, fails them
/// all). The knobs:
///
/// | setting | default | what it trades |
/// |---|---|---|
/// | [`with_write_cache`](Self::with_write_cache) | 10,000 | memory (about 200 B per session plus its data) for one read transaction per update; nothing in durability |
/// | [`with_max_batch`](Self::with_max_batch) | 256 | longer commits for fewer fsyncs under heavy load; nothing in durability |
/// | [`with_batch_wait`](Self::with_batch_wait) | none | latency (up to the wait, on every write) for fewer fsyncs; nothing in durability |
///
/// None of them weakens durability: at every setting a crash loses no
/// answered write, only writes still waiting for their commit, whose
/// callers have had no answer (an HTTP 500 or a dropped connection). On the
/// benchmark machine (2 cores, ext4, the counter with 32 connections,
/// issue 19) the cache halved the server's CPU per returning request, from
/// about 55 to 27 µs; a commit took 0.3–0.4 ms (about 18 page writes and
/// one `fdatasync`) and carried 10–20 writes; a wait of 0.1–0.3 ms did
/// not raise req/s and 1 ms lowered it, hence no wait by default.
///
/// **Records are bound to their keys**: each ends with a tag
/// ([`StoreKey::seal`]) checked on every read, so a record copied to
/// another key or edited in the file loads as absent, and is deleted and
/// logged. Files written by an earlier sesh (tables `sesh_sessions_v1`,
/// untagged) are not read: their sessions are dropped when the store
/// opens the file, with a warning, and their users sign in again.
///
/// **Bounded** ([`with_max_sessions`](Self::with_max_sessions), default
/// [`DEFAULT_MAX_SESSIONS`]): a new session that finds the store full
/// first drops expired sessions, then evicts the unprotected session whose
/// deadline comes first (the least recently used, to the precision of the
/// refresh: a session in use has its deadline moved on at least once per
/// refresh interval); a protected (logged-in) session is never evicted, and
/// when only protected sessions are left the new one is refused
/// ([`StoreError::Full`], 503). The count is redb's own table length,
/// kept in the same transaction as every write, so
/// [`occupancy`](SessionStore::occupancy) costs one read.
///
/// After an I/O error (disk full, a failing disk) redb refuses every later
/// transaction until the file is opened again. A store made by
/// [`open`](Self::open) or [`with_opener`](Self::with_opener) does that
/// itself: the failed requests answer 500, the writer thread opens the
/// file again, and the store works again once the cause is gone. What was
/// committed before stays intact.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sesh_tokio::store::{RedbStore, StoreKey};
/// let store = RedbStore::open("sessions.redb", StoreKey::new(&[5; 32])?).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<DatabaseHandle>,
    key: Arc<StoreKey>,
    writer: Arc<Writer>,
    cache: Arc<WriteCache>,
    batching: Arc<Batching>,
    max_sessions: usize,
    max_per_user: usize,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore(..)")
    }
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(Box::new(e.into()))
}

/// The stored bytes: version, the core's record encoding (version 2, with
/// the metadata), and the tag that binds them to `key`.
fn encode(
    keys: &StoreKey,
    key: &[u8; 16],
    version: u64,
    record: &SessionRecord<Vec<u8>>,
    meta: &SessionMeta,
) -> Result<Vec<u8>, StoreError> {
    let body = record
        .to_vec_with_meta(meta)
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut out = Vec::with_capacity(
        8usize
            .saturating_add(body.len())
            .saturating_add(super::TAG_LEN),
    );
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&body);
    keys.seal(key, &mut out);
    Ok(out)
}

/// Why stored bytes are not a session (never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// The tag does not bind them to this key: moved from another key,
    /// edited, written without the secret, or written by an older sesh.
    Unbound,
    /// Bound, but not a record this build reads.
    Undecodable,
}

impl Bad {
    fn log(self) {
        match self {
            Bad::Unbound => {
                tracing::warn!("session record not bound to its key (moved or edited) deleted")
            }
            Bad::Undecodable => tracing::warn!("undecodable session record deleted"),
        }
    }
}

/// Reads the bytes stored at `key`.
fn decode(keys: &StoreKey, key: &[u8; 16], bytes: &[u8]) -> Result<StoredSession, Bad> {
    let bytes = keys.open(key, bytes).ok_or(Bad::Unbound)?;
    let (version, body) = bytes.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (record, meta) =
        SessionRecord::<Vec<u8>>::decode_with_meta(body).map_err(|_| Bad::Undecodable)?;
    Ok(StoredSession {
        record,
        version: u64::from_le_bytes(*version),
        meta: meta.unwrap_or_default(),
    })
}

/// A display tag as the owner index stores it (its bytes).
fn stored_tag(bytes: &[u8; 8]) -> Option<DisplayTag> {
    use std::fmt::Write;
    let mut text = String::with_capacity(16);
    for b in bytes {
        write!(text, "{b:02x}").ok()?;
    }
    DisplayTag::parse(&text)
}

fn owner_key(user: &[u8; 16], key: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let (head, tail) = out.split_at_mut(16);
    head.copy_from_slice(user);
    tail.copy_from_slice(key);
    out
}

fn expiry_key(deadline: Instant, key: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    let (time, rest) = out.split_at_mut(8);
    time.copy_from_slice(&deadline.as_millis().to_be_bytes());
    rest.copy_from_slice(key);
    out
}

/// The tables a write uses, opened once per job.
struct Tables<'t> {
    sessions: Table<'t, &'static [u8], &'static [u8]>,
    expiry: Table<'t, &'static [u8], ()>,
    unprotected: Table<'t, &'static [u8], ()>,
    owners: Table<'t, &'static [u8], &'static [u8]>,
    keys: &'t StoreKey,
    cache: &'t WriteCache,
}

impl<'t> Tables<'t> {
    fn open(
        txn: &'t WriteTransaction,
        keys: &'t StoreKey,
        cache: &'t WriteCache,
    ) -> Result<Self, StoreError> {
        Ok(Tables {
            sessions: txn.open_table(SESSIONS).map_err(backend)?,
            expiry: txn.open_table(EXPIRY).map_err(backend)?,
            unprotected: txn.open_table(UNPROTECTED).map_err(backend)?,
            owners: txn.open_table(OWNERS).map_err(backend)?,
            keys,
            cache,
        })
    }

    /// Removes the record at `key` from the table and from the cache.
    fn drop_record(&mut self, key: &[u8; 16]) -> Result<(), StoreError> {
        self.cache.remove(key);
        self.sessions.remove(key.as_slice()).map_err(backend)?;
        Ok(())
    }

    /// What is stored at `key`, live or not; `None` when nothing is.
    fn stored(&self, key: &[u8; 16]) -> Result<Option<Result<StoredSession, Bad>>, StoreError> {
        Ok(self
            .sessions
            .get(key.as_slice())
            .map_err(backend)?
            .map(|v| decode(self.keys, key, v.value())))
    }

    /// The live session at `key`. Bytes that are not a session bound to
    /// `key` are deleted (their index entries, if any, go when purged).
    fn live(&mut self, key: &[u8; 16], now: Instant) -> Result<Option<StoredSession>, StoreError> {
        match self.stored(key)? {
            None => Ok(None),
            Some(Ok(stored)) => Ok((!stored.record.deadlines.is_expired(now)).then_some(stored)),
            Some(Err(bad)) => {
                bad.log();
                self.drop_record(key)?;
                Ok(None)
            }
        }
    }

    /// Removes `old`'s owner index entry, if it has an owner.
    fn unown(&mut self, key: &[u8; 16], old: &StoredSession) -> Result<(), StoreError> {
        if let Some(user) = &old.meta.owner {
            let entry = owner_key(&self.keys.hash_user(user), key);
            self.owners.remove(entry.as_slice()).map_err(backend)?;
        }
        Ok(())
    }

    /// Removes `old`'s expiry and eviction index entries.
    fn unindex(&mut self, key: &[u8; 16], old: &StoredSession) -> Result<(), StoreError> {
        let entry = expiry_key(old.record.deadlines.expires_at(), key);
        self.expiry.remove(entry.as_slice()).map_err(backend)?;
        if !old.record.protected {
            self.unprotected.remove(entry.as_slice()).map_err(backend)?;
        }
        Ok(())
    }

    /// Writes a record and its index entries, replacing `old`'s entries;
    /// `tag` is the session's display tag, for the owner index.
    fn put(
        &mut self,
        key: &[u8; 16],
        old: Option<&StoredSession>,
        version: u64,
        record: &SessionRecord<Vec<u8>>,
        meta: &SessionMeta,
        tag: &DisplayTag,
    ) -> Result<(), StoreError> {
        let bytes = encode(self.keys, key, version, record, meta)?;
        self.sessions
            .insert(key.as_slice(), bytes.as_slice())
            .map_err(backend)?;
        if old.is_none_or(|old| old.meta.owner != meta.owner) {
            if let Some(old) = old {
                self.unown(key, old)?;
            }
            if let Some(user) = &meta.owner {
                let entry = owner_key(&self.keys.hash_user(user), key);
                self.owners
                    .insert(entry.as_slice(), tag.as_bytes().as_slice())
                    .map_err(backend)?;
            }
        }
        // Most saves move neither the deadline (the refresh is throttled)
        // nor the flag: the index entries are still right.
        let same_place = old.is_some_and(|old| {
            old.record.deadlines.expires_at() == record.deadlines.expires_at()
                && old.record.protected == record.protected
        });
        if same_place {
            return Ok(());
        }
        if let Some(old) = old {
            self.unindex(key, old)?;
        }
        let entry = expiry_key(record.deadlines.expires_at(), key);
        self.expiry.insert(entry.as_slice(), ()).map_err(backend)?;
        if !record.protected {
            self.unprotected
                .insert(entry.as_slice(), ())
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Removes the record at `key` and its index entries; whether there was one.
    fn remove(&mut self, key: &[u8; 16]) -> Result<bool, StoreError> {
        self.cache.remove(key);
        let old = self
            .sessions
            .remove(key.as_slice())
            .map_err(backend)?
            .map(|v| decode(self.keys, key, v.value()));
        match old {
            Some(Ok(old)) => {
                self.unown(key, &old)?;
                self.unindex(key, &old).map(|()| true)
            }
            Some(Err(_)) => Ok(true),
            None => Ok(false),
        }
    }

    fn len(&self) -> Result<u64, StoreError> {
        self.sessions.len().map_err(backend)
    }

    /// Removes up to `limit` sessions expired at `now`, by the expiry
    /// index; returns how many records went.
    fn purge(&mut self, now: Instant, limit: usize) -> Result<usize, StoreError> {
        // Every entry whose deadline is at or before now (deadline `now` has expired).
        let end = expiry_key(now, &[0xff; 16]);
        let due: Vec<Vec<u8>> = self
            .expiry
            .range::<&[u8]>(..=end.as_slice())
            .map_err(backend)?
            .take(limit)
            .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut removed = 0usize;
        for entry in &due {
            self.expiry.remove(entry.as_slice()).map_err(backend)?;
            self.unprotected.remove(entry.as_slice()).map_err(backend)?;
            let Some(key) = entry.get(8..).and_then(|k| <&[u8; 16]>::try_from(k).ok()) else {
                continue;
            };
            // Only remove the record if it is not live: a newer one keeps
            // its own entries. A record that is no session goes too.
            let stale = match self.stored(key)? {
                None => false,
                Some(Ok(s)) if s.record.deadlines.is_expired(now) => {
                    self.unown(key, &s)?;
                    true
                }
                Some(Ok(_)) => false,
                Some(Err(_)) => true,
            };
            if stale {
                self.drop_record(key)?;
                removed = removed.saturating_add(1);
            }
        }
        Ok(removed)
    }

    /// Makes room for one more session under a bound of `max`: expired
    /// sessions first, then the unprotected ones in eviction order; never a
    /// protected one. [`StoreError::Full`] when only protected ones are left.
    fn make_room(&mut self, now: Instant, max: usize) -> Result<(), StoreError> {
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        if self.len()? < max {
            return Ok(());
        }
        self.purge(now, PURGE_BATCH)?;
        let mut evicted = 0usize;
        // Entries left behind by a deleted bad record are skipped; bound the
        // work of one create all the same.
        let mut looked = 0usize;
        while self.len()? >= max && evicted < EVICT_BATCH && looked < PURGE_BATCH {
            looked = looked.saturating_add(1);
            let Some(entry) = self
                .unprotected
                .pop_first()
                .map_err(backend)?
                .map(|(k, _)| k.value().to_vec())
            else {
                break;
            };
            let Some(key) = entry.get(8..).and_then(|k| <&[u8; 16]>::try_from(k).ok()) else {
                continue;
            };
            let victim = match self.stored(key)? {
                Some(Ok(s))
                    if !s.record.protected
                        && expiry_key(s.record.deadlines.expires_at(), key).as_slice()
                            == entry.as_slice() =>
                {
                    self.unown(key, &s)?;
                    true
                }
                Some(Ok(_)) | None => false,
                Some(Err(_)) => true,
            };
            if victim {
                self.expiry.remove(entry.as_slice()).map_err(backend)?;
                self.drop_record(key)?;
                evicted = evicted.saturating_add(1);
            }
        }
        if self.len()? >= max && evicted == 0 {
            return Err(StoreError::Full);
        }
        Ok(())
    }
}

impl Tables<'_> {
    /// `user`'s live sessions: (store key, display tag, session). Index
    /// entries whose session is gone, expired, no longer the user's or not
    /// a session are removed, with an expired or bad record.
    fn owned(
        &mut self,
        user: &UserId,
        now: Instant,
    ) -> Result<Vec<([u8; 16], DisplayTag, StoredSession)>, StoreError> {
        let hash = self.keys.hash_user(user);
        let (start, end) = (owner_key(&hash, &[0; 16]), owner_key(&hash, &[0xff; 16]));
        let entries: Vec<([u8; 16], [u8; 8])> = self
            .owners
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(backend)?
            .filter_map(|entry| {
                entry
                    .map(|(k, v)| {
                        let key = k
                            .value()
                            .get(16..)
                            .and_then(|k| <[u8; 16]>::try_from(k).ok());
                        let tag = <[u8; 8]>::try_from(v.value()).ok();
                        key.zip(tag)
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let mut live = Vec::with_capacity(entries.len());
        for (key, tag) in entries {
            let entry = owner_key(&hash, &key);
            match self.stored(&key)? {
                Some(Ok(s)) if s.meta.owner.as_ref() == Some(user) => {
                    if s.record.deadlines.is_expired(now) {
                        self.remove(&key)?;
                    } else if let Some(tag) = stored_tag(&tag) {
                        live.push((key, tag, s));
                        continue;
                    }
                }
                Some(Err(_)) => {
                    self.remove(&key)?;
                }
                Some(Ok(_)) | None => {}
            }
            self.owners.remove(entry.as_slice()).map_err(backend)?;
        }
        Ok(live)
    }

    /// Ends `user`'s least recently used sessions other than `keep` while
    /// they hold more than `max`.
    fn enforce_cap(
        &mut self,
        user: &UserId,
        keep: &[u8; 16],
        max: usize,
        now: Instant,
    ) -> Result<(), StoreError> {
        let mut owned = self.owned(user, now)?;
        owned.sort_by_key(|(_, _, s)| s.meta.last_seen);
        let mut over = owned.len().saturating_sub(max);
        for (key, _, _) in &owned {
            if over == 0 {
                break;
            }
            if key != keep {
                self.remove(key)?;
                over = over.saturating_sub(1);
            }
        }
        Ok(())
    }
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`, and opens it again
    /// after an I/O error.
    ///
    /// A new file is created with mode 0600 on Unix (redb alone would leave
    /// it to the umask, often 0644: every local user could read the
    /// sessions); an existing file readable by group or others is opened
    /// with a warning.
    pub async fn open(path: impl AsRef<Path>, key: StoreKey) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        Self::with_opener(
            move || {
                create_private(&path)
                    .map_err(|e| redb::DatabaseError::Storage(redb::StorageError::Io(e)))?;
                Database::create(&path)
            },
            key,
        )
        .await
    }

    /// Opens the database with `opener`, for example with builder settings
    /// or a custom `redb::StorageBackend`, and calls it again to open the
    /// database anew after an I/O error, so that the store recovers on its
    /// own once the cause (a full disk) is gone.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::store::{RedbStore, StoreKey};
    /// let opener = || redb::Database::builder().set_cache_size(16 << 20).create("sessions.redb");
    /// let store = RedbStore::with_opener(opener, StoreKey::new(&[5; 32])?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_opener(
        opener: impl Fn() -> Result<Database, redb::DatabaseError> + Send + Sync + 'static,
        key: StoreKey,
    ) -> Result<Self, StoreError> {
        let opener: Opener = Box::new(opener);
        let (opener, db) = tokio::task::spawn_blocking(move || {
            let db = opener();
            (opener, db)
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Self::start(DatabaseHandle::new(db.map_err(backend)?, Some(opener)), key).await
    }

    /// Uses a database the caller opened.
    ///
    /// ⚠️ The store cannot open it again: after an I/O error (disk full,
    /// read-only file) every request answers 500 until the process opens
    /// the database anew (the data already committed stays intact). Prefer
    /// [`with_opener`](Self::with_opener).
    pub async fn with_database(db: Database, key: StoreKey) -> Result<Self, StoreError> {
        Self::start(DatabaseHandle::new(db, None), key).await
    }

    /// Sets the most sessions the store holds (default
    /// [`DEFAULT_MAX_SESSIONS`]): a new session beyond it evicts the least
    /// recently used unprotected one, or is refused with
    /// [`StoreError::Full`] (503) when only protected sessions are left.
    /// Set it so that the file fits its disk: a session takes about 100
    /// bytes plus its data, twice over while redb rewrites pages.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::store::{RedbStore, StoreKey};
    /// let store = RedbStore::open("sessions.redb", StoreKey::new(&[5; 32])?)
    ///     .await?
    ///     .with_max_sessions(10_000);
    /// # Ok(()) }
    /// ```
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// The bound ([`with_max_sessions`](Self::with_max_sessions)).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Sets the most live sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one
    /// more ends their least recently used other session, in the same
    /// transaction.
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// The per-user cap ([`with_max_sessions_per_user`](Self::with_max_sessions_per_user)).
    pub fn max_sessions_per_user(&self) -> usize {
        self.max_per_user
    }

    /// Sets how many sessions the store remembers from its own commits
    /// (default 10,000; 0 turns the cache off).
    ///
    /// An update ([`Session::update`](crate::Session::update)) of a session
    /// in this cache starts from the remembered copy instead of a read
    /// transaction on tokio's blocking pool, and goes straight to the
    /// writer thread, whose compare-and-swap reads the stored record in the
    /// write transaction anyway. A copy is kept only once its commit is
    /// durable. A stale copy (another process wrote the file, possible only
    /// with a multi-process redb opened through
    /// [`with_opener`](Self::with_opener)) costs one retry: the save answers
    /// "conflict", and the update reads the file and runs again. No update
    /// is lost, and nothing is read from the cache outside updates. Memory:
    /// about 200 bytes per session plus its data. Applies to every clone of
    /// the store.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::store::{RedbStore, StoreKey};
    /// let store = RedbStore::open("sessions.redb", StoreKey::new(&[5; 32])?)
    ///     .await?
    ///     .with_write_cache(50_000);
    /// # Ok(()) }
    /// ```
    pub fn with_write_cache(self, sessions: usize) -> Self {
        self.cache.set_capacity(sessions);
        self
    }

    /// Sets the most writes one commit carries (default 256, at least 1).
    ///
    /// The writes waiting when the writer thread starts a commit share its
    /// transaction and its fsync (group commit), up to this many; the rest
    /// wait for the next commit. Every write is still answered only once
    /// the commit holding it is on disk, whatever the setting: it trades
    /// nothing away in durability. A larger batch pays one fsync for more
    /// writes; a smaller one bounds how long one commit takes. Applies to
    /// every clone of the store.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::store::{RedbStore, StoreKey};
    /// let store = RedbStore::open("sessions.redb", StoreKey::new(&[5; 32])?)
    ///     .await?
    ///     .with_max_batch(64);
    /// # Ok(()) }
    /// ```
    pub fn with_max_batch(self, writes: usize) -> Self {
        self.batching.set(writes, self.batching.wait());
        self
    }

    /// Sets how long the writer thread waits for more writes after the
    /// first of a batch, when no other is queued (default: no wait).
    ///
    /// A wait lets more writes share one fsync, and adds up to its length
    /// to every write's latency. It is no durability trade: a write is
    /// still answered only once its commit is on disk. Applies to every
    /// clone of the store.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use sesh_tokio::store::{RedbStore, StoreKey};
    /// let store = RedbStore::open("sessions.redb", StoreKey::new(&[5; 32])?)
    ///     .await?
    ///     .with_batch_wait(Duration::from_micros(200));
    /// # Ok(()) }
    /// ```
    pub fn with_batch_wait(self, wait: Duration) -> Self {
        self.batching.set(self.batching.max_batch(), wait);
        self
    }

    async fn start(db: DatabaseHandle, key: StoreKey) -> Result<Self, StoreError> {
        // Create the tables up front so that read transactions find them,
        // and drop those of an older sesh, whose records carry no tag.
        let (db, dropped) = tokio::task::spawn_blocking(move || {
            let dropped = db.get().and_then(|db| prepare(&db));
            (db, dropped)
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let dropped = dropped?;
        let db = Arc::new(db);
        let key = Arc::new(key);
        let cache = Arc::new(WriteCache::new(DEFAULT_WRITE_CACHE));
        let batching = Arc::new(Batching::new(DEFAULT_MAX_BATCH, DEFAULT_BATCH_WAIT));
        let writer = Writer::spawn(Context {
            db: db.clone(),
            keys: key.clone(),
            cache: cache.clone(),
            batching: batching.clone(),
        })?;
        let store = RedbStore {
            db,
            key,
            writer: Arc::new(writer),
            cache,
            batching,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        };
        if dropped > 0 {
            tracing::warn!(
                sessions = dropped,
                "dropped the sessions an older sesh stored without binding tags: their users sign in again"
            );
        }
        Ok(store)
    }

    /// Runs `work` (a read) on tokio's blocking pool. A read that finds the
    /// database closed (a reopen failed earlier) first has the writer
    /// thread open it; one that fails on an I/O error has it reopened for
    /// the next call.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = match self.db.get() {
            Ok(db) => db,
            Err(_) if self.db.can_reopen() => {
                self.reopen().await;
                self.db.get()?
            }
            Err(e) => return Err(e),
        };
        let out = tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        if out.as_ref().err().is_some_and(is_io_failure) && self.db.can_reopen() {
            self.reopen().await;
        }
        out
    }

    /// An empty write: the writer thread opens a closed database before a
    /// batch, and a failed one after it.
    async fn reopen(&self) {
        if let Err(error) = self.write(|_| Ok(())).await {
            tracing::debug!(%error, "the redb file is not open yet");
        }
    }

    /// Runs `work` in a write transaction (shared with the writes queued
    /// beside it) and answers once that transaction is committed. `work`
    /// may run more than once (each time in a new transaction, the last
    /// one counts) when another write of its batch fails midway.
    async fn write<T: Send + 'static>(
        &self,
        mut work: impl FnMut(&mut Tables<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_caching(move |tables| work(tables).map(|value| (value, None)))
            .await
    }

    /// [`write`](Self::write) whose `work` may also name a session as it
    /// stored it: the cache keeps that copy once the commit is durable.
    async fn write_caching<T: Send + 'static>(
        &self,
        work: impl FnMut(&mut Tables<'_>) -> Result<(T, Option<Stored>), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.writer.submit(Box::new(WriteJob {
            work,
            out: None,
            answer,
            cache: self.cache.clone(),
        }))?;
        answered
            .await
            .map_err(|_| StoreError::Backend("the redb writer thread has stopped".into()))?
    }
}

/// A session as a write stored it, under its store key, for the cache.
type Stored = ([u8; 16], StoredSession);

/// Creates the tables and drops those of an older sesh; returns how many
/// sessions those held.
fn prepare(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write().map_err(backend)?;
    txn.open_table(SESSIONS).map_err(backend)?;
    txn.open_table(EXPIRY).map_err(backend)?;
    txn.open_table(UNPROTECTED).map_err(backend)?;
    txn.open_table(OWNERS).map_err(backend)?;
    let old = txn.open_table(SESSIONS_V1).map_err(backend)?.len();
    txn.delete_table(SESSIONS_V1).map_err(backend)?;
    txn.delete_table(EXPIRY_V1).map_err(backend)?;
    let old = old.map_err(backend)?;
    txn.commit().map_err(backend)?;
    Ok(old)
}

/// One queued write and its caller.
struct WriteJob<W, T> {
    work: W,
    out: Option<Result<(T, Option<Stored>), StoreError>>,
    answer: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    cache: Arc<WriteCache>,
}

impl<W, T> Pending for WriteJob<W, T>
where
    W: FnMut(&mut Tables<'_>) -> Result<(T, Option<Stored>), StoreError> + Send,
    T: Send,
{
    fn run(&mut self, tables: &mut Tables<'_>) -> Ran {
        let out = (self.work)(tables);
        let ran = Ran::of(&out);
        self.out = Some(out);
        ran
    }

    fn answer(self: Box<Self>, committed: Result<(), &StoreError>) {
        let WriteJob {
            out, answer, cache, ..
        } = *self;
        let result = match (out, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok((value, stored))), Ok(())) => {
                // Durable now: later updates may start from this copy.
                if let Some((key, stored)) = stored {
                    cache.put(&key, stored);
                }
                Ok(value)
            }
            (Some(Ok(_)) | None, Err(e)) => Err(echo(e)),
            (None, Ok(())) => Err(StoreError::Backend("a redb write did not run".into())),
        };
        // The caller may have gone (request cancelled): nothing to tell.
        let _ = answer.send(result);
    }
}

impl SessionStore for RedbStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            let key = self.key.hash(id);
            let keys = self.key.clone();
            let found = self
                .blocking(move |db| {
                    let txn = db.begin_read().map_err(backend)?;
                    let sessions = txn.open_table(SESSIONS).map_err(backend)?;
                    let value = sessions.get(key.as_slice()).map_err(backend)?;
                    Ok(value.map(|v| decode(&keys, &key, v.value())))
                })
                .await?;
            match found {
                None => Ok(None),
                Some(Ok(stored)) => {
                    Ok((!stored.record.deadlines.is_expired(now)).then_some(stored))
                }
                Some(Err(_)) => {
                    // Treated as absent; `live` deletes it (and logs it) inside a write.
                    self.write(move |tables| tables.live(&key, now).map(drop))
                        .await?;
                    Ok(None)
                }
            }
        })
    }

    /// From the cache of what this process committed when it holds a live
    /// copy (no read transaction); else [`load`](SessionStore::load).
    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            let hit = self.cache.get(&self.key.hash(id));
            match hit {
                // A copy that may be stale, never one that is expired: the
                // save's compare-and-swap catches the first.
                Some(hit) if !hit.record.deadlines.is_expired(now) => Ok(Some(hit)),
                _ => self.load(id, now).await,
            }
        })
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let meta = SessionMeta::new(now);
            self.create_with_meta(id, record, &meta, now).await
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        self.save_with_meta(id, record, None, expected_version, now)
    }

    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let key = self.key.hash(id);
            let tag = DisplayTag::of(id);
            let record = record.clone();
            let meta = SessionMeta {
                last_seen: now,
                ..meta.clone()
            };
            let (max, per_user) = (self.max_sessions, self.max_per_user);
            self.write_caching(move |tables| {
                match tables.stored(&key)? {
                    Some(Ok(old)) if !old.record.deadlines.is_expired(now) => {
                        return Ok((Created::IdTaken, None));
                    }
                    // Expired, or not a session: out of the way first.
                    Some(_) => {
                        tables.remove(&key)?;
                    }
                    None => {}
                }
                tables.make_room(now, max)?;
                tables.put(&key, None, 1, &record, &meta, &tag)?;
                if let Some(user) = &meta.owner {
                    tables.enforce_cap(user, &key, per_user, now)?;
                }
                // Cloned: the write may run again (see `write`).
                let stored = StoredSession {
                    record: record.clone(),
                    version: 1,
                    meta: meta.clone(),
                };
                Ok((Created::Stored(1), Some((key, stored))))
            })
            .await
        })
    }

    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(async move {
            let key = self.key.hash(id);
            let tag = DisplayTag::of(id);
            let record = record.clone();
            let meta = meta.cloned();
            let per_user = self.max_per_user;
            self.write_caching(move |tables| {
                let Some(old) = tables.live(&key, now)? else {
                    return Ok((Saved::Missing, None));
                };
                if old.version != expected_version {
                    return Ok((Saved::Conflict, None));
                }
                let version = expected_version.wrapping_add(1);
                let meta = match &meta {
                    Some(meta) => SessionMeta {
                        created: old.meta.created,
                        last_seen: now,
                        ..meta.clone()
                    },
                    None => SessionMeta {
                        last_seen: now,
                        ..old.meta.clone()
                    },
                };
                tables.put(&key, Some(&old), version, &record, &meta, &tag)?;
                if let Some(user) = &meta.owner
                    && old.meta.owner.as_ref() != Some(user)
                {
                    tables.enforce_cap(user, &key, per_user, now)?;
                }
                // Cloned: the write may run again (see `write`).
                let stored = StoredSession {
                    record: record.clone(),
                    version,
                    meta,
                };
                Ok((Saved::Stored(version), Some((key, stored))))
            })
            .await
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let key = self.key.hash(id);
            self.write(move |tables| tables.remove(&key).map(drop))
                .await
        })
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        Box::pin(async move {
            let key = self.key.hash(id);
            self.write(move |tables| match tables.live(&key, now)? {
                None => Ok(Removed::Missing),
                Some(old) if old.version != expected_version => Ok(Removed::Conflict),
                Some(_) => tables.remove(&key).map(|_| Removed::Deleted),
            })
            .await
        })
    }

    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            self.write(move |tables| tables.purge(now, usize::MAX))
                .await
        })
    }

    /// redb keeps each table's length in its root: one read, no scan.
    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(async move {
            let capacity = Some(self.max_sessions);
            self.blocking(move |db| {
                let txn = db.begin_read().map_err(backend)?;
                let sessions = txn.open_table(SESSIONS).map_err(backend)?;
                let n = sessions.len().map_err(backend)?;
                Ok(Some(Occupancy {
                    sessions: usize::try_from(n).unwrap_or(usize::MAX),
                    capacity,
                }))
            })
            .await
        })
    }

    /// A write transaction: stale index entries go as they are met.
    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        Box::pin(async move {
            let user = user.clone();
            let current = current.map(|id| self.key.hash(id));
            self.write(move |tables| {
                let owned = tables.owned(&user, now)?;
                Ok(owned
                    .into_iter()
                    .map(|(key, tag, s)| SessionInfo {
                        tag,
                        created: s.meta.created,
                        last_seen: s.meta.last_seen,
                        expires_at: s.record.deadlines.expires_at(),
                        label: s.meta.label,
                        lifetime: s.meta.lifetime,
                        current: current == Some(key),
                    })
                    .collect())
            })
            .await
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        Box::pin(async move {
            let (user, tag) = (user.clone(), *tag);
            self.write(move |tables| {
                let found = tables
                    .owned(&user, now)?
                    .into_iter()
                    .find(|(_, t, _)| *t == tag);
                match found {
                    Some((key, _, _)) => tables.remove(&key).map(|_| Revoked::Ended),
                    None => Ok(Revoked::NotFound),
                }
            })
            .await
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let user = user.clone();
            let except = except.map(|id| self.key.hash(id));
            self.write(move |tables| {
                let mut ended = 0usize;
                for (key, _, _) in tables.owned(&user, now)? {
                    if except != Some(key) {
                        tables.remove(&key)?;
                        ended = ended.saturating_add(1);
                    }
                }
                Ok(ended)
            })
            .await
        })
    }
}

/// Makes `path` an empty file only its owner may read and write, unless it
/// exists (redb initialises an empty file); warns about an existing one that
/// others may read.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(path)
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    "the session database is readable by other users: `chmod 600` it"
                );
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_file_is_private_and_an_existing_one_is_left_as_it_is() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = temp_path("mode");
        let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        drop(store);
        // It opens again, and a file someone made 0644 is not changed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        assert_eq!(mode(&path), 0o644);
        drop(again);
        let _ = std::fs::remove_file(&path);
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!(
            "sesh-redb-{name}-{}-{nanos}.redb",
            std::process::id()
        ))
    }

    fn record(n: u8) -> SessionRecord<Vec<u8>> {
        SessionRecord {
            deadlines: sesh::ExpiryPolicy::new().start(Instant::ZERO),
            protected: false,
            data: vec![n],
        }
    }

    proptest::proptest! {
        /// Stored bytes are never trusted: any value decodes to a session
        /// or to `None`, never a panic; a session that decodes is stored
        /// again as itself.
        #[test]
        fn any_stored_value_is_a_session_or_absent(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
            key: [u8; 16],
        ) {
            let keys = StoreKey::new(&[5; 32]).unwrap();
            // Untagged bytes are never a session.
            proptest::prop_assert!(decode(&keys, &key, &bytes).is_err());
            // Tagged ones (as if written with the secret) decode or are
            // refused, never a panic.
            let mut sealed = bytes.clone();
            keys.seal(&key, &mut sealed);
            if let Ok(stored) = decode(&keys, &key, &sealed) {
                let again = encode(&keys, &key, stored.version, &stored.record, &stored.meta).ok();
                let decoded = again.as_deref().map(|a| decode(&keys, &key, a));
                proptest::prop_assert_eq!(decoded, Some(Ok(stored)));
            }
        }

        /// Every record round-trips under its key, and under no other.
        #[test]
        fn records_are_bound_to_their_keys(
            version: u64,
            protected: bool,
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            key: [u8; 16],
            other: [u8; 16],
        ) {
            let keys = StoreKey::new(&[5; 32]).unwrap();
            let record = SessionRecord { protected, data, ..record(0) };
            let meta = SessionMeta {
                owner: Some(UserId::new(&key).unwrap()),
                ..SessionMeta::new(Instant::from_secs(version >> 40))
            };
            let bytes = encode(&keys, &key, version, &record, &meta).unwrap();
            proptest::prop_assert_eq!(
                decode(&keys, &key, &bytes),
                Ok(StoredSession { record, version, meta })
            );
            if other != key {
                proptest::prop_assert_eq!(decode(&keys, &other, &bytes), Err(Bad::Unbound));
            }
            let stranger = StoreKey::new(&[6; 32]).unwrap();
            proptest::prop_assert_eq!(decode(&stranger, &key, &bytes), Err(Bad::Unbound));
        }
    }

    /// Every session has exactly its entries in the expiry index, and in
    /// the eviction index if unprotected; no entry points nowhere. Checked
    /// after each step of a pseudo-random run of creates, saves (deadlines
    /// and flags moving), deletes, compare-and-deletes, purges and
    /// evictions (a bound of 8).
    #[tokio::test]
    async fn the_indexes_follow_the_sessions() {
        let path = temp_path("indexes");
        let keys = StoreKey::new(&[5; 32]).unwrap();
        let store = RedbStore::open(&path, keys.clone())
            .await
            .unwrap()
            .with_max_sessions(8);
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let ids: Vec<SessionId> = (0..12)
            .map(|_| SessionId::generate(&mut rng).unwrap())
            .collect();
        let mut seed = 0x5e55_1011_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for step in 0..600u64 {
            let id = &ids[next(12) as usize];
            let now = Instant::from_secs(step);
            let policy = sesh::ExpiryPolicy::new()
                .with_idle_timeout(sesh::Duration::from_secs(5 + next(40)));
            let record = SessionRecord {
                deadlines: policy.start(now),
                protected: next(3) == 0,
                data: vec![step as u8],
            };
            match next(6) {
                0 | 1 => match store.create(id, &record, now).await {
                    Ok(_) | Err(StoreError::Full) => {}
                    Err(e) => panic!("{e}"),
                },
                2 | 3 => {
                    if let Some(seen) = store.load(id, now).await.unwrap() {
                        store.save(id, &record, seen.version, now).await.unwrap();
                    }
                }
                4 => {
                    if next(2) == 0 {
                        store.delete(id).await.unwrap();
                    } else if let Some(seen) = store.load(id, now).await.unwrap() {
                        store.delete_version(id, seen.version, now).await.unwrap();
                    }
                }
                _ => {
                    store.purge_expired(now).await.unwrap();
                }
            }
            let keys = keys.clone();
            let db = store.db.get().unwrap();
            let txn = db.begin_read().unwrap();
            let sessions = txn.open_table(SESSIONS).unwrap();
            let expiry = txn.open_table(EXPIRY).unwrap();
            let unprotected = txn.open_table(UNPROTECTED).unwrap();
            assert!(sessions.len().unwrap() <= 8, "step {step}: over the bound");
            let (mut want_expiry, mut want_unprotected) = (Vec::new(), Vec::new());
            for entry in sessions.iter().unwrap() {
                let (k, v) = entry.unwrap();
                let key: [u8; 16] = k.value().try_into().unwrap();
                let stored = decode(&keys, &key, v.value()).unwrap();
                let entry = expiry_key(stored.record.deadlines.expires_at(), &key).to_vec();
                if !stored.record.protected {
                    want_unprotected.push(entry.clone());
                }
                want_expiry.push(entry);
            }
            let listed = |t: &redb::ReadOnlyTable<&[u8], ()>| -> Vec<Vec<u8>> {
                t.iter()
                    .unwrap()
                    .map(|e| e.unwrap().0.value().to_vec())
                    .collect()
            };
            want_expiry.sort();
            want_unprotected.sort();
            assert_eq!(listed(&expiry), want_expiry, "step {step}: expiry index");
            assert_eq!(
                listed(&unprotected),
                want_unprotected,
                "step {step}: eviction index"
            );
        }
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    /// Writes `record` as version `version` of `id` straight into the
    /// file, past the store's cache (as another process would).
    fn write_behind_the_cache(
        store: &RedbStore,
        id: &SessionId,
        version: u64,
        record: &SessionRecord<Vec<u8>>,
    ) {
        let key = store.key.hash(id);
        let db = store.db.get().unwrap();
        let txn = db.begin_write().unwrap();
        {
            let elsewhere = WriteCache::new(0);
            let mut tables = Tables::open(&txn, &store.key, &elsewhere).unwrap();
            let old = tables.live(&key, Instant::ZERO).unwrap().unwrap();
            let meta = old.meta.clone();
            let tag = DisplayTag::of(id);
            tables
                .put(&key, Some(&old), version, record, &meta, &tag)
                .unwrap();
        }
        txn.commit().unwrap();
    }

    /// An update starts from the copy of the last commit; a copy made
    /// stale behind the store's back only costs a retry (the save's
    /// compare-and-swap reads the file), and a removed session is gone
    /// from the cache too. With the cache off, updates read the file.
    #[tokio::test]
    async fn updates_start_from_committed_copies_and_a_stale_one_costs_a_retry() {
        let path = temp_path("cache");
        let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let id = SessionId::generate(&mut rng).unwrap();
        let now = Instant::ZERO;
        assert_eq!(
            store.create(&id, &record(1), now).await.unwrap(),
            Created::Stored(1)
        );
        let from_file = store.load(&id, now).await.unwrap();
        assert_eq!(store.load_for_update(&id, now).await.unwrap(), from_file);
        assert_eq!(
            store.save(&id, &record(2), 1, now).await.unwrap(),
            Saved::Stored(2)
        );
        let from_file = store.load(&id, now).await.unwrap();
        assert_eq!(store.load_for_update(&id, now).await.unwrap(), from_file);

        // Another writer moves the file on: the copy is stale, the save
        // says so, and the file has the other writer's version.
        write_behind_the_cache(&store, &id, 3, &record(3));
        let stale = store.load_for_update(&id, now).await.unwrap().unwrap();
        assert_eq!(stale.version, 2);
        assert_eq!(
            store
                .save(&id, &record(9), stale.version, now)
                .await
                .unwrap(),
            Saved::Conflict
        );
        let fresh = store.load(&id, now).await.unwrap().unwrap();
        assert_eq!((fresh.version, fresh.record.data), (3, vec![3]));
        assert_eq!(
            store.save(&id, &record(4), 3, now).await.unwrap(),
            Saved::Stored(4)
        );

        // Never a copy of an expired session.
        let later = Instant::from_secs(1_000_000);
        assert_eq!(store.load_for_update(&id, later).await.unwrap(), None);

        // A deleted session is gone from the cache.
        store.delete(&id).await.unwrap();
        assert_eq!(store.load_for_update(&id, now).await.unwrap(), None);

        // Off: an update reads the file, so it sees the other writer.
        let store = store.with_write_cache(0);
        let id = SessionId::generate(&mut rng).unwrap();
        store.create(&id, &record(1), now).await.unwrap();
        write_behind_the_cache(&store, &id, 2, &record(2));
        let read = store.load_for_update(&id, now).await.unwrap().unwrap();
        assert_eq!((read.version, read.record.data), (2, vec![2]));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    /// A file whose writes and syncs fail while `failing` is set.
    #[derive(Debug)]
    struct FailingDisk {
        file: redb::backends::FileBackend,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    impl FailingDisk {
        fn check(&self) -> std::io::Result<()> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
            } else {
                Ok(())
            }
        }
    }

    impl redb::StorageBackend for FailingDisk {
        fn len(&self) -> std::io::Result<u64> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            self.file.write(offset, data)
        }
        fn close(&self) -> std::io::Result<()> {
            self.file.close()
        }
        fn lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), redb::BackendError> {
            self.file.lock_range(start, end)
        }
        fn lock_shared_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), redb::BackendError> {
            self.file.lock_shared_range(start, end)
        }
        fn unlock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<(), redb::BackendError> {
            self.file.unlock_range(start, end)
        }
        fn query_lock_range(
            &self,
            start: std::ops::Bound<u64>,
            end: std::ops::Bound<u64>,
        ) -> Result<bool, redb::BackendError> {
            self.file.query_lock_range(start, end)
        }
    }

    /// A write whose commit fails leaves no copy in the cache: the next
    /// update starts from the last durable version, and the whole batch
    /// it shared failed with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_leaves_the_last_durable_copy() {
        let path = temp_path("failing");
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let opener = {
            let (path, failing) = (path.clone(), failing.clone());
            move || {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)?;
                let backend = FailingDisk {
                    file: redb::backends::FileBackend::new(file)?,
                    failing: failing.clone(),
                };
                Database::builder().create_with_backend(backend)
            }
        };
        let store = RedbStore::with_opener(opener, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap()
            .with_batch_wait(Duration::from_millis(50));
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let ids: Vec<SessionId> = (0..8)
            .map(|_| SessionId::generate(&mut rng).unwrap())
            .collect();
        let now = Instant::ZERO;
        for id in &ids {
            store.create(id, &record(1), now).await.unwrap();
        }
        failing.store(true, std::sync::atomic::Ordering::SeqCst);
        // One batch (the writer waits 50 ms for more), which fails whole.
        let saves: Vec<_> = ids
            .iter()
            .map(|id| {
                let (store, id) = (store.clone(), *id);
                tokio::spawn(async move { store.save(&id, &record(2), 1, now).await })
            })
            .collect();
        for save in saves {
            assert!(save.await.unwrap().is_err(), "a write on a failing disk");
        }
        failing.store(false, std::sync::atomic::Ordering::SeqCst);
        for id in &ids {
            // The writer opens the file again at the next write.
            let mut copy = store.load_for_update(id, now).await;
            for _ in 0..50 {
                if copy.is_ok() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                copy = store.load_for_update(id, now).await;
            }
            let copy = copy.unwrap().unwrap();
            assert_eq!((copy.version, copy.record.data), (1, vec![1]));
            assert_eq!(
                store.save(id, &record(3), 1, now).await.unwrap(),
                Saved::Stored(2)
            );
        }
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    /// One batch (the writer waits 300 ms for more) holding, on a store
    /// bound at 6 sessions that holds 2: 5 creates of protected sessions,
    /// an update, an update with a stale version, and a write that fails
    /// midway. Each failure is its own: 4 creates and the update commit,
    /// the fifth create is refused with `Full`, the stale update is a
    /// conflict, the failing write gets its own error and leaves nothing;
    /// the file opened again holds exactly what was answered as saved.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_failing_write_does_not_fail_its_batch() {
        let path = temp_path("batch-failure");
        let key = StoreKey::new(&[5; 32]).unwrap();
        let store = RedbStore::open(&path, key.clone())
            .await
            .unwrap()
            .with_max_sessions(6)
            .with_batch_wait(Duration::from_millis(300));
        let protected = |n: u8| SessionRecord {
            protected: true,
            ..record(n)
        };
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let mut id = || SessionId::generate(&mut rng).unwrap();
        let (a, b) = (id(), id());
        for old in [&a, &b] {
            store
                .create(old, &protected(0), Instant::ZERO)
                .await
                .unwrap();
        }
        let new: Vec<SessionId> = (0..5).map(|_| id()).collect();
        let half_done = id();

        let creates: Vec<_> = new
            .iter()
            .map(|id| {
                let (store, id) = (store.clone(), *id);
                tokio::spawn(async move { store.create(&id, &protected(1), Instant::ZERO).await })
            })
            .collect();
        let update = {
            let store = store.clone();
            tokio::spawn(async move { store.save(&a, &protected(2), 1, Instant::ZERO).await })
        };
        let stale = {
            let store = store.clone();
            tokio::spawn(async move { store.save(&b, &protected(2), 7, Instant::ZERO).await })
        };
        let failing = {
            let (store, key) = (store.clone(), store.key.hash(&half_done));
            tokio::spawn(async move {
                store
                    .write(move |tables| {
                        let meta = SessionMeta::new(Instant::ZERO);
                        let tag = DisplayTag::of(&half_done);
                        tables.put(&key, None, 1, &protected(3), &meta, &tag)?;
                        Err::<(), _>(StoreError::Backend("failed midway".into()))
                    })
                    .await
            })
        };

        let mut stored = Vec::new();
        let mut full = 0;
        for (id, create) in new.iter().zip(creates) {
            match create.await.unwrap() {
                Ok(Created::Stored(1)) => stored.push(*id),
                Err(StoreError::Full) => full += 1,
                other => panic!("a create answered {other:?}"),
            }
        }
        assert_eq!((stored.len(), full), (4, 1));
        assert_eq!(update.await.unwrap().unwrap(), Saved::Stored(2));
        assert_eq!(stale.await.unwrap().unwrap(), Saved::Conflict);
        let failed = failing.await.unwrap().unwrap_err();
        assert_eq!(
            failed.to_string(),
            StoreError::Backend("failed midway".into()).to_string()
        );
        drop(store);

        let reopened = RedbStore::open(&path, key).await.unwrap();
        let occupancy = reopened.occupancy().await.unwrap().unwrap();
        assert_eq!(occupancy.sessions, 6);
        for id in &stored {
            let loaded = reopened.load(id, Instant::ZERO).await.unwrap().unwrap();
            assert_eq!((loaded.version, loaded.record.data), (1, vec![1]));
        }
        let a = reopened.load(&a, Instant::ZERO).await.unwrap().unwrap();
        assert_eq!((a.version, a.record.data), (2, vec![2]));
        let b = reopened.load(&b, Instant::ZERO).await.unwrap().unwrap();
        assert_eq!((b.version, b.record.data), (1, vec![0]));
        assert!(
            reopened
                .load(&half_done, Instant::ZERO)
                .await
                .unwrap()
                .is_none()
        );
        drop(reopened);
        let _ = std::fs::remove_file(&path);
    }

    /// Marks the lines the crash child prints for each answered save.
    const ANSWERED: &str = "ANSWERED";

    /// The crash child: 16 tasks save their own session over and over,
    /// and print each save once it is answered, until they are killed.
    async fn crash_child(path: &Path) {
        let store = RedbStore::open(path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let id = SessionId::generate(&mut rng).unwrap();
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.create(&id, &record(0), Instant::ZERO).await.unwrap();
                println!("{ANSWERED} {} 1", id.encode().as_str());
                for version in 1u64.. {
                    let saved = store
                        .save(&id, &record(version as u8), version, Instant::ZERO)
                        .await
                        .unwrap();
                    assert_eq!(saved, Saved::Stored(version + 1));
                    println!("{ANSWERED} {} {}", id.encode().as_str(), version + 1);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }

    /// Every answered write survives a `SIGKILL` of the process: this test
    /// runs itself again as a child that writes as fast as it can (group
    /// commits of several writes), kills it mid-flight, opens the file and
    /// finds, for every session, at least the last version the child was
    /// told was saved.
    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_answered_write_survives_a_kill() {
        use std::io::BufRead;
        if let Some(path) = std::env::var_os("SESH_REDB_CRASH_CHILD") {
            crash_child(Path::new(&path)).await;
            return;
        }
        let path = temp_path("crash");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::redb::tests::every_answered_write_survives_a_kill",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SESH_REDB_CRASH_CHILD", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut answered = std::collections::HashMap::<String, u64>::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut seen = 0usize;
        while seen < 3_000 {
            let Some(line) = lines.next() else { break };
            let line = line.unwrap();
            let mut words = line.split(' ');
            if words.next() != Some(ANSWERED) {
                continue;
            }
            let (id, version) = (words.next().unwrap(), words.next().unwrap());
            let version: u64 = version.parse().unwrap();
            let best = answered.entry(id.to_owned()).or_default();
            *best = (*best).max(version);
            seen += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // What was printed before the kill, and read after it: answered too.
        for line in lines.map_while(Result::ok) {
            let mut words = line.split(' ');
            if words.next() == Some(ANSWERED)
                && let (Some(id), Some(Ok(version))) =
                    (words.next(), words.next().map(str::parse::<u64>))
            {
                let best = answered.entry(id.to_owned()).or_default();
                *best = (*best).max(version);
            }
        }
        assert_eq!(seen, 3_000, "the child stopped early");
        assert_eq!(answered.len(), 16);
        let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        for (id, version) in &answered {
            let id = SessionId::parse(id).unwrap();
            let stored = store.load(&id, Instant::ZERO).await.unwrap().unwrap();
            assert!(
                stored.version >= *version,
                "answered version {version}, the file has {}",
                stored.version
            );
        }
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_all_survive_a_reopen() {
        for (max_batch, wait) in [(256, 0), (1, 0), (7, 2)] {
            concurrent_writes_survive_a_reopen(max_batch, Duration::from_millis(wait)).await;
        }
    }

    /// 200 tasks create and save at once, with these batch settings;
    /// every write is in the file when the store opens it again.
    async fn concurrent_writes_survive_a_reopen(max_batch: usize, wait: Duration) {
        let path = temp_path("group");
        let key = StoreKey::new(&[5; 32]).unwrap();
        let store = RedbStore::open(&path, key.clone())
            .await
            .unwrap()
            .with_max_batch(max_batch)
            .with_batch_wait(wait);
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let ids: Vec<SessionId> = (0..200u8)
            .map(|_| SessionId::generate(&mut rng).unwrap())
            .collect();
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                let (store, id) = (store.clone(), *id);
                tokio::spawn(async move {
                    let n = u8::try_from(n).unwrap();
                    assert_eq!(
                        store.create(&id, &record(n), Instant::ZERO).await.unwrap(),
                        Created::Stored(1)
                    );
                    assert_eq!(
                        store.save(&id, &record(n), 1, Instant::ZERO).await.unwrap(),
                        Saved::Stored(2)
                    );
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        drop(store);
        let reopened = RedbStore::open(&path, key).await.unwrap();
        for (n, id) in ids.iter().enumerate() {
            let loaded = reopened.load(id, Instant::ZERO).await.unwrap().unwrap();
            assert_eq!(loaded.version, 2);
            assert_eq!(loaded.record.data, vec![u8::try_from(n).unwrap()]);
        }
        drop(reopened);
        let _ = std::fs::remove_file(&path);
    }
}
