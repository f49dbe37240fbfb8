//! Sessions with owners (issue 16): listing, revoking, the per-user cap and
//! per-session lifetimes, the same cases for every kind of table, on every
//! target.
//!
//! Each function takes a constructor for an empty table of capacity
//! [`CAPACITY`](crate::table_cases::CAPACITY) holding `u32` data;
//! [`owner_cases!`](macro@crate::owner_cases) lists them for one constructor.

use sesh::expiry::Lifetime;
use sesh::owner::{DisplayTag, Label, SignIn, UserId};
use sesh::table::{CreateError, NotFound, Slots, Table};
use sesh::{Duration, Instant, SessionId};

use crate::case::{Failure, Outcome};
use crate::rng::TestRng;
use crate::table_cases::POLICY;
use crate::{check, check_eq};

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn table<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Table<S> {
    make().with_policy(POLICY)
}

fn user(name: &[u8]) -> Result<UserId, Failure> {
    UserId::new(name).map_err(|_| Failure {
        line: line!(),
        check: "a short user id",
    })
}

fn fail(check: &'static str) -> Failure {
    Failure {
        line: line!(),
        check,
    }
}

/// A new session owned by `owner`.
fn owned<S: Slots<Data = u32>>(
    t: &mut Table<S>,
    rng: &mut TestRng,
    now: Instant,
    owner: &UserId,
) -> Result<SessionId, Failure> {
    let (id, _) = t.create(rng, now, 0).map_err(|_| fail("create succeeds"))?;
    t.set_owner(&id, owner.clone(), now)
        .map_err(|_| fail("set_owner finds the session"))?;
    Ok(id)
}

/// A new session signed in by `sign_in`, from no session.
fn signed_in<S: Slots<Data = u32>>(
    t: &mut Table<S>,
    rng: &mut TestRng,
    sign_in: &SignIn,
    now: Instant,
) -> Result<SessionId, Failure> {
    t.sign_in(None, sign_in, 0, rng, now)
        .map(|done| done.id)
        .map_err(|_| fail("sign_in fits"))
}

/// Whether `user`'s listing holds `id` (by its tag).
fn lists<S: Slots<Data = u32>>(t: &Table<S>, user: &UserId, id: &SessionId, now: Instant) -> bool {
    let tag = DisplayTag::of(id);
    t.sessions_of(user, None, now).any(|s| s.tag == tag)
}

/// The listing shows times, label and lifetime, and marks the current one.
pub fn listing_shows_each_session<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(16);
    let alice = user(b"alice")?;
    let first = owned(&mut t, &mut rng, at(1), &alice)?;
    let second = owned(&mut t, &mut rng, at(2), &alice)?;
    let (nobodys, _) = t.create(&mut rng, at(2), 9).map_err(|_| fail("create"))?;
    let label = Label::new("Firefox on Linux").map_err(|_| fail("short label"))?;
    check!(t.set_label(&second, label.clone(), at(30)).is_ok());
    check_eq!(t.sessions_of(&alice, Some(&second), at(30)).count(), 2);
    let Some(info) = t
        .sessions_of(&alice, Some(&second), at(30))
        .find(|s| s.current)
    else {
        return Err(fail("the current session is marked"));
    };
    check_eq!(info.tag, DisplayTag::of(&second));
    check_eq!(info.created, at(2));
    check_eq!(info.last_seen, at(30));
    check_eq!(info.label, label);
    check_eq!(info.lifetime, Lifetime::Default);
    check_eq!(info.expires_at, at(30) + Duration::from_secs(100));
    check!(lists(&t, &alice, &first, at(30)));
    check!(!lists(&t, &alice, &nobodys, at(30)));
    check_eq!(t.sessions_of(&user(b"bob")?, None, at(30)).count(), 0);
    // Listing is no use: nothing moved.
    check_eq!(t.meta(&first, at(30)).map(|m| m.last_seen), Some(at(1)));
    Ok(())
}

/// A user ends their own session by its tag; another user's tag, an
/// unknown tag or an expired session ends nothing.
pub fn revoke_never_crosses_users<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(17);
    let (alice, bob) = (user(b"alice")?, user(b"bob")?);
    let alices = owned(&mut t, &mut rng, at(0), &alice)?;
    let bobs = owned(&mut t, &mut rng, at(0), &bob)?;
    check_eq!(
        t.revoke(&alice, &DisplayTag::of(&bobs), at(1)),
        Err(NotFound)
    );
    check!(t.contains(&bobs, at(1)));
    let unknown = DisplayTag::parse("0123456789abcdef").ok_or(fail("a tag"))?;
    check_eq!(t.revoke(&alice, &unknown, at(1)), Err(NotFound));
    check_eq!(
        t.revoke(&alice, &DisplayTag::of(&alices), at(1)),
        Ok(alices)
    );
    check!(!t.contains(&alices, at(1)));
    check_eq!(
        t.revoke(&alice, &DisplayTag::of(&alices), at(1)),
        Err(NotFound)
    );
    // Bob's session expires: its tag no longer ends anything.
    check_eq!(
        t.revoke(&bob, &DisplayTag::of(&bobs), at(100)),
        Err(NotFound)
    );
    check!(t.is_empty());
    Ok(())
}

