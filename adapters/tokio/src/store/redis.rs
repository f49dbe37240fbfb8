//! Sessions in Redis, for several servers behind one load balancer.

#[cfg(feature = "redis-tls")]
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, Script, ServerErrorKind};
use sesh::owner::{
    DEFAULT_MAX_SESSIONS_PER_USER, DisplayTag, MAX_META_LEN, SessionInfo, SessionMeta, UserId,
};
use sesh::record::{EncodeError, SessionRecord};
use sesh::{Instant, SessionId};

use super::key::StoreKey;
use super::write_cache::WriteCache;
use super::{
    Created, DEFAULT_MAX_SESSIONS, Occupancy, Removed, Revoked, Saved, SessionStore, StoreError,
    StoreFuture, StoredSession,
};

// ------------------------------------------------------------ encoding --

/// The first byte of every stored value: `B`, this layout (records bound to
/// their keys).
const TAG: u8 = b'B';

/// The first byte of the layout before records carried a tag: such a value
/// is refused (deleted, logged) like any other that is not bound to its key.
const UNTAGGED: u8 = b'S';

/// Tag, version (8 bytes, big-endian) and deadline (8 bytes, big-endian
/// milliseconds), in front of the record.
const HEADER_LEN: usize = 17;

/// The most a record's encoding adds to its data: the schema byte, two
/// deadlines and the data's length as varints (10 bytes each at most) and
/// the protected flag. Only a first guess at the buffer size: a record that
/// does not fit is encoded again into a vector of its own size.
const RECORD_OVERHEAD: usize = 32;

/// The owner index's functions, shared by the scripts (after `OWN`, the
/// owners hash, is set). The owners hash maps a session's member to its
/// owner's user hash and its display tag (hex, 32 + 16 characters); the
/// user's set (`<prefix>user:<user hash>`) holds member and tag,
/// scored by the session's last write that moved its deadline or owner
/// (milliseconds), so its first entry is the least recently used, to within
/// the refresh interval (an update that moves no deadline skips the index:
/// one command less per request). A session's entries change in the script
/// that writes or deletes it.
///
/// - `unown(p, m)`: takes `m` off its owner's set and the owners hash.
/// - `drop(p, m)`: deletes session `m` and all its entries (`KEYS[2]`,
///   `KEYS[3]` are the sets).
/// - `expired(h, nhi, nlo)`: the value header `h` is at or past its deadline.
/// - `own(p, m, owner, seen)`: puts `m` in its owner's set (user hash and
///   tag in `owner`), whose TTL stays at least the session key's (none if
///   the key has none).
/// - `cap(p, owner, keep, nhi, nlo, max)`: drops the owner's gone or
///   expired sessions, then the least recently used ones but `keep` while
///   more than `max` are live.
macro_rules! owner_lua {
    () => {
        r"
local function unown(p, m)
  local o = redis.call('HGET', OWN, m)
  if o then
    redis.call('ZREM', p .. 'user:' .. string.sub(o, 1, 32), m .. string.sub(o, 33))
    redis.call('HDEL', OWN, m)
  end
end
local function drop(p, m)
  redis.call('DEL', p .. m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], m)
  unown(p, m)
end
local function expired(h, nhi, nlo)
  local a, b, c, d, e, f, g, i = string.byte(h, 10, 17)
  local hi = ((a * 256 + b) * 256 + c) * 256 + d
  local lo = ((e * 256 + f) * 256 + g) * 256 + i
  return hi < nhi or (hi == nhi and lo <= nlo)
end
local function live(p, m, nhi, nlo)
  local h = redis.pcall('GETRANGE', p .. m, 0, 16)
  return type(h) == 'string' and #h == 17 and string.byte(h, 1) == 66 and not expired(h, nhi, nlo)
end
local function own(p, m, owner, seen)
  local u = p .. 'user:' .. string.sub(owner, 1, 32)
  local t = redis.call('PTTL', u)
  redis.call('ZADD', u, seen, m .. string.sub(owner, 33))
  redis.call('HSET', OWN, m, owner)
  local kt = redis.call('PTTL', p .. m)
  if kt == -1 then
    redis.call('PERSIST', u)
  elseif kt > 0 and (t == -2 or (t >= 0 and t < kt)) then
    redis.call('PEXPIRE', u, kt)
  end
end
local function cap(p, owner, keep, nhi, nlo, max)
  local u = p .. 'user:' .. string.sub(owner, 1, 32)
  local others = {}
  for _, e in ipairs(redis.call('ZRANGE', u, 0, -1)) do
    local m = string.sub(e, 1, 32)
    if m ~= keep then
      if live(p, m, nhi, nlo) then
        others[#others + 1] = m
      else
        drop(p, m)
        redis.call('ZREM', u, e)
      end
    end
  end
  for i = 1, #others + 1 - max do drop(p, others[i]) end
end
"
    };
}

/// Creates a session, making room first if the store is full.
///
/// `KEYS`: the session's key, the set of unprotected sessions and the set
/// of protected ones (sorted sets of store keys in hex, scored by the
/// session's deadline in milliseconds), and the owners hash (see
/// [`owner_lua`]). `ARGV`: the value, the TTL in
/// milliseconds (`0`: no TTL, for a protected session), the session's
/// member (its key without the prefix), its deadline, the caller's now
/// (milliseconds), the bound, the key prefix, the owner (user hash and
/// tag in hex; empty for none), the caller's now as two 32-bit halves, and
/// the per-user cap.
///
/// A key that exists is taken (even past its deadline by the caller's
/// clock: the adapter then draws another id). Every create drops a few
/// sessions whose deadline has passed (so that the sets follow the keys
/// Redis expired, and protected sessions, which have no TTL, are deleted
/// even without a sweeper), and takes the first two unprotected sessions
/// off their set if Redis evicted them itself (a `volatile-*` policy
/// evicts the least recently used first, which are those). A full store
/// drops more expired sessions, then evicts unprotected sessions in
/// deadline order (the least recently used: a session in use has its
/// deadline moved on), never a protected one.
///
/// Returns 1 stored, 0 id taken, 2 full of protected sessions.
const CREATE: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
local function prune(set, limit)
  local gone = redis.call('ZRANGEBYSCORE', set, '-inf', ARGV[5], 'LIMIT', 0, limit)
  for _, m in ipairs(gone) do
    redis.call('DEL', ARGV[7] .. m)
    unown(ARGV[7], m)
  end
  if #gone > 0 then redis.call('ZREM', set, unpack(gone)) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
prune(KEYS[3], 2)
prune(KEYS[2], 2)
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 1)) do
  if redis.call('EXISTS', ARGV[7] .. m) == 0 then
    redis.call('ZREM', KEYS[2], m)
    unown(ARGV[7], m)
  end
end
local max = tonumber(ARGV[6])
local n = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
if n >= max then
  prune(KEYS[3], 256)
  prune(KEYS[2], 256)
  n = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])
  local evicted = 0
  while n >= max and evicted < 64 do
    local victim = redis.call('ZPOPMIN', KEYS[2])
    if #victim == 0 then break end
    redis.call('DEL', ARGV[7] .. victim[1])
    unown(ARGV[7], victim[1])
    n = n - 1
    evicted = evicted + 1
  end
  if n >= max and evicted == 0 then return 2 end
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
unown(ARGV[7], ARGV[3])
if ARGV[8] ~= '' then
  own(ARGV[7], ARGV[3], ARGV[8], ARGV[5])
  cap(ARGV[7], ARGV[8], ARGV[3], tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
end
return 1"
);

