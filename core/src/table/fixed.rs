//! A fixed array of slots: no heap, capacity in the type.

use super::slots::{Entry, EntryMut, EntryRef, NO_META, Sealed, Slots, says_nothing};
use crate::expiry::Deadlines;
use crate::owner::{SessionMeta, UserId};
use crate::{Instant, SessionId};

/// A slot's mark for "no metadata kept".
const NO_POOL_ENTRY: u16 = u16::MAX;

/// One stored session without its metadata, which lives in the pool.
#[derive(Debug)]
struct Slot<D> {
    id: SessionId,
    deadlines: Deadlines,
    protected: bool,
    data: D,
    last_access: u32,
    /// Its metadata's index in the pool, or [`NO_POOL_ENTRY`]. Fits in the
    /// slot's padding, so a slot costs what it did before owners.
    meta_at: u16,
}

/// `N` slots in an array, and a pool of `OWNED` metadata entries; lookups
/// scan them (N is small on a microcontroller).
///
/// Like the map table, it keeps metadata only for sessions whose
/// metadata says something (an owner, a label, or a lifetime of its own):
/// a plain session's slot holds its id, deadlines, flag and data, and its
/// times read as zero. The metadata of the others lives in the pool, whose
/// size is in the type. With the default `OWNED = 0` a table is as small
/// as its slots, and giving a session an owner answers
/// [`MetaError::NoRoom`](super::MetaError::NoRoom); a device with
/// sign-in chooses the most signed-in sessions it keeps.
///
/// A user's sessions are found by a scan of `N` slots: no index to keep in
/// step, and no memory for one.
///
/// ```
/// use sesh::table::{FixedSlots, Table};
/// // The storage behind `SessionTable<u32, 8>`: no room for metadata.
/// let table: Table<FixedSlots<u32, 8>> = Table::new();
/// assert_eq!(table.capacity(), 8);
/// // Behind `SessionTable<u32, 8, 4>`: up to 4 sessions with an owner.
/// let owned: Table<FixedSlots<u32, 8, 4>> = Table::new();
/// assert_eq!(owned.meta_capacity(), 4);
/// ```
#[derive(Debug)]
pub struct FixedSlots<D, const N: usize, const OWNED: usize = 0> {
    slots: [Option<Slot<D>>; N],
    pool: [Option<SessionMeta>; OWNED],
    len: usize,
}

impl<D, const N: usize, const OWNED: usize> FixedSlots<D, N, OWNED> {
    /// `N` empty slots and an empty pool of `OWNED`, usable in a `static`.
    ///
    /// ```
    /// use sesh::table::{FixedSlots, Slots};
    /// static SLOTS: FixedSlots<u32, 8> = FixedSlots::new();
    /// assert_eq!(SLOTS.capacity(), 8);
    /// assert!(SLOTS.is_empty());
    /// ```
    pub const fn new() -> Self {
        // A pool index must fit a slot's `u16` beside its mark.
        const { assert!(OWNED < NO_POOL_ENTRY as usize, "OWNED must be below 65535") };
        FixedSlots {
            slots: [const { None }; N],
            pool: [const { None }; OWNED],
            len: 0,
        }
    }