/// Revoke-all ends every session of the user but the current one, and no
/// other user's.
pub fn revoke_all_keeps_the_current_one<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(18);
    let (alice, bob) = (user(b"alice")?, user(b"bob")?);
    let a1 = owned(&mut t, &mut rng, at(0), &alice)?;
    let a2 = owned(&mut t, &mut rng, at(0), &alice)?;
    let a3 = owned(&mut t, &mut rng, at(0), &alice)?;
    let b1 = owned(&mut t, &mut rng, at(0), &bob)?;
    check_eq!(t.revoke_all(&alice, Some(&a2), at(1)), 2);
    check!(t.contains(&a2, at(1)) && t.contains(&b1, at(1)));
    check!(!t.contains(&a1, at(1)) && !t.contains(&a3, at(1)));
    check_eq!(t.revoke_all(&alice, None, at(1)), 1);
    check_eq!(t.revoke_all(&alice, None, at(1)), 0);
    check_eq!(t.len(), 1);
    check!(lists(&t, &bob, &b1, at(1)));
    Ok(())
}

/// Past the per-user cap, the user's least recently used session ends (even
/// a protected one) and is named; other users' sessions stay.
pub fn per_user_cap_ends_the_least_recently_used<S: Slots<Data = u32>>(
    make: fn() -> Table<S>,
) -> Outcome {
    let mut t = table(make).with_max_sessions_per_user(2);
    let mut rng = TestRng(19);
    let (alice, bob) = (user(b"alice")?, user(b"bob")?);
    let old = owned(&mut t, &mut rng, at(0), &alice)?;
    let used = owned(&mut t, &mut rng, at(1), &alice)?;
    let bobs = owned(&mut t, &mut rng, at(1), &bob)?;
    check!(t.set_protected(&old, at(2), true).is_ok());
    check!(t.get(&used, at(3)).is_some()); // `old` is now the least recent
    let (new, _) = t.create(&mut rng, at(4), 0).map_err(|_| fail("create"))?;
    let set = t
        .set_owner(&new, alice.clone(), at(4))
        .map_err(|_| fail("set_owner"))?;
    check_eq!(set.ended, Some(old));
    check!(!t.contains(&old, at(4)));
    check_eq!(t.sessions_of(&alice, None, at(4)).count(), 2);
    check!(t.contains(&bobs, at(4)));
    // Owning a session twice is no new session.
    check_eq!(t.set_owner(&new, alice, at(5)).map(|s| s.ended), Ok(None));
    Ok(())
}

/// Destroyed, expired, purged, evicted and regenerated sessions leave the
/// listing (a regenerated one comes back under its new tag).
pub fn gone_sessions_leave_the_listing<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(20);
    let alice = user(b"alice")?;
    let destroyed = owned(&mut t, &mut rng, at(0), &alice)?;
    t.destroy(&destroyed);
    check!(!lists(&t, &alice, &destroyed, at(0)));
    let moved = owned(&mut t, &mut rng, at(0), &alice)?;
    let Ok((new, _)) = t.regenerate(&moved, &mut rng, at(10)) else {
        return Err(fail("regenerate"));
    };
    check!(!lists(&t, &alice, &moved, at(10)) && lists(&t, &alice, &new, at(10)));
    check_eq!(t.meta(&new, at(10)).map(|m| m.created), Some(at(0)));
    // `new` expires at 110; `fresh` lives on.
    let fresh = owned(&mut t, &mut rng, at(60), &alice)?;
    check!(!lists(&t, &alice, &new, at(110)));
    check_eq!(t.purge_expired(at(110)), 1);
    check_eq!(t.sessions_of(&alice, None, at(110)).count(), 1);
    // A full table evicts its least recently used unprotected session: `fresh`.
    for n in 0..4u32 {
        check!(t.create(&mut rng, at(111), n).is_ok());
    }
    check!(!t.contains(&fresh, at(111)) && !lists(&t, &alice, &fresh, at(111)));
    check_eq!(t.sessions_of(&alice, None, at(111)).count(), 0);
    t.clear();
    check_eq!(t.sessions_of(&alice, None, at(111)).count(), 0);
    Ok(())
}

