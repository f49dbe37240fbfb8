//! A hash map of entries on the heap (feature `alloc`), for hosts.

use core::hash::Hasher;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hashbrown::HashTable;

use super::slots::{Entry, EntryMut, EntryRef, NO_META, Sealed, Slots, says_nothing};
use crate::expiry::Deadlines;
use crate::owner::{SessionMeta, UserId};
use crate::{Instant, SessionId};

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
/// A slot holds the id (16 bytes), the data, the absolute deadline in
/// milliseconds (8, with the protected flag and a flag for a side record
/// in its two top bits), the idle deadline as a signed distance from it in
/// milliseconds (4) and the LRU tick (4): 32 bytes besides the data (48
/// for the memory store's). What does not fit goes to a side record,
/// found by slot number: a session's [`SessionMeta`] when it has an owner,
/// a label or a lifetime, and its deadlines, exactly, when they are more
/// than about 24 days apart or past 2⁶² ms. An anonymous session with
/// the default policy has none.
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
    slab: Slab<Packed<D>>,
    /// Side records by slot number, for the entries flagged `SIDE`.
    side: HashTable<(u32, Side)>,
    max: usize,
    owners: BTreeMap<UserId, Vec<SessionId>>,
}

/// An entry as a [`MapSlots`] keeps it.
struct Packed<D> {
    id: SessionId,
    data: D,
    /// The absolute deadline's milliseconds (`MILLIS` bits), `PROTECTED`
    /// and `SIDE`.
    absolute: u64,
    /// The idle deadline minus the absolute one, in milliseconds, or
    /// `ASIDE`: both deadlines are in the side record.
    idle: i32,
    last_access: u32,
}

/// The entry is marked protected (logged in).
const PROTECTED: u64 = 1 << 62;
/// The entry has a side record.
const SIDE: u64 = 1 << 63;
/// The bits of `Packed::absolute` that hold milliseconds.
const MILLIS: u64 = PROTECTED - 1;
/// `Packed::idle` when the deadlines are in the side record.
const ASIDE: i32 = i32::MIN;
/// What a broken side record reads as: expired, never kept alive.
const EXPIRED: Deadlines = Deadlines {
    idle: Instant::ZERO,
    absolute: Instant::ZERO,
};

/// What an entry keeps outside its slot; never both `None` (it then goes).
struct Side {
    /// Metadata that says something (owner, label or lifetime).
    meta: Option<Box<SessionMeta>>,
    /// Deadlines the slot cannot hold exactly.
    deadlines: Option<Deadlines>,
}

/// `deadlines` as the slot holds them (milliseconds of the absolute one and
/// the idle one's distance from it), if they fit exactly.
fn pack(deadlines: &Deadlines) -> Option<(u64, i32)> {
    let absolute = deadlines.absolute.as_millis();
    if absolute > MILLIS {
        return None;
    }
    // Both fit in an i128: the difference cannot overflow.
    let gap = i128::from(deadlines.idle.as_millis()).checked_sub(i128::from(absolute))?;
    let gap = i32::try_from(gap).ok().filter(|&g| g != ASIDE)?;
    Some((absolute, gap))
}

impl<D> Packed<D> {
    fn protected(&self) -> bool {
        self.absolute & PROTECTED != 0
    }

    fn has_side(&self) -> bool {
        self.absolute & SIDE != 0
    }

    fn deadlines(&self, side: Option<&Side>) -> Deadlines {
        if self.idle == ASIDE {
            return side.and_then(|s| s.deadlines).unwrap_or(EXPIRED);
        }
        let absolute = self.absolute & MILLIS;
        match absolute.checked_add_signed(i64::from(self.idle)) {
            Some(idle) => Deadlines {
                idle: Instant::from_millis(idle),
                absolute: Instant::from_millis(absolute),
            },
            // Never stored so (see `pack`).
            None => EXPIRED,
        }
    }
}

