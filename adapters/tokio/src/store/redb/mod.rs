//! Sessions in one redb file: no server, crash-safe transactions.

mod handle;
mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

use super::key::StoreKey;
use super::{Created, Occupancy, Removed, Saved, SessionStore, StoreError, StoredSession};
use handle::{DatabaseHandle, Opener, is_io_failure};
use writer::{Job, Ran, Reply, Writer, echo};

/// Store key (16-byte keyed hash of the id) → version (8 bytes, little-endian) + core record.
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sesh_sessions_v1");
/// Expiry index: deadline (8 bytes, big-endian, so byte order is time order) + store key → ().
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sesh_expiry_v1");

/// Sessions in a redb database file: the default store of the examples.
///
/// Every write is durable when it returns (redb's `Durability::Immediate`),
/// so a crash, even `SIGKILL` or power loss, keeps every answered write and
/// the file always opens. Writes that arrive together share one commit
/// (group commit, on a writer thread), so concurrent requests pay one fsync
/// between them. Ids are stored only as
/// keyed hashes ([`StoreKey`]). An expiry index makes
/// [`purge_expired`](SessionStore::purge_expired) proportional to what it
/// removes. Reads run on tokio's blocking pool.
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
    key: StoreKey,
    writer: Arc<Writer>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore(..)")
    }
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(Box::new(e.into()))
}

