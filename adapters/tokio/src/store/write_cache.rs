//! The sessions this process last committed, for the stores whose update
//! would otherwise read first (redb: a read transaction on the blocking
//! pool; PostgreSQL: a `SELECT`; Redis: a `GET`). An update of a session
//! found here goes straight to the store's compare-and-swap, which checks
//! the stored version anyway, so a stale copy costs a retry, never a lost
//! write.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::StoredSession;

/// A power of two.
const SHARDS: usize = 16;

/// One shard: two generations. Writes go to `young`; when it holds its
/// share, it becomes `old` and the previous `old` is dropped. A hit in
/// `old` moves the entry back to `young`, so sessions in use stay.
struct Shard<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K, V> Default for Shard<K, V> {
    fn default() -> Self {
        Shard {
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

/// At most about `capacity` sessions, keyed by `K` (redb and PostgreSQL:
/// the store key; Redis: the id's characters), in sharded maps under plain
/// mutexes held for a map operation or two (never across an await, never
/// while the store works). A capacity of 0 turns it off.
pub(crate) struct WriteCache<K = [u8; 16], V = StoredSession> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    /// Entries per generation per shard; 0: off.
    generation: AtomicUsize,
    hasher: RandomState,
}

impl<K: Hash + Eq + Copy, V: Clone> WriteCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let cache = WriteCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            generation: AtomicUsize::new(0),
            hasher: RandomState::new(),
        };
        cache.set_capacity(capacity);
        cache
    }

    /// Keeps about `capacity` sessions from now on (0: none, and forgets
    /// those it holds).
    pub(crate) fn set_capacity(&self, capacity: usize) {
        let generation = if capacity == 0 {
            0
        } else {
            capacity.div_ceil(SHARDS).div_ceil(2).max(1)
        };
        self.generation.store(generation, Ordering::Relaxed);
        if generation == 0 {
            for shard in &self.shards {
                *shard.lock().unwrap_or_else(|p| p.into_inner()) = Shard::default();
            }
        }
    }

    fn generation(&self) -> usize {
        self.generation.load(Ordering::Relaxed)
    }

    fn shard(&self, key: &K) -> Option<MutexGuard<'_, Shard<K, V>>> {
        if self.generation() == 0 {
            return None;
        }
        // SHARDS is a power of two: a mask picks the shard.
        let spread = self.hasher.hash_one(key) & (SHARDS as u64).wrapping_sub(1);
        let shard = self.shards.get(usize::try_from(spread).unwrap_or(0))?;
        // A panic while holding the lock leaves a consistent map: use it.
        Some(shard.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The copy under `key`, kept as in use (moved to the young generation).
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let mut shard = self.shard(key)?;
        if let Some(hit) = shard.young.get(key) {
            return Some(hit.clone());
        }
        let hit = shard.old.remove(key)?;
        self.insert_young(&mut shard, *key, hit.clone());
        Some(hit)
    }

    /// What `read` makes of the copy under `key`, without keeping it as in
    /// use (a look that is not a use).
    pub(crate) fn peek<R>(&self, key: &K, read: impl FnOnce(&V) -> R) -> Option<R> {
        let shard = self.shard(key)?;
        shard
            .young
            .get(key)
            .or_else(|| shard.old.get(key))
            .map(read)
    }

    pub(crate) fn put(&self, key: &K, stored: V) {
        let Some(mut shard) = self.shard(key) else {
            return;
        };
        if let Some(slot) = shard.young.get_mut(key) {
            *slot = stored;
            return;
        }
        shard.old.remove(key);
        self.insert_young(&mut shard, *key, stored);
    }

    fn insert_young(&self, shard: &mut Shard<K, V>, key: K, stored: V) {
        if shard.young.len() >= self.generation() {
            shard.old = std::mem::take(&mut shard.young);
        }
        shard.young.insert(key, stored);
    }

    pub(crate) fn remove(&self, key: &K) {
        if let Some(mut shard) = self.shard(key) {
            shard.young.remove(key);
            shard.old.remove(key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .map(|s| s.young.len().saturating_add(s.old.len()))
                    .unwrap_or(0)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesh::Instant;
    use sesh::owner::SessionMeta;
    use sesh::record::SessionRecord;

    #[test]
    fn bounded_and_keeps_what_is_in_use() {
        let cache = WriteCache::new(64);
        let stored = StoredSession {
            record: SessionRecord {
                deadlines: sesh::ExpiryPolicy::new().start(Instant::ZERO),
                protected: false,
                data: vec![1],
            },
            version: 1,
            meta: SessionMeta::new(Instant::ZERO),
        };
        let hot = [0xaa; 16];
        cache.put(&hot, stored.clone());
        for n in 0..10_000u32 {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&n.to_le_bytes());
            cache.put(&key, stored.clone());
            assert!(cache.get(&hot).is_some(), "a session in use stays");
        }
        assert!(cache.len() <= 96, "{} entries", cache.len());
        let newer = StoredSession {
            version: 2,
            ..stored.clone()
        };
        cache.put(&hot, newer.clone());
        assert_eq!(cache.peek(&hot, |s| s.version), Some(2));
        assert_eq!(cache.get(&hot), Some(newer));
        cache.remove(&hot);
        assert!(cache.get(&hot).is_none());
        cache.put(&hot, stored.clone());
        cache.set_capacity(0);
        assert_eq!(cache.len(), 0, "off forgets everything");
        cache.put(&hot, stored);
        assert!(cache.get(&hot).is_none(), "off keeps nothing");
    }
}
