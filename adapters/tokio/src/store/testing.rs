//! The [`SessionStore`] contract as tests that any store can run: the cases
//! sesh runs on [`MemoryStore`](super::MemoryStore),
//! [`RedbStore`](super::RedbStore) and [`RedisStore`](super::RedisStore),
//! for a store of your own.
//!
//! [`store_contract_tests!`](crate::store_contract_tests) writes one
//! `#[test]` per case, so a failure names the rule that broke. Give it a
//! function (or closure) that takes the most sessions the store may hold and
//! returns a future of a new, empty store, or of a `(store, guard)` pair
//! when something must outlive the store (a temporary directory, a server
//! process):
//!
//! ```
//! mod memory_store {
//!     async fn make(max_sessions: usize) -> sesh_tokio::MemoryStore {
//!         sesh_tokio::MemoryStore::new(max_sessions)
//!     }
//!     sesh_tokio::store_contract_tests!(make);
//! }
//! ```
//!
//! Each case is also a public `async fn` taking the store, to call from a
//! test harness of your own. A case fails by panicking with a message that
//! says what the store did and what the contract asks; every case builds on
//! a fresh store with [`ROOMY`] or [`BOUND`] sessions at most, starts its
//! clock at a different `now` and uses random ids, so stores that share a
//! backend (one Redis, say) only need distinct key prefixes.
//!
//! [Write your own store](crate::guide::custom_store) walks through a store
//! that passes them.

// Test code: a failed step panics with what went wrong, and the cases do
// small sums on timestamps and counts they choose themselves.
#![allow(clippy::panic, clippy::arithmetic_side_effects)]

use std::fmt::Debug;
use std::future::Future;

use sesh::expiry::ExpiryPolicy;
use sesh::record::SessionRecord;
use sesh::{Duration, Instant, SessionId};

use super::{Created, Removed, Saved, SessionStore, StoreError, StoredSession};
use crate::random::{OsRandom, SourceRng};

/// The bound of the store a case gets unless it tests the bound: more than
/// any such case creates.
pub const ROOMY: usize = 100;

/// The bound of the store the bound cases get.
pub const BOUND: usize = 4;

/// The idle timeout of every record the cases write.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a store factory returns: a store, or a store and something it needs
/// alive until the case ends (dropped after the store).
pub trait Fixture {
    /// The store under test.
    fn store(&self) -> &dyn SessionStore;
}

impl<S: SessionStore> Fixture for S {
    fn store(&self) -> &dyn SessionStore {
        self
    }
}

impl<S: SessionStore, G> Fixture for (S, G) {
    fn store(&self) -> &dyn SessionStore {
        &self.0
    }
}

/// Runs `case` to completion on a new current-thread tokio runtime (time
/// and, when tokio has them, I/O drivers on), as `#[tokio::test]` does:
/// what [`store_contract_tests!`](crate::store_contract_tests) calls.
pub fn block_on<F: Future>(case: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(case),
        Err(e) => panic!("no tokio runtime for the store contract: {e}"),
    }
}

/// Writes one `#[test]` per contract case for the store `make` returns.
///
/// `make` is called once per case with the most sessions the store may
/// hold ([`ROOMY`](crate::store::testing::ROOMY) or
/// [`BOUND`](crate::store::testing::BOUND)); it returns a future of a new
/// store, or of a `(store, guard)` pair (see
/// [`Fixture`](crate::store::testing::Fixture)). Call the macro inside a
/// module of its own: the tests take the cases' names.
///
/// ```
/// mod memory_store {
///     sesh_tokio::store_contract_tests!(|max_sessions| async move {
///         sesh_tokio::MemoryStore::new(max_sessions)
///     });
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr $(,)?) => {
        $crate::__store_contract_cases!($crate::__store_contract_test, $make);
    };
}

/// The case table: calls `$then!($make, case = bound)` for each case.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_cases {
    ($then:path, $make:expr) => {
        $then!(
            $make,
            an_unknown_id_loads_as_none = ROOMY,
            a_create_stores_version_one_and_never_overwrites = ROOMY,
            a_save_is_a_compare_and_swap = ROOMY,
            a_delete_version_is_a_compare_and_delete = ROOMY,
            a_delete_is_idempotent_and_a_save_never_resurrects = ROOMY,
            a_session_expires_at_its_deadline = ROOMY,
            a_create_over_an_expired_session_never_revives_it = ROOMY,
            a_load_for_update_never_hides_a_live_session = ROOMY,
            an_edit_in_place_writes_what_the_edit_returns = ROOMY,
            occupancy_counts_the_sessions = ROOMY,
            a_purge_removes_only_expired_sessions = ROOMY,
            a_full_store_evicts_the_least_recently_used_unprotected_session = BOUND,
            a_store_full_of_protected_sessions_refuses_creates = BOUND,
            expired_sessions_make_room_before_protected_ones_refuse_it = BOUND,
        );
    };
}

