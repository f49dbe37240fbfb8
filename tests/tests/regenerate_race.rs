//! `regenerate` and `sign_in` against an update another server saves
//! between their copy and the removal of the old id, on every store: the
//! move starts again from the new version, and the update is kept.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sesh::owner::{DisplayTag, SessionInfo, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};
use sesh_tests::http::axum_probe::{ProbeData, TokioServer};
use sesh_tests::http::client::Request;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tests::http::{ServerSpec, TestServer};
use sesh_tokio::store::{
    Created, MemoryStore, Occupancy, RedbStore, RedisConfig, RedisStore, Removed, Revoked, Saved,
    SessionStore, StoreFuture, StoreKey, StoredSession,
};

/// A real store, plus "another server": armed, it saves `count + 100` to
/// a session just before the next compare-and-delete of that session runs.
struct RacingStore<S> {
    inner: S,
    armed: Arc<AtomicBool>,
}

impl<S: SessionStore> RacingStore<S> {
    async fn race(&self, id: &SessionId, now: Instant) {
        let stored = self.inner.load(id, now).await.unwrap().unwrap();
        let mut data: ProbeData = postcard::from_bytes(&stored.record.data).unwrap();
        data.count += 100;
        let record = SessionRecord {
            data: postcard::to_allocvec(&data).unwrap(),
            ..stored.record
        };
        let saved = self.inner.save(id, &record, stored.version, now).await;
        assert!(matches!(saved, Ok(Saved::Stored(_))), "{saved:?}");
    }
}

impl<S: SessionStore> SessionStore for RacingStore<S> {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        self.inner.load(id, now)
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        self.inner.create(id, record, now)
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        self.inner.save(id, record, expected_version, now)
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        self.inner.delete(id)
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        Box::pin(async move {
            if self.armed.swap(false, Ordering::SeqCst) {
                self.race(id, now).await;
            }
            self.inner.delete_version(id, expected_version, now).await
        })
    }

    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        self.inner.purge_expired(now)
    }

    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        self.inner.occupancy()
    }

    // The owner methods go to the real store: the login marks the owner.
    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        self.inner.create_with_meta(id, record, meta, now)
    }

    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        self.inner
            .save_with_meta(id, record, meta, expected_version, now)
    }

    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        self.inner.sessions_of(user, current, now)
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        self.inner.revoke(user, tag, now)
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        self.inner.revoke_all(user, except, now)
    }
}

/// How the session moves to a new id.
#[derive(Clone, Copy)]
enum Move {
    /// `POST /regenerate`: `Session::regenerate`.
    Regenerate,
    /// `POST /login?user=ann`: `Session::sign_in`, carrying the data over.
    SignIn,
}

/// Counts to 2, moves the session to a new id while another server adds
/// 100, and reads the count under the new id.
async fn an_update_during_a_move_is_kept<S: SessionStore>(inner: S, how: Move) {
    let armed = Arc::new(AtomicBool::new(false));
    let store = RacingStore {
        inner,
        armed: armed.clone(),
    };
    let server = TokioServer::start(store, ServerSpec::default())
        .await
        .unwrap();
    let addr = server.addr();
    let first = Request::get("/count").send(addr).await.unwrap();
    let old = first.set_cookies()[0].pair();
    let second = Request::get("/count")
        .cookie(&old)
        .send(addr)
        .await
        .unwrap();
    assert_eq!(second.text(), "2");
    armed.store(true, Ordering::SeqCst);
    let (path, answer, user) = match how {
        Move::Regenerate => ("/regenerate", "regenerated", "not logged in"),
        Move::SignIn => ("/login?user=ann", "ann", "ann"),
    };
    let login = Request::post(path).cookie(&old).send(addr).await.unwrap();
    assert_eq!((login.status, login.text().as_str()), (200, answer));
    assert!(!armed.load(Ordering::SeqCst), "the race ran");
    let new = login.set_cookies()[0].pair();
    assert_ne!(new, old, "a new id at login");
    let count = Request::get("/peek").cookie(&new).send(addr).await.unwrap();
    assert_eq!(count.text(), "102", "the other server's update moved along");
    let me = Request::get("/me").cookie(&new).send(addr).await.unwrap();
    assert_eq!(me.text(), user);
    let gone = Request::get("/peek").cookie(&old).send(addr).await.unwrap();
    assert_eq!(gone.text(), "0", "the old id is gone");
    assert_eq!(server.stored_sessions().await.unwrap(), 1);
    server.stop().await;
}

/// One `#[tokio::test]` per store and move.
macro_rules! race_tests {
    ($($name:ident: $how:expr;)*) => {
        mod memory {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                an_update_during_a_move_is_kept(MemoryStore::default(), $how).await;
            })*
        }

        mod redb {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let store = RedbStore::open(dir.path().join("s.redb"), StoreKey::new(&[5; 32]).unwrap())
                    .await
                    .unwrap();
                an_update_during_a_move_is_kept(store, $how).await;
            })*
        }

        mod redis {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let redis = RedisServer::start().unwrap();
                let store = RedisStore::new(
                    RedisConfig::new(redis.url()),
                    StoreKey::new(&[5; 32]).unwrap(),
                )
                .unwrap();
                an_update_during_a_move_is_kept(store, $how).await;
            })*
        }
    };
}

race_tests! {
    regenerate: Move::Regenerate;
    sign_in: Move::SignIn;
}
