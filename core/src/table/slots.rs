//! Where a table keeps its entries: a fixed array or a hash map.

use crate::expiry::{Deadlines, Lifetime};
use crate::owner::{SessionMeta, UserId};
use crate::{Instant, SessionId};

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
pub struct Entry<D, M = SessionMeta> {
    pub(crate) id: SessionId,
    // The record's fields, flattened so that no padding sits between them.
    pub(crate) deadlines: Deadlines,
    pub(crate) protected: bool,
    pub(crate) data: D,
    /// The table's access counter at the last use, for LRU eviction.
    pub(crate) last_access: u32,
    /// Owner, label, times and lifetime, as the storage keeps them
    /// ([`Slots::Meta`]). The owner changes only through
    /// [`Slots::set_owner`], which keeps an owner index in step.
    pub(crate) meta: M,
}

mod sealed {
    pub trait Sealed {}
}

#[cfg(feature = "alloc")]
/// The metadata a session says nothing with: no owner, no label, the
/// default lifetime, and times that were not kept (zero).
static NO_META: SessionMeta = SessionMeta::new(Instant::ZERO);

/// How a kind of [`Slots`] keeps a session's [`SessionMeta`] in its entry.
/// Sealed: a fixed table keeps it whole in the slot (no heap); an
/// `AllocSessionTable` keeps it on the heap, and only when it says
/// something (an owner, a label or a lifetime), so that an anonymous
/// session's entry stays small.
///
/// ```
/// use sesh::{owner::SessionMeta, table::MetaCell, Instant};
/// let cell = <SessionMeta as MetaCell>::keep(SessionMeta::new(Instant::from_secs(3)));
/// assert_eq!(cell.get().created, Instant::from_secs(3));
/// ```
pub trait MetaCell: sealed::Sealed {
    /// A cell for `meta`. A cell that keeps only metadata which says
    /// something drops `meta` (times included) when it has no owner, no
    /// label and the default lifetime.
    fn keep(meta: SessionMeta) -> Self;
    /// The metadata; times of metadata that was not kept read as zero.
    fn get(&self) -> &SessionMeta;
    /// The lifetime (the default when no metadata is kept).
    fn lifetime(&self) -> Lifetime {
        self.get().lifetime
    }
    /// Records a use at `now` (`last_seen`), where metadata is kept.
    fn seen(&mut self, now: Instant);
    /// The metadata, to change; a cell that kept none starts it here, with
    /// `created` and `last_seen` at `now`.
    fn edit(&mut self, now: Instant) -> &mut SessionMeta;
    /// After an edit: drops metadata that says nothing any more, in a cell
    /// that keeps only the rest.
    fn settle(&mut self);
}

impl Sealed for SessionMeta {}

impl MetaCell for SessionMeta {
    fn keep(meta: SessionMeta) -> Self {
        meta
    }

    fn get(&self) -> &SessionMeta {
        self
    }

    fn seen(&mut self, now: Instant) {
        self.last_seen = now;
    }

    fn edit(&mut self, _now: Instant) -> &mut SessionMeta {
        self
    }

    fn settle(&mut self) {}
}

#[cfg(feature = "alloc")]
/// Whether `meta` says nothing a table must keep: no owner, no label, the
/// default lifetime (its times alone are not kept).
fn says_nothing(meta: &SessionMeta) -> bool {
    meta.owner.is_none() && meta.label.as_str().is_empty() && meta.lifetime == Lifetime::Default
}

#[cfg(feature = "alloc")]
impl Sealed for Option<alloc::boxed::Box<SessionMeta>> {}

/// The `AllocSessionTable`'s cell: one pointer in the entry, and a heap
/// block only for a session with an owner, a label or a lifetime.
#[cfg(feature = "alloc")]
impl MetaCell for Option<alloc::boxed::Box<SessionMeta>> {
    fn keep(meta: SessionMeta) -> Self {
        (!says_nothing(&meta)).then(|| alloc::boxed::Box::new(meta))
    }

    fn get(&self) -> &SessionMeta {
        self.as_deref().unwrap_or(&NO_META)
    }

