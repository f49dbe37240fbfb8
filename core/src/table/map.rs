//! A hash map of entries on the heap (feature `alloc`), for hosts.

use core::hash::Hasher;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hashbrown::HashTable;

use super::slots::{Entry, MetaCell, Sealed, Slots};
use crate::SessionId;
use crate::owner::{SessionMeta, UserId};

/// What an entry keeps of its metadata: nothing for a session without an
/// owner, label or lifetime (most of them), else a pointer to it.
type MetaBox = Option<Box<SessionMeta>>;

/// One entry of the map.
type MapEntry<D> = Entry<D, MetaBox>;

/// Hashes a [`SessionId`] by its first eight bytes.
///
/// Every stored id was drawn from a CSPRNG by the server, so those bytes are
/// uniform: an attacker cannot choose keys that collide. A request can only
/// *probe* with an id it chose, and with signing on (the default) the probe
/// happens only after the cookie's HMAC verified, that is, for ids the server
/// issued.
///
/// ```
/// use core::hash::{BuildHasher, BuildHasherDefault};
/// use sesh::{table::IdHasher, SessionId};
/// let id = SessionId::parse("AQIDBAUGBwgJCgsMDQ4PEA")?; // bytes 1, 2, …, 16
/// let hash = BuildHasherDefault::<IdHasher>::default().hash_one(id);
/// assert_eq!(hash, u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
/// # Ok::<(), sesh::ParseIdError>(())
/// ```
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a caller hashes something other than an id.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

/// Entries in a hashbrown table, with a maximum count chosen at run time.
///
/// The id is stored once, inside the entry, and compared as plain bytes:
/// a lookup runs only for ids whose signature verified (see [`IdHasher`]).
///
/// An entry keeps its [`SessionMeta`] behind a pointer, and only when the
/// session has an owner, a label or a lifetime (see [`MetaCell`]): an
/// anonymous session costs its id, record, LRU tick and that pointer.
///
/// An owner index (user → ids) changes with every entry that comes, goes,
/// changes id or owner, so a user's sessions cost what that user's
/// sessions cost. It is a `BTreeMap`: user ids are chosen by users, and an
/// ordered map cannot be flooded with colliding keys.
///
/// ```
/// use sesh::table::{MapSlots, Table};
/// // The storage behind `AllocSessionTable<String>`.
/// let table: Table<MapSlots<String>> = Table::with_max_sessions(1_000);
/// assert_eq!(table.capacity(), 1_000);
/// ```
pub struct MapSlots<D> {
    table: HashTable<MapEntry<D>>,
    max: usize,
    owners: BTreeMap<UserId, Vec<SessionId>>,
}

impl<D> core::fmt::Debug for MapSlots<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapSlots")
            .field("len", &self.table.len())
            .field("max", &self.max)
            .finish()
    }
}

fn hash(id: &SessionId) -> u64 {
    id.hash_word()
}

fn is<D>(id: &SessionId) -> impl Fn(&MapEntry<D>) -> bool + '_ {
    move |e| e.id.as_bytes() == id.as_bytes()
}

/// Adds `id` under `owner` in the index.
fn index(owners: &mut BTreeMap<UserId, Vec<SessionId>>, owner: Option<&UserId>, id: SessionId) {
    if let Some(user) = owner {
        owners.entry(user.clone()).or_default().push(id);
    }
}

/// Takes `id` out of `owner`'s list, and the list out when it empties, so
/// the index never outgrows the entries.
fn unindex(owners: &mut BTreeMap<UserId, Vec<SessionId>>, owner: Option<&UserId>, id: &SessionId) {
    let Some(user) = owner else { return };
    let Some(ids) = owners.get_mut(user) else {
        return;
    };
    ids.retain(|i| i.as_bytes() != id.as_bytes());
    if ids.is_empty() {
        owners.remove(user);
    }
}

impl<D> MapSlots<D> {
    /// An empty map that holds at most `max` entries.
    ///
    /// ```
    /// use sesh::table::{MapSlots, Slots};
    /// let slots = MapSlots::<u8>::with_max(10);
    /// assert_eq!((slots.len(), slots.capacity()), (0, 10));
    /// ```
    pub fn with_max(max: usize) -> Self {
        MapSlots {
            table: HashTable::new(),
            max,
            owners: BTreeMap::new(),
        }
    }
}

impl<D> Sealed for MapSlots<D> {}

impl<D> Slots for MapSlots<D> {
    type Data = D;
    type Meta = MetaBox;