/// Slot numbers are the table's own, not chosen by a client: a
/// multiplication spreads them (odd, so the low bits stay distinct).
fn side_hash(slot: u32) -> u64 {
    u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn side_of(side: &HashTable<(u32, Side)>, slot: u32) -> Option<&Side> {
    side.find(side_hash(slot), |(s, _)| *s == slot)
        .map(|(_, record)| record)
}

fn side_of_mut(side: &mut HashTable<(u32, Side)>, slot: u32) -> Option<&mut Side> {
    side.find_mut(side_hash(slot), |(s, _)| *s == slot)
        .map(|(_, record)| record)
}

fn side_take(side: &mut HashTable<(u32, Side)>, slot: u32) -> Option<Side> {
    let (found, _) = side
        .find_entry(side_hash(slot), |(s, _)| *s == slot)
        .ok()?
        .remove();
    Some(found.1)
}

/// The side record of `slot`, made empty if it had none; flags `entry`.
fn side_for<'a, D>(
    side: &'a mut HashTable<(u32, Side)>,
    entry: &mut Packed<D>,
    slot: u32,
) -> &'a mut Side {
    entry.absolute |= SIDE;
    let at = match side.find_entry(side_hash(slot), |(s, _)| *s == slot) {
        Ok(found) => found,
        Err(absent) => absent.into_table().insert_unique(
            side_hash(slot),
            (
                slot,
                Side {
                    meta: None,
                    deadlines: None,
                },
            ),
            |(s, _)| side_hash(*s),
        ),
    };
    &mut at.into_mut().1
}

/// Drops `slot`'s side record if it holds nothing, and the flag with it.
fn settle<D>(side: &mut HashTable<(u32, Side)>, entry: &mut Packed<D>, slot: u32) {
    let empty = side_of(side, slot).is_none_or(|s| s.meta.is_none() && s.deadlines.is_none());
    if empty {
        side_take(side, slot);
        entry.absolute &= !SIDE;
    }
}

/// Stores `deadlines` and `protected` in `entry` (in `slot`), the
/// deadlines in its side record if the slot cannot hold them exactly.
fn write<D>(
    side: &mut HashTable<(u32, Side)>,
    entry: &mut Packed<D>,
    slot: u32,
    deadlines: Deadlines,
    protected: bool,
) {
    let flags = (entry.absolute & SIDE) | if protected { PROTECTED } else { 0 };
    match pack(&deadlines) {
        Some((absolute, gap)) => {
            entry.absolute = absolute | flags;
            let aside = entry.idle == ASIDE;
            entry.idle = gap;
            if aside {
                if let Some(record) = side_of_mut(side, slot) {
                    record.deadlines = None;
                }
                settle(side, entry, slot);
            }
        }
        None => {
            entry.absolute = flags;
            entry.idle = ASIDE;
            side_for(side, entry, slot).deadlines = Some(deadlines);
        }
    }
}

/// The entry in `slot` as a [`Slots`] shows it.
fn view<'a, D>(
    side: &'a HashTable<(u32, Side)>,
    slot: u32,
    entry: &'a Packed<D>,
) -> EntryRef<'a, D> {
    let record = if entry.has_side() {
        side_of(side, slot)
    } else {
        None
    };
    EntryRef {
        id: entry.id,
        deadlines: entry.deadlines(record),
        protected: entry.protected(),
        last_access: entry.last_access,
        data: &entry.data,
        meta: record.and_then(|r| r.meta.as_deref()).unwrap_or(&NO_META),
    }
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

    /// Slots made so far (used or free): every chunk but the last is full
    /// (`put` fills the last before it makes another), so this is O(1).
    fn slots(&self) -> usize {
        self.chunks.last().map_or(0, |last| {
            (self.chunks.len().saturating_sub(1))
                .saturating_mul(CHUNK)
                .saturating_add(last.len())
        })
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

    /// Every used slot, with its number, in slot order.
    fn iter(&self) -> SlabIter<'_, T> {
        SlabIter {
            chunks: self.chunks.iter(),
            chunk: [].iter(),
            slot: 0,
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.free.clear();
    }
}

