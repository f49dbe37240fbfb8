//! Unit tests of the table's internals; the behaviour cases live in `sesh-tests`.

use super::*;
use crate::test_rng::CountingRng;
use crate::{Duration, SessionTable};

#[test]
fn len_tracks_every_path_in_and_out() {
    let mut t = SessionTable::<u8, 3>::new();
    let mut rng = CountingRng::default();
    let now = Instant::ZERO;
    let (a, _) = t.create(&mut rng, now, 1).unwrap();
    let (b, _) = t.create(&mut rng, now, 2).unwrap();
    assert_eq!(t.len(), 2);
    let (a2, _) = t.regenerate(&a, &mut rng, now).unwrap();
    assert_eq!(t.len(), 2);
    t.destroy(&b);
    assert_eq!(t.len(), 1);
    let later = now + Duration::from_hours(9);
    assert!(t.get(&a2, later).is_none());
    assert_eq!(t.len(), 0);
}

#[test]
fn eviction_order_follows_use_not_creation() {
    let mut t = SessionTable::<u8, 2>::new();
    let mut rng = CountingRng::default();
    let now = Instant::ZERO;
    let (a, _) = t.create(&mut rng, now, 1).unwrap();
    let (b, _) = t.create(&mut rng, now, 2).unwrap();
    t.update(&a, now, |d| *d += 1).unwrap();
    t.create(&mut rng, now, 3).unwrap();
    assert!(t.contains(&a, now));
    assert!(!t.contains(&b, now));
}

#[test]
fn create_does_not_evict_when_the_rng_fails() {
    let mut t = SessionTable::<u8, 1>::new();
    let (a, _) = t
        .create(&mut CountingRng::default(), Instant::ZERO, 1)
        .unwrap();
    assert_eq!(
        t.create(&mut crate::test_rng::FailingRng, Instant::ZERO, 2),
        Err(CreateError::Rng(2))
    );
    assert!(t.contains(&a, Instant::ZERO));
}

#[cfg(feature = "alloc")]
#[test]
fn a_large_full_table_evicts_exactly_its_oldest_sixteenth() {
    let capacity = LARGE_TABLE + 1000;
    let mut t = crate::AllocSessionTable::<u32>::with_max_sessions(capacity);
    let mut rng = CountingRng::default();
    let now = Instant::ZERO;
    let ids: alloc::vec::Vec<SessionId> = (0..capacity)
        .map(|i| t.create(&mut rng, now, i as u32).unwrap().0)
        .collect();
    // The 100 oldest become the youngest; the next 10 are logged in.
    for id in &ids[..100] {
        t.get(id, now).unwrap();
    }
    for id in &ids[100..110] {
        t.set_protected(id, now, true).unwrap();
    }
    let (newest, _) = t.create(&mut rng, now, u32::MAX).unwrap();
    let evicted = capacity / 16;
    assert_eq!(t.len(), capacity - evicted + 1);
    assert!(t.contains(&newest, now));
    for (i, id) in ids.iter().enumerate() {
        let expect_gone = (110..110 + evicted).contains(&i);
        assert_eq!(t.contains(id, now), !expect_gone, "session {i}");
    }
}

/// Regenerate moves the entry in place: a table at its bound (every slot
/// used, every session protected, nothing to evict) still keeps the session
/// under its new id, with its data and flag, and no slot changes hands.
fn regenerate_in_a_full_table_keeps_the_session<S: Slots<Data = u8>>(mut t: Table<S>) {
    let mut rng = CountingRng::default();
    let now = Instant::ZERO;
    let (a, _) = t.create(&mut rng, now, 1).unwrap();
    let (b, _) = t.create(&mut rng, now, 2).unwrap();
    t.set_protected(&a, now, true).unwrap();
    t.set_protected(&b, now, true).unwrap();
    assert_eq!(t.len(), t.capacity());
    let later = now + Duration::from_secs(5);
    let (a2, access) = t.regenerate(&a, &mut rng, later).unwrap();
    assert!(access.protected && access.refreshed);
    assert!(!t.contains(&a, later));
    assert_eq!(t.peek(&a2, later), Some(&1));
    assert_eq!(t.peek(&b, later), Some(&2));
    assert_eq!((t.len(), t.protected_len()), (2, 2));
    assert_eq!(
        t.regenerate(&a, &mut rng, later),
        Err(RegenerateError::NotFound)
    );
    assert_eq!(t.len(), 2);
}