    fn position(&self, id: &SessionId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.id == *id))
    }

    /// Pool entries in use.
    pub fn meta_len(&self) -> usize {
        self.pool.iter().filter(|m| m.is_some()).count()
    }

    fn view<'a>(pool: &'a [Option<SessionMeta>; OWNED], slot: &'a Slot<D>) -> EntryRef<'a, D> {
        EntryRef {
            id: slot.id,
            deadlines: slot.deadlines,
            protected: slot.protected,
            last_access: slot.last_access,
            data: &slot.data,
            meta: meta_of(pool, slot.meta_at),
        }
    }

    /// Empties `slot`, freeing its pool entry; the whole entry.
    fn take(
        pool: &mut [Option<SessionMeta>; OWNED],
        slot: &mut Option<Slot<D>>,
    ) -> Option<Entry<D>> {
        slot.take().map(|taken| Self::whole(pool, taken))
    }

    /// `slot` as a whole entry, its metadata taken out of the pool.
    fn whole(pool: &mut [Option<SessionMeta>; OWNED], slot: Slot<D>) -> Entry<D> {
        let meta = pool
            .get_mut(usize::from(slot.meta_at))
            .and_then(Option::take)
            .unwrap_or(SessionMeta::new(Instant::ZERO));
        Entry {
            id: slot.id,
            deadlines: slot.deadlines,
            protected: slot.protected,
            data: slot.data,
            last_access: slot.last_access,
            meta,
        }
    }

    /// Empties `slot` and its pool entry, dropping both in place (no
    /// copy of the metadata out, unlike [`take`](Self::take)).
    fn free(pool: &mut [Option<SessionMeta>; OWNED], slot: &mut Option<Slot<D>>) {
        if let Some(gone) = slot.take()
            && let Some(meta) = pool.get_mut(usize::from(gone.meta_at))
        {
            *meta = None;
        }
    }

    /// Stores `meta` in a free pool entry; its index, or `None` (and
    /// nothing stored) when the pool is full.
    fn pool_put(&mut self, meta: SessionMeta) -> Option<u16> {
        let at = self.pool.iter().position(Option::is_none)?;
        let index = u16::try_from(at).ok()?;
        *self.pool.get_mut(at)? = Some(meta);
        Some(index)
    }

    /// Empties every slot for which `remove` is true; how many went.
    fn remove_where(&mut self, mut remove: impl FnMut(&EntryRef<'_, D>) -> bool) -> usize {
        let mut removed = 0usize;
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|e| remove(&Self::view(&self.pool, e)))
            {
                Self::free(&mut self.pool, slot);
                removed = removed.saturating_add(1);
            }
        }
        self.len = self.len.saturating_sub(removed);
        removed
    }
}

fn meta_of<const OWNED: usize>(pool: &[Option<SessionMeta>; OWNED], at: u16) -> &SessionMeta {
    pool.get(usize::from(at))
        .and_then(Option::as_ref)
        .unwrap_or(&NO_META)
}

impl<D, const N: usize, const OWNED: usize> Default for FixedSlots<D, N, OWNED> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D, const N: usize, const OWNED: usize> Sealed for FixedSlots<D, N, OWNED> {}

impl<D, const N: usize, const OWNED: usize> Slots for FixedSlots<D, N, OWNED> {
    type Data = D;

    fn capacity(&self) -> usize {
        N
    }

    fn len(&self) -> usize {
        self.len
    }

    fn meta_capacity(&self) -> usize {
        OWNED
    }

    fn meta_room(&self) -> bool {
        self.pool.iter().any(Option::is_none)
    }

