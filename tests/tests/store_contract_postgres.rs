//! The `SessionStore` contract (`sesh_tokio::store::testing`, one test per
//! case) on `PostgresStore`, against a throwaway PostgreSQL (initdb into a
//! temporary directory, a free loopback port; one server shared by the
//! cases that run together, a table each); then what the store promises
//! beyond it.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::sync::Arc;

use sesh::owner::{DisplayTag, UserId};
use sesh::{Duration, Instant};
use sesh_tests::http::postgres_server::PostgresServer;
use sesh_tokio::store::testing::{new_id as id, owned, protected_record, record, user};
use sesh_tokio::store::{
    Created, PostgresConfig, PostgresStore, Saved, SessionStore, StoreError, StoreKey,
};

fn key() -> StoreKey {
    StoreKey::new(&[5; 32]).unwrap()
}

/// A store on a table of its own, migrated, with the server it needs.
async fn make(max_sessions: usize) -> (PostgresStore, Arc<PostgresServer>) {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url())
        .with_table(PostgresServer::table("contract"))
        .with_max_sessions(max_sessions);
    let store = PostgresStore::connect(config, key()).await.unwrap();
    (store, server)
}

sesh_tokio::store_contract_tests!(make);

/// The store counts exactly what a purge removed.
#[tokio::test]
async fn a_purge_counts_what_it_removed() {
    let (store, _server) = make(100).await;
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
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 1);
}

/// The sweeper deletes in batches: 1,200 expired rows go in one call, in
/// several statements, and the count follows.
#[tokio::test]
async fn a_large_purge_runs_in_batches() {
    let (store, _server) = make(10_000).await;
    let now = Instant::from_secs(1);
    for _ in 0..1_200 {
        store.create(&id(), &record(b"x", now), now).await.unwrap();
    }
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 1_200);
    let then = now + Duration::from_secs(60);
    assert_eq!(store.purge_expired(then).await.unwrap(), 1_200);
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 0);
}