#[test]
fn regenerate_in_a_full_fixed_table_keeps_the_session() {
    regenerate_in_a_full_table_keeps_the_session(SessionTable::<u8, 2>::new());
}

#[cfg(feature = "alloc")]
#[test]
fn regenerate_at_the_bound_of_a_map_table_keeps_the_session() {
    regenerate_in_a_full_table_keeps_the_session(
        crate::AllocSessionTable::<u8>::with_max_sessions(2),
    );
}

mod meta_pool {
    use super::*;
    use crate::expiry::Lifetime;
    use crate::owner::{Label, UserId};

    fn user(name: &[u8]) -> UserId {
        UserId::new(name).unwrap()
    }

    /// A table of 4 slots and 2 metadata entries.
    type Pooled = SessionTable<u8, 4, 2>;

    #[test]
    fn a_plain_session_takes_no_pool_entry() {
        let mut t = Pooled::new();
        let mut rng = CountingRng::default();
        let now = Instant::from_secs(7);
        let (a, _) = t.create(&mut rng, now, 1).unwrap();
        t.set_protected(&a, now, true).unwrap();
        let (a, _) = t.regenerate(&a, &mut rng, now).unwrap();
        t.update(&a, now, |d| *d += 1).unwrap();
        // An unchanged label or the default lifetime starts nothing.
        t.set_label(&a, Label::default(), now).unwrap();
        t.set_lifetime(&a, Lifetime::Default, now).unwrap();
        assert_eq!(t.slots.meta_len(), 0);
        // Its times are not kept: they read as zero, as in a map table.
        assert_eq!(t.meta(&a, now), Some(&SessionMeta::new(Instant::ZERO)));
        // And the default table has no pool at all, yet works as before.
        let mut plain = SessionTable::<u8, 4>::new();
        let (b, _) = plain.create(&mut rng, now, 1).unwrap();
        assert_eq!((plain.meta_capacity(), plain.peek(&b, now)), (0, Some(&1)));
    }

    #[test]
    fn a_full_pool_of_protected_holders_refuses_and_loses_nothing() {
        let mut t = Pooled::new();
        let mut rng = CountingRng::default();
        let now = Instant::ZERO;
        let mut holders = std::vec::Vec::new();
        for (n, name) in [&b"alice"[..], b"bob"].into_iter().enumerate() {
            let (id, _) = t.create(&mut rng, now, n as u8).unwrap();
            t.set_protected(&id, now, true).unwrap();
            t.set_owner(&id, user(name), now).unwrap();
            holders.push(id);
        }
        let (c, _) = t.create(&mut rng, now, 9).unwrap();
        let later = now + Duration::from_secs(3);
        assert_eq!(
            t.set_owner(&c, user(b"carol"), later),
            Err(MetaError::NoRoom)
        );
        assert_eq!(
            t.set_label(&c, Label::new("x").unwrap(), later),
            Err(MetaError::NoRoom)
        );
        assert_eq!(
            t.set_lifetime(&c, Lifetime::REMEMBER_ME, later),
            Err(MetaError::NoRoom)
        );
        assert!(
            MetaError::NoRoom
                .to_string()
                .contains("metadata pool is full")
        );
        // Nothing changed: the holders keep their owners, c is as it was.
        assert_eq!(t.sessions_of(&user(b"alice"), None, later).count(), 1);
        assert_eq!(t.sessions_of(&user(b"bob"), None, later).count(), 1);
        assert_eq!(t.meta(&c, later), Some(&SessionMeta::new(Instant::ZERO)));
        assert_eq!((t.len(), t.peek(&c, later)), (3, Some(&9)));
        // A holder can still change what it keeps, and clearing needs no room.
        t.set_label(&holders[0], Label::new("phone").unwrap(), later)
            .unwrap();
        t.clear_owner(&c, later).unwrap();
        // Inserting a record with metadata is refused whole.
        let meta = SessionMeta {
            owner: Some(user(b"dave")),
            ..SessionMeta::new(later)
        };
        let id = SessionId::from_bytes([9; 16]);
        let record = crate::record::SessionRecord {
            deadlines: t.policy().start(later),
            protected: true,
            data: 4,
        };
        assert_eq!(
            t.insert_with_meta(id, record, meta, later),
            Err(InsertError::Full(4))
        );
        assert_eq!((t.len(), t.slots.meta_len()), (3, 2));
        // The missing session is NotFound, not NoRoom.
        t.destroy(&c);
        assert_eq!(
            t.set_owner(&c, user(b"carol"), later),
            Err(MetaError::NotFound)
        );
    }

