//! A hash map of entries on the heap (feature `alloc`), for hosts.

use core::hash::Hasher;

use hashbrown::HashTable;

use super::slots::{Entry, Sealed, Slots};
use crate::SessionId;

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
/// ```
/// use sesh::table::{MapSlots, Table};
/// // The storage behind `AllocSessionTable<String>`.
/// let table: Table<MapSlots<String>> = Table::with_max_sessions(1_000);
/// assert_eq!(table.capacity(), 1_000);
/// ```
pub struct MapSlots<D> {
    table: HashTable<Entry<D>>,
    max: usize,
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

fn is<D>(id: &SessionId) -> impl Fn(&Entry<D>) -> bool + '_ {
    move |e| e.id.as_bytes() == id.as_bytes()
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
        }
    }
}

impl<D> Sealed for MapSlots<D> {}

impl<D> Slots for MapSlots<D> {
    type Data = D;

    fn capacity(&self) -> usize {
        self.max
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn get(&self, id: &SessionId) -> Option<&Entry<D>> {
        self.table.find(hash(id), is(id))
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry<D>> {
        self.table.find_mut(hash(id), is(id))
    }

    fn get_mut_unless(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&Entry<D>) -> bool,
    ) -> Option<&mut Entry<D>> {
        let found = self.table.find_entry(hash(id), is(id)).ok()?;
        if drop_if(found.get()) {
            found.remove();
            None
        } else {
            Some(found.into_mut())
        }
    }

    fn insert(&mut self, entry: Entry<D>) -> Result<(), Entry<D>> {
        if self.table.len() >= self.max || self.get(&entry.id).is_some() {
            return Err(entry);
        }
        let h = hash(&entry.id);
        self.table.insert_unique(h, entry, |e| hash(&e.id));
        Ok(())
    }

    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> Option<&mut Entry<D>> {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        let (mut entry, _) = self.table.find_entry(hash(id), is(id)).ok()?.remove();
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

    fn remove(&mut self, id: &SessionId) -> Option<Entry<D>> {
        self.table
            .find_entry(hash(id), is(id))
            .ok()
            .map(|e| e.remove().0)
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry<D>) -> bool) -> usize {
        let before = self.table.len();
        self.table.retain(|e| keep(e));
        before.saturating_sub(self.table.len())
    }

    fn entries(&self) -> impl Iterator<Item = &Entry<D>> {
        self.table.iter()
    }

    fn clear(&mut self) {
        self.table.clear();
    }
}
