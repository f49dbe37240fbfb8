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

/// Entries in chunked slabs, found through a hashbrown table of their slot
/// numbers, with a maximum count chosen at run time.
///
/// The hash table holds a `u32` per bucket, not the entry: its buckets are
/// a power of two at most 7/8 full (about two per entry just after a
/// growth), and that slack costs 5 bytes a bucket instead of an entry's
/// size. The entries sit densely in chunks of 512 slots that are
/// never moved or reallocated: the table never copies an entry when it
/// grows, and a freed slot is reused before a new chunk is made.
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
    /// Slot numbers, hashed by their entry's id.
    index: HashTable<u32>,
    slab: Slab<MapEntry<D>>,
    max: usize,
    owners: BTreeMap<UserId, Vec<SessionId>>,
}

/// Slots per slab chunk: small enough that a shard's last, partly used
/// chunk wastes little, large enough that the chunk list stays short.
const CHUNK: usize = 512;

/// Entries in fixed chunks of [`CHUNK`] slots, with a list of free slots.
struct Slab<T> {
    /// Each made with room for exactly `CHUNK` and filled only that far,
    /// so it never reallocates.
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    const fn new() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Slots made so far (used or free).
    fn slots(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    fn get(&self, slot: u32) -> Option<&T> {
        let slot = usize::try_from(slot).ok()?;
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)?.as_ref()
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        let slot = usize::try_from(slot).ok()?;
        self.chunks
            .get_mut(slot / CHUNK)?
            .get_mut(slot % CHUNK)?
            .as_mut()
    }

    fn cell(&mut self, slot: u32) -> Option<&mut Option<T>> {
        let slot = usize::try_from(slot).ok()?;
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// Stores `value` in a free slot or a new one; its number, or the
    /// value back if the numbers ran out (past `u32::MAX` slots).
    fn put(&mut self, value: T) -> Result<u32, T> {
        if let Some(slot) = self.free.pop()
            && let Some(cell) = self.cell(slot)
        {
            *cell = Some(value);
            return Ok(slot);
        }
        let Ok(slot) = u32::try_from(self.slots()) else {
            return Err(value);
        };
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(Some(value)),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(Some(value));
                self.chunks.push(chunk);
            }
        }
        Ok(slot)
    }

    fn take(&mut self, slot: u32) -> Option<T> {
        let value = self.cell(slot)?.take()?;
        self.free.push(slot);
        Some(value)
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten().filter_map(Option::as_ref)
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.free.clear();
    }
}

impl<D> core::fmt::Debug for MapSlots<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MapSlots")
            .field("len", &self.index.len())
            .field("max", &self.max)
            .finish()
    }
}

fn hash(id: &SessionId) -> u64 {
    id.hash_word()
}

/// Whether `slot` holds the entry for `id`.
fn holds<'a, D>(slab: &'a Slab<MapEntry<D>>, id: &'a SessionId) -> impl Fn(&u32) -> bool + 'a {
    move |&slot| {
        slab.get(slot)
            .is_some_and(|e| e.id.as_bytes() == id.as_bytes())
    }
}