/// `migrate` is idempotent: a second run, and a second store on the same
/// table, change nothing; two servers migrating at once both succeed.
#[tokio::test]
async fn migrate_is_idempotent_and_safe_to_race() {
    let server = PostgresServer::shared().unwrap();
    let table = PostgresServer::table("migrate");
    let config = PostgresConfig::new(server.url()).with_table(&table);
    let (a, b) = tokio::join!(
        PostgresStore::connect(config.clone(), key()),
        PostgresStore::connect(config.clone(), key()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let now = Instant::from_secs(1);
    let s = id();
    a.create(&s, &record(b"kept", now), now).await.unwrap();
    b.migrate().await.unwrap();
    a.migrate().await.unwrap();
    let loaded = b.load(&s, now).await.unwrap().unwrap();
    assert_eq!(loaded.record.data, b"kept");
    assert_eq!(b.occupancy().await.unwrap().unwrap().sessions, 1);
}

/// Concurrent creates across two stores on one table never pass the
/// bound, and saves from both never lose an update.
#[tokio::test]
async fn two_stores_on_one_table_keep_the_bound_and_every_update() {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url())
        .with_table(PostgresServer::table("two"))
        .with_max_sessions(20);
    let a = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let b = PostgresStore::connect(config, key()).await.unwrap();
    let now = Instant::from_secs(1);
    let mut tasks = Vec::new();
    for n in 0..60 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.create(&id(), &record(b"x", now), now).await.unwrap()
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Created::Stored(1)));
    }
    assert_eq!(a.occupancy().await.unwrap().unwrap().sessions, 20);
    // 100 increments, half through each store, by compare-and-swap.
    let counter = id();
    a.create(&counter, &record(&0u32.to_be_bytes(), now), now)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..100 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            loop {
                let seen = store.load(&counter, now).await.unwrap().unwrap();
                let value = u32::from_be_bytes(seen.record.data[..4].try_into().unwrap());
                let next = record(&(value + 1).to_be_bytes(), now);
                match store
                    .save(&counter, &next, seen.version, now)
                    .await
                    .unwrap()
                {
                    Saved::Stored(_) => return,
                    Saved::Conflict => continue,
                    Saved::Missing => panic!("the counter went missing"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let done = b.load(&counter, now).await.unwrap().unwrap();
    assert_eq!(done.record.data, 100u32.to_be_bytes());
}

/// Someone who can write the table but lacks the secret: a value copied
/// onto another key, an edited value, or a column moved beside an intact
/// value (the deadline pushed out) loads as absent and is deleted.
#[tokio::test]
async fn rows_moved_or_edited_load_as_absent() {
    let server = PostgresServer::shared().unwrap();
    let table = PostgresServer::table("tamper");
    let config = PostgresConfig::new(server.url()).with_table(&table);
    let store = PostgresStore::connect(config, key()).await.unwrap();
    let now = Instant::from_secs(1);
    let (admin, mallory, edited) = (id(), id(), id());
    store
        .create(&admin, &protected_record(b"admin", now), now)
        .await
        .unwrap();
    store
        .create(&mallory, &record(b"mallory", now), now)
        .await
        .unwrap();
    store
        .create(&edited, &record(b"edited", now), now)
        .await
        .unwrap();
    let k = key();
    let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let sql = format!(
        "UPDATE {table} SET value = (SELECT value FROM {table} WHERE key = '\\x{a}'), \
           protected = true WHERE key = '\\x{m}'; \
         UPDATE {table} SET deadline = deadline + 1000000 WHERE key = '\\x{e}';",
        a = hex(k.hash(&admin)),
        m = hex(k.hash(&mallory)),
        e = hex(k.hash(&edited)),
    );
    psql(&server, &sql);
    assert_eq!(
        store.load(&mallory, now).await.unwrap(),
        None,
        "a moved value"
    );
    assert_eq!(
        store.load(&edited, now).await.unwrap(),
        None,
        "an edited column"
    );
    assert!(store.load(&admin, now).await.unwrap().is_some());
    assert_eq!(
        store.occupancy().await.unwrap().unwrap().sessions,
        1,
        "both deleted"
    );
    // Under another secret nothing loads.
    let stranger = PostgresStore::new(
        PostgresConfig::new(server.url()).with_table(&table),
        StoreKey::new(&[6; 32]).unwrap(),
    )
    .unwrap();
    assert_eq!(stranger.load(&admin, now).await.unwrap(), None);
}

/// The rows of `table`, counted (not the store's counters).
fn rows(server: &PostgresServer, table: &str) -> usize {
    query(server, &format!("SELECT count(*) FROM {table}"))
        .parse()
        .unwrap()
}

/// The result of one SQL query, as psql prints it unaligned.
fn query(server: &PostgresServer, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-qAt", "-d", &server.url(), "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs SQL with psql as the server's superuser.
fn psql(server: &PostgresServer, sql: &str) {
    let out = std::process::Command::new("psql")
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-d",
            &server.url(),
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// revoke_all and a listing cost what the user's sessions cost: the same
/// rows read with 0 or 300 other sessions in the table (the owner index).
#[tokio::test]
async fn owner_queries_use_the_owner_index() {
    let server = PostgresServer::shared().unwrap();
    let table = PostgresServer::table("owners");
    let store = PostgresStore::connect(PostgresConfig::new(server.url()).with_table(&table), key())
        .await
        .unwrap();
    let now = Instant::from_secs(1);
    for n in 0..300 {
        // Half anonymous, half owned by users of one session each.
        let other = owned(
            (n % 2 == 0).then(|| user(&format!("u{n}"))).as_ref(),
            "",
            now,
        );
        store
            .create_with_meta(&id(), &record(b"o", now), &other, now)
            .await
            .unwrap();
    }
    let alice = owned(Some(&user("alice")), "", now);
    for _ in 0..3 {
        store
            .create_with_meta(&id(), &record(b"a", now), &alice, now)
            .await
            .unwrap();
    }
    psql(&server, &format!("ANALYZE {table}"));
    let plan = std::process::Command::new("psql")
        .args([
            "-qAt",
            "-d",
            &server.url(),
            "-c",
            // A small table is scanned whatever its indexes: ask whether
            // the owner index serves the predicate at all.
            &format!(
                "SET enable_seqscan = off; \
                 EXPLAIN DELETE FROM {table} WHERE owner = '\\x00112233445566778899aabbccddeeff'"
            ),
        ])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains(&format!("{table}_owner")), "{plan}");
    assert_eq!(
        store
            .sessions_of(&user("alice"), None, now)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store.revoke_all(&user("alice"), None, now).await.unwrap(),
        3
    );
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 300);
}

/// The write cache: an update from this process's copy costs no read, and
/// a copy made stale by another server's save only costs a retry (the
/// compare-and-swap answers Conflict); without a cache every copy is fresh.
#[tokio::test]
async fn a_stale_cached_copy_costs_a_retry_never_an_update() {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url()).with_table(PostgresServer::table("cache"));
    let a = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let b = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let uncached = PostgresStore::connect(config.with_write_cache(0), key())
        .await
        .unwrap();
    let now = Instant::from_secs(1);
    let s = id();
    a.create(&s, &record(b"1", now), now).await.unwrap();
    let copy = a.load_for_update(&s, now).await.unwrap().unwrap();
    let theirs = b.load_for_update(&s, now).await.unwrap().unwrap();
    let v2 = b
        .save(&s, &record(b"2", now), theirs.version, now)
        .await
        .unwrap();
    assert!(matches!(v2, Saved::Stored(2)), "{v2:?}");
    let stale = a.load_for_update(&s, now).await.unwrap().unwrap();
    assert_eq!(stale.version, copy.version, "a's copy, not the database");
    assert_eq!(
        a.save(&s, &record(b"x", now), stale.version, now)
            .await
            .unwrap(),
        Saved::Conflict
    );
    // The conflict dropped the copy: the retry reads the database.
    let fresh = a.load_for_update(&s, now).await.unwrap().unwrap();
    assert_eq!(fresh.record.data, b"2");
    assert_eq!(
        a.save(&s, &record(b"3", now), fresh.version, now)
            .await
            .unwrap(),
        Saved::Stored(3)
    );
    assert_eq!(
        uncached
            .load_for_update(&s, now)
            .await
            .unwrap()
            .unwrap()
            .record
            .data,
        b"3"
    );
    // A session deleted elsewhere: a copy may remain, a save never revives it.
    b.delete(&s).await.unwrap();
    if let Some(ghost) = a.load_for_update(&s, now).await.unwrap() {
        assert_eq!(
            a.save(&s, &record(b"g", now), ghost.version, now)
                .await
                .unwrap(),
            Saved::Missing
        );
    }
    assert_eq!(a.load(&s, now).await.unwrap(), None);
}

/// A bound of 1,024 or more counts creates in 16 rows: sequential creates
/// keep it exactly, and so do creates in flight together that evict.
#[tokio::test]
async fn a_sharded_count_keeps_the_bound() {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url())
        .with_table(PostgresServer::table("sharded"))
        .with_max_sessions(1_024);
    let store = PostgresStore::connect(config, key()).await.unwrap();
    let now = Instant::from_secs(1);
    for _ in 0..1_100 {
        store.create(&id(), &record(b"x", now), now).await.unwrap();
    }
    let occupancy = || async { store.occupancy().await.unwrap().unwrap().sessions };
    assert_eq!(occupancy().await, 1_024);
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&id(), &record(b"y", now), now).await })
        })
        .collect();
    for task in burst {
        assert!(matches!(task.await.unwrap(), Ok(Created::Stored(1))));
    }
    assert_eq!(occupancy().await, 1_024);
    assert_eq!(rows(&server, store.table()), 1_024);
    let then = now + Duration::from_secs(60);
    assert_eq!(store.purge_expired(then).await.unwrap(), 1_024);
    assert_eq!(occupancy().await, 0);
}

