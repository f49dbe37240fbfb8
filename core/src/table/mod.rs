//! Session tables: one set of rules over two kinds of storage.
//!
//! [`SessionTable<D, N>`](crate::SessionTable) keeps `N` sessions in an array
//! (no heap, usable in a `static`); `AllocSessionTable<D>` (feature `alloc`)
//! keeps them in a hash map. Both are a [`Table`] and share every rule below,
//! and the same tests run against both.

mod errors;
mod fixed;
#[cfg(feature = "alloc")]
mod map;
mod owners;
mod sign_in;
mod slots;
mod snapshot;

use rand_core::TryCryptoRng;

pub use errors::{CreateError, InsertError, MetaError, NotFound, RegenerateError};
pub use fixed::FixedSlots;
#[cfg(feature = "alloc")]
pub use map::{IdHasher, MapSlots};
use slots::says_nothing;
pub use slots::{Entry, EntryMut, EntryRef, Slots};
pub use snapshot::{RestoreError, SEALED_SNAPSHOT_VERSION, SNAPSHOT_VERSION, SnapshotError};

use crate::expiry::{Deadlines, ExpiryPolicy, Lifetime};
use crate::owner::{DEFAULT_MAX_SESSIONS_PER_USER, SessionMeta};
use crate::record::SessionRecord;
use crate::{Instant, SessionId};

/// How many fresh ids `create` and `regenerate` draw before giving up on an
/// RNG that keeps repeating live ids.
///
/// ```
/// # struct Stuck(usize); // repeats one id, counting the draws
/// # impl rand_core::TryRng for Stuck {
/// #     type Error = core::convert::Infallible;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(7) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(7) }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { self.0 += 1; d.fill(7); Ok(()) }
/// # }
/// # impl rand_core::TryCryptoRng for Stuck {}
/// use sesh::{table::{CreateError, ID_ATTEMPTS}, Instant, SessionTable};
/// let mut rng = Stuck(0);
/// let mut table = SessionTable::<u32, 4>::new();
/// table.create(&mut rng, Instant::ZERO, 1).unwrap();
/// assert_eq!(table.create(&mut rng, Instant::ZERO, 2), Err(CreateError::Collision(2)));
/// assert_eq!(rng.0, 1 + ID_ATTEMPTS);
/// ```
pub const ID_ATTEMPTS: usize = 4;

/// The most sessions a full table evicts at once (large tables only: a table
/// of fewer than 128 slots evicts exactly one). With feature `alloc`, tables
/// of more than [`LARGE_TABLE`] slots evict their oldest sixteenth instead.
pub const MAX_EVICTION_BATCH: usize = 64;

/// From this many slots on (with feature `alloc`), a full table evicts the
/// oldest sixteenth of its unprotected sessions at once, so that a flood of
/// new sessions scans each entry about 32 times per table's worth of
/// inserts, not once per [`MAX_EVICTION_BATCH`] inserts.
pub const LARGE_TABLE: usize = 64 * MAX_EVICTION_BATCH;

/// What one [`Table::purge_expired_slice`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SweepSlice {
    /// Expired sessions removed.
    pub purged: usize,
    /// Where the next slice starts; `None` when this one reached the end.
    pub next: Option<usize>,
}

/// What a use of a session did to its lifetime.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{Duration, Instant, SessionTable};
/// let mut table = SessionTable::<u32, 4>::new();
/// let now = Instant::from_secs(10);
/// let (_, access) = table.create(&mut rng, now, 1).unwrap();
/// assert!(access.refreshed && !access.protected); // new: send the cookie
/// assert_eq!(access.expires_at.saturating_duration_since(now), Duration::from_mins(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Access {
    /// When the session now expires; the cookie's `Max-Age` is
    /// `expires_at - now`, rounded up to seconds.
    pub expires_at: Instant,
    /// The idle deadline moved (or the session is new): send the cookie again
    /// so that its `Max-Age` matches, and persist the change.
    pub refreshed: bool,
    /// The session is marked logged in.
    pub protected: bool,
}

impl Access {
    fn of(deadlines: &Deadlines, refreshed: bool, protected: bool) -> Self {
        Access {
            expires_at: deadlines.expires_at(),
            refreshed,
            protected,
        }
    }
}