/// One `#[test]` per case.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_test {
    ($make:expr, $($case:ident = $bound:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::store::testing::block_on(async {
                    let fixture = ($make)($crate::store::testing::$bound).await;
                    $crate::store::testing::$case(
                        $crate::store::testing::Fixture::store(&fixture),
                    )
                    .await;
                });
            }
        )*
    };
}

macro_rules! case_names {
    ($make:expr, $($case:ident = $bound:ident),* $(,)?) => {
        /// The names of the cases, in the order the macro writes them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}
crate::__store_contract_cases!(case_names, ());

/// Runs every case in turn, each on a new store from `make` (as
/// [`store_contract_tests!`](crate::store_contract_tests) does, but as one
/// test): for a harness that does not use `#[test]`.
pub async fn run_contract<F, Fut, X>(make: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = X>,
    X: Fixture,
{
    macro_rules! run {
        ($make:expr, $($case:ident = $bound:ident),* $(,)?) => {
            $(
                let fixture = make($bound).await;
                $case(fixture.store()).await;
            )*
        };
    }
    crate::__store_contract_cases!(run, ());
}

/// A new random session id.
pub fn new_id() -> SessionId {
    match SessionId::generate(&mut SourceRng(&OsRandom)) {
        Ok(id) => id,
        Err(e) => panic!("the OS random generator failed: {e:?}"),
    }
}

/// An unprotected record with `data`, last used at `now`, expiring
/// [`IDLE_TIMEOUT`] later.
pub fn record(data: &[u8], now: Instant) -> SessionRecord<Vec<u8>> {
    SessionRecord {
        deadlines: ExpiryPolicy::new()
            .with_idle_timeout(IDLE_TIMEOUT)
            .start(now),
        protected: false,
        data: data.to_vec(),
    }
}

/// [`record`], protected (a logged-in session).
pub fn protected_record(data: &[u8], now: Instant) -> SessionRecord<Vec<u8>> {
    SessionRecord {
        protected: true,
        ..record(data, now)
    }
}

/// The answer of a store call, or a panic naming the call.
fn ok<T>(answer: Result<T, StoreError>, call: &str) -> T {
    match answer {
        Ok(value) => value,
        Err(e) => panic!("{call} failed: {e}"),
    }
}

/// The live session `id` at `now`, or a panic saying why it should be.
async fn live(store: &dyn SessionStore, id: &SessionId, now: Instant, why: &str) -> StoredSession {
    match ok(store.load(id, now).await, "load") {
        Some(stored) => stored,
        None => panic!("load found no session, but {why}"),
    }
}

/// Asserts that `id` loads as absent at `now`.
async fn absent(store: &dyn SessionStore, id: &SessionId, now: Instant, why: &str) {
    let loaded = ok(store.load(id, now).await, "load");
    assert!(loaded.is_none(), "load found {loaded:?}, but {why}");
}

/// Creates `id`, which must be stored (at version 1).
async fn create(
    store: &dyn SessionStore,
    id: &SessionId,
    record: &SessionRecord<Vec<u8>>,
    now: Instant,
) {
    let created = ok(store.create(id, record, now).await, "create");
    assert_eq!(
        created,
        Created::Stored(1),
        "a create of a new id stores it at version 1"
    );
}

/// Saves `record` over version `expected`, which must succeed; returns the
/// new version.
async fn save(
    store: &dyn SessionStore,
    id: &SessionId,
    record: &SessionRecord<Vec<u8>>,
    expected: u64,
    now: Instant,
) -> u64 {
    match ok(store.save(id, record, expected, now).await, "save") {
        Saved::Stored(version) => version,
        other => panic!("a save of the stored version answered {other:?}, not Stored"),
    }
}

/// The store's counts, if it keeps them (a bound case checks them then).
async fn counted(store: &dyn SessionStore) -> Option<usize> {
    ok(store.occupancy().await, "occupancy").map(|o| o.sessions)
}

fn assert_counted(counted: Option<usize>, expected: usize, why: &str) {
    if let Some(sessions) = counted {
        assert_eq!(sessions, expected, "occupancy: {why}");
    }
}

fn expect_eq<T: PartialEq + Debug>(got: T, want: T, why: &str) {
    assert_eq!(got, want, "{why}");
}

/// A `load` of an id never stored answers `None`, not an error.
pub async fn an_unknown_id_loads_as_none(store: &dyn SessionStore) {
    let now = Instant::from_secs(1_000);
    absent(store, &new_id(), now, "the id was never stored").await;
    let for_update = ok(
        store.load_for_update(&new_id(), now).await,
        "load_for_update",
    );
    assert!(for_update.is_none(), "load_for_update found {for_update:?}");
}

/// A `create` stores the record at version 1; a second `create` of the same
/// live id answers `IdTaken` and leaves the first record as it was.
pub async fn a_create_stores_version_one_and_never_overwrites(store: &dyn SessionStore) {
    let now = Instant::from_secs(2_000);
    let id = new_id();
    create(store, &id, &record(b"one", now), now).await;
    let again = ok(
        store.create(&id, &record(b"evil", now), now).await,
        "create",
    );
    expect_eq(
        again,
        Created::IdTaken,
        "a create never overwrites a live session",
    );
    let loaded = live(store, &id, now, "it was created").await;
    expect_eq(loaded.record, record(b"one", now), "the first record stays");
    expect_eq(loaded.version, 1, "the version create answered");
}

/// A `save` of the stored version writes and answers a new version; a save
/// of any other version answers `Conflict` and writes nothing.
pub async fn a_save_is_a_compare_and_swap(store: &dyn SessionStore) {
    let now = Instant::from_secs(3_000);
    let id = new_id();
    create(store, &id, &record(b"one", now), now).await;
    let seen = live(store, &id, now, "it was created").await;
    let v2 = save(store, &id, &record(b"two", now), seen.version, now).await;
    assert_ne!(v2, seen.version, "a save changes the version");
    let stale = ok(
        store
            .save(&id, &record(b"stale", now), seen.version, now)
            .await,
        "save",
    );
    expect_eq(stale, Saved::Conflict, "a save of a replaced version");
    let loaded = live(store, &id, now, "it was saved").await;
    expect_eq(
        (loaded.record.data.as_slice(), loaded.version),
        (&b"two"[..], v2),
        "the stale save wrote nothing",
    );
}

/// `delete_version` removes the session only at the expected version: a
/// stale version answers `Conflict` and keeps it, the stored one answers
/// `Deleted`, and an absent session answers `Missing`.
pub async fn a_delete_version_is_a_compare_and_delete(store: &dyn SessionStore) {
    let now = Instant::from_secs(4_000);
    let id = new_id();
    create(store, &id, &record(b"c", now), now).await;
    let seen = live(store, &id, now, "it was created").await;
    let v = save(store, &id, &record(b"c2", now), seen.version, now).await;
    let stale = ok(
        store.delete_version(&id, seen.version, now).await,
        "delete_version",
    );
    expect_eq(
        stale,
        Removed::Conflict,
        "a compare-and-delete of a replaced version",
    );
    let kept = live(store, &id, now, "a stale compare-and-delete keeps it").await;
    expect_eq(kept.record.data.as_slice(), b"c2", "nothing changed");
    let deleted = ok(store.delete_version(&id, v, now).await, "delete_version");
    expect_eq(
        deleted,
        Removed::Deleted,
        "a compare-and-delete of the stored version",
    );
    absent(store, &id, now, "it was deleted").await;
    let missing = ok(store.delete_version(&id, v, now).await, "delete_version");
    expect_eq(
        missing,
        Removed::Missing,
        "a compare-and-delete of an absent session",
    );
}

/// `delete` removes the session, and deleting it again is no error; a
/// `save` of a deleted session answers `Missing` and creates nothing.
pub async fn a_delete_is_idempotent_and_a_save_never_resurrects(store: &dyn SessionStore) {
    let now = Instant::from_secs(5_000);
    let id = new_id();
    create(store, &id, &record(b"one", now), now).await;
    let seen = live(store, &id, now, "it was created").await;
    ok(store.delete(&id).await, "delete");
    ok(store.delete(&id).await, "a second delete");
    absent(store, &id, now, "it was deleted").await;
    let ghost = ok(
        store
            .save(&id, &record(b"ghost", now), seen.version, now)
            .await,
        "save",
    );
    expect_eq(ghost, Saved::Missing, "a save of a deleted session");
    absent(store, &id, now, "a save never resurrects a session").await;
    ok(
        store.delete(&new_id()).await,
        "a delete of an id never stored",
    );
}

/// A session is live until its deadline and absent from it on (by the
/// caller's `now`); a save at the deadline answers `Missing`.
pub async fn a_session_expires_at_its_deadline(store: &dyn SessionStore) {
    let now = Instant::from_secs(6_000);
    let id = new_id();
    create(store, &id, &record(b"b", now), now).await;
    let deadline = now.saturating_add(IDLE_TIMEOUT);
    let just_before = Instant::from_millis(deadline.as_millis() - 1);
    live(store, &id, just_before, "its deadline is 1 ms later").await;
    absent(store, &id, deadline, "it expired at its deadline").await;
    let late = ok(
        store
            .save(&id, &record(b"late", deadline), 1, deadline)
            .await,
        "save",
    );
    expect_eq(late, Saved::Missing, "a save of an expired session");
    let removed = ok(
        store.delete_version(&id, 1, deadline).await,
        "delete_version",
    );
    expect_eq(
        removed,
        Removed::Missing,
        "a compare-and-delete of an expired session",
    );
}

/// A create of an id whose session has expired either stores the new
/// record (the expired one does not hold the id) or answers `IdTaken` (a
/// store may keep the id until it drops the session; the adapter then draws
/// another). Either way the expired session never comes back.
pub async fn a_create_over_an_expired_session_never_revives_it(store: &dyn SessionStore) {
    let now = Instant::from_secs(7_000);
    let id = new_id();
    create(store, &id, &record(b"old", now), now).await;
    let deadline = now.saturating_add(IDLE_TIMEOUT);
    let again = ok(
        store.create(&id, &record(b"new", deadline), deadline).await,
        "create",
    );
    match again {
        Created::Stored(_) => {
            let loaded = live(store, &id, deadline, "it was created again").await;
            expect_eq(loaded.record, record(b"new", deadline), "the new record");
        }
        Created::IdTaken => absent(store, &id, deadline, "it expired").await,
    }
}

/// `load_for_update` may answer a stale copy, but never calls a live
/// session absent; a save from a stale copy answers `Conflict`, and once
/// the session is deleted a save from any copy answers `Missing`.
pub async fn a_load_for_update_never_hides_a_live_session(store: &dyn SessionStore) {
    let now = Instant::from_secs(8_000);
    let id = new_id();
    create(store, &id, &record(b"1", now), now).await;
    let first = match ok(store.load_for_update(&id, now).await, "load_for_update") {
        Some(stored) => stored,
        None => panic!("load_for_update found no session, but it was created"),
    };
    expect_eq(first.record.data.as_slice(), b"1", "what was created");
    let v2 = save(store, &id, &record(b"2", now), first.version, now).await;
    // Another writer (here, through load) saves in between.
    let seen = live(store, &id, now, "it was saved").await;
    expect_eq(seen.version, v2, "load sees the latest save");
    let v3 = save(store, &id, &record(b"3", now), seen.version, now).await;
    let copy = match ok(store.load_for_update(&id, now).await, "load_for_update") {
        Some(stored) => stored,
        None => panic!("load_for_update found no session, but load does"),
    };
    if copy.version != v3 {
        let stale = ok(
            store.save(&id, &record(b"x", now), copy.version, now).await,
            "save",
        );
        expect_eq(stale, Saved::Conflict, "a save from a stale copy");
    }
    // A later deadline: a copy with the old one must not call it expired.
    let later = now.saturating_add(Duration::from_secs(5));
    let refreshed = live(store, &id, later, "it has not expired").await;
    save(store, &id, &record(b"4", later), refreshed.version, later).await;
    let past_first_deadline = now.saturating_add(Duration::from_secs(12));
    let fresh = ok(
        store.load_for_update(&id, past_first_deadline).await,
        "load_for_update",
    );
    expect_eq(
        fresh.map(|s| s.record.data),
        Some(b"4".to_vec()),
        "load_for_update past the first deadline, before the refreshed one",
    );
    ok(store.delete(&id).await, "delete");
    if let Some(ghost) = ok(store.load_for_update(&id, later).await, "load_for_update") {
        let saved = ok(
            store
                .save(&id, &record(b"g", later), ghost.version, later)
                .await,
            "save",
        );
        expect_eq(
            saved,
            Saved::Missing,
            "a save from a copy of a deleted session",
        );
    }
    absent(store, &id, later, "it was deleted").await;
}

/// For a store with an in-place edit (`edit_in_place` answers `Some`): an
/// absent session answers `Ok(None)` without running the edit; an edit that
/// returns `None` writes nothing; one that returns data stores it, with the
/// deadlines and flag the edit set, at a new version. A store without one
/// passes.
pub async fn an_edit_in_place_writes_what_the_edit_returns(store: &dyn SessionStore) {
    let now = Instant::from_secs(9_000);
    let ran = std::cell::Cell::new(0);
    let mut count = |_: &mut sesh::expiry::Deadlines, _: &mut bool, _: &[u8]| {
        ran.set(ran.get() + 1);
        None
    };
    let Some(missing) = store.edit_in_place(&new_id(), now, &mut count) else {
        return;
    };
    expect_eq(
        ok(missing, "edit_in_place"),
        None,
        "an edit of an absent id",
    );
    expect_eq(ran.get(), 0, "the edit of an absent id never runs");
    let id = new_id();
    create(store, &id, &record(b"a", now), now).await;
    let untouched = store.edit_in_place(&id, now, &mut count);
    assert!(
        matches!(untouched, Some(Ok(None))),
        "an edit that returns None answered {untouched:?}"
    );
    expect_eq(ran.get(), 1, "the edit ran once");
    expect_eq(
        live(store, &id, now, "it was created").await.version,
        1,
        "an edit that returns None writes nothing",
    );
    let later = now.saturating_add(Duration::from_secs(5));
    let mut log_in =
        |deadlines: &mut sesh::expiry::Deadlines, protected: &mut bool, data: &[u8]| {
            *deadlines = record(b"", later).deadlines;
            *protected = true;
            Some([data, b"!"].concat())
        };
    let edited = match store.edit_in_place(&id, now, &mut log_in) {
        Some(Ok(Some(stored))) => stored,
        other => panic!("an edit of a live session answered {other:?}"),
    };
    let want = SessionRecord {
        deadlines: record(b"", later).deadlines,
        protected: true,
        data: b"a!".to_vec(),
    };
    expect_eq(&edited.record, &want, "the session as the edit left it");
    assert_ne!(edited.version, 1, "an edit changes the version");
    let loaded = live(store, &id, now, "it was edited").await;
    expect_eq(loaded, edited, "load sees the edit");
    let stale = ok(store.save(&id, &record(b"x", now), 1, now).await, "save");
    expect_eq(
        stale,
        Saved::Conflict,
        "a save of the version before the edit",
    );
}

/// `occupancy`, when the store keeps counts, counts what was created and
/// not deleted, and reports the bound the store was made with.
pub async fn occupancy_counts_the_sessions(store: &dyn SessionStore) {
    let now = Instant::from_secs(10_000);
    let Some(empty) = ok(store.occupancy().await, "occupancy") else {
        return;
    };
    expect_eq(empty.sessions, 0, "a new store holds no session");
    expect_eq(empty.capacity, Some(ROOMY), "the bound it was made with");
    let (a, b) = (new_id(), new_id());
    create(store, &a, &record(b"a", now), now).await;
    create(store, &b, &record(b"b", now), now).await;
    assert_counted(counted(store).await, 2, "two created");
    ok(store.delete(&a).await, "delete");
    assert_counted(counted(store).await, 1, "one of two deleted");
}

/// `purge_expired` removes every session expired at its `now` and keeps
/// the others. It answers how many it removed (a store whose backend
/// expires sessions itself may answer 0).
pub async fn a_purge_removes_only_expired_sessions(store: &dyn SessionStore) {
    let now = Instant::from_secs(11_000);
    for _ in 0..3 {
        create(store, &new_id(), &record(b"x", now), now).await;
    }
    let keep = new_id();
    let later = now.saturating_add(Duration::from_secs(5));
    create(store, &keep, &record(b"keep", later), later).await;
    let then = now.saturating_add(IDLE_TIMEOUT);
    let purged = ok(store.purge_expired(then).await, "purge_expired");
    assert!(
        purged == 3 || purged == 0,
        "purge_expired removed 3 expired sessions but answered {purged}"
    );
    live(store, &keep, then, "it expires 5 s after the purge").await;
    assert_counted(counted(store).await, 1, "the expired three were purged");
}

/// Fills a store of [`BOUND`] sessions: one protected (`admin`), then
/// unprotected ones a second apart. Returns them and when it ended.
async fn fill(store: &dyn SessionStore, t0: Instant) -> (SessionId, Vec<SessionId>, Instant) {
    let at = |s: u64| t0.saturating_add(Duration::from_secs(s));
    let admin = new_id();
    create(store, &admin, &protected_record(b"admin", at(0)), at(0)).await;
    let mut anonymous = Vec::new();
    for s in 1..BOUND as u64 {
        let id = new_id();
        create(store, &id, &record(b"anon", at(s)), at(s)).await;
        anonymous.push(id);
    }
    if let Some(full) = ok(store.occupancy().await, "occupancy") {
        expect_eq(
            (full.sessions, full.capacity),
            (BOUND, Some(BOUND)),
            "occupancy of a full store",
        );
    }
    (admin, anonymous, at(BOUND as u64))
}

/// A full store makes room for a new session by evicting the least
/// recently used unprotected one (a save counts as a use), never a
/// protected one.
pub async fn a_full_store_evicts_the_least_recently_used_unprotected_session(
    store: &dyn SessionStore,
) {
    let (admin, anonymous, now) = fill(store, Instant::from_secs(20_000)).await;
    let [first, second, third] = anonymous.as_slice() else {
        panic!("fill made {} unprotected sessions, not 3", anonymous.len());
    };
    // The first is used again: the second is now the least recently used.
    let seen = live(store, first, now, "the store had room for it").await;
    save(store, first, &record(b"anon", now), seen.version, now).await;
    let later = now.saturating_add(Duration::from_secs(1));
    let newcomer = new_id();
    create(store, &newcomer, &record(b"new", later), later).await;
    live(store, &admin, later, "a protected session is never evicted").await;
    absent(store, second, later, "the least recently used one went").await;
    for kept in [first, third, &newcomer] {
        live(store, kept, later, "only the least recently used one goes").await;
    }
    assert_counted(counted(store).await, BOUND, "still full");
}

/// A store full of protected sessions refuses every create, protected or
/// not, with `StoreError::Full`, and changes nothing; a logout (a delete)
/// makes room again.
pub async fn a_store_full_of_protected_sessions_refuses_creates(store: &dyn SessionStore) {
    let (admin, anonymous, now) = fill(store, Instant::from_secs(30_000)).await;
    // Everyone logs in.
    for id in &anonymous {
        let seen = live(store, id, now, "the store had room for it").await;
        let logged_in = SessionRecord {
            protected: true,
            ..seen.record
        };
        save(store, id, &logged_in, seen.version, now).await;
    }
    let refused = new_id();
    for (what, attempt) in [
        ("an unprotected create", record(b"late", now)),
        ("a protected create", protected_record(b"late", now)),
    ] {
        let answer = store.create(&refused, &attempt, now).await;
        assert!(
            matches!(answer, Err(StoreError::Full)),
            "{what} in a store full of protected sessions answered {answer:?}"
        );
    }
    absent(store, &refused, now, "its create was refused").await;
    for id in anonymous.iter().chain([&admin]) {
        let kept = live(store, id, now, "nobody is logged out").await;
        assert!(kept.record.protected, "a protected session was changed");
    }
    assert_counted(
        counted(store).await,
        BOUND,
        "a refused create stores nothing",
    );
    let Some(leaving) = anonymous.first() else {
        panic!("fill made no unprotected session");
    };
    ok(store.delete(leaving).await, "delete");
    assert_counted(counted(store).await, BOUND - 1, "one logged out");
    create(store, &refused, &record(b"late", now), now).await;
}

/// When a full store's sessions have all expired (protected ones too), a
/// create finds room without any purge having run.
pub async fn expired_sessions_make_room_before_protected_ones_refuse_it(store: &dyn SessionStore) {
    let (admin, anonymous, now) = fill(store, Instant::from_secs(40_000)).await;
    for id in &anonymous {
        let seen = live(store, id, now, "the store had room for it").await;
        let logged_in = SessionRecord {
            protected: true,
            ..seen.record
        };
        save(store, id, &logged_in, seen.version, now).await;
    }
    let much_later = now.saturating_add(Duration::from_secs(1_000));
    absent(store, &admin, much_later, "it expired long ago").await;
    let fresh = new_id();
    create(store, &fresh, &record(b"fresh", much_later), much_later).await;
    live(store, &fresh, much_later, "it was created").await;
    if let Some(sessions) = counted(store).await {
        assert!(
            sessions <= BOUND,
            "{sessions} sessions in a store of {BOUND}"
        );
    }
}