/// [`Slab::iter`]: a plain loop over each chunk's cells (a full table's
/// eviction walks a shard's every entry this way, twice per batch).
struct SlabIter<'a, T> {
    chunks: core::slice::Iter<'a, Vec<Option<T>>>,
    chunk: core::slice::Iter<'a, Option<T>>,
    /// The number of the next cell of `chunk`. `put` numbers no more than
    /// `u32::MAX + 1` slots, so it wraps only past the last one.
    slot: u32,
}

impl<'a, T> Iterator for SlabIter<'a, T> {
    type Item = (u32, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            for cell in self.chunk.by_ref() {
                let slot = self.slot;
                self.slot = slot.wrapping_add(1);
                if let Some(value) = cell {
                    return Some((slot, value));
                }
            }
            self.chunk = self.chunks.next()?.iter();
        }
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

/// Reads the bucket where the probe for `hash` starts. In a large table a
/// lookup's control bytes and its bucket are each a cache miss, the second
/// waiting for the first to say which bucket matches; the match is almost
/// always that bucket or one in its cache line, so reading it at once lets
/// the two misses overlap (the processor reads on past the check of the
/// control byte before that byte arrives).
fn warm(index: &HashTable<u32>, hash: u64) {
    let mask = index.num_buckets().wrapping_sub(1);
    // The bucket hashbrown's probe starts at: the hash's low bits.
    let start = usize::try_from(hash & u64::try_from(mask).unwrap_or(0)).unwrap_or(0);
    core::hint::black_box(index.get_bucket(start).copied());
}

/// Whether `slot` holds the entry for `id`.
fn holds<'a, D>(slab: &'a Slab<Packed<D>>, id: &'a SessionId) -> impl Fn(&u32) -> bool + 'a {
    move |&slot| {
        slab.get(slot)
            .is_some_and(|e| e.id.as_bytes() == id.as_bytes())
    }
}

/// The hash of the entry in `slot`, for the index's growth (every slot in
/// the index holds an entry; 0 would only cost a probe).
fn rehash<D>(slab: &Slab<Packed<D>>) -> impl Fn(&u32) -> u64 + '_ {
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

/// The owner of the entry with side record `record`.
fn owner_of(record: Option<&Side>) -> Option<&UserId> {
    record?.meta.as_deref()?.owner.as_ref()
}

impl<D> MapSlots<D> {
    /// The bytes one slot of the slab takes (used or free): a session
    /// costs this, its share of the index's buckets (5 bytes each) and,
    /// for the few that have one, a side record.
    ///
    /// ```
    /// use sesh::table::MapSlots;
    /// // Id, deadlines and flags, LRU tick, a u64 of data, and 8 bytes
    /// // for a free slot's tag (a u64 has no spare value to mark it).
    /// assert_eq!(MapSlots::<u64>::SLOT_BYTES, 16 + 12 + 4 + 8 + 8);
    /// ```
    pub const SLOT_BYTES: usize = size_of::<Option<Packed<D>>>();

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
            side: HashTable::new(),
            max,
            owners: BTreeMap::new(),
        }
    }

    /// The slot of the entry for `id`.
    fn slot_of(&self, id: &SessionId) -> Option<u32> {
        let hash = hash(id);
        warm(&self.index, hash);
        self.index.find(hash, holds(&self.slab, id)).copied()
    }

    /// Grows the index before an insert that would make hashbrown grow it,
    /// to the same number of buckets, but filled in slab order: hashbrown
    /// would rehash each slot by reading its entry's id, one cache miss per
    /// entry in random order once a shard outgrows the cache; here the ids
    /// are read in the order they lie in memory. When hashbrown would
    /// rather rehash in place (its deleted marks, not its entries, filled
    /// it), it is left to do that.
    fn grow_if_full(&mut self) {
        let len = self.index.len();
        if len < self.index.capacity() {
            return;
        }
        // hashbrown's rule: at most 7/8 of 8 or more buckets, one less
        // than the count below 8; in place while at most half that.
        let buckets = self.index.num_buckets();
        let full = if buckets < 8 {
            buckets.saturating_sub(1)
        } else {
            (buckets / 8).saturating_mul(7)
        };
        let wanted = len.saturating_add(1);
        if wanted <= full / 2 {
            return;
        }
        let mut index = HashTable::with_capacity(wanted.max(full.saturating_add(1)));
        for (slot, entry) in self.slab.iter() {
            index.insert_unique(hash(&entry.id), slot, rehash(&self.slab));
        }
        self.index = index;
    }

    /// Frees `slot` (already out of the index): its entry, its side
    /// record, and its owner in the owner index.
    fn free(&mut self, slot: u32) -> Option<(Packed<D>, Option<Side>)> {
        free(&mut self.slab, &mut self.side, &mut self.owners, slot)
    }

    /// Takes the entry for `id` out of the index, the slab, the side
    /// records and the owner index.
    fn take(&mut self, id: &SessionId) -> Option<(Packed<D>, Option<Side>)> {
        let (slot, _) = self
            .index
            .find_entry(hash(id), holds(&self.slab, id))
            .ok()?
            .remove();
        self.free(slot)
    }
}

