//! Table behaviour: the same cases for every kind of table, on every target.
//!
//! Each function takes a constructor for an empty table of capacity 4 holding
//! `u32` data; [`table_cases!`](macro@crate::table_cases) lists them for one constructor.

use sesh::expiry::ExpiryPolicy;
use sesh::table::{CreateError, InsertError, RegenerateError, RestoreError, Slots, Table};
use sesh::{Duration, Instant, SessionId};

use crate::case::Outcome;
use crate::rng::{FailingRng, RepeatThenRandomRng, StuckRng, TestRng};
use crate::{check, check_eq};

/// Idle 100 s, absolute 1000 s, refresh after 25 s.
pub const POLICY: ExpiryPolicy = ExpiryPolicy::new()
    .with_idle_timeout(Duration::from_secs(100))
    .with_absolute_lifetime(Duration::from_secs(1000))
    .with_refresh_percent(25);

/// The capacity every constructor must give.
pub const CAPACITY: usize = 4;

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn table<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Table<S> {
    let mut t = make();
    t.set_policy(POLICY);
    t
}

fn rng() -> TestRng {
    TestRng(0x5e55_1011)
}

/// Creates a session or fails the case.
macro_rules! create {
    ($t:expr, $rng:expr, $now:expr, $data:expr) => {
        match $t.create($rng, $now, $data) {
            Ok((id, _)) => id,
            Err(_) => {
                return Err($crate::case::Failure {
                    line: line!(),
                    check: "create succeeds",
                })
            }
        }
    };
}

/// A new session is readable, counts one slot, and is refreshed (new cookie).
pub fn create_then_get<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    check!(t.is_empty());
    check_eq!(t.capacity(), CAPACITY);
    let (id, access) = match t.create(&mut rng(), at(0), 7) {
        Ok(created) => created,
        Err(_) => {
            return Err(crate::case::Failure {
                line: line!(),
                check: "create",
            });
        }
    };
    check!(access.refreshed);
    check!(!access.protected);
    check_eq!(access.expires_at, at(100));
    check_eq!(t.len(), 1);
    check_eq!(t.get(&id, at(1)).map(|(d, _)| *d), Some(7));
    check_eq!(t.peek(&id, at(1)), Some(&7));
    Ok(())
}

/// An id the table never issued selects nothing, and looking it up stores nothing.
pub fn unknown_ids_select_nothing<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    create!(t, &mut r, at(0), 1);
    let stranger = SessionId::generate(&mut TestRng(99)).map_err(|_| crate::case::Failure {
        line: line!(),
        check: "id",
    })?;
    check!(t.get(&stranger, at(0)).is_none());
    check!(t.update(&stranger, at(0), |d| *d = 5).is_none());
    check!(t.set_protected(&stranger, at(0), true).is_err());
    check_eq!(
        t.regenerate(&stranger, &mut r, at(0)),
        Err(RegenerateError::NotFound)
    );
    check_eq!(t.destroy(&stranger), None);
    check_eq!(t.len(), 1);
    Ok(())
}

/// `update` is one read-modify-write and returns the closure's result.
pub fn update_is_read_modify_write<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 0);
    for expected in 1..=100u32 {
        let got = t.update(&id, at(1), |n| {
            *n += 1;
            *n
        });
        check_eq!(got.map(|(n, _)| n), Some(expected));
    }
    check_eq!(t.peek(&id, at(1)), Some(&100));
    Ok(())
}

/// Idle expiry at T−1, T and T+1, checked on lookup (no sweeper ran).
pub fn idle_expiry_boundaries<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 1);
    let deadline = at(100);
    check!(t.contains(&id, deadline.saturating_sub(Duration::from_millis(1))));
    check!(!t.contains(&id, deadline));
    check!(!t.contains(&id, deadline + Duration::from_millis(1)));
    check!(t.get(&id, deadline).is_none());
    check_eq!(t.len(), 0);
    Ok(())
}

/// A busy session still expires at its absolute deadline.
pub fn absolute_expiry_boundaries<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 1);
    // Used every 50 s, so the idle deadline never passes.
    let mut now = 0;
    while now < 950 {
        now += 50;
        check!(t.get(&id, at(now)).is_some());
    }
    let (_, access) = match t.get(&id, Instant::from_millis(999_999)) {
        Some(found) => found,
        None => {
            return Err(crate::case::Failure {
                line: line!(),
                check: "live at T-1",
            });
        }
    };
    check_eq!(access.expires_at, at(1000));
    check!(t.get(&id, at(1000)).is_none());
    check!(t.get(&id, Instant::from_millis(1_000_001)).is_none());
    Ok(())
}

