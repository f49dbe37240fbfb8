//! Sessions in Redis, for several servers behind one load balancer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

use super::key::StoreKey;
use super::{Created, Occupancy, Saved, SessionStore, StoreError, StoredSession};

/// Stores a new session unless a live one has the key. `e` holds the
/// deadline so that the caller's clock decides liveness, as in every store;
/// the TTL makes Redis drop the key at the same time.
const CREATE: &str = r"
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if e and e > tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1], 'e', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1";

/// Compare-and-swap on the version field: -1 missing or expired, -2 conflict,
/// else the new version.
const SAVE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'v', 'e')
local v, e = tonumber(f[1]), tonumber(f[2])
if not v or not e or e <= tonumber(ARGV[4]) then return -1 end
if f[1] ~= ARGV[1] then return -2 end
local n = v + 1
redis.call('HSET', KEYS[1], 'v', n, 'd', ARGV[2], 'e', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n";

/// How to reach Redis.
///
/// ```
/// let config = sesh_tokio::store::RedisConfig::new("redis://127.0.0.1:6379/0")
///     .with_prefix("myapp:sess:")
///     .with_connections(8)
///     .with_timeout(std::time::Duration::from_millis(500));
/// ```
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    connections: usize,
    timeout: Duration,
}

impl RedisConfig {
    /// Redis at `url` (`redis://host:port/db`), key prefix `sesh:`, 4
    /// multiplexed connections, 1 s timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "sesh:".into(),
            connections: 4,
            timeout: Duration::from_secs(1),
        }
    }

    /// Sets the key prefix (default `sesh:`), so several apps can share a database.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how many multiplexed connections the pool keeps (default 4).
    pub fn with_connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// Sets the connect and response timeout (default 1 s): while Redis is
    /// down, requests fail after this long with a clear error.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Sessions in Redis.
///
/// - Each session is a hash `{v: version, d: record, e: deadline}` under
///   `prefix + hex(keyed hash of the id)`: `KEYS *` shows no usable id.
/// - Its TTL is the session's deadline, so Redis drops expired sessions itself.
/// - Create is atomic and never overwrites (a script: `EXISTS`, then `HSET`).
/// - Save is a compare-and-swap on the version (a script).
/// - Connections reconnect on their own after Redis restarts; while it is
///   down every call fails after the timeout with [`StoreError::Unavailable`].
#[derive(Clone)]
pub struct RedisStore {
    pool: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    prefix: Arc<str>,
    key: StoreKey,
    create: Arc<Script>,
    save: Arc<Script>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// The raw `v`, `d` and `e` fields of a session's hash.
type Fields = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Reads the `v`, `d` and `e` fields; `None` unless all three are well formed
/// and agree (the deadline the scripts use is the record's own).
fn parse(fields: Fields) -> Option<StoredSession> {
    let (Some(version), Some(data), Some(deadline)) = fields else {
        return None;
    };
    let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok();
    let version = number(&version)?;
    let record = SessionRecord::<Vec<u8>>::decode(&data).ok()?;
    (number(&deadline)? == record.deadlines.expires_at().as_millis())
        .then_some(StoredSession { record, version })
}

fn ttl_millis(record: &SessionRecord<Vec<u8>>, now: Instant) -> u64 {
    record
        .deadlines
        .expires_at()
        .saturating_duration_since(now)
        .as_millis()
        .max(1)
}

impl RedisStore {
    /// Connects lazily: the server may be down at start-up; calls fail with
    /// [`StoreError::Unavailable`] until it is up.
    pub fn new(config: RedisConfig, key: StoreKey) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let pool = (0..config.connections)
            .map(|_| {
                ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(RedisStore {
            pool: pool.into(),
            next: Arc::new(AtomicUsize::new(0)),
            prefix: config.prefix.into(),
            key,
            create: Arc::new(Script::new(CREATE)),
            save: Arc::new(Script::new(SAVE)),
        })
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let index = n.checked_rem(self.pool.len()).unwrap_or(0);
        self.pool
            .get(index)
            .cloned()
            .ok_or(StoreError::Backend("empty Redis pool".into()))
    }

    fn redis_key(&self, id: &SessionId) -> String {
        let mut key = String::with_capacity(self.prefix.len().saturating_add(32));
        key.push_str(&self.prefix);
        for b in self.key.hash(id) {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }
}

impl SessionStore for RedisStore {
    async fn load(
        &self,
        id: &SessionId,
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let key = self.redis_key(id);
        let mut con = self.connection()?;
        let fields: Fields = redis::cmd("HMGET")
            .arg(&key)
            .arg("v")
            .arg("d")
            .arg("e")
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        if fields == (None, None, None) {
            return Ok(None);
        }
        match parse(fields) {
            Some(stored) if !stored.record.deadlines.is_expired(now) => Ok(Some(stored)),
            Some(_) => Ok(None),
            None => {
                tracing::warn!("undecodable session record deleted");
                let _: () = con.del(&key).await.map_err(unavailable)?;
                Ok(None)
            }
        }
    }

    async fn create(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> Result<Created, StoreError> {
        let bytes = record
            .to_vec()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let mut con = self.connection()?;
        let created: i64 = self
            .create
            .key(self.redis_key(id))
            .arg(bytes)
            .arg(ttl_millis(record, now))
            .arg(now.as_millis())
            .arg(record.deadlines.expires_at().as_millis())
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(if created == 1 {
            Created::Stored(1)
        } else {
            Created::IdTaken
        })
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> Result<Saved, StoreError> {
        let bytes = record
            .to_vec()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let mut con = self.connection()?;
        let outcome: i64 = self
            .save
            .key(self.redis_key(id))
            .arg(expected_version)
            .arg(bytes)
            .arg(ttl_millis(record, now))
            .arg(now.as_millis())
            .arg(record.deadlines.expires_at().as_millis())
            .invoke_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            -1 => Saved::Missing,
            -2 => Saved::Conflict,
            n => Saved::Stored(u64::try_from(n).unwrap_or(0)),
        })
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut con = self.connection()?;
        let _: () = con.del(self.redis_key(id)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn purge_expired(&self, _now: Instant) -> Result<usize, StoreError> {
        // Redis drops each key at its TTL, which is the session's deadline.
        Ok(0)
    }

    async fn occupancy(&self) -> Result<Occupancy, StoreError> {
        let mut con = self.connection()?;
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        let mut sessions = 0usize;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            sessions = sessions.saturating_add(keys.len());
            if next == 0 {
                return Ok(Occupancy {
                    sessions,
                    capacity: None,
                });
            }
            cursor = next;
        }
    }
}
