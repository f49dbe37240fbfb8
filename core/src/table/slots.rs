//! Where a table keeps its entries: a fixed array or a hash map.

use crate::SessionId;
use crate::expiry::Deadlines;
use crate::owner::{SessionMeta, UserId};

/// One stored session.
///
/// Its fields are private; a [`Table`](super::Table) reads them for you.
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
    /// [`Slots::set_owner`], which keeps an owner index in step.
    pub(crate) meta: SessionMeta,
}

mod sealed {
    pub trait Sealed {}
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
    /// Whether it holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entry for `id`.
    fn get(&self, id: &SessionId) -> Option<&Entry<Self::Data>>;
    /// The entry for `id`, to change.
    fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry<Self::Data>>;
    /// The entry for `id`, to change, unless `drop_if` says to remove it
    /// (then it is removed and `None` returned): one probe for both.
    fn get_mut_unless(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&Entry<Self::Data>) -> bool,
    ) -> Option<&mut Entry<Self::Data>>;
    /// Stores an entry whose id is not present; hands it back when full.
    // The entry comes back by value on purpose: no heap on a device.
    #[allow(clippy::result_large_err)]
    fn insert(&mut self, entry: Entry<Self::Data>) -> Result<(), Entry<Self::Data>>;
    /// Gives the entry for `id` the id `new_id` in place: it keeps its
    /// slot, so no room is needed and nothing can be lost on the way.
    /// `None` (and no change) if no entry has `id`. `new_id` must name no
    /// entry (the table draws it with `fresh_id`).
    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> Option<&mut Entry<Self::Data>>;
    /// Takes the entry for `id` out.
    fn remove(&mut self, id: &SessionId) -> Option<Entry<Self::Data>>;
    /// Keeps the entries for which `keep` is true; returns how many went.
    fn retain(&mut self, keep: impl FnMut(&Entry<Self::Data>) -> bool) -> usize;
    /// Every entry, in no particular order.
    fn entries(&self) -> impl Iterator<Item = &Entry<Self::Data>>;
    /// Removes everything.
    fn clear(&mut self);
    /// Gives the entry for `id` the owner `owner` (or none); false if no
    /// entry has `id`.
    fn set_owner(&mut self, id: &SessionId, owner: Option<UserId>) -> bool;
    /// Every entry owned by `user`, live or not.
    fn owned_by<'a>(&'a self, user: &'a UserId)
    -> impl Iterator<Item = &'a Entry<Self::Data>> + 'a;
    /// Removes the entries owned by `user` for which `remove_if` is true;
    /// returns how many went. Costs what `user`'s entries cost where the
    /// storage keeps an index.
    fn remove_owned(
        &mut self,
        user: &UserId,
        remove_if: impl FnMut(&Entry<Self::Data>) -> bool,
    ) -> usize;
}

pub(crate) use sealed::Sealed;
