//! The open database, and opening it again after an I/O error.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use redb::Database;

use crate::store::StoreError;

/// Opens the database file (again).
pub(super) type Opener = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// How long a reopen waits for the reads in flight to let go of the old
/// database (its file lock goes with the last handle).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The database every read and write uses. After an I/O error redb
/// refuses all later transactions ("previous I/O error") until the file is
/// opened again; the writer thread does that through [`reopen`](Self::reopen).
pub(super) struct DatabaseHandle {
    current: RwLock<Option<Arc<Database>>>,
    opener: Option<Opener>,
}

/// Whether `e` is redb's I/O failure, after which the database must be
/// opened again (it came from redb: every redb error is boxed as
/// `redb::Error`).
pub(super) fn is_io_failure(e: &StoreError) -> bool {
    let (StoreError::Backend(source) | StoreError::Unavailable(source)) = e else {
        return false;
    };
    source
        .downcast_ref::<redb::Error>()
        .is_some_and(|e| matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo))
}

impl DatabaseHandle {
    pub(super) fn new(db: Database, opener: Option<Opener>) -> Self {
        DatabaseHandle {
            current: RwLock::new(Some(Arc::new(db))),
            opener,
        }
    }

    // A panic while holding the lock leaves a valid `Option`: use it.
    fn read(&self) -> RwLockReadGuard<'_, Option<Arc<Database>>> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Arc<Database>>> {
        self.current.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The database, or [`StoreError::Unavailable`] while it is closed for
    /// a reopen (or the last reopen failed).
    pub(super) fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.read().clone().ok_or_else(|| {
            StoreError::Unavailable(
                "the redb file is closed after an I/O error; it is opened again at the next write"
                    .into(),
            )
        })
    }

    /// Whether a failed database can be opened again.
    pub(super) fn can_reopen(&self) -> bool {
        self.opener.is_some()
    }

    /// Closes the database and opens it again, if the store knows how.
    /// Blocks (the writer thread calls it): waits up to [`CLOSE_WAIT`] for
    /// the reads in flight to let go of the old database. Until an open
    /// succeeds (redb refuses a file that is still open), the store is
    /// closed: calls fail with [`StoreError::Unavailable`] and the next
    /// write tries again.
    pub(super) fn reopen(&self) {
        let Some(opener) = &self.opener else {
            return;
        };
        let taken = self.write().take();
        if let Some(old) = taken {
            close_when_last(old);
        }
        match opener() {
            Ok(db) => {
                *self.write() = Some(Arc::new(db));
                tracing::info!("redb file opened again after an I/O error");
            }
            Err(error) => tracing::warn!(%error, "opening the redb file again failed"),
        }
    }
}

/// Drops `db` once it is the last handle, or after [`CLOSE_WAIT`].
fn close_when_last(mut db: Arc<Database>) {
    let start = std::time::Instant::now();
    while start.elapsed() < CLOSE_WAIT {
        match Arc::try_unwrap(db) {
            Ok(last) => return drop(last),
            Err(shared) => db = shared,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tracing::warn!("reads still hold the failed redb database");
}
