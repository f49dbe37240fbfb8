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
use sesh_tokio::store::{Created, MemoryStore, Removed, Saved, SessionStore, StoreKey};

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
    // Compare-and-delete: a stale version keeps the session.
    let c = id();
    store.create(&c, &record(b"c", now), now).await.unwrap();
    let seen = store.load(&c, now).await.unwrap().unwrap();
    let saved = store
        .save(&c, &record(b"c2", now), seen.version, now)
        .await
        .unwrap();
    let Saved::Stored(v) = saved else {
        panic!("{saved:?}")
    };
    assert_eq!(
        store.delete_version(&c, seen.version, now).await.unwrap(),
        Removed::Conflict
    );
    assert_eq!(
        store.load(&c, now).await.unwrap().unwrap().record.data,
        b"c2"
    );
    assert_eq!(
        store.delete_version(&c, v, now).await.unwrap(),
        Removed::Deleted
    );
    assert_eq!(store.load(&c, now).await.unwrap(), None);
    assert_eq!(
        store.delete_version(&c, v, now).await.unwrap(),
        Removed::Missing
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

    fn redis_store(server: &RedisServer, prefix: &str) -> RedisStore {
        RedisStore::new(
            RedisConfig::new(server.url()).with_prefix(prefix),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap()
    }

    async fn keys(con: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(con)
            .await
            .unwrap()
    }

    /// Damage to a stored value.
    type Damage = fn(Vec<u8>) -> Vec<u8>;

    /// Replaces the value under `key` with `damage` of it, keeping its TTL.
    async fn corrupt(con: &mut redis::aio::MultiplexedConnection, key: &str, damage: Damage) {
        let value: Vec<u8> = redis::cmd("GET").arg(key).query_async(con).await.unwrap();
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(damage(value))
            .arg("KEEPTTL")
            .query_async(con)
            .await
            .unwrap();
    }

    /// The stored value: a 17-byte header (b'S', version and deadline as
    /// big-endian u64), then the core's record.
    const HEADER: usize = 17;

    /// Damage the save script sees too (the header).
    const HEADER_DAMAGE: [(&str, Damage); 4] = [
        ("garbage", |_| b"\xff\x00garbage".to_vec()),
        ("empty", |_| Vec::new()),
        ("a truncated header", |v| v[..HEADER - 3].to_vec()),
        ("another tag", |mut v| {
            v[0] ^= 0x20;
            v
        }),
    ];

    /// Damage only a load sees (behind an intact header).
    const RECORD_DAMAGE: [(&str, Damage); 5] = [
        ("a truncated record", |mut v| {
            v.pop();
            v
        }),
        ("trailing bytes", |mut v| {
            v.extend_from_slice(b"xx");
            v
        }),
        ("an unknown record version", |mut v| {
            v[HEADER] = 2;
            v
        }),
        ("every record byte flipped", |mut v| {
            v[HEADER..].iter_mut().for_each(|b| *b ^= 0xff);
            v
        }),
        ("a header deadline that is not the record's", |mut v| {
            v[HEADER - 1] ^= 0x01;
            v
        }),
    ];

    #[tokio::test]
    async fn corrupted_records_are_absent_and_deleted() {
        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t2:");
        let a = id();
        let now = Instant::from_secs(1);
        store.create(&a, &record(b"x", now), now).await.unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let found = keys(&mut con, "t2:*").await;
        assert_eq!(found.len(), 1);
        let key = found[0].clone();
        assert!(!key.contains(a.encode().as_str()), "raw id in a key");
        // Found by a load: absent and deleted, so no save brings it back.
        for (damage, corruption) in HEADER_DAMAGE.iter().chain(&RECORD_DAMAGE) {
            store.delete(&a).await.unwrap();
            store.create(&a, &record(b"x", now), now).await.unwrap();
            corrupt(&mut con, &key, *corruption).await;
            assert_eq!(store.load(&a, now).await.unwrap(), None, "{damage}");
            assert!(
                keys(&mut con, "t2:*").await.is_empty(),
                "{damage} was not deleted"
            );
            let saved = store.save(&a, &record(b"y", now), 1, now).await.unwrap();
            assert_eq!(saved, Saved::Missing, "{damage}");
            assert!(
                keys(&mut con, "t2:*").await.is_empty(),
                "{damage} came back"
            );
        }
        // Found by a save that starts from the store's cached copy (no
        // load first): missing, and deleted.
        for (damage, corruption) in HEADER_DAMAGE {
            store.create(&a, &record(b"x", now), now).await.unwrap();
            corrupt(&mut con, &key, corruption).await;
            let cached = store.load_for_update(&a, now).await.unwrap().unwrap();
            assert_eq!(cached.record.data, b"x", "{damage}: the cached copy");
            let saved = store
                .save(&a, &record(b"y", now), cached.version, now)
                .await;
            assert_eq!(saved.unwrap(), Saved::Missing, "{damage}");
            assert!(
                keys(&mut con, "t2:*").await.is_empty(),
                "{damage} was not deleted"
            );
            assert_eq!(store.load(&a, now).await.unwrap(), None, "{damage}");
        }
        // The old layout (a hash) reads as damaged too.
        store.create(&a, &record(b"x", now), now).await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("v")
            .arg(1)
            .arg("d")
            .arg(record(b"x", now).to_vec().unwrap())
            .query_async(&mut con)
            .await
            .unwrap();
        let saved = store.save(&a, &record(b"y", now), 1, now).await.unwrap();
        assert_eq!(saved, Saved::Missing, "a hash, found by a save");
        assert!(keys(&mut con, "t2:*").await.is_empty());
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("v")
            .arg(1)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(store.load(&a, now).await.unwrap(), None, "a hash");
        assert!(keys(&mut con, "t2:*").await.is_empty());
    }

    /// A record damaged behind an intact header with the expected version
    /// is replaced by a save from the store's copy of that version.
    #[tokio::test]
    async fn a_save_from_the_cached_copy_repairs_a_damaged_record() {
        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t3:");
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let a = id();
        let now = Instant::from_secs(1);
        store.create(&a, &record(b"x", now), now).await.unwrap();
        let key = keys(&mut con, "t3:*").await.remove(0);
        corrupt(&mut con, &key, RECORD_DAMAGE[3].1).await;
        let cached = store.load_for_update(&a, now).await.unwrap().unwrap();
        let saved = store
            .save(&a, &record(b"y", now), cached.version, now)
            .await;
        assert_eq!(saved.unwrap(), Saved::Stored(2));
        let loaded = store.load(&a, now).await.unwrap().unwrap();
        assert_eq!((loaded.record.data, loaded.version), (b"y".to_vec(), 2));
    }

    /// A load that finds a damaged record deletes it only while it is
    /// unchanged: a repair saved in between by another server (from its
    /// cached copy) stays.
    #[tokio::test]
    async fn a_load_never_deletes_a_repair_it_raced() {
        let server = RedisServer::start().unwrap();
        let reader = redis_store(&server, "t6:");
        let writer = redis_store(&server, "t6:");
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let now = Instant::from_secs(1);
        let mut repairs_kept = 0;
        for round in 0..50 {
            let a = id();
            writer.create(&a, &record(b"x", now), now).await.unwrap();
            let key = keys(&mut con, "t6:*").await.remove(0);
            corrupt(&mut con, &key, RECORD_DAMAGE[3].1).await;
            let cached = writer.load_for_update(&a, now).await.unwrap().unwrap();
            // The reader's GET goes out first, then the writer's repair,
            // then the reader's delete of what it read.
            let repaired = record(b"y", now);
            let (loaded, saved) = tokio::join!(
                reader.load(&a, now),
                writer.save(&a, &repaired, cached.version, now)
            );
            let loaded = loaded.unwrap().map(|s| s.record.data);
            assert!(
                loaded.is_none() || loaded == Some(b"y".to_vec()),
                "round {round}: {loaded:?}"
            );
            match saved.unwrap() {
                Saved::Stored(2) => {
                    let after = reader.load(&a, now).await.unwrap();
                    assert_eq!(
                        after.map(|s| s.record.data),
                        Some(b"y".to_vec()),
                        "round {round}: the repair was lost"
                    );
                    repairs_kept += 1;
                }
                // The damaged value was deleted before the save ran.
                Saved::Missing => {}
                other => panic!("round {round}: {other:?}"),
            }
            writer.delete(&a).await.unwrap();
        }
        assert!(repairs_kept > 0, "no round raced a repair");
    }

    /// Two stores on one Redis, as two servers: a copy cached by one goes
    /// stale when the other saves. Its save then answers Conflict, and the
    /// retry from a load succeeds: no update is lost.
    #[tokio::test]
    async fn a_stale_cached_copy_conflicts_and_the_retry_wins() {
        let server = RedisServer::start().unwrap();
        let one = redis_store(&server, "t4:");
        let two = redis_store(&server, "t4:");
        let a = id();
        let now = Instant::from_secs(100);
        one.create(&a, &record(b"1", now), now).await.unwrap();
        // Server two updates it.
        let seen = two.load_for_update(&a, now).await.unwrap().unwrap();
        let saved = two.save(&a, &record(b"2", now), seen.version, now).await;
        assert_eq!(saved.unwrap(), Saved::Stored(2));
        // Server one still holds version 1: its first try conflicts.
        let stale = one.load_for_update(&a, now).await.unwrap().unwrap();
        assert_eq!(
            (stale.record.data.as_slice(), stale.version),
            (&b"1"[..], 1)
        );
        let first = one.save(&a, &record(b"1+1", now), stale.version, now).await;
        assert_eq!(first.unwrap(), Saved::Conflict);
        // The retry reads the store, so it builds on server two's write.
        let fresh = one.load(&a, now).await.unwrap().unwrap();
        assert_eq!(
            (fresh.record.data.as_slice(), fresh.version),
            (&b"2"[..], 2)
        );
        let retry = one.save(&a, &record(b"3", now), fresh.version, now).await;
        assert_eq!(retry.unwrap(), Saved::Stored(3));
        // Server one's next update starts from its own write: one round trip.
        let next = one.load_for_update(&a, now).await.unwrap().unwrap();
        assert_eq!((next.record.data.as_slice(), next.version), (&b"3"[..], 3));
        // Server two is stale now, and the same holds the other way round.
        let stale = two.load_for_update(&a, now).await.unwrap().unwrap();
        assert_eq!(stale.version, 2);
        let first = two.save(&a, &record(b"x", now), stale.version, now).await;
        assert_eq!(first.unwrap(), Saved::Conflict);
        assert_eq!(two.load(&a, now).await.unwrap().unwrap().record.data, b"3");

        // A cached copy never reports a live session expired: server two
        // moved the deadline on; server one's copy has the old one.
        let b = id();
        one.create(&b, &record(b"b", now), now).await.unwrap();
        let later = now + Duration::from_secs(5);
        let seen = two.load(&b, later).await.unwrap().unwrap();
        let saved = two
            .save(&b, &record(b"b2", later), seen.version, later)
            .await;
        assert_eq!(saved.unwrap(), Saved::Stored(2));
        let past_first_deadline = now + Duration::from_secs(12);
        let live = one.load_for_update(&b, past_first_deadline).await.unwrap();
        assert_eq!(live.map(|s| s.record.data), Some(b"b2".to_vec()));
        // Nor a deleted one live for good: the save answers Missing.
        two.delete(&b).await.unwrap();
        let ghost = one.load_for_update(&b, later).await.unwrap();
        if let Some(ghost) = ghost {
            let saved = one
                .save(&b, &record(b"g", later), ghost.version, later)
                .await;
            assert_eq!(saved.unwrap(), Saved::Missing);
        }
        assert_eq!(one.load(&b, later).await.unwrap(), None);
        assert_eq!(one.load_for_update(&b, later).await.unwrap(), None);
    }

    async fn pttl(con: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
        redis::cmd("PTTL").arg(key).query_async(con).await.unwrap()
    }

    /// The key's TTL follows the deadline: kept by a save that does not
    /// move it, set again by one that does.
    #[tokio::test]
    async fn the_ttl_follows_the_deadline() {
        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t6:");
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let a = id();
        let now = Instant::from_secs(100);
        store.create(&a, &record(b"x", now), now).await.unwrap();
        let key = keys(&mut con, "t6:*").await.remove(0);
        let created = pttl(&mut con, &key).await;
        assert!((9_000..=10_000).contains(&created), "{created}");
        // The same deadline (10 s after `now`), a second later by the
        // caller's clock: the TTL is not set again (that would make it 9 s).
        let later = now + Duration::from_secs(1);
        let seen = store.load_for_update(&a, later).await.unwrap().unwrap();
        let saved = store
            .save(&a, &record(b"y", now), seen.version, later)
            .await;
        assert_eq!(saved.unwrap(), Saved::Stored(2));
        let kept = pttl(&mut con, &key).await;
        assert!((9_500..=10_000).contains(&kept), "{kept}");
        // A refresh moves the deadline to 15 s after `now`: the TTL is set
        // again, from the caller's now.
        let refreshed = record(b"z", now + Duration::from_secs(5));
        let saved = store.save(&a, &refreshed, 2, now).await;
        assert_eq!(saved.unwrap(), Saved::Stored(3));
        let moved = pttl(&mut con, &key).await;
        assert!((14_000..=15_000).contains(&moved), "{moved}");
        let loaded = store.load(&a, now).await.unwrap().unwrap();
        assert_eq!(loaded.record, refreshed);
    }

    /// With the cache off every update reads the store.
    #[tokio::test]
    async fn without_a_write_cache_updates_read_the_store() {
        let server = RedisServer::start().unwrap();
        let config = RedisConfig::new(server.url()).with_prefix("t5:");
        let key = StoreKey::new(&[5; 32]).unwrap();
        let one = RedisStore::new(config.clone().with_write_cache(0), key.clone()).unwrap();
        let two = RedisStore::new(config, key).unwrap();
        contract(&one).await;
        let a = id();
        let now = Instant::from_secs(100);
        one.create(&a, &record(b"1", now), now).await.unwrap();
        let seen = two.load(&a, now).await.unwrap().unwrap();
        two.save(&a, &record(b"2", now), seen.version, now)
            .await
            .unwrap();
        let fresh = one.load_for_update(&a, now).await.unwrap().unwrap();
        assert_eq!(
            (fresh.record.data.as_slice(), fresh.version),
            (&b"2"[..], 2)
        );
    }
}