    #[test]
    fn a_sign_in_without_metadata_room_changes_nothing() {
        let mut t = Pooled::new();
        let mut rng = CountingRng::default();
        let now = Instant::ZERO;
        let sign_in = crate::owner::SignIn::new(user(b"alice"));
        for _ in 0..2 {
            t.sign_in(None, &sign_in, 1, &mut rng, now).unwrap();
        }
        let (anonymous, _) = t.create(&mut rng, now, 2).unwrap();
        // Both metadata entries hold signed-in sessions: the anonymous one
        // keeps its id, data and lack of owner, and the data comes back.
        let refused = t.sign_in(Some(&anonymous), &sign_in, 3, &mut rng, now);
        assert_eq!(refused.map(|d| d.id), Err(CreateError::Full(3)));
        assert_eq!(t.peek(&anonymous, now), Some(&2));
        assert_eq!(t.meta(&anonymous, now).and_then(|m| m.owner.clone()), None);
        assert_eq!((t.len(), t.protected_len()), (3, 2));
    }

    #[test]
    fn a_full_pool_evicts_its_least_recently_used_unprotected_holder() {
        let mut t = Pooled::new();
        let mut rng = CountingRng::default();
        let now = Instant::ZERO;
        let (a, _) = t.create(&mut rng, now, 1).unwrap();
        let (b, _) = t.create(&mut rng, now, 2).unwrap();
        t.set_owner(&a, user(b"alice"), now).unwrap();
        t.set_label(&b, Label::new("b").unwrap(), now).unwrap();
        t.get(&a, now).unwrap(); // b is now the older holder
        let (c, _) = t.create(&mut rng, now, 3).unwrap();
        t.set_owner(&c, user(b"carol"), now).unwrap();
        assert!(!t.contains(&b, now) && t.contains(&a, now));
        assert_eq!(t.slots.meta_len(), 2);
        // A table that refuses to evict refuses here too.
        let (d, _) = t.create(&mut rng, now, 4).unwrap();
        t.set_when_full(WhenFull::Refuse);
        assert_eq!(t.set_owner(&d, user(b"dave"), now), Err(MetaError::NoRoom));
        assert!(t.contains(&a, now) && t.contains(&c, now));
        // An expired holder makes room before anyone is evicted.
        t.set_when_full(WhenFull::EvictLeastRecentlyUsed);
        t.set_protected(&a, now, true).unwrap();
        t.set_protected(&c, now, true).unwrap();
        // a holds an entry already: a lifetime of its own needs no more room.
        t.set_lifetime(&a, Lifetime::REMEMBER_ME, now).unwrap();
        assert_eq!(t.set_owner(&d, user(b"dave"), now), Err(MetaError::NoRoom));
        let later = now + Duration::from_hours(9);
        let (e, _) = t.create(&mut rng, later, 5).unwrap();
        t.set_owner(&e, user(b"erin"), later).unwrap();
        assert!(!t.contains(&c, later), "c expired and went");
        assert!(t.contains(&a, later), "a lives 30 days");
    }

    #[test]
    fn regenerate_remove_sweep_and_clear_move_or_free_pool_entries() {
        let mut t = Pooled::new();
        let mut rng = CountingRng::default();
        let now = Instant::ZERO;
        let alice = user(b"alice");
        let (a, _) = t.create(&mut rng, now, 1).unwrap();
        t.set_owner(&a, alice.clone(), now).unwrap();
        let (a2, _) = t.regenerate(&a, &mut rng, now).unwrap();
        assert_eq!(t.slots.meta_len(), 1);
        assert_eq!(
            t.meta(&a2, now).and_then(|m| m.owner.as_ref()),
            Some(&alice)
        );
        assert_eq!(t.sessions_of(&alice, None, now).count(), 1);
        t.destroy(&a2);
        assert_eq!(t.slots.meta_len(), 0);
        // A label taken away frees the entry; a sweep frees expired ones.
        let (b, _) = t.create(&mut rng, now, 2).unwrap();
        t.set_label(&b, Label::new("b").unwrap(), now).unwrap();
        t.set_label(&b, Label::default(), now).unwrap();
        assert_eq!(t.slots.meta_len(), 0);
        t.set_owner(&b, alice.clone(), now).unwrap();
        let later = now + Duration::from_hours(9);
        let slice = t.purge_expired_slice(later, 0, 100);
        assert_eq!((slice.purged, t.slots.meta_len()), (1, 0));
        // revoke_all and clear free theirs.
        for _ in 0..2 {
            let (id, _) = t.create(&mut rng, later, 3).unwrap();
            t.set_owner(&id, alice.clone(), later).unwrap();
        }
        assert_eq!(t.revoke_all(&alice, None, later), 2);
        assert_eq!(t.slots.meta_len(), 0);
        let (id, _) = t.create(&mut rng, later, 4).unwrap();
        t.set_owner(&id, alice, later).unwrap();
        t.clear();
        assert_eq!((t.len(), t.slots.meta_len()), (0, 0));
    }