/// Compare-and-swap on the version in the value's header.
///
/// `KEYS`: as [`CREATE`]'s. `ARGV`: the expected version (8 bytes,
/// big-endian, as in the header), the new value, the caller's now in
/// milliseconds as two 32-bit halves (high, low; so that the comparison is
/// exact for any `u64`), what to do with the TTL: milliseconds, `0` to keep
/// the key's TTL (the deadline did not move: the caller's copy of the
/// expected version has the new record's deadline and flag), `p` for none
/// (a protected session), or `d` to delete the key instead
/// (compare-and-delete; the value is then empty); then which set the
/// session goes in (`u` unprotected, `p` protected, empty: unchanged), its
/// member and its deadline; then its owner (user hash and tag in hex; `n`
/// for none, empty to keep the stored one), the key prefix, the per-user
/// cap, and the caller's now in milliseconds (the session's last use).
/// A save that keeps both the owner and the key's TTL (most saves: the
/// refresh is throttled) leaves the owner index alone: the owners hash and
/// the user set's TTL are right already, and the session's score in its
/// user's set (what the per-user cap orders by) moves at its next refresh.
///
/// Returns 1 stored (or deleted), 2 conflict (another version), 0 missing (no key, or
/// its deadline is at or before the caller's now), 3 missing because the
/// value is not in this layout (it was deleted).
///
/// The header is read with `string.byte` and compared with `==` only:
/// Redis sets the locale's collation, and ordered string comparisons
/// would depend on it. A value whose record bytes (or tag) were damaged
/// behind an intact header with the expected version is replaced: the
/// caller's copy is that version's, so the save repairs it (a `load` would
/// have reported it absent and deleted it).
const SAVE: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
local cur = redis.pcall('GET', KEYS[1])
if not cur then return 0 end
if type(cur) ~= 'string' or #cur < 17 or string.byte(cur, 1) ~= 66 then
  drop(ARGV[10], ARGV[7])
  return 3
end
local a, b, c, d, e, f, g, h = string.byte(cur, 10, 17)
local hi = ((a * 256 + b) * 256 + c) * 256 + d
local lo = ((e * 256 + f) * 256 + g) * 256 + h
local nhi, nlo = tonumber(ARGV[3]), tonumber(ARGV[4])
if hi < nhi or (hi == nhi and lo <= nlo) then return 0 end
if string.sub(cur, 2, 9) ~= ARGV[1] then return 2 end
if ARGV[5] == 'd' then
  drop(ARGV[10], ARGV[7])
  return 1
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
elseif ARGV[5] == 'p' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
end
if ARGV[6] == 'u' then
  redis.call('ZREM', KEYS[3], ARGV[7])
  redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
elseif ARGV[6] == 'p' then
  redis.call('ZREM', KEYS[2], ARGV[7])
  redis.call('ZADD', KEYS[3], ARGV[8], ARGV[7])
end
local had = redis.call('HGET', OWN, ARGV[7]) or ''
local want = ARGV[9]
if want == '' then want = had elseif want == 'n' then want = '' end
if had ~= '' and had ~= want then unown(ARGV[10], ARGV[7]) end
if want ~= '' and (want ~= had or ARGV[5] ~= '0') then
  own(ARGV[10], ARGV[7], want, ARGV[12])
  if want ~= had then cap(ARGV[10], want, ARGV[7], nhi, nlo, tonumber(ARGV[11])) end
end
return 1"
);

/// Deletes a value that is no session of this store, unless it changed
/// since it was read: a save that repaired it in between (see [`SAVE`])
/// must not be lost.
///
/// `KEYS`: as [`CREATE`]'s. `ARGV`: the value as read (empty for one that
/// was not a string), the session's member, and the key prefix. A value
/// that is still not a string is deleted too. Returns 1 deleted, 0 kept
/// (changed or gone).
const DISCARD: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' or cur == ARGV[1] then
  local n = redis.call('EXISTS', KEYS[1])
  drop(ARGV[3], ARGV[2])
  return n
end
return 0"
);

/// Deletes a session with its entries in the sets and the owner index.
/// Only commands Redis runs even when out of memory, so a logout works.
///
/// `KEYS`: as [`CREATE`]'s. `ARGV`: the session's member, the key prefix.
const DELETE: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
drop(ARGV[2], ARGV[1])
return 1"
);

/// Ends one of a user's sessions by its display tag, if the owners hash
/// says it is that user's and it is live (an expired one goes, and counts
/// for nothing).
///
/// `KEYS`: the user's set, the two sets, the owners hash. `ARGV`: the key
/// prefix, the user hash, the tag (hex), the caller's now as two 32-bit
/// halves. Returns 1 ended, 0 not found.
const REVOKE: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
for _, e in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(e, 33) == ARGV[3] then
    local m = string.sub(e, 1, 32)
    local alive = live(ARGV[1], m, tonumber(ARGV[4]), tonumber(ARGV[5]))
    local mine = redis.call('HGET', OWN, m) == ARGV[2] .. ARGV[3]
    redis.call('ZREM', KEYS[1], e)
    if mine then
      drop(ARGV[1], m)
      if alive then return 1 end
    end
    return 0
  end
end
return 0"
);

/// Ends every session of a user but one; returns how many live ones ended.
/// Its work is the user's set, not the store.
///
/// `KEYS`: as [`REVOKE`]'s. `ARGV`: the key prefix, the user hash, the
/// member to keep (empty: none), the caller's now as two 32-bit halves.
const REVOKE_ALL: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
local n = 0
for _, e in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local m = string.sub(e, 1, 32)
  if m ~= ARGV[3] then
    local o = redis.call('HGET', OWN, m)
    if o and string.sub(o, 1, 32) == ARGV[2] then
      if live(ARGV[1], m, tonumber(ARGV[4]), tonumber(ARGV[5])) then n = n + 1 end
      drop(ARGV[1], m)
    end
    redis.call('ZREM', KEYS[1], e)
  end
end
return n"
);

/// Takes entries whose session key is gone (Redis expired it) off a
/// user's set and the owners hash: what a listing found stale.
///
/// `KEYS`: as [`REVOKE`]'s. `ARGV`: the key prefix, then the entries.
const CLEAN: &str = concat!(
    "local OWN = KEYS[4]\n",
    owner_lua!(),
    r"
for i = 2, #ARGV do
  local m = string.sub(ARGV[i], 1, 32)
  if redis.call('EXISTS', ARGV[1] .. m) == 0 then
    unown(ARGV[1], m)
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return 0"
);

/// Deletes the sessions whose deadline is at or before the caller's now,
/// up to a batch from each set.
///
/// `KEYS`: the unprotected and the protected set, the owners hash.
/// `ARGV`: now (milliseconds), the key prefix, the batch. Returns how many
/// went.
const PURGE: &str = concat!(
    "local OWN = KEYS[3]\n",
    owner_lua!(),
    r"
local n = 0
for _, set in ipairs({KEYS[1], KEYS[2]}) do
  local gone = redis.call('ZRANGEBYSCORE', set, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
  for _, m in ipairs(gone) do
    redis.call('DEL', ARGV[2] .. m)
    unown(ARGV[2], m)
  end
  if #gone > 0 then redis.call('ZREM', set, unpack(gone)) end
  n = n + #gone
end
return n"
);

/// How many expired sessions one [`PURGE`] call deletes from each set, so
/// that a large purge never blocks Redis for long.
const PURGE_BATCH: usize = 500;

/// The value stored for a session: [`TAG`], `version` and the record's
/// deadline, then the record, then the tag that binds all of it to the
/// store key `hash` ([`StoreKey::seal`]).
fn encode_value(
    keys: &StoreKey,
    hash: &[u8; 16],
    version: u64,
    record: &SessionRecord<Vec<u8>>,
    meta: &SessionMeta,
) -> Result<Vec<u8>, StoreError> {
    let backend = |e: EncodeError| StoreError::Backend(Box::new(e));
    let guess = HEADER_LEN
        .saturating_add(RECORD_OVERHEAD)
        .saturating_add(MAX_META_LEN)
        .saturating_add(record.data.len());
    let mut value = vec![0u8; guess];
    let (header, body) = value.split_at_mut(HEADER_LEN.min(guess));
    write_header(header, version, record);
    match record.encode_with_meta(meta, body) {
        Ok(bytes) => {
            let used = bytes.len();
            value.truncate(HEADER_LEN.saturating_add(used));
        }
        Err(EncodeError::BufferTooSmall) => {
            let body = record.to_vec_with_meta(meta).map_err(backend)?;
            value.truncate(HEADER_LEN);
            value.extend_from_slice(&body);
        }
        Err(e) => return Err(backend(e)),
    }
    value.reserve_exact(super::TAG_LEN);
    keys.seal(hash, &mut value);
    Ok(value)
}

fn write_header(header: &mut [u8], version: u64, record: &SessionRecord<Vec<u8>>) {
    let deadline = record.deadlines.expires_at().as_millis();
    let fields = std::iter::once(TAG)
        .chain(version.to_be_bytes())
        .chain(deadline.to_be_bytes());
    header.iter_mut().zip(fields).for_each(|(h, f)| *h = f);
}

/// Why a stored value is not a session of this store (never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// Written by a sesh that did not tag records.
    Untagged,
    /// The tag does not bind it to this key: moved from another key,
    /// edited, or written without the secret.
    Unbound,
    /// Not in this layout at all, or a record this build does not read.
    Undecodable,
}

