//! An in-process store on the core's hashbrown table, sharded for concurrency.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use sesh::expiry::ExpiryPolicy;
use sesh::owner::{DEFAULT_MAX_SESSIONS_PER_USER, DisplayTag, SessionInfo, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::table::{IdHasher, InsertError};
use sesh::{AllocSessionTable, Duration, Instant, SessionId};

use super::{
    Created, DEFAULT_MAX_SESSIONS, InPlaceEdit, Occupancy, Removed, Revoked, Saved, SessionStore,
    StoreError, StoreFuture, StoredSession,
};

type Shard = AllocSessionTable<Versioned>;

/// What one slot of the memory store holds besides the core's record: the
/// session data, inline when small (most sessions hold a few bytes, so a
/// session costs one slot and no allocation of its own), and its version,
/// in 16 bytes. With the core's 32 bytes (id, deadlines, flags and LRU
/// tick; see [`sesh::table::MapSlots`]) a slot is 48 bytes, and a free
/// slot (`None`) takes one of the tag's spare values.
///
/// The version is 32 bits and wraps: a save whose load is exactly a
/// multiple of 2³² saves of the same session old would not see the
/// conflict. A version the store never gave (above `u32::MAX`) is a
/// conflict.
#[derive(Debug)]
enum Versioned {
    Inline {
        len: u8,
        buf: [u8; INLINE],
        version: u32,
    },
    // A thin pointer keeps the enum at 16 bytes; larger data is rare.
    #[allow(clippy::box_collection)]
    Heap { version: u32, data: Box<Vec<u8>> },
}

/// The most bytes kept inline; the enum stays 16 bytes.
const INLINE: usize = 10;

impl Versioned {
    fn new(version: u32, data: &[u8]) -> Self {
        if let Ok(len) = u8::try_from(data.len())
            && data.len() <= INLINE
        {
            let mut buf = [0u8; INLINE];
            buf.iter_mut().zip(data).for_each(|(b, d)| *b = *d);
            return Versioned::Inline { len, buf, version };
        }
        Versioned::Heap {
            version,
            data: Box::new(data.to_vec()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Versioned::Inline { len, buf, .. } => buf.get(..usize::from(*len)).unwrap_or_default(),
            Versioned::Heap { data, .. } => data,
        }
    }

    fn version(&self) -> u64 {
        match self {
            Versioned::Inline { version, .. } | Versioned::Heap { version, .. } => {
                u64::from(*version)
            }
        }
    }
}

/// The version after `version`, wrapping at 2³².
fn next_version(version: u64) -> u32 {
    u32::try_from(version & u64::from(u32::MAX))
        .unwrap_or_default()
        .wrapping_add(1)
}

/// Sessions in memory: fast, bounded, and lost on restart.
///
/// The sessions are spread over shards, each a core [`AllocSessionTable`]
/// behind its own mutex, so requests for different sessions rarely wait for
/// each other. Each shard follows the core's eviction rule when full: expired
/// sessions go first, then the shard's least recently used unprotected one;
/// when every session in the shard is protected, `create` fails with
/// [`StoreError::Full`]. The bound is `max_sessions` in total, split evenly.
///
/// Each shard's table keeps the owner index of its own sessions, under the
/// shard's lock. A write that gives a session an owner, and every listing
/// and revocation, holds every shard's lock (in one order), so the
/// per-user cap and a listing see all of the user's sessions at once;
/// their cost is one lock and one index lookup per shard plus the user's
/// sessions.
#[derive(Debug)]
pub struct MemoryStore {
    /// Never empty, by construction: shard 0, then the others. Every id
    /// has a shard, so no lookup can fail for want of one.
    first: Mutex<AllocSessionTable<Versioned>>,
    rest: Box<[Mutex<AllocSessionTable<Versioned>>]>,
    max_sessions: usize,
    max_per_user: usize,
}

/// The store applies no policy of its own: the adapter sets the deadlines.
const NO_POLICY: ExpiryPolicy = ExpiryPolicy::new()
    .with_idle_timeout(Duration::from_millis(u64::MAX))
    .with_absolute_lifetime(Duration::from_millis(u64::MAX))
    .with_refresh_percent(100);

/// The fewest sessions a shard holds (unless the whole store is smaller).
const MIN_PER_SHARD: usize = 256;

impl Default for MemoryStore {
    /// [`DEFAULT_MAX_SESSIONS`] (100,000) sessions over 16 shards.
    fn default() -> Self {
        MemoryStore::new(DEFAULT_MAX_SESSIONS)
    }
}

impl MemoryStore {
    /// Slots of a shard's table one slice of a sweep looks at under the
    /// shard's lock: ~11 µs of work when every slot has expired (each
    /// removal a cache miss), whatever the shard holds. 1,024 held the lock
    /// ~45 µs and doubled the typical wait of a request behind it
    /// (benches/http `sweep-stall`); smaller slices lengthen the purge (a
    /// yield each) and do not shorten the rare multi-ms waits, which come
    /// from threads not running, not from the lock.
    pub const SWEEP_SLICE: usize = 256;

    /// A store for at most `max_sessions` sessions, over 16 shards.
    ///
    /// ```
    /// let store = sesh_tokio::MemoryStore::new(10_000);
    /// assert_eq!(store.max_sessions(), 10_000);
    /// ```
    pub fn new(max_sessions: usize) -> Self {
        MemoryStore::with_shards(max_sessions, 16)
    }

    /// A store for at most `max_sessions` sessions over up to `shards` shards
    /// (at least one, and at most one per 256 sessions). Fewer shards make the
    /// LRU rule more global; more shards cut lock contention.
    ///
    /// ```
    /// let store = sesh_tokio::MemoryStore::with_shards(64, 1);
    /// assert_eq!(store.max_sessions(), 64);
    /// ```
    pub fn with_shards(max_sessions: usize, shards: usize) -> Self {
        // Small stores keep few shards, so that the eviction rule stays close
        // to global: every shard holds at least MIN_PER_SHARD sessions.
        let shards = shards.clamp(1, (max_sessions / MIN_PER_SHARD).max(1));
        let per_shard = max_sessions.div_ceil(shards);
        let shard = || {
            // The store applies the per-user cap over all shards itself.
            let mut table = AllocSessionTable::with_max_sessions(per_shard)
                .with_max_sessions_per_user(usize::MAX);
            table.set_policy(NO_POLICY);
            Mutex::new(table)
        };
        MemoryStore {
            first: shard(),
            rest: (1..shards).map(|_| shard()).collect(),
            max_sessions,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }

    /// Sets the most live sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one
    /// more ends their least recently used other session.
    ///
    /// ```
    /// let store = sesh_tokio::MemoryStore::new(1_000).with_max_sessions_per_user(4);
    /// assert_eq!(store.max_sessions_per_user(), 4);
    /// ```
    pub fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    /// The per-user cap ([`with_max_sessions_per_user`](Self::with_max_sessions_per_user)).
    pub fn max_sessions_per_user(&self) -> usize {
        self.max_per_user
    }

    /// Sets what a full shard does for a new session once its expired
    /// sessions are gone: evict the least recently used anonymous session
    /// (the default), or refuse it with [`StoreError::Full`] (503).
    ///
    /// ```
    /// use sesh::table::WhenFull;
    /// let store = sesh_tokio::MemoryStore::new(1_000).when_full(WhenFull::Refuse);
    /// ```
    pub fn when_full(self, when_full: sesh::table::WhenFull) -> Self {
        for mut shard in self.lock_all() {
            shard.set_when_full(when_full);
        }
        self
    }

    /// The bound given at construction.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }

    fn all_shards(&self) -> impl Iterator<Item = &Mutex<AllocSessionTable<Versioned>>> {
        core::iter::once(&self.first).chain(self.rest.iter())
    }

    /// The index of `id`'s shard (0 is `first`).
    fn shard_index(&self, id: &SessionId) -> usize {
        // The shard's map buckets by the low bits of the same hash: pick the
        // shard from other bits so each shard uses its whole map.
        let hash = std::hash::BuildHasherDefault::<IdHasher>::default().hash_one(id);
        let count = u64::try_from(self.rest.len())
            .unwrap_or(0)
            .saturating_add(1);
        usize::try_from((hash >> 40).checked_rem(count).unwrap_or(0)).unwrap_or(0)
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, AllocSessionTable<Versioned>> {
        let shard = self
            .shard_index(id)
            .checked_sub(1)
            .and_then(|i| self.rest.get(i))
            .unwrap_or(&self.first);
        lock_shard(shard)
    }

    fn lock_all(&self) -> impl Iterator<Item = MutexGuard<'_, AllocSessionTable<Versioned>>> {
        self.all_shards().map(lock_shard)
    }
}

/// A poisoned shard only means a panic elsewhere while it was held; the
/// table's invariants hold between calls, so keep serving it.
fn lock_shard(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every shard, locked in order (the first, then the rest), for the owner
/// index across shards. Never empty, so an id's shard is always there.
struct LockedShards<'a> {
    first: MutexGuard<'a, Shard>,
    rest: Vec<MutexGuard<'a, Shard>>,
}

impl LockedShards<'_> {
    /// The shard numbered `index` as [`MemoryStore::shard_index`] numbers them.
    fn get_mut(&mut self, index: usize) -> &mut Shard {
        match index.checked_sub(1).and_then(|i| self.rest.get_mut(i)) {
            Some(shard) => shard,
            None => &mut self.first,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Shard> {
        core::iter::once(&*self.first).chain(self.rest.iter().map(|shard| &**shard))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Shard> {
        core::iter::once(&mut *self.first).chain(self.rest.iter_mut().map(|shard| &mut **shard))
    }
}

impl MemoryStore {
    /// Every shard, locked in the one order every multi-shard lock uses.
    fn lock_every(&self) -> LockedShards<'_> {
        LockedShards {
            first: lock_shard(&self.first),
            rest: self.rest.iter().map(lock_shard).collect(),
        }
    }

    /// The live session `id` in `shard`, counting a use.
    fn stored(shard: &mut Shard, id: &SessionId, now: Instant) -> Option<StoredSession> {
        shard.update_record(id, now, |r| StoredSession {
            record: SessionRecord {
                deadlines: *r.deadlines,
                protected: *r.protected,
                data: r.data.as_slice().to_vec(),
            },
            version: r.data.version(),
            meta: r.meta.clone(),
        })
    }

    /// Ends `user`'s least recently used sessions other than `keep` while
    /// they hold more than the cap; `shards` are all of them, locked.
    fn enforce_cap(
        &self,
        shards: &mut LockedShards<'_>,
        user: &UserId,
        keep: &SessionId,
        now: Instant,
    ) {
        let keep = DisplayTag::of(keep);
        loop {
            let mut count = 0usize;
            let mut oldest: Option<(Instant, usize, DisplayTag)> = None;
            for (i, shard) in shards.iter().enumerate() {
                for info in shard.sessions_of(user, None, now) {
                    count = count.saturating_add(1);
                    if info.tag != keep && oldest.is_none_or(|(seen, _, _)| info.last_seen < seen) {
                        oldest = Some((info.last_seen, i, info.tag));
                    }
                }
            }
            let Some((_, i, tag)) = oldest.filter(|_| count > self.max_per_user) else {
                return;
            };
            if shards.get_mut(i).revoke(user, &tag, now).is_err() {
                return;
            }
        }
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        Box::pin(async move { Ok(Self::stored(&mut self.shard(id), id, now)) })
    }

    /// One lookup under the shard's lock: no compare-and-swap, no second lookup.
    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>> {
        let mut shard = self.shard(id);
        let edited = shard.update_record(id, now, |stored| {
            let mut deadlines = *stored.deadlines;
            let mut protected = *stored.protected;
            let data = edit(
                &mut deadlines,
                &mut protected,
                stored.data.as_slice(),
                stored.meta.lifetime,
            )?;
            let version = next_version(stored.data.version());
            *stored.deadlines = deadlines;
            *stored.protected = protected;
            *stored.data = Versioned::new(version, &data);
            let version = u64::from(version);
            let record = SessionRecord {
                deadlines,
                protected,
                data,
            };
            Some((record, version, stored.meta.clone()))
        });
        let edited = edited
            .flatten()
            .map(|(record, version, meta)| StoredSession {
                record,
                version,
                meta,
            });
        Some(Ok(edited))
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
            let stored = SessionRecord {
                deadlines: record.deadlines,
                protected: record.protected,
                data: Versioned::new(1, &record.data),
            };
            let meta = SessionMeta {
                last_seen: now,
                ..meta.clone()
            };
            let owner = meta.owner.clone();
            let inserted = match &owner {
                None => self.shard(id).insert_with_meta(*id, stored, meta, now),
                Some(user) => {
                    let mut shards = self.lock_every();
                    let inserted = shards
                        .get_mut(self.shard_index(id))
                        .insert_with_meta(*id, stored, meta, now);
                    if inserted.is_ok() {
                        self.enforce_cap(&mut shards, user, id, now);
                    }
                    inserted
                }
            };
            match inserted {
                Ok(_) => Ok(Created::Stored(1)),
                Err(InsertError::Exists(_)) => Ok(Created::IdTaken),
                Err(InsertError::Full(_)) => Err(StoreError::Full),
                // Already expired: there is nothing to keep, as if stored and purged.
                Err(InsertError::Expired(_)) => Ok(Created::Stored(1)),
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
            let write = |shard: &mut Shard| {
                shard.update_record(id, now, |stored| {
                    let version = next_version(expected_version);
                    *stored.deadlines = record.deadlines;
                    *stored.protected = record.protected;
                    *stored.data = Versioned::new(version, &record.data);
                    Saved::Stored(u64::from(version))
                })
            };
            let check = |shard: &Shard| match shard.peek(id, now) {
                None => Some(Saved::Missing),
                Some(stored) if stored.version() != expected_version => Some(Saved::Conflict),
                Some(_) => None,
            };
            let Some(meta) = meta else {
                let mut shard = self.shard(id);
                if let Some(refused) = check(&shard) {
                    return Ok(refused);
                }
                return Ok(write(&mut shard).unwrap_or(Saved::Missing));
            };
            let mut shards = self.lock_every();
            let shard = shards.get_mut(self.shard_index(id));
            if let Some(refused) = check(shard) {
                return Ok(refused);
            }
            let old_owner = shard.meta(id, now).and_then(|m| m.owner.clone());
            // The table's own steps, each under this lock: the lifetime
            // first (it restarts the deadlines), then the saved record's.
            let applied = shard
                .set_lifetime(id, meta.lifetime, now)
                .and_then(|_| shard.set_label(id, meta.label.clone(), now))
                .and_then(|_| match &meta.owner {
                    Some(user) => shard.set_owner(id, user.clone(), now).map(drop),
                    None => shard.clear_owner(id, now).map(drop),
                });
            if applied.is_err() {
                return Ok(Saved::Missing);
            }
            let saved = write(shard).unwrap_or(Saved::Missing);
            if let Some(user) = &meta.owner
                && old_owner.as_ref() != Some(user)
            {
                self.enforce_cap(&mut shards, user, id, now);
            }
            Ok(saved)
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.shard(id).destroy(id);
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
            let mut shard = self.shard(id);
            let outcome = match shard.peek(id, now) {
                None => Removed::Missing,
                Some(stored) if stored.version() != expected_version => Removed::Conflict,
                Some(_) => {
                    shard.destroy(id);
                    Removed::Deleted
                }
            };
            Ok(outcome)
        })
    }

    /// In slices of 256 slots ([`Self::SWEEP_SLICE`]), one shard after another
    /// in turn: a slice holds its shard's lock, then the sweep yields and
    /// moves to the next shard. A request waiting for that lock gets it
    /// before the sweep comes back (15 slices later): taking the same
    /// shard's slices back to back let the sweep win the lock again before
    /// the woken waiter ran, so a request could wait for a whole shard.
    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut purged = 0_usize;
            let mut cursors: Vec<Option<usize>> = self.all_shards().map(|_| Some(0)).collect();
            while cursors.iter().any(Option::is_some) {
                for (shard, cursor) in self.all_shards().zip(cursors.iter_mut()) {
                    let Some(start) = *cursor else { continue };
                    let slice =
                        lock_shard(shard).purge_expired_slice(now, start, Self::SWEEP_SLICE);
                    purged = purged.saturating_add(slice.purged);
                    *cursor = slice.next;
                    tokio::task::yield_now().await;
                }
            }
            Ok(purged)
        })
    }

    /// The shards' lengths, summed: one lock and one read per shard.
    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(async move {
            let sessions = self.lock_all().map(|shard| shard.len()).sum();
            Ok(Some(Occupancy {
                sessions,
                capacity: Some(self.max_sessions),
            }))
        })
    }

    /// Each shard's owner index, under all the shards' locks at once.
    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        Box::pin(async move {
            let shards = self.lock_every();
            Ok(shards
                .iter()
                .flat_map(|shard| shard.sessions_of(user, current, now))
                .collect())
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        Box::pin(async move {
            let mut shards = self.lock_every();
            let ended = shards
                .iter_mut()
                .any(|shard| shard.revoke(user, tag, now).is_ok());
            Ok(if ended {
                Revoked::Ended
            } else {
                Revoked::NotFound
            })
        })
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let mut shards = self.lock_every();
            Ok(shards
                .iter_mut()
                .map(|shard| shard.revoke_all(user, except, now))
                .sum())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn edit_in_place_writes_only_what_the_edit_returns() {
        let store = MemoryStore::new(16);
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let id = SessionId::generate(&mut rng).unwrap();
        let now = Instant::ZERO;
        let mut append = |_: &mut sesh::expiry::Deadlines,
                          protected: &mut bool,
                          data: &[u8],
                          _: sesh::expiry::Lifetime| {
            *protected = true;
            Some([data, b"!"].concat())
        };
        assert!(matches!(
            store.edit_in_place(&id, now, &mut append),
            Some(Ok(None))
        ));
        let record = SessionRecord {
            deadlines: sesh::ExpiryPolicy::new().start(now),
            protected: false,
            data: b"hi".to_vec(),
        };
        assert_eq!(
            store.create(&id, &record, now).await.unwrap(),
            Created::Stored(1)
        );
        let edited = store
            .edit_in_place(&id, now, &mut append)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((edited.version, edited.record.protected), (2, true));
        assert_eq!(edited.record.data, b"hi!");
        let mut decline = |_: &mut sesh::expiry::Deadlines, protected: &mut bool, _: &[u8], _| {
            *protected = false;
            None
        };
        assert!(matches!(
            store.edit_in_place(&id, now, &mut decline),
            Some(Ok(None))
        ));
        assert_eq!(store.load(&id, now).await.unwrap(), Some(edited));
    }

    /// Every id has a shard (there is no "no shard" error any more): with
    /// one shard or several, every session created loads back and counts.
    #[tokio::test]
    async fn every_id_has_a_shard_whatever_the_shard_count() {
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let now = Instant::ZERO;
        for shards in [0, 1, 3, 16] {
            let store = MemoryStore::with_shards(16 * MIN_PER_SHARD, shards);
            let record = SessionRecord {
                deadlines: sesh::ExpiryPolicy::new().start(now),
                protected: false,
                data: b"x".to_vec(),
            };
            let ids: Vec<SessionId> = (0..64)
                .map(|_| SessionId::generate(&mut rng).unwrap())
                .collect();
            for id in &ids {
                assert_eq!(
                    store.create(id, &record, now).await.unwrap(),
                    Created::Stored(1)
                );
            }
            for id in &ids {
                assert!(store.load(id, now).await.unwrap().is_some(), "{shards}");
            }
            let occupancy = store.occupancy().await.unwrap().unwrap();
            assert_eq!(occupancy.sessions, 64, "{shards} shards");
            assert_eq!(store.lock_all().count(), shards.max(1), "{shards}");
        }
    }

    /// A sweep over shards several slices long removes every expired
    /// session, and only those, whichever slice they fall in.
    #[tokio::test]
    async fn a_sliced_sweep_purges_every_expired_session() {
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let t0 = Instant::ZERO;
        let store = MemoryStore::with_shards(16 * MemoryStore::SWEEP_SLICE, 1);
        let short = sesh::ExpiryPolicy::new().with_idle_timeout(sesh::Duration::from_secs(1));
        let long = sesh::ExpiryPolicy::new();
        let mut live = Vec::new();
        for n in 0..3 * MemoryStore::SWEEP_SLICE + 7 {
            let id = SessionId::generate(&mut rng).unwrap();
            let expires_soon = n % 3 != 0;
            let policy = if expires_soon { short } else { long };
            let record = SessionRecord {
                deadlines: policy.start(t0),
                protected: false,
                data: b"x".to_vec(),
            };
            store.create(&id, &record, t0).await.unwrap();
            if !expires_soon {
                live.push(id);
            }
        }
        let later = t0.saturating_add(sesh::Duration::from_secs(2));
        let purged = store.purge_expired(later).await.unwrap();
        assert_eq!(purged, 3 * MemoryStore::SWEEP_SLICE + 7 - live.len());
        let left = store.occupancy().await.unwrap().unwrap().sessions;
        assert_eq!(left, live.len());
        for id in &live {
            assert!(store.load(id, later).await.unwrap().is_some());
        }
        assert_eq!(store.purge_expired(later).await.unwrap(), 0);
    }

    /// Deadlines too far apart for a slot (remember-me, or a long policy
    /// with no lifetime of its own) come back exactly, to the millisecond,
    /// through create, load, save and an expiry check.
    #[tokio::test]
    async fn long_deadlines_are_kept_to_the_millisecond() {
        use sesh::expiry::{Deadlines, Lifetime};
        let store = MemoryStore::new(1_000);
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        let now = Instant::from_millis(1_765_000_000_123);
        let at = |ms: u64| now.saturating_add(Duration::from_millis(ms));
        let remember = sesh::ExpiryPolicy::new()
            .for_lifetime(Lifetime::REMEMBER_ME)
            .start(now);
        let cases = [
            (remember, Lifetime::REMEMBER_ME),
            // 60 days apart, the idle one last: no lifetime of its own.
            (
                Deadlines {
                    idle: at(5_184_000_007),
                    absolute: at(1_000),
                },
                Lifetime::Default,
            ),
            (
                Deadlines {
                    idle: at(1_801),
                    absolute: at(28_800_003),
                },
                Lifetime::Default,
            ),
        ];
        for (deadlines, lifetime) in cases {
            let id = SessionId::generate(&mut rng).unwrap();
            let record = SessionRecord {
                deadlines,
                protected: true,
                data: b"8 bytes!".to_vec(),
            };
            let meta = SessionMeta {
                lifetime,
                ..SessionMeta::new(now)
            };
            store
                .create_with_meta(&id, &record, &meta, now)
                .await
                .unwrap();
            let loaded = store.load(&id, now).await.unwrap().unwrap();
            assert_eq!(loaded.record, record);
            assert_eq!(loaded.meta.lifetime, lifetime);
            let moved = SessionRecord {
                deadlines: Deadlines {
                    idle: deadlines.idle.saturating_add(Duration::from_millis(1)),
                    ..deadlines
                },
                ..record
            };
            store.save(&id, &moved, loaded.version, now).await.unwrap();
            let end = moved.deadlines.expires_at();
            let just_before = Instant::from_millis(end.as_millis() - 1);
            assert_eq!(
                store.load(&id, just_before).await.unwrap().unwrap().record,
                moved
            );
            assert!(store.load(&id, end).await.unwrap().is_none());
        }
    }

    #[test]
    fn bytes_round_trip_inline_and_on_the_heap() {
        for len in [0usize, 1, 9, 10, 11, 4096] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let bytes = Versioned::new(7, &data);
            assert_eq!(bytes.as_slice(), data.as_slice());
            assert_eq!(bytes.version(), 7);
            assert_eq!(
                matches!(bytes, Versioned::Inline { .. }),
                len <= super::INLINE
            );
        }
        assert_eq!(std::mem::size_of::<Versioned>(), 16);
        assert_eq!(next_version(1), 2);
        assert_eq!(next_version(u64::from(u32::MAX)), 0);
        // Never written: no stored version equals it, so its save conflicts.
        assert_eq!(next_version(u64::MAX), 0);
        // A slot of the core's slab: id 16, deadlines and flags 12, LRU
        // tick 4 and this; a free slot takes the enum's spare tag values.
        assert_eq!(sesh::table::MapSlots::<Versioned>::SLOT_BYTES, 48);
    }
}