/// Mutable access to one stored session, from [`Table::update_record`].
#[derive(Debug)]
pub struct RecordMut<'a, D> {
    /// When the session expires; the caller owns these when it sets them.
    pub deadlines: &'a mut Deadlines,
    /// Logged in: never evicted to make room.
    pub protected: &'a mut bool,
    /// The application's data.
    pub data: &'a mut D,
    /// The session's metadata (owner, label, lifetime), as of this use,
    /// as [`Table::meta`] reads it.
    pub meta: &'a SessionMeta,
}

/// A session table: the rules of sesh over a kind of [`Slots`].
///
/// Every method that can look at a deadline takes `now`; the table never reads
/// a clock. Sessions are live while `now < expires_at` and are dropped when a
/// lookup finds them expired, whether or not [`Table::purge_expired`] ran.
///
/// When a new session needs a slot and none is free, the table first drops
/// expired sessions, then evicts the least recently used session that is not
/// [protected](Table::set_protected). When every session is protected,
/// creation fails and hands the data back.
///
/// ```
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// use sesh::{Instant, SessionTable};
/// let mut table = SessionTable::<u32, 1>::new();
/// let (a, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
/// let (b, _) = table.create(&mut rng, Instant::ZERO, 2).unwrap();
/// assert!(!table.contains(&a, Instant::ZERO)); // evicted to make room
/// assert_eq!(table.peek(&b, Instant::ZERO), Some(&2));
/// ```
#[derive(Debug)]
pub struct Table<S> {
    slots: S,
    policy: ExpiryPolicy,
    /// Counts uses for LRU order; 32 bits keep a slot small, and ages are
    /// compared with wrapping arithmetic, so only an entry idle for 2³² uses
    /// could look young again.
    uses: u32,
    /// No stored session expires before this (a lower bound, exact after a
    /// purge): a full table skips the purge scan until it has passed.
    expiry_floor: Instant,
    when_full: WhenFull,
    /// The most sessions one owner keeps (at least 1).
    max_per_user: usize,
}

/// What a full table does for a new session once its expired sessions are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WhenFull {
    /// Evict the least recently used session that is not protected (logged
    /// in). Anonymous visitors keep getting sessions; the oldest anonymous
    /// ones go. The default.
    #[default]
    EvictLeastRecentlyUsed,
    /// Refuse the new session ([`CreateError::Full`]; 503 on a host). Nobody
    /// loses a session, but a flood of new visitors is turned away until
    /// sessions expire.
    Refuse,
}