impl Bad {
    fn log(self, key: &str, deleted: bool) {
        let what = match self {
            Bad::Untagged => "session record of an older sesh (untagged)",
            Bad::Unbound => "session record not bound to its key (moved or edited)",
            Bad::Undecodable => "undecodable session record",
        };
        if deleted {
            tracing::warn!(key, "{what} deleted");
        } else {
            tracing::warn!(key, "{what} seen; rewritten since, kept");
        }
    }
}

/// Reads a stored value: a session only if it is in this layout, its tag
/// binds it to `hash`, the record decodes and the header's deadline is the
/// record's own (the one the save script checks).
fn decode_value(keys: &StoreKey, hash: &[u8; 16], bytes: &[u8]) -> Result<StoredSession, Bad> {
    match bytes.first() {
        Some(&TAG) => {}
        Some(&UNTAGGED) => return Err(Bad::Untagged),
        _ => return Err(Bad::Undecodable),
    }
    let bytes = keys.open(hash, bytes).ok_or(Bad::Unbound)?;
    let rest = bytes.get(1..).ok_or(Bad::Undecodable)?;
    let (version, rest) = rest.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (deadline, body) = rest.split_first_chunk::<8>().ok_or(Bad::Undecodable)?;
    let (record, meta) =
        SessionRecord::<Vec<u8>>::decode_with_meta(body).map_err(|_| Bad::Undecodable)?;
    if u64::from_be_bytes(*deadline) != record.deadlines.expires_at().as_millis() {
        return Err(Bad::Undecodable);
    }
    Ok(StoredSession {
        record,
        version: u64::from_be_bytes(*version),
        meta: meta.unwrap_or_default(),
    })
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
/// copy's version, deadline and flag.
#[derive(Clone, Copy)]
struct CachedKey {
    hash: [u8; 16],
    version: u64,
    expires_at: Instant,
    protected: bool,
}

/// The last-seen copies behind [`SessionStore::load_for_update`], by the
/// id's characters.
type RecordCache = WriteCache<CacheKey, Cached>;

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
///
/// **TLS.** With feature `redis-tls`, a `rediss://host:port/db` URL
/// connects over TLS (rustls), checking the server's certificate and
/// name against the system's trusted roots, read by rustls-native-certs
/// from the operating system's store (on Debian, the `ca-certificates`
/// bundle) at each connection. That store rather than a copy of Mozilla's
/// roots compiled into the binary (webpki-roots): a CA the administrator
/// adds or removes there, a company CA included, is followed without
/// rebuilding the application. For a private CA, as self-hosted Redis and
/// some managed services use, give it with
/// [`with_ca_file`](Self::with_ca_file). Certificate checks cannot be
/// turned off. Without the feature, a `rediss://` URL is refused when the
/// store is made.
///
/// Making a store for a `rediss://` URL installs rustls's ring provider
/// as the process's default, unless one is installed already: install
/// your own (aws-lc-rs, say) before making the store to use it instead.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    #[cfg(feature = "redis-tls")]
    ca: Option<tls::CaSource>,
    prefix: String,
    connections: usize,
    timeout: Duration,
    write_cache: usize,
    max_sessions: usize,
    max_per_user: usize,
    allow_unsafe_eviction: bool,
}

impl RedisConfig {
    /// Redis at `url` (`redis://host:port/db`), key prefix `sesh:`, one
    /// multiplexed connection, 1 s timeouts, a write cache of 10,000
    /// sessions, at most [`DEFAULT_MAX_SESSIONS`] sessions, and a Redis
    /// whose eviction policy cannot drop a logged-in session (see
    /// [`RedisStore`]).
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            #[cfg(feature = "redis-tls")]
            ca: None,
            prefix: "sesh:".into(),
            connections: 1,
            timeout: Duration::from_secs(1),
            write_cache: 10_000,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            allow_unsafe_eviction: false,
        }
    }

    /// Sets the most live sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one
    /// more ends their least recently used other session, in the same
    /// script. "Used" counts from the session's last refresh (a write that
    /// moved its deadline), so that a plain update costs the owner index
    /// nothing.
    ///
    /// ```
    /// let config = sesh_tokio::store::RedisConfig::new("redis://127.0.0.1:6379/0")
    ///     .with_max_sessions_per_user(8);
    /// ```
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// Sets the most sessions the store holds, across every server that
    /// shares the prefix (default [`DEFAULT_MAX_SESSIONS`]). A new session
    /// beyond it evicts the least recently used unprotected one, or is
    /// refused with [`StoreError::Full`] (503) when only protected sessions
    /// are left. Size Redis's `maxmemory` for it: a session takes about
    /// 150 bytes plus its data.
    ///
    /// ```
    /// let config = sesh_tokio::store::RedisConfig::new("redis://127.0.0.1:6379/0")
    ///     .with_max_sessions(1_000_000);
    /// ```
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// ⚠️ Lets the store run on a Redis whose `maxmemory-policy` is an
    /// `allkeys-*` policy, or whose policy it cannot read (`INFO` denied),
    /// with a warning in the log instead of a refusal. Redis may then evict
    /// any key when memory runs out: a logged-in user's session (they are
    /// signed out), and the sets sesh counts and bounds sessions with (the
    /// bound and the counts then drift until those sessions expire). Only
    /// for a Redis whose memory can never fill.
    ///
    /// ```
    /// let config = sesh_tokio::store::RedisConfig::new("redis://127.0.0.1:6379/0")
    ///     .allow_unsafe_eviction_policy();
    /// ```
    pub fn allow_unsafe_eviction_policy(mut self) -> Self {
        self.allow_unsafe_eviction = true;
        self
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

    /// Trusts the certificate authorities in the PEM file at `path`, and
    /// only them, for a `rediss://` URL: the server's certificate must be
    /// signed by one of them and name the URL's host. The file is read
    /// when the store is made ([`RedisStore::new`]), which fails with a
    /// [`StoreError::Backend`] naming the file if it cannot be read or
    /// holds no usable certificate; so does a CA given with a `redis://`
    /// URL.
    ///
    /// ```
    /// # let dir = std::env::temp_dir();
    /// use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
    /// let config = RedisConfig::new("rediss://redis.internal:6380/0")
    ///     .with_ca_file("/etc/redis/ca.pem");
    /// # let config = config.with_ca_file(dir.join("sesh-no-such-ca.pem"));
    /// // No such file here: the store is not made, and says why.
    /// let err = RedisStore::new(config, StoreKey::new(&[5; 32])?).unwrap_err();
    /// assert!(err.to_string().contains("cannot be read"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn with_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca = Some(tls::CaSource::File(path.into()));
        self
    }

    /// As [`with_ca_file`](Self::with_ca_file), with the PEM text itself
    /// (one or more `-----BEGIN CERTIFICATE-----` blocks), e.g. from a
    /// secret store.
    ///
    /// ```
    /// use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
    /// let config = RedisConfig::new("rediss://redis.internal:6380/0")
    ///     .with_ca_pem("not a certificate");
    /// let err = RedisStore::new(config, StoreKey::new(&[5; 32])?).unwrap_err();
    /// assert!(err.to_string().contains("holds no certificate"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(tls::CaSource::Pem(pem.into()));
        self
    }

    /// The client for the URL, with TLS settings for `rediss://`.
    fn client(&self) -> Result<redis::Client, StoreError> {
        let backend = |e: redis::RedisError| StoreError::Backend(Box::new(e));
        let tls = self
            .url
            .get(.."rediss://".len())
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"));
        #[cfg(feature = "redis-tls")]
        {
            if tls {
                tls::install_crypto_provider();
            }
            if let Some(ca) = &self.ca {
                if !tls {
                    return Err(StoreError::Backend(
                        "a Redis CA (RedisConfig::with_ca_file) is for rediss:// URLs; this \
                         URL is not one, so its connections would not use TLS"
                            .into(),
                    ));
                }
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.load()?),
                };
                return redis::Client::build_with_tls(self.url.as_str(), certificates)
                    .map_err(backend);
            }
        }
        #[cfg(not(feature = "redis-tls"))]
        if tls {
            return Err(StoreError::Backend(
                "a rediss:// URL needs sesh-tokio's `redis-tls` feature (TLS)".into(),
            ));
        }
        redis::Client::open(self.url.as_str()).map_err(backend)
    }
}