/// The idle deadline moves only after 25 % of the timeout, and `expires_at`
/// always equals the stored deadline (so the cookie's Max-Age agrees).
pub fn refresh_is_throttled<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 1);
    let first = t.get(&id, Instant::from_millis(24_999)).map(|(_, a)| a);
    check_eq!(
        first.map(|a| (a.refreshed, a.expires_at)),
        Some((false, at(100)))
    );
    let second = t.get(&id, at(25)).map(|(_, a)| a);
    check_eq!(
        second.map(|a| (a.refreshed, a.expires_at)),
        Some((true, at(125)))
    );
    let third = t.get(&id, at(26)).map(|(_, a)| a);
    check_eq!(
        third.map(|a| (a.refreshed, a.expires_at)),
        Some((false, at(125)))
    );
    let stored = t.iter().next().map(|(_, r)| r.deadlines.expires_at());
    check_eq!(stored, Some(at(125)));
    // Max-Age at 26 s: 99 s left.
    check_eq!(at(125).saturating_duration_since(at(26)).as_secs_ceil(), 99);
    Ok(())
}

/// Regenerate: a new id, the data kept, the old id dead, the lifetime restarted.
pub fn regenerate_moves_the_session<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    let old = create!(t, &mut r, at(0), 42);
    check!(t.set_protected(&old, at(0), true).is_ok());
    let (new, access) = t
        .regenerate(&old, &mut r, at(50))
        .map_err(|_| crate::case::Failure {
            line: line!(),
            check: "regenerate",
        })?;
    check!(new != old);
    check!(access.refreshed && access.protected);
    check_eq!(access.expires_at, at(150));
    check!(!t.contains(&old, at(50)));
    check_eq!(t.peek(&new, at(50)), Some(&42));
    check_eq!(t.len(), 1);
    check_eq!(
        t.regenerate(&old, &mut r, at(50)),
        Err(RegenerateError::NotFound)
    );
    // The absolute lifetime counts from the regeneration.
    check_eq!(
        t.iter().next().map(|(_, r)| r.deadlines.absolute),
        Some(at(1050))
    );
    Ok(())
}

/// Destroy removes the session for good.
pub fn destroy_removes<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 3);
    check_eq!(t.destroy(&id), Some(3));
    check!(!t.contains(&id, at(0)));
    check!(t.is_empty());
    Ok(())
}

/// A full table drops expired sessions before evicting anyone live.
pub fn full_table_drops_expired_first<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    let old = create!(t, &mut r, at(0), 0);
    let mut live = [old; 3];
    for (i, slot) in live.iter_mut().enumerate() {
        *slot = create!(t, &mut r, at(50), i as u32);
    }
    // At 120 s the first session has expired; the others (deadline 150 s) live.
    create!(t, &mut r, at(120), 9);
    check_eq!(t.len(), CAPACITY);
    for id in &live {
        check!(t.contains(id, at(120)));
    }
    Ok(())
}

/// A full table evicts the least recently *used* unprotected session.
pub fn full_table_evicts_lru_unprotected<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    let a = create!(t, &mut r, at(0), 0);
    let b = create!(t, &mut r, at(0), 1);
    let c = create!(t, &mut r, at(0), 2);
    let d = create!(t, &mut r, at(0), 3);
    check!(t.set_protected(&a, at(1), true).is_ok()); // oldest, but protected
    check!(t.get(&b, at(2)).is_some()); // b used after c
    let e = create!(t, &mut r, at(3), 4);
    check!(!t.contains(&c, at(3)));
    for id in [&a, &b, &d, &e] {
        check!(t.contains(id, at(3)));
    }
    Ok(())
}

/// When every slot is protected, create fails and hands the data back.
pub fn all_protected_is_full<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    for i in 0..CAPACITY {
        let id = create!(t, &mut r, at(0), i as u32);
        check!(t.set_protected(&id, at(0), true).is_ok());
    }
    check_eq!(t.create(&mut r, at(1), 77), Err(CreateError::Full(77)));
    check_eq!(t.protected_len(), CAPACITY);
    Ok(())
}