impl<D, const N: usize, const OWNED: usize> Table<FixedSlots<D, N, OWNED>> {
    /// An empty table of `N` slots and a metadata pool of `OWNED` entries,
    /// with the default [`ExpiryPolicy`].
    ///
    /// ```
    /// static TABLE: std::sync::Mutex<sesh::SessionTable<u32, 16>> =
    ///     std::sync::Mutex::new(sesh::SessionTable::new());
    /// assert_eq!(TABLE.lock().unwrap().capacity(), 16);
    /// ```
    pub const fn new() -> Self {
        Table {
            slots: FixedSlots::new(),
            policy: ExpiryPolicy::new(),
            uses: 0,
            expiry_floor: Instant::MAX,
            when_full: WhenFull::EvictLeastRecentlyUsed,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }
}

impl<D, const N: usize, const OWNED: usize> Default for Table<FixedSlots<D, N, OWNED>> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "alloc")]
impl<D> Table<MapSlots<D>> {
    /// An empty growable table that holds at most `max_sessions`.
    ///
    /// ```
    /// let table = sesh::AllocSessionTable::<u32>::with_max_sessions(100_000);
    /// assert_eq!(table.capacity(), 100_000);
    /// ```
    pub fn with_max_sessions(max_sessions: usize) -> Self {
        Table {
            slots: MapSlots::with_max(max_sessions),
            policy: ExpiryPolicy::new(),
            uses: 0,
            expiry_floor: Instant::MAX,
            when_full: WhenFull::EvictLeastRecentlyUsed,
            max_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }
}

impl<S: Slots> Table<S> {
    /// Replaces the expiry policy (`const`, so a `static` table can have one).
    ///
    /// ```
    /// use sesh::{Duration, ExpiryPolicy, SessionTable};
    /// const POLICY: ExpiryPolicy = ExpiryPolicy::new().with_idle_timeout(Duration::from_mins(5));
    /// static TABLE: std::sync::Mutex<SessionTable<u32, 8>> =
    ///     std::sync::Mutex::new(SessionTable::new().with_policy(POLICY));
    /// assert_eq!(TABLE.lock().unwrap().policy(), &POLICY);
    /// ```
    pub const fn with_policy(mut self, policy: ExpiryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The expiry policy.
    ///
    /// ```
    /// use sesh::{Duration, SessionTable};
    /// let table = SessionTable::<u32, 4>::new();
    /// assert_eq!(table.policy().idle_timeout(), Duration::from_mins(30));
    /// ```
    pub fn policy(&self) -> &ExpiryPolicy {
        &self.policy
    }

    /// Changes the expiry policy. Existing sessions keep their deadlines
    /// until their next refresh.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, ExpiryPolicy, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.set_policy(ExpiryPolicy::new().with_idle_timeout(Duration::from_mins(5)));
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert_eq!(table.next_expiry(), Some(Instant::ZERO + Duration::from_mins(5)));
    /// ```
    pub fn set_policy(&mut self, policy: ExpiryPolicy) {
        self.policy = policy;
    }

    /// Sets what a full table does for a new session once expired sessions
    /// are gone (default [`WhenFull::EvictLeastRecentlyUsed`]).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::table::{CreateError, WhenFull};
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 1>::new().with_when_full(WhenFull::Refuse);
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert_eq!(table.create(&mut rng, Instant::ZERO, 2), Err(CreateError::Full(2)));
    /// ```
    pub const fn with_when_full(mut self, when_full: WhenFull) -> Self {
        self.when_full = when_full;
        self
    }

    /// Sets the most sessions one user keeps (default
    /// [`DEFAULT_MAX_SESSIONS_PER_USER`], at least 1): giving a user one more
    /// ends that user's least recently used session
    /// ([`Table::set_owner`]).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{owner::UserId, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new().with_max_sessions_per_user(1);
    /// let alice = UserId::new(b"alice")?;
    /// let (a, _) = table.create(&mut rng, Instant::ZERO, 1)?;
    /// let (b, _) = table.create(&mut rng, Instant::ZERO, 2)?;
    /// table.set_owner(&a, alice.clone(), Instant::ZERO)?;
    /// assert_eq!(table.set_owner(&b, alice, Instant::ZERO)?.ended, Some(a));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn with_max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = if max == 0 { 1 } else { max };
        self
    }

    /// The most sessions one user keeps.
    pub const fn max_sessions_per_user(&self) -> usize {
        self.max_per_user
    }

    /// Changes what a full table does; see [`Table::with_when_full`].
    pub fn set_when_full(&mut self, when_full: WhenFull) {
        self.when_full = when_full;
    }

    /// Sessions held, live or not yet purged.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// let later = Instant::ZERO + Duration::from_hours(9);
    /// assert!(!table.contains(&id, later));
    /// assert_eq!(table.len(), 1); // expired, but not yet purged
    /// table.purge_expired(later);
    /// assert_eq!(table.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no session is held.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// assert!(table.is_empty());
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert!(!table.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slots.len() == 0
    }

    /// The most sessions the table holds.
    ///
    /// ```
    /// assert_eq!(sesh::SessionTable::<u32, 16>::new().capacity(), 16);
    /// ```
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Sessions marked protected (logged in), live or not yet purged.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// table.create(&mut rng, Instant::ZERO, 2).unwrap();
    /// table.set_protected(&id, Instant::ZERO, true).unwrap();
    /// assert_eq!((table.len(), table.protected_len()), (2, 1));
    /// ```
    pub fn protected_len(&self) -> usize {
        self.slots.entries().filter(|e| e.protected).count()
    }

    /// The most sessions whose metadata says something (an owner, a
    /// label, a lifetime of their own) the table keeps: a fixed table's
    /// pool of `OWNED` entries; unbounded (`usize::MAX`) for a map table.
    ///
    /// ```
    /// assert_eq!(sesh::SessionTable::<u32, 16>::new().meta_capacity(), 0);
    /// assert_eq!(sesh::SessionTable::<u32, 16, 4>::new().meta_capacity(), 4);
    /// ```
    pub fn meta_capacity(&self) -> usize {
        self.slots.meta_capacity()
    }

