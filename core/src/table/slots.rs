//! Where a table keeps its entries: a fixed array or a hash map.

use crate::expiry::Deadlines;
use crate::owner::{SessionMeta, UserId};
use crate::{Instant, SessionId};

/// One stored session, whole: what a [`Slots`] takes in and gives back.
///
/// Its fields are private; a [`Table`](super::Table) reads them for you.
/// Both tables take it apart: a fixed table keeps its metadata in a pool
/// when it says something, a map table packs it (see `MapSlots`).
///
/// ```
/// use sesh::{table::{FixedSlots, Slots}, SessionId};
/// let slots = FixedSlots::<u32, 4>::new();
/// let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
/// assert!(slots.get(&id).is_none());
/// assert_eq!(slots.entries().count(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Entry<D> {
    pub(crate) id: SessionId,
    // The record's fields, flattened so that no padding sits between them.
    pub(crate) deadlines: Deadlines,
    pub(crate) protected: bool,
    pub(crate) data: D,
    /// The table's access counter at the last use, for LRU eviction.
    pub(crate) last_access: u32,
    /// Owner, label, times and lifetime. The owner changes only through
    /// [`Slots::edit_meta`], which keeps an owner index (or a pool) in step.
    pub(crate) meta: SessionMeta,
}

/// One stored session as a [`Slots`] shows it: its fields read out of
/// however the storage keeps them.
#[derive(Debug)]
pub struct EntryRef<'a, D> {
    pub(crate) id: SessionId,
    pub(crate) deadlines: Deadlines,
    pub(crate) protected: bool,
    pub(crate) last_access: u32,
    pub(crate) data: &'a D,
    /// Times of metadata a table did not keep read as zero.
    pub(crate) meta: &'a SessionMeta,
}

impl<D> Clone for EntryRef<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for EntryRef<'_, D> {}

/// One stored session to change, in [`Slots::change`]: the storage writes
/// the deadlines, flag and tick back when the change returns.
#[derive(Debug)]
pub struct EntryMut<'a, D> {
    pub(crate) deadlines: Deadlines,
    pub(crate) protected: bool,
    pub(crate) last_access: u32,
    pub(crate) data: &'a mut D,
    pub(crate) meta: &'a SessionMeta,
}

mod sealed {
    pub trait Sealed {}
}

/// The metadata a session says nothing with: no owner, no label, the
/// default lifetime, and times that were not kept (zero).
pub(crate) static NO_META: SessionMeta = SessionMeta::new(Instant::ZERO);

/// Whether `meta` says nothing a table must keep: no owner, no label,
/// the default lifetime (its times alone are not kept).
pub(crate) fn says_nothing(meta: &SessionMeta) -> bool {
    meta.owner.is_none()
        && meta.label.as_str().is_empty()
        && meta.lifetime == crate::expiry::Lifetime::Default
}
/// Storage behind a [`Table`](super::Table). Implemented by [`FixedSlots`](super::FixedSlots)
/// and, with feature `alloc`, `MapSlots`; sealed, since the
/// table's guarantees rest on these two.
///
/// Code generic over both kinds of table takes a `Table<S>` with `S: Slots`:
///
/// ```
/// use sesh::{table::{Slots, Table}, Instant, SessionTable};
/// fn live<S: Slots>(table: &Table<S>, now: Instant) -> usize {
///     table.iter().filter(|(_, r)| !r.deadlines.is_expired(now)).count()
/// }
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let mut table = SessionTable::<u32, 4>::new();
/// table.create(&mut rng, Instant::ZERO, 1).unwrap();
/// assert_eq!(live(&table, Instant::ZERO), 1);
/// ```
pub trait Slots: sealed::Sealed {
    /// The session data type.
    type Data;

    /// The most entries it can hold.
    fn capacity(&self) -> usize;
    /// The entries it holds.
    fn len(&self) -> usize;
    /// The most entries whose metadata says something (an owner, a label,
    /// a lifetime of their own) it can hold: a fixed table's pool.
    fn meta_capacity(&self) -> usize {
        usize::MAX
    }
    /// Whether one more entry's metadata can start to say something.
    fn meta_room(&self) -> bool {
        true
    }
    /// Whether it holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entry for `id`.
    fn get(&self, id: &SessionId) -> Option<EntryRef<'_, Self::Data>>;
    /// Changes the entry for `id` with `change`, unless `drop_if` says to
    /// remove it (then it is removed and `None` returned): one probe for
    /// both. With `seen`, records that use in the metadata (`last_seen`),
    /// where metadata is kept. Returns what `change` returned and the data.
    fn change<R>(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&EntryRef<'_, Self::Data>) -> bool,
        seen: Option<Instant>,
        change: impl FnOnce(&mut EntryMut<'_, Self::Data>) -> R,
    ) -> Option<(R, &mut Self::Data)>;
    /// Stores an entry whose id is not present; hands it back when full.
    // The entry comes back by value on purpose: no heap on a device.
    #[allow(clippy::result_large_err)]
    fn insert(&mut self, entry: Entry<Self::Data>) -> Result<(), Entry<Self::Data>>;
    /// Gives the entry for `id` the id `new_id` in place: it keeps its
    /// slot, so no room is needed and nothing can be lost on the way.
    /// False (and no change) if no entry has `id`. `new_id` must name no
    /// entry (the table draws it with `fresh_id`).
    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> bool;
    /// Takes the entry for `id` out.
    fn remove(&mut self, id: &SessionId) -> Option<Entry<Self::Data>>;
    /// Keeps the entries for which `keep` is true; returns how many went.
    fn retain(&mut self, keep: impl FnMut(&EntryRef<'_, Self::Data>) -> bool) -> usize;
    /// [`retain`](Slots::retain) over a slice of the storage: the
    /// positions `from..from + budget` of its own numbering, removing the
    /// entries for which `remove` is true. Returns how many went, and where
    /// the next slice starts (`None`: the end was reached). A storage that
    /// is small by construction may do it all in one slice.
    fn remove_in_slice(
        &mut self,
        from: usize,
        budget: usize,
        remove: impl FnMut(&EntryRef<'_, Self::Data>) -> bool,
    ) -> (usize, Option<usize>);
    /// Every entry, in no particular order.
    fn entries(&self) -> impl Iterator<Item = EntryRef<'_, Self::Data>>;
    /// Removes everything.
    fn clear(&mut self);
    /// Changes the metadata of the entry for `id` (its owner too, keeping
    /// the owner index in step); false if no entry has `id`. Metadata a
    /// map table did not keep starts here with its times at `now`, and
    /// goes again if it says nothing afterwards.
    fn edit_meta(
        &mut self,
        id: &SessionId,
        now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> bool;
    /// Every entry owned by `user`, live or not.
    fn owned_by<'a>(
        &'a self,
        user: &'a UserId,
    ) -> impl Iterator<Item = EntryRef<'a, Self::Data>> + 'a;
    /// Removes the entries owned by `user` for which `remove_if` is true;
    /// returns how many went. Costs what `user`'s entries cost where the
    /// storage keeps an index.
    fn remove_owned(
        &mut self,
        user: &UserId,
        remove_if: impl FnMut(&EntryRef<'_, Self::Data>) -> bool,
    ) -> usize;
}

pub(crate) use sealed::Sealed;
