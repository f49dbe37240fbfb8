//! The store's statements and schema, and the lock order that keeps its
//! writes from deadlocking one another.

use super::*;

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
pub(super) struct Sql {
    pub(super) load: String,
    pub(super) discard: String,
    pub(super) lock_count: String,
    pub(super) create_fast: String,
    pub(super) make_room: String,
    pub(super) insert: String,
    pub(super) count_one: String,
    pub(super) share: String,
    pub(super) save: String,
    pub(super) delete: String,
    pub(super) delete_version: String,
    pub(super) purge: String,
    pub(super) occupancy: String,
    pub(super) cap: String,
    pub(super) list: String,
    pub(super) revoke: String,
    pub(super) revoke_all: String,
    pub(super) save_owned: String,
}

impl Sql {
    /// The statements on table `t`, whose creates count in the counter row
    /// `key[0] & mask` (see [`COUNT_SHARDS`]).
    pub(super) fn new(t: &str, mask: u8) -> Sql {
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
pub(super) fn schema_v1(t: &str) -> String {
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
pub(super) fn schema_v2(t: &str) -> String {
    format!(
        "ALTER TABLE {t}_count ADD COLUMN quota bigint NOT NULL DEFAULT 0,
           ADD COLUMN bound bigint NOT NULL DEFAULT 0;"
    )
}

/// Takes `owner`'s advisory lock until the transaction ends (a prepared
/// statement, as every other).
pub(super) async fn lock_user(
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
pub(super) fn user_lock(owner: &[u8; 16]) -> i64 {
    let mut head = [0u8; 8];
    head.iter_mut().zip(owner).for_each(|(h, o)| *h = *o);
    i64::from_be_bytes(head)
}