    /// Frees a metadata entry if none is free, as [`make_room`](Self::make_room)
    /// frees a slot: expired sessions first, then the least recently used
    /// unprotected session that holds one (never `except`). False if every
    /// holder is protected, or the table refuses to evict.
    fn make_meta_room(&mut self, now: Instant, except: Option<&SessionId>) -> bool {
        if self.slots.meta_room() {
            return true;
        }
        if now >= self.expiry_floor {
            self.purge_expired(now);
            if self.slots.meta_room() {
                return true;
            }
        }
        if self.when_full == WhenFull::Refuse {
            debug!("metadata pool full: refused");
            return false;
        }
        let uses = self.uses;
        let victim = self
            .slots
            .entries()
            .filter(|e| !e.protected && !says_nothing(e.meta) && Some(&e.id) != except)
            .max_by_key(|e| uses.wrapping_sub(e.last_access))
            .map(|e| e.id);
        debug!("metadata pool full: evicting the least recently used unprotected holder");
        victim.is_some_and(|id| self.slots.remove(&id).is_some()) && self.slots.meta_room()
    }

    fn next_use(&mut self) -> u32 {
        self.uses = self.uses.wrapping_add(1);
        self.uses
    }

    /// Whether `id` names a live entry, after dropping it if it has expired.
    fn live(&mut self, id: &SessionId, now: Instant) -> bool {
        self.slots
            .change(id, |e| e.deadlines.is_expired(now), None, |_| ())
            .is_some()
    }

