//! The storage interface every backend implements.

mod key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(any(feature = "redb", feature = "postgres"))]
mod write_cache;

use std::future::Future;
use std::pin::Pin;

pub use key::{StoreKey, TAG_LEN};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{BadTableName, PostgresConfig, PostgresStore, SCHEMA_VERSION};
#[cfg(feature = "redb")]
pub use redb::RedbStore;
#[cfg(feature = "redis")]
pub use redis::{EvictionPolicyRefused, RedisConfig, RedisStore};
use sesh::expiry::{Deadlines, Lifetime};
use sesh::owner::{DisplayTag, SessionInfo, SessionMeta, UserId};
use sesh::record::SessionRecord;
use sesh::{Instant, SessionId};

/// What every async [`SessionStore`] method returns: a boxed future, so
/// that the trait is usable as `dyn SessionStore` (the layer holds an
/// `Arc<dyn SessionStore>`). An implementation writes
/// `Box::pin(async move { ... })`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A session as a store holds it: the core's record with the data encoded,
/// its metadata, and a version for compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Deadlines, protected flag and the encoded data.
    pub record: SessionRecord<Vec<u8>>,
    /// Changes on every successful save; `save` compares it.
    pub version: u64,
    /// Owner, label, times and lifetime. A record written before record
    /// version 2 loads with [`SessionMeta::default`] (no owner).
    pub meta: SessionMeta,
}

/// What [`SessionStore::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The user's live session with that tag is gone.
    Ended,
    /// No live session of that user has that tag (an unknown tag, or
    /// another user's session): nothing was removed.
    NotFound,
}

/// The edit [`SessionStore::edit_in_place`] runs: it may change the
/// session's deadlines and protected flag, gets its data and its lifetime
/// (which its deadlines follow), and returns the new data, or `None` to
/// leave the session untouched.
pub type InPlaceEdit<'a> =
    &'a mut dyn FnMut(&mut Deadlines, &mut bool, &[u8], Lifetime) -> Option<Vec<u8>>;

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
/// - **Owners.** Each session carries a [`SessionMeta`], written with the
///   record. A store keeps a user → sessions index that changes in the
///   same atomic step as the record on every write and every removal
///   (delete, purge, eviction), so that listing a user's sessions never
///   shows a gone one and never misses a live one, and
///   [`revoke_all`](SessionStore::revoke_all) costs what that user's
///   sessions cost, not what the store's do. Persistent stores key the
///   index by a keyed hash of the user id ([`StoreKey::hash_user`]) and keep
///   each session's [`DisplayTag`] in it, as they never keep the id. A
///   write that gives a session an owner it did not have ends that user's
///   least recently used other session (by `last_seen`) when the user would
///   pass the store's per-user cap
///   ([`DEFAULT_MAX_SESSIONS_PER_USER`](sesh::owner::DEFAULT_MAX_SESSIONS_PER_USER)
///   unless set).
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

    /// Stores a new session under `id`, with [`SessionMeta::new`]`(now)`
    /// (no owner). If a live session already has that id it is left
    /// untouched and the answer is [`Created::IdTaken`]: a create never
    /// overwrites. A full store makes room as the trait's docs say, or fails
    /// with [`StoreError::Full`] when only protected sessions are left.
    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        now: Instant,
    ) -> StoreFuture<'a, Created>;

    /// [`create`](SessionStore::create) with `meta` (its `last_seen`
    /// becomes `now`): a regenerated session keeps its owner, label,
    /// creation time and lifetime this way. With an owner, the per-user cap
    /// applies as the trait's docs say, in the same atomic step.
    ///
    /// The default, for a store that keeps no metadata, stores a session
    /// whose `meta` has no owner, label or lifetime with
    /// [`create`](SessionStore::create), and refuses any other with
    /// [`NoOwnerIndex`]. A store that wraps another forwards it.
    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        let plain = meta.owner.is_none()
            && meta.label.as_str().is_empty()
            && meta.lifetime == sesh::expiry::Lifetime::Default;
        if plain {
            self.create(id, record, now)
        } else {
            no_owner_index()
        }
    }

    /// Replaces the session `id` if its stored version is `expected_version`
    /// (compare-and-swap), keeping its metadata (but `last_seen`, which
    /// becomes `now`). A different version gives [`Saved::Conflict`]; no
    /// live session gives [`Saved::Missing`]. Either way nothing is written.
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved>;

    /// [`save`](SessionStore::save), which with `Some(meta)` also gives the
    /// session `meta`'s owner, label and lifetime (its creation time stays
    /// as stored, `last_seen` becomes `now`), and moves it in the owner
    /// index in the same atomic step; a new owner is subject to the
    /// per-user cap. `None` is [`save`](SessionStore::save). This is how a
    /// handler marks a session as a user's at login.
    ///
    /// The default, for a store that keeps no metadata: `None` is
    /// [`save`](SessionStore::save), `Some` fails with [`NoOwnerIndex`].
    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        match meta {
            None => self.save(id, record, expected_version, now),
            Some(_) => no_owner_index(),
        }
    }

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

    /// `user`'s live sessions at `now`, in no particular order, each with
    /// its [`DisplayTag`]; `current` (the request's session) is marked. Never
    /// a session that is gone or expired, never one missing; nothing counts
    /// as a use. The cost grows with the user's sessions, not the store's.
    /// The default fails with [`NoOwnerIndex`].
    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        let _ = (user, current, now);
        no_owner_index()
    }

    /// Ends `user`'s live session whose display tag is `tag`. A tag of
    /// another user's session, of an expired one, or an unknown tag ends
    /// nothing: [`Revoked::NotFound`]. What it ends is gone for every
    /// process sharing the store at once, as after a
    /// [`delete`](SessionStore::delete). The default fails with
    /// [`NoOwnerIndex`].
    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        let _ = (user, tag, now);
        no_owner_index()
    }

    /// Ends every session of `user` but `except` (the current one, if
    /// given); answers how many live sessions ended. The cost grows with
    /// the user's sessions, not the store's. The default fails with
    /// [`NoOwnerIndex`].
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        let _ = (user, except, now);
        no_owner_index()
    }
}

