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