    /// Marks a use of `id` at `now` (LRU order and the throttled refresh),
    /// then runs `then` on the entry: what it returned, the access and the
    /// data.
    fn touch<R>(
        &mut self,
        id: &SessionId,
        now: Instant,
        then: impl FnOnce(&mut EntryMut<'_, S::Data>) -> R,
    ) -> Option<(R, Access, &mut S::Data)> {
        let tick = self.next_use();
        let policy = self.policy;
        let ((out, access), data) = self.slots.change(
            id,
            |e| e.deadlines.is_expired(now),
            Some(now),
            |entry| {
                entry.last_access = tick;
                let refreshed = policy
                    .for_lifetime(entry.meta.lifetime)
                    .touch(&mut entry.deadlines, now);
                let access = Access::of(&entry.deadlines, refreshed, entry.protected);
                (then(entry), access)
            },
        )?;
        Some((out, access, data))
    }

    /// Reads a live session without counting a use (no LRU, no refresh).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 7).unwrap();
    /// assert_eq!(table.peek(&id, Instant::ZERO), Some(&7));
    /// ```
    pub fn peek(&self, id: &SessionId, now: Instant) -> Option<&S::Data> {
        let entry = self.slots.get(id)?;
        (!entry.deadlines.is_expired(now)).then_some(entry.data)
    }

    /// Whether `id` names a live session.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert!(table.contains(&id, Instant::ZERO));
    /// table.destroy(&id);
    /// assert!(!table.contains(&id, Instant::ZERO));
    /// ```
    pub fn contains(&self, id: &SessionId, now: Instant) -> bool {
        self.peek(id, now).is_some()
    }

    /// Reads a live session, counting a use.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 7).unwrap();
    /// let (data, access) = table.get(&id, Instant::from_secs(1)).unwrap();
    /// assert_eq!(*data, 7);
    /// assert!(!access.refreshed);
    /// assert!(table.get(&id, Instant::ZERO + Duration::from_hours(9)).is_none());
    /// ```
    pub fn get(&mut self, id: &SessionId, now: Instant) -> Option<(&S::Data, Access)> {
        let (_, access, data) = self.touch(id, now, |_| ())?;
        Some((&*data, access))
    }

    /// Changes a live session's data in one read-modify-write, counting a use.
    ///
    /// The closure runs while the caller holds the table (`&mut`), so two
    /// requests for one session cannot interleave their updates.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// let (count, _) = table.update(&id, Instant::ZERO, |n| { *n += 1; *n }).unwrap();
    /// assert_eq!(count, 2);
    /// ```
    pub fn update<R>(
        &mut self,
        id: &SessionId,
        now: Instant,
        change: impl FnOnce(&mut S::Data) -> R,
    ) -> Option<(R, Access)> {
        self.update_with(id, now, change, |data, change| change(data))
            .ok()
    }

    /// [`update`](Self::update) with a value for the change that comes back
    /// (`Err(value)`, nothing run) when no live session has `id`. A caller
    /// that then starts a session with that value (or closure) has nothing
    /// left over that "cannot" be missing.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<String, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, "old".into()).unwrap();
    /// let set = |d: &mut String, new: String| *d = new;
    /// assert!(table.update_with(&id, Instant::ZERO, "new".into(), set).is_ok());
    /// assert_eq!(table.peek(&id, Instant::ZERO).map(String::as_str), Some("new"));
    /// table.destroy(&id);
    /// let back = table.update_with(&id, Instant::ZERO, "kept".to_string(), set);
    /// assert_eq!(back.unwrap_err(), "kept");
    /// ```
    pub fn update_with<V, R>(
        &mut self,
        id: &SessionId,
        now: Instant,
        value: V,
        change: impl FnOnce(&mut S::Data, V) -> R,
    ) -> Result<(R, Access), V> {
        match self.touch(id, now, |_| ()) {
            Some((_, access, data)) => Ok((change(data, value), access)),
            None => Err(value),
        }
    }

    /// Changes a live session's whole record (data, flag and deadlines) in
    /// one step, counting a use. Host stores use it to save a record whose
    /// deadlines the adapter computed; the table's policy still applies on
    /// later lookups.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// table.update_record(&id, Instant::ZERO, |r| { *r.data = 2; *r.protected = true; }).unwrap();
    /// assert_eq!(table.protected_len(), 1);
    /// ```
    pub fn update_record<R>(
        &mut self,
        id: &SessionId,
        now: Instant,
        change: impl FnOnce(RecordMut<'_, S::Data>) -> R,
    ) -> Option<R> {
        let ((out, deadlines), _, _) = self.touch(id, now, |entry| {
            let out = change(RecordMut {
                deadlines: &mut entry.deadlines,
                protected: &mut entry.protected,
                data: &mut *entry.data,
                meta: entry.meta,
            });
            (out, entry.deadlines)
        })?;
        self.note_deadline(&deadlines);
        Some(out)
    }

    /// Marks a live session protected (logged in) or not, counting a use.
    /// Protected sessions are never evicted to make room.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert!(table.set_protected(&id, Instant::ZERO, true).unwrap().protected);
    /// ```
    pub fn set_protected(
        &mut self,
        id: &SessionId,
        now: Instant,
        protected: bool,
    ) -> Result<Access, NotFound> {
        let (_, mut access, _) = self
            .touch(id, now, |entry| entry.protected = protected)
            .ok_or(NotFound)?;
        access.protected = protected;
        Ok(access)
    }

    /// Removes a session and returns its data (expired or not).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert_eq!(table.destroy(&id), Some(1));
    /// assert_eq!(table.destroy(&id), None);
    /// ```
    pub fn destroy(&mut self, id: &SessionId) -> Option<S::Data> {
        self.slots.remove(id).map(|e| e.data)
    }

    /// Draws an id that names no stored session.
    fn fresh_id<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<SessionId, FreshIdError> {
        for _ in 0..ID_ATTEMPTS {
            let id = SessionId::generate(rng).map_err(|_| FreshIdError::Rng)?;
            if self.slots.get(&id).is_none() {
                return Ok(id);
            }
        }
        Err(FreshIdError::Collision)
    }

    /// Frees a slot if the table is full: expired sessions first, then the
    /// least recently used unprotected one. False if every slot is protected.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.slots.len() < self.slots.capacity() {
            return true;
        }
        if now >= self.expiry_floor && self.purge_expired(now) > 0 {
            return true;
        }
        if self.when_full == WhenFull::Refuse {
            debug!("table full: a new session is refused");
            return false;
        }
        // A full table under load is what an operator wants to see.
        debug!("table full: evicting the least recently used unprotected sessions");
        #[cfg(feature = "alloc")]
        if self.slots.capacity() > LARGE_TABLE {
            return self.evict_oldest(self.slots.capacity() / 16);
        }
        // Large tables evict a batch of the oldest at once, so that a flood of
        // new sessions costs one scan per batch rather than one per session.
        let batch = (self.slots.capacity() / 64).clamp(1, MAX_EVICTION_BATCH);
        let mut oldest: heapless::Vec<(u32, SessionId), MAX_EVICTION_BATCH> = heapless::Vec::new();
        // The youngest of the batch so far, kept so that most entries cost
        // one comparison (the batch is rescanned only when it changes).
        let mut youngest: Option<(usize, u32)> = None;
        for entry in self.slots.entries().filter(|e| !e.protected) {
            let age = self.uses.wrapping_sub(entry.last_access);
            if oldest.len() < batch {
                let _ = oldest.push((age, entry.id));
                youngest = None;
                continue;
            }
            let (index, youngest_age) = match youngest {
                Some(found) => found,
                None => {
                    let found = youngest_of(&oldest);
                    youngest = Some(found);
                    found
                }
            };
            if age > youngest_age
                && let Some(slot) = oldest.get_mut(index)
            {
                *slot = (age, entry.id);
                youngest = None;
            }
        }
        let mut freed = false;
        for (_, id) in &oldest {
            freed |= self.slots.remove(id).is_some();
        }
        freed
    }