/// [`MapSlots::free`], on the parts, for use while the index is borrowed.
fn free<D>(
    slab: &mut Slab<Packed<D>>,
    side: &mut HashTable<(u32, Side)>,
    owners: &mut BTreeMap<UserId, Vec<SessionId>>,
    slot: u32,
) -> Option<(Packed<D>, Option<Side>)> {
    let entry = slab.take(slot)?;
    let record = if entry.has_side() {
        side_take(side, slot)
    } else {
        None
    };
    unindex(owners, owner_of(record.as_ref()), &entry.id);
    Some((entry, record))
}

/// The whole entry out of its packed form and side record.
fn unpack<D>((entry, record): (Packed<D>, Option<Side>)) -> Entry<D> {
    let deadlines = entry.deadlines(record.as_ref());
    let protected = entry.protected();
    Entry {
        id: entry.id,
        deadlines,
        protected,
        data: entry.data,
        last_access: entry.last_access,
        meta: record
            .and_then(|r| r.meta)
            .map_or_else(|| SessionMeta::new(Instant::ZERO), |meta| *meta),
    }
}

impl<D> Sealed for MapSlots<D> {}

impl<D> Slots for MapSlots<D> {
    type Data = D;

    fn capacity(&self) -> usize {
        self.max
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn get(&self, id: &SessionId) -> Option<EntryRef<'_, D>> {
        let slot = self.slot_of(id)?;
        Some(view(&self.side, slot, self.slab.get(slot)?))
    }