/// A failing RNG makes create and regenerate fail closed.
pub fn rng_failure_fails_closed<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    check_eq!(
        t.create(&mut FailingRng, at(0), 5),
        Err(CreateError::Rng(5))
    );
    check!(t.is_empty());
    let id = create!(t, &mut rng(), at(0), 1);
    check_eq!(
        t.regenerate(&id, &mut FailingRng, at(0)),
        Err(RegenerateError::Rng)
    );
    check_eq!(t.peek(&id, at(0)), Some(&1));
    Ok(())
}

/// An RNG that repeats itself never overwrites or returns another session.
pub fn repeated_ids_never_overwrite<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let first = create!(t, &mut StuckRng(7), at(0), 1);
    check_eq!(
        t.create(&mut StuckRng(7), at(0), 2),
        Err(CreateError::Collision(2))
    );
    check_eq!(
        t.regenerate(&first, &mut StuckRng(7), at(0)),
        Err(RegenerateError::Collision)
    );
    check_eq!(t.peek(&first, at(0)), Some(&1));
    // Three repeats, then fresh bytes: the fourth attempt succeeds.
    let mut flaky = RepeatThenRandomRng {
        repeats: 3,
        byte: 7,
        then: rng(),
    };
    let second = create!(t, &mut flaky, at(0), 2);
    check!(second != first);
    check_eq!(t.peek(&first, at(0)), Some(&1));
    check_eq!(t.peek(&second, at(0)), Some(&2));
    Ok(())
}

/// Inserting under a live id leaves the live session alone.
pub fn insert_never_overwrites_a_live_session<S: Slots<Data = u32>>(
    make: fn() -> Table<S>,
) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(0), 1);
    let record = sesh::record::SessionRecord {
        deadlines: POLICY.start(at(0)),
        protected: true,
        data: 2,
    };
    check_eq!(
        t.insert(id, record.clone(), at(0)),
        Err(InsertError::Exists(2))
    );
    check_eq!(t.peek(&id, at(0)), Some(&1));
    // Once the old one has expired, the id may be reused.
    let later = sesh::record::SessionRecord {
        deadlines: POLICY.start(at(200)),
        ..record
    };
    check!(t.insert(id, later, at(200)).is_ok());
    check_eq!(t.peek(&id, at(200)), Some(&2));
    Ok(())
}

/// `purge_expired` and `next_expiry` agree with the deadlines.
pub fn purge_and_next_expiry<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    check_eq!(t.next_expiry(), None);
    create!(t, &mut r, at(0), 1);
    create!(t, &mut r, at(10), 2);
    check_eq!(t.next_expiry(), Some(at(100)));
    check_eq!(t.purge_expired(Instant::from_millis(99_999)), 0);
    check_eq!(t.purge_expired(at(100)), 1);
    check_eq!(t.next_expiry(), Some(at(110)));
    check_eq!(t.purge_expired(at(1000)), 1);
    check_eq!(t.next_expiry(), None);
    Ok(())
}

fn snapshot_of<S: Slots<Data = u32>>(t: &Table<S>, now: Instant, buf: &mut [u8]) -> Option<usize> {
    t.write_snapshot(buf, now).ok()
}

/// A snapshot restores every live session with its data and flags.
pub fn snapshot_round_trip<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    let a = create!(t, &mut r, at(0), 11);
    let b = create!(t, &mut r, at(0), 22);
    check!(t.set_protected(&b, at(0), true).is_ok());
    let mut buf = [0u8; 256];
    let Some(len) = snapshot_of(&t, at(10), &mut buf) else {
        return Err(crate::case::Failure {
            line: line!(),
            check: "snapshot",
        });
    };
    let mut restored = table(make);
    check_eq!(
        restored.restore_snapshot(buf.get(..len).unwrap_or_default(), at(10)),
        Ok(2)
    );
    check_eq!(restored.peek(&a, at(10)), Some(&11));
    check_eq!(restored.peek(&b, at(10)), Some(&22));
    check_eq!(restored.protected_len(), 1);
    check_eq!(
        restored.restore_snapshot(buf.get(..len).unwrap_or_default(), at(10)),
        Err(RestoreError::NotEmpty)
    );
    Ok(())
}