/// Each write fails on its own (PostgreSQL has no group commit: a write is
/// its own transaction on a pooled connection). On a store bound at 6 that
/// holds 2 protected sessions, 5 protected creates, an update and a stale
/// update at once: 4 creates and the update are stored, the fifth create
/// is refused with `Full`, the stale update is a conflict, and the table
/// holds exactly what was answered as stored.
#[tokio::test]
async fn one_failing_write_fails_alone() {
    let (store, _server) = make(6).await;
    let now = Instant::from_secs(1);
    let (a, b) = (id(), id());
    for old in [&a, &b] {
        store
            .create(old, &protected_record(b"0", now), now)
            .await
            .unwrap();
    }
    let new: Vec<_> = (0..5).map(|_| id()).collect();
    let creates: Vec<_> = new
        .iter()
        .map(|s| {
            let (store, s) = (store.clone(), *s);
            tokio::spawn(async move { store.create(&s, &protected_record(b"1", now), now).await })
        })
        .collect();
    let update = {
        let store = store.clone();
        tokio::spawn(async move { store.save(&a, &protected_record(b"2", now), 1, now).await })
    };
    let stale = {
        let store = store.clone();
        tokio::spawn(async move { store.save(&b, &protected_record(b"2", now), 7, now).await })
    };
    let mut stored = Vec::new();
    let mut full = 0;
    for (s, create) in new.iter().zip(creates) {
        match create.await.unwrap() {
            Ok(Created::Stored(1)) => stored.push(*s),
            Err(StoreError::Full) => full += 1,
            other => panic!("a create answered {other:?}"),
        }
    }
    assert_eq!((stored.len(), full), (4, 1));
    assert_eq!(update.await.unwrap().unwrap(), Saved::Stored(2));
    assert_eq!(stale.await.unwrap().unwrap(), Saved::Conflict);
    assert_eq!(store.occupancy().await.unwrap().unwrap().sessions, 6);
    for s in &stored {
        assert_eq!(store.load(s, now).await.unwrap().unwrap().record.data, b"1");
    }
    let a = store.load(&a, now).await.unwrap().unwrap();
    assert_eq!((a.version, a.record.data), (2, b"2".to_vec()));
    let b = store.load(&b, now).await.unwrap().unwrap();
    assert_eq!((b.version, b.record.data), (1, b"0".to_vec()));
}

