//! A hash map of entries on the heap (feature `alloc`), for hosts.

use core::hash::Hasher;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hashbrown::HashTable;

use super::slots::{Entry, Sealed, Slots};
use crate::SessionId;
use crate::owner::UserId;

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
    table: HashTable<Entry<D>>,
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

fn is<D>(id: &SessionId) -> impl Fn(&Entry<D>) -> bool + '_ {
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
            let (gone, _) = found.remove();
            unindex(&mut self.owners, gone.meta.owner.as_ref(), &gone.id);
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
        index(&mut self.owners, entry.meta.owner.as_ref(), entry.id);
        self.table.insert_unique(h, entry, |e| hash(&e.id));
        Ok(())
    }

    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> Option<&mut Entry<D>> {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        let (mut entry, _) = self.table.find_entry(hash(id), is(id)).ok()?.remove();
        unindex(&mut self.owners, entry.meta.owner.as_ref(), id);
        index(&mut self.owners, entry.meta.owner.as_ref(), new_id);
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
        let (gone, _) = self.table.find_entry(hash(id), is(id)).ok()?.remove();
        unindex(&mut self.owners, gone.meta.owner.as_ref(), &gone.id);
        Some(gone)
    }

    fn retain(&mut self, mut keep: impl FnMut(&Entry<D>) -> bool) -> usize {
        let before = self.table.len();
        let owners = &mut self.owners;
        self.table.retain(|e| {
            let kept = keep(e);
            if !kept {
                unindex(owners, e.meta.owner.as_ref(), &e.id);
            }
            kept
        });
        before.saturating_sub(self.table.len())
    }

    fn entries(&self) -> impl Iterator<Item = &Entry<D>> {
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
        unindex(&mut self.owners, entry.meta.owner.as_ref(), id);
        index(&mut self.owners, owner.as_ref(), *id);
        entry.meta.owner = owner;
        true
    }

    fn owned_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = &'a Entry<D>> + 'a {
        self.owners
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
    }

    fn remove_owned(
        &mut self,
        user: &UserId,
        mut remove_if: impl FnMut(&Entry<D>) -> bool,
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
        let owned = self.table.iter().filter(|e| e.meta.owner.is_some()).count();
        indexed == owned
            && self.owners.iter().all(|(user, ids)| {
                !ids.is_empty()
                    && ids.iter().all(|id| {
                        self.get(id)
                            .is_some_and(|e| e.meta.owner.as_ref() == Some(user))
                    })
            })
    }
}