    fn capacity(&self) -> usize {
        self.max
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn get(&self, id: &SessionId) -> Option<&MapEntry<D>> {
        self.table.find(hash(id), is(id))
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut MapEntry<D>> {
        self.table.find_mut(hash(id), is(id))
    }

    fn get_mut_unless(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&MapEntry<D>) -> bool,
    ) -> Option<&mut MapEntry<D>> {
        let found = self.table.find_entry(hash(id), is(id)).ok()?;
        if drop_if(found.get()) {
            let (gone, _) = found.remove();
            unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
            None
        } else {
            Some(found.into_mut())
        }
    }

    fn insert(&mut self, entry: MapEntry<D>) -> Result<(), MapEntry<D>> {
        if self.table.len() >= self.max || self.get(&entry.id).is_some() {
            return Err(entry);
        }
        let h = hash(&entry.id);
        index(&mut self.owners, entry.meta.get().owner.as_ref(), entry.id);
        self.table.insert_unique(h, entry, |e| hash(&e.id));
        Ok(())
    }

    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> Option<&mut MapEntry<D>> {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        let (mut entry, _) = self.table.find_entry(hash(id), is(id)).ok()?.remove();
        unindex(&mut self.owners, entry.meta.get().owner.as_ref(), id);
        index(&mut self.owners, entry.meta.get().owner.as_ref(), new_id);
        entry.id = new_id;
        // Bypasses `insert`'s bound: the entry just left, so the length is
        // what it was, and `insert_unique` cannot fail.
        let h = hash(&new_id);
        Some(
            self.table
                .insert_unique(h, entry, |e| hash(&e.id))
                .into_mut(),
        )
    }

    fn remove(&mut self, id: &SessionId) -> Option<MapEntry<D>> {
        let (gone, _) = self.table.find_entry(hash(id), is(id)).ok()?.remove();
        unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
        Some(gone)
    }

    fn retain(&mut self, mut keep: impl FnMut(&MapEntry<D>) -> bool) -> usize {
        let before = self.table.len();
        let owners = &mut self.owners;
        self.table.retain(|e| {
            let kept = keep(e);
            if !kept {
                unindex(owners, e.meta.get().owner.as_ref(), &e.id);
            }
            kept
        });
        before.saturating_sub(self.table.len())
    }

    /// By bucket index: a removal moves no other entry, and a resize
    /// between slices only renumbers the buckets (a sweep may then look at
    /// some entries twice or leave some for the next sweep).
    fn remove_in_slice(
        &mut self,
        from: usize,
        budget: usize,
        mut remove: impl FnMut(&MapEntry<D>) -> bool,
    ) -> (usize, Option<usize>) {
        let end = from.saturating_add(budget).min(self.table.num_buckets());
        let mut removed = 0usize;
        for index in from..end {
            if !self.table.get_bucket(index).is_some_and(&mut remove) {
                continue;
            }
            if let Ok(entry) = self.table.get_bucket_entry(index) {
                let (gone, _) = entry.remove();
                unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
                removed = removed.saturating_add(1);
            }
        }
        (removed, (end < self.table.num_buckets()).then_some(end))
    }

    fn entries(&self) -> impl Iterator<Item = &MapEntry<D>> {
        self.table.iter()
    }

    fn clear(&mut self) {
        self.table.clear();
        self.owners.clear();
    }

    fn set_owner(&mut self, id: &SessionId, owner: Option<UserId>) -> bool {
        let Some(entry) = self.table.find_mut(hash(id), is(id)) else {
            return false;
        };
        unindex(&mut self.owners, entry.meta.get().owner.as_ref(), id);
        index(&mut self.owners, owner.as_ref(), *id);
        match (&mut entry.meta, owner) {
            (Some(meta), owner) => meta.owner = owner,
            (None, None) => {}
            // Not started by the table: the times are unknown (zero).
            (none, owner) => none.edit(crate::Instant::ZERO).owner = owner,
        }
        entry.meta.settle();
        true
    }

    fn owned_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = &'a MapEntry<D>> + 'a {
        self.owners
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
    }

    fn remove_owned(
        &mut self,
        user: &UserId,
        mut remove_if: impl FnMut(&MapEntry<D>) -> bool,
    ) -> usize {
        let ids = self.owners.get(user).cloned().unwrap_or_default();
        let mut removed = 0usize;
        for id in &ids {
            if self.get(id).is_some_and(&mut remove_if) && self.remove(id).is_some() {
                removed = removed.saturating_add(1);
            }
        }
        removed
    }
}

#[cfg(test)]
impl<D> MapSlots<D> {
    /// The index matches the entries exactly (for tests).
    pub(crate) fn index_is_exact(&self) -> bool {
        let indexed: usize = self.owners.values().map(Vec::len).sum();
        let owned = self
            .table
            .iter()
            .filter(|e| e.meta.get().owner.is_some())
            .count();
        indexed == owned
            && self.owners.iter().all(|(user, ids)| {
                !ids.is_empty()
                    && ids.iter().all(|id| {
                        self.get(id)
                            .is_some_and(|e| e.meta.get().owner.as_ref() == Some(user))
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::Lifetime;
    use crate::owner::Label;
    use crate::test_rng::CountingRng;
    use crate::{AllocSessionTable, Instant};

    /// Whether the entry for `id` keeps metadata on the heap.
    fn kept<D>(t: &AllocSessionTable<D>, id: &SessionId) -> bool {
        t.slots.get(id).is_some_and(|e| e.meta.is_some())
    }

    #[test]
    fn an_entry_holds_one_pointer_of_metadata() {
        assert_eq!(size_of::<MetaBox>(), size_of::<usize>());
        // id, deadlines, data, LRU tick, flag and the pointer.
        assert!(size_of::<MapEntry<u64>>() <= 16 + 16 + 8 + 4 + 1 + 3 + size_of::<usize>());
    }

    #[test]
    fn only_metadata_that_says_something_is_kept() {
        let mut t = AllocSessionTable::<u8>::with_max_sessions(4);
        let mut rng = CountingRng(3);
        let at = Instant::from_secs;
        let (id, _) = t.create(&mut rng, at(1), 0).unwrap();
        assert!(!kept(&t, &id));
        // Not kept: no owner, label or lifetime, and times of zero.
        assert_eq!(t.meta(&id, at(2)), Some(&SessionMeta::new(Instant::ZERO)));
        t.get(&id, at(2)).unwrap();
        assert!(!kept(&t, &id));

        t.set_label(&id, Label::new("phone").unwrap(), at(3))
            .unwrap();
        assert!(kept(&t, &id));
        let meta = t.meta(&id, at(3)).unwrap();
        assert_eq!((meta.created, meta.last_seen), (at(3), at(3)));
        t.set_label(&id, Label::default(), at(4)).unwrap();
        assert!(!kept(&t, &id), "a label taken away frees the metadata");

        let alice = UserId::new(b"alice").unwrap();
        t.set_owner(&id, alice.clone(), at(5)).unwrap();
        t.get(&id, at(6)).unwrap();
        let (new, _) = t.regenerate(&id, &mut rng, at(7)).unwrap();
        let meta = t.meta(&new, at(7)).unwrap();
        assert_eq!((meta.created, meta.last_seen), (at(5), at(7)));
        assert_eq!(meta.owner.as_ref(), Some(&alice));
        t.clear_owner(&new, at(8)).unwrap();
        assert!(!kept(&t, &new));

        t.set_lifetime(&new, Lifetime::BrowserSession, at(9))
            .unwrap();
        assert!(kept(&t, &new));
        t.set_lifetime(&new, Lifetime::Default, at(9)).unwrap();
        assert!(!kept(&t, &new));
        assert!(t.slots.index_is_exact());
    }

    #[test]
    fn metadata_given_on_insert_is_kept_whole_or_not_at_all() {
        let mut t = AllocSessionTable::<u8>::with_max_sessions(4);
        let mut rng = CountingRng(4);
        let at = Instant::from_secs;
        let record = || crate::record::SessionRecord {
            deadlines: t_start(at(1)),
            protected: false,
            data: 0,
        };
        let plain = SessionId::generate(&mut rng).unwrap();
        t.insert_with_meta(plain, record(), SessionMeta::new(at(1)), at(1))
            .unwrap();
        assert!(!kept(&t, &plain));
        let owned = SessionId::generate(&mut rng).unwrap();
        let meta = SessionMeta {
            owner: Some(UserId::new(b"bob").unwrap()),
            ..SessionMeta::new(at(1))
        };
        t.insert_with_meta(owned, record(), meta.clone(), at(1))
            .unwrap();
        assert_eq!(t.meta(&owned, at(1)), Some(&meta));
        assert!(t.slots.index_is_exact());
    }

    fn t_start(now: Instant) -> crate::expiry::Deadlines {
        crate::expiry::ExpiryPolicy::new().start(now)
    }
}
