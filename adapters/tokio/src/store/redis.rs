//! Sessions in Redis, for several servers behind one load balancer.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, Script, ServerErrorKind, Value};
use sesh::record::{EncodeError, SessionRecord};
use sesh::{Instant, SessionId};

use super::key::StoreKey;
use super::{Created, Occupancy, Removed, Saved, SessionStore, StoreError, StoredSession};

// ------------------------------------------------------------ encoding --

/// The first byte of every stored value: `S`, this layout.
const TAG: u8 = b'S';

/// Tag, version (8 bytes, big-endian) and deadline (8 bytes, big-endian
/// milliseconds), in front of the record.
const HEADER_LEN: usize = 17;

/// The most a record's encoding adds to its data: the schema byte, two
/// deadlines and the data's length as varints (10 bytes each at most) and
/// the protected flag. Only a first guess at the buffer size: a record that
/// does not fit is encoded again into a vector of its own size.
const RECORD_OVERHEAD: usize = 32;

/// Compare-and-swap on the version in the value's header.
///
/// `KEYS[1]`: the session's key. `ARGV`: the expected version (8 bytes,
/// big-endian, as in the header), the new value, the caller's now in
/// milliseconds as two 32-bit halves (high, low; so that the comparison is
/// exact for any `u64`), and the TTL in milliseconds, or `0` to keep the
/// key's TTL (the deadline did not move: the caller's copy of the expected
/// version has the new record's deadline), or `d` to delete the key
/// instead (compare-and-delete; the value is then empty).
///
/// Returns 1 stored (or deleted), 2 conflict (another version), 0 missing (no key, or
/// its deadline is at or before the caller's now), 3 missing because the
/// value is not in this layout (it was deleted).
///
/// The header is read with `string.byte` and compared with `==` only:
/// Redis sets the locale's collation, and ordered string comparisons
/// would depend on it. A value whose record bytes were damaged behind an
/// intact header with the expected version is replaced: the caller's copy
/// is that version's, so the save repairs it (a `load` would have reported
/// it absent and deleted it).
const SAVE: &str = r"
local cur = redis.pcall('GET', KEYS[1])
if not cur then return 0 end
if type(cur) ~= 'string' or #cur < 17 or string.byte(cur, 1) ~= 83 then
  redis.call('DEL', KEYS[1])
  return 3
end
local a, b, c, d, e, f, g, h = string.byte(cur, 10, 17)
local hi = ((a * 256 + b) * 256 + c) * 256 + d
local lo = ((e * 256 + f) * 256 + g) * 256 + h
local nhi, nlo = tonumber(ARGV[3]), tonumber(ARGV[4])
if hi < nhi or (hi == nhi and lo <= nlo) then return 0 end
if string.sub(cur, 2, 9) ~= ARGV[1] then return 2 end
if ARGV[5] == 'd' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
end
return 1";

/// Deletes an undecodable value, unless it changed since it was read: a
/// save that repaired it in between (see [`SAVE`]) must not be lost.
///
/// `KEYS[1]`: the session's key. `ARGV[1]`: the value as read (empty for
/// one that was not a string). A value that is still not a string is
/// deleted too. Returns 1 deleted, 0 kept (changed or gone).
const DISCARD: &str = r"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' or cur == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// The value stored for a session: [`TAG`], `version` and the record's
/// deadline, then the record.
fn encode_value(version: u64, record: &SessionRecord<Vec<u8>>) -> Result<Vec<u8>, StoreError> {
    let backend = |e: EncodeError| StoreError::Backend(Box::new(e));
    let guess = HEADER_LEN
        .saturating_add(RECORD_OVERHEAD)
        .saturating_add(record.data.len());
    let mut value = vec![0u8; guess];
    let (header, body) = value.split_at_mut(HEADER_LEN.min(guess));
    write_header(header, version, record);
    let used = match record.encode(body) {
        Ok(bytes) => bytes.len(),
        Err(EncodeError::BufferTooSmall) => {
            let body = record.to_vec().map_err(backend)?;
            value.truncate(HEADER_LEN);
            value.extend_from_slice(&body);
            return Ok(value);
        }
        Err(e) => return Err(backend(e)),
    };
    value.truncate(HEADER_LEN.saturating_add(used));
    Ok(value)
}

fn write_header(header: &mut [u8], version: u64, record: &SessionRecord<Vec<u8>>) {
    let deadline = record.deadlines.expires_at().as_millis();
    let fields = std::iter::once(TAG)
        .chain(version.to_be_bytes())
        .chain(deadline.to_be_bytes());
    header.iter_mut().zip(fields).for_each(|(h, f)| *h = f);
}

