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

// ------------------------------------------------------------- config --

/// How to reach PostgreSQL, and the store's bounds.
///
/// ```
/// let config = sesh_tokio::store::PostgresConfig::new("postgres://app:secret@127.0.0.1:5432/app")
///     .with_table("myapp_sessions")
///     .with_pool_size(16)
///     .with_timeout(std::time::Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    url: String,
    table: String,
    pool_size: usize,
    timeout: Duration,
    max_sessions: usize,
    max_per_user: usize,
    write_cache: usize,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresConfig")
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("max_sessions", &self.max_sessions)
            .field("max_per_user", &self.max_per_user)
            .field("write_cache", &self.write_cache)
            .finish_non_exhaustive()
    }
}

impl PostgresConfig {
    /// PostgreSQL at `url` (`postgres://USER:PASS@HOST:PORT/DB`, or the
    /// `key=value` form), table `sesh_sessions`, a pool of 8 connections,
    /// 2 s timeouts, at most [`DEFAULT_MAX_SESSIONS`] sessions and
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`] per user, a write cache of 10,000
    /// sessions. Plain TCP or a Unix
    /// socket: this version does not speak TLS to the database.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            table: "sesh_sessions".into(),
            pool_size: 8,
            timeout: Duration::from_secs(2),
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            write_cache: 10_000,
        }
    }

    /// Sets how many sessions the store remembers from its own loads,
    /// creates and saves (default 10,000; 0 turns the cache off).
    ///
    /// An update ([`Session::update`](crate::Session::update)) of a session
    /// in this cache starts from the remembered copy and saves with one
    /// statement, the compare-and-swap; without it an update reads the row
    /// twice first (the update's read, and the save's read of the metadata
    /// it seals). A copy made stale by another server's write only costs a
    /// retry: the compare-and-swap answers "conflict", and the update reads
    /// the database and runs again. No update is lost, and nothing is read
    /// from the cache outside updates. Memory: about 200 bytes per session
    /// plus its data.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_write_cache(50_000);
    /// ```
    pub fn with_write_cache(mut self, sessions: usize) -> Self {
        self.write_cache = sessions;
        self
    }

    /// Sets the sessions table's name (default `sesh_sessions`): lowercase
    /// ASCII letters, digits and `_`, starting with a letter or `_`, at
    /// most 48 bytes. Its counter table is the name plus `_count`. Apps
    /// that share a database use one table each.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_table("shop_sessions");
    /// ```
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Sets how many connections the pool keeps at most (default 8, at
    /// least 1). Requests wait for a free one up to the timeout.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_pool_size(32);
    /// ```
    pub fn with_pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// Sets the timeout of a store call (default 2 s): waiting for a
    /// connection, connecting, and the statements. While the database is
    /// down or stalled, calls fail after this long with
    /// [`StoreError::Unavailable`].
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the most sessions the table holds, across every server that
    /// shares it (default [`DEFAULT_MAX_SESSIONS`]). A new session beyond
    /// it evicts the least recently used unprotected one, or is refused
    /// with [`StoreError::Full`] (503) when only protected sessions are
    /// left.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_max_sessions(1_000_000);
    /// ```
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// Sets the most live sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one
    /// more ends their least recently used other session, in the same
    /// transaction.
    ///
    /// ```
    /// let config = sesh_tokio::store::PostgresConfig::new("postgres://app@127.0.0.1/app")
    ///     .with_max_sessions_per_user(8);
    /// ```
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }
}

/// The table name is not one this store accepts (see
/// [`PostgresConfig::with_table`]); it is never put into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTableName(pub String);

impl std::fmt::Display for BadTableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a sessions table name: use lowercase ASCII letters, digits and _ \
             (not first), at most {MAX_TABLE_LEN} bytes",
            self.0
        )
    }
}

impl std::error::Error for BadTableName {}

/// The counter row mask for a store of `max_sessions`.
fn shard_mask(max_sessions: usize) -> u8 {
    if max_sessions >= SHARDED_FROM {
        COUNT_SHARDS.wrapping_sub(1)
    } else {
        0
    }
}