    #[test]
    fn snapshots_round_trip_and_refuse_more_owned_than_the_pool() {
        let mut t = SessionTable::<u8, 4, 3>::new();
        let mut rng = CountingRng::default();
        let now = Instant::from_secs(100);
        let mut owned = std::vec::Vec::new();
        for n in 0..3u8 {
            let (id, _) = t.create(&mut rng, now, n).unwrap();
            t.set_owner(&id, user(&[b'u', n]), now).unwrap();
            owned.push(id);
        }
        let (plain, _) = t.create(&mut rng, now, 9).unwrap();
        let mut buf = [0u8; 1024];
        let len = t.write_snapshot(&mut buf, now).unwrap();
        let mut same = SessionTable::<u8, 4, 3>::new();
        assert_eq!(same.restore_snapshot(&buf[..len], now), Ok(4));
        for (n, id) in owned.iter().enumerate() {
            assert_eq!(
                same.meta(id, now).and_then(|m| m.owner.clone()),
                Some(user(&[b'u', n as u8]))
            );
        }
        assert_eq!(
            same.meta(&plain, now),
            Some(&SessionMeta::new(Instant::ZERO))
        );
        assert_eq!(same.slots.meta_len(), 3);
        // Two entries for three owned sessions: refused, the table empty.
        let mut small = SessionTable::<u8, 4, 2>::new();
        assert_eq!(
            small.restore_snapshot(&buf[..len], now),
            Err(RestoreError::TooManyOwned)
        );
        assert!(small.is_empty());
        assert_eq!((small.len(), small.slots.meta_len()), (0, 0));
        // Once one owned session has expired, the rest fit.
        let mut t2 = SessionTable::<u8, 4, 3>::new();
        t2.restore_snapshot(&buf[..len], now).unwrap();
        t2.set_lifetime(&owned[0], Lifetime::REMEMBER_ME, now)
            .unwrap();
        let later = now + Duration::from_mins(29);
        let len = t2.write_snapshot(&mut buf, later).unwrap();
        let mut one = SessionTable::<u8, 4, 1>::new();
        assert_eq!(
            one.restore_snapshot(&buf[..len], later),
            Err(RestoreError::TooManyOwned)
        );
        // The same snapshot as if saved 2 minutes later: the default
        // sessions have no time left and are not restored; the one with
        // its own lifetime alone needs the pool, and fits.
        let mut bytes = buf[..len].to_vec();
        let saved_at = (later + Duration::from_mins(2)).as_millis();
        bytes[5..13].copy_from_slice(&saved_at.to_le_bytes());
        let body = bytes.len() - 4;
        let crc = crate::crc::crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(one.restore_snapshot(&bytes, later), Ok(1));
        assert!(one.contains(&owned[0], later));
        assert_eq!(one.slots.meta_len(), 1);
    }
}

#[cfg(feature = "alloc")]
mod fixed_and_map_agree {
    use super::*;
    use crate::AllocSessionTable;
    use crate::expiry::Lifetime;
    use crate::owner::{Label, UserId};

