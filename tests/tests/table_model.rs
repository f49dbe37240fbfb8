//! Drives every table with random operations against a reference model (a
//! std `HashMap` and an explicit clock) and compares them after every step.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashMap;

use proptest::prelude::*;
use sesh::expiry::{Deadlines, ExpiryPolicy};
use sesh::table::{Access, CreateError, RegenerateError, Slots, Table};
use sesh::{Duration, Instant, SessionId};
use sesh_tests::rng::TestRng;

#[derive(Debug, Clone)]
enum Op {
    Create(u32),
    Get(usize),
    Update(usize, u32),
    Protect(usize, bool),
    Regenerate(usize),
    Destroy(usize),
    Advance(u64),
    Purge,
    Snapshot,
}

/// Mostly creates, so that a large table fills up and evicts.
fn big_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => any::<u32>().prop_map(Op::Create),
        2 => any::<usize>().prop_map(Op::Get),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, p)| Op::Protect(i, p)),
        1 => (0u64..50).prop_map(Op::Advance),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u32>().prop_map(Op::Create),
        3 => any::<usize>().prop_map(Op::Get),
        2 => (any::<usize>(), any::<u32>()).prop_map(|(i, d)| Op::Update(i, d)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, p)| Op::Protect(i, p)),
        1 => any::<usize>().prop_map(Op::Regenerate),
        1 => any::<usize>().prop_map(Op::Destroy),
        3 => (0u64..4_000).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Snapshot),
    ]
}

#[derive(Debug, Clone)]
struct ModelEntry {
    data: u32,
    deadlines: Deadlines,
    protected: bool,
    last_use: u64,
}

/// The rules, written the plainest way.
struct Model {
    entries: HashMap<[u8; 22], (SessionId, ModelEntry)>,
    policy: ExpiryPolicy,
    capacity: usize,
    uses: u64,
}

fn key(id: &SessionId) -> [u8; 22] {
    id.encode().as_str().as_bytes().try_into().unwrap()
}

impl Model {
    fn expired(e: &ModelEntry, now: Instant) -> bool {
        now >= e.deadlines.idle.min(e.deadlines.absolute)
    }

    fn live(&mut self, id: &SessionId, now: Instant) -> Option<&mut ModelEntry> {
        let k = key(id);
        if self
            .entries
            .get(&k)
            .is_some_and(|(_, e)| Self::expired(e, now))
        {
            self.entries.remove(&k);
        }
        self.entries.get_mut(&k).map(|(_, e)| e)
    }

    fn touch(&mut self, id: &SessionId, now: Instant) -> Option<(&mut ModelEntry, Access)> {
        self.uses += 1;
        let uses = self.uses;
        let policy = self.policy;
        let e = self.live(id, now)?;
        e.last_use = uses;
        let idle = policy.idle_timeout().as_millis();
        let since =
            (now.as_millis().saturating_add(idle)).saturating_sub(e.deadlines.idle.as_millis());
        let threshold = idle / 100 * u64::from(policy.refresh_percent())
            + idle % 100 * u64::from(policy.refresh_percent()) / 100;
        let refreshed = policy.refresh_percent() < 100 && since >= threshold;
        if refreshed {
            e.deadlines.idle = Instant::from_millis(now.as_millis().saturating_add(idle));
        }
        let access = Access {
            expires_at: e.deadlines.idle.min(e.deadlines.absolute),
            refreshed,
            protected: e.protected,
        };
        Some((e, access))
    }

    fn purge(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, (_, e)| !Self::expired(e, now));
        before - self.entries.len()
    }

    fn make_room(&mut self, now: Instant) -> bool {
        if self.entries.len() < self.capacity || self.purge(now) > 0 {
            return true;
        }
        // Large tables evict a batch of the least recently used at once.
        let batch = (self.capacity / 64).clamp(1, sesh::table::MAX_EVICTION_BATCH);
        let mut unprotected: Vec<([u8; 22], u64)> = self
            .entries
            .iter()
            .filter(|(_, (_, e))| !e.protected)
            .map(|(k, (_, e))| (*k, e.last_use))
            .collect();
        unprotected.sort_by_key(|(_, last_use)| *last_use);
        let victims: Vec<[u8; 22]> = unprotected.iter().take(batch).map(|(k, _)| *k).collect();
        for k in &victims {
            self.entries.remove(k);
        }
        !victims.is_empty()
    }

    fn start(&self, now: Instant) -> Deadlines {
        Deadlines {
            idle: now.saturating_add(self.policy.idle_timeout()),
            absolute: now.saturating_add(self.policy.absolute_lifetime()),
        }
    }
}

fn check_same<S: Slots<Data = u32>>(
    table: &Table<S>,
    model: &Model,
    ids: &[SessionId],
    now: Instant,
) {
    assert_eq!(table.len(), model.entries.len(), "len");
    let model_next = model
        .entries
        .values()
        .map(|(_, e)| e.deadlines.idle.min(e.deadlines.absolute))
        .min();
    assert_eq!(table.next_expiry(), model_next, "next_expiry");
    let protected = model.entries.values().filter(|(_, e)| e.protected).count();
    assert_eq!(table.protected_len(), protected, "protected_len");
    for id in ids {
        let expected = model
            .entries
            .get(&key(id))
            .filter(|(_, e)| !Model::expired(e, now))
            .map(|(_, e)| e.data);
        assert_eq!(table.peek(id, now).copied(), expected, "peek");
    }
}

fn pick(ids: &[SessionId], i: usize) -> Option<SessionId> {
    if ids.is_empty() {
        None
    } else {
        Some(ids[i % ids.len()])
    }
}