fn valid_table(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= MAX_TABLE_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

// ---------------------------------------------------------------- sql --

/// Every statement, with the table's name in it: made once per store, and
/// prepared once per connection (the pool's statement cache).
///
/// One lock order keeps writes free of deadlocks: a write takes (1) at
/// most one user's advisory lock, then (2) the counter rows it will change,
/// in id order, then (3) session rows, and locks a session row only while
/// it holds that key's counter row. A one-statement create locks its row,
/// a delete of one key that key's row, a create past its share, a sweep
/// batch every row, a revoke and a save that gives a session an owner the
/// rows of that owner's sessions (and of the key). The one exception, a
/// save with no new owner, locks one session row and waits for nothing
/// after. So no wait for a session row is on a write that could wait
/// back (both would hold that key's counter row), and waits for counter
/// rows only go up in id: no cycle. (Servers with bounds on both sides of
/// [`SHARDED_FROM`] on one table pick rows differently; between them
/// PostgreSQL may still break a deadlock by failing one call.)
struct Sql {
    load: String,
    discard: String,
    lock_count: String,
    create_fast: String,
    make_room: String,
    insert: String,
    count_one: String,
    share: String,
    save: String,
    delete: String,
    delete_version: String,
    purge: String,
    occupancy: String,
    cap: String,
    list: String,
    revoke: String,
    revoke_all: String,
    save_owned: String,
}

impl Sql {
    /// The statements on table `t`, whose creates count in the counter row
    /// `key[0] & mask` (see [`COUNT_SHARDS`]).
    fn new(t: &str, mask: u8) -> Sql {
        // Every statement that deletes rows (in a CTE named `d`) takes them
        // off the counter rows of their keys in the same statement.
        //
        // One lock order, so that no two writes deadlock (see [`Sql`]).
        // `d` waits for `lk` through a condition without columns, which
        // PostgreSQL checks once, before it reads any row.
        let c = format!(
            "c AS (UPDATE {t}_count AS k SET sessions = k.sessions - x.n \
             FROM (SELECT get_byte(key, 0) & {mask} AS shard, count(*) AS n FROM d GROUP BY 1) AS x \
             WHERE k.id = x.shard)"
        );
        // The counter row of key $1.
        let lock_key = format!(
            "lk AS (SELECT 1 FROM {t}_count WHERE id = get_byte($1::bytea, 0) & {mask} FOR UPDATE)"
        );
        // The counter rows of owner $1's sessions, in id order: under the
        // statement's snapshot, so they cover every row its delete can
        // reach (keys never change).
        let lock_owner = format!(
            "lk AS (SELECT 1 FROM {t}_count WHERE id IN \
               (SELECT get_byte(key, 0) & {mask} FROM {t} WHERE owner = $1) ORDER BY id FOR UPDATE)"
        );
        let locked = "(SELECT count(*) FROM lk) >= 0";
        // The compare-and-swap, its update gated by `gate`.
        let save = |gate: &str| {
            format!(
                "cur AS (SELECT version, deadline FROM {t} WHERE key = $1), \
                 u AS (UPDATE {t} SET version = $3, deadline = $4, protected = $5, owner = $6, \
                   tag = $7, last_seen = $8, value = $9 \
                   WHERE key = $1 AND version = $2 AND deadline > $10{gate} RETURNING 1) \
                 SELECT (SELECT count(*) FROM u), (SELECT version FROM cur), \
                   (SELECT deadline FROM cur)"
            )
        };
        Sql {
            // A save that gives key $1 to owner $6 (its cap then ends some
            // of $6's sessions) first locks the counter rows of both, in id
            // order. Under $6's advisory lock no session joins $6's, so
            // these cover every row the cap can end.
            save_owned: format!(
                "WITH lk AS (SELECT 1 FROM {t}_count WHERE id = get_byte($1::bytea, 0) & {mask} \
                   OR id IN (SELECT get_byte(key, 0) & {mask} FROM {t} WHERE owner = $6::bytea) \
                   ORDER BY id FOR UPDATE), {save}",
                save = save(&format!(" AND {locked}"))
            ),
            save: format!("WITH {}", save("")),
            load: format!(
                "SELECT version, deadline, protected, owner, value FROM {t} \
                 WHERE key = $1 AND deadline > $2"
            ),
            discard: format!(
                "WITH {lock_key}, d AS (DELETE FROM {t} WHERE key = $1 AND value = $2 \
                   AND {locked} RETURNING key), {c} \
                 SELECT count(*) FROM d"
            ),
            lock_count: format!(
                "SELECT id, sessions, quota, bound FROM {t}_count ORDER BY id FOR UPDATE"
            ),
            // Room is this row's own, read as it is once locked (FOR UPDATE
            // in READ COMMITTED reads the newest version after a wait):
            // below its quota, of quotas shared out under this bound or a
            // lower one. No other row is read.
            create_fast: format!(
                "WITH room AS (SELECT sessions < quota AND bound <= $11::bigint AS ok \
                   FROM {t}_count WHERE id = $10::smallint FOR UPDATE), \
                 ins AS (INSERT INTO {t} AS s \
                   (key, version, deadline, protected, owner, tag, last_seen, value) \
                   SELECT $1::bytea, $2::bigint, $3::bigint, $4::boolean, $5::bytea, $6::bytea, \
                     $7::bigint, $8::bytea WHERE (SELECT ok FROM room) \
                   ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, \
                     deadline = EXCLUDED.deadline, protected = EXCLUDED.protected, \
                     owner = EXCLUDED.owner, tag = EXCLUDED.tag, \
                     last_seen = EXCLUDED.last_seen, value = EXCLUDED.value \
                   WHERE s.deadline <= $9 \
                   RETURNING (xmax = 0) AS fresh), \
                 c AS (UPDATE {t}_count SET sessions = sessions + 1 \
                   WHERE id = $10 AND EXISTS (SELECT 1 FROM ins WHERE fresh)) \
                 SELECT (SELECT ok FROM room), (SELECT count(*) FROM ins)"
            ),
            make_room: format!(
                "WITH expired AS (SELECT key FROM {t} WHERE deadline <= $1 \
                   ORDER BY deadline LIMIT {PURGE_ON_CREATE}), \
                 lru AS (SELECT key FROM {t} WHERE NOT protected AND deadline > $1 \
                   ORDER BY deadline \
                   LIMIT GREATEST(0, LEAST({EVICT_BATCH}, $2::bigint - (SELECT count(*) FROM expired)))), \
                 d AS (DELETE FROM {t} WHERE key IN (SELECT key FROM expired UNION ALL SELECT key FROM lru) \
                   RETURNING key), {c} \
                 SELECT count(*) FROM d"
            ),
            insert: format!(
                "INSERT INTO {t} AS s (key, version, deadline, protected, owner, tag, last_seen, value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, \
                   deadline = EXCLUDED.deadline, protected = EXCLUDED.protected, \
                   owner = EXCLUDED.owner, tag = EXCLUDED.tag, last_seen = EXCLUDED.last_seen, \
                   value = EXCLUDED.value \
                 WHERE s.deadline <= $9 \
                 RETURNING (xmax = 0) AS fresh"
            ),
            count_one: format!("UPDATE {t}_count SET sessions = sessions + 1 WHERE id = $1"),
            // Every row locked: counts one more session in row $1 and shares
            // the room left under bound $2 out again, evenly over rows
            // 0..$3 (the others keep none). Each row's quota is then its
            // sessions plus its share, and `bound` what the quotas add up to.
            share: format!(
                "WITH s AS (SELECT sum(sessions)::bigint + 1 AS total, \
                   GREATEST(0, $2::bigint - sum(sessions)::bigint - 1) AS spare FROM {t}_count) \
                 UPDATE {t}_count AS k SET sessions = k.sessions + (k.id = $1::smallint)::int, \
                   quota = k.sessions + (k.id = $1::smallint)::int + CASE WHEN k.id < $3::bigint \
                     THEN s.spare / $3::bigint + (k.id < s.spare % $3::bigint)::int ELSE 0 END, \
                   bound = GREATEST($2::bigint, s.total) \
                 FROM s"
            ),
            delete: format!(
                "WITH {lock_key}, d AS (DELETE FROM {t} WHERE key = $1 AND {locked} \
                   RETURNING key), {c} \
                 SELECT count(*) FROM d"
            ),
            delete_version: format!(
                "WITH {lock_key}, cur AS (SELECT version, deadline FROM {t} WHERE key = $1), \
                 d AS (DELETE FROM {t} WHERE key = $1 AND version = $2 AND deadline > $3 \
                   AND {locked} RETURNING key), {c} \
                 SELECT (SELECT count(*) FROM d), (SELECT version FROM cur), \
                   (SELECT deadline FROM cur)"
            ),
            // Every counter row first: a batch spans them all anyway.
            purge: format!(
                "WITH lk AS (SELECT 1 FROM {t}_count ORDER BY id FOR UPDATE), \
                 victims AS (SELECT key FROM {t} WHERE deadline <= $1 AND {locked} \
                   ORDER BY deadline LIMIT {PURGE_BATCH} FOR UPDATE SKIP LOCKED), \
                 d AS (DELETE FROM {t} WHERE key IN (SELECT key FROM victims) AND deadline <= $1 \
                   RETURNING key), {c} \
                 SELECT count(*) FROM d"
            ),
            occupancy: format!("SELECT sum(sessions)::bigint FROM {t}_count"),
            cap: format!(
                "WITH victims AS (SELECT key FROM {t} WHERE owner = $1 AND key <> $2 \
                   AND deadline > $3 ORDER BY last_seen DESC, key OFFSET $4), \
                 d AS (DELETE FROM {t} WHERE key IN (SELECT key FROM victims) \
                   OR (owner = $1 AND deadline <= $3) RETURNING key), {c} \
                 SELECT count(*) FROM d"
            ),
            list: format!(
                "SELECT key, version, deadline, protected, owner, tag, value FROM {t} \
                 WHERE owner = $1 AND deadline > $2"
            ),
            revoke: format!(
                "WITH {lock_owner}, d AS (DELETE FROM {t} WHERE owner = $1 AND tag = $2 \
                   AND {locked} RETURNING key, deadline), {c} \
                 SELECT count(*) FROM d WHERE deadline > $3"
            ),
            revoke_all: format!(
                "WITH {lock_owner}, d AS (DELETE FROM {t} WHERE owner = $1 \
                   AND ($2::bytea IS NULL OR key <> $2) AND {locked} RETURNING key, deadline), {c} \
                 SELECT count(*) FROM d WHERE deadline > $3"
            ),
        }
    }
}

/// The statements of schema version 1.
fn schema_v1(t: &str) -> String {
    format!(
        "CREATE TABLE {t} (
           key bytea PRIMARY KEY,
           version bigint NOT NULL,
           deadline bigint NOT NULL,
           protected boolean NOT NULL,
           owner bytea,
           tag bytea,
           last_seen bigint NOT NULL,
           value bytea NOT NULL
         );
         CREATE INDEX {t}_deadline ON {t} (deadline);
         CREATE INDEX {t}_evict ON {t} (deadline) WHERE NOT protected;
         CREATE INDEX {t}_owner ON {t} (owner, last_seen) WHERE owner IS NOT NULL;
         CREATE TABLE {t}_count (
           id smallint PRIMARY KEY CHECK (id >= 0 AND id < {COUNT_SHARDS}),
           sessions bigint NOT NULL
         );
         INSERT INTO {t}_count (id, sessions) SELECT g, 0 FROM generate_series(0, {last}) AS g;",
        last = COUNT_SHARDS - 1
    )
}

