//! The copies of sessions this process last read or wrote, behind
//! [`PostgresStore`](super::PostgresStore)'s `load_for_update` and `save`:
//! an update of a session in it costs one statement (the compare-and-swap)
//! instead of three (a read, the save's read of the metadata it seals, the
//! update).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use super::super::StoredSession;

/// A power of two.
const SHARDS: usize = 16;

/// One shard: two generations. Writes go to `young`; when it holds its
/// share, it becomes `old` and the previous `old` is dropped. A hit in
/// `old` moves the entry back to `young`, so sessions in use stay.
#[derive(Default)]
struct Shard {
    young: HashMap<[u8; 16], StoredSession>,
    old: HashMap<[u8; 16], StoredSession>,
}

/// At most about `capacity` sessions, keyed by store key, in sharded maps
/// under plain mutexes held for a map operation or two (never across an
/// await).
pub(super) struct WriteCache {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation per shard.
    generation: usize,
    hasher: RandomState,
}

impl WriteCache {
    /// `None` for a capacity of 0 (no cache).
    pub(super) fn new(capacity: usize) -> Option<WriteCache> {
        if capacity == 0 {
            return None;
        }
        Some(WriteCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            generation: capacity.div_ceil(SHARDS).div_ceil(2).max(1),
            hasher: RandomState::new(),
        })
    }

    fn shard(&self, key: &[u8; 16]) -> Option<MutexGuard<'_, Shard>> {
        // SHARDS is a power of two: a mask picks the shard.
        let spread = self.hasher.hash_one(key) & (SHARDS as u64).wrapping_sub(1);
        let index = usize::try_from(spread).unwrap_or(0);
        let shard = self.shards.get(index)?;
        // A panic while holding the lock leaves a consistent map: use it.
        Some(
            shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(super) fn get(&self, key: &[u8; 16]) -> Option<StoredSession> {
        let mut shard = self.shard(key)?;
        if let Some(hit) = shard.young.get(key) {
            return Some(hit.clone());
        }
        let hit = shard.old.remove(key)?;
        self.insert_young(&mut shard, *key, hit.clone());
        Some(hit)
    }

    pub(super) fn put(&self, key: &[u8; 16], stored: StoredSession) {
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

    fn insert_young(&self, shard: &mut Shard, key: [u8; 16], stored: StoredSession) {
        if shard.young.len() >= self.generation {
            shard.old = std::mem::take(&mut shard.young);
        }
        shard.young.insert(key, stored);
    }

    pub(super) fn remove(&self, key: &[u8; 16]) {
        if let Some(mut shard) = self.shard(key) {
            shard.young.remove(key);
            shard.old.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
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
    use sesh::owner::SessionMeta;
    use sesh::record::SessionRecord;

    #[test]
    fn bounded_and_keeps_what_is_in_use() {
        let cache = WriteCache::new(64).unwrap_or_else(|| unreachable!());
        let stored = StoredSession {
            record: SessionRecord {
                deadlines: sesh::ExpiryPolicy::new().start(sesh::Instant::from_secs(1)),
                protected: false,
                data: vec![1],
            },
            version: 1,
            meta: SessionMeta::default(),
        };
        let hot = [0xee; 16];
        cache.put(&hot, stored.clone());
        for n in 0..10_000u32 {
            let mut key = [0u8; 16];
            key.iter_mut()
                .zip(n.to_be_bytes())
                .for_each(|(k, b)| *k = b);
            cache.put(&key, stored.clone());
            assert!(cache.get(&hot).is_some(), "a session in use stays");
        }
        assert!(cache.len() <= 96, "{} entries", cache.len());
        cache.remove(&hot);
        assert!(cache.get(&hot).is_none());
        assert!(WriteCache::new(0).is_none());
    }
}