/// Two stores (two pools, 16 connections) on one table bound at `bound`.
async fn two_stores(
    prefix: &str,
    bound: usize,
) -> (PostgresStore, PostgresStore, Arc<PostgresServer>) {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url())
        .with_table(PostgresServer::table(prefix))
        .with_max_sessions(bound);
    let a = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let b = PostgresStore::connect(config, key()).await.unwrap();
    (a, b, server)
}

/// Runs `n` creates at once, alternating between the stores, of protected
/// records when `protected(i)`; answers the stored ids (with whether each
/// is protected) and how many were refused with `Full`. Any other answer
/// fails the test.
async fn burst(
    stores: [&PostgresStore; 2],
    n: usize,
    protected: impl Fn(usize) -> bool,
    now: Instant,
) -> (Vec<(sesh::SessionId, bool)>, usize) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = stores[i % 2].clone();
            let p = protected(i);
            tokio::spawn(async move {
                let s = id();
                let r = if p {
                    protected_record(b"p", now)
                } else {
                    record(b"u", now)
                };
                (s, p, store.create(&s, &r, now).await)
            })
        })
        .collect();
    let (mut stored, mut full) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            (s, p, Ok(Created::Stored(1))) => stored.push((s, p)),
            (_, _, Err(StoreError::Full)) => full += 1,
            (_, _, other) => panic!("a create answered {other:?}"),
        }
    }
    (stored, full)
}