/// Version 2: each counter row's share of the bound (`quota`) and the bound
/// the shares were made under (`bound`). A row starts with none, so the
/// first create in each takes the path that locks every row and shares the
/// room out; counts carried over from version 1 stay as they are.
fn schema_v2(t: &str) -> String {
    format!(
        "ALTER TABLE {t}_count ADD COLUMN quota bigint NOT NULL DEFAULT 0,
           ADD COLUMN bound bigint NOT NULL DEFAULT 0;"
    )
}

// ----------------------------------------------------------- encoding --

/// A time or version as PostgreSQL's `bigint`: times saturate (beyond
/// year 292 million), so that their order is kept.
fn millis(at: Instant) -> i64 {
    i64::try_from(at.as_millis()).unwrap_or(i64::MAX)
}

/// A version as `bigint`, bit for bit (only compared for equality).
fn version_sql(version: u64) -> i64 {
    i64::from_be_bytes(version.to_be_bytes())
}

/// The value column: version and deadline (8 bytes each, big-endian), the
/// core's record with its metadata, and the tag that binds all of it to
/// the store key ([`StoreKey::seal`]). The columns beside it repeat what
/// the statements compare, and a read checks they agree.
fn encode(
    keys: &StoreKey,
    hash: &[u8; 16],
    version: u64,
    record: &SessionRecord<Vec<u8>>,
    meta: &SessionMeta,
) -> Result<Vec<u8>, StoreError> {
    let body = record
        .to_vec_with_meta(meta)
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let mut out = Vec::with_capacity(
        16usize
            .saturating_add(body.len())
            .saturating_add(super::TAG_LEN),
    );
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&record.deadlines.expires_at().as_millis().to_be_bytes());
    out.extend_from_slice(&body);
    keys.seal(hash, &mut out);
    Ok(out)
}