// --------------------------------------------------------------- store --

/// What the save script does with the key's TTL.
#[derive(Clone, Copy)]
enum TtlArg {
    /// Sets it to this many milliseconds (an unprotected session).
    Millis(u64),
    /// Keeps it (nothing it depends on changed).
    Keep,
    /// Removes it (a protected session: see [`RedisStore`]).
    Persist,
    /// Deletes the key instead of storing (compare-and-delete).
    Delete,
}

/// Which set the save script puts the session in.
#[derive(Clone, Copy)]
enum IndexArg {
    Unchanged,
    Unprotected,
    Protected,
}

/// What the save script does once the version matches.
enum Then<'a> {
    /// Stores `value` with this TTL, in this set, scored by `deadline`.
    Set {
        value: &'a [u8],
        ttl: TtlArg,
        index: IndexArg,
        deadline: u64,
    },
    /// Deletes the key.
    Delete,
}

/// The Redis store refused to run: the server's `maxmemory-policy` lets
/// Redis evict logged-in sessions ([`RedisStore`] says which policies do),
/// or the store could not read it. Every call of that store fails with it
/// (as [`StoreError::Backend`]) until the server's policy is changed and
/// the store made again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionPolicyRefused {
    /// The policy the server reported; `None` when it could not be read.
    pub policy: Option<String>,
    /// Why it could not be read, if it could not.
    pub unreadable: Option<String>,
}

impl std::fmt::Display for EvictionPolicyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.policy, &self.unreadable) {
            (Some(policy), _) => write!(
                f,
                "Redis maxmemory-policy is {policy}: Redis may evict any key when memory runs out, \
                 a logged-in user's session included, so sesh refuses this Redis. Set \
                 maxmemory-policy to noeviction or a volatile-* policy (sesh stores logged-in \
                 sessions without a TTL, so those never evict them), or accept the risk with \
                 RedisConfig::allow_unsafe_eviction_policy"
            ),
            (None, reason) => write!(
                f,
                "cannot read Redis's maxmemory-policy ({}), so sesh cannot tell whether Redis may \
                 evict logged-in sessions: refused. Allow INFO for this user, or accept the risk \
                 with RedisConfig::allow_unsafe_eviction_policy",
                reason.as_deref().unwrap_or("no answer")
            ),
        }
    }
}

impl std::error::Error for EvictionPolicyRefused {}

/// The eviction-policy check: made before the store's first command, once.
#[derive(Debug)]
struct PolicyCheck {
    allow_unsafe: bool,
    /// `Some(None)`: checked, fine. `Some(Some(refusal))`: refused for good.
    outcome: tokio::sync::OnceCell<Option<EvictionPolicyRefused>>,
}

/// What `INFO memory` says about eviction: `(maxmemory, maxmemory_policy)`.
fn eviction_settings(info: &str) -> (Option<u64>, Option<&str>) {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
    };
    (
        field("maxmemory").and_then(|m| m.trim().parse().ok()),
        field("maxmemory_policy").map(str::trim),
    )
}

/// Whether Redis may evict a key without a TTL under `policy`.
fn evicts_any_key(policy: &str) -> bool {
    policy.starts_with("allkeys-")
}