    fn get(&self, id: &SessionId) -> Option<EntryRef<'_, D>> {
        self.slots
            .iter()
            .flatten()
            .find(|e| e.id == *id)
            .map(|e| Self::view(&self.pool, e))
    }

    fn change<R>(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&EntryRef<'_, D>) -> bool,
        seen: Option<Instant>,
        change: impl FnOnce(&mut EntryMut<'_, D>) -> R,
    ) -> Option<(R, &mut D)> {
        let at = self.position(id)?;
        let slot = self.slots.get_mut(at)?;
        if slot
            .as_ref()
            .is_some_and(|e| drop_if(&Self::view(&self.pool, e)))
        {
            Self::free(&mut self.pool, slot);
            self.len = self.len.saturating_sub(1);
            return None;
        }
        let entry = slot.as_mut()?;
        let mut edit = EntryMut {
            deadlines: entry.deadlines,
            protected: entry.protected,
            last_access: entry.last_access,
            data: &mut entry.data,
            meta: meta_of(&self.pool, entry.meta_at),
        };
        let out = change(&mut edit);
        let (deadlines, protected, last_access) =
            (edit.deadlines, edit.protected, edit.last_access);
        entry.deadlines = deadlines;
        entry.protected = protected;
        entry.last_access = last_access;
        if let Some(now) = seen
            && let Some(Some(meta)) = self.pool.get_mut(usize::from(entry.meta_at))
        {
            meta.last_seen = now;
        }
        Some((out, &mut entry.data))
    }

    /// Hands the entry back when no slot is free, or when its metadata
    /// says something and the pool is full.
    fn insert(&mut self, entry: Entry<D>) -> Result<(), Entry<D>> {
        let Some(at) = self.slots.iter().position(Option::is_none) else {
            return Err(entry);
        };
        let Entry {
            id,
            deadlines,
            protected,
            data,
            last_access,
            meta,
        } = entry;
        let meta_at = if says_nothing(&meta) {
            NO_POOL_ENTRY
        } else {
            let free = self
                .pool
                .iter_mut()
                .enumerate()
                .find(|(_, m)| m.is_none())
                .and_then(|(at, m)| Some((u16::try_from(at).ok()?, m)));
            match free {
                Some((index, entry)) => {
                    *entry = Some(meta);
                    index
                }
                None => {
                    return Err(Entry {
                        id,
                        deadlines,
                        protected,
                        data,
                        last_access,
                        meta,
                    });
                }
            }
        };
        let slot = Slot {
            id,
            deadlines,
            protected,
            data,
            last_access,
            meta_at,
        };
        match self.slots.get_mut(at) {
            Some(free) => {
                *free = Some(slot);
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            // `at` came from the scan above: never here.
            None => Err(Self::whole(&mut self.pool, slot)),
        }
    }

    /// The pool entry stays with the slot: nothing moves.
    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> bool {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        match self.slots.iter_mut().flatten().find(|e| e.id == *id) {
            Some(entry) => {
                entry.id = new_id;
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: &SessionId) -> Option<Entry<D>> {
        let at = self.position(id)?;
        let taken = Self::take(&mut self.pool, self.slots.get_mut(at)?);
        if taken.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        taken
    }

    fn retain(&mut self, mut keep: impl FnMut(&EntryRef<'_, D>) -> bool) -> usize {
        self.remove_where(|e| !keep(e))
    }

    /// A fixed table is small: one slice is the whole table.
    fn remove_in_slice(
        &mut self,
        _from: usize,
        _budget: usize,
        remove: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> (usize, Option<usize>) {
        (self.remove_where(remove), None)
    }

    fn entries(&self) -> impl Iterator<Item = EntryRef<'_, D>> {
        self.slots
            .iter()
            .flatten()
            .map(|e| Self::view(&self.pool, e))
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.pool.iter_mut().for_each(|m| *m = None);
        self.len = 0;
    }

    /// Metadata not kept starts at `now`, in a pool entry; metadata that
    /// says nothing afterwards frees its entry. When the edit would need an
    /// entry and the pool is full, nothing changes and the answer is false
    /// (the table checks [`Slots::meta_room`] first, so it sees no such
    /// case).
    fn edit_meta(
        &mut self,
        id: &SessionId,
        now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> bool {
        let Some(at) = self.position(id) else {
            return false;
        };
        let Some(Some(slot)) = self.slots.get(at) else {
            return false;
        };
        let pool_at = usize::from(slot.meta_at);
        if let Some(Some(meta)) = self.pool.get_mut(pool_at) {
            edit(meta);
            if says_nothing(meta) {
                self.pool.get_mut(pool_at).map(Option::take);
                if let Some(Some(slot)) = self.slots.get_mut(at) {
                    slot.meta_at = NO_POOL_ENTRY;
                }
            }
            return true;
        }
        let mut meta = SessionMeta::new(now);
        edit(&mut meta);
        if says_nothing(&meta) {
            return true;
        }
        let Some(index) = self.pool_put(meta) else {
            return false;
        };
        match self.slots.get_mut(at) {
            Some(Some(slot)) => {
                slot.meta_at = index;
                true
            }
            _ => {
                self.pool.get_mut(usize::from(index)).map(Option::take);
                false
            }
        }
    }

    fn owned_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = EntryRef<'a, D>> + 'a {
        self.slots
            .iter()
            .flatten()
            .filter(move |e| meta_of(&self.pool, e.meta_at).owner.as_ref() == Some(user))
            .map(|e| Self::view(&self.pool, e))
    }

    fn remove_owned(
        &mut self,
        user: &UserId,
        mut remove_if: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> usize {
        self.remove_where(|e| e.meta.owner.as_ref() == Some(user) && remove_if(e))
    }
}
