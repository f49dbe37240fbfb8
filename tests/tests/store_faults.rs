//! Store faults: a redb file whose writes start failing (disk full, file made
//! read-only), injected at the storage backend. Every request then gets a
//! clear error, and every session committed before stays intact.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, Database, StorageBackend};
use sesh::expiry::ExpiryPolicy;
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};
use sesh_tests::http::ServerSpec;
use sesh_tests::http::axum_probe::TokioServer;
use sesh_tests::http::client::Request;
use sesh_tokio::store::{RedbStore, SessionStore, StoreError, StoreKey};

/// A file backend whose writes fail, as on a full disk, while `full` is set.
#[derive(Debug)]
struct FillingDisk {
    file: FileBackend,
    full: Arc<AtomicBool>,
}

fn disk_full() -> std::io::Error {
    std::io::Error::from_raw_os_error(28) // ENOSPC
}

impl StorageBackend for FillingDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if self.full.load(Ordering::SeqCst) {
            Err(disk_full())
        } else {
            self.file.set_len(len)
        }
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.full.load(Ordering::SeqCst) {
            Err(disk_full())
        } else {
            self.file.sync_data()
        }
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.full.load(Ordering::SeqCst) {
            Err(disk_full())
        } else {
            self.file.write(offset, data)
        }
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}

/// A store on `FillingDisk` that cannot reopen its file (`with_database`).
async fn filling_store(path: &std::path::Path) -> (RedbStore, Arc<AtomicBool>) {
    let full = Arc::new(AtomicBool::new(false));
    let db = filling_database(path, &full).unwrap();
    (
        RedbStore::with_database(db, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap(),
        full,
    )
}

/// A counter server on `store` that has answered one request (count 1):
/// the server and that session's cookie.
async fn counting_server(store: RedbStore) -> (TokioServer<RedbStore>, String) {
    let server = TokioServer::start(store, ServerSpec::default())
        .await
        .unwrap();
    let addr = sesh_tests::http::TestServer::addr(&server);
    let first = Request::get("/count").send(addr).await.unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    let cookie = first.set_cookies()[0].pair();
    (server, cookie)
}

fn record(data: &[u8]) -> SessionRecord<Vec<u8>> {
    SessionRecord {
        deadlines: ExpiryPolicy::new().start(Instant::from_secs(1)),
        protected: false,
        data: data.to_vec(),
    }
}

#[tokio::test]
async fn a_full_disk_is_a_clear_error_and_committed_sessions_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let now = Instant::from_secs(1);
    let kept = SessionId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)).unwrap();
    {
        let (store, full) = filling_store(&path).await;
        store
            .create(&kept, &record(b"committed"), now)
            .await
            .unwrap();
        full.store(true, Ordering::SeqCst);
        let other = SessionId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)).unwrap();
        let create = store.create(&other, &record(b"lost"), now).await;
        assert!(matches!(create, Err(StoreError::Backend(_))), "{create:?}");
        let save = store.save(&kept, &record(b"overwritten"), 1, now).await;
        assert!(matches!(save, Err(StoreError::Backend(_))), "{save:?}");
        let message = save.unwrap_err().to_string();
        assert!(message.contains("session store failed"), "{message}");
    }
    // After the fault, the file opens cleanly and holds exactly what was committed.
    let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
        .await
        .unwrap();
    let loaded = store
        .load(&kept, now)
        .await
        .unwrap()
        .expect("the committed session survives");
    assert_eq!(loaded.record.data, b"committed");
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 1);
}

