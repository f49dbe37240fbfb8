//! The storage interface every backend implements.

mod key;
mod memory;
#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

use std::future::Future;
use std::pin::Pin;

pub use key::{StoreKey, TAG_LEN};
pub use memory::MemoryStore;
#[cfg(feature = "redb")]
pub use redb::RedbStore;
#[cfg(feature = "redis")]
pub use redis::{EvictionPolicyRefused, RedisConfig, RedisStore};
use sesh::expiry::Deadlines;
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

/// What every async [`SessionStore`] method returns: a boxed future, so
/// that the trait is usable as `dyn SessionStore` (the layer holds an
/// `Arc<dyn SessionStore>`). An implementation writes
/// `Box::pin(async move { ... })`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A session as a store holds it: the core's record with the data encoded,
/// and a version for compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Deadlines, protected flag and the encoded data.
    pub record: SessionRecord<Vec<u8>>,
    /// Changes on every successful save; `save` compares it.
    pub version: u64,
}

/// The edit [`SessionStore::edit_in_place`] runs: it may change the
/// session's deadlines and protected flag, gets its data, and returns the
/// new data, or `None` to leave the session untouched.
pub type InPlaceEdit<'a> = &'a mut dyn FnMut(&mut Deadlines, &mut bool, &[u8]) -> Option<Vec<u8>>;

/// What [`SessionStore::create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Stored, at this version.
    Stored(u64),
    /// A live session already has this id; nothing was written.
    IdTaken,
}

/// What [`SessionStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written; this is the new version.
    Stored(u64),
    /// Someone saved first: the stored version is not the expected one.
    /// Nothing was written; load again and retry.
    Conflict,
    /// The session is gone (deleted or expired). Nothing was written, and
    /// nothing was created: a save never resurrects a session.
    Missing,
}

/// What [`SessionStore::delete_version`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The expected version was stored; it is gone.
    Deleted,
    /// Someone saved first: the stored version is not the expected one.
    /// Nothing was removed.
    Conflict,
    /// There was no live session.
    Missing,
}

/// How full a store is, for status pages: from counts the store keeps as
/// it goes, never from a scan of its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occupancy {
    /// Sessions stored (some may have expired and await the sweeper).
    pub sessions: usize,
    /// The most it holds, if it has a bound.
    pub capacity: Option<usize>,
}

/// The bound of a new [`RedbStore`] or [`RedisStore`] (the same as
/// [`MemoryStore::default`]'s), until `with_max_sessions` sets another.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// A store failed. The adapter answers 500 (503 for `Full`) and logs the cause.
#[derive(Debug)]
pub enum StoreError {
    /// The backend cannot be reached (connection refused, timed out, …).
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The store is full of sessions it may not evict.
    Full,
    /// The backend reported an error (I/O, disk full, read-only file, …).
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(e) => write!(f, "session store unavailable: {e}"),
            StoreError::Full => f.write_str("session store full of protected sessions"),
            StoreError::Backend(e) => write!(f, "session store failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Unavailable(e) | StoreError::Backend(e) => Some(e.as_ref()),
            StoreError::Full => None,
        }
    }
}

