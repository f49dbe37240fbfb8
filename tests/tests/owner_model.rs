//! Drives both tables with random operations on owned sessions (issue 16)
//! and checks after every step that the owner listing is exactly the live
//! owned sessions (never a gone one, never missing a live one), that gone
//! ids stay gone, and that revoking never touches another user's sessions.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sesh::expiry::{ExpiryPolicy, Lifetime};
use sesh::owner::{DisplayTag, SignIn, UserId};
use sesh::table::{Slots, Table};
use sesh::{Duration, Instant, SessionId};
use sesh_tests::rng::TestRng;

const CAPACITY: usize = 6;
const USERS: u8 = 3;
const PER_USER: usize = 2;

const POLICY: ExpiryPolicy = ExpiryPolicy::new()
    .with_idle_timeout(Duration::from_secs(100))
    .with_absolute_lifetime(Duration::from_secs(1000))
    .with_refresh_percent(25);

#[derive(Debug, Clone)]
enum Op {
    Create,
    Get(usize),
    SetOwner(usize, u8),
    /// Signs in as a user over a session (`Some`) or from none.
    SignIn(Option<usize>, u8),
    ClearOwner(usize),
    Regenerate(usize),
    Destroy(usize),
    Revoke(u8, usize),
    RevokeAll(u8, Option<usize>),
    SetLifetime(usize, u8),
    Advance(u64),
    Purge,
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Create),
        2 => any::<usize>().prop_map(Op::Get),
        4 => (any::<usize>(), 0..USERS).prop_map(|(i, u)| Op::SetOwner(i, u)),
        3 => (proptest::option::of(any::<usize>()), 0..USERS).prop_map(|(i, u)| Op::SignIn(i, u)),
        1 => any::<usize>().prop_map(Op::ClearOwner),
        2 => any::<usize>().prop_map(Op::Regenerate),
        1 => any::<usize>().prop_map(Op::Destroy),
        2 => (0..USERS, any::<usize>()).prop_map(|(u, i)| Op::Revoke(u, i)),
        1 => (0..USERS, proptest::option::of(any::<usize>())).prop_map(|(u, i)| Op::RevokeAll(u, i)),
        1 => (any::<usize>(), 0u8..3).prop_map(|(i, l)| Op::SetLifetime(i, l)),
        2 => (0u64..150).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Snapshot),
    ]
}

fn user(u: u8) -> UserId {
    UserId::new(&[b'u', u]).unwrap()
}

fn key(id: &SessionId) -> String {
    id.encode().as_str().to_owned()
}

/// The live owned sessions by user, read from the entries themselves.
fn truth<S: Slots<Data = u32>>(
    t: &Table<S>,
    now: Instant,
) -> BTreeMap<Vec<u8>, BTreeSet<DisplayTag>> {
    let mut by_user: BTreeMap<Vec<u8>, BTreeSet<DisplayTag>> = BTreeMap::new();
    for (id, record, meta) in t.iter_with_meta() {
        if let Some(owner) = &meta.owner
            && !record.deadlines.is_expired(now)
        {
            by_user
                .entry(owner.as_bytes().to_vec())
                .or_default()
                .insert(DisplayTag::of(&id));
        }
    }
    by_user
}

/// Each user's live sessions: id → owner, from the table's public view.
fn live_owned<S: Slots<Data = u32>>(t: &Table<S>, now: Instant) -> BTreeMap<String, Vec<u8>> {
    t.iter_with_meta()
        .filter(|(_, r, _)| !r.deadlines.is_expired(now))
        .filter_map(|(id, _, m)| m.owner.as_ref().map(|o| (key(&id), o.as_bytes().to_vec())))
        .collect()
}