/// The stored bytes: version, then the core's record encoding.
fn encode(version: u64, record: &SessionRecord<Vec<u8>>) -> Result<Vec<u8>, StoreError> {
    let body = record
        .to_vec()
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut out = Vec::with_capacity(8usize.saturating_add(body.len()));
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads stored bytes; `None` when they are not a record (never a panic).
fn decode(bytes: &[u8]) -> Option<StoredSession> {
    let (version, body) = bytes.split_first_chunk::<8>()?;
    let record = SessionRecord::<Vec<u8>>::decode(body).ok()?;
    Some(StoredSession {
        record,
        version: u64::from_le_bytes(*version),
    })
}

fn expiry_key(deadline: Instant, key: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    let (time, rest) = out.split_at_mut(8);
    time.copy_from_slice(&deadline.as_millis().to_be_bytes());
    rest.copy_from_slice(key);
    out
}

/// Reads the live session at `key` inside a write transaction, deleting a
/// record that does not decode.
fn live(
    txn: &WriteTransaction,
    key: &[u8; 16],
    now: Instant,
) -> Result<Option<StoredSession>, StoreError> {
    let mut sessions = txn.open_table(SESSIONS).map_err(backend)?;
    let found = sessions
        .get(key.as_slice())
        .map_err(backend)?
        .map(|v| decode(v.value()).ok_or(()));
    match found {
        None => Ok(None),
        Some(Ok(stored)) if !stored.record.deadlines.is_expired(now) => Ok(Some(stored)),
        Some(Ok(_)) => Ok(None),
        Some(Err(())) => {
            tracing::warn!("undecodable session record deleted");
            sessions.remove(key.as_slice()).map_err(backend)?;
            Ok(None)
        }
    }
}

/// Writes a record and its expiry entry, replacing `old`'s entry.
fn put(
    txn: &WriteTransaction,
    key: &[u8; 16],
    old: Option<&StoredSession>,
    version: u64,
    record: &SessionRecord<Vec<u8>>,
) -> Result<(), StoreError> {
    let bytes = encode(version, record)?;
    let mut sessions = txn.open_table(SESSIONS).map_err(backend)?;
    let mut expiry = txn.open_table(EXPIRY).map_err(backend)?;
    if let Some(old) = old {
        expiry
            .remove(expiry_key(old.record.deadlines.expires_at(), key).as_slice())
            .map_err(backend)?;
    }
    sessions
        .insert(key.as_slice(), bytes.as_slice())
        .map_err(backend)?;
    expiry
        .insert(
            expiry_key(record.deadlines.expires_at(), key).as_slice(),
            (),
        )
        .map_err(backend)?;
    Ok(())
}

/// Removes the record at `key` and its expiry entry.
fn remove(txn: &WriteTransaction, key: &[u8; 16]) -> Result<(), StoreError> {
    let mut sessions = txn.open_table(SESSIONS).map_err(backend)?;
    let old = sessions
        .remove(key.as_slice())
        .map_err(backend)?
        .and_then(|v| decode(v.value()));
    if let Some(old) = old {
        let mut expiry = txn.open_table(EXPIRY).map_err(backend)?;
        expiry
            .remove(expiry_key(old.record.deadlines.expires_at(), key).as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`, and opens it again
    /// after an I/O error.
    pub async fn open(path: impl AsRef<Path>, key: StoreKey) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        Self::with_opener(move || Database::create(&path), key).await
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

    async fn start(db: DatabaseHandle, key: StoreKey) -> Result<Self, StoreError> {
        let db = Arc::new(db);
        let store = RedbStore {
            writer: Arc::new(Writer::spawn(db.clone())?),
            db,
            key,
        };
        // Create the tables up front so that read transactions find them.
        store
            .write(|txn| {
                txn.open_table(SESSIONS).map_err(backend)?;
                txn.open_table(EXPIRY).map_err(backend)?;
                Ok(())
            })
            .await?;
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
    /// beside it) and answers once that transaction is committed.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let out = match txn {
                Ok(txn) => work(txn),
                Err(e) => Err(echo(e)),
            };
            let ran = Ran::of(&out);
            let reply: Reply = Box::new(move |committed| {
                let result = match (out, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(e)) => Err(echo(e)),
                };
                // The caller may have gone (request cancelled): nothing to tell.
                let _ = answer.send(result);
            });
            (ran, reply)
        });
        self.writer.submit(job)?;
        answered
            .await
            .map_err(|_| StoreError::Backend("the redb writer thread has stopped".into()))?
    }
}

impl SessionStore for RedbStore {
    async fn load(
        &self,
        id: &SessionId,
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let key = self.key.hash(id);
        let found = self
            .blocking(move |db| {
                let txn = db.begin_read().map_err(backend)?;
                let sessions = txn.open_table(SESSIONS).map_err(backend)?;
                let value = sessions.get(key.as_slice()).map_err(backend)?;
                Ok(value.map(|v| decode(v.value()).ok_or(())))
            })
            .await?;
        match found {
            None => Ok(None),
            Some(Ok(stored)) => Ok((!stored.record.deadlines.is_expired(now)).then_some(stored)),
            Some(Err(())) => {
                // Treated as absent; `live` deletes it inside a write.
                self.write(move |txn| live(txn, &key, now).map(drop))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn create(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> Result<Created, StoreError> {
        let key = self.key.hash(id);
        let record = record.clone();
        self.write(move |txn| {
            if live(txn, &key, now)?.is_some() {
                return Ok(Created::IdTaken);
            }
            put(txn, &key, None, 1, &record)?;
            Ok(Created::Stored(1))
        })
        .await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> Result<Saved, StoreError> {
        let key = self.key.hash(id);
        let record = record.clone();
        self.write(move |txn| {
            let Some(old) = live(txn, &key, now)? else {
                return Ok(Saved::Missing);
            };
            if old.version != expected_version {
                return Ok(Saved::Conflict);
            }
            let version = expected_version.wrapping_add(1);
            put(txn, &key, Some(&old), version, &record)?;
            Ok(Saved::Stored(version))
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = self.key.hash(id);
        self.write(move |txn| remove(txn, &key)).await
    }

    async fn delete_version(
        &self,
        id: &SessionId,
        expected_version: u64,
        now: Instant,
    ) -> Result<Removed, StoreError> {
        let key = self.key.hash(id);
        self.write(move |txn| match live(txn, &key, now)? {
            None => Ok(Removed::Missing),
            Some(old) if old.version != expected_version => Ok(Removed::Conflict),
            Some(_) => remove(txn, &key).map(|()| Removed::Deleted),
        })
        .await
    }

    async fn purge_expired(&self, now: Instant) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let mut expiry = txn.open_table(EXPIRY).map_err(backend)?;
            let mut sessions = txn.open_table(SESSIONS).map_err(backend)?;
            // Every entry whose deadline is at or before now (deadline `now` has expired).
            let end = expiry_key(now, &[0xff; 16]);
            let due: Vec<Vec<u8>> = expiry
                .range::<&[u8]>(..=end.as_slice())
                .map_err(backend)?
                .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            for entry in &due {
                expiry.remove(entry.as_slice()).map_err(backend)?;
                if let Some(key) = entry.get(8..) {
                    // Only remove the record if it is still the one this entry indexed.
                    let stale = sessions
                        .get(key)
                        .map_err(backend)?
                        .and_then(|v| decode(v.value()))
                        .is_none_or(|s| s.record.deadlines.is_expired(now));
                    if stale {
                        sessions.remove(key).map_err(backend)?;
                    }
                }
            }
            Ok(due.len())
        })
        .await
    }

    async fn occupancy(&self) -> Result<Occupancy, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(backend)?;
            let sessions = txn.open_table(SESSIONS).map_err(backend)?;
            let n = sessions.len().map_err(backend)?;
            Ok(Occupancy {
                sessions: usize::try_from(n).unwrap_or(usize::MAX),
                capacity: None,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)
        ) {
            if let Some(stored) = decode(&bytes) {
                let again = encode(stored.version, &stored.record).ok();
                proptest::prop_assert_eq!(again.as_deref().and_then(decode), Some(stored));
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_all_survive_a_reopen() {
        let path = temp_path("group");
        let key = StoreKey::new(&[5; 32]).unwrap();
        let store = RedbStore::open(&path, key.clone()).await.unwrap();
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