/// The bound is exact however many creates run at once: 64 protected
/// creates over 16 connections on a store that holds `before` of `bound`
/// store exactly the room left and refuse the rest with `Full`, and the
/// table then holds exactly the bound (protected sessions are never
/// deleted here, so the count only grew: it never passed the bound). In
/// one counter row (bounds 4 and 6) and in 16 (1,024).
#[tokio::test]
async fn concurrent_protected_creates_never_pass_the_bound() {
    let now = Instant::from_secs(1);
    for (bound, before) in [(4, 0), (6, 2), (1_024, 1_000)] {
        let (a, b, server) = two_stores("exact", bound).await;
        let (filled, full) = burst([&a, &b], before, |_| true, now).await;
        assert_eq!((filled.len(), full), (before, 0));
        let (stored, full) = burst([&a, &b], 64, |_| true, now).await;
        assert_eq!(
            (stored.len(), full),
            (bound - before, 64 - (bound - before)),
            "bound {bound}"
        );
        assert_eq!(rows(&server, a.table()), bound, "bound {bound}");
        assert_eq!(b.occupancy().await.unwrap().unwrap().sessions, bound);
        for (s, _) in &stored {
            assert!(a.load(s, now).await.unwrap().is_some());
        }
        // Full stays full, one create at a time too.
        assert!(matches!(
            a.create(&id(), &protected_record(b"p", now), now).await,
            Err(StoreError::Full)
        ));
    }
}

/// Protected and unprotected creates at once on a store bound at 8: the
/// unprotected ones evict one another, never a protected session; every
/// create is stored or refused with `Full`, and the table ends holding
/// exactly the bound, every protected session answered as stored among it.
#[tokio::test]
async fn concurrent_evicting_creates_keep_the_bound_and_every_protected_session() {
    let now = Instant::from_secs(1);
    for round in 0..3 {
        let (a, b, server) = two_stores("evict", 8).await;
        let (stored, full) = burst([&a, &b], 64, |i| i % 3 == round, now).await;
        assert_eq!(stored.len() + full, 64);
        assert_eq!(rows(&server, a.table()), 8, "round {round}");
        assert_eq!(a.occupancy().await.unwrap().unwrap().sessions, 8);
        let protected: Vec<_> = stored.iter().filter(|(_, p)| *p).collect();
        assert!(protected.len() <= 8, "{}", protected.len());
        for (s, _) in protected {
            assert!(b.load(s, now).await.unwrap().is_some(), "round {round}");
        }
    }
}

/// Servers with different bounds on one table each keep their own: after
/// the one bound at 8 has shared its room out, the one bound at 4 stores
/// up to 4 and no further, and the one bound at 8 then fills up to 8.
#[tokio::test]
async fn two_bounds_on_one_table_each_keep_their_own() {
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url()).with_table(PostgresServer::table("bounds"));
    let eight = PostgresStore::connect(config.clone().with_max_sessions(8), key())
        .await
        .unwrap();
    let four = PostgresStore::connect(config.with_max_sessions(4), key())
        .await
        .unwrap();
    let now = Instant::from_secs(1);
    let (stored, _) = burst([&eight, &eight], 3, |_| true, now).await;
    assert_eq!(stored.len(), 3);
    let (stored, full) = burst([&four, &four], 16, |_| true, now).await;
    assert_eq!((stored.len(), full), (1, 15));
    let (stored, full) = burst([&eight, &eight], 16, |_| true, now).await;
    assert_eq!((stored.len(), full), (4, 12));
    let (stored, full) = burst([&four, &eight], 16, |_| true, now).await;
    assert_eq!((stored.len(), full), (0, 16));
    assert_eq!(rows(&server, four.table()), 8);
}

