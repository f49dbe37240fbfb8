//! The `SessionStore` contract (`sesh_tokio::store::testing`, one test per
//! case) on every store: memory, redb and a real redis-server started on a
//! free loopback port; then what each backend promises beyond it.
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
use sesh_tokio::StoreError;
use sesh_tokio::store::testing::{new_id as id, record};
use sesh_tokio::store::{Created, MemoryStore, Saved, SessionStore, StoreKey};

/// Beyond the contract, which lets a store whose backend expires sessions
/// itself answer 0: every store here counts exactly what a purge removed.
async fn a_purge_counts_what_it_removed(store: &dyn SessionStore) {
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
    let then = now + Duration::from_secs(10);
    assert_eq!(store.purge_expired(then).await.unwrap(), 3);
    assert!(store.load(&keep, then).await.unwrap().is_some());
    assert_eq!(store.purge_expired(then).await.unwrap(), 0);
}

mod memory_store {
    use super::*;

    sesh_tokio::store_contract_tests!(|max_sessions| async move { MemoryStore::new(max_sessions) });

    #[tokio::test]
    async fn a_purge_counts_what_it_removed() {
        super::a_purge_counts_what_it_removed(&MemoryStore::new(100)).await;
    }
}

mod redb_store {
    use super::*;
    use sesh_tokio::store::RedbStore;