fn check_listing<S: Slots<Data = u32>>(
    t: &Table<S>,
    now: Instant,
    gone: &BTreeSet<String>,
    owners: &BTreeMap<String, u8>,
    ids: &[SessionId],
) -> Result<(), TestCaseError> {
    let truth = truth(t, now);
    for u in 0..USERS {
        let listed: BTreeSet<DisplayTag> =
            t.sessions_of(&user(u), None, now).map(|s| s.tag).collect();
        let want = truth.get(user(u).as_bytes()).cloned().unwrap_or_default();
        prop_assert_eq!(
            &listed,
            &want,
            "user {} listing differs from its live sessions",
            u
        );
        prop_assert!(listed.len() <= PER_USER, "user {} passed the cap", u);
    }
    for id in ids {
        // Every live session has the owner the model gave it, none lost or
        // swapped by a regeneration, an eviction or a restore.
        if let Some(meta) = t.meta(id, now) {
            let want = owners.get(&key(id)).map(|u| user(*u));
            prop_assert_eq!(meta.owner.as_ref(), want.as_ref());
        }
        if gone.contains(&key(id)) {
            prop_assert!(!t.contains(id, now), "a gone session came back");
            for u in 0..USERS {
                let tag = DisplayTag::of(id);
                prop_assert!(t.sessions_of(&user(u), None, now).all(|s| s.tag != tag));
            }
        }
    }
    Ok(())
}

