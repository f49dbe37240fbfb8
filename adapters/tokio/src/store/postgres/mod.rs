//! Sessions in PostgreSQL, for several servers that share one database.
//!
//! The client is tokio-postgres behind a deadpool-postgres pool: both are
//! maintained, pure Rust, and small. The pool gives each connection a
//! statement cache (every statement is prepared once per connection) and
//! replaces connections that broke (a restarted database) on its own. sqlx
//! would bring its own pool, query macros and multi-database layers, of
//! which this store needs none.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use sesh::owner::{DEFAULT_MAX_SESSIONS_PER_USER, DisplayTag, SessionInfo, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};
use tokio_postgres::{NoTls, Row};

use super::key::StoreKey;
use super::write_cache::WriteCache;
use super::{
    Created, DEFAULT_MAX_SESSIONS, Occupancy, Removed, Revoked, Saved, SessionStore, StoreError,
    StoreFuture, StoredSession,
};

/// The schema version [`PostgresStore::migrate`] brings a table to.
pub const SCHEMA_VERSION: i32 = 2;

/// The table that records each sessions table's schema version.
const SCHEMA_TABLE: &str = "sesh_schema";

/// The advisory lock migrations take, so that servers starting together
/// migrate one at a time ("seshpgm1").
const MIGRATION_LOCK: i64 = 0x7365_7368_7067_6d31;

/// Expired sessions one sweeper statement deletes: small batches, each its
/// own short transaction, so that no purge holds locks for long.
const PURGE_BATCH: i64 = 500;

/// Expired sessions a create that finds the store full deletes at most.
const PURGE_ON_CREATE: i64 = 256;

/// Unprotected sessions a create that finds the store full evicts at most:
/// one normally, more while the store is over a bound that was lowered.
const EVICT_BATCH: i64 = 64;

/// Counter rows: a create locks the one its key picks, so that creates
/// wait for one another's commit (its WAL flush) only 1 in 16 times. Each
/// row holds a share of the bound (its `quota`): a create that finds room
/// in its own row's share needs no other row, and one that does not locks
/// them all and shares the room left out again. A store bound below
/// [`SHARDED_FROM`] counts in one row.
const COUNT_SHARDS: u8 = 16;

/// The smallest bound whose creates spread over [`COUNT_SHARDS`] rows.
const SHARDED_FROM: usize = 1024;

/// The longest table name: the indexes add a suffix, and PostgreSQL cuts
/// identifiers at 63 bytes.
const MAX_TABLE_LEN: usize = 48;

mod config;
mod encoding;
mod errors;
mod sql;

pub use config::{BadTableName, PostgresConfig};
use config::{shard_mask, valid_table};
use encoding::*;
use errors::*;
use sql::*;