    /// A store in a new file, with the directory that holds it.
    async fn make(max_sessions: usize) -> (RedbStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("s.redb"), StoreKey::new(&[5; 32]).unwrap())
            .await
            .unwrap()
            .with_max_sessions(max_sessions);
        (store, dir)
    }

    sesh_tokio::store_contract_tests!(make);

    #[tokio::test]
    async fn a_purge_counts_what_it_removed() {
        let (store, _dir) = make(100).await;
        super::a_purge_counts_what_it_removed(&store).await;
    }

    const SESSIONS: redb::TableDefinition<&[u8], &[u8]> =
        redb::TableDefinition::new("sesh_sessions_v2");

    /// Runs `change` on the raw sessions table of the file at `path` (the
    /// store closed): what someone with write access to the file can do.
    fn tamper(path: &std::path::Path, change: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
        let db = redb::Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut sessions = txn.open_table(SESSIONS).unwrap();
            change(&mut sessions);
        }
        txn.commit().unwrap();
    }

    fn value(table: &redb::Table<&[u8], &[u8]>, key: &[u8; 16]) -> Vec<u8> {
        use redb::ReadableTable;
        table.get(key.as_slice()).unwrap().unwrap().value().to_vec()
    }

    /// Finding 4 of issue 14 on redb: with write access to the file (not
    /// the secret), copying the admin's record onto the key of one's own
    /// session, or editing one's record, makes nobody admin: the record
    /// loads as absent and is deleted.
    #[tokio::test]
    async fn records_moved_or_edited_load_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let keys = StoreKey::new(&[5; 32]).unwrap();
        let (admin, mallory) = (id(), id());
        let now = Instant::from_secs(1);
        let mut admin_record = record(b"admin", now);
        admin_record.protected = true;
        {
            let store = RedbStore::open(&path, keys.clone()).await.unwrap();
            store.create(&admin, &admin_record, now).await.unwrap();
            store
                .create(&mallory, &record(b"mallory", now), now)
                .await
                .unwrap();
        }
        let (a, m) = (keys.hash(&admin), keys.hash(&mallory));
        tamper(&path, |t| {
            let copied = value(t, &a);
            t.insert(m.as_slice(), copied.as_slice()).unwrap();
        });
        let store = RedbStore::open(&path, keys.clone()).await.unwrap();
        assert_eq!(
            store.load(&mallory, now).await.unwrap(),
            None,
            "a moved record"
        );
        assert_eq!(
            store.load(&admin, now).await.unwrap().unwrap().record,
            admin_record
        );
        assert_eq!(
            store.occupancy().await.unwrap().unwrap().sessions,
            1,
            "deleted"
        );
        // Edited in place: every byte, one at a time.
        drop(store);
        let mut original = Vec::new();
        tamper(&path, |t| original = value(t, &a));
        for at in 0..original.len() {
            tamper(&path, |t| {
                let mut edited = original.clone();
                edited[at] ^= 0x01;
                t.insert(a.as_slice(), edited.as_slice()).unwrap();
            });
            let store = RedbStore::open(&path, keys.clone()).await.unwrap();
            assert_eq!(store.load(&admin, now).await.unwrap(), None, "byte {at}");
        }
        // The untouched record still loads; under another secret it does not.
        tamper(&path, |t| {
            t.insert(a.as_slice(), original.as_slice()).unwrap();
        });
        let other = RedbStore::open(&path, StoreKey::new(&[6; 32]).unwrap())
            .await
            .unwrap();
        assert_eq!(other.load(&admin, now).await.unwrap(), None);
        drop(other);
        tamper(&path, |t| {
            t.insert(a.as_slice(), original.as_slice()).unwrap();
        });
        let store = RedbStore::open(&path, keys).await.unwrap();
        assert_eq!(
            store.load(&admin, now).await.unwrap().unwrap().record,
            admin_record
        );
    }

    /// A file of an older sesh (untagged records in `sesh_sessions_v1`):
    /// its sessions are dropped at open, never read.
    #[tokio::test]
    async fn an_older_file_is_dropped_not_read() {
        const OLD: redb::TableDefinition<&[u8], &[u8]> =
            redb::TableDefinition::new("sesh_sessions_v1");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        let keys = StoreKey::new(&[5; 32]).unwrap();
        let a = id();
        let now = Instant::from_secs(1);
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut old = txn.open_table(OLD).unwrap();
                let mut value = 1u64.to_le_bytes().to_vec();
                value.extend(record(b"old", now).to_vec().unwrap());
                old.insert(keys.hash(&a).as_slice(), value.as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path, keys).await.unwrap();
        assert_eq!(store.load(&a, now).await.unwrap(), None);
        assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 0);
        drop(store);
        use redb::{ReadableDatabase, TableHandle};
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let tables: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        assert!(!tables.iter().any(|t| t.ends_with("_v1")), "{tables:?}");
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

    /// Owners, labels, per-session lifetimes and revocations are in the
    /// file: a reopened store lists the same sessions with the same
    /// deadlines, and a revoked one stays revoked.
    #[tokio::test]
    async fn owners_lifetimes_and_revocations_survive_reopening() {
        use sesh::expiry::Lifetime;
        use sesh::owner::DisplayTag;
        use sesh_tokio::store::Revoked;
        use sesh_tokio::store::testing::{owned, user};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let keys = StoreKey::new(&[5; 32]).unwrap();
        let alice = user("alice");
        let now = Instant::from_secs(1);
        let (remembered, plain, revoked) = (id(), id(), id());
        let long = SessionRecord {
            deadlines: ExpiryPolicy::new()
                .for_lifetime(Lifetime::REMEMBER_ME)
                .start(now),
            ..record(b"r", now)
        };
        {
            let store = RedbStore::open(&path, keys.clone()).await.unwrap();
            let meta = sesh::owner::SessionMeta {
                lifetime: Lifetime::REMEMBER_ME,
                ..owned(Some(&alice), "Firefox", now)
            };
            store
                .create_with_meta(&remembered, &long, &meta, now)
                .await
                .unwrap();
            for id in [&plain, &revoked] {
                let meta = owned(Some(&alice), "Safari", now);
                store
                    .create_with_meta(id, &record(b"p", now), &meta, now)
                    .await
                    .unwrap();
            }
        }
        {
            let store = RedbStore::open(&path, keys.clone()).await.unwrap();
            let mut listed = store.sessions_of(&alice, None, now).await.unwrap();
            listed.sort_by_key(|s| s.label.as_str().to_owned());
            assert_eq!(listed.len(), 3);
            assert_eq!(listed[0].lifetime, Lifetime::REMEMBER_ME);
            assert_eq!(listed[0].expires_at, long.deadlines.expires_at());
            assert_eq!(
                store
                    .revoke(&alice, &DisplayTag::of(&revoked), now)
                    .await
                    .unwrap(),
                Revoked::Ended
            );
        }
        let store = RedbStore::open(&path, keys).await.unwrap();
        assert_eq!(store.load(&revoked, now).await.unwrap(), None);
        let week = now + Duration::from_hours(24 * 7);
        let kept = store.load(&remembered, week).await.unwrap().unwrap();
        assert_eq!(kept.record.deadlines, long.deadlines);
        assert_eq!(kept.meta.lifetime, Lifetime::REMEMBER_ME);
        assert_eq!(store.load(&plain, week).await.unwrap(), None, "expired");
        let listed = store.sessions_of(&alice, None, week).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].tag, DisplayTag::of(&remembered));
    }

    /// A record written before records carried metadata (version 1) still
    /// loads, with no owner, and is saved as version 2.
    #[tokio::test]
    async fn version_one_records_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let keys = StoreKey::new(&[5; 32]).unwrap();
        let a = id();
        let now = Instant::from_secs(1);
        drop(RedbStore::open(&path, keys.clone()).await.unwrap());
        let old = record(b"v1", now);
        let hash = keys.hash(&a);
        tamper(&path, |t| {
            let mut value = 3u64.to_le_bytes().to_vec();
            value.extend(old.to_vec().unwrap());
            assert_eq!(value[8], sesh::record::RECORD_VERSION_WITHOUT_META);
            keys.seal(&hash, &mut value);
            t.insert(hash.as_slice(), value.as_slice()).unwrap();
        });
        let store = RedbStore::open(&path, keys.clone()).await.unwrap();
        let loaded = store.load(&a, now).await.unwrap().unwrap();
        assert_eq!((loaded.record, loaded.version), (old, 3));
        assert_eq!(loaded.meta, sesh::owner::SessionMeta::default());
        let saved = store.save(&a, &record(b"v2", now), 3, now).await.unwrap();
        assert_eq!(saved, Saved::Stored(4));
        assert_eq!(
            store.load(&a, now).await.unwrap().unwrap().record.data,
            b"v2"
        );
    }
}