    proptest::proptest! {
        /// The same operations give the same metadata reads on both
        /// tables (times of plain sessions read as zero in both), while
        /// the fixed table's pool has room.
        #[test]
        fn metadata_reads_agree(ops in proptest::collection::vec((0u8..9, 0usize..8, 0u8..3), 1..80)) {
            let mut fixed = SessionTable::<u8, 8, 8>::new();
            let mut map = AllocSessionTable::<u8>::with_max_sessions(8);
            let (mut rf, mut rm) = (CountingRng(1), CountingRng(1));
            let mut ids: std::vec::Vec<SessionId> = std::vec::Vec::new();
            let mut now = Instant::from_secs(1);
            for (op, pick, arg) in ops {
                let id = ids.get(pick % ids.len().max(1)).copied();
                let who = UserId::new(&[arg]).unwrap();
                match (op, id) {
                    (0, _) => {
                        let (f, m) = (fixed.create(&mut rf, now, arg), map.create(&mut rm, now, arg));
                        proptest::prop_assert_eq!(f.as_ref().map(|x| x.0), m.as_ref().map(|x| x.0));
                        if let Ok((id, _)) = f { ids.push(id) }
                    }
                    (1, Some(id)) => proptest::prop_assert_eq!(
                        fixed.set_owner(&id, who.clone(), now).map(|s| s.ended),
                        map.set_owner(&id, who, now).map(|s| s.ended)),
                    (2, Some(id)) => {
                        let label = if arg == 0 { Label::default() } else { Label::new("l").unwrap() };
                        proptest::prop_assert_eq!(fixed.set_label(&id, label.clone(), now), map.set_label(&id, label, now));
                    }
                    (3, Some(id)) => {
                        let lifetime = [Lifetime::Default, Lifetime::REMEMBER_ME, Lifetime::BrowserSession][usize::from(arg)];
                        proptest::prop_assert_eq!(fixed.set_lifetime(&id, lifetime, now), map.set_lifetime(&id, lifetime, now));
                    }
                    (4, Some(id)) => {
                        let (f, m) = (fixed.regenerate(&id, &mut rf, now), map.regenerate(&id, &mut rm, now));
                        proptest::prop_assert_eq!(f, m);
                        if let Ok((new, _)) = f { ids.push(new) }
                    }
                    (5, Some(id)) => proptest::prop_assert_eq!(fixed.destroy(&id), map.destroy(&id)),
                    (6, _) => now = now.saturating_add(Duration::from_mins(20)),
                    (7, _) => proptest::prop_assert_eq!(fixed.purge_expired(now), map.purge_expired(now)),
                    (8, Some(id)) => proptest::prop_assert_eq!(fixed.clear_owner(&id, now), map.clear_owner(&id, now)),
                    _ => {}
                }
                for id in &ids {
                    proptest::prop_assert_eq!(fixed.meta(id, now), map.meta(id, now));
                    proptest::prop_assert_eq!(fixed.peek(id, now), map.peek(id, now));
                }
                for n in 0..3u8 {
                    let who = UserId::new(&[n]).unwrap();
                    let mut f: std::vec::Vec<_> = fixed.sessions_of(&who, None, now).map(|s| s.tag).collect();
                    let mut m: std::vec::Vec<_> = map.sessions_of(&who, None, now).map(|s| s.tag).collect();
                    f.sort();
                    m.sort();
                    proptest::prop_assert_eq!(f, m);
                }
            }
        }
    }
}

/// The footprint budget, on the host too: 16 slots of 32 bytes of data
/// take at most 16 × (32 + 48) bytes with no metadata pool, and a pool
/// entry costs one `Option<SessionMeta>` (the figure the docs quote).
#[test]
fn a_fixed_table_without_a_pool_stays_within_its_budget() {
    use core::mem::size_of;
    assert!(size_of::<FixedSlots<[u8; 32], 16>>() <= 16 * (32 + 48));
    let entry = size_of::<Option<SessionMeta>>();
    assert_eq!(
        size_of::<FixedSlots<[u8; 32], 16, 4>>(),
        size_of::<FixedSlots<[u8; 32], 16>>() + 4 * entry
    );
    assert!(entry <= 176, "{entry}");
}

mod small_pool_model {
    use super::*;
    use crate::owner::UserId;
    use std::collections::HashMap;

