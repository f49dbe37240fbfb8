//! A fixed array of slots: no heap, capacity in the type.

use super::slots::{Entry, EntryMut, EntryRef, Sealed, Slots};
use crate::owner::{SessionMeta, UserId};
use crate::{Instant, SessionId};

/// `N` slots in an array; lookups scan them (N is small on a microcontroller).
///
/// A session's owner lives in its slot, and a user's sessions are found by
/// the same scan of `N` slots: no index to keep in step, and no memory for
/// one.
///
/// ```
/// use sesh::table::{FixedSlots, Table};
/// // The storage behind `SessionTable<u32, 8>`.
/// let table: Table<FixedSlots<u32, 8>> = Table::new();
/// assert_eq!(table.capacity(), 8);
/// ```
#[derive(Debug)]
pub struct FixedSlots<D, const N: usize> {
    slots: [Option<Entry<D>>; N],
    len: usize,
}

impl<D, const N: usize> FixedSlots<D, N> {
    /// `N` empty slots, usable in a `static`.
    ///
    /// ```
    /// use sesh::table::{FixedSlots, Slots};
    /// static SLOTS: FixedSlots<u32, 8> = FixedSlots::new();
    /// assert_eq!(SLOTS.capacity(), 8);
    /// assert!(SLOTS.is_empty());
    /// ```
    pub const fn new() -> Self {
        FixedSlots {
            slots: [const { None }; N],
            len: 0,
        }
    }

    fn position(&self, id: &SessionId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.id == *id))
    }
}

impl<D, const N: usize> Default for FixedSlots<D, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D, const N: usize> Sealed for FixedSlots<D, N> {}

impl<D, const N: usize> Slots for FixedSlots<D, N> {
    type Data = D;

    fn capacity(&self) -> usize {
        N
    }

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, id: &SessionId) -> Option<EntryRef<'_, D>> {
        self.slots
            .iter()
            .flatten()
            .find(|e| e.id == *id)
            .map(Entry::view)
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
        if slot.as_ref().is_some_and(|e| drop_if(&e.view())) {
            *slot = None;
            self.len = self.len.saturating_sub(1);
            return None;
        }
        let entry = slot.as_mut()?;
        let mut edit = EntryMut {
            deadlines: entry.deadlines,
            protected: entry.protected,
            last_access: entry.last_access,
            data: &mut entry.data,
            meta: &entry.meta,
        };
        let out = change(&mut edit);
        let (deadlines, protected, last_access) =
            (edit.deadlines, edit.protected, edit.last_access);
        entry.deadlines = deadlines;
        entry.protected = protected;
        entry.last_access = last_access;
        if let Some(now) = seen {
            entry.meta.last_seen = now;
        }
        Some((out, &mut entry.data))
    }

    fn insert(&mut self, entry: Entry<D>) -> Result<(), Entry<D>> {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(entry);
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            None => Err(entry),
        }
    }

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
        let taken = self.slots.get_mut(at)?.take();
        if taken.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        taken
    }

    fn retain(&mut self, mut keep: impl FnMut(&EntryRef<'_, D>) -> bool) -> usize {
        let mut removed = 0usize;
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|e| !keep(&e.view())) {
                *slot = None;
                removed = removed.saturating_add(1);
            }
        }
        self.len = self.len.saturating_sub(removed);
        removed
    }

    /// A fixed table is small: one slice is the whole table.
    fn remove_in_slice(
        &mut self,
        _from: usize,
        _budget: usize,
        mut remove: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> (usize, Option<usize>) {
        (self.retain(|e| !remove(e)), None)
    }

    fn entries(&self) -> impl Iterator<Item = EntryRef<'_, D>> {
        self.slots.iter().flatten().map(Entry::view)
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.len = 0;
    }

    /// The metadata lives in the slot, whole: `now` starts nothing.
    fn edit_meta(
        &mut self,
        id: &SessionId,
        _now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> bool {
        match self.slots.iter_mut().flatten().find(|e| e.id == *id) {
            Some(entry) => {
                edit(&mut entry.meta);
                true
            }
            None => false,
        }
    }

    fn owned_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = EntryRef<'a, D>> + 'a {
        self.entries()
            .filter(move |e| e.meta.owner.as_ref() == Some(user))
    }

    fn remove_owned(
        &mut self,
        user: &UserId,
        mut remove_if: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> usize {
        self.retain(|e| !(e.meta.owner.as_ref() == Some(user) && remove_if(e)))
    }
}