/// The store keeps no owner index: the default of the owner methods of
/// [`SessionStore`] (as [`StoreError::Backend`]), for a store written
/// before owners, or a wrapper that does not forward them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoOwnerIndex;

impl std::fmt::Display for NoOwnerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this session store keeps no session owners")
    }
}

impl std::error::Error for NoOwnerIndex {}

fn no_owner_index<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Err(StoreError::Backend(Box::new(
        NoOwnerIndex,
    )))))
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

    fn create_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: &'a SessionMeta,
        now: Instant,
    ) -> StoreFuture<'a, Created> {
        T::create_with_meta(self, id, record, meta, now)
    }

    fn save_with_meta<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a SessionRecord<Vec<u8>>,
        meta: Option<&'a SessionMeta>,
        expected_version: u64,
        now: Instant,
    ) -> StoreFuture<'a, Saved> {
        T::save_with_meta(self, id, record, meta, expected_version, now)
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

    fn sessions_of<'a>(
        &'a self,
        user: &'a UserId,
        current: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, Vec<SessionInfo>> {
        T::sessions_of(self, user, current, now)
    }

    fn revoke<'a>(
        &'a self,
        user: &'a UserId,
        tag: &'a DisplayTag,
        now: Instant,
    ) -> StoreFuture<'a, Revoked> {
        T::revoke(self, user, tag, now)
    }

    fn revoke_all<'a>(
        &'a self,
        user: &'a UserId,
        except: Option<&'a SessionId>,
        now: Instant,
    ) -> StoreFuture<'a, usize> {
        T::revoke_all(self, user, except, now)
    }
}