/// After a reboot with the clock back at zero, each session keeps the time it
/// had left; the time the device was off does not count; nothing is immortal.
pub fn snapshot_across_reboot<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let id = create!(t, &mut rng(), at(5000), 1);
    // Saved at 5060 s: 40 s of idle time left, 940 s absolute.
    let mut buf = [0u8; 128];
    let Some(len) = snapshot_of(&t, at(5060), &mut buf) else {
        return Err(crate::case::Failure {
            line: line!(),
            check: "snapshot",
        });
    };
    let mut booted = table(make);
    check_eq!(
        booted.restore_snapshot(buf.get(..len).unwrap_or_default(), at(0)),
        Ok(1)
    );
    check!(booted.contains(&id, Instant::from_millis(39_999)));
    check!(!booted.contains(&id, at(40)));
    check_eq!(booted.next_expiry(), Some(at(40)));
    // A session saved with no time left is not restored.
    let mut late = table(make);
    let Some(len) = snapshot_of(&t, at(5099), &mut buf) else {
        return Err(crate::case::Failure {
            line: line!(),
            check: "snapshot",
        });
    };
    check_eq!(
        late.restore_snapshot(buf.get(..len).unwrap_or_default(), at(0)),
        Ok(1)
    );
    check!(!late.contains(&id, at(1)));
    Ok(())
}

/// Every truncation and every single-bit flip of a snapshot is refused, and
/// leaves the table empty.
pub fn damaged_snapshots_are_refused_whole<S: Slots<Data = u32>>(
    make: fn() -> Table<S>,
) -> Outcome {
    let mut t = table(make);
    let mut r = rng();
    create!(t, &mut r, at(0), 1);
    create!(t, &mut r, at(0), 2);
    let mut buf = [0u8; 256];
    let Some(len) = snapshot_of(&t, at(0), &mut buf) else {
        return Err(crate::case::Failure {
            line: line!(),
            check: "snapshot",
        });
    };
    let good = buf.get(..len).unwrap_or_default();
    for cut in 0..len {
        let mut fresh = table(make);
        check!(
            fresh
                .restore_snapshot(good.get(..cut).unwrap_or_default(), at(0))
                .is_err()
        );
        check!(fresh.is_empty());
    }
    let mut damaged = [0u8; 256];
    for i in 0..len {
        for bit in 0..8 {
            damaged.copy_from_slice(&buf);
            if let Some(b) = damaged.get_mut(i) {
                *b ^= 1 << bit;
            }
            let mut fresh = table(make);
            check!(
                fresh
                    .restore_snapshot(damaged.get(..len).unwrap_or_default(), at(0))
                    .is_err()
            );
            check!(fresh.is_empty());
        }
    }
    Ok(())
}

/// Foreign bytes, an unknown version and a too-small buffer are clear errors.
pub fn foreign_and_future_snapshots<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    check_eq!(
        t.restore_snapshot(b"GIF89a and then some bytes", at(0)),
        Err(RestoreError::BadMagic)
    );
    check_eq!(t.restore_snapshot(&[], at(0)), Err(RestoreError::Truncated));
    let mut future = [0u8; 64];
    let Some(len) = snapshot_of(&t, at(0), &mut future) else {
        return Err(crate::case::Failure {
            line: line!(),
            check: "snapshot",
        });
    };
    if let Some(v) = future.get_mut(4) {
        *v = sesh::table::SNAPSHOT_VERSION.wrapping_add(1);
    }
    check_eq!(
        t.restore_snapshot(future.get(..len).unwrap_or_default(), at(0)),
        Err(RestoreError::UnsupportedVersion(
            sesh::table::SNAPSHOT_VERSION.wrapping_add(1)
        ))
    );
    create!(t, &mut rng(), at(0), 1);
    let mut tiny = [0u8; 20];
    check!(t.write_snapshot(&mut tiny, at(0)).is_err());
    Ok(())
}

/// Lists every table case for one constructor, as `[Case; N]`.
#[macro_export]
macro_rules! table_cases {
    ($prefix:literal, $make:path) => {
        $crate::table_cases!(@list $prefix, $make;
            create_then_get, unknown_ids_select_nothing, update_is_read_modify_write,
            idle_expiry_boundaries, absolute_expiry_boundaries, refresh_is_throttled,
            regenerate_moves_the_session, destroy_removes, full_table_drops_expired_first,
            full_table_evicts_lru_unprotected, all_protected_is_full, rng_failure_fails_closed,
            repeated_ids_never_overwrite, insert_never_overwrites_a_live_session,
            purge_and_next_expiry, snapshot_round_trip, snapshot_across_reboot,
            damaged_snapshots_are_refused_whole, foreign_and_future_snapshots)
    };
    (@list $prefix:literal, $make:path; $($case:ident),* $(,)?) => {
        [$($crate::case::Case {
            name: concat!($prefix, "::", stringify!($case)),
            run: || $crate::table_cases::$case($make),
        }),*]
    };
}