/// Sessions in a PostgreSQL table, shared by every server that points at
/// it: the store for a team that already runs PostgreSQL and wants no
/// second database for sessions.
///
/// - **Schema**: [`migrate`](Self::migrate) creates the table (named by
///   [`PostgresConfig::with_table`]) and records its version in
///   `sesh_schema`; it is idempotent, and servers starting together
///   migrate one at a time (an advisory lock); a table of an older version
///   is brought up to date in place, its sessions kept. One row per session:
///   `key` (the keyed hash of the id, [`StoreKey::hash`]: the table holds
///   no usable id), `version` (for compare-and-swap), `deadline`
///   (milliseconds), `protected`, `owner` (the keyed hash of the user,
///   [`StoreKey::hash_user`]) and `tag` (the display tag) for the owner
///   index, `last_seen`, and `value`: the record with its metadata, sealed
///   to its key ([`StoreKey::seal`]). A row moved to another key, or whose
///   value or columns were edited by someone without the secret, loads as
///   absent, and is deleted and logged. Indexes on `deadline`, on
///   `deadline` of unprotected rows (eviction order) and on `owner`.
/// - **Statements**: a load is one `SELECT … WHERE key = $1 AND deadline >
///   $now` (an expired row is never served, whether or not the sweeper has
///   deleted it); a create is `INSERT … ON CONFLICT DO UPDATE … WHERE
///   deadline <= $now` (a live session is never overwritten; an expired row
///   with the same key is replaced); a save reads the row, then is an
///   `UPDATE … WHERE version = $expected` (compare-and-swap; with the
///   session in the write cache, [`PostgresConfig::with_write_cache`], an
///   update is that statement alone);
///   `delete_version` a `DELETE … WHERE version = $expected`. Each is
///   prepared once per connection.
/// - **Bounded** ([`PostgresConfig::with_max_sessions`]): 16 counter rows
///   (`<table>_count`) follow every insert and delete in the same
///   statement or transaction, so that [`occupancy`](SessionStore::occupancy)
///   is one read of 16 rows and never a `count(*)`. Each row also holds a
///   share of the bound (`quota`; the shares add up to the bound at most).
///   A create is one statement that locks the counter row its key picks
///   and inserts if that row's sessions are below its share: creates wait
///   for each other's commit only when they pick the same row, and the
///   bound is exact however many run at once. A create whose row's share
///   is used up locks every counter row in order and checks the total;
///   when the store is full it deletes expired rows, then evicts
///   unprotected ones in deadline order (the least recently used), never a
///   protected one, and when only protected ones are left it is refused
///   ([`StoreError::Full`], 503); then it inserts and shares the room left
///   out again, evenly. Deletes only lower the counts. Every write locks
///   the counter rows it changes before any session row, in id order, so
///   writes never deadlock one another. A bound below 1,024
///   counts in one row. Servers with different bounds on one table each
///   keep their own: shares made under a higher bound than a server's send
///   its creates to the path that checks the total.
/// - **Sweeper**: [`purge_expired`](SessionStore::purge_expired) deletes
///   expired rows in batches of 500, each its own short statement (`DELETE
///   … WHERE key IN (SELECT … LIMIT 500 FOR UPDATE SKIP LOCKED)`), so it
///   never holds locks for long. Run a [`Sweeper`](crate::Sweeper).
/// - **Owners**: the owner columns change in the same statement as the
///   record; a write that gives a session a new owner runs in a
///   transaction with the per-user cap, under an advisory lock on the user
///   ([`PostgresConfig::with_max_sessions_per_user`]). Listing and revoking
///   a user's sessions use the owner index: they cost what that user's
///   sessions cost.
/// - **Client**: tokio-postgres behind a deadpool-postgres pool
///   ([`PostgresConfig::with_pool_size`]). Both are maintained, pure Rust
///   and small; the pool gives each connection a statement cache and
///   replaces broken connections by itself. sqlx would bring its own pool,
///   query macros and multi-database layers, none of which this store
///   needs. No TLS to the database in this version (use a Unix socket or a
///   private network).
/// - **Outages**: while the database is down, calls fail with
///   [`StoreError::Unavailable`] (the adapter answers 500) after at most
///   the timeout; the pool drops broken connections and opens new ones, so
///   the store recovers by itself once the database is back.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sesh_tokio::store::{PostgresConfig, PostgresStore, StoreKey};
/// let config = PostgresConfig::new("postgres://app:secret@127.0.0.1:5432/app");
/// let store = PostgresStore::connect(config, StoreKey::new(&[5; 32])?).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    key: StoreKey,
    sql: Arc<Sql>,
    table: Arc<str>,
    cache: Option<Arc<WriteCache>>,
    /// `key[0] & shard_mask` picks a create's counter row.
    shard_mask: u8,
    timeout: Duration,
    max_sessions: usize,
    max_per_user: usize,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

type Client = deadpool_postgres::Object;

impl PostgresStore {
    /// A store that connects lazily: the database may be down now; calls
    /// fail with [`StoreError::Unavailable`] until it is up. Fails at once
    /// for a URL that does not parse or a bad table name. Call
    /// [`migrate`](Self::migrate) before the first session, or use
    /// [`connect`](Self::connect).
    pub fn new(config: PostgresConfig, key: StoreKey) -> Result<Self, StoreError> {
        if !valid_table(&config.table) {
            return Err(StoreError::Backend(Box::new(BadTableName(config.table))));
        }
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Backend(Box::new(e)))?;
        pg.connect_timeout(config.timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("sesh");
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                // A closed connection is replaced; one that broke unseen
                // fails its statement (500) and is closed by then.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.timeout))
            .create_timeout(Some(config.timeout))
            .recycle_timeout(Some(config.timeout))
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(PostgresStore {
            pool,
            key,
            sql: Arc::new(Sql::new(&config.table, shard_mask(config.max_sessions))),
            shard_mask: shard_mask(config.max_sessions),
            table: config.table.into(),
            cache: (config.write_cache > 0).then(|| Arc::new(WriteCache::new(config.write_cache))),
            timeout: config.timeout,
            max_sessions: config.max_sessions,
            max_per_user: config.max_per_user,
        })
    }