/// A table of schema version 1 (counter rows without shares of the bound)
/// is brought to version 2 in place: its sessions and counts are kept, and
/// the bound is exact on it from the first create.
#[tokio::test]
async fn a_version_1_table_is_upgraded_in_place() {
    let server = PostgresServer::shared().unwrap();
    let table = PostgresServer::table("upgrade");
    let config = PostgresConfig::new(server.url())
        .with_table(&table)
        .with_max_sessions(6);
    let store = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let now = Instant::from_secs(1);
    let old: Vec<_> = (0..3).map(|_| id()).collect();
    for s in &old {
        store
            .create(s, &protected_record(b"old", now), now)
            .await
            .unwrap();
    }
    drop(store);
    // What version 1 left: no share columns.
    psql(
        &server,
        &format!(
            "ALTER TABLE {table}_count DROP COLUMN quota, DROP COLUMN bound; \
             UPDATE sesh_schema SET version = 1 WHERE name = '{table}'"
        ),
    );
    let a = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let b = PostgresStore::connect(config, key()).await.unwrap();
    assert_eq!(a.occupancy().await.unwrap().unwrap().sessions, 3);
    for s in &old {
        assert_eq!(b.load(s, now).await.unwrap().unwrap().record.data, b"old");
    }
    let (stored, full) = burst([&a, &b], 32, |_| true, now).await;
    assert_eq!((stored.len(), full), (3, 29));
    assert_eq!(rows(&server, &table), 6);
    let version = format!("SELECT version FROM sesh_schema WHERE name = '{table}'");
    assert_eq!(query(&server, &version), "2");
}

/// One call of the deadlock test, on sessions that others end at once.
#[derive(Clone)]
enum Op {
    Create(sesh::SessionId, Option<UserId>),
    Sweep,
    Delete(sesh::SessionId),
    DeleteVersion(sesh::SessionId),
    RevokeAll(UserId),
    Revoke(UserId, sesh::SessionId),
    Login(sesh::SessionId, UserId),
}

/// Runs `op` at `now`: any error, or a create not stored, is a failure.
async fn apply(store: &PostgresStore, op: Op, now: Instant) -> Result<(), String> {
    let failed = |what: &str, e: StoreError| format!("{what}: {e:?}");
    match op {
        Op::Create(s, owner) => {
            let meta = owned(owner.as_ref(), "", now);
            match store
                .create_with_meta(&s, &record(b"n", now), &meta, now)
                .await
            {
                Ok(Created::Stored(1)) => Ok(()),
                other => Err(format!("create: {other:?}")),
            }
        }
        Op::Sweep => store
            .purge_expired(now)
            .await
            .map(drop)
            .map_err(|e| failed("sweep", e)),
        Op::Delete(s) => store.delete(&s).await.map_err(|e| failed("delete", e)),
        Op::DeleteVersion(s) => store
            .delete_version(&s, 1, now)
            .await
            .map(drop)
            .map_err(|e| failed("delete_version", e)),
        Op::RevokeAll(u) => store
            .revoke_all(&u, None, now)
            .await
            .map(drop)
            .map_err(|e| failed("revoke_all", e)),
        Op::Revoke(u, s) => store
            .revoke(&u, &DisplayTag::of(&s), now)
            .await
            .map(drop)
            .map_err(|e| failed("revoke", e)),
        Op::Login(s, u) => store
            .save_with_meta(
                &s,
                &record(b"in", now),
                Some(&owned(Some(&u), "", now)),
                1,
                now,
            )
            .await
            .map(drop)
            .map_err(|e| failed("login", e)),
    }
}