fn run<S: Slots<Data = u32>>(make: fn() -> Table<S>, ops: &[Op]) -> Result<(), TestCaseError> {
    let fresh = || {
        make()
            .with_policy(POLICY)
            .with_max_sessions_per_user(PER_USER)
    };
    let mut t = fresh();
    let mut rng = TestRng(0x0016);
    let mut now = Instant::from_secs(1);
    let mut ids: Vec<SessionId> = Vec::new();
    // Ids that were destroyed, revoked, ended by the cap or moved away.
    let mut gone: BTreeSet<String> = BTreeSet::new();
    // Who the model says owns each session.
    let mut owners: BTreeMap<String, u8> = BTreeMap::new();
    let pick = |ids: &[SessionId], i: usize| (!ids.is_empty()).then(|| ids[i % ids.len()]);
    for op in ops {
        match op {
            Op::Create => {
                if let Ok((id, _)) = t.create(&mut rng, now, 0) {
                    ids.push(id);
                }
            }
            Op::Get(i) => {
                if let Some(id) = pick(&ids, *i) {
                    t.get(&id, now);
                }
            }
            Op::SetOwner(i, u) => {
                if let Some(id) = pick(&ids, *i) {
                    let before = live_owned(&t, now);
                    if let Ok(set) = t.set_owner(&id, user(*u), now) {
                        owners.insert(key(&id), *u);
                        if let Some(ended) = set.ended {
                            let owner = user(*u);
                            prop_assert_eq!(
                                before.get(&key(&ended)).map(Vec::as_slice),
                                Some(owner.as_bytes()),
                                "the cap ended a session of someone else"
                            );
                            prop_assert!(ended != id);
                            gone.insert(key(&ended));
                        }
                        // Nobody else lost a session.
                        let after = live_owned(&t, now);
                        for (k, owner) in &before {
                            if owner != user(*u).as_bytes() {
                                prop_assert!(after.contains_key(k));
                            }
                        }
                    }
                }
            }
            Op::SignIn(i, u) => {
                let current = i.and_then(|i| pick(&ids, i));
                let before = live_owned(&t, now);
                let live = |t: &Table<S>| {
                    t.iter_with_meta()
                        .filter(|(_, r, _)| !r.deadlines.is_expired(now))
                        .count()
                };
                let live_before = live(&t);
                let was_live = current.is_some_and(|id| t.contains(&id, now));
                match t.sign_in(current.as_ref(), &SignIn::new(user(*u)), 7, &mut rng, now) {
                    Ok(done) => {
                        prop_assert!(t.peek(&done.id, now) == Some(&7));
                        if let Some(old) = current.filter(|_| was_live) {
                            prop_assert!(!t.contains(&old, now), "the old id still works");
                            gone.insert(key(&old));
                            owners.remove(&key(&old));
                        }
                        owners.insert(key(&done.id), *u);
                        if let Some(ended) = done.ended {
                            let owner = user(*u);
                            prop_assert_eq!(
                                before.get(&key(&ended)).map(Vec::as_slice),
                                Some(owner.as_bytes()),
                                "the cap ended a session of someone else"
                            );
                            gone.insert(key(&ended));
                        }
                        ids.push(done.id);
                    }
                    Err(refused) => {
                        // Nothing changed: the same sessions, the current one
                        // still live, the data handed back.
                        prop_assert_eq!(refused.into_data(), 7);
                        prop_assert_eq!(live(&t), live_before);
                        prop_assert_eq!(&live_owned(&t, now), &before);
                        if let Some(old) = current.filter(|_| was_live) {
                            prop_assert!(t.contains(&old, now));
                        }
                    }
                }
            }
            Op::ClearOwner(i) => {
                if let Some(id) = pick(&ids, *i)
                    && t.clear_owner(&id, now).is_ok()
                {
                    owners.remove(&key(&id));
                }
            }
            Op::Regenerate(i) => {
                if let Some(id) = pick(&ids, *i)
                    && let Ok((new, _)) = t.regenerate(&id, &mut rng, now)
                {
                    gone.insert(key(&id));
                    if let Some(u) = owners.remove(&key(&id)) {
                        owners.insert(key(&new), u);
                    }
                    ids.push(new);
                }
            }
            Op::Destroy(i) => {
                if let Some(id) = pick(&ids, *i) {
                    t.destroy(&id);
                    gone.insert(key(&id));
                }
            }
            Op::Revoke(u, i) => {
                if let Some(id) = pick(&ids, *i) {
                    let before = live_owned(&t, now);
                    let mine =
                        before.get(&key(&id)).map(Vec::as_slice) == Some(user(*u).as_bytes());
                    let outcome = t.revoke(&user(*u), &DisplayTag::of(&id), now);
                    prop_assert_eq!(
                        outcome.is_ok(),
                        mine,
                        "revoke answers for exactly the user's live sessions"
                    );
                    if let Ok(ended) = outcome {
                        prop_assert!(ended == id);
                        gone.insert(key(&id));
                    }
                    let after = live_owned(&t, now);
                    for k in before.keys() {
                        prop_assert!(after.contains_key(k) || *k == key(&id));
                    }
                }
            }
            Op::RevokeAll(u, except) => {
                let keep = except.and_then(|i| pick(&ids, i));
                let before = live_owned(&t, now);
                let theirs = before
                    .values()
                    .filter(|o| o.as_slice() == user(*u).as_bytes())
                    .count();
                let kept = keep.is_some_and(|k| {
                    before.get(&key(&k)).map(Vec::as_slice) == Some(user(*u).as_bytes())
                });
                let ended = t.revoke_all(&user(*u), keep.as_ref(), now);
                prop_assert_eq!(ended, theirs - usize::from(kept));
                let after = live_owned(&t, now);
                for (k, owner) in &before {
                    let stays = owner != user(*u).as_bytes() || keep.is_some_and(|x| key(&x) == *k);
                    prop_assert_eq!(after.contains_key(k), stays);
                    if !stays {
                        gone.insert(k.clone());
                    }
                }
            }
            Op::SetLifetime(i, l) => {
                if let Some(id) = pick(&ids, *i) {
                    let lifetime = match l {
                        0 => Lifetime::Default,
                        1 => Lifetime::Persistent {
                            idle: Duration::from_secs(300),
                            absolute: Duration::from_secs(2000),
                        },
                        _ => Lifetime::BrowserSession,
                    };
                    if let Ok(access) = t.set_lifetime(&id, lifetime, now) {
                        let idle = POLICY.for_lifetime(lifetime).idle_timeout();
                        prop_assert_eq!(access.expires_at, now + idle);
                    }
                }
            }
            Op::Advance(secs) => now = now + Duration::from_secs(*secs),
            Op::Purge => {
                t.purge_expired(now);
            }
            Op::Snapshot => {
                let mut buf = vec![0u8; 4096];
                let len = t.write_snapshot(&mut buf, now).unwrap();
                let before = truth(&t, now);
                let mut restored = fresh();
                restored.restore_snapshot(&buf[..len], now).unwrap();
                prop_assert_eq!(truth(&restored, now), before);
                t = restored;
            }
        }
        check_listing(&t, now, &gone, &owners, &ids)?;
    }
    Ok(())
}

fn fixed() -> sesh::SessionTable<u32, CAPACITY, CAPACITY> {
    sesh::SessionTable::new()
}

fn alloc() -> sesh::AllocSessionTable<u32> {
    sesh::AllocSessionTable::with_max_sessions(CAPACITY)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fixed_table_owner_index(ops in proptest::collection::vec(op(), 1..120)) {
        run(fixed, &ops)?;
    }

    #[test]
    fn alloc_table_owner_index(ops in proptest::collection::vec(op(), 1..120)) {
        run(alloc, &ops)?;
    }
}