    /// Evicts the `count` least recently used unprotected sessions (ties at
    /// the cut may spare a few): two passes and no per-entry search.
    #[cfg(feature = "alloc")]
    fn evict_oldest(&mut self, count: usize) -> bool {
        let uses = self.uses;
        let mut ages: alloc::vec::Vec<u32> = self
            .slots
            .entries()
            .filter(|e| !e.protected)
            .map(|e| uses.wrapping_sub(e.last_access))
            .collect();
        let count = count.clamp(1, ages.len().max(1));
        let Some(cut) = ages.len().checked_sub(count) else {
            return false;
        };
        let (_, threshold, _) = ages.select_nth_unstable(cut);
        let threshold = *threshold;
        let victims: alloc::vec::Vec<SessionId> = self
            .slots
            .entries()
            .filter(|e| !e.protected && uses.wrapping_sub(e.last_access) >= threshold)
            .map(|e| e.id)
            .take(count)
            .collect();
        let mut freed = false;
        for id in &victims {
            freed |= self.slots.remove(id).is_some();
        }
        freed
    }

    /// Stores a new session with `data` under a fresh id.
    ///
    /// This is the lazy step: adapters call it only once a handler writes,
    /// so a visitor who never stores anything takes no slot.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{table::CreateError, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 1>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// table.set_protected(&id, Instant::ZERO, true).unwrap();
    /// assert_eq!(table.create(&mut rng, Instant::ZERO, 2), Err(CreateError::Full(2)));
    /// ```
    pub fn create<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: Instant,
        data: S::Data,
    ) -> Result<(SessionId, Access), CreateError<S::Data>> {
        let id = match self.fresh_id(rng) {
            Ok(id) => id,
            Err(e) => return Err(e.refusing(data)),
        };
        let record = SessionRecord {
            deadlines: self.policy.start(now),
            protected: false,
            data,
        };
        match self.insert_entry(id, record, SessionMeta::new(now), now) {
            Ok(access) => Ok((id, access)),
            Err(record) => Err(CreateError::Full(record.data)),
        }
    }

    fn insert_entry(
        &mut self,
        id: SessionId,
        record: SessionRecord<S::Data>,
        meta: SessionMeta,
        now: Instant,
    ) -> Result<Access, SessionRecord<S::Data>> {
        // Room for the metadata first: an eviction for it frees a slot too,
        // and a refusal then has evicted nothing for the slot.
        if !says_nothing(&meta) && !self.make_meta_room(now, None) {
            return Err(record);
        }
        if !self.make_room(now) {
            return Err(record);
        }
        let access = Access::of(&record.deadlines, true, record.protected);
        let last_access = self.next_use();
        self.note_deadline(&record.deadlines);
        let entry = Entry {
            id,
            deadlines: record.deadlines,
            protected: record.protected,
            data: record.data,
            last_access,
            meta,
        };
        self.slots.insert(entry).map_err(|e| SessionRecord {
            deadlines: e.deadlines,
            protected: e.protected,
            data: e.data,
        })?;
        Ok(access)
    }