/// Writes that change counter rows and session rows, on the same sessions
/// at once, never deadlock (PostgreSQL would break one after its
/// deadlock_timeout, 1 s, failing that call with SQLSTATE 40P01). Each
/// round fills a store bound at 1,024 (16 counter rows) over 2 pools of 12
/// connections: 384 sessions that have expired by `now` and 640 live ones,
/// 256 of them owned by 32 users. Then at once: 64 creates that clear
/// expired sessions or evict the least recently used live ones (half of
/// them owned: the per-user cap), 4 sweeps, logouts (`delete`) of the very
/// sessions those creates clear and evict, compare-and-deletes, revokes,
/// and logins whose per-user cap ends expired sessions. No call fails,
/// every create is stored, and the count stays the table's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_making_creates_beside_deletes_sweeps_and_revokes_never_deadlock() {
    const BOUND: usize = 1_024;
    const ROUNDS: u64 = 10;
    let server = PostgresServer::shared().unwrap();
    let config = PostgresConfig::new(server.url())
        .with_table(PostgresServer::table("deadlock"))
        .with_max_sessions(BOUND)
        .with_max_sessions_per_user(8)
        .with_pool_size(12)
        // A slow lock wait on a busy machine is no failure; a deadlock
        // still fails after deadlock_timeout.
        .with_timeout(std::time::Duration::from_secs(60));
    let a = PostgresStore::connect(config.clone(), key()).await.unwrap();
    let b = PostgresStore::connect(config, key()).await.unwrap();
    let mut failures = Vec::new();
    let mut calls = 0usize;
    for round in 0..ROUNDS {
        let t = 1_000_000 + 100_000 * round;
        let at = Instant::from_millis;
        let (soon, now) = (t - 9_000, t + 2_000);
        // What the last round left has expired.
        a.purge_expired(at(soon)).await.unwrap();
        assert_eq!(rows(&server, a.table()), 0);
        let users: Vec<UserId> = (0..32).map(|k| user(&format!("d{round}-{k}"))).collect();
        // (id, owner, created at): short ones expire at t + 1 s; live
        // ones at t + 5 s and later, in creation order (eviction order).
        let mut fill = Vec::new();
        for i in 0..1_024u64 {
            let owner = match i {
                0..128 => Some(users[(i % 32) as usize].clone()),
                384..512 => Some(users[(i % 32) as usize].clone()),
                _ => None,
            };
            let created = if i < 384 { soon } else { t - 5_000 + i };
            fill.push((id(), owner, created));
        }
        for chunk in fill.chunks(64) {
            let tasks: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(n, (s, owner, created))| {
                    let store = [&a, &b][n % 2].clone();
                    let (s, owner, created) = (*s, owner.clone(), at(*created));
                    tokio::spawn(async move {
                        let meta = owned(owner.as_ref(), "", created);
                        store
                            .create_with_meta(&s, &record(b"f", created), &meta, created)
                            .await
                    })
                })
                .collect();
            for task in tasks {
                assert!(matches!(task.await.unwrap(), Ok(Created::Stored(1))));
            }
        }
        assert_eq!(a.occupancy().await.unwrap().unwrap().sessions, BOUND);
        let short_free: Vec<_> = fill[128..384].iter().map(|f| f.0).collect();
        let live_free: Vec<_> = fill[512..].iter().map(|f| f.0).collect();
        let live_owned: Vec<_> = fill[384..512].iter().map(|f| f.0).collect();
        let mut ops = Vec::new();
        for k in 0..64 {
            ops.push(Op::Create(id(), (k % 2 == 0).then(|| users[k / 2].clone())));
        }
        for _ in 0..4 {
            ops.push(Op::Sweep);
        }
        // The oldest live sessions are the ones the creates evict.
        for &s in short_free.iter().take(96).chain(live_free.iter().take(96)) {
            ops.push(Op::Delete(s));
        }
        for &s in &live_free[96..128] {
            ops.push(Op::DeleteVersion(s));
        }
        for (k, u) in users.iter().enumerate() {
            ops.push(if k < 16 {
                Op::RevokeAll(u.clone())
            } else {
                Op::Revoke(u.clone(), live_owned[k])
            });
            ops.push(Op::Login(live_free[128 + k], u.clone()));
        }
        // Interleaved: every kind of call in flight together (37 is prime
        // and does not divide n, so this visits each op once).
        let n = ops.len();
        assert_ne!(n % 37, 0);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let op = ops[(i * 37) % n].clone();
                let store = [&a, &b][i % 2].clone();
                tokio::spawn(async move { apply(&store, op, at(now)).await })
            })
            .collect();
        calls += n;
        for task in tasks {
            if let Err(e) = task.await.unwrap() {
                failures.push(format!("round {round}: {e}"));
            }
        }
        assert_eq!(
            a.occupancy().await.unwrap().unwrap().sessions,
            rows(&server, a.table()),
            "round {round}"
        );
    }
    let deadlocks = failures.iter().filter(|f| f.contains("40P01")).count();
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed ({deadlocks} deadlocks), first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(4)]
    );
}