fn run<S: Slots<Data = u32>>(make: impl Fn() -> Table<S>, policy: ExpiryPolicy, ops: Vec<Op>) {
    let mut table = make();
    table.set_policy(policy);
    let capacity = table.capacity();
    let mut model = Model {
        entries: HashMap::new(),
        policy,
        capacity,
        uses: 0,
    };
    let mut table_rng = TestRng(42);
    let mut model_rng = TestRng(42);
    let mut now = Instant::from_millis(1_000);
    let mut ids: Vec<SessionId> = Vec::new();
    for op in ops {
        match op {
            Op::Create(data) => {
                let got = table.create(&mut table_rng, now, data);
                let id = SessionId::generate(&mut model_rng).unwrap();
                if model.make_room(now) {
                    let deadlines = model.start(now);
                    model.uses += 1;
                    let entry = ModelEntry {
                        data,
                        deadlines,
                        protected: false,
                        last_use: model.uses,
                    };
                    model.entries.insert(key(&id), (id, entry));
                    let expected = Access {
                        expires_at: deadlines.idle.min(deadlines.absolute),
                        refreshed: true,
                        protected: false,
                    };
                    assert_eq!(got, Ok((id, expected)));
                    ids.push(id);
                } else {
                    assert_eq!(got, Err(CreateError::Full(data)));
                }
            }
            Op::Get(i) => {
                let Some(id) = pick(&ids, i) else { continue };
                let got = table.get(&id, now).map(|(d, a)| (*d, a));
                let expected = model.touch(&id, now).map(|(e, a)| (e.data, a));
                assert_eq!(got, expected);
            }
            Op::Update(i, add) => {
                let Some(id) = pick(&ids, i) else { continue };
                let got = table.update(&id, now, |d| {
                    *d = d.wrapping_add(add);
                    *d
                });
                let expected = model.touch(&id, now).map(|(e, a)| {
                    e.data = e.data.wrapping_add(add);
                    (e.data, a)
                });
                assert_eq!(got, expected);
            }
            Op::Protect(i, p) => {
                let Some(id) = pick(&ids, i) else { continue };
                let got = table.set_protected(&id, now, p).ok();
                let expected = model.touch(&id, now).map(|(e, mut a)| {
                    e.protected = p;
                    a.protected = p;
                    a
                });
                assert_eq!(got, expected);
            }
            Op::Regenerate(i) => {
                let Some(id) = pick(&ids, i) else { continue };
                let got = table.regenerate(&id, &mut table_rng, now);
                if model.live(&id, now).is_some() {
                    let new_id = SessionId::generate(&mut model_rng).unwrap();
                    let (_, mut entry) = model.entries.remove(&key(&id)).unwrap();
                    entry.deadlines = model.start(now);
                    model.uses += 1;
                    entry.last_use = model.uses;
                    let access = Access {
                        expires_at: entry.deadlines.idle.min(entry.deadlines.absolute),
                        refreshed: true,
                        protected: entry.protected,
                    };
                    model.entries.insert(key(&new_id), (new_id, entry));
                    assert_eq!(got, Ok((new_id, access)));
                    ids.push(new_id);
                } else {
                    assert_eq!(got, Err(RegenerateError::NotFound));
                }
            }
            Op::Destroy(i) => {
                let Some(id) = pick(&ids, i) else { continue };
                let expected = model.entries.remove(&key(&id)).map(|(_, e)| e.data);
                assert_eq!(table.destroy(&id), expected);
            }
            Op::Advance(ms) => now = now + Duration::from_millis(ms),
            Op::Purge => assert_eq!(table.purge_expired(now), model.purge(now)),
            Op::Snapshot => {
                // A snapshot restored at the same instant holds the same live sessions.
                let mut buf = vec![0u8; 64 + capacity * 64];
                let len = table.write_snapshot(&mut buf, now).unwrap();
                let mut copy = make();
                copy.set_policy(policy);
                let restored = copy.restore_snapshot(&buf[..len], now).unwrap();
                let live = model
                    .entries
                    .values()
                    .filter(|(_, e)| !Model::expired(e, now))
                    .count();
                assert_eq!(restored, live);
                for id in &ids {
                    assert_eq!(copy.peek(id, now), table.peek(id, now));
                }
            }
        }
        check_same(&table, &model, &ids, now);
    }
}

fn policy() -> impl Strategy<Value = ExpiryPolicy> {
    (1u64..10_000, 1u64..30_000, 0u8..=100).prop_map(|(idle, abs, pct)| {
        ExpiryPolicy::new()
            .with_idle_timeout(Duration::from_millis(idle))
            .with_absolute_lifetime(Duration::from_millis(abs))
            .with_refresh_percent(pct)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fixed_table_of_1(policy in policy(), ops in prop::collection::vec(op(), 1..120)) {
        run(sesh::SessionTable::<u32, 1>::new, policy, ops);
    }

    #[test]
    fn fixed_table_of_2(policy in policy(), ops in prop::collection::vec(op(), 1..120)) {
        run(sesh::SessionTable::<u32, 2>::new, policy, ops);
    }

    #[test]
    fn fixed_table_of_16(policy in policy(), ops in prop::collection::vec(op(), 1..200)) {
        run(sesh::SessionTable::<u32, 16>::new, policy, ops);
    }

    #[test]
    fn alloc_table_of_16(policy in policy(), ops in prop::collection::vec(op(), 1..200)) {
        run(|| sesh::AllocSessionTable::<u32>::with_max_sessions(16), policy, ops);
    }
}

proptest! {
    // Fewer cases: each one fills a 256-slot table and compares it whole after every step.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn alloc_table_of_256_evicts_in_batches(policy in policy(), ops in prop::collection::vec(big_op(), 1..700)) {
        run(|| sesh::AllocSessionTable::<u32>::with_max_sessions(256), policy, ops);
    }
}