    proptest::proptest! {
        /// With a pool smaller than the table, whatever happens: the pool
        /// holds exactly the entries of sessions whose metadata says
        /// something, and a session still stored has the owner its last
        /// successful `set_owner`/`clear_owner` gave it (a refusal changes
        /// nothing; eviction takes the whole session, never its owner alone).
        #[test]
        fn no_session_loses_its_owner_silently(ops in proptest::collection::vec((0u8..8, 0usize..8, 0u8..3), 1..100)) {
            let mut t = SessionTable::<u8, 5, 2>::new();
            let mut rng = CountingRng(1);
            let mut ids: std::vec::Vec<SessionId> = std::vec::Vec::new();
            let mut owners: HashMap<SessionId, Option<UserId>> = HashMap::new();
            let mut now = Instant::ZERO;
            for (op, pick, arg) in ops {
                let id = ids.get(pick % ids.len().max(1)).copied();
                let who = UserId::new(&[arg]).unwrap();
                match (op, id) {
                    (0, _) => if let Ok((id, _)) = t.create(&mut rng, now, arg) { ids.push(id) },
                    (1, Some(id)) => match t.set_owner(&id, who.clone(), now) {
                        Ok(set) => {
                            owners.insert(id, Some(who));
                            if let Some(ended) = set.ended { owners.remove(&ended); }
                        }
                        Err(MetaError::NoRoom) => proptest::prop_assert!(t.contains(&id, now)),
                        Err(MetaError::NotFound) => proptest::prop_assert!(!t.contains(&id, now)),
                    },
                    (2, Some(id)) => { let _ = t.set_protected(&id, now, arg > 0); }
                    (3, Some(id)) => if let Ok((new, _)) = t.regenerate(&id, &mut rng, now) {
                        if let Some(owner) = owners.remove(&id) { owners.insert(new, owner); }
                        ids.push(new);
                    },
                    (4, Some(id)) => { t.destroy(&id); }
                    (5, _) => now = now.saturating_add(Duration::from_mins(20)),
                    (6, _) => { t.purge_expired(now); }
                    (7, Some(id)) => {
                        let cleared = t.clear_owner(&id, now);
                        if cleared.is_ok() { owners.insert(id, None); }
                    }
                    _ => {}
                }
                let saying = t.iter_with_meta().filter(|(_, _, m)| !slots::says_nothing(m)).count();
                proptest::prop_assert_eq!(t.slots.meta_len(), saying);
                proptest::prop_assert!(saying <= 2);
                for (id, _, meta) in t.iter_with_meta() {
                    if let Some(owner) = owners.get(&id) {
                        proptest::prop_assert_eq!(&meta.owner, owner);
                    } else {
                        proptest::prop_assert!(meta.owner.is_none());
                    }
                }
            }
        }
    }
}

mod restore_into_a_small_pool {
    use super::*;
    use crate::owner::UserId;

    /// A snapshot of `owned` owned and `plain` plain sessions.
    fn snapshot(owned: u8, plain: u8) -> std::vec::Vec<u8> {
        let mut t = SessionTable::<u32, 8, 8>::new();
        let mut rng = CountingRng(3);
        for n in 0..owned.saturating_add(plain) {
            let (id, _) = t.create(&mut rng, Instant::ZERO, u32::from(n)).unwrap();
            if n < owned {
                t.set_owner(&id, UserId::new(&[n]).unwrap(), Instant::ZERO)
                    .unwrap();
            }
        }
        let mut buf = [0u8; 2048];
        let len = t.write_snapshot(&mut buf, Instant::ZERO).unwrap();
        buf[..len].to_vec()
    }

    proptest::proptest! {
        /// Stored bytes, intact or edited with the CRC made again, restore
        /// whole or not at all into a table whose pool is smaller than its
        /// slots: never a panic, never more pool entries than the pool,
        /// never a half-restored table.
        #[test]
        fn restores_whole_or_not_at_all(
            owned in 0u8..4, plain in 0u8..4,
            edits in proptest::collection::vec((0usize..2048, proptest::num::u8::ANY), 0..4),
        ) {
            let mut bytes = snapshot(owned, plain);
            let body = bytes.len() - 4;
            for (at, value) in &edits {
                if let Some(b) = bytes.get_mut(17 + at % body.saturating_sub(17).max(1)) {
                    *b ^= value;
                }
            }
            if !edits.is_empty() {
                let crc = crate::crc::crc32(&bytes[..body]);
                bytes[body..].copy_from_slice(&crc.to_le_bytes());
            }
            let mut t = SessionTable::<u32, 8, 2>::new();
            match t.restore_snapshot(&bytes, Instant::ZERO) {
                Ok(n) => {
                    proptest::prop_assert_eq!(n, t.len());
                    proptest::prop_assert!(t.slots.meta_len() <= 2);
                    if edits.is_empty() {
                        proptest::prop_assert!(owned <= 2);
                        proptest::prop_assert_eq!(n, usize::from(owned + plain));
                        proptest::prop_assert_eq!(t.slots.meta_len(), usize::from(owned));
                    }
                }
                Err(e) => {
                    proptest::prop_assert!(t.is_empty());
                    proptest::prop_assert_eq!(t.slots.meta_len(), 0);
                    if edits.is_empty() {
                        proptest::prop_assert_eq!(e, RestoreError::TooManyOwned);
                        proptest::prop_assert!(owned > 2);
                    }
                }
            }
        }
    }
}