/// Why a row is not a session of this store (never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// The tag does not bind the value to its key: moved from another
    /// key, edited, or written without the secret.
    Unbound,
    /// Bound, but not a record this build reads, or the columns beside it
    /// disagree with it (edited).
    Undecodable,
}

impl Bad {
    fn log(self, deleted: bool) {
        let what = match self {
            Bad::Unbound => "session record not bound to its key (moved or edited)",
            Bad::Undecodable => "undecodable session record",
        };
        if deleted {
            tracing::warn!("{what} deleted");
        } else {
            tracing::warn!("{what} seen; rewritten since, kept");
        }
    }
}

/// The columns of a row that a read checks against its value.
struct Columns<'r> {
    version: i64,
    deadline: i64,
    protected: bool,
    owner: Option<&'r [u8]>,
    value: &'r [u8],
}

fn columns<'r>(row: &'r Row, first: usize) -> Result<Columns<'r>, StoreError> {
    let get = |e: tokio_postgres::Error| StoreError::Backend(Box::new(e));
    Ok(Columns {
        version: row.try_get(first).map_err(get)?,
        deadline: row.try_get(first.saturating_add(1)).map_err(get)?,
        protected: row.try_get(first.saturating_add(2)).map_err(get)?,
        owner: row.try_get(first.saturating_add(3)).map_err(get)?,
        value: row.try_get(first.saturating_add(4)).map_err(get)?,
    })
}

