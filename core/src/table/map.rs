//! A hash map of entries on the heap (feature `alloc`), for hosts.

use core::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashMap;

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

/// Entries in a hashbrown map, with a maximum count chosen at run time.
///
/// ```
/// use sesh::table::{MapSlots, Table};
/// // The storage behind `AllocSessionTable<String>`.
/// let table: Table<MapSlots<String>> = Table::with_max_sessions(1_000);
/// assert_eq!(table.capacity(), 1_000);
/// ```
#[derive(Debug)]
pub struct MapSlots<D> {
    map: HashMap<SessionId, Entry<D>, BuildHasherDefault<IdHasher>>,
    max: usize,
}

impl<D> MapSlots<D> {
    /// An empty map that holds at most `max` entries.
    ///
    /// ```
    /// use sesh::table::{MapSlots, Slots};
    /// let slots = MapSlots::<u32>::with_max(3);
    /// assert_eq!(slots.capacity(), 3);
    /// assert!(slots.is_empty());
    /// ```
    pub fn with_max(max: usize) -> Self {
        MapSlots {
            map: HashMap::default(),
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
        self.map.len()
    }

    fn get(&self, id: &SessionId) -> Option<&Entry<D>> {
        self.map.get(id)
    }

    fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry<D>> {
        self.map.get_mut(id)
    }

    fn insert(&mut self, entry: Entry<D>) -> Result<(), Entry<D>> {
        if self.map.len() >= self.max || self.map.contains_key(&entry.id) {
            return Err(entry);
        }
        self.map.insert(entry.id, entry);
        Ok(())
    }

    fn remove(&mut self, id: &SessionId) -> Option<Entry<D>> {
        self.map.remove(id)
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry<D>) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| keep(e));
        before.saturating_sub(self.map.len())
    }

    fn entries(&self) -> impl Iterator<Item = &Entry<D>> {
        self.map.values()
    }

    fn clear(&mut self) {
        self.map.clear();
    }
}
