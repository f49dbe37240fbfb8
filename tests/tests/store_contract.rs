//! The `SessionStore` contract, checked on every store: memory, redb and a
//! real redis-server started on a free loopback port.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use sesh::expiry::ExpiryPolicy;
use sesh::record::SessionRecord;
use sesh::{Duration, Instant, SessionId};
use sesh_tokio::store::{Created, MemoryStore, Saved, SessionStore, StoreKey};

fn id() -> SessionId {
    SessionId::generate(&mut rand_core::UnwrapErr(getrandom::SysRng)).unwrap()
}

fn record(data: &[u8], now: Instant) -> SessionRecord<Vec<u8>> {
    let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_secs(10));
    SessionRecord {
        deadlines: policy.start(now),
        protected: false,
        data: data.to_vec(),
    }
}

async fn contract(store: &impl SessionStore) {
    let now = Instant::from_secs(1_000);
    let a = id();
    assert_eq!(store.load(&a, now).await.unwrap(), None);
    assert_eq!(
        store.create(&a, &record(b"one", now), now).await.unwrap(),
        Created::Stored(1)
    );
    // A create never overwrites.
    assert_eq!(
        store.create(&a, &record(b"evil", now), now).await.unwrap(),
        Created::IdTaken
    );
    let loaded = store.load(&a, now).await.unwrap().unwrap();
    assert_eq!(loaded.record.data, b"one");
    // Compare-and-swap.
    let saved = store
        .save(&a, &record(b"two", now), loaded.version, now)
        .await
        .unwrap();
    let Saved::Stored(v2) = saved else {
        panic!("{saved:?}")
    };
    assert_ne!(v2, loaded.version);
    assert_eq!(
        store
            .save(&a, &record(b"stale", now), loaded.version, now)
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(
        store.load(&a, now).await.unwrap().unwrap().record.data,
        b"two"
    );
    // Delete, and a save never resurrects.
    store.delete(&a).await.unwrap();
    store.delete(&a).await.unwrap();
    assert_eq!(store.load(&a, now).await.unwrap(), None);
    assert_eq!(
        store
            .save(&a, &record(b"ghost", now), v2, now)
            .await
            .unwrap(),
        Saved::Missing
    );
    assert_eq!(store.load(&a, now).await.unwrap(), None);
    // Expiry: absent at the deadline; an expired id may be created again.
    let b = id();
    store.create(&b, &record(b"b", now), now).await.unwrap();
    let deadline = now + Duration::from_secs(10);
    assert!(
        store
            .load(&b, Instant::from_millis(deadline.as_millis() - 1))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.load(&b, deadline).await.unwrap(), None);
    assert_eq!(
        store
            .save(&b, &record(b"late", deadline), 1, deadline)
            .await
            .unwrap(),
        Saved::Missing
    );
    assert!(store.occupancy().await.unwrap().sessions <= 1);
}

async fn purges(store: &impl SessionStore) {
    let now = Instant::from_secs(5_000);
    for _ in 0..3 {
        store.create(&id(), &record(b"x", now), now).await.unwrap();
    }
    let keep = id();
    let later = now + Duration::from_secs(5);
    store
        .create(&keep, &record(b"keep", later), later)
        .await
        .unwrap();
    let purged = store
        .purge_expired(now + Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    assert!(
        store
            .load(&keep, now + Duration::from_secs(10))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(&MemoryStore::new(100)).await;
    purges(&MemoryStore::new(100)).await;
}

mod redb_store {
    use super::*;
    use sesh_tokio::store::RedbStore;

    #[tokio::test]
    async fn keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("s.redb"), StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        contract(&store).await;
        let fresh = RedbStore::open(dir.path().join("p.redb"), StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        purges(&fresh).await;
    }

    #[tokio::test]
    async fn survives_reopening_and_stores_no_raw_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let a = id();
        let now = Instant::from_secs(1);
        {
            let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
                .await
                .unwrap();
            store.create(&a, &record(b"kept", now), now).await.unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let raw = a.encode();
        assert!(
            !bytes.windows(22).any(|w| w == raw.as_str().as_bytes()),
            "raw id at rest"
        );
        let store = RedbStore::open(&path, StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap();
        assert_eq!(
            store.load(&a, now).await.unwrap().unwrap().record.data,
            b"kept"
        );
        // Another store key finds nothing: the key really keys the hash.
        drop(store);
        let other = RedbStore::open(&path, StoreKey::new(&[6; 32]).unwrap())
            .await
            .unwrap();
        assert_eq!(other.load(&a, now).await.unwrap(), None);
    }
}

mod redis_store {
    use super::*;
    use sesh_tests::http::redis_server::RedisServer;
    use sesh_tokio::store::{RedisConfig, RedisStore};

    #[tokio::test]
    async fn keeps_the_contract() {
        let server = RedisServer::start().unwrap();
        let store = RedisStore::new(
            RedisConfig::new(server.url()).with_prefix("t1:"),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap();
        contract(&store).await;
    }

    #[tokio::test]
    async fn corrupted_records_are_absent_and_deleted() {
        let server = RedisServer::start().unwrap();
        let store = RedisStore::new(
            RedisConfig::new(server.url()).with_prefix("t2:"),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap();
        let a = id();
        let now = Instant::from_secs(1);
        store.create(&a, &record(b"x", now), now).await.unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("t2:*")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].contains(a.encode().as_str()), "raw id in a key");
        let _: () = redis::cmd("HSET")
            .arg(&keys[0])
            .arg("d")
            .arg(b"\xff\x00garbage".as_slice())
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(store.load(&a, now).await.unwrap(), None);
        let left: Vec<String> = redis::cmd("KEYS")
            .arg("t2:*")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(left.is_empty());
        // Each field damaged in turn: absent and deleted, so nothing saves over it.
        for field in ["v", "e", "d"] {
            store.create(&a, &record(b"x", now), now).await.unwrap();
            let _: () = redis::cmd("HSET")
                .arg(&keys[0])
                .arg(field)
                .arg("garbage")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(store.load(&a, now).await.unwrap(), None, "damaged {field}");
            let saved = store.save(&a, &record(b"y", now), 1, now).await.unwrap();
            assert_eq!(saved, sesh_tokio::store::Saved::Missing, "damaged {field}");
            let left: Vec<String> = redis::cmd("KEYS")
                .arg("t2:*")
                .query_async(&mut con)
                .await
                .unwrap();
            assert!(left.is_empty(), "damaged {field} was not deleted");
        }
    }
}