fn decode(keys: &StoreKey, hash: &[u8; 16], row: &Columns<'_>) -> Result<StoredSession, Bad> {
    let bytes = keys.open(hash, row.value).ok_or(Bad::Unbound)?;
    let (version, rest) = bytes.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (deadline, body) = rest.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (record, meta) =
        SessionRecord::<Vec<u8>>::decode_with_meta(body).map_err(|_| Bad::Undecodable)?;
    let meta = meta.unwrap_or_default();
    let version = u64::from_be_bytes(*version);
    let expires_at = record.deadlines.expires_at();
    let owner = meta.owner.as_ref().map(|user| keys.hash_user(user));
    let agrees = u64::from_be_bytes(*deadline) == expires_at.as_millis()
        && row.version == version_sql(version)
        && row.deadline == millis(expires_at)
        && row.protected == record.protected
        && row.owner == owner.as_ref().map(<[u8; 16]>::as_slice);
    if !agrees {
        return Err(Bad::Undecodable);
    }
    Ok(StoredSession {
        record,
        version,
        meta,
    })
}

/// A display tag as the `tag` column keeps it (its 8 bytes).
fn stored_tag(bytes: &[u8]) -> Option<DisplayTag> {
    use std::fmt::Write;
    if bytes.len() != 8 {
        return None;
    }
    let mut text = String::with_capacity(16);
    for b in bytes {
        write!(text, "{b:02x}").ok()?;
    }
    DisplayTag::parse(&text)
}

/// Takes `owner`'s advisory lock until the transaction ends (a prepared
/// statement, as every other).
async fn lock_user(
    tx: &deadpool_postgres::Transaction<'_>,
    owner: &[u8; 16],
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await
        .map_err(pg_error)?;
    tx.execute(&stmt, &[&user_lock(owner)])
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// An advisory lock key for a user: the first 8 bytes of their hash.
fn user_lock(owner: &[u8; 16]) -> i64 {
    let mut head = [0u8; 8];
    head.iter_mut().zip(owner).for_each(|(h, o)| *h = *o);
    i64::from_be_bytes(head)
}

// ------------------------------------------------------------- errors --

/// A store call took longer than the configured timeout.
#[derive(Debug)]
struct TimedOut(Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgreSQL did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// The database's answer that is none of those a statement gives.
#[derive(Debug)]
struct Unexpected(&'static str);

impl std::fmt::Display for Unexpected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unexpected {}

fn unexpected(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(Unexpected(what)))
}

/// Whether `e` means the database could not be reached or went away (a
/// closed connection, an I/O error, SQLSTATE class 08 or 57P: shutdown,
/// cannot connect now).
fn unreachable_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || code.starts_with("57P");
    }
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if unreachable_error(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_error(e),
        PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(Box::new(e)),
        other => StoreError::Backend(Box::new(other)),
    }
}

// -------------------------------------------------------------- store --

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