/// Sessions in Redis (a single server, or a primary with replicas; not
/// Redis Cluster: the scripts touch session keys they are handed by name).
///
/// - Each session is one string value under `prefix + hex(keyed hash of the
///   id)`, so `KEYS *` shows no usable id. The value is a 17-byte header
///   (the byte `B`, the version and the deadline in milliseconds, both
///   big-endian `u64`), the core's postcard record
///   ([`SessionRecord::encode`]), and a 16-byte tag that binds the value to
///   its key ([`StoreKey::seal`]): a value copied to another session's key
///   or edited, by anyone who can write to Redis but does not hold the
///   secret, loads as absent and is deleted and logged. Values of an older
///   sesh (untagged, first byte `S`) are refused the same way: their users
///   sign in again.
/// - Two sorted sets, `prefix + "unprotected"` and `prefix + "protected"`,
///   list the sessions' keys scored by their deadline. The scripts below
///   keep them in step with the values, so that
///   [`occupancy`](SessionStore::occupancy) is two `ZCARD`s and a full store
///   finds its least recently used anonymous session in O(log n).
/// - An unprotected session's TTL is its deadline, so Redis drops it
///   itself. A protected (logged-in) session has **no TTL**, so that no
///   `volatile-*` eviction policy can ever pick it; it is deleted after its
///   deadline by the next creates (each removes a few expired sessions) or
///   by [`purge_expired`](SessionStore::purge_expired) (run a
///   [`Sweeper`](crate::Sweeper)). The caller's `now` decides liveness, as
///   in every store: a session past its deadline is absent whether or not
///   it is still in Redis.
/// - **Bounded** ([`RedisConfig::with_max_sessions`]): a create that finds
///   the store full drops expired sessions, then evicts unprotected ones,
///   least recently used first (deadline order: a session in use has its
///   deadline moved on at each refresh); never a protected one. When only
///   protected sessions are left it is refused ([`StoreError::Full`], 503).
/// - Load is a `GET`. Create, save and compare-and-delete are small Lua
///   scripts called with `EVALSHA` (a create: check the key is free, make
///   room if full, `SET` with or without `PX`, `ZADD`; a save: compare the
///   version, `SET … KEEPTTL` or with the new TTL, and move the key between
///   the sets when its deadline or flag changed). Delete is a script of
///   `DEL`, `ZREM` and `HDEL` only, which Redis runs even when out of memory.
/// - **Owners**: a hash `prefix + "owners"` maps an owned session's member
///   to its user's keyed hash ([`StoreKey::hash_user`]) and display tag, and
///   `prefix + "user:" + hex(user hash)` is that user's sorted set of
///   members and tags, scored by last use. The script that writes or
///   deletes a session changes both; the set's TTL is kept at least the
///   longest of its sessions' (none while one is logged in), and entries of
///   sessions Redis expired leave it when the user's sessions are listed,
///   revoked, capped, or purged. Under a `volatile-*` policy Redis may
///   evict the set of a user whose sessions are all anonymous (it has a
///   TTL): their listing then misses them, so mark sessions as a user's
///   when they log in (protected).
/// - Updates start from the store's last-seen copy (see
///   [`RedisConfig::with_write_cache`]): with one server an update is one
///   round trip.
/// - Connections reconnect on their own after Redis restarts; while it is
///   down every call fails after the timeout with [`StoreError::Unavailable`].
///
/// **Redis's own eviction.** Before its first command the store reads the
/// server's `maxmemory-policy` (`INFO memory`):
///
/// | policy | what holds |
/// |---|---|
/// | `noeviction` (Redis's default) | Redis evicts nothing. At `maxmemory`, creates and saves fail (500) until memory frees; loads, logouts and logged-in sessions are unaffected. |
/// | `volatile-lru`, `volatile-lfu`, `volatile-random`, `volatile-ttl` | Redis evicts only keys with a TTL: anonymous sessions (and other apps' volatile keys), never a logged-in session or the two sets. When memory is full of keys without a TTL, as `noeviction`. |
/// | `allkeys-lru`, `allkeys-lfu`, `allkeys-random` | Redis may evict any key, a logged-in session or the sets included: **refused** with [`EvictionPolicyRefused`] (every call fails; [`connect`](Self::connect) fails at once). ⚠️ [`RedisConfig::allow_unsafe_eviction_policy`] turns the refusal into a warning. |
///
/// A policy that cannot be read (`INFO` denied by an ACL) is refused the
/// same way. The check runs once, at the first command; a policy changed
/// later (`CONFIG SET`) is not seen, so set it in the server's
/// configuration. Keep `maxmemory` above what the bound needs (about 150
/// bytes plus the data per session) so that sesh's own bound, not Redis,
/// decides which anonymous sessions go.
#[derive(Clone)]
pub struct RedisStore {
    pool: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    prefix: Arc<str>,
    unprotected_set: Arc<str>,
    protected_set: Arc<str>,
    key: StoreKey,
    create: Arc<Script>,
    save: Arc<Script>,
    discard: Arc<Script>,
    purge: Arc<Script>,
    delete: Arc<Script>,
    revoke: Arc<Script>,
    revoke_all: Arc<Script>,
    clean: Arc<Script>,
    owners: Arc<str>,
    cache: Option<Arc<RecordCache>>,
    max_sessions: usize,
    max_per_user: usize,
    policy: Arc<PolicyCheck>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// A connection fault is [`StoreError::Unavailable`] (503, it passes),
/// except a server certificate that is not trusted (a wrong or missing CA):
/// that is [`StoreError::Backend`], so [`RedisStore::connect`] fails at
/// start instead of waiting for a Redis that is already there.
fn unavailable(e: redis::RedisError) -> StoreError {
    #[cfg(feature = "redis-tls")]
    if tls::certificate_refused(&e) {
        return StoreError::Backend(Box::new(e));
    }
    if unavailable_error(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Backend(Box::new(e))
    }
}

/// The [`SAVE`] script's answer to a delete. An answer it never gives is a
/// backend fault, not "missing": regenerate would take that for a logout.
fn removed_of(answer: i64) -> Result<Removed, StoreError> {
    match answer {
        0 => Ok(Removed::Missing),
        1 => Ok(Removed::Deleted),
        2 => Ok(Removed::Conflict),
        3 => {
            tracing::warn!("undecodable session record deleted");
            Ok(Removed::Missing)
        }
        other => Err(unexpected("save", other)),
    }
}

/// A script's answer that is none of those it returns.
fn unexpected(script: &str, answer: i64) -> StoreError {
    StoreError::Backend(format!("the {script} script answered {answer}").into())
}

impl RedisStore {
    /// Connects lazily: the server may be down at start-up; calls fail with
    /// [`StoreError::Unavailable`] until it is up. The eviction-policy
    /// check runs before the first command (see [`RedisStore`]);
    /// [`connect`](Self::connect) runs it at once.
    pub fn new(config: RedisConfig, key: StoreKey) -> Result<Self, StoreError> {
        let client = config.client()?;
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
        let set = |name: &str| -> Arc<str> { format!("{}{name}", config.prefix).into() };
        Ok(RedisStore {
            pool: pool.into(),
            next: Arc::new(AtomicUsize::new(0)),
            unprotected_set: set("unprotected"),
            protected_set: set("protected"),
            owners: set("owners"),
            prefix: config.prefix.into(),
            key,
            create: Arc::new(Script::new(CREATE)),
            save: Arc::new(Script::new(SAVE)),
            discard: Arc::new(Script::new(DISCARD)),
            purge: Arc::new(Script::new(PURGE)),
            delete: Arc::new(Script::new(DELETE)),
            revoke: Arc::new(Script::new(REVOKE)),
            revoke_all: Arc::new(Script::new(REVOKE_ALL)),
            clean: Arc::new(Script::new(CLEAN)),
            cache: (config.write_cache > 0).then(|| Arc::new(RecordCache::new(config.write_cache))),
            max_sessions: config.max_sessions,
            max_per_user: config.max_per_user,
            policy: Arc::new(PolicyCheck {
                allow_unsafe: config.allow_unsafe_eviction,
                outcome: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Connects now and checks the server's eviction policy: fails with
    /// [`StoreError::Unavailable`] if Redis cannot be reached, with
    /// [`EvictionPolicyRefused`] (as [`StoreError::Backend`]) if its policy
    /// may evict logged-in sessions, and with [`StoreError::Backend`] if
    /// the certificate of a `rediss://` server is not trusted.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};
    /// let config = RedisConfig::new("redis://127.0.0.1:6379/0").with_max_sessions(500_000);
    /// let store = RedisStore::connect(config, StoreKey::new(&[5; 32])?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: RedisConfig, key: StoreKey) -> Result<Self, StoreError> {
        let store = RedisStore::new(config, key)?;
        store.checked().await?;
        Ok(store)
    }

    /// The bound ([`RedisConfig::with_max_sessions`]).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    /// Fails unless the eviction-policy check passed (running it the
    /// first time). A refusal is for good; a Redis that cannot be reached
    /// is checked again at the next call.
    async fn checked(&self) -> Result<(), StoreError> {
        let outcome = match self.policy.outcome.get() {
            Some(outcome) => outcome,
            None => {
                self.policy
                    .outcome
                    .get_or_try_init(|| self.check_policy())
                    .await?
            }
        };
        match outcome {
            None => Ok(()),
            Some(refused) => Err(StoreError::Backend(Box::new(refused.clone()))),
        }
    }

    async fn check_policy(&self) -> Result<Option<EvictionPolicyRefused>, StoreError> {
        let mut con = self.connection()?;
        let info: Result<String, _> = redis::cmd("INFO").arg("memory").query_async(&mut con).await;
        let refusal = match info {
            Ok(info) => match eviction_settings(&info) {
                (maxmemory, Some(policy)) if evicts_any_key(policy) => {
                    tracing::debug!(?maxmemory, policy, "Redis eviction settings");
                    Some(EvictionPolicyRefused {
                        policy: Some(policy.to_owned()),
                        unreadable: None,
                    })
                }
                (maxmemory, Some(policy)) => {
                    tracing::info!(
                        ?maxmemory,
                        policy,
                        "Redis cannot evict logged-in sessions under this policy"
                    );
                    None
                }
                (_, None) => Some(EvictionPolicyRefused {
                    policy: None,
                    unreadable: Some("INFO memory has no maxmemory_policy".into()),
                }),
            },
            Err(e) if unavailable_error(&e) => return Err(unavailable(e)),
            Err(e) => Some(EvictionPolicyRefused {
                policy: None,
                unreadable: Some(e.to_string()),
            }),
        };
        match refusal {
            Some(refusal) if self.policy.allow_unsafe => {
                tracing::warn!(
                    "⚠️ {refusal} (allowed by RedisConfig::allow_unsafe_eviction_policy: running anyway)"
                );
                Ok(None)
            }
            Some(refusal) => {
                tracing::error!("{refusal}");
                Ok(Some(refusal))
            }
            None => Ok(None),
        }
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
        self.cached_key(id)
            .map_or_else(|| self.key.hash(id), |k| k.hash)
    }

    /// The cached copy of `id`'s session, kept as in use.
    fn cached(&self, id: &SessionId) -> Option<Cached> {
        self.cache.as_ref()?.get(&cache_key(id))
    }

    /// What a save needs from the cached copy of `id`'s session (a look,
    /// not a use).
    fn cached_key(&self, id: &SessionId) -> Option<CachedKey> {
        self.cache.as_ref()?.peek(&cache_key(id), |hit| CachedKey {
            hash: hit.hash,
            version: hit.stored.version,
            expires_at: hit.stored.record.deadlines.expires_at(),
            protected: hit.stored.record.protected,
        })
    }

    /// The session's member in the sets: its key without the prefix.
    fn member(hash: &[u8; 16]) -> String {
        let mut member = String::with_capacity(32);
        for &b in hash {
            member.push(hex_digit(b >> 4));
            member.push(hex_digit(b));
        }
        member
    }

    fn redis_key(&self, hash: &[u8; 16]) -> String {
        let mut key = String::with_capacity(self.prefix.len().saturating_add(32));
        key.push_str(&self.prefix);
        key.push_str(&Self::member(hash));
        key
    }

    fn remember(&self, id: &SessionId, hash: [u8; 16], stored: StoredSession) {
        if let Some(cache) = &self.cache {
            cache.put(&cache_key(id), Cached { hash, stored });
        }
    }

    fn forget(&self, id: &SessionId) {
        if let Some(cache) = &self.cache {
            cache.remove(&cache_key(id));
        }
    }

    /// `EVALSHA` of `script` on the session's key (or a user's set), the
    /// two sets and the owners hash; the caller adds the arguments.
    fn script_cmd(&self, script: &Script, key: &str, capacity: usize) -> redis::Cmd {
        let mut cmd = redis::Cmd::with_capacity(20, capacity.saturating_add(300));
        cmd.arg("EVALSHA")
            .arg(script.get_hash())
            .arg(4)
            .arg(key)
            .arg(&*self.unprotected_set)
            .arg(&*self.protected_set)
            .arg(&*self.owners);
        cmd
    }

    /// The user's hash in hex: the index key's tail, and the first half of
    /// an owner argument.
    fn user_hex(&self, user: &UserId) -> String {
        Self::member(&self.key.hash_user(user))
    }

    /// A user's set of sessions.
    fn user_set(&self, user_hex: &str) -> String {
        format!("{}user:{user_hex}", self.prefix)
    }

    /// The scripts' owner argument: user hash and display tag, in hex.
    fn owner_arg(&self, user: &UserId, id: &SessionId) -> String {
        let mut arg = self.user_hex(user);
        arg.push_str(&DisplayTag::of(id).to_string());
        arg
    }

    /// Runs a script command; loads the script first if Redis does not
    /// have it (a new or restarted server).
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        cmd: &redis::Cmd,
    ) -> Result<T, redis::RedisError> {
        let mut con = self
            .connection()
            .map_err(|_| redis::RedisError::from((ErrorKind::Client, "empty Redis pool")))?;
        match cmd.query_async(&mut con).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                script.load_async(&mut con).await?;
                cmd.query_async(&mut con).await
            }
            answer => answer,
        }
    }

    async fn load_hashed(
        &self,
        id: &SessionId,
        hash: [u8; 16],
        now: Instant,
    ) -> Result<Option<StoredSession>, StoreError> {
        if let Err(e) = self.checked().await {
            self.forget(id);
            return Err(e);
        }
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
        match decode_value(&self.key, &hash, &value) {
            Ok(stored) if !stored.record.deadlines.is_expired(now) => {
                self.remember(id, hash, stored.clone());
                Ok(Some(stored))
            }
            Ok(_) => {
                self.forget(id);
                Ok(None)
            }
            Err(bad) => {
                self.forget(id);
                let mut cmd = self.script_cmd(&self.discard, &key, value.len());
                cmd.arg(&value).arg(Self::member(&hash)).arg(&*self.prefix);
                let deleted: i64 = self.run(&self.discard, &cmd).await.map_err(unavailable)?;
                bad.log(&key, deleted == 1);
                Ok(None)
            }
        }
    }

    /// Runs the save script on `key`; `owner` is its owner argument.
    async fn run_save(
        &self,
        hash: &[u8; 16],
        expected_version: u64,
        now: Instant,
        then: Then<'_>,
        owner: &str,
    ) -> Result<i64, StoreError> {
        self.checked().await?;
        let key = self.redis_key(hash);
        let now = now.as_millis();
        let (value, ttl, index, deadline) = match then {
            Then::Set {
                value,
                ttl,
                index,
                deadline,
            } => (value, ttl, index, deadline),
            Then::Delete => (&[][..], TtlArg::Delete, IndexArg::Unchanged, 0),
        };
        let mut cmd = self.script_cmd(&self.save, &key, value.len());
        cmd.arg(&expected_version.to_be_bytes()[..])
            .arg(value)
            .arg(now >> 32)
            .arg(now & 0xffff_ffff);
        match ttl {
            TtlArg::Millis(ttl) => cmd.arg(ttl),
            TtlArg::Keep => cmd.arg("0"),
            TtlArg::Persist => cmd.arg("p"),
            TtlArg::Delete => cmd.arg("d"),
        };
        cmd.arg(match index {
            IndexArg::Unchanged => "",
            IndexArg::Unprotected => "u",
            IndexArg::Protected => "p",
        })
        .arg(Self::member(hash))
        .arg(deadline)
        .arg(owner)
        .arg(&*self.prefix)
        .arg(self.max_per_user)
        .arg(now);
        self.run(&self.save, &cmd).await.map_err(unavailable)
    }
}

/// Whether `e` means Redis could not be reached (as [`unavailable`] sorts).
fn unavailable_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

impl SessionStore for RedisStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move { self.load_hashed(id, self.hash(id), now).await })
    }

    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move {
            let hit = self.cached(id);
            match hit {
                // A copy that may be stale, never one that is expired: the
                // save's compare-and-swap catches the first.
                Some(hit) if !hit.stored.record.deadlines.is_expired(now) => Ok(Some(hit.stored)),
                Some(hit) => self.load_hashed(id, hit.hash, now).await,
                None => self.load_hashed(id, self.key.hash(id), now).await,
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

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        self.save_with_meta(id, record, None, expected_version, now)
    }

    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        Box::pin(async move {
            const VERSION: u64 = 1;
            self.checked().await?;
            let hash = self.key.hash(id);
            let meta = SessionMeta {
                last_seen: now,
                ..meta.clone()
            };
            let value = encode_value(&self.key, &hash, VERSION, record, &meta)?;
            let owner = meta
                .owner
                .as_ref()
                .map_or_else(String::new, |user| self.owner_arg(user, id));
            let millis = now.as_millis();
            let key = self.redis_key(&hash);
            let ttl = if record.protected {
                0
            } else {
                ttl_millis(record, now)
            };
            let mut cmd = self.script_cmd(&self.create, &key, value.len());
            cmd.arg(&value)
                .arg(ttl)
                .arg(Self::member(&hash))
                .arg(record.deadlines.expires_at().as_millis())
                .arg(millis)
                .arg(self.max_sessions)
                .arg(&*self.prefix)
                .arg(&owner)
                .arg(millis >> 32)
                .arg(millis & 0xffff_ffff)
                .arg(self.max_per_user);
            let answer: i64 = self.run(&self.create, &cmd).await.map_err(|e| {
                self.forget(id);
                unavailable(e)
            })?;
            match answer {
                1 => {
                    let stored = StoredSession {
                        record: record.clone(),
                        version: VERSION,
                        meta,
                    };
                    self.remember(id, hash, stored);
                    Ok(Created::Stored(VERSION))
                }
                0 => {
                    self.forget(id);
                    Ok(Created::IdTaken)
                }
                2 => {
                    self.forget(id);
                    Err(StoreError::Full)
                }
                other => {
                    self.forget(id);
                    Err(unexpected("create", other))
                }
            }
        })
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
            let version = expected_version.wrapping_add(1);
            let cached = self.cached_key(id);
            let hash = cached.map_or_else(|| self.key.hash(id), |c| c.hash);
            // The value is sealed here, so it needs the expected version's
            // metadata: the cached copy's, else one read (the script's
            // compare-and-swap still decides).
            let hit = self
                .cached(id)
                .filter(|hit| hit.stored.version == expected_version);
            let old = match hit {
                Some(hit) => hit.stored.meta,
                None => match self.load_hashed(id, hash, now).await? {
                    None => return Ok(Saved::Missing),
                    Some(stored) if stored.version != expected_version => {
                        self.forget(id);
                        return Ok(Saved::Conflict);
                    }
                    Some(stored) => stored.meta,
                },
            };
            let (meta, owner) = match meta {
                Some(meta) => {
                    let owner = meta
                        .owner
                        .as_ref()
                        .map_or_else(|| "n".to_owned(), |user| self.owner_arg(user, id));
                    let meta = SessionMeta {
                        created: old.created,
                        last_seen: now,
                        ..meta.clone()
                    };
                    (meta, owner)
                }
                None => {
                    let meta = SessionMeta {
                        last_seen: now,
                        ..old
                    };
                    (meta, String::new())
                }
            };
            let value = encode_value(&self.key, &hash, version, record, &meta)?;
            // The stored value, if it is the expected version, is the cached
            // copy: when neither the deadline nor the flag moved, the key's TTL
            // and its place in the sets are still right (most saves: the
            // refresh is throttled).
            let deadline = record.deadlines.expires_at();
            let unchanged = cached.is_some_and(|c| {
                c.version == expected_version
                    && c.expires_at == deadline
                    && c.protected == record.protected
            });
            let (ttl, index) = match (unchanged, record.protected) {
                (true, _) => (TtlArg::Keep, IndexArg::Unchanged),
                (false, true) => (TtlArg::Persist, IndexArg::Protected),
                (false, false) => (
                    TtlArg::Millis(ttl_millis(record, now)),
                    IndexArg::Unprotected,
                ),
            };
            let then = Then::Set {
                value: &value,
                ttl,
                index,
                deadline: deadline.as_millis(),
            };
            let outcome = self
                .run_save(&hash, expected_version, now, then, &owner)
                .await;
            match outcome {
                Ok(1) => {
                    let stored = StoredSession {
                        record: record.clone(),
                        version,
                        meta,
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
                Ok(0) => {
                    self.forget(id);
                    Ok(Saved::Missing)
                }
                // Not one of the script's answers: a backend fault, never taken
                // for "missing" (the caller would start a second session).
                Ok(other) => {
                    self.forget(id);
                    Err(unexpected("save", other))
                }
                Err(e) => {
                    self.forget(id);
                    Err(e)
                }
            }
        })
    }

    /// One script (`DELETE`): the value, its places in the sets and in
    /// the owner index go together, with only commands Redis runs even
    /// when it is out of memory, so that a logout always works.
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let hash = self.hash(id);
            self.forget(id);
            self.checked().await?;
            let mut cmd = self.script_cmd(&self.delete, &self.redis_key(&hash), 0);
            cmd.arg(Self::member(&hash)).arg(&*self.prefix);
            let _: i64 = self.run(&self.delete, &cmd).await.map_err(unavailable)?;
            Ok(())
        })
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        Box::pin(async move {
            let hash = self.hash(id);
            self.forget(id);
            let outcome = self
                .run_save(&hash, expected_version, now, Then::Delete, "")
                .await?;
            removed_of(outcome)
        })
    }

    /// Deletes the sessions past their deadline at `now`, by the sets, in
    /// batches; returns how many. Redis already dropped the unprotected
    /// ones at their TTL (this takes them off the sets); protected ones,
    /// which have no TTL, go here or at the next creates.
    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            self.checked().await?;
            let mut purged = 0usize;
            loop {
                let mut cmd = redis::Cmd::with_capacity(8, 128);
                cmd.arg("EVALSHA")
                    .arg(self.purge.get_hash())
                    .arg(3)
                    .arg(&*self.unprotected_set)
                    .arg(&*self.protected_set)
                    .arg(&*self.owners)
                    .arg(now.as_millis())
                    .arg(&*self.prefix)
                    .arg(PURGE_BATCH);
                let n: usize = self.run(&self.purge, &cmd).await.map_err(unavailable)?;
                purged = purged.saturating_add(n);
                if n == 0 {
                    return Ok(purged);
                }
            }
        })
    }

    /// Two `ZCARD`s in one round trip: O(1), however many sessions there
    /// are. Counts sessions past their deadline until they are purged, as
    /// every store does.
    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(async move {
            self.checked().await?;
            let mut con = self.connection()?;
            let (unprotected, protected): (usize, usize) = redis::pipe()
                .cmd("ZCARD")
                .arg(&*self.unprotected_set)
                .cmd("ZCARD")
                .arg(&*self.protected_set)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            Ok(Some(Occupancy {
                sessions: unprotected.saturating_add(protected),
                capacity: Some(self.max_sessions),
            }))
        })
    }

    /// The user's set, then the sessions' values in one `MGET`, each
    /// checked as a `load` checks it; entries whose key Redis expired are
    /// taken off the index.
    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        Box::pin(async move {
            self.checked().await?;
            let user_set = self.user_set(&self.user_hex(user));
            let mut con = self.connection()?;
            let entries: Vec<String> = redis::cmd("ZRANGE")
                .arg(&user_set)
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            if entries.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = entries
                .iter()
                .map(|e| format!("{}{}", self.prefix, e.get(..32).unwrap_or_default()))
                .collect();
            // A key holding another type answers WRONGTYPE to GET, never to MGET.
            let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            let current = current.map(|id| self.hash(id));
            let mut listed = Vec::new();
            let mut gone = Vec::new();
            for (entry, value) in entries.iter().zip(values) {
                let Some(value) = value else {
                    gone.push(entry);
                    continue;
                };
                let Some(hash) = hash_of_member(entry.get(..32).unwrap_or_default()) else {
                    continue;
                };
                let Ok(stored) = decode_value(&self.key, &hash, &value) else {
                    continue;
                };
                let tag = DisplayTag::parse(entry.get(32..).unwrap_or_default());
                if let Some(tag) = tag
                    && stored.meta.owner.as_ref() == Some(user)
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
            if !gone.is_empty() {
                let mut cmd = self.script_cmd(&self.clean, &user_set, 0);
                cmd.arg(&*self.prefix).arg(&gone);
                let _: i64 = self.run(&self.clean, &cmd).await.map_err(unavailable)?;
            }
            Ok(listed)
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        Box::pin(async move {
            self.checked().await?;
            let user_hex = self.user_hex(user);
            let millis = now.as_millis();
            let mut cmd = self.script_cmd(&self.revoke, &self.user_set(&user_hex), 0);
            cmd.arg(&*self.prefix)
                .arg(&user_hex)
                .arg(tag.to_string())
                .arg(millis >> 32)
                .arg(millis & 0xffff_ffff);
            let answer: i64 = self.run(&self.revoke, &cmd).await.map_err(unavailable)?;
            // The ended session may be cached here: its next update reads
            // Redis, whose compare-and-swap then finds it missing.
            match answer {
                1 => Ok(Revoked::Ended),
                0 => Ok(Revoked::NotFound),
                other => Err(unexpected("revoke", other)),
            }
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            self.checked().await?;
            let user_hex = self.user_hex(user);
            let keep = except.map_or_else(String::new, |id| Self::member(&self.hash(id)));
            let millis = now.as_millis();
            let mut cmd = self.script_cmd(&self.revoke_all, &self.user_set(&user_hex), 0);
            cmd.arg(&*self.prefix)
                .arg(&user_hex)
                .arg(&keep)
                .arg(millis >> 32)
                .arg(millis & 0xffff_ffff);
            self.run(&self.revoke_all, &cmd).await.map_err(unavailable)
        })
    }
}

/// The store key a member (32 hex digits) names.
fn hash_of_member(member: &str) -> Option<[u8; 16]> {
    let digits = member.as_bytes();
    let mut hash = [0u8; 16];
    if digits.len() != 32 {
        return None;
    }
    for (out, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *out = u8::try_from(hi.checked_mul(16)?.checked_add(lo)?).ok()?;
    }
    Some(hash)
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

    fn keys() -> StoreKey {
        StoreKey::new(&[5; 32]).unwrap_or_else(|_| unreachable!())
    }

    /// Only the script's own answers map to an outcome; any other is a
    /// backend error, never "missing" (which regenerate takes for a logout).
    #[test]
    fn a_delete_answer_the_script_never_gives_is_a_backend_error() {
        assert_eq!(removed_of(0).ok(), Some(Removed::Missing));
        assert_eq!(removed_of(1).ok(), Some(Removed::Deleted));
        assert_eq!(removed_of(2).ok(), Some(Removed::Conflict));
        assert_eq!(removed_of(3).ok(), Some(Removed::Missing));
        for answer in [-1, 4, 7] {
            let err = removed_of(answer).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some(format!("session store failed: the save script answered {answer}").as_str())
            );
        }
    }

    const HASH: [u8; 16] = [7; 16];

    #[test]
    fn values_round_trip_and_damage_is_absent() {
        let keys = keys();
        let r = record(b"hello");
        let meta = SessionMeta {
            owner: UserId::new(b"alice").ok(),
            label: sesh::owner::Label::truncated("Firefox"),
            ..SessionMeta::new(Instant::from_secs(3))
        };
        let value = encode_value(&keys, &HASH, 7, &r, &meta).unwrap_or_default();
        assert_eq!(value.first(), Some(&TAG));
        let stored = decode_value(&keys, &HASH, &value);
        assert_eq!(
            stored,
            Ok(StoredSession {
                record: r.clone(),
                version: 7,
                meta,
            })
        );
        // Every truncation, and every single-byte change, is absent; none
        // panics.
        for len in 0..value.len() {
            let cut = value.get(..len).unwrap_or_default();
            assert!(decode_value(&keys, &HASH, cut).is_err());
        }
        for at in 0..value.len() {
            let mut damaged = value.clone();
            if let Some(b) = damaged.get_mut(at) {
                *b ^= 0x40;
            }
            assert!(decode_value(&keys, &HASH, &damaged).is_err(), "byte {at}");
        }
        let mut trailing = value.clone();
        trailing.push(0);
        assert_eq!(decode_value(&keys, &HASH, &trailing), Err(Bad::Unbound));
        assert_eq!(
            decode_value(&keys, &HASH, &[0xff; 64]),
            Err(Bad::Undecodable)
        );
        // Bound to its key and to the secret.
        assert_eq!(decode_value(&keys, &[8; 16], &value), Err(Bad::Unbound));
        let stranger = StoreKey::new(&[6; 32]).unwrap_or_else(|_| unreachable!());
        assert_eq!(decode_value(&stranger, &HASH, &value), Err(Bad::Unbound));
        // The layout of an older sesh (no tag) is refused.
        let mut untagged = value.clone();
        untagged.truncate(value.len() - super::super::TAG_LEN);
        if let Some(first) = untagged.first_mut() {
            *first = UNTAGGED;
        }
        assert_eq!(decode_value(&keys, &HASH, &untagged), Err(Bad::Untagged));
    }

    proptest::proptest! {
        /// Stored bytes are never trusted: any value decodes to a session
        /// or to an error, never a panic, even with a valid tag; a session
        /// that decodes is stored again as itself.
        #[test]
        fn any_stored_value_is_a_session_or_absent(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)
        ) {
            let keys = keys();
            proptest::prop_assert!(decode_value(&keys, &HASH, &bytes).is_err());
            let mut sealed = bytes.clone();
            if let Some(first) = sealed.first_mut() {
                *first = TAG;
            }
            keys.seal(&HASH, &mut sealed);
            if let Ok(stored) = decode_value(&keys, &HASH, &sealed) {
                let again = encode_value(&keys, &HASH, stored.version, &stored.record, &stored.meta).ok();
                let decoded = again.as_deref().map(|a| decode_value(&keys, &HASH, a));
                proptest::prop_assert_eq!(decoded, Some(Ok(stored)));
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
            let keys = keys();
            let meta = SessionMeta::new(Instant::from_secs(idle));
            let value = encode_value(&keys, &HASH, version, &record, &meta).ok();
            let decoded = value.as_deref().map(|v| decode_value(&keys, &HASH, v));
            proptest::prop_assert_eq!(decoded, Some(Ok(StoredSession { record, version, meta })));
        }
    }

    #[test]
    fn large_records_are_encoded_whole() {
        let keys = keys();
        let r = record(&[9; 100_000]);
        let value = encode_value(&keys, &HASH, 1, &r, &SessionMeta::default()).unwrap_or_default();
        assert_eq!(decode_value(&keys, &HASH, &value).map(|s| s.record), Ok(r));
    }

    #[test]
    fn info_memory_gives_the_eviction_settings() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory:2097152\r\nmaxmemory_human:2.00M\r\n\
                    maxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1.2\r\n";
        assert_eq!(
            eviction_settings(info),
            (Some(2_097_152), Some("allkeys-lru"))
        );
        assert_eq!(eviction_settings("# Memory\r\n"), (None, None));
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            assert!(evicts_any_key(policy), "{policy}");
        }
        for policy in [
            "noeviction",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            assert!(!evicts_any_key(policy), "{policy}");
        }
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
        let cache = RecordCache::new(64);
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let hot = SessionId::generate(&mut rng).unwrap_or_else(|_| unreachable!());
        let stored = StoredSession {
            record: record(b"x"),
            version: 1,
            meta: SessionMeta::default(),
        };
        let put = |id: &SessionId, hash: [u8; 16]| {
            let stored = stored.clone();
            cache.put(&cache_key(id), Cached { hash, stored });
        };
        put(&hot, [1; 16]);
        for _ in 0..10_000 {
            let id = SessionId::generate(&mut rng).unwrap_or_else(|_| unreachable!());
            put(&id, [2; 16]);
            assert!(
                cache.get(&cache_key(&hot)).is_some(),
                "a session in use stays"
            );
        }
        assert!(cache.len() <= 96, "{} entries", cache.len());
        assert_eq!(cache.peek(&cache_key(&hot), |hit| hit.hash), Some([1; 16]));
        cache.remove(&cache_key(&hot));
        assert!(cache.get(&cache_key(&hot)).is_none());
    }
}