/// Remember me has its own deadlines, which uses refresh; a browser session
/// keeps the policy's but its cookie has no `Max-Age`; regeneration keeps
/// the choice.
pub fn lifetimes_are_per_session<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(21);
    let long = Lifetime::Persistent {
        idle: Duration::from_secs(1_000),
        absolute: Duration::from_secs(5_000),
    };
    let (id, _) = t.create(&mut rng, at(0), 1).map_err(|_| fail("create"))?;
    let access = t
        .set_lifetime(&id, long, at(10))
        .map_err(|_| fail("live"))?;
    check!(access.refreshed);
    check_eq!(access.expires_at, at(1_010));
    // The policy's idle timeout (100 s) no longer applies.
    check!(t.contains(&id, at(500)));
    let Some((_, access)) = t.get(&id, at(500)) else {
        return Err(fail("remember me outlives the policy's idle timeout"));
    };
    check!(access.refreshed);
    check_eq!(access.expires_at, at(1_500));
    let Ok((id, access)) = t.regenerate(&id, &mut rng, at(600)) else {
        return Err(fail("regenerate"));
    };
    check_eq!(access.expires_at, at(1_600));
    check_eq!(t.meta(&id, at(600)).map(|m| m.lifetime), Some(long));
    check!(!t.contains(&id, at(5_600)));

    let (browser, _) = t.create(&mut rng, at(0), 2).map_err(|_| fail("create"))?;
    let access = t
        .set_lifetime(&browser, Lifetime::BrowserSession, at(5))
        .map_err(|_| fail("live"))?;
    check_eq!(access.expires_at, at(105));
    check_eq!(
        t.meta(&browser, at(5))
            .map(|m| m.lifetime.cookie_has_max_age()),
        Some(false)
    );
    check!(!t.contains(&browser, at(105)));
    Ok(())
}

/// A sign-in is one step: the anonymous session ends, and a new one under
/// a fresh id holds the data, is protected, owned, labelled and lives by
/// its lifetime from now; without a session one is created the same way.
pub fn sign_in_is_one_step<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(23);
    let alice = user(b"alice")?;
    let label = Label::new("phone").map_err(|_| fail("short label"))?;
    let sign_in = SignIn::new(alice.clone())
        .with_label(label.clone())
        .with_lifetime(Lifetime::BrowserSession);
    let (anonymous, _) = t.create(&mut rng, at(0), 1).map_err(|_| fail("create"))?;
    let Ok(done) = t.sign_in(Some(&anonymous), &sign_in, 7, &mut rng, at(10)) else {
        return Err(fail("sign_in over a live session"));
    };
    check!(!t.contains(&anonymous, at(10)));
    check!(done.id != anonymous);
    check_eq!(done.ended, None);
    check!(done.access.refreshed);
    check!(done.access.protected);
    check_eq!(done.access.expires_at, at(110));
    check_eq!(t.len(), 1);
    check_eq!(t.protected_len(), 1);
    check_eq!(t.peek(&done.id, at(10)), Some(&7));
    let Some(meta) = t.meta(&done.id, at(10)) else {
        return Err(fail("the new session has metadata"));
    };
    check_eq!(meta.owner.as_ref(), Some(&alice));
    check_eq!(&meta.label, &label);
    check_eq!(meta.lifetime, Lifetime::BrowserSession);
    check_eq!(meta.created, at(10));
    check!(lists(&t, &alice, &done.id, at(10)));

    let Ok(fresh) = t.sign_in(None, &sign_in, 8, &mut rng, at(20)) else {
        return Err(fail("sign_in without a session"));
    };
    check_eq!(t.peek(&fresh.id, at(20)), Some(&8));
    check_eq!(t.sessions_of(&alice, None, at(20)).count(), 2);
    // A `current` that is gone is no session: a new one starts.
    let Ok(late) = t.sign_in(Some(&anonymous), &sign_in, 9, &mut rng, at(30)) else {
        return Err(fail("sign_in over an ended session"));
    };
    check_eq!(t.sessions_of(&alice, None, at(30)).count(), 3);
    check!(t.contains(&late.id, at(30)));
    Ok(())
}