#[tokio::test]
async fn requests_answer_500_while_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let (store, full) = filling_store(&path).await;
    let (server, cookie) = counting_server(store).await;
    let addr = sesh_tests::http::TestServer::addr(&server);
    full.store(true, Ordering::SeqCst);
    for request in [
        Request::get("/count").cookie(&cookie),
        Request::get("/count"),
    ] {
        let resp = request.send(addr).await.unwrap();
        assert_eq!(resp.status, 500, "{}", resp.text());
        assert!(
            resp.set_cookies().is_empty(),
            "no cookie from a failed write"
        );
    }
    sesh_tests::http::TestServer::stop(server).await;
    full.store(false, Ordering::SeqCst);
    let reopened = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
        .await
        .unwrap();
    let server = TokioServer::start(reopened, ServerSpec::default())
        .await
        .unwrap();
    let addr = sesh_tests::http::TestServer::addr(&server);
    let again = Request::get("/count")
        .cookie(&cookie)
        .send(addr)
        .await
        .unwrap();
    assert_eq!(
        again.text(),
        "2",
        "the count committed before the fault is still there"
    );
    sesh_tests::http::TestServer::stop(server).await;
}

/// The database behind `FillingDisk`, opened (again) from `path`.
fn filling_database(
    path: &std::path::Path,
    full: &Arc<AtomicBool>,
) -> Result<Database, redb::DatabaseError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let backend = FillingDisk {
        file: FileBackend::new(file)?,
        full: full.clone(),
    };
    Database::builder().create_with_backend(backend)
}

/// A store that opens its file again after an I/O error (`with_opener`).
async fn self_healing_store(path: &std::path::Path) -> (RedbStore, Arc<AtomicBool>) {
    let full = Arc::new(AtomicBool::new(false));
    let opener = {
        let (path, full) = (path.to_owned(), full.clone());
        move || filling_database(&path, &full)
    };
    let store = RedbStore::with_opener(opener, StoreKey::new(&[5; 32]).unwrap())
        .await
        .unwrap();
    (store, full)
}

/// Writes fail while the disk is full; once it has room, the same store
/// works again (the writer thread opened the file anew) and holds exactly
/// what was committed.
#[tokio::test]
async fn the_store_opens_its_file_again_once_the_disk_has_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let now = Instant::from_secs(1);
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let kept = SessionId::generate(&mut rng).unwrap();
    let other = SessionId::generate(&mut rng).unwrap();
    let (store, full) = self_healing_store(&path).await;
    store
        .create(&kept, &record(b"committed"), now)
        .await
        .unwrap();
    full.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let create = store.create(&other, &record(b"lost"), now).await;
        assert!(create.is_err(), "{create:?}");
        let save = store.save(&kept, &record(b"overwritten"), 1, now).await;
        assert!(save.is_err(), "{save:?}");
    }
    full.store(false, Ordering::SeqCst);
    // The writer thread opened the file again after the failures (or, if
    // that failed while the disk was full, does so before this write).
    assert_eq!(
        store.create(&other, &record(b"after"), now).await.unwrap(),
        sesh_tokio::store::Created::Stored(1)
    );
    let loaded = store.load(&kept, now).await.unwrap().unwrap();
    assert_eq!(
        (loaded.record.data, loaded.version),
        (b"committed".to_vec(), 1)
    );
    assert_eq!(
        store.load(&other, now).await.unwrap().unwrap().record.data,
        b"after"
    );
    assert_eq!(
        store.save(&kept, &record(b"saved"), 1, now).await.unwrap(),
        sesh_tokio::store::Saved::Stored(2)
    );
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 2);
}

/// Over HTTP: 500 while the disk is full, then the same server counts on
/// from the last committed value, with no restart.
#[tokio::test]
async fn the_same_server_counts_on_once_the_disk_has_room() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let (store, full) = self_healing_store(&path).await;
    let (server, cookie) = counting_server(store).await;
    let addr = sesh_tests::http::TestServer::addr(&server);
    full.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let resp = Request::get("/count")
            .cookie(&cookie)
            .send(addr)
            .await
            .unwrap();
        assert_eq!(resp.status, 500, "{}", resp.text());
    }
    full.store(false, Ordering::SeqCst);
    for expected in ["2", "3"] {
        let resp = Request::get("/count")
            .cookie(&cookie)
            .send(addr)
            .await
            .unwrap();
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, expected),
            "the count goes on from the committed 1"
        );
    }
    sesh_tests::http::TestServer::stop(server).await;
}