/// The hash of the entry in `slot`, for the index's growth (every slot in
/// the index holds an entry; 0 would only cost a probe).
fn rehash<D>(slab: &Slab<MapEntry<D>>) -> impl Fn(&u32) -> u64 + '_ {
    move |&slot| slab.get(slot).map_or(0, |e| hash(&e.id))
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
            index: HashTable::new(),
            slab: Slab::new(),
            max,
            owners: BTreeMap::new(),
        }
    }

    /// The slot of the entry for `id`.
    fn slot_of(&self, id: &SessionId) -> Option<u32> {
        self.index.find(hash(id), holds(&self.slab, id)).copied()
    }

    /// Takes the entry for `id` out of the index and the slab (not out of
    /// the owner index).
    fn take(&mut self, id: &SessionId) -> Option<MapEntry<D>> {
        let (slot, _) = self
            .index
            .find_entry(hash(id), holds(&self.slab, id))
            .ok()?
            .remove();
        self.slab.take(slot)
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
        self.index.len()
    }

    fn get(&self, id: &SessionId) -> Option<&MapEntry<D>> {
        self.slab.get(self.slot_of(id)?)
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut MapEntry<D>> {
        let slot = self.slot_of(id)?;
        self.slab.get_mut(slot)
    }

    fn get_mut_unless(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&MapEntry<D>) -> bool,
    ) -> Option<&mut MapEntry<D>> {
        let slot = self.slot_of(id)?;
        if drop_if(self.slab.get(slot)?) {
            let gone = self.take(id)?;
            unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
            None
        } else {
            self.slab.get_mut(slot)
        }
    }

    fn insert(&mut self, entry: MapEntry<D>) -> Result<(), MapEntry<D>> {
        if self.index.len() >= self.max || self.get(&entry.id).is_some() {
            return Err(entry);
        }
        let (id, h) = (entry.id, hash(&entry.id));
        let owner = entry.meta.get().owner.clone();
        let slot = self.slab.put(entry)?;
        index(&mut self.owners, owner.as_ref(), id);
        self.index.insert_unique(h, slot, rehash(&self.slab));
        Ok(())
    }

    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> Option<&mut MapEntry<D>> {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        let (slot, _) = self
            .index
            .find_entry(hash(id), holds(&self.slab, id))
            .ok()?
            .remove();
        let entry = self.slab.get_mut(slot)?;
        unindex(&mut self.owners, entry.meta.get().owner.as_ref(), id);
        index(&mut self.owners, entry.meta.get().owner.as_ref(), new_id);
        entry.id = new_id;
        // Bypasses `insert`'s bound: the entry never left its slot, and
        // the index's length is what it was.
        self.index
            .insert_unique(hash(&new_id), slot, rehash(&self.slab));
        self.slab.get_mut(slot)
    }

    fn remove(&mut self, id: &SessionId) -> Option<MapEntry<D>> {
        let gone = self.take(id)?;
        unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
        Some(gone)
    }

    fn retain(&mut self, mut keep: impl FnMut(&MapEntry<D>) -> bool) -> usize {
        let before = self.index.len();
        let (owners, slab) = (&mut self.owners, &mut self.slab);
        self.index.retain(|slot| {
            let Some(entry) = slab.get(*slot) else {
                return false;
            };
            if keep(entry) {
                return true;
            }
            if let Some(gone) = slab.take(*slot) {
                unindex(owners, gone.meta.get().owner.as_ref(), &gone.id);
            }
            false
        });
        before.saturating_sub(self.index.len())
    }

    /// By slab slot: a removal moves no other entry, and growth adds slots
    /// at the end without renumbering any, so a sweep sees every entry
    /// stored before it started once.
    fn remove_in_slice(
        &mut self,
        from: usize,
        budget: usize,
        mut remove: impl FnMut(&MapEntry<D>) -> bool,
    ) -> (usize, Option<usize>) {
        let slots = self.slab.slots();
        let end = from.saturating_add(budget).min(slots);
        let mut removed = 0usize;
        for slot in from..end {
            let Ok(slot) = u32::try_from(slot) else { break };
            let Some(id) = self.slab.get(slot).filter(|e| remove(e)).map(|e| e.id) else {
                continue;
            };
            // Found by its slot number: no entry is read on the way.
            let Ok(found) = self.index.find_entry(hash(&id), |&s| s == slot) else {
                continue;
            };
            found.remove();
            if let Some(gone) = self.slab.take(slot) {
                unindex(&mut self.owners, gone.meta.get().owner.as_ref(), &gone.id);
                removed = removed.saturating_add(1);
            }
        }
        (removed, (end < slots).then_some(end))
    }

    fn entries(&self) -> impl Iterator<Item = &MapEntry<D>> {
        self.slab.iter()
    }

    fn clear(&mut self) {
        self.index.clear();
        self.slab.clear();
        self.owners.clear();
    }

    fn set_owner(&mut self, id: &SessionId, owner: Option<UserId>) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        let Some(entry) = self.slab.get_mut(slot) else {
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
            .slab
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

    #[test]
    fn freed_slots_are_reused_and_slices_see_every_entry_once() {
        let mut slots = MapSlots::<u32>::with_max(4 * CHUNK);
        let mut rng = CountingRng(9);
        let entry = |id, data| MapEntry {
            id,
            deadlines: t_start(Instant::ZERO),
            protected: false,
            data,
            last_access: 0,
            meta: None,
        };
        let ids: Vec<SessionId> = (0..CHUNK + 1)
            .map(|_| SessionId::generate(&mut rng).unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(slots.insert(entry(*id, i as u32)).is_ok());
        }
        assert_eq!(
            (slots.slab.chunks.len(), slots.slab.slots()),
            (2, CHUNK + 1)
        );
        // Taken out and put back: the freed slot is used, no new one made.
        let first = ids[0];
        assert_eq!(slots.remove(&first).map(|e| e.data), Some(0));
        assert!(slots.get(&first).is_none());
        assert!(slots.insert(entry(first, 7)).is_ok());
        assert_eq!(slots.slab.slots(), CHUNK + 1);
        assert_eq!(slots.get(&first).map(|e| e.data), Some(7));
        // A rekeyed entry stays in its slot and is found by its new id only.
        let new = SessionId::generate(&mut rng).unwrap();
        assert_eq!(slots.rekey(&first, new).map(|e| e.data), Some(7));
        assert!(slots.get(&first).is_none());
        assert_eq!(slots.get(&new).map(|e| e.data), Some(7));
        // Slices of 100 slots look at every entry once and remove the odd ones.
        let (mut seen, mut removed, mut from) = (0, 0, Some(0));
        while let Some(start) = from {
            let (gone, next) = slots.remove_in_slice(start, 100, |e| {
                seen += 1;
                e.data % 2 == 1
            });
            removed += gone;
            from = next;
        }
        assert_eq!((seen, removed), (CHUNK + 1, 1 + CHUNK / 2));
        assert_eq!(slots.len(), CHUNK + 1 - removed);
        assert!(slots.entries().all(|e| e.data % 2 == 0));
        assert!(ids.iter().skip(1).all(|id| {
            let i = ids.iter().position(|x| x == id).unwrap();
            slots.get(id).is_some() == (i % 2 == 0)
        }));
    }

    fn t_start(now: Instant) -> crate::expiry::Deadlines {
        crate::expiry::ExpiryPolicy::new().start(now)
    }
}