    fn seen(&mut self, now: Instant) {
        if let Some(meta) = self {
            meta.last_seen = now;
        }
    }

    fn edit(&mut self, now: Instant) -> &mut SessionMeta {
        self.get_or_insert_with(|| alloc::boxed::Box::new(SessionMeta::new(now)))
    }

    fn settle(&mut self) {
        if self.as_deref().is_some_and(says_nothing) {
            *self = None;
        }
    }
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
    /// How an entry keeps its metadata.
    type Meta: MetaCell;

    /// The most entries it can hold.
    fn capacity(&self) -> usize;
    /// The entries it holds.
    fn len(&self) -> usize;
    /// Whether it holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entry for `id`.
    fn get(&self, id: &SessionId) -> Option<&Entry<Self::Data, Self::Meta>>;
    /// The entry for `id`, to change.
    fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry<Self::Data, Self::Meta>>;
    /// The entry for `id`, to change, unless `drop_if` says to remove it
    /// (then it is removed and `None` returned): one probe for both.
    fn get_mut_unless(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&Entry<Self::Data, Self::Meta>) -> bool,
    ) -> Option<&mut Entry<Self::Data, Self::Meta>>;
    /// Stores an entry whose id is not present; hands it back when full.
    // The entry comes back by value on purpose: no heap on a device.
    #[allow(clippy::result_large_err)]
    fn insert(
        &mut self,
        entry: Entry<Self::Data, Self::Meta>,
    ) -> Result<(), Entry<Self::Data, Self::Meta>>;
    /// Gives the entry for `id` the id `new_id` in place: it keeps its
    /// slot, so no room is needed and nothing can be lost on the way.
    /// `None` (and no change) if no entry has `id`. `new_id` must name no
    /// entry (the table draws it with `fresh_id`).
    fn rekey(
        &mut self,
        id: &SessionId,
        new_id: SessionId,
    ) -> Option<&mut Entry<Self::Data, Self::Meta>>;
    /// Takes the entry for `id` out.
    fn remove(&mut self, id: &SessionId) -> Option<Entry<Self::Data, Self::Meta>>;
    /// Keeps the entries for which `keep` is true; returns how many went.
    fn retain(&mut self, keep: impl FnMut(&Entry<Self::Data, Self::Meta>) -> bool) -> usize;
    /// [`retain`](Slots::retain) over a slice of the storage: the
    /// positions `from..from + budget` of its own numbering, removing the
    /// entries for which `remove` is true. Returns how many went, and where
    /// the next slice starts (`None`: the end was reached). A storage that
    /// is small by construction may do it all in one slice.
    fn remove_in_slice(
        &mut self,
        from: usize,
        budget: usize,
        remove: impl FnMut(&Entry<Self::Data, Self::Meta>) -> bool,
    ) -> (usize, Option<usize>);
    /// Every entry, in no particular order.
    fn entries(&self) -> impl Iterator<Item = &Entry<Self::Data, Self::Meta>>;
    /// Removes everything.
    fn clear(&mut self);
    /// Gives the entry for `id` the owner `owner` (or none); false if no
    /// entry has `id`. An entry that kept no metadata starts it here with
    /// its times at zero ([`Table::set_owner`](super::Table::set_owner)
    /// starts it at its `now` first).
    fn set_owner(&mut self, id: &SessionId, owner: Option<UserId>) -> bool;
    /// Every entry owned by `user`, live or not.
    fn owned_by<'a>(
        &'a self,
        user: &'a UserId,
    ) -> impl Iterator<Item = &'a Entry<Self::Data, Self::Meta>> + 'a;
    /// Removes the entries owned by `user` for which `remove_if` is true;
    /// returns how many went. Costs what `user`'s entries cost where the
    /// storage keeps an index.
    fn remove_owned(
        &mut self,
        user: &UserId,
        remove_if: impl FnMut(&Entry<Self::Data, Self::Meta>) -> bool,
    ) -> usize;
}

pub(crate) use sealed::Sealed;