/// Reads a stored value; `None` unless it is in this layout, the record
/// decodes and the header's deadline is the record's own (the one the save
/// script checks).
fn decode_value(bytes: &[u8]) -> Option<StoredSession> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != TAG {
        return None;
    }
    let (version, rest) = rest.split_first_chunk::<8>()?;
    let (deadline, body) = rest.split_first_chunk::<8>()?;
    let record = SessionRecord::<Vec<u8>>::decode(body).ok()?;
    (u64::from_be_bytes(*deadline) == record.deadlines.expires_at().as_millis()).then_some(
        StoredSession {
            record,
            version: u64::from_be_bytes(*version),
        },
    )
}

fn ttl_millis(record: &SessionRecord<Vec<u8>>, now: Instant) -> u64 {
    record
        .deadlines
        .expires_at()
        .saturating_duration_since(now)
        .as_millis()
        .max(1)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_digit(nibble: u8) -> char {
    char::from(HEX.get(usize::from(nibble & 0xf)).copied().unwrap_or(b'0'))
}

// --------------------------------------------------------------- cache --

const CACHE_SHARDS: usize = 16;
/// `CACHE_SHARDS` is a power of two: a mask picks the shard.
const SHARD_MASK: u64 = (CACHE_SHARDS as u64).wrapping_sub(1);

/// The cache's key: the id's 22 base64url characters, compared as plain
/// bytes. (`SessionId` compares in constant time, which costs more than the
/// rest of a lookup. A lookup only runs for an id whose cookie signature
/// verified, so its timing tells a client nothing about ids it was not
/// given; and the maps' hasher is keyed.)
type CacheKey = [u8; 22];

fn cache_key(id: &SessionId) -> CacheKey {
    let mut key = [0u8; 22];
    key.iter_mut()
        .zip(id.encode().as_str().bytes())
        .for_each(|(k, c)| *k = c);
    key
}

/// A record this process loaded, created or saved, and its store key.
#[derive(Clone)]
struct Cached {
    /// The keyed hash of the id, so that a save after a hit skips the HMAC.
    hash: [u8; 16],
    stored: StoredSession,
}

/// What a save needs from the cache: the store key's hash, and the cached
/// copy's version and deadline.
#[derive(Clone, Copy)]
struct CachedKey {
    hash: [u8; 16],
    version: u64,
    expires_at: Instant,
}

/// One shard: two generations. Writes go to `young`; when it holds its
/// share, it becomes `old` and the previous `old` is dropped. A hit in
/// `old` moves the entry back to `young`, so sessions in use stay.
#[derive(Default)]
struct Shard {
    young: HashMap<CacheKey, Cached>,
    old: HashMap<CacheKey, Cached>,
}

/// The last-seen copies behind [`SessionStore::load_for_update`]: at most
/// about `capacity` records, in sharded maps under plain mutexes held for
/// a map operation or two (never across an await).
struct WriteCache {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation per shard.
    generation: usize,
    hasher: RandomState,
}

impl WriteCache {
    fn new(capacity: usize) -> Option<WriteCache> {
        if capacity == 0 {
            return None;
        }
        let per_shard = capacity.div_ceil(CACHE_SHARDS);
        Some(WriteCache {
            shards: (0..CACHE_SHARDS).map(|_| Mutex::default()).collect(),
            generation: per_shard.div_ceil(2).max(1),
            hasher: RandomState::new(),
        })
    }

    fn shard(&self, key: &CacheKey) -> Option<MutexGuard<'_, Shard>> {
        let spread = self.hasher.hash_one(key);
        let index = usize::try_from(spread & SHARD_MASK).unwrap_or(0);
        let shard = self.shards.get(index)?;
        // A panic while holding the lock leaves a consistent map: use it.
        Some(
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    fn get(&self, id: &SessionId) -> Option<Cached> {
        let key = cache_key(id);
        let mut shard = self.shard(&key)?;
        if let Some(hit) = shard.young.get(&key) {
            return Some(hit.clone());
        }
        let hit = shard.old.remove(&key)?;
        self.insert_young(&mut shard, key, hit.clone());
        Some(hit)
    }

    fn key(&self, id: &SessionId) -> Option<CachedKey> {
        let key = cache_key(id);
        let shard = self.shard(&key)?;
        let hit = shard.young.get(&key).or_else(|| shard.old.get(&key))?;
        Some(CachedKey {
            hash: hit.hash,
            version: hit.stored.version,
            expires_at: hit.stored.record.deadlines.expires_at(),
        })
    }

    fn put(&self, id: &SessionId, hash: [u8; 16], stored: StoredSession) {
        let key = cache_key(id);
        let Some(mut shard) = self.shard(&key) else {
            return;
        };
        let entry = Cached { hash, stored };
        if let Some(slot) = shard.young.get_mut(&key) {
            *slot = entry;
            return;
        }
        shard.old.remove(&key);
        self.insert_young(&mut shard, key, entry);
    }

    fn insert_young(&self, shard: &mut Shard, key: CacheKey, entry: Cached) {
        if shard.young.len() >= self.generation {
            shard.old = std::mem::take(&mut shard.young);
        }
        shard.young.insert(key, entry);
    }

    fn remove(&self, id: &SessionId) {
        let key = cache_key(id);
        if let Some(mut shard) = self.shard(&key) {
            shard.young.remove(&key);
            shard.old.remove(&key);
        }
    }
}

// -------------------------------------------------------------- config --

/// How to reach Redis.
///
/// ```
/// let config = sesh_tokio::store::RedisConfig::new("redis://127.0.0.1:6379/0")
///     .with_prefix("myapp:sess:")
///     .with_connections(8)
///     .with_timeout(std::time::Duration::from_millis(500))
///     .with_write_cache(50_000);
/// ```
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    prefix: String,
    connections: usize,
    timeout: Duration,
    write_cache: usize,
}

impl RedisConfig {
    /// Redis at `url` (`redis://host:port/db`), key prefix `sesh:`, one
    /// multiplexed connection, 1 s timeouts, a write cache of 10,000
    /// sessions.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: "sesh:".into(),
            connections: 1,
            timeout: Duration::from_secs(1),
            write_cache: 10_000,
        }
    }

    /// Sets the key prefix (default `sesh:`), so several apps can share a database.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how many multiplexed connections the pool keeps (default 1).
    ///
    /// One is right for most servers: every request shares it, and the
    /// commands of concurrent requests go out together, in fewer system
    /// calls on both ends (Redis runs them one at a time anyway). With
    /// four, a benchmark of the counter app spent about a fifth more CPU
    /// time per request, in the app and in Redis. More connections spread
    /// the client's encoding and decoding over threads, which only pays at
    /// very high request rates on many cores.
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

    /// Sets how many sessions the store remembers from its own loads,
    /// creates and saves (default 10,000; 0 turns the cache off).
    ///
    /// An update ([`Session::update`](crate::Session::update)) of a session
    /// in this cache starts from the remembered copy instead of reading
    /// Redis, so it costs one round trip (the compare-and-swap) instead of
    /// two. A copy made stale by another server's write only costs a retry:
    /// the compare-and-swap answers "conflict", and the update reads Redis
    /// and runs again. No update is lost, and nothing is read from the
    /// cache outside updates.
    ///
    /// Memory: up to about 200 bytes per session plus its data (the maps'
    /// slack included), so 10,000 sessions of 100 bytes take about 3 MB.
    /// The cache is sharded and each shard keeps two generations: sessions
    /// in use stay, the others are dropped a generation at a time.
    ///
    /// ```
    /// use sesh_tokio::store::RedisConfig;
    /// // Every update reads Redis first (two round trips).
    /// let uncached = RedisConfig::new("redis://127.0.0.1:6379/0").with_write_cache(0);
    /// // A busy site with 100,000 active sessions of ~200 bytes: ~40 MB.
    /// let large = RedisConfig::new("redis://127.0.0.1:6379/0").with_write_cache(100_000);
    /// # let _ = (uncached, large);
    /// ```
    pub fn with_write_cache(mut self, sessions: usize) -> Self {
        self.write_cache = sessions;
        self
    }
}