    /// [`new`](Self::new), then [`migrate`](Self::migrate): fails with
    /// [`StoreError::Unavailable`] if the database cannot be reached.
    pub async fn connect(config: PostgresConfig, key: StoreKey) -> Result<Self, StoreError> {
        let store = PostgresStore::new(config, key)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Creates the table, its indexes and its counter, or brings them to
    /// [`SCHEMA_VERSION`]; does nothing when they are there. Runs in one
    /// transaction under an advisory lock, so servers starting together
    /// migrate once. A table of a newer schema than this build knows is
    /// refused.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let t = self.table.clone();
        self.timed(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(pg_error)?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} \
                 (name text PRIMARY KEY, version integer NOT NULL)"
            ))
            .await
            .map_err(pg_error)?;
            let found = tx
                .query_opt(
                    &format!("SELECT version FROM {SCHEMA_TABLE} WHERE name = $1"),
                    &[&&*t],
                )
                .await
                .map_err(pg_error)?;
            let version: i32 = match found {
                Some(row) => row.try_get(0).map_err(pg_error)?,
                None => 0,
            };
            if version > SCHEMA_VERSION {
                return Err(StoreError::Backend(
                    format!(
                        "the sessions table {t} has schema version {version}; this sesh knows \
                         {SCHEMA_VERSION} at most"
                    )
                    .into(),
                ));
            }
            if version < 1 {
                tx.batch_execute(&schema_v1(&t)).await.map_err(pg_error)?;
                tracing::info!(table = %t, version = 1, "created the sessions table");
            }
            if version < 2 {
                tx.batch_execute(&schema_v2(&t)).await.map_err(pg_error)?;
                tracing::info!(table = %t, version = 2, "shared the bound out over the counter rows");
            }
            tx.execute(
                &format!(
                    "INSERT INTO {SCHEMA_TABLE} (name, version) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version"
                ),
                &[&&*t, &SCHEMA_VERSION],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
        .await
    }

    /// The bound ([`PostgresConfig::with_max_sessions`]).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// The sessions table's name ([`PostgresConfig::with_table`]).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs `work`, failing with [`StoreError::Unavailable`] after the
    /// timeout.
    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(out) => out,
            Err(_) => Err(StoreError::Unavailable(Box::new(TimedOut(self.timeout)))),
        }
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    fn remember(&self, hash: &[u8; 16], stored: StoredSession) {
        if let Some(cache) = &self.cache {
            cache.put(hash, stored);
        }
    }

    fn forget(&self, hash: &[u8; 16]) {
        if let Some(cache) = &self.cache {
            cache.remove(hash);
        }
    }

    fn cached(&self, hash: &[u8; 16]) -> Option<StoredSession> {
        self.cache.as_ref().and_then(|c| c.get(hash))
    }

    /// [`load_hashed`](Self::load_hashed), keeping the cache in step
    /// with its answer.
    async fn load_remembered(
        &self,
        client: &Client,
        hash: &[u8; 16],
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let found = self.load_hashed(client, hash, now).await;
        match &found {
            Ok(Some(stored)) => self.remember(hash, stored.clone()),
            Ok(None) | Err(_) => self.forget(hash),
        }
        found
    }

    /// The live session at `hash`. A row that is no session of this store
    /// is deleted (unless rewritten meanwhile) and logged.
    async fn load_hashed(
        &self,
        client: &Client,
        hash: &[u8; 16],
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let stmt = client
            .prepare_cached(&self.sql.load)
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&stmt, &[&hash.as_slice(), &millis(now)])
            .await
            .map_err(pg_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let cols = columns(&row, 0)?;
        match decode(&self.key, hash, &cols) {
            Ok(stored) if !stored.record.deadlines.is_expired(now) => Ok(Some(stored)),
            Ok(_) => Ok(None),
            Err(bad) => {
                let stmt = client
                    .prepare_cached(&self.sql.discard)
                    .await
                    .map_err(pg_error)?;
                let gone = client
                    .query_one(&stmt, &[&hash.as_slice(), &cols.value])
                    .await
                    .map_err(pg_error)?;
                let n: i64 = gone.try_get(0).map_err(pg_error)?;
                bad.log(n > 0);
                Ok(None)
            }
        }
    }

    /// Ends `owner`'s sessions beyond the cap (the least recently used
    /// first, never `keep`), and their expired ones.
    async fn cap(
        &self,
        client: &deadpool_postgres::Transaction<'_>,
        owner: &[u8; 16],
        keep: &[u8; 16],
        now: Instant,
    ) -> Result<(), StoreError> {
        let others = i64::try_from(self.max_per_user.saturating_sub(1)).unwrap_or(i64::MAX);
        let stmt = client
            .prepare_cached(&self.sql.cap)
            .await
            .map_err(pg_error)?;
        client
            .query_one(
                &stmt,
                &[&owner.as_slice(), &keep.as_slice(), &millis(now), &others],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn create_hashed(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        meta: &SessionMeta,
        now: Instant,
    ) -> Result<Created, StoreError> {
        const VERSION: u64 = 1;
        let hash = self.key.hash(id);
        let meta = SessionMeta {
            last_seen: now,
            ..meta.clone()
        };
        let value = encode(&self.key, &hash, VERSION, record, &meta)?;
        let owner = meta.owner.as_ref().map(|user| self.key.hash_user(user));
        let tag = owner.map(|_| *DisplayTag::of(id).as_bytes());
        // Capped so that a row's quota (its sessions plus a share of the
        // bound) never overflows; no table holds 2^62 rows.
        let max = i64::try_from(self.max_sessions)
            .unwrap_or(i64::MAX)
            .min(1 << 62);
        let shard = i16::from(hash.first().copied().unwrap_or(0) & self.shard_mask);
        let mut client = self.client().await?;
        if owner.is_none() {
            // One statement: lock this key's counter row, insert if its
            // share has room, count it. Otherwise the transaction below.
            let stmt = client
                .prepare_cached(&self.sql.create_fast)
                .await
                .map_err(pg_error)?;
            let row = client
                .query_one(
                    &stmt,
                    &[
                        &hash.as_slice(),
                        &version_sql(VERSION),
                        &millis(record.deadlines.expires_at()),
                        &record.protected,
                        &None::<&[u8]>,
                        &None::<&[u8]>,
                        &millis(now),
                        &value,
                        &millis(now),
                        &shard,
                        &max,
                    ],
                )
                .await
                .map_err(pg_error)?;
            let room: Option<bool> = row.try_get(0).map_err(pg_error)?;
            let inserted: i64 = row.try_get(1).map_err(pg_error)?;
            match (room, inserted) {
                (None, _) => {
                    return Err(unexpected("a sessions counter row is missing: run migrate"));
                }
                (Some(true), 0) => return Ok(Created::IdTaken),
                (Some(true), _) => {
                    let stored = StoredSession {
                        record: record.clone(),
                        version: VERSION,
                        meta,
                    };
                    self.remember(&hash, stored);
                    return Ok(Created::Stored(VERSION));
                }
                (Some(false), _) => {}
            }
        }
        let tx = client.transaction().await.map_err(pg_error)?;
        // The user's lock before the counter's, as an owner change takes
        // them: no deadlock between the two.
        if let Some(owner) = &owner {
            lock_user(&tx, owner).await?;
        }
        let stmt = tx
            .prepare_cached(&self.sql.lock_count)
            .await
            .map_err(pg_error)?;
        // Every counter row, in order: this create sees the exact count,
        // and no create of another key can count in the meantime.
        let mut sessions = 0i64;
        // Whether this key's row has room in its share, as the one-statement
        // path asks: if not, the insert shares the room out again.
        let mut fits = false;
        for row in tx.query(&stmt, &[]).await.map_err(pg_error)? {
            let id: i16 = row.try_get(0).map_err(pg_error)?;
            let n: i64 = row.try_get(1).map_err(pg_error)?;
            let quota: i64 = row.try_get(2).map_err(pg_error)?;
            let bound: i64 = row.try_get(3).map_err(pg_error)?;
            sessions = sessions.saturating_add(n);
            if id == shard {
                fits = n < quota && bound <= max;
            }
        }
        if sessions >= max {
            let need = sessions.saturating_sub(max).saturating_add(1);
            let stmt = tx
                .prepare_cached(&self.sql.make_room)
                .await
                .map_err(pg_error)?;
            let removed: i64 = tx
                .query_one(&stmt, &[&millis(now), &need])
                .await
                .map_err(pg_error)?
                .try_get(0)
                .map_err(pg_error)?;
            if removed == 0 {
                // Dropping the transaction rolls it back.
                return Err(StoreError::Full);
            }
        }
        let stmt = tx
            .prepare_cached(&self.sql.insert)
            .await
            .map_err(pg_error)?;
        let inserted = tx
            .query_opt(
                &stmt,
                &[
                    &hash.as_slice(),
                    &version_sql(VERSION),
                    &millis(record.deadlines.expires_at()),
                    &record.protected,
                    &owner.as_ref().map(<[u8; 16]>::as_slice),
                    &tag.as_ref().map(<[u8; 8]>::as_slice),
                    &millis(now),
                    &value,
                    &millis(now),
                ],
            )
            .await
            .map_err(pg_error)?;
        let Some(inserted) = inserted else {
            return Ok(Created::IdTaken);
        };
        let fresh: bool = inserted.try_get(0).map_err(pg_error)?;
        if fresh && fits {
            let stmt = tx
                .prepare_cached(&self.sql.count_one)
                .await
                .map_err(pg_error)?;
            tx.execute(&stmt, &[&shard]).await.map_err(pg_error)?;
        } else if fresh {
            // Past its share: count it and share out what is left, so that
            // no row's sessions pass its quota and the quotas never add up
            // past the bound (what keeps the one-statement path exact).
            let stmt = tx.prepare_cached(&self.sql.share).await.map_err(pg_error)?;
            let rows = i64::from(self.shard_mask).saturating_add(1);
            tx.execute(&stmt, &[&shard, &max, &rows])
                .await
                .map_err(pg_error)?;
        }
        if let Some(owner) = &owner {
            self.cap(&tx, owner, &hash, now).await?;
        }
        tx.commit().await.map_err(pg_error)?;
        let stored = StoredSession {
            record: record.clone(),
            version: VERSION,
            meta,
        };
        self.remember(&hash, stored);
        Ok(Created::Stored(VERSION))
    }

    async fn save_hashed(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        meta: Option<&SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> Result<Saved, StoreError> {
        let hash = self.key.hash(id);
        let mut client = self.client().await?;
        // The value is sealed here with the session's metadata: the cached
        // copy's, else read it. The update's compare-and-swap decides; a
        // version names one value.
        let old = match self
            .cached(&hash)
            .filter(|hit| hit.version == expected_version)
        {
            Some(hit) => hit,
            None => match self.load_remembered(&client, &hash, now).await? {
                None => return Ok(Saved::Missing),
                Some(old) if old.version != expected_version => return Ok(Saved::Conflict),
                Some(old) => old,
            },
        };
        let version = expected_version.wrapping_add(1);
        let meta = match meta {
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
        let value = encode(&self.key, &hash, version, record, &meta)?;
        let owner = meta.owner.as_ref().map(|user| self.key.hash_user(user));
        let tag = owner.map(|_| *DisplayTag::of(id).as_bytes());
        let new_owner = owner.filter(|_| meta.owner != old.meta.owner);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
            &hash.as_slice(),
            &version_sql(expected_version),
            &version_sql(version),
            &millis(record.deadlines.expires_at()),
            &record.protected,
            &owner.as_ref().map(<[u8; 16]>::as_slice),
            &tag.as_ref().map(<[u8; 8]>::as_slice),
            &millis(now),
            &value,
            &millis(now),
        ];
        let row = match &new_owner {
            None => {
                let stmt = client
                    .prepare_cached(&self.sql.save)
                    .await
                    .map_err(pg_error)?;
                client.query_one(&stmt, &params).await.map_err(pg_error)?
            }
            Some(owner) => {
                let tx = client.transaction().await.map_err(pg_error)?;
                lock_user(&tx, owner).await?;
                let stmt = tx
                    .prepare_cached(&self.sql.save_owned)
                    .await
                    .map_err(pg_error)?;
                let row = tx.query_one(&stmt, &params).await.map_err(pg_error)?;
                let stored: i64 = row.try_get(0).map_err(pg_error)?;
                if stored == 1 {
                    self.cap(&tx, owner, &hash, now).await?;
                }
                tx.commit().await.map_err(pg_error)?;
                row
            }
        };
        match outcome(&row, now)? {
            Outcome::Done => {
                let stored = StoredSession {
                    record: record.clone(),
                    version,
                    meta,
                };
                self.remember(&hash, stored);
                Ok(Saved::Stored(version))
            }
            Outcome::Conflict => Ok(Saved::Conflict),
            Outcome::Missing => Ok(Saved::Missing),
        }
    }
}

/// What a compare-and-swap or compare-and-delete statement did.
enum Outcome {
    Done,
    Conflict,
    Missing,
}

/// Reads `(changed rows, version before, deadline before)`.
fn outcome(row: &Row, now: Instant) -> Result<Outcome, StoreError> {
    let done: i64 = row.try_get(0).map_err(pg_error)?;
    let before: Option<i64> = row.try_get(1).map_err(pg_error)?;
    let deadline: Option<i64> = row.try_get(2).map_err(pg_error)?;
    Ok(match (done, before, deadline) {
        (1, _, _) => Outcome::Done,
        (0, Some(_), Some(deadline)) if deadline > millis(now) => Outcome::Conflict,
        (0, _, _) => Outcome::Missing,
        _ => return Err(unexpected("a compare-and-swap changed more than one row")),
    })
}

impl SessionStore for PostgresStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            self.load_remembered(&client, &self.key.hash(id), now).await
        }))
    }

    /// The cached copy when there is one that has not expired (it may be
    /// stale: the save's compare-and-swap catches that), else a load.
    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            let hash = self.key.hash(id);
            match self.cached(&hash) {
                Some(hit) if !hit.record.deadlines.is_expired(now) => Ok(Some(hit)),
                _ => {
                    self.timed(async {
                        let client = self.client().await?;
                        self.load_remembered(&client, &hash, now).await
                    })
                    .await
                }
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

    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            let out = self.timed(self.create_hashed(id, record, meta, now)).await;
            if !matches!(out, Ok(Created::Stored(_))) {
                self.forget(&self.key.hash(id));
            }
            out
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

    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        Box::pin(async move {
            let out = self
                .timed(self.save_hashed(id, record, meta, expected_version, now))
                .await;
            if !matches!(out, Ok(Saved::Stored(_))) {
                self.forget(&self.key.hash(id));
            }
            out
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(self.timed(async move {
            let hash = self.key.hash(id);
            self.forget(&hash);
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.delete)
                .await
                .map_err(pg_error)?;
            client
                .query_one(&stmt, &[&hash.as_slice()])
                .await
                .map_err(pg_error)?;
            Ok(())
        }))
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        Box::pin(self.timed(async move {
            let hash = self.key.hash(id);
            self.forget(&hash);
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.delete_version)
                .await
                .map_err(pg_error)?;
            let row = client
                .query_one(
                    &stmt,
                    &[
                        &hash.as_slice(),
                        &version_sql(expected_version),
                        &millis(now),
                    ],
                )
                .await
                .map_err(pg_error)?;
            Ok(match outcome(&row, now)? {
                Outcome::Done => Removed::Deleted,
                Outcome::Conflict => Removed::Conflict,
                Outcome::Missing => Removed::Missing,
            })
        }))
    }

    /// Batches of 500 rows, each one short statement, until a
    /// batch finds none; the timeout applies to each batch.
    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let client = self.timed(self.client()).await?;
            let stmt = self
                .timed(async {
                    client
                        .prepare_cached(&self.sql.purge)
                        .await
                        .map_err(pg_error)
                })
                .await?;
            let mut purged = 0usize;
            loop {
                let n: i64 = self
                    .timed(async {
                        client
                            .query_one(&stmt, &[&millis(now)])
                            .await
                            .map_err(pg_error)?
                            .try_get(0)
                            .map_err(pg_error)
                    })
                    .await?;
                if n <= 0 {
                    return Ok(purged);
                }
                purged = purged.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            }
        })
    }

    /// The counter row: one read.
    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(self.timed(async move {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.occupancy)
                .await
                .map_err(pg_error)?;
            let sessions: Option<i64> = client
                .query_one(&stmt, &[])
                .await
                .map_err(pg_error)?
                .try_get(0)
                .map_err(pg_error)?;
            let sessions = sessions
                .ok_or_else(|| unexpected("the sessions counter rows are missing: run migrate"))?;
            Ok(Some(Occupancy {
                sessions: usize::try_from(sessions).unwrap_or(0),
                capacity: Some(self.max_sessions),
            }))
        }))
    }

    /// The user's live rows by the owner index, each checked as a load
    /// checks it.
    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        Box::pin(self.timed(async move {
            let owner = self.key.hash_user(user);
            let current = current.map(|id| self.key.hash(id));
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.list)
                .await
                .map_err(pg_error)?;
            let rows = client
                .query(&stmt, &[&owner.as_slice(), &millis(now)])
                .await
                .map_err(pg_error)?;
            let mut listed = Vec::with_capacity(rows.len());
            for row in &rows {
                let key: &[u8] = row.try_get(0).map_err(pg_error)?;
                let Ok(hash) = <[u8; 16]>::try_from(key) else {
                    continue;
                };
                let tag: Option<&[u8]> = row.try_get(5).map_err(pg_error)?;
                let cols = Columns {
                    version: row.try_get(1).map_err(pg_error)?,
                    deadline: row.try_get(2).map_err(pg_error)?,
                    protected: row.try_get(3).map_err(pg_error)?,
                    owner: row.try_get(4).map_err(pg_error)?,
                    value: row.try_get(6).map_err(pg_error)?,
                };
                let Ok(stored) = decode(&self.key, &hash, &cols) else {
                    continue;
                };
                let Some(tag) = tag.and_then(stored_tag) else {
                    continue;
                };
                if stored.meta.owner.as_ref() == Some(user)
                    && !stored.record.deadlines.is_expired(now)
                {
                    listed.push(SessionInfo {
                        tag,
                        created: stored.meta.created,
                        last_seen: stored.meta.last_seen,
                        expires_at: stored.record.deadlines.expires_at(),
                        label: stored.meta.label,
                        lifetime: stored.meta.lifetime,
                        current: current == Some(hash),
                    });
                }
            }
            Ok(listed)
        }))
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        Box::pin(self.timed(async move {
            let owner = self.key.hash_user(user);
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.revoke)
                .await
                .map_err(pg_error)?;
            let ended: i64 = client
                .query_one(
                    &stmt,
                    &[&owner.as_slice(), &tag.as_bytes().as_slice(), &millis(now)],
                )
                .await
                .map_err(pg_error)?
                .try_get(0)
                .map_err(pg_error)?;
            Ok(if ended > 0 {
                Revoked::Ended
            } else {
                Revoked::NotFound
            })
        }))
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        Box::pin(self.timed(async move {
            let owner = self.key.hash_user(user);
            let except = except.map(|id| self.key.hash(id));
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(&self.sql.revoke_all)
                .await
                .map_err(pg_error)?;
            let ended: i64 = client
                .query_one(
                    &stmt,
                    &[
                        &owner.as_slice(),
                        &except.as_ref().map(<[u8; 16]>::as_slice),
                        &millis(now),
                    ],
                )
                .await
                .map_err(pg_error)?
                .try_get(0)
                .map_err(pg_error)?;
            Ok(usize::try_from(ended).unwrap_or(0))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesh::ExpiryPolicy;

    fn keys() -> StoreKey {
        StoreKey::new(&[5; 32]).unwrap_or_else(|_| unreachable!())
    }

    const HASH: [u8; 16] = [7; 16];

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["sesh_sessions", "_s", "a1", &"a".repeat(MAX_TABLE_LEN)] {
            assert!(valid_table(good), "{good}");
        }
        for bad in [
            "",
            "1a",
            "Sessions",
            "s; DROP TABLE x",
            "s-1",
            "s\"",
            "é",
            &"a".repeat(MAX_TABLE_LEN + 1),
        ] {
            assert!(!valid_table(bad), "{bad}");
        }
        let refused = PostgresStore::new(
            PostgresConfig::new("postgres://u@127.0.0.1/db").with_table("x;y"),
            keys(),
        );
        assert!(matches!(refused, Err(StoreError::Backend(_))));
    }

    #[tokio::test]
    async fn a_store_is_made_without_a_server() {
        let store = PostgresStore::new(
            PostgresConfig::new("postgres://u:p@127.0.0.1:1/db")
                .with_timeout(Duration::from_millis(300)),
            keys(),
        );
        let Ok(store) = store else {
            unreachable!("a lazy store needs no server")
        };
        let err = store.migrate().await.err();
        assert!(
            matches!(err, Some(StoreError::Unavailable(_))),
            "{err:?}: nothing listens on port 1"
        );
        assert!(!format!("{store:?}").contains("u:p"));
    }

    fn row_of(
        value: &[u8],
        stored: &StoredSession,
        keys: &StoreKey,
    ) -> (i64, i64, bool, Option<[u8; 16]>, Vec<u8>) {
        (
            version_sql(stored.version),
            millis(stored.record.deadlines.expires_at()),
            stored.record.protected,
            stored.meta.owner.as_ref().map(|u| keys.hash_user(u)),
            value.to_vec(),
        )
    }

    #[test]
    fn values_round_trip_and_any_change_is_refused() {
        let keys = keys();
        let stored = StoredSession {
            record: SessionRecord {
                deadlines: ExpiryPolicy::new().start(Instant::from_secs(1_000)),
                protected: true,
                data: b"hello".to_vec(),
            },
            version: u64::MAX,
            meta: SessionMeta {
                owner: UserId::new(b"alice").ok(),
                ..SessionMeta::new(Instant::from_secs(3))
            },
        };
        let value =
            encode(&keys, &HASH, stored.version, &stored.record, &stored.meta).unwrap_or_default();
        let (version, deadline, protected, owner, value) = row_of(&value, &stored, &keys);
        let cols = |version, deadline, protected, owner: Option<&[u8; 16]>, value: &[u8]| {
            decode(
                &keys,
                &HASH,
                &Columns {
                    version,
                    deadline,
                    protected,
                    owner: owner.map(<[u8; 16]>::as_slice),
                    value,
                },
            )
        };
        assert_eq!(
            cols(version, deadline, protected, owner.as_ref(), &value),
            Ok(stored.clone())
        );
        // Columns edited beside an intact value.
        assert!(cols(version ^ 1, deadline, protected, owner.as_ref(), &value).is_err());
        assert!(cols(version, deadline + 1, protected, owner.as_ref(), &value).is_err());
        assert!(cols(version, deadline, !protected, owner.as_ref(), &value).is_err());
        assert!(cols(version, deadline, protected, None, &value).is_err());
        assert!(cols(version, deadline, protected, Some(&[1; 16]), &value).is_err());
        // Every byte of the value, and another key.
        for at in 0..value.len() {
            let mut edited = value.clone();
            if let Some(b) = edited.get_mut(at) {
                *b ^= 0x20;
            }
            assert!(cols(version, deadline, protected, owner.as_ref(), &edited).is_err());
        }
        for len in 0..value.len() {
            let cut = value.get(..len).unwrap_or_default();
            assert!(cols(version, deadline, protected, owner.as_ref(), cut).is_err());
        }
        let moved = decode(
            &keys,
            &[8; 16],
            &Columns {
                version,
                deadline,
                protected,
                owner: owner.as_ref().map(<[u8; 16]>::as_slice),
                value: &value,
            },
        );
        assert_eq!(moved, Err(Bad::Unbound));
    }

    #[test]
    fn tags_and_locks() {
        let tag = DisplayTag::parse("0123456789abcdef");
        assert_eq!(
            stored_tag(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            tag
        );
        assert_eq!(stored_tag(&[1; 7]), None);
        assert_eq!(stored_tag(&[]), None);
        assert_eq!(user_lock(&[0xff; 16]), -1);
        assert_eq!(millis(Instant::from_millis(u64::MAX)), i64::MAX);
        assert_eq!(version_sql(u64::MAX), -1);
    }
}
