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
//! The owner cases expect the store's default per-user cap
//! ([`DEFAULT_MAX_SESSIONS_PER_USER`]).
//!
//! [Write your own store](crate::guide::custom_store) walks through a store
//! that passes them.

// Test code: a failed step panics with what went wrong, and the cases do
// small sums on timestamps and counts they choose themselves.
#![allow(clippy::panic, clippy::arithmetic_side_effects)]

use std::fmt::Debug;
use std::future::Future;

use sesh::expiry::{ExpiryPolicy, Lifetime};
use sesh::owner::{
    DEFAULT_MAX_SESSIONS_PER_USER, DisplayTag, Label, SessionInfo, SessionMeta, UserId,
};
use sesh::record::SessionRecord;
use sesh::{Duration, Instant, SessionId};

use super::{Created, Removed, Revoked, Saved, SessionStore, StoreError, StoredSession};
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
            a_session_keeps_its_metadata = ROOMY,
            a_listing_shows_exactly_the_live_sessions_of_the_user = ROOMY,
            a_revoke_ends_only_that_users_session_with_that_tag = ROOMY,
            a_revoke_all_ends_the_users_sessions_but_the_current_one = ROOMY,
            the_per_user_cap_ends_the_least_recently_used_session = ROOMY,
            a_per_session_lifetime_keeps_its_own_deadlines = ROOMY,
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
/// deadlines and flag the edit set, at a new version; the edit gets the
/// session's lifetime. A store without one passes.
pub async fn an_edit_in_place_writes_what_the_edit_returns(store: &dyn SessionStore) {
    let now = Instant::from_secs(9_000);
    let ran = std::cell::Cell::new(0);
    let mut count = |_: &mut sesh::expiry::Deadlines, _: &mut bool, _: &[u8], _| {
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
    let lifetime = std::cell::Cell::new(None);
    let mut log_in =
        |deadlines: &mut sesh::expiry::Deadlines, protected: &mut bool, data: &[u8], given| {
            lifetime.set(Some(given));
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
    expect_eq(
        lifetime.get(),
        Some(sesh::expiry::Lifetime::Default),
        "the edit gets the session's lifetime",
    );
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

/// A user id for the owner cases.
pub fn user(name: &str) -> UserId {
    match UserId::new(name.as_bytes()) {
        Ok(user) => user,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// A session's metadata at `now`: `owner`'s, labelled `label`.
pub fn owned(owner: Option<&UserId>, label: &str, now: Instant) -> SessionMeta {
    SessionMeta {
        owner: owner.cloned(),
        label: Label::truncated(label),
        ..SessionMeta::new(now)
    }
}

/// Creates `id` with `meta`, which must be stored.
async fn create_owned(
    store: &dyn SessionStore,
    id: &SessionId,
    record: &SessionRecord<Vec<u8>>,
    meta: &SessionMeta,
    now: Instant,
) {
    let created = ok(
        store.create_with_meta(id, record, meta, now).await,
        "create_with_meta",
    );
    expect_eq(
        created,
        Created::Stored(1),
        "a create_with_meta of a new id",
    );
}

/// `user`'s sessions listed at `now`, sorted by tag.
async fn listed(
    store: &dyn SessionStore,
    user: &UserId,
    current: Option<&SessionId>,
    now: Instant,
) -> Vec<SessionInfo> {
    let mut listed = ok(store.sessions_of(user, current, now).await, "sessions_of");
    listed.sort_by_key(|s| s.tag);
    listed
}

/// The tags of `ids`, sorted.
fn tags(ids: &[&SessionId]) -> Vec<DisplayTag> {
    let mut tags: Vec<DisplayTag> = ids.iter().map(|id| DisplayTag::of(id)).collect();
    tags.sort();
    tags
}

fn tags_of(listed: &[SessionInfo]) -> Vec<DisplayTag> {
    listed.iter().map(|s| s.tag).collect()
}

/// A session created with metadata loads with it; a `save` keeps it and
/// moves `last_seen`; a `save_with_meta` changes owner, label and
/// lifetime but not the creation time.
pub async fn a_session_keeps_its_metadata(store: &dyn SessionStore) {
    let now = Instant::from_secs(50_000);
    let (alice, bob) = (user("alice"), user("bob"));
    let id = new_id();
    let meta = owned(Some(&alice), "Firefox on Linux", now);
    create_owned(store, &id, &record(b"m", now), &meta, now).await;
    let seen = live(store, &id, now, "it was created").await;
    expect_eq(&seen.meta, &meta, "the metadata it was created with");
    let later = now.saturating_add(Duration::from_secs(2));
    let version = save(store, &id, &record(b"m2", later), seen.version, later).await;
    let saved = live(store, &id, later, "it was saved").await;
    expect_eq(
        &saved.meta,
        &SessionMeta {
            last_seen: later,
            ..meta.clone()
        },
        "a save keeps the metadata and moves last_seen",
    );
    let moved = SessionMeta {
        lifetime: Lifetime::BrowserSession,
        ..owned(Some(&bob), "Safari", later)
    };
    let answer = ok(
        store
            .save_with_meta(&id, &record(b"m3", later), Some(&moved), version, later)
            .await,
        "save_with_meta",
    );
    assert!(
        matches!(answer, Saved::Stored(_)),
        "save_with_meta answered {answer:?}"
    );
    let changed = live(store, &id, later, "it was saved").await;
    expect_eq(
        &changed.meta,
        &SessionMeta {
            created: now,
            ..moved
        },
        "save_with_meta sets owner, label and lifetime, keeps the creation time",
    );
    expect_eq(
        listed(store, &alice, None, later).await.len(),
        0,
        "alice's sessions once the session moved to bob",
    );
    expect_eq(
        tags_of(&listed(store, &bob, None, later).await),
        tags(&[&id]),
        "bob's sessions once the session moved to him",
    );
    let stale = ok(
        store
            .save_with_meta(&id, &record(b"m4", later), Some(&meta), version, later)
            .await,
        "save_with_meta",
    );
    expect_eq(stale, Saved::Conflict, "a save_with_meta of an old version");
}

/// A listing shows every live session of the user and nothing else:
/// never another user's or an anonymous one, never one deleted, revoked,
/// expired, purged or given away, with its tag, times, label and whether
/// it is the current one.
pub async fn a_listing_shows_exactly_the_live_sessions_of_the_user(store: &dyn SessionStore) {
    let now = Instant::from_secs(60_000);
    let (alice, bob) = (user("alice"), user("bob"));
    let [a, b, c, d, e] = [new_id(), new_id(), new_id(), new_id(), new_id()];
    for (id, label) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        create_owned(
            store,
            id,
            &record(b"x", now),
            &owned(Some(&alice), label, now),
            now,
        )
        .await;
    }
    // One is marked as alice's by a save, as at login.
    create(store, &d, &record(b"x", now), now).await;
    let seen = live(store, &d, now, "it was created").await;
    let login = owned(Some(&alice), "d", now);
    let answer = ok(
        store
            .save_with_meta(
                &d,
                &protected_record(b"x", now),
                Some(&login),
                seen.version,
                now,
            )
            .await,
        "save_with_meta",
    );
    assert!(
        matches!(answer, Saved::Stored(_)),
        "the login save answered {answer:?}"
    );
    create_owned(
        store,
        &e,
        &record(b"x", now),
        &owned(Some(&bob), "e", now),
        now,
    )
    .await;
    create(store, &new_id(), &record(b"anonymous", now), now).await;

    let all = listed(store, &alice, Some(&b), now).await;
    expect_eq(
        tags_of(&all),
        tags(&[&a, &b, &c, &d]),
        "alice's four sessions",
    );
    for info in &all {
        expect_eq(
            info.current,
            info.tag == DisplayTag::of(&b),
            "only b is current",
        );
        expect_eq(info.created, now, "created");
        expect_eq(
            info.expires_at,
            now.saturating_add(IDLE_TIMEOUT),
            "expires_at",
        );
        assert!(
            ["a", "b", "c", "d"].contains(&info.label.as_str()),
            "label {:?}",
            info.label
        );
    }
    expect_eq(
        tags_of(&listed(store, &bob, None, now).await),
        tags(&[&e]),
        "bob's one session",
    );

    ok(store.delete(&a).await, "delete");
    let seen = live(store, &b, now, "it was created").await;
    let removed = ok(
        store.delete_version(&b, seen.version, now).await,
        "delete_version",
    );
    expect_eq(
        removed,
        Removed::Deleted,
        "a delete_version of the stored version",
    );
    expect_eq(
        tags_of(&listed(store, &alice, None, now).await),
        tags(&[&c, &d]),
        "after a delete and a delete_version",
    );
    // c is given away (no owner any more).
    let seen = live(store, &c, now, "it was created").await;
    let nobody = owned(None, "", now);
    ok(
        store
            .save_with_meta(&c, &record(b"x", now), Some(&nobody), seen.version, now)
            .await,
        "save_with_meta",
    );
    expect_eq(
        tags_of(&listed(store, &alice, None, now).await),
        tags(&[&d]),
        "after a session lost its owner",
    );
    // d expires (no save moves it): gone from the listing at its deadline,
    // and after a purge.
    let deadline = now.saturating_add(IDLE_TIMEOUT);
    expect_eq(
        listed(store, &alice, None, deadline).await.len(),
        0,
        "alice's sessions once the last one expired",
    );
    ok(store.purge_expired(deadline).await, "purge_expired");
    expect_eq(
        listed(store, &alice, None, deadline).await.len(),
        0,
        "alice's sessions after a purge",
    );
    // A new session of alice's is listed again.
    let f = new_id();
    create_owned(
        store,
        &f,
        &record(b"x", deadline),
        &owned(Some(&alice), "f", deadline),
        deadline,
    )
    .await;
    expect_eq(
        tags_of(&listed(store, &alice, None, deadline).await),
        tags(&[&f]),
        "alice's new session",
    );
}

/// A revoke by tag ends only the user's own live session with that tag: a
/// tag of another user's session, or an unknown one, answers `NotFound`
/// and removes nothing.
pub async fn a_revoke_ends_only_that_users_session_with_that_tag(store: &dyn SessionStore) {
    let now = Instant::from_secs(70_000);
    let (alice, bob) = (user("alice"), user("bob"));
    let [a1, a2, b1] = [new_id(), new_id(), new_id()];
    for (id, who) in [(&a1, &alice), (&a2, &alice), (&b1, &bob)] {
        create_owned(
            store,
            id,
            &record(b"x", now),
            &owned(Some(who), "", now),
            now,
        )
        .await;
    }
    let everyone = [&a1, &a2, &b1];
    let foreign = ok(
        store.revoke(&alice, &DisplayTag::of(&b1), now).await,
        "revoke",
    );
    expect_eq(foreign, Revoked::NotFound, "alice revoking bob's session");
    let unknown = ok(
        store.revoke(&alice, &DisplayTag::of(&new_id()), now).await,
        "revoke",
    );
    expect_eq(unknown, Revoked::NotFound, "a revoke of an unknown tag");
    for id in everyone {
        live(
            store,
            id,
            now,
            "a revoke that found nothing removes nothing",
        )
        .await;
    }
    let ended = ok(
        store.revoke(&alice, &DisplayTag::of(&a1), now).await,
        "revoke",
    );
    expect_eq(ended, Revoked::Ended, "alice revoking her own session");
    absent(store, &a1, now, "it was revoked").await;
    live(store, &a2, now, "only the session with the tag ends").await;
    live(store, &b1, now, "bob's session is not alice's").await;
    let again = ok(
        store.revoke(&alice, &DisplayTag::of(&a1), now).await,
        "revoke",
    );
    expect_eq(again, Revoked::NotFound, "a second revoke of the same tag");
    expect_eq(
        tags_of(&listed(store, &alice, None, now).await),
        tags(&[&a2]),
        "alice's sessions after the revoke",
    );
}

/// A revoke of all a user's sessions ends each of them but the current
/// one, and no one else's, answering how many ended; occupancy drops by as
/// many, however many other sessions the store holds.
pub async fn a_revoke_all_ends_the_users_sessions_but_the_current_one(store: &dyn SessionStore) {
    let now = Instant::from_secs(80_000);
    let (alice, bob) = (user("alice"), user("bob"));
    let mine: Vec<SessionId> = (0..4).map(|_| new_id()).collect();
    for id in &mine {
        create_owned(
            store,
            id,
            &record(b"x", now),
            &owned(Some(&alice), "", now),
            now,
        )
        .await;
    }
    let mut others = Vec::new();
    for n in 0..40 {
        let id = new_id();
        let meta = if n % 2 == 0 {
            owned(Some(&bob), "", now)
        } else {
            owned(None, "", now)
        };
        create_owned(store, &id, &record(b"x", now), &meta, now).await;
        others.push(id);
    }
    let before = counted(store).await;
    let Some((current, rest)) = mine.split_first() else {
        panic!("no session of alice's");
    };
    let ended = ok(
        store.revoke_all(&alice, Some(current), now).await,
        "revoke_all",
    );
    expect_eq(
        ended,
        rest.len(),
        "revoke_all's count, the current session kept",
    );
    live(store, current, now, "revoke_all keeps the current session").await;
    for id in rest {
        absent(store, id, now, "revoke_all ended it").await;
    }
    for id in &others {
        live(store, id, now, "it is not alice's").await;
    }
    if let Some(before) = before {
        assert_counted(counted(store).await, before - rest.len(), "revoke_all");
    }
    let last = ok(store.revoke_all(&alice, None, now).await, "revoke_all");
    expect_eq(last, 1, "revoke_all with no current session");
    absent(
        store,
        current,
        now,
        "revoke_all without a current session ends all",
    )
    .await;
    expect_eq(
        listed(store, &bob, None, now).await.len(),
        others.len() / 2,
        "bob's sessions",
    );
}

/// A user given one session more than the cap loses their least recently
/// used other session (by its last save), and only that one.
pub async fn the_per_user_cap_ends_the_least_recently_used_session(store: &dyn SessionStore) {
    let t0 = Instant::from_secs(90_000);
    let at = |ms: u64| t0.saturating_add(Duration::from_millis(ms));
    let alice = user("alice");
    let cap = DEFAULT_MAX_SESSIONS_PER_USER;
    let mut ids = Vec::new();
    for n in 0..cap as u64 {
        let id = new_id();
        create_owned(
            store,
            &id,
            &record(b"x", at(n)),
            &owned(Some(&alice), "", at(n)),
            at(n),
        )
        .await;
        ids.push(id);
    }
    let [oldest, second, ..] = ids.as_slice() else {
        panic!("the cap is below 2");
    };
    // The oldest is used again: the second is now the least recently used.
    let now = at(cap as u64);
    let seen = live(store, oldest, now, "the user is at the cap").await;
    save(store, oldest, &record(b"x", now), seen.version, now).await;
    expect_eq(
        listed(store, &alice, None, now).await.len(),
        cap,
        "at the cap",
    );
    // One more, by a login save.
    let newcomer = new_id();
    let later = at(cap as u64 + 1);
    create(store, &newcomer, &record(b"x", later), later).await;
    let seen = live(store, &newcomer, later, "it was created").await;
    let login = owned(Some(&alice), "new", later);
    ok(
        store
            .save_with_meta(
                &newcomer,
                &record(b"x", later),
                Some(&login),
                seen.version,
                later,
            )
            .await,
        "save_with_meta",
    );
    // Checked by a listing, which counts as no use (a load may).
    let kept: Vec<&SessionId> = ids
        .iter()
        .filter(|id| *id != second)
        .chain([&newcomer])
        .collect();
    expect_eq(
        tags_of(&listed(store, &alice, None, later).await),
        tags(&kept),
        "only the least recently used session ends",
    );
    absent(store, second, later, "the least recently used session ends").await;
    // And one more by a create with an owner: the third goes.
    let third = ids
        .get(2)
        .copied()
        .unwrap_or_else(|| panic!("the cap is below 3"));
    let last = at(cap as u64 + 2);
    create_owned(
        store,
        &new_id(),
        &record(b"x", last),
        &owned(Some(&alice), "", last),
        last,
    )
    .await;
    absent(store, &third, last, "the least recently used session ends").await;
    expect_eq(
        listed(store, &alice, None, last).await.len(),
        cap,
        "still at the cap",
    );
}

/// A session with its own lifetime (remember me) keeps deadlines far past
/// the default ones and its lifetime, and expires at them.
pub async fn a_per_session_lifetime_keeps_its_own_deadlines(store: &dyn SessionStore) {
    let now = Instant::from_secs(100_000);
    let id = new_id();
    let policy = ExpiryPolicy::new().for_lifetime(Lifetime::REMEMBER_ME);
    let remembered = SessionRecord {
        deadlines: policy.start(now),
        protected: true,
        data: b"r".to_vec(),
    };
    let meta = SessionMeta {
        lifetime: Lifetime::REMEMBER_ME,
        ..owned(Some(&user("alice")), "", now)
    };
    create_owned(store, &id, &remembered, &meta, now).await;
    let week = now.saturating_add(Duration::from_hours(24 * 7));
    let seen = live(store, &id, week, "remember me lasts 30 days idle").await;
    expect_eq(seen.meta.lifetime, Lifetime::REMEMBER_ME, "the lifetime");
    expect_eq(seen.record.deadlines, remembered.deadlines, "the deadlines");
    absent(
        store,
        &id,
        remembered.deadlines.expires_at(),
        "it expires at its deadline",
    )
    .await;
}