// --------------------------------------------------------------- store --

/// What the save script does once the version matches.
enum Then<'a> {
    /// Stores `value`; `ttl` in milliseconds, 0 keeps the key's TTL.
    Set { value: &'a [u8], ttl: u64 },
    /// Deletes the key.
    Delete,
}

/// The script's last argument.
enum TtlArg {
    Millis(u64),
    Delete,
}

/// Sessions in Redis.
///
/// - Each session is one string value under `prefix + hex(keyed hash of the
///   id)`, so `KEYS *` shows no usable id. The value is a 17-byte header
///   (the byte `S`, the version and the deadline in milliseconds, both
///   big-endian `u64`) followed by the core's postcard record
///   ([`SessionRecord::encode`]).
/// - Its TTL is the session's deadline, so Redis drops expired sessions
///   itself. The caller's `now` still decides liveness, as in every store.
/// - Load is a `GET`. Create is `SET … NX PX`: atomic, never overwrites.
/// - Save is a compare-and-swap on the version: a small Lua script (`GET`,
///   compare, then `SET … KEEPTTL`, or `SET … PX` when the deadline moved)
///   called with `EVALSHA`. The same script deletes on a version match
///   ([`SessionStore::delete_version`], for `regenerate`).
/// - Updates start from the store's last-seen copy (see
///   [`RedisConfig::with_write_cache`]): with one server an update is one
///   round trip.
/// - A value that does not decode is reported absent, deleted (unless it
///   changed since it was read) and logged.
/// - Connections reconnect on their own after Redis restarts; while it is
///   down every call fails after the timeout with [`StoreError::Unavailable`].
#[derive(Clone)]
pub struct RedisStore {
    pool: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    prefix: Arc<str>,
    key: StoreKey,
    save: Arc<Script>,
    discard: Arc<Script>,
    cache: Option<Arc<WriteCache>>,
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
            save: Arc::new(Script::new(SAVE)),
            discard: Arc::new(Script::new(DISCARD)),
            cache: WriteCache::new(config.write_cache).map(Arc::new),
        })
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let index = match self.pool.len() {
            1 => 0,
            len => self
                .next
                .fetch_add(1, Ordering::Relaxed)
                .checked_rem(len)
                .unwrap_or(0),
        };
        self.pool
            .get(index)
            .cloned()
            .ok_or(StoreError::Backend("empty Redis pool".into()))
    }

    /// The keyed hash of `id`: from the cache when it holds the session,
    /// else computed.
    fn hash(&self, id: &SessionId) -> [u8; 16] {
        self.cache
            .as_ref()
            .and_then(|c| c.key(id))
            .map_or_else(|| self.key.hash(id), |k| k.hash)
    }

    fn redis_key(&self, hash: &[u8; 16]) -> String {
        let mut key = String::with_capacity(self.prefix.len().saturating_add(32));
        key.push_str(&self.prefix);
        for &b in hash {
            key.push(hex_digit(b >> 4));
            key.push(hex_digit(b));
        }
        key
    }

    fn remember(&self, id: &SessionId, hash: [u8; 16], stored: StoredSession) {
        if let Some(cache) = &self.cache {
            cache.put(id, hash, stored);
        }
    }

    fn forget(&self, id: &SessionId) {
        if let Some(cache) = &self.cache {
            cache.remove(id);
        }
    }

    async fn load_hashed(
        &self,
        id: &SessionId,
        hash: [u8; 16],
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let key = self.redis_key(&hash);
        let mut con = self.connection()?;
        let value: Option<Vec<u8>> = match redis::cmd("GET").arg(&key).query_async(&mut con).await {
            Ok(value) => value,
            // Not a string: no value of this store (an older layout, or
            // someone else's key). Undecodable, like a damaged one.
            Err(e) if e.code() == Some("WRONGTYPE") => Some(Vec::new()),
            Err(e) => {
                self.forget(id);
                return Err(unavailable(e));
            }
        };
        let Some(value) = value else {
            self.forget(id);
            return Ok(None);
        };
        match decode_value(&value) {
            Some(stored) if !stored.record.deadlines.is_expired(now) => {
                self.remember(id, hash, stored.clone());
                Ok(Some(stored))
            }
            Some(_) => {
                self.forget(id);
                Ok(None)
            }
            None => {
                self.forget(id);
                let deleted: i64 = self
                    .discard
                    .key(&key)
                    .arg(&value)
                    .invoke_async(&mut con)
                    .await
                    .map_err(unavailable)?;
                if deleted == 1 {
                    tracing::warn!("undecodable session record deleted");
                } else {
                    tracing::warn!("undecodable session record seen; rewritten since, kept");
                }
                Ok(None)
            }
        }
    }

    /// Runs the save script; loads it first if Redis does not have it (a
    /// new or restarted server).
    async fn run_save(
        &self,
        key: &str,
        expected_version: u64,
        now: Instant,
        then: Then<'_>,
    ) -> Result<i64, redis::RedisError> {
        let now = now.as_millis();
        let (value, ttl) = match then {
            Then::Set { value, ttl } => (value, TtlArg::Millis(ttl)),
            Then::Delete => (&[][..], TtlArg::Delete),
        };
        let mut cmd = redis::Cmd::with_capacity(9, value.len().saturating_add(160));
        cmd.arg("EVALSHA")
            .arg(self.save.get_hash())
            .arg(1)
            .arg(key)
            .arg(&expected_version.to_be_bytes()[..])
            .arg(value)
            .arg(now >> 32)
            .arg(now & 0xffff_ffff);
        match ttl {
            TtlArg::Millis(ttl) => cmd.arg(ttl),
            TtlArg::Delete => cmd.arg("d"),
        };
        let mut con = self
            .connection()
            .map_err(|_| redis::RedisError::from((ErrorKind::Client, "empty Redis pool")))?;
        match cmd.query_async(&mut con).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.save.load_async(&mut con).await?;
                cmd.query_async(&mut con).await
            }
            answer => answer,
        }
    }
}