/// A session store. Every method takes the caller's `now`; none reads a clock.
///
/// What every store must do:
///
/// - **Keys.** Stores key sessions by id; persistent stores key them by a
///   keyed hash of the id ([`StoreKey::hash`]), so their contents hand out
///   no cookies.
/// - **Records bound to their keys.** A store whose bytes someone else can
///   write (a database, a file, a Redis) is given a [`StoreKey`] when it is
///   made, seals every record it writes to the key it writes it under
///   ([`StoreKey::seal`]), and checks the tag on every read
///   ([`StoreKey::open`]). A record moved to another key, edited, or
///   written without the secret loads as absent, is deleted, and is logged
///   (`tracing` warning, never with the id): write access to the database
///   is not enough to become another user. An in-process store
///   ([`MemoryStore`]) holds nothing anyone else can write and needs no key.
/// - **Bounded, protected sessions protected.** A store holds at most a
///   configured number of sessions. When a new session finds it full it
///   drops expired sessions first, then the least recently used
///   unprotected ones; it never evicts a protected (logged-in) session to
///   make room, and when only protected sessions are left, `create` fails
///   with [`StoreError::Full`] (503).
/// - **Cheap counts.** [`occupancy`](SessionStore::occupancy) answers from
///   counts the store keeps as it goes, never from a scan.
///
/// Each async method returns a [`StoreFuture`] (a boxed future), so the
/// trait is usable as `dyn SessionStore`: write a body as
/// `Box::pin(async move { ... })`; a wrapper store returns the future of
/// the store it wraps as it is. The feature `testing` turns the rules above
/// and below into tests for a store of your own ([`testing`],
/// [`store_contract_tests!`](crate::store_contract_tests)), and
/// [Write your own store](crate::guide::custom_store) walks through one.
pub trait SessionStore: Send + Sync + 'static {
    /// Returns the live session `id`, or `None` when there is none, it has
    /// expired at `now`, its bytes do not decode, or its tag does not bind
    /// them to this key (the store deletes such a record and logs it). An
    /// error means the store could not answer, never "absent": the adapter
    /// must not create a session over it.
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>>;

    /// Loads the session `id` for a read-modify-write that ends in
    /// [`save`](SessionStore::save). The answer may come from a copy this
    /// process saw or wrote before, so it can be stale: the save's
    /// compare-and-swap then answers [`Saved::Conflict`], and the adapter
    /// calls [`load`](SessionStore::load) and retries. It must never call a
    /// live session absent or expired when [`load`](SessionStore::load)
    /// would not. The default is [`load`](SessionStore::load); a store with a
    /// network round trip per call overrides it to save one.
    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        self.load(id, now)
    }

    /// Runs `edit` on the live session `id` and stores the result, as one
    /// atomic step that never waits: for in-process stores, whose lock makes
    /// load, edit and save a single operation with no compare-and-swap.
    ///
    /// `None`, the default: the store has no such step, and the adapter
    /// uses [`load_for_update`](SessionStore::load_for_update) and
    /// [`save`](SessionStore::save). `Some(Ok(Some(stored)))`: the session
    /// as stored after the edit. `Some(Ok(None))`: no live session, or the
    /// edit returned `None`; nothing was written either way. `edit` runs
    /// under the store's lock: it is short and never calls the store.
    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>> {
        let _ = (id, now, edit);
        None
    }

    /// Stores a new session under `id`. If a live session already has that id
    /// it is left untouched and the answer is [`Created::IdTaken`]: a create
    /// never overwrites. A full store makes room as the trait's docs say, or
    /// fails with [`StoreError::Full`] when only protected sessions are left.
    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created>;

    /// Replaces the session `id` if its stored version is `expected_version`
    /// (compare-and-swap). A different version gives [`Saved::Conflict`]; no
    /// live session gives [`Saved::Missing`]. Either way nothing is written.
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved>;

    /// Removes the session `id`; removing an absent one is not an error.
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()>;

    /// Removes the session `id` if its stored version is `expected_version`
    /// (compare-and-delete), atomically with respect to every other write
    /// of `id`. A different version gives [`Removed::Conflict`]; no live
    /// session gives [`Removed::Missing`]. Either way nothing changes.
    ///
    /// `regenerate` moves a session to a new id with it, so that an update
    /// another server saved meanwhile is never deleted with the old id.
    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed>;

    /// Removes every session expired at `now`; returns how many. Stores whose
    /// backend expires keys itself (Redis TTLs) may return 0.
    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize>;

    /// How many sessions the store holds, and its bound, from counts the
    /// store keeps (O(1): never a scan of its sessions, so a status page
    /// that shows it costs the same with a million sessions as with one).
    /// `None`, the default, when the store keeps no such count: a page then
    /// says so instead of counting.
    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// An `Arc` of a store is that store, so a caller can keep a handle to
/// the store it gives the layer (to inspect it, or for a [`Sweeper`](crate::Sweeper)).
impl<T: SessionStore + ?Sized> SessionStore for std::sync::Arc<T> {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        T::load(self, id, now)
    }

    fn load_for_update<'a>(
        &'a self,
        id: &'a SessionId,
        now: Instant,
    ) -> StoreFuture<'a, Option<StoredSession>> {
        T::load_for_update(self, id, now)
    }

    fn edit_in_place(
        &self,
        id: &SessionId,
        now: Instant,
        edit: InPlaceEdit<'_>,
    ) -> Option<Result<Option<StoredSession>, StoreError>> {
        T::edit_in_place(self, id, now, edit)
    }

    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        T::create(self, id, record, now)
    }

    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        T::save(self, id, record, expected_version, now)
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        T::delete(self, id)
    }

    fn delete_version<'a>(
        &'a self,
        id: &'a SessionId,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Removed> {
        T::delete_version(self, id, expected_version, now)
    }

    fn purge_expired(&self, now: Instant) -> StoreFuture<'_, usize> {
        T::purge_expired(self, now)
    }

    fn occupancy(&self) -> StoreFuture<'_, Option<Occupancy>> {
        T::occupancy(self)
    }
}