mod redis_store {
    use super::*;
    use sesh_tests::http::redis_server::RedisServer;
    use sesh_tokio::store::{EvictionPolicyRefused, RedisConfig, RedisStore};

    /// A store on a redis-server of its own (stopped with the guard).
    async fn make(max_sessions: usize) -> (RedisStore, RedisServer) {
        let server = RedisServer::start().unwrap();
        let store = RedisStore::new(
            RedisConfig::new(server.url())
                .with_prefix("t1:")
                .with_max_sessions(max_sessions),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap();
        (store, server)
    }

    sesh_tokio::store_contract_tests!(make);

    #[tokio::test]
    async fn a_purge_counts_what_it_removed() {
        let (store, _server) = make(100).await;
        super::a_purge_counts_what_it_removed(&store).await;
    }

    /// The contract again with the write cache off: every
    /// `load_for_update` reads Redis.
    mod without_a_write_cache {
        use super::*;

        async fn make(max_sessions: usize) -> (RedisStore, RedisServer) {
            let server = RedisServer::start().unwrap();
            let store = RedisStore::new(
                RedisConfig::new(server.url())
                    .with_prefix("t5c:")
                    .with_max_sessions(max_sessions)
                    .with_write_cache(0),
                StoreKey::new(&[5; 32]).unwrap(),
            )
            .unwrap();
            (store, server)
        }

        sesh_tokio::store_contract_tests!(make);
    }

    /// Two servers sharing the prefix share the bound.
    #[tokio::test]
    async fn stores_sharing_a_prefix_share_the_bound() {
        let server = RedisServer::start().unwrap();
        let bounded = |prefix: &str| {
            RedisStore::new(
                RedisConfig::new(server.url())
                    .with_prefix(prefix)
                    .with_max_sessions(4),
                StoreKey::new(&[5; 32]).unwrap(),
            )
            .unwrap()
        };
        let (one, other) = (bounded("t1b:"), bounded("t1b:"));
        let now = Instant::from_secs(20_000);
        for _ in 0..3 {
            one.create(&id(), &record(b"x", now), now).await.unwrap();
        }
        let occupancy = other.occupancy().await.unwrap().unwrap();
        assert_eq!((occupancy.sessions, occupancy.capacity), (3, Some(4)));
        for _ in 0..10 {
            other.create(&id(), &record(b"x", now), now).await.unwrap();
        }
        assert_eq!(one.occupancy().await.unwrap().unwrap().sessions, 4);
        assert_eq!(other.occupancy().await.unwrap().unwrap().sessions, 4);
    }

    fn redis_store(server: &RedisServer, prefix: &str) -> RedisStore {
        RedisStore::new(
            RedisConfig::new(server.url()).with_prefix(prefix),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap()
    }

    /// The session keys under `prefix` (32 hex digits after it), leaving
    /// out the store's two sets (`prefix` + `unprotected` / `protected`).
    async fn keys(con: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
        let all: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(con)
            .await
            .unwrap();
        all.into_iter()
            .filter(|k| {
                k.strip_prefix(prefix).is_some_and(|rest| {
                    rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())
                })
            })
            .collect()
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

    /// The stored value: a 17-byte header (b'B', version and deadline as
    /// big-endian u64), then the core's record, then a 16-byte tag.
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
            v[HEADER] = sesh::record::RECORD_VERSION + 1;
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
        let found = keys(&mut con, "t2:").await;
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
                keys(&mut con, "t2:").await.is_empty(),
                "{damage} was not deleted"
            );
            let saved = store.save(&a, &record(b"y", now), 1, now).await.unwrap();
            assert_eq!(saved, Saved::Missing, "{damage}");
            assert!(keys(&mut con, "t2:").await.is_empty(), "{damage} came back");
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
                keys(&mut con, "t2:").await.is_empty(),
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
        assert!(keys(&mut con, "t2:").await.is_empty());
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("v")
            .arg(1)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(store.load(&a, now).await.unwrap(), None, "a hash");
        assert!(keys(&mut con, "t2:").await.is_empty());
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
        let key = keys(&mut con, "t3:").await.remove(0);
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
            let key = keys(&mut con, "t6:").await.remove(0);
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
        let key = keys(&mut con, "t6:").await.remove(0);
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

    /// Collects what `tracing` writes while a test runs.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    async fn value(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<u8> {
        redis::cmd("GET").arg(key).query_async(con).await.unwrap()
    }