    fn change<R>(
        &mut self,
        id: &SessionId,
        drop_if: impl FnOnce(&EntryRef<'_, D>) -> bool,
        seen: Option<Instant>,
        change: impl FnOnce(&mut EntryMut<'_, D>) -> R,
    ) -> Option<(R, &mut D)> {
        let slot = self.slot_of(id)?;
        if drop_if(&view(&self.side, slot, self.slab.get(slot)?)) {
            self.take(id);
            return None;
        }
        let (slab, side) = (&mut self.slab, &mut self.side);
        let entry = slab.get_mut(slot)?;
        let record = if entry.has_side() {
            side_of(side, slot)
        } else {
            None
        };
        let mut edit = EntryMut {
            deadlines: entry.deadlines(record),
            protected: entry.protected(),
            last_access: entry.last_access,
            data: &mut entry.data,
            meta: record.and_then(|r| r.meta.as_deref()).unwrap_or(&NO_META),
        };
        let out = change(&mut edit);
        let (deadlines, protected, last_access) =
            (edit.deadlines, edit.protected, edit.last_access);
        entry.last_access = last_access;
        write(side, entry, slot, deadlines, protected);
        if let Some(now) = seen
            && entry.has_side()
            && let Some(meta) = side_of_mut(side, slot).and_then(|r| r.meta.as_deref_mut())
        {
            meta.last_seen = now;
        }
        Some((out, &mut entry.data))
    }

    fn insert(&mut self, entry: Entry<D>) -> Result<(), Entry<D>> {
        if self.index.len() >= self.max {
            return Err(entry);
        }
        self.grow_if_full();
        // One probe finds both whether the id is taken and where it goes.
        let hashbrown::hash_table::Entry::Vacant(vacant) = self.index.entry(
            hash(&entry.id),
            holds(&self.slab, &entry.id),
            rehash(&self.slab),
        ) else {
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
        let packed = Packed {
            id,
            data,
            absolute: 0,
            idle: 0,
            last_access,
        };
        let slot = match self.slab.put(packed) {
            Ok(slot) => slot,
            Err(packed) => {
                return Err(Entry {
                    id,
                    deadlines,
                    protected,
                    data: packed.data,
                    last_access,
                    meta,
                });
            }
        };
        // A reused slot's record went when the slot was freed.
        if let Some(packed) = self.slab.get_mut(slot) {
            if !says_nothing(&meta) {
                index(&mut self.owners, meta.owner.as_ref(), id);
                side_for(&mut self.side, packed, slot).meta = Some(Box::new(meta));
            }
            write(&mut self.side, packed, slot, deadlines, protected);
        }
        vacant.insert(slot);
        Ok(())
    }

    fn rekey(&mut self, id: &SessionId, new_id: SessionId) -> bool {
        debug_assert!(self.get(&new_id).is_none(), "rekey onto a stored id");
        let Ok(found) = self.index.find_entry(hash(id), holds(&self.slab, id)) else {
            return false;
        };
        let (slot, _) = found.remove();
        let Some(entry) = self.slab.get_mut(slot) else {
            return false;
        };
        let owner = if entry.has_side() {
            owner_of(side_of(&self.side, slot))
        } else {
            None
        };
        unindex(&mut self.owners, owner, id);
        index(&mut self.owners, owner, new_id);
        entry.id = new_id;
        // Bypasses `insert`'s bound: the entry never left its slot, and
        // the index's length is what it was.
        self.index
            .insert_unique(hash(&new_id), slot, rehash(&self.slab));
        true
    }

    fn remove(&mut self, id: &SessionId) -> Option<Entry<D>> {
        self.take(id).map(unpack)
    }

    fn retain(&mut self, mut keep: impl FnMut(&EntryRef<'_, D>) -> bool) -> usize {
        let before = self.index.len();
        let (owners, slab, side) = (&mut self.owners, &mut self.slab, &mut self.side);
        self.index.retain(|&mut slot| {
            let Some(entry) = slab.get(slot) else {
                return false;
            };
            if keep(&view(side, slot, entry)) {
                return true;
            }
            free(slab, side, owners, slot);
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
        mut remove: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> (usize, Option<usize>) {
        let slots = self.slab.slots();
        let end = from.saturating_add(budget).min(slots);
        let mut removed = 0usize;
        for slot in from..end {
            let Ok(slot) = u32::try_from(slot) else { break };
            let Some(id) = self
                .slab
                .get(slot)
                .filter(|e| remove(&view(&self.side, slot, e)))
                .map(|e| e.id)
            else {
                continue;
            };
            // Found by its slot number: no entry is read on the way.
            let Ok(found) = self.index.find_entry(hash(&id), |&s| s == slot) else {
                continue;
            };
            found.remove();
            if self.free(slot).is_some() {
                removed = removed.saturating_add(1);
            }
        }
        (removed, (end < slots).then_some(end))
    }

    fn entries(&self) -> impl Iterator<Item = EntryRef<'_, D>> {
        self.slab
            .iter()
            .map(|(slot, entry)| view(&self.side, slot, entry))
    }

    fn clear(&mut self) {
        self.index.clear();
        self.slab.clear();
        self.side.clear();
        self.owners.clear();
    }

    fn edit_meta(
        &mut self,
        id: &SessionId,
        now: Instant,
        edit: impl FnOnce(&mut SessionMeta),
    ) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        let (slab, side) = (&mut self.slab, &mut self.side);
        let Some(entry) = slab.get_mut(slot) else {
            return false;
        };
        let kept = if entry.has_side() {
            side_of_mut(side, slot).and_then(|r| r.meta.take())
        } else {
            None
        };
        let mut meta = kept.unwrap_or_else(|| Box::new(SessionMeta::new(now)));
        let before = meta.owner.clone();
        edit(&mut meta);
        if meta.owner != before {
            unindex(&mut self.owners, before.as_ref(), id);
            index(&mut self.owners, meta.owner.as_ref(), *id);
        }
        if says_nothing(&meta) {
            settle(side, entry, slot);
        } else {
            side_for(side, entry, slot).meta = Some(meta);
        }
        true
    }

    fn owned_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = EntryRef<'a, D>> + 'a {
        self.owners
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
    }

    fn remove_owned(
        &mut self,
        user: &UserId,
        mut remove_if: impl FnMut(&EntryRef<'_, D>) -> bool,
    ) -> usize {
        // The user's list out while its entries go (each `free` would
        // search it), the kept ones back after: one index lookup each.
        let Some(ids) = self.owners.remove(user) else {
            return 0;
        };
        let mut kept = Vec::new();
        let mut removed = 0usize;
        for id in ids {
            warm(&self.index, hash(&id));
            let Ok(found) = self.index.find_entry(hash(&id), holds(&self.slab, &id)) else {
                continue;
            };
            let slot = *found.get();
            let Some(entry) = self.slab.get(slot) else {
                continue;
            };
            if !remove_if(&view(&self.side, slot, entry)) {
                kept.push(id);
                continue;
            }
            found.remove();
            if free(&mut self.slab, &mut self.side, &mut self.owners, slot).is_some() {
                removed = removed.saturating_add(1);
            }
        }
        if !kept.is_empty() {
            self.owners.insert(user.clone(), kept);
        }
        removed
    }
}

#[cfg(test)]
impl<D> MapSlots<D> {
    /// The owner index matches the entries exactly, and the side records
    /// the flags (for tests).
    pub(crate) fn index_is_exact(&self) -> bool {
        let indexed: usize = self.owners.values().map(Vec::len).sum();
        let owned = self.entries().filter(|e| e.meta.owner.is_some()).count();
        let flagged = self.slab.iter().filter(|(_, e)| e.has_side()).count();
        let sides_hold_something = self
            .side
            .iter()
            .all(|(_, r)| r.meta.is_some() || r.deadlines.is_some());
        let sides_have_entries = self
            .side
            .iter()
            .all(|(slot, _)| self.slab.get(*slot).is_some_and(Packed::has_side));
        let slotted = self.slab.iter().count();
        let found = self
            .slab
            .iter()
            .all(|(slot, e)| self.slot_of(&e.id) == Some(slot));
        indexed == owned
            && slotted == self.index.len()
            && found
            && flagged == self.side.len()
            && sides_hold_something
            && sides_have_entries
            && self.owners.iter().all(|(user, ids)| {
                !ids.is_empty()
                    && ids.iter().all(|id| {
                        self.get(id)
                            .is_some_and(|e| e.meta.owner.as_ref() == Some(user))
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

    /// Whether the entry for `id` keeps metadata in a side record.
    fn kept<D>(t: &AllocSessionTable<D>, id: &SessionId) -> bool {
        t.slots
            .slot_of(id)
            .and_then(|slot| side_of(&t.slots.side, slot))
            .is_some_and(|r| r.meta.is_some())
    }

    /// Whether the entry for `id` keeps its deadlines in a side record.
    fn aside<D>(t: &AllocSessionTable<D>, id: &SessionId) -> bool {
        t.slots
            .slot_of(id)
            .and_then(|slot| side_of(&t.slots.side, slot))
            .is_some_and(|r| r.deadlines.is_some())
    }

    #[test]
    fn a_slot_holds_id_deadlines_flags_tick_and_data() {
        // id 16, absolute deadline and flags 8, idle gap 4, tick 4.
        assert_eq!(size_of::<Packed<()>>(), 32);
        // Data with a niche (as the memory store's) makes the free slot.
        assert_eq!(MapSlots::<Box<u8>>::SLOT_BYTES, 40);
        assert_eq!(MapSlots::<[u64; 2]>::SLOT_BYTES, 56);
    }

    #[test]
    fn deadlines_are_kept_exactly_in_the_slot_or_aside() {
        use crate::Duration;
        let gap_max = Duration::from_millis(i32::MAX as u64);
        let at = Instant::from_millis;
        let cases = [
            (at(0), at(0), false),
            (at(1_800_000), at(28_800_000), false),
            // The idle deadline past the absolute one.
            (at(5_000), at(3_000), false),
            (at(0) + gap_max, at(0), false),
            (at(1), at(1) + gap_max, false),
            (at(1) + gap_max + Duration::from_millis(1), at(1), true),
            (at(0), at(0) + gap_max + Duration::from_millis(1), true),
            // Remember-me: 30 days idle, 90 days absolute.
            (at(2_592_000_000), at(7_776_000_000), true),
            (at(MILLIS), at(MILLIS), false),
            (at(MILLIS + 1), at(MILLIS + 1), true),
            (Instant::MAX, Instant::MAX, true),
            (Instant::MAX, at(5), true),
            (at(5), Instant::MAX, true),
        ];
        let mut t = AllocSessionTable::<u8>::with_max_sessions(4);
        let mut rng = CountingRng(5);
        let (id, _) = t.create(&mut rng, at(0), 1).unwrap();
        for protected in [false, true] {
            t.set_protected(&id, at(0), protected).unwrap();
            for (idle, absolute, side) in cases {
                let deadlines = Deadlines { idle, absolute };
                t.slots
                    .change(&id, |_| false, None, |e| e.deadlines = deadlines)
                    .unwrap();
                let e = t.slots.get(&id).unwrap();
                assert_eq!((e.deadlines, e.protected), (deadlines, protected));
                assert_eq!(aside(&t, &id), side, "{deadlines:?}");
                assert!(!kept(&t, &id));
                assert!(t.slots.index_is_exact());
            }
        }
        // A side record for both: dropping one keeps the other.
        let far = Deadlines {
            idle: Instant::MAX,
            absolute: Instant::MAX,
        };
        t.slots
            .change(&id, |_| false, None, |e| e.deadlines = far)
            .unwrap();
        t.set_label(&id, Label::new("phone").unwrap(), at(1))
            .unwrap();
        let near = crate::ExpiryPolicy::new().start(at(2));
        t.slots
            .change(&id, |_| false, None, |e| e.deadlines = near)
            .unwrap();
        assert!(kept(&t, &id) && !aside(&t, &id));
        assert_eq!(t.slots.get(&id).unwrap().deadlines, near);
        t.slots
            .change(&id, |_| false, None, |e| e.deadlines = far)
            .unwrap();
        t.set_label(&id, Label::default(), at(3)).unwrap();
        assert!(!kept(&t, &id) && aside(&t, &id));
        let gone = t.slots.remove(&id).unwrap();
        assert_eq!((gone.deadlines, gone.protected), (far, true));
        assert!(t.slots.side.is_empty() && t.slots.index_is_exact());
    }

    proptest::proptest! {
        /// Whatever deadlines a slot is given, it reads them back exactly,
        /// with its flag, and keeps a side record only when they do not fit.
        #[test]
        fn any_deadlines_read_back_exactly(
            steps in proptest::collection::vec(
                (
                    proptest::prop_oneof![0u64..1 << 42, (MILLIS - 8)..=(MILLIS + 8), proptest::num::u64::ANY],
                    proptest::prop_oneof![-(1i64 << 33)..(1i64 << 33), proptest::num::i64::ANY],
                    proptest::bool::ANY,
                    proptest::bool::ANY,
                ),
                1..24,
            )
        ) {
            let mut t = AllocSessionTable::<u8>::with_max_sessions(2);
            let mut rng = CountingRng(6);
            let (id, _) = t.create(&mut rng, Instant::ZERO, 1).unwrap();
            for (absolute, gap, protected, labelled) in steps {
                let idle = absolute.saturating_add_signed(gap);
                let deadlines = Deadlines { idle: Instant::from_millis(idle), absolute: Instant::from_millis(absolute) };
                let label = if labelled { Label::new("x").unwrap() } else { Label::default() };
                t.slots.edit_meta(&id, Instant::ZERO, |m| m.label = label);
                t.slots.change(&id, |_| false, None, |e| {
                    e.deadlines = deadlines;
                    e.protected = protected;
                });
                let e = t.slots.get(&id).unwrap();
                proptest::prop_assert_eq!((e.deadlines, e.protected), (deadlines, protected));
                proptest::prop_assert_eq!(e.meta.label.as_str().is_empty(), !labelled);
                proptest::prop_assert_eq!(aside(&t, &id), pack(&deadlines).is_none());
                proptest::prop_assert!(t.slots.index_is_exact());
            }
        }
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

    /// A plain entry: no metadata, unprotected, started at zero.
    fn entry(id: SessionId, data: u32) -> Entry<u32> {
        Entry {
            id,
            deadlines: t_start(Instant::ZERO),
            protected: false,
            data,
            last_access: 0,
            meta: SessionMeta::new(Instant::ZERO),
        }
    }

    #[test]
    fn freed_slots_are_reused_and_slices_see_every_entry_once() {
        let mut slots = MapSlots::<u32>::with_max(4 * CHUNK);
        let mut rng = CountingRng(9);
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
        assert_eq!(slots.get(&first).map(|e| *e.data), Some(7));
        // A rekeyed entry stays in its slot and is found by its new id only.
        let new = SessionId::generate(&mut rng).unwrap();
        assert!(slots.rekey(&first, new));
        assert!(slots.get(&first).is_none());
        assert_eq!(slots.get(&new).map(|e| *e.data), Some(7));
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

    /// Growth in slab order, with freed slots reused and deleted marks in
    /// the index between, finds every entry and only those.
    #[test]
    fn the_index_grows_with_every_entry_and_no_other() {
        let mut slots = MapSlots::<u32>::with_max(1 << 20);
        let mut rng = CountingRng(11);
        let mut live = std::vec::Vec::new();
        let mut gone = std::vec::Vec::new();
        for round in 0..12u32 {
            for i in 0..(1_000 << (round % 5)) {
                let id = SessionId::generate(&mut rng).unwrap();
                assert!(slots.insert(entry(id, i)).is_ok());
                live.push((id, i));
            }
            // Every third goes: freed slots and deleted marks.
            let mut kept = std::vec::Vec::new();
            for (n, (id, data)) in live.drain(..).enumerate() {
                if n % 3 == round as usize % 3 {
                    assert_eq!(slots.remove(&id).map(|e| e.data), Some(data));
                    gone.push(id);
                } else {
                    kept.push((id, data));
                }
            }
            live = kept;
            assert_eq!(slots.len(), live.len());
            assert!(
                live.iter()
                    .all(|(id, d)| slots.get(id).map(|e| *e.data) == Some(*d))
            );
            assert!(gone.iter().all(|id| slots.get(id).is_none()));
            assert!(slots.index_is_exact());
        }
    }

    fn t_start(now: Instant) -> crate::expiry::Deadlines {
        crate::expiry::ExpiryPolicy::new().start(now)
    }
}