/// A sign-in that cannot fit changes nothing and hands the data back; over
/// a live session it reuses that session's slot, so it fits in a table
/// full of signed-in sessions. The per-user cap holds as at `set_owner`.
pub fn a_refused_sign_in_changes_nothing<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make).with_max_sessions_per_user(2);
    let mut rng = TestRng(24);
    let (alice, bob) = (user(b"alice")?, user(b"bob")?);
    let as_bob = SignIn::new(bob.clone());
    let as_alice = SignIn::new(alice.clone());
    let bobs = [
        signed_in(&mut t, &mut rng, &as_bob, at(0))?,
        signed_in(&mut t, &mut rng, &as_bob, at(1))?,
    ];
    let alices = [
        signed_in(&mut t, &mut rng, &as_alice, at(2))?,
        signed_in(&mut t, &mut rng, &as_alice, at(3))?,
    ];
    check_eq!(t.protected_len(), t.capacity());
    let refused = t.sign_in(None, &as_alice, 5, &mut rng, at(5));
    check_eq!(refused.map(|d| d.id), Err(CreateError::Full(5)));
    check_eq!(t.len(), t.capacity());
    for id in bobs.iter().chain(alices.iter()) {
        check!(t.contains(id, at(5)));
    }
    // Over one of alice's own: its slot is reused, and she keeps two.
    let Ok(again) = t.sign_in(Some(&alices[1]), &as_alice, 6, &mut rng, at(6)) else {
        return Err(fail("signing in again over a live session"));
    };
    check_eq!(again.ended, None);
    check!(!t.contains(&alices[1], at(6)));
    check_eq!(t.sessions_of(&alice, None, at(6)).count(), 2);
    // Over one of bob's, as alice: bob loses it, and alice's least recently
    // used session ends at her cap.
    let Ok(taken) = t.sign_in(Some(&bobs[0]), &as_alice, 7, &mut rng, at(7)) else {
        return Err(fail("signing in as alice over bob's session"));
    };
    check_eq!(taken.ended, Some(alices[0]));
    check_eq!(t.sessions_of(&bob, None, at(7)).count(), 1);
    check_eq!(t.sessions_of(&alice, None, at(7)).count(), 2);
    Ok(())
}

/// A snapshot keeps owners, labels, lifetimes and times (moved to the new
/// clock), and the owner listing works after the restore.
pub fn owners_survive_a_snapshot<S: Slots<Data = u32>>(make: fn() -> Table<S>) -> Outcome {
    let mut t = table(make);
    let mut rng = TestRng(22);
    let alice = user(b"alice")?;
    let id = owned(&mut t, &mut rng, at(1_000), &alice)?;
    check!(
        t.set_lifetime(&id, Lifetime::REMEMBER_ME, at(1_000))
            .is_ok()
    );
    let label = Label::new("Pixel 9").map_err(|_| fail("short label"))?;
    check!(t.set_label(&id, label.clone(), at(1_030)).is_ok());
    let mut buf = [0u8; 512];
    let Ok(len) = t.write_snapshot(&mut buf, at(1_060)) else {
        return Err(fail("the snapshot fits"));
    };
    let mut after = table(make);
    // After a reboot the clock restarts at zero.
    check_eq!(
        after.restore_snapshot(buf.get(..len).unwrap_or_default(), at(0)),
        Ok(1)
    );
    let Some(info) = after.sessions_of(&alice, Some(&id), at(0)).next() else {
        return Err(fail("the restored session is listed"));
    };
    check!(info.current);
    check_eq!(info.label, label);
    check_eq!(info.lifetime, Lifetime::REMEMBER_ME);
    check_eq!(info.created, Instant::ZERO); // 60 s before the reboot: clamped at zero
    // Remember me still outlives the policy's absolute lifetime (1000 s).
    check!(after.contains(&id, at(10_000)));
    check_eq!(after.revoke_all(&alice, None, at(10_000)), 1);
    Ok(())
}

/// Lists every owner case for one table constructor, as [`crate::case::Case`]s
/// named `prefix::owner::case`.
#[macro_export]
macro_rules! owner_cases {
    ($prefix:literal, $make:path) => {
        $crate::owner_cases!(@list $prefix, $make;
            listing_shows_each_session, revoke_never_crosses_users,
            revoke_all_keeps_the_current_one, per_user_cap_ends_the_least_recently_used,
            gone_sessions_leave_the_listing, lifetimes_are_per_session,
            sign_in_is_one_step, a_refused_sign_in_changes_nothing,
            owners_survive_a_snapshot)
    };
    (@list $prefix:literal, $make:path; $($case:ident),* $(,)?) => {
        [$($crate::case::Case {
            name: concat!($prefix, "::owner::", stringify!($case)),
            run: || $crate::owner_cases::$case($make),
        }),*]
    };
}