    async fn set(con: &mut redis::aio::MultiplexedConnection, key: &str, value: &[u8]) {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async(con)
            .await
            .unwrap();
    }

    /// Finding 4 of issue 14 on Redis: with write access to Redis (not the
    /// secret), copying the admin's value onto the key of one's own
    /// session, or editing one's value, makes nobody admin: the value loads
    /// as absent, is deleted, and a warning is logged (without the id).
    #[tokio::test]
    async fn values_moved_or_edited_load_as_absent_and_are_logged() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t7:");
        let secret = StoreKey::new(&[5; 32]).unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let key_of = |id: &SessionId| {
            let hex: String = secret.hash(id).iter().map(|b| format!("{b:02x}")).collect();
            format!("t7:{hex}")
        };
        let (admin, mallory) = (id(), id());
        let now = Instant::from_secs(1);
        let mut admin_record = record(b"admin", now);
        admin_record.protected = true;
        store.create(&admin, &admin_record, now).await.unwrap();
        store
            .create(&mallory, &record(b"mallory", now), now)
            .await
            .unwrap();
        let admin_value = value(&mut con, &key_of(&admin)).await;

        // Moved: the admin's value under mallory's key.
        set(&mut con, &key_of(&mallory), &admin_value).await;
        assert_eq!(
            store.load(&mallory, now).await.unwrap(),
            None,
            "a moved value"
        );
        assert!(
            keys(&mut con, "t7:").await == vec![key_of(&admin)],
            "deleted"
        );
        // And through the write path (a save from a fresh load) too.
        set(&mut con, &key_of(&mallory), &admin_value).await;
        assert_eq!(store.load_for_update(&mallory, now).await.unwrap(), None);
        assert_eq!(
            store.load(&admin, now).await.unwrap().unwrap().record,
            admin_record,
            "the admin's own value is untouched"
        );
        // Edited: every byte of the admin's value, one at a time.
        for at in 0..admin_value.len() {
            let mut edited = admin_value.clone();
            edited[at] ^= 0x01;
            set(&mut con, &key_of(&admin), &edited).await;
            assert_eq!(store.load(&admin, now).await.unwrap(), None, "byte {at}");
        }
        // Another secret's value, and an older sesh's (untagged) one.
        let stranger = redis_store_with_key(&server, "t7s:", [6; 32]);
        let planted = id();
        stranger.create(&planted, &admin_record, now).await.unwrap();
        let theirs = keys(&mut con, "t7s:").await.remove(0);
        let forged = value(&mut con, &theirs).await;
        set(&mut con, &key_of(&planted), &forged).await;
        assert_eq!(
            store.load(&planted, now).await.unwrap(),
            None,
            "another secret"
        );
        let mut untagged = vec![b'S'];
        untagged.extend(1u64.to_be_bytes());
        untagged.extend(
            admin_record
                .deadlines
                .expires_at()
                .as_millis()
                .to_be_bytes(),
        );
        untagged.extend(admin_record.to_vec().unwrap());
        set(&mut con, &key_of(&admin), &untagged).await;
        assert_eq!(store.load(&admin, now).await.unwrap(), None, "untagged");
        assert!(keys(&mut con, "t7:").await.is_empty(), "all deleted");
        assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 0);

        let logs = captured.text();
        assert!(logs.contains("not bound to its key"), "{logs}");
        assert!(logs.contains("older sesh"), "{logs}");
        for id in [&admin, &mallory, &planted] {
            assert!(!logs.contains(id.encode().as_str()), "a raw id in the logs");
        }
    }

    fn redis_store_with_key(server: &RedisServer, prefix: &str, secret: [u8; 32]) -> RedisStore {
        RedisStore::new(
            RedisConfig::new(server.url()).with_prefix(prefix),
            StoreKey::new(&secret).unwrap(),
        )
        .unwrap()
    }

    /// Finding 5 of issue 14: the status figure is two counters, never a
    /// scan of the keyspace.
    #[tokio::test]
    async fn occupancy_reads_counters_not_the_keyspace() {
        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t8:");
        let now = Instant::from_secs(1);
        for _ in 0..500 {
            store.create(&id(), &record(b"x", now), now).await.unwrap();
        }
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut con)
            .await
            .unwrap();
        let occupancy = store.occupancy().await.unwrap().unwrap();
        assert_eq!(occupancy.sessions, 500);
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(stats.contains("cmdstat_zcard:calls=2,"), "{stats}");
        for scan in ["cmdstat_scan:", "cmdstat_keys:", "cmdstat_dbsize:"] {
            assert!(!stats.contains(scan), "{scan} in {stats}");
        }
    }

    /// Finding 1 of issue 14 on Redis: an `allkeys-*` eviction policy can
    /// evict a logged-in session, so the store refuses such a Redis, at
    /// `connect` and, for a lazy store, at its first command, and writes
    /// nothing. The opt-out runs with a warning.
    #[tokio::test]
    async fn an_allkeys_eviction_policy_is_refused_at_start() {
        let server =
            RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"])
                .unwrap();
        let config = RedisConfig::new(server.url()).with_prefix("t9:");
        let key = StoreKey::new(&[5; 32]).unwrap();
        let refused = |e: &StoreError| match e {
            StoreError::Backend(source) => source
                .downcast_ref::<EvictionPolicyRefused>()
                .is_some_and(|r| r.policy.as_deref() == Some("allkeys-lru")),
            _ => false,
        };
        let err = RedisStore::connect(config.clone(), key.clone())
            .await
            .unwrap_err();
        assert!(refused(&err), "{err}");
        assert!(err.to_string().contains("allkeys-lru"), "{err}");
        let lazy = RedisStore::new(config.clone(), key.clone()).unwrap();
        let now = Instant::from_secs(1);
        for _ in 0..2 {
            let err = lazy
                .create(&id(), &record(b"x", now), now)
                .await
                .unwrap_err();
            assert!(refused(&err), "{err}");
        }
        assert!(refused(&lazy.load(&id(), now).await.unwrap_err()));
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let all: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(all.is_empty(), "nothing was written: {all:?}");
        // ⚠️ The opt-out.
        let unsafe_store = RedisStore::connect(config.allow_unsafe_eviction_policy(), key)
            .await
            .unwrap();
        unsafe_store
            .create(&id(), &record(b"x", now), now)
            .await
            .unwrap();
    }

    /// The admin logs in, then 15,000 anonymous sessions flood a Redis with
    /// `maxmemory` 2 MB and `policy`. Redis runs out of memory; the
    /// admin's session is never evicted. Returns what the flood got.
    async fn flood(policy: &str, prefix: &str) -> (usize, usize, i64) {
        let server =
            RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", policy]).unwrap();
        let store = RedisStore::connect(
            RedisConfig::new(server.url()).with_prefix(prefix),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .await
        .unwrap();
        let now = Instant::from_secs(1);
        let admin = id();
        // As the adapter logs in: a session, then marked protected.
        store
            .create(&admin, &record(b"admin", now), now)
            .await
            .unwrap();
        let seen = store.load(&admin, now).await.unwrap().unwrap();
        let mut logged_in = seen.record.clone();
        logged_in.protected = true;
        store
            .save(&admin, &logged_in, seen.version, now)
            .await
            .unwrap();
        let (mut stored, mut refused) = (0, 0);
        let blob = vec![0x5a; 100];
        for _ in 0..15_000 {
            match store.create(&id(), &record(&blob, now), now).await {
                Ok(Created::Stored(_)) => stored += 1,
                Err(StoreError::Backend(e)) if e.to_string().contains("OOM") => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            store.load(&admin, now).await.unwrap().map(|s| s.record),
            Some(logged_in),
            "{policy}: the logged-in session was evicted"
        );
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut con)
            .await
            .unwrap();
        let evicted = info
            .lines()
            .find_map(|l| l.strip_prefix("evicted_keys:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap();
        println!(
            "{policy}: {stored} sessions stored, {refused} refused (OOM), {evicted} keys evicted by Redis"
        );
        // A logout works even when Redis is out of memory.
        store.delete(&admin).await.unwrap();
        assert_eq!(
            store.load(&admin, now).await.unwrap(),
            None,
            "{policy}: logout"
        );
        (stored, refused, evicted)
    }

    /// Finding 1 of issue 14, the attack itself: an LRU policy (volatile,
    /// which sesh accepts) and a flood of anonymous clients. Redis evicts
    /// anonymous sessions to make room, never the logged-in one, which
    /// has no TTL.
    #[tokio::test]
    async fn a_volatile_lru_redis_keeps_the_logged_in_session_through_a_flood() {
        let (stored, _refused, evicted) = flood("volatile-lru", "t10:").await;
        assert!(stored > 0);
        assert!(
            evicted > 0,
            "the flood never made Redis evict: the test proves nothing"
        );
    }

    /// With `noeviction` Redis evicts nothing: once full, new sessions are
    /// refused (the adapter answers 500), the logged-in one stays.
    #[tokio::test]
    async fn a_noeviction_redis_refuses_new_sessions_and_keeps_the_logged_in_one() {
        let (stored, refused, evicted) = flood("noeviction", "t11:").await;
        assert!(
            stored > 0 && refused > 0,
            "stored {stored}, refused {refused}"
        );
        assert_eq!(evicted, 0);
    }

    /// The two sets follow the values: every session is in the set of its
    /// flag, scored by its deadline, with a TTL only when unprotected; no
    /// member points nowhere. Checked after each step of a pseudo-random
    /// run of creates, saves (deadlines and flags moving), deletes,
    /// compare-and-deletes, purges and evictions (a bound of 8).
    #[tokio::test]
    async fn the_sets_follow_the_sessions() {
        let server = RedisServer::start().unwrap();
        let store = RedisStore::new(
            RedisConfig::new(server.url())
                .with_prefix("t12:")
                .with_max_sessions(8),
            StoreKey::new(&[5; 32]).unwrap(),
        )
        .unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let ids: Vec<SessionId> = (0..12).map(|_| id()).collect();
        let mut seed = 0x5e55_1012_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for step in 0..400u64 {
            let id = &ids[next(12) as usize];
            let now = Instant::from_secs(step);
            let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_secs(5 + next(40)));
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
                    let seen = if next(2) == 0 {
                        store.load_for_update(id, now).await.unwrap()
                    } else {
                        store.load(id, now).await.unwrap()
                    };
                    if let Some(seen) = seen {
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
            let mut want: Vec<(String, bool, u64)> = Vec::new();
            for key in keys(&mut con, "t12:").await {
                let value = value(&mut con, &key).await;
                let deadline = u64::from_be_bytes(value[9..17].try_into().unwrap());
                let ttl: i64 = redis::cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                let protected = ttl == -1;
                want.push((key["t12:".len()..].to_owned(), protected, deadline));
            }
            let mut got: Vec<(String, bool, u64)> = Vec::new();
            for (set, protected) in [("t12:unprotected", false), ("t12:protected", true)] {
                let members: Vec<(String, u64)> = redis::cmd("ZRANGE")
                    .arg(set)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                got.extend(members.into_iter().map(|(m, d)| (m, protected, d)));
            }
            want.sort();
            got.sort();
            assert!(want.len() <= 8, "step {step}: over the bound");
            assert_eq!(got, want, "step {step}");
            let counted = store.occupancy().await.unwrap().unwrap().sessions;
            assert_eq!(counted, want.len(), "step {step}: occupancy");
        }
    }
    /// A value written before records carried metadata (version 1) still
    /// loads, with no owner, and a save writes version 2.
    #[tokio::test]
    async fn version_one_values_still_load() {
        let server = RedisServer::start().unwrap();
        let store = redis_store(&server, "t9:");
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let a = id();
        let now = Instant::from_secs(1);
        let old = record(b"v1", now);
        store.create(&a, &old, now).await.unwrap();
        let key = keys(&mut con, "t9:").await.remove(0);
        let current = value(&mut con, &key).await;
        let mut v1 = current[..HEADER].to_vec();
        v1.extend(old.to_vec().unwrap());
        StoreKey::new(&[5; 32])
            .unwrap()
            .seal(&StoreKey::new(&[5; 32]).unwrap().hash(&a), &mut v1);
        set(&mut con, &key, &v1).await;
        let fresh = redis_store(&server, "t9:");
        let loaded = fresh.load(&a, now).await.unwrap().unwrap();
        assert_eq!((loaded.record, loaded.version), (old, 1));
        assert_eq!(loaded.meta, sesh::owner::SessionMeta::default());
        let saved = fresh.save(&a, &record(b"v2", now), 1, now).await.unwrap();
        assert_eq!(saved, Saved::Stored(2));
        assert_eq!(
            value(&mut con, &key).await[HEADER],
            sesh::record::RECORD_VERSION
        );
    }

    /// The calls Redis counted (`INFO commandstats`, which counts the
    /// commands scripts call too).
    async fn calls(con: &mut redis::aio::MultiplexedConnection) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(con)
            .await
            .unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info"))
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    /// The owner index: a user's set lives at least as long as the
    /// longest of its sessions (for ever with a logged-in one, which has no
    /// TTL), entries of sessions Redis expired leave it when listed, and a
    /// revoke_all costs the same commands however many other sessions the
    /// store holds.
    #[tokio::test]
    async fn the_owner_index_follows_the_sessions() {
        use sesh_tokio::store::testing::{owned, protected_record, user};
        let server = RedisServer::start().unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let store = redis_store(&server, "t10:");
        let alice = user("alice");
        let now = Instant::from_secs(1);
        let meta = owned(Some(&alice), "", now);
        let short = SessionRecord {
            deadlines: ExpiryPolicy::new()
                .with_idle_timeout(Duration::from_millis(300))
                .start(now),
            ..record(b"s", now)
        };
        let long = record(b"l", now + Duration::from_secs(20));
        let (s, l) = (id(), id());
        store
            .create_with_meta(&s, &short, &meta, now)
            .await
            .unwrap();
        store.create_with_meta(&l, &long, &meta, now).await.unwrap();
        let sets: Vec<String> = redis::cmd("KEYS")
            .arg("t10:user:*")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(sets.len(), 1, "{sets:?}");
        let user_set = sets[0].clone();
        let ttl = pttl(&mut con, &user_set).await;
        assert!(
            (29_000..=30_000).contains(&ttl),
            "{ttl}: the longest session's"
        );
        // Redis expires the short one itself; a listing drops its entry.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let listed = store.sessions_of(&alice, None, now).await.unwrap();
        assert_eq!(listed.len(), 1);
        let members: usize = redis::cmd("ZCARD")
            .arg(&user_set)
            .query_async(&mut con)
            .await
            .unwrap();
        let owners: usize = redis::cmd("HLEN")
            .arg("t10:owners")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((members, owners), (1, 1), "the expired session's entries");
        // A logged-in session has no TTL: nor has its user's set.
        let p = id();
        store
            .create_with_meta(&p, &protected_record(b"p", now), &meta, now)
            .await
            .unwrap();
        assert_eq!(pttl(&mut con, &user_set).await, -1);
        // revoke_all costs what the user's sessions cost.
        let mut cost = Vec::new();
        for (prefix, others) in [("t11:", 0), ("t12:", 300)] {
            let store = redis_store(&server, prefix);
            for n in 0..others {
                let bob = owned((n % 2 == 0).then(|| user("bob")).as_ref(), "", now);
                store
                    .create_with_meta(&id(), &record(b"o", now), &bob, now)
                    .await
                    .unwrap();
            }
            for _ in 0..3 {
                store
                    .create_with_meta(&id(), &record(b"a", now), &meta, now)
                    .await
                    .unwrap();
            }
            // Loads the script (NOSCRIPT the first time), so both count alike.
            store.revoke_all(&user("nobody"), None, now).await.unwrap();
            let before = calls(&mut con).await;
            assert_eq!(store.revoke_all(&alice, None, now).await.unwrap(), 3);
            cost.push(calls(&mut con).await - before);
        }
        assert!(cost[0] > 3, "{cost:?}: the commands its script calls count");
        assert_eq!(
            cost[0], cost[1],
            "revoke_all's commands with 0 and 300 other sessions"
        );
    }
}