    /// Stores a session under an id the caller chose, as host stores do when
    /// the adapter has already drawn the id. The deadlines are capped by the
    /// policy. A live session with that id is never overwritten; an expired
    /// one is replaced.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{record::SessionRecord, table::InsertError, Instant, SessionId, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let id = SessionId::generate(&mut rng).unwrap();
    /// let record = SessionRecord { deadlines: table.policy().start(Instant::ZERO), protected: false, data: 1 };
    /// table.insert(id, record.clone(), Instant::ZERO).unwrap();
    /// assert_eq!(table.insert(id, record, Instant::ZERO).unwrap_err(), InsertError::Exists(1));
    /// ```
    pub fn insert(
        &mut self,
        id: SessionId,
        record: SessionRecord<S::Data>,
        now: Instant,
    ) -> Result<Access, InsertError<S::Data>> {
        self.insert_with_meta(id, record, SessionMeta::new(now), now)
    }

    /// As [`Table::insert`], with the session's metadata (owner, label,
    /// times, lifetime), as a store that kept it hands it back. The
    /// deadlines are capped by the session's own lifetime. The per-user cap
    /// is not applied here: it applies when [`Table::set_owner`] gives a
    /// user a session.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{expiry::Lifetime, owner::{SessionMeta, UserId}, record::SessionRecord, Instant, SessionId, SessionTable};
    /// let mut table = SessionTable::<u32, 4, 4>::new();
    /// let id = SessionId::generate(&mut rng)?;
    /// let deadlines = table.policy().for_lifetime(Lifetime::REMEMBER_ME).start(Instant::ZERO);
    /// let meta = SessionMeta { owner: Some(UserId::new(b"alice")?), lifetime: Lifetime::REMEMBER_ME, ..SessionMeta::new(Instant::ZERO) };
    /// table.insert_with_meta(id, SessionRecord { deadlines, protected: true, data: 1 }, meta, Instant::ZERO)?;
    /// assert_eq!(table.next_expiry(), Some(deadlines.expires_at())); // not capped to 30 minutes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert_with_meta(
        &mut self,
        id: SessionId,
        mut record: SessionRecord<S::Data>,
        meta: SessionMeta,
        now: Instant,
    ) -> Result<Access, InsertError<S::Data>> {
        if self.live(&id, now) {
            return Err(InsertError::Exists(record.data));
        }
        record.deadlines = self
            .policy
            .for_lifetime(meta.lifetime)
            .clamp(record.deadlines, now);
        if record.deadlines.is_expired(now) {
            return Err(InsertError::Expired(record.data));
        }
        self.insert_entry(id, record, meta, now)
            .map_err(|r| InsertError::Full(r.data))
    }

    /// Moves a live session to a fresh id, keeping its data and protected
    /// flag, and starts its lifetime again. The old id stops working at once.
    ///
    /// Call it at every change of privilege, above all at login: an id an
    /// attacker planted before login is then worthless (session fixation).
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (old, _) = table.create(&mut rng, Instant::ZERO, 5).unwrap();
    /// let (new, _) = table.regenerate(&old, &mut rng, Instant::ZERO).unwrap();
    /// assert!(!table.contains(&old, Instant::ZERO));
    /// assert_eq!(table.peek(&new, Instant::ZERO), Some(&5));
    /// ```
    pub fn regenerate<R: TryCryptoRng + ?Sized>(
        &mut self,
        id: &SessionId,
        rng: &mut R,
        now: Instant,
    ) -> Result<(SessionId, Access), RegenerateError> {
        if !self.live(id, now) {
            return Err(RegenerateError::NotFound);
        }
        let new_id = self.fresh_id(rng).map_err(|e| match e {
            FreshIdError::Rng => RegenerateError::Rng,
            FreshIdError::Collision => RegenerateError::Collision,
        })?;
        let lifetime = self
            .slots
            .get(id)
            .map_or(Lifetime::Default, |e| e.meta.lifetime);
        let deadlines = self.policy.for_lifetime(lifetime).start(now);
        let last_access = self.next_use();
        // The entry changes its id in place (it keeps its slot): there is no
        // remove-then-insert that could fail and drop the session. `id` is
        // stored (checked above), so `None` is only an honest "not found".
        if !self.slots.rekey(id, new_id) {
            return Err(RegenerateError::NotFound);
        }
        let (protected, _) = self
            .slots
            .change(
                &new_id,
                |_| false,
                Some(now),
                |entry| {
                    entry.deadlines = deadlines;
                    entry.last_access = last_access;
                    entry.protected
                },
            )
            .ok_or(RegenerateError::NotFound)?;
        let access = Access::of(&deadlines, true, protected);
        self.note_deadline(&deadlines);
        Ok((new_id, access))
    }

    /// Drops every session that has expired at `now`; returns how many.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert_eq!(table.purge_expired(Instant::ZERO + Duration::from_hours(9)), 1);
    /// assert!(table.is_empty());
    /// ```
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let mut floor = Instant::MAX;
        let purged = self.slots.retain(|e| {
            let live = !e.deadlines.is_expired(now);
            if live {
                floor = floor.min(e.deadlines.expires_at());
            }
            live
        });
        self.expiry_floor = floor;
        purged
    }

    /// [`purge_expired`](Self::purge_expired) in slices, for a caller that
    /// must not hold the table for all of it (a lock other requests wait
    /// on): removes the sessions expired at `now` among the next `budget`
    /// positions from `from` (start at 0) and says where the next slice
    /// starts. Positions are the storage's own: a fixed table does it all
    /// in one slice; the map table walks its slab slots, so a slice costs
    /// `budget` slot checks at most, wherever it is.
    ///
    /// ```
    /// # #[cfg(feature = "alloc")] {
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{AllocSessionTable, Duration, Instant};
    /// let mut table: AllocSessionTable<u32> = AllocSessionTable::with_max_sessions(10_000);
    /// for n in 0..5_000 {
    ///     table.create(&mut rng, Instant::ZERO, n).unwrap();
    /// }
    /// let later = Instant::ZERO + Duration::from_hours(9);
    /// let (mut purged, mut from) = (0, Some(0));
    /// while let Some(start) = from {
    ///     let slice = table.purge_expired_slice(later, start, 1_024);
    ///     purged += slice.purged;
    ///     from = slice.next; // between slices, others may use the table
    /// }
    /// assert_eq!((purged, table.len()), (5_000, 0));
    /// # }
    /// ```
    pub fn purge_expired_slice(&mut self, now: Instant, from: usize, budget: usize) -> SweepSlice {
        let (purged, next) = self
            .slots
            .remove_in_slice(from, budget, |e| e.deadlines.is_expired(now));
        SweepSlice { purged, next }
    }

    /// Lowers the expiry floor for a deadline just stored.
    fn note_deadline(&mut self, deadlines: &Deadlines) {
        self.expiry_floor = self.expiry_floor.min(deadlines.expires_at());
    }

    /// When the next session expires, if any: a sweeper sleeps until then.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Duration, Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// assert_eq!(table.next_expiry(), None);
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// assert_eq!(table.next_expiry(), Some(Instant::ZERO + Duration::from_mins(30)));
    /// ```
    pub fn next_expiry(&self) -> Option<Instant> {
        self.slots.entries().map(|e| e.deadlines.expires_at()).min()
    }

    /// Every stored session (live or not yet purged), in no particular order.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// table.create(&mut rng, Instant::ZERO, 2).unwrap();
    /// let mut data: Vec<u32> = table.iter().map(|(_, record)| *record.data).collect();
    /// data.sort();
    /// assert_eq!(data, [1, 2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, SessionRecord<&S::Data>)> {
        self.iter_with_meta().map(|(id, record, _)| (id, record))
    }

    /// Removes every session.
    ///
    /// ```
    /// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    /// use sesh::{Instant, SessionTable};
    /// let mut table = SessionTable::<u32, 4>::new();
    /// let (id, _) = table.create(&mut rng, Instant::ZERO, 1).unwrap();
    /// table.clear();
    /// assert!(table.is_empty() && !table.contains(&id, Instant::ZERO));
    /// ```
    pub fn clear(&mut self) {
        self.slots.clear();
        self.expiry_floor = Instant::MAX;
    }
}

enum FreshIdError {
    Rng,
    Collision,
}

impl FreshIdError {
    /// The refusal of a new session holding `data`, which comes back.
    fn refusing<D>(self, data: D) -> CreateError<D> {
        match self {
            FreshIdError::Rng => CreateError::Rng(data),
            FreshIdError::Collision => CreateError::Collision(data),
        }
    }
}

/// The index and age of the youngest entry of an eviction batch.
fn youngest_of(batch: &[(u32, SessionId)]) -> (usize, u32) {
    batch
        .iter()
        .enumerate()
        .min_by_key(|(_, (age, _))| *age)
        .map_or((0, 0), |(index, (age, _))| (index, *age))
}

#[cfg(test)]
mod tests;