impl SessionStore for RedisStore {
    async fn load(
        &self,
        id: &SessionId,
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        self.load_hashed(id, self.hash(id), now).await
    }

    async fn load_for_update(
        &self,
        id: &SessionId,
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        let hit = self.cache.as_ref().and_then(|c| c.get(id));
        match hit {
            // A copy that may be stale, never one that is expired: the
            // save's compare-and-swap catches the first.
            Some(hit) if !hit.stored.record.deadlines.is_expired(now) => Ok(Some(hit.stored)),
            Some(hit) => self.load_hashed(id, hit.hash, now).await,
            None => self.load_hashed(id, self.key.hash(id), now).await,
        }
    }

    async fn create(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> Result<Created, StoreError> {
        const VERSION: u64 = 1;
        let value = encode_value(VERSION, record)?;
        let hash = self.key.hash(id);
        let mut con = self.connection()?;
        // NX: a key that exists is taken, even when its deadline is past the
        // caller's now but Redis has not dropped it yet. The adapter then
        // retries with a fresh 128-bit id, so this costs nothing.
        let answer: Value = redis::cmd("SET")
            .arg(self.redis_key(&hash))
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(record, now))
            .query_async(&mut con)
            .await
            .map_err(|e| {
                self.forget(id);
                unavailable(e)
            })?;
        Ok(if answer == Value::Nil {
            self.forget(id);
            Created::IdTaken
        } else {
            let stored = StoredSession {
                record: record.clone(),
                version: VERSION,
            };
            self.remember(id, hash, stored);
            Created::Stored(VERSION)
        })
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> Result<Saved, StoreError> {
        let version = expected_version.wrapping_add(1);
        let value = encode_value(version, record)?;
        let cached = self.cache.as_ref().and_then(|c| c.key(id));
        let hash = cached.map_or_else(|| self.key.hash(id), |c| c.hash);
        // The stored value, if it is the expected version, is the cached
        // copy: when the deadline did not move, the key's TTL is still right
        // (most saves: the refresh is throttled).
        let deadline = record.deadlines.expires_at();
        let ttl = match cached {
            Some(c) if c.version == expected_version && c.expires_at == deadline => 0,
            _ => ttl_millis(record, now),
        };
        let key = self.redis_key(&hash);
        let outcome = self
            .run_save(
                &key,
                expected_version,
                now,
                Then::Set { value: &value, ttl },
            )
            .await;
        match outcome {
            Ok(1) => {
                let stored = StoredSession {
                    record: record.clone(),
                    version,
                };
                self.remember(id, hash, stored);
                Ok(Saved::Stored(version))
            }
            Ok(2) => {
                self.forget(id);
                Ok(Saved::Conflict)
            }
            Ok(3) => {
                self.forget(id);
                tracing::warn!("undecodable session record deleted");
                Ok(Saved::Missing)
            }
            Ok(_) => {
                self.forget(id);
                Ok(Saved::Missing)
            }
            Err(e) => {
                self.forget(id);
                Err(unavailable(e))
            }
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = self.redis_key(&self.hash(id));
        self.forget(id);
        let mut con = self.connection()?;
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut con)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_version(
        &self,
        id: &SessionId,
        expected_version: u64,
        now: Instant,
    ) -> Result<Removed, StoreError> {
        let key = self.redis_key(&self.hash(id));
        self.forget(id);
        let outcome = self
            .run_save(&key, expected_version, now, Then::Delete)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            1 => Removed::Deleted,
            2 => Removed::Conflict,
            3 => {
                tracing::warn!("undecodable session record deleted");
                Removed::Missing
            }
            _ => Removed::Missing,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use sesh::ExpiryPolicy;

    fn record(data: &[u8]) -> SessionRecord<Vec<u8>> {
        SessionRecord {
            deadlines: ExpiryPolicy::new().start(Instant::from_secs(1_000)),
            protected: true,
            data: data.to_vec(),
        }
    }

    #[test]
    fn values_round_trip_and_damage_is_absent() {
        let r = record(b"hello");
        let value = encode_value(7, &r).unwrap_or_default();
        assert_eq!(value.first(), Some(&TAG));
        let stored = decode_value(&value);
        assert_eq!(
            stored,
            Some(StoredSession {
                record: r.clone(),
                version: 7
            })
        );
        // Every truncation, and every single-byte change of the tag or the
        // deadline, is absent; none panics.
        for len in 0..value.len() {
            assert_eq!(decode_value(value.get(..len).unwrap_or_default()), None);
        }
        for at in (0..1).chain(9..HEADER_LEN) {
            let mut damaged = value.clone();
            if let Some(b) = damaged.get_mut(at) {
                *b ^= 0x40;
            }
            assert_eq!(decode_value(&damaged), None, "byte {at}");
        }
        let mut trailing = value.clone();
        trailing.push(0);
        assert_eq!(decode_value(&trailing), None);
        assert_eq!(decode_value(&[0xff; 64]), None);
    }

    proptest::proptest! {
        /// Stored bytes are never trusted: any value decodes to a session
        /// or to `None`, never a panic; a session that decodes is stored
        /// again as itself.
        #[test]
        fn any_stored_value_is_a_session_or_absent(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)
        ) {
            if let Some(stored) = decode_value(&bytes) {
                let again = encode_value(stored.version, &stored.record).ok();
                proptest::prop_assert_eq!(again.as_deref().and_then(decode_value), Some(stored));
            }
        }

        /// Any record round-trips, header and all.
        #[test]
        fn records_round_trip(
            version: u64,
            protected: bool,
            idle in 1u64..1_000_000,
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            let idle_timeout = sesh::Duration::from_secs(idle);
            let policy = sesh::ExpiryPolicy::new().with_idle_timeout(idle_timeout);
            let record = SessionRecord {
                deadlines: policy.start(Instant::from_secs(idle)),
                protected,
                data,
            };
            let value = encode_value(version, &record).ok();
            let decoded = value.as_deref().and_then(decode_value);
            proptest::prop_assert_eq!(decoded, Some(StoredSession { record, version }));
        }
    }

    #[test]
    fn large_records_are_encoded_whole() {
        let r = record(&[9; 100_000]);
        let value = encode_value(1, &r).unwrap_or_default();
        assert_eq!(decode_value(&value).map(|s| s.record), Some(r));
    }

    #[tokio::test]
    async fn keys_are_prefix_and_lowercase_hex() {
        let store = RedisStore::new(
            RedisConfig::new("redis://127.0.0.1:1/0").with_prefix("p:"),
            StoreKey::new(&[1; 32]).unwrap_or_else(|_| unreachable!()),
        );
        let Ok(store) = store else {
            unreachable!("a lazy store needs no server")
        };
        let hash: [u8; 16] = std::array::from_fn(|i| u8::try_from(i * 17).unwrap_or(0));
        assert_eq!(store.redis_key(&hash), "p:00112233445566778899aabbccddeeff");
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_in_use() {
        let cache = WriteCache::new(64).unwrap_or_else(|| unreachable!());
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let hot = SessionId::generate(&mut rng).unwrap_or_else(|_| unreachable!());
        let stored = StoredSession {
            record: record(b"x"),
            version: 1,
        };
        cache.put(&hot, [1; 16], stored.clone());
        for _ in 0..10_000 {
            let id = SessionId::generate(&mut rng).unwrap_or_else(|_| unreachable!());
            cache.put(&id, [2; 16], stored.clone());
            assert!(cache.get(&hot).is_some(), "a session in use stays");
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().map(|s| s.young.len() + s.old.len()).unwrap_or(0))
            .sum();
        assert!(held <= 64 + CACHE_SHARDS * 2, "{held} entries");
        cache.remove(&hot);
        assert!(cache.get(&hot).is_none());
        assert!(WriteCache::new(0).is_none());
    }
}
