//! Flash persistence (feature `flash`) on a RAM-backed NOR flash with real NOR
//! rules (erase sets 0xFF, a write only clears bits) and power-loss injection:
//! sesh-tests' `ram_flash::RamFlash`, the one the no_std flash cases use too.
//!
//! Run with `cargo test -p sesh-embassy --features flash -- --nocapture` to see
//! the measured numbers (wear, outcome counts).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    missing_docs
)]

use std::cell::{Ref, RefCell, RefMut};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::ops::Range;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Timer;
use embedded_storage_async::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use futures_executor::block_on;
use rand_core::TryRng;
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};
use serde::{Deserialize, Serialize};
use sesh::cookie::CookieConfig;
use sesh::expiry::Deadlines;
use sesh::record::SessionRecord;
use sesh::signing::{Key, KeyRing};
use sesh::table::RestoreError;
use sesh::{Duration, ExpiryPolicy, Instant, SessionId, SessionTable};
use sesh_embassy::flash::{FlashError, FlashSnapshots, run_persistence, save_now};
use sesh_embassy::{EmbassyClock, Keys, Session, Sessions, now};
use sesh_tests::rng::TestRng;

use sesh_tests::ram_flash::{Counters, FlashFault, Op, RamFlash, WORD};

/// A [`RamFlash`] that a test and `FlashSnapshots` (or `run_persistence`)
/// share: clones share the same memory, so the test keeps a handle to watch
/// and damage the flash while the adapter owns another.
#[derive(Clone)]
struct SharedFlash(Rc<RefCell<RamFlash<PAGE_SIZE, PAGES>>>);

impl SharedFlash {
    /// A fully erased flash.
    fn new() -> Self {
        SharedFlash(Rc::new(RefCell::new(RamFlash::new())))
    }

    /// A new flash holding a copy of `other`'s memory, with fresh counters
    /// and full power.
    fn copy_of(other: &SharedFlash) -> Self {
        let copy = SharedFlash::new();
        copy.ram_mut().copy_from(&other.ram());
        copy
    }

    fn ram(&self) -> Ref<'_, RamFlash<PAGE_SIZE, PAGES>> {
        self.0.borrow()
    }

    fn ram_mut(&self) -> RefMut<'_, RamFlash<PAGE_SIZE, PAGES>> {
        self.0.borrow_mut()
    }
}

impl ErrorType for SharedFlash {
    type Error = FlashFault;
}

// The blocking calls: a RefCell borrow must not be held across an await.
impl ReadNorFlash for SharedFlash {
    const READ_SIZE: usize = WORD;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashFault> {
        self.ram_mut().read_now(offset, bytes)
    }

    fn capacity(&self) -> usize {
        RamFlash::<PAGE_SIZE, PAGES>::SIZE
    }
}

impl NorFlash for SharedFlash {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashFault> {
        self.ram_mut().erase_now(from, to)
    }

    async fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashFault> {
        self.ram_mut().write_now(offset, data)
    }
}

// ------------------------------------------------------------------ set-up --

const PAGE_SIZE: usize = 4096;
const PAGES: usize = 4;
const RANGE: Range<u32> = 0..(PAGE_SIZE * PAGES) as u32;
const CAPACITY: usize = 8;
const SNAPSHOT_BUF: usize = 1024;
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 16;

type Flash = SharedFlash;
/// Sessions with an owner, a label or a lifetime of their own.
const OWNED: usize = 4;
type Table = Sessions<NoopRawMutex, Data, TestRng, CAPACITY, 2, EmbassyClock, OWNED>;
type Snapshots = FlashSnapshots<Flash>;
type Result<T, E = FlashError<FlashFault>> = std::result::Result<T, E>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Data {
    user: heapless::String<16>,
    visits: u32,
}

fn data(user: &str, visits: u32) -> Data {
    Data {
        user: user.try_into().unwrap(),
        visits,
    }
}

fn keys() -> Keys {
    KeyRing::new(Key::new(&[1; 32]).unwrap())
}

async fn sessions_with(policy: ExpiryPolicy, seed: u64) -> Table {
    Sessions::new(TestRng(seed), keys(), CookieConfig::new("sid"), policy).unwrap()
}

async fn sessions(seed: u64) -> Table {
    sessions_with(ExpiryPolicy::new(), seed).await
}

fn leak(sessions: Table) -> &'static Table {
    Box::leak(Box::new(sessions))
}

fn snapshots(flash: &Flash) -> Snapshots {
    FlashSnapshots::new(flash.clone(), RANGE).unwrap()
}

/// What a table holds, deadlines aside: id → (protected, data).
type Contents = BTreeMap<String, (bool, Data)>;

async fn contents(sessions: &Table) -> Contents {
    let mut inner = sessions.lock().await;
    let now = now();
    inner
        .table()
        .iter()
        .filter(|(_, r)| !r.deadlines.is_expired(now))
        .map(|(id, r)| (key(&id), (r.protected, r.data.clone())))
        .collect()
}

fn key(id: &SessionId) -> String {
    id.encode().as_str().to_owned()
}

/// Adds a session straight into the table.
async fn create(sessions: &Table, rng: &mut TestRng, d: Data, protected: bool) -> SessionId {
    let mut inner = sessions.lock().await;
    let now = now();
    let (id, _) = inner.table().create(rng, now, d).unwrap();
    if protected {
        inner.table().set_protected(&id, now, true).unwrap();
    }
    id
}

async fn save(sessions: &Table, flash: &mut Snapshots) -> Result<()> {
    let mut snapshot = [0u8; SNAPSHOT_BUF];
    let mut scratch = [0u8; SCRATCH_BUF];
    save_now(sessions, flash, &mut snapshot, &mut scratch).await
}

/// Boots: a fresh table restored from `flash`.
async fn boot(flash: &Flash) -> (Result<usize>, Table) {
    let restored = sessions(0xB007).await;
    let mut scratch = [0u8; SCRATCH_BUF];
    let outcome = snapshots(flash).restore(&restored, &mut scratch).await;
    (outcome, restored)
}

async fn snapshot_len(sessions: &Table) -> usize {
    let mut buf = [0u8; SNAPSHOT_BUF];
    sessions
        .lock()
        .await
        .table()
        .write_sealed_snapshot(&mut buf, now(), &keys())
        .unwrap()
}

/// The cookie a browser would send for `id`.
fn cookie(id: &SessionId) -> String {
    format!("sid={}", keys().sign(id))
}

async fn request(
    sessions: &'static Table,
    id: &SessionId,
) -> Session<NoopRawMutex, Data, TestRng, CAPACITY, 2, EmbassyClock, OWNED> {
    let header = cookie(id);
    Session::from_cookie_headers(sessions, std::iter::once(header.as_bytes())).await
}

/// Runs `body` with `background` polled alongside (first, at every wake-up).
async fn race<T>(background: impl Future<Output = Infallible>, body: impl Future<Output = T>) -> T {
    let mut background = pin!(background);
    let mut body = pin!(body);
    poll_fn(|cx| {
        if let Poll::Ready(never) = background.as_mut().poll(cx) {
            match never {}
        }
        body.as_mut().poll(cx)
    })
    .await
}

async fn persistence(sessions: &'static Table, flash: Flash, coalesce_ms: u64) -> Infallible {
    let mut flash = snapshots(&flash);
    let mut snapshot = [0u8; SNAPSHOT_BUF];
    let mut scratch = [0u8; SCRATCH_BUF];
    run_persistence(
        sessions,
        &mut flash,
        &mut snapshot,
        &mut scratch,
        embassy_time::Duration::from_millis(coalesce_ms),
    )
    .await
}

/// Whether `got` is one of the snapshots written, and which (newest first).
fn which(history: &[Contents], got: &Contents) -> Option<usize> {
    history.iter().rev().position(|c| c == got)
}

// ------------------------------------------------------------------- tests --

#[test]
fn flash_range_must_be_two_whole_pages() {
    for range in [
        0..PAGE_SIZE as u32,
        0..0,
        100..(3 * PAGE_SIZE as u32),
        0..(2 * PAGE_SIZE as u32 + 4),
    ] {
        assert!(
            matches!(
                FlashSnapshots::new(Flash::new(), range.clone()),
                Err(FlashError::BadRange)
            ),
            "{range:?} should be refused"
        );
    }
    assert!(FlashSnapshots::new(Flash::new(), 0..(2 * PAGE_SIZE as u32)).is_ok());
}

#[test]
fn first_boot_restores_nothing() {
    block_on(async {
        let flash = Flash::new();
        let (outcome, restored) = boot(&flash).await;
        assert_eq!(outcome.unwrap(), 0);
        assert!(contents(&restored).await.is_empty());
        assert_eq!(
            flash.ram().counters().writes,
            0,
            "a restore of an empty flash wrote"
        );
        assert_eq!(
            flash.ram().counters().erases,
            0,
            "a restore of an empty flash erased"
        );
    });
}

#[test]
fn save_and_restore_keeps_ids_data_flags_and_remaining_time() {
    block_on(async {
        let flash = Flash::new();
        let source = sessions(1).await;
        let mut rng = TestRng(11);
        let mut ids = Vec::new();
        for (i, user) in ["ada", "bob", "cy", "dee", "eve"].iter().enumerate() {
            ids.push(create(&source, &mut rng, data(user, i as u32 * 7), i % 2 == 0).await);
        }
        let before = contents(&source).await;
        let remaining_before: BTreeMap<String, u64> = {
            let mut inner = source.lock().await;
            let now = now();
            inner
                .table()
                .iter()
                .map(|(id, r)| (key(&id), r.deadlines.remaining(now).as_millis()))
                .collect()
        };

        let mut snaps = snapshots(&flash);
        save(&source, &mut snaps).await.unwrap();
        assert_eq!(flash.ram().counters().overwrites, 0);

        // Reboot: new table, new FlashSnapshots over the same flash.
        let (outcome, restored) = boot(&flash).await;
        assert_eq!(outcome.unwrap(), 5);
        assert_eq!(contents(&restored).await, before);
        {
            let mut inner = restored.lock().await;
            let now = now();
            for (id, r) in inner.table().iter() {
                let was = remaining_before[&key(&id)];
                let is = r.deadlines.remaining(now).as_millis();
                assert!(
                    is <= was && was - is < 1_000,
                    "remaining {is} ms, saved with {was} ms"
                );
            }
        }

        // The old cookies still work against the restored table.
        let restored = leak(restored);
        for (i, id) in ids.iter().enumerate() {
            let session = request(restored, id).await;
            assert_eq!(
                session.get().await,
                Some(data(["ada", "bob", "cy", "dee", "eve"][i], i as u32 * 7))
            );
            assert_eq!(session.is_protected().await, i % 2 == 0);
        }

        // A later save replaces the first one.
        source
            .lock()
            .await
            .table()
            .update(&ids[1], now(), |d| d.visits = 1_000)
            .unwrap();
        source.lock().await.table().destroy(&ids[4]);
        save(&source, &mut snaps).await.unwrap();
        let (outcome, again) = boot(&flash).await;
        assert_eq!(outcome.unwrap(), 4);
        assert_eq!(contents(&again).await, contents(&source).await);

        // Restore needs an empty table.
        let mut scratch = [0u8; SCRATCH_BUF];
        let err = snapshots(&flash)
            .restore(&again, &mut scratch)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FlashError::Restore(RestoreError::NotEmpty)),
            "{err:?}"
        );
        assert_eq!(contents(&again).await, contents(&source).await);
    });
}

/// Changes `source` a little, differently each round: data, flags, a new
/// session, a destroyed one.
async fn mutate(source: &Table, rng: &mut TestRng, round: usize) {
    let mut inner = source.lock().await;
    let now = now();
    let ids: Vec<SessionId> = inner.table().iter().map(|(id, _)| id).collect();
    let table = inner.table();
    match round % 4 {
        0 if ids.len() < CAPACITY - 1 => {
            table.create(rng, now, data("new", round as u32)).unwrap();
        }
        1 if ids.len() > 2 => {
            table.destroy(&ids[round % ids.len()]);
        }
        2 => {
            let id = ids[round % ids.len()];
            let protected = table.iter().any(|(i, r)| i == id && r.protected);
            table.set_protected(&id, now, !protected).unwrap();
        }
        _ => {
            table
                .update(&ids[round % ids.len()], now, |d| d.visits += 1)
                .unwrap();
        }
    }
}

#[test]
fn power_loss_at_every_step_of_a_save_leaves_the_old_or_the_new_snapshot() {
    block_on(async {
        let base = Flash::new();
        let mut base_snaps = snapshots(&base);
        let source = sessions(2).await;
        let mut rng = TestRng(22);
        for i in 0..4 {
            create(&source, &mut rng, data("user", i), i == 0).await;
        }

        let (mut cases, mut got_old, mut got_new, mut cut_erases, mut cut_writes) = (0, 0, 0, 0, 0);
        let mut round = 0;
        // Until the pages have been reused at least twice over, so that the
        // cuts land in page closes, erases and migrations as well.
        while base.ram().counters().erases < 2 * PAGES {
            assert!(round < 2_000, "the flash never filled up");
            // On flash: snapshot A (nothing at all in round 0).
            let a = if round == 0 {
                Contents::new()
            } else {
                contents(&source).await
            };
            mutate(&source, &mut rng, round).await;
            let b = contents(&source).await;
            assert_ne!(a, b);

            // A dry run on a copy: which writes and erases does saving B take here?
            let dry = Flash::copy_of(&base);
            save(&source, &mut snapshots(&dry)).await.unwrap();
            let plan = dry.ram().counters().ops();

            for k in 0..=plan {
                cases += 1;
                let flash = Flash::copy_of(&base);
                flash.ram_mut().fail_after(Some(k));
                let saved = save(&source, &mut snapshots(&flash)).await;
                if k < plan {
                    assert!(
                        matches!(saved, Err(FlashError::Flash(FlashFault::PowerLoss))),
                        "round {round}, cut after {k} of {plan}: {saved:?}"
                    );
                    assert!(flash.ram().is_off());
                    match flash.ram().torn() {
                        Some(Op::Erase) => cut_erases += 1,
                        Some(Op::Write) => cut_writes += 1,
                        None => panic!("round {round}, cut after {k} of {plan}: nothing torn"),
                    }
                } else {
                    saved.unwrap();
                }

                // Reboot.
                flash.ram_mut().power_cycle();
                let (outcome, restored) = boot(&flash).await;
                let got = contents(&restored).await;
                let what = format!("round {round}, cut after {k} of {plan} ops");
                let n = outcome.unwrap_or_else(|e| panic!("{what}: restore failed: {e:?}"));
                assert_eq!(n, got.len(), "{what}");
                if got == a {
                    got_old += 1;
                } else if got == b {
                    got_new += 1;
                } else {
                    panic!("{what}: restored neither A nor B: {got:?}");
                }
                if k == plan {
                    assert_eq!(got, b, "{what}: a completed save must restore B");
                }

                // The flash keeps working after the cut: save B again, restore B.
                let mut snaps = snapshots(&flash);
                save(&source, &mut snaps)
                    .await
                    .unwrap_or_else(|e| panic!("{what}: saving after the reboot failed: {e:?}"));
                let (outcome, again) = boot(&flash).await;
                outcome.unwrap_or_else(|e| panic!("{what}: second restore failed: {e:?}"));
                assert_eq!(contents(&again).await, b, "{what}: second restore");
            }

            // Commit B for the next round.
            save(&source, &mut base_snaps).await.unwrap();
            round += 1;
        }
        println!(
            "power loss: {round} saves, {cases} cuts ({cut_writes} in a write, {cut_erases} in an erase): \
             {got_old} restored the old snapshot, {got_new} the new one, 0 anything else"
        );
        assert!(cut_erases > 0, "no cut landed in an erase");
        assert!(got_old > 0 && got_new > 0);
        assert_eq!(
            base.ram().counters().overwrites,
            0,
            "a word was programmed twice"
        );
    });
}

/// A flash whose pages have all been erased and reused at least once by
/// snapshots of a changing table, and every snapshot written, oldest first.
async fn used_flash() -> (Flash, Table, Vec<Contents>) {
    let flash = Flash::new();
    let mut snaps = snapshots(&flash);
    let source = sessions(3).await;
    let mut rng = TestRng(33);
    for i in 0..5 {
        create(&source, &mut rng, data("someone", i), i % 2 == 1).await;
    }
    let mut history = Vec::new();
    let mut round = 0;
    while flash.ram().counters().erases < PAGES + 1 {
        assert!(round < 2_000, "the flash never filled up");
        mutate(&source, &mut rng, round).await;
        save(&source, &mut snaps).await.unwrap();
        history.push(contents(&source).await);
        round += 1;
    }
    (flash, source, history)
}

#[test]
fn corrupted_pages_restore_a_snapshot_that_was_written_or_nothing() {
    block_on(async {
        let (good, source, history) = used_flash().await;

        // Offsets in every page: page markers, item headers, data, the end.
        let mut offsets: Vec<usize> =
            vec![0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 16, 20, 64, 100, 257, 1000];
        offsets.extend([
            2047,
            2048,
            3000,
            PAGE_SIZE - 9,
            PAGE_SIZE - 8,
            PAGE_SIZE - 5,
            PAGE_SIZE - 4,
            PAGE_SIZE - 1,
        ]);
        let mut spread = TestRng(44);
        for _ in 0..24 {
            offsets.push(spread.try_next_u32().unwrap() as usize % PAGE_SIZE);
        }

        let (mut newest, mut older, mut nothing, mut refused, mut recovered, mut stuck) =
            (0, 0, 0, 0, 0, 0);
        let mut damages: Vec<(String, Flash)> = Vec::new();
        for page in 0..PAGES {
            for &offset in &offsets {
                for mask in [0x01u8, 0x80, 0xFF] {
                    let flash = Flash::copy_of(&good);
                    flash.ram_mut().xor(page * PAGE_SIZE + offset, mask);
                    damages.push((format!("page {page} offset {offset} ^{mask:#04x}"), flash));
                }
            }
            for fill in [0x00u8, 0x5A] {
                let flash = Flash::copy_of(&good);
                flash.ram_mut().fill_page(page, fill);
                damages.push((format!("page {page} filled with {fill:#04x}"), flash));
            }
        }

        for (what, flash) in &damages {
            let (outcome, restored) = boot(flash).await;
            let got = contents(&restored).await;
            match outcome {
                Ok(0) => {
                    assert!(got.is_empty(), "{what}: Ok(0) with sessions");
                    nothing += 1;
                }
                Ok(n) => {
                    assert_eq!(n, got.len(), "{what}");
                    match which(&history, &got) {
                        Some(0) => newest += 1,
                        Some(_) => older += 1,
                        None => panic!("{what}: restored a table that was never saved: {got:?}"),
                    }
                }
                Err(e) => {
                    assert!(
                        got.is_empty(),
                        "{what}: error {e:?} but the table holds {got:?}"
                    );
                    refused += 1;
                }
            }

            // And the device keeps going: a new save, if the storage takes
            // it, must come back exactly.
            let mut snaps = snapshots(flash);
            match save(&source, &mut snaps).await {
                Ok(()) => {
                    let (outcome, again) = boot(flash).await;
                    let again_contents = contents(&again).await;
                    assert!(
                        outcome.is_ok() && again_contents == contents(&source).await,
                        "{what}: saved after the damage, restored {outcome:?} {again_contents:?}"
                    );
                    recovered += 1;
                }
                Err(_) => stuck += 1,
            }
        }
        println!(
            "corruption: {} damaged images: {newest} restored the newest snapshot, {older} an older one, \
             {nothing} none, {refused} an error; afterwards {recovered} saved and restored, {stuck} refused the save",
            damages.len()
        );
        assert_eq!(newest + older + nothing + refused, damages.len());
    });
}

#[test]
fn a_damaged_snapshot_in_flash_is_refused_and_the_table_stays_empty() {
    block_on(async {
        let flash = Flash::new();
        let mut snaps = snapshots(&flash);
        let mut scratch = [0u8; SCRATCH_BUF];

        // A good snapshot first.
        let source = sessions(4).await;
        let mut rng = TestRng(44);
        for i in 0..3 {
            create(&source, &mut rng, data("good", i), false).await;
        }
        save(&source, &mut snaps).await.unwrap();

        // Then one damaged before it reached the flash (so the storage's own
        // checksum is right and only the core's CRC can catch it).
        let mut bytes = [0u8; SNAPSHOT_BUF];
        let len = source
            .lock()
            .await
            .table()
            .write_sealed_snapshot(&mut bytes, now(), &keys())
            .unwrap();
        for at in [0, 4, 5, 13, 20, len / 2, len - 5, len - 1] {
            let mut damaged = bytes;
            damaged[at] ^= 0x10;
            snaps.store(&mut scratch, &damaged[..len]).await.unwrap();
            let (outcome, restored) = boot(&flash).await;
            let err = outcome.unwrap_err();
            assert!(
                matches!(
                    err,
                    FlashError::Restore(
                        RestoreError::Checksum
                            | RestoreError::BadMagic
                            | RestoreError::UnsupportedVersion(_)
                    )
                ),
                "byte {at}: {err:?}"
            );
            assert!(contents(&restored).await.is_empty(), "byte {at}");
        }

        // Cut short, garbage, and more sessions than the table holds.
        snaps.store(&mut scratch, &bytes[..len - 1]).await.unwrap();
        let (outcome, restored) = boot(&flash).await;
        assert!(
            matches!(outcome, Err(FlashError::Restore(_))),
            "{outcome:?}"
        );
        assert!(contents(&restored).await.is_empty());

        snaps.store(&mut scratch, b"hello").await.unwrap();
        let (outcome, _) = boot(&flash).await;
        assert!(
            matches!(outcome, Err(FlashError::Restore(RestoreError::Truncated))),
            "{outcome:?}"
        );

        let mut big = SessionTable::<Data, 16>::new();
        for i in 0..(CAPACITY as u32 + 1) {
            big.create(&mut rng, now(), data("many", i)).unwrap();
        }
        let len = big
            .write_sealed_snapshot(&mut bytes, now(), &keys())
            .unwrap();
        snaps.store(&mut scratch, &bytes[..len]).await.unwrap();
        let (outcome, restored) = boot(&flash).await;
        assert!(
            matches!(outcome, Err(FlashError::Restore(RestoreError::TooMany))),
            "{outcome:?}"
        );
        assert!(contents(&restored).await.is_empty());

        // A good save after all that restores again.
        save(&source, &mut snaps).await.unwrap();
        let (outcome, restored) = boot(&flash).await;
        assert_eq!(outcome.unwrap(), 3);
        assert_eq!(contents(&restored).await, contents(&source).await);
    });
}

/// Writes the core's CRC again after an edit, as anyone who can write the
/// flash can (it is a checksum, not a secret).
fn fix_crc(bytes: &mut [u8]) {
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32 (IEEE), bit by bit: what the core writes after a snapshot.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

/// Someone who can write the flash but does not hold the key: the admin's
/// record moved under their own id, a session edited, a snapshot of their
/// own making. Each keeps its CRC right; each is refused at boot, logged,
/// and the device starts with no sessions. Through the public API the
/// attacker's cookie then selects nothing, logged in or not.
#[test]
fn a_snapshot_changed_without_the_key_is_refused_at_boot() {
    block_on(async {
        let flash = Flash::new();
        let mut snaps = snapshots(&flash);
        let mut scratch = [0u8; SCRATCH_BUF];
        let source = sessions(12).await;
        // Ids of known bytes (16 × 0xA1 and 16 × 0xB2), to find them in the snapshot.
        let (admin_bytes, mallory_bytes) = ([0xA1; 16], [0xB2; 16]);
        let (admin, mallory) = (
            SessionId::parse("oaGhoaGhoaGhoaGhoaGhoQ").unwrap(),
            SessionId::parse("srKysrKysrKysrKysrKysg").unwrap(),
        );
        for (id, user, protected) in [(admin, "admin", true), (mallory, "mallory", false)] {
            let record = SessionRecord {
                deadlines: ExpiryPolicy::new().start(now()),
                protected,
                data: data(user, 1),
            };
            source
                .lock()
                .await
                .table()
                .insert(id, record, now())
                .unwrap();
        }
        let mut bytes = [0u8; SNAPSHOT_BUF];
        let len = source
            .lock()
            .await
            .table()
            .write_sealed_snapshot(&mut bytes, now(), &keys())
            .unwrap();
        let sealed = bytes[..len].to_vec();
        let at = |id: &[u8; 16]| sealed.windows(16).position(|w| w == id).unwrap();

        // (1) The ids swapped: the admin's record under mallory's id.
        let mut swapped = sealed.clone();
        let (a, m) = (at(&admin_bytes), at(&mallory_bytes));
        swapped[a..a + 16].copy_from_slice(&mallory_bytes);
        swapped[m..m + 16].copy_from_slice(&admin_bytes);
        fix_crc(&mut swapped);
        // (2) Mallory's data edited (every byte after her id, one at a time).
        let mut edits = Vec::new();
        for offset in 16..24 {
            let mut edited = sealed.clone();
            edited[m + offset] ^= 0x01;
            fix_crc(&mut edited);
            edits.push(edited);
        }
        // (3) A snapshot made with another key, and a plain one.
        let theirs = KeyRing::<1>::new(Key::new(&[0xEE; 32]).unwrap());
        let forged_len = source
            .lock()
            .await
            .table()
            .write_sealed_snapshot(&mut bytes, now(), &theirs)
            .unwrap();
        let forged = bytes[..forged_len].to_vec();
        let plain_len = source
            .lock()
            .await
            .table()
            .write_snapshot(&mut bytes, now())
            .unwrap();
        let plain = bytes[..plain_len].to_vec();

        let cases = [
            (&swapped, RestoreError::BadSeal),
            (&forged, RestoreError::BadSeal),
        ]
        .into_iter()
        .chain(edits.iter().map(|e| (e, RestoreError::BadSeal)))
        .chain([(&plain, RestoreError::Unsealed)]);
        for (n, (image, expected)) in cases.enumerate() {
            snaps.store(&mut scratch, image).await.unwrap();
            let (outcome, restored) = boot(&flash).await;
            match outcome {
                Err(FlashError::Restore(e)) => assert_eq!(e, expected, "case {n}"),
                other => panic!("case {n}: {other:?}"),
            }
            assert!(contents(&restored).await.is_empty(), "case {n}");
            let restored = leak(restored);
            for id in [&admin, &mallory] {
                let session = request(restored, id).await;
                assert_eq!(session.get().await, None, "case {n}");
                assert!(!session.is_protected().await, "case {n}");
            }
        }

        // The untouched snapshot restores, under a rotated ring as well.
        snaps.store(&mut scratch, &sealed).await.unwrap();
        let ring = KeyRing::new(Key::new(&[2; 32]).unwrap())
            .with_previous(Key::new(&[1; 32]).unwrap())
            .unwrap();
        let rotated = Sessions::new(
            TestRng(3),
            ring,
            CookieConfig::new("sid"),
            ExpiryPolicy::new(),
        )
        .unwrap();
        let outcome = snapshots(&flash).restore(&rotated, &mut scratch).await;
        assert_eq!(outcome.unwrap(), 2);
        let restored: Table = rotated;
        assert_eq!(contents(&restored).await, contents(&source).await);
    });
}

#[test]
fn restore_after_reboot_keeps_each_sessions_remaining_lifetime() {
    block_on(async {
        const POLICY: ExpiryPolicy = ExpiryPolicy::new()
            .with_idle_timeout(Duration::from_secs(60))
            .with_absolute_lifetime(Duration::from_secs(3_600));
        // Before the reboot the device had been up for a day.
        let saved_at = Instant::from_secs(86_400);
        let at =
            |secs_before: u64| Instant::from_millis(saved_at.as_millis() - secs_before * 1_000);
        let mut rng = TestRng(55);
        let mut before = SessionTable::<Data, CAPACITY>::new().with_policy(POLICY);
        // Idle deadline 40 s after the save.
        let (idle, _) = before.create(&mut rng, at(20), data("idle", 1)).unwrap();
        // Created 3590 s before the save and used 5 s before it: the absolute
        // deadline (10 s after the save) comes first. Protected.
        let absolute = SessionId::generate(&mut rng).unwrap();
        let record = SessionRecord {
            deadlines: Deadlines {
                idle: at(0) + Duration::from_secs(55),
                absolute: at(0) + Duration::from_secs(10),
            },
            protected: true,
            data: data("absolute", 2),
        };
        before.insert(absolute, record, at(5)).unwrap();
        // Expired 10 s before the save: not written.
        let (gone, _) = before.create(&mut rng, at(70), data("gone", 3)).unwrap();
        assert_eq!(
            before
                .iter()
                .find(|(i, _)| *i == idle)
                .unwrap()
                .1
                .deadlines
                .expires_at(),
            at(0) + Duration::from_secs(40)
        );
        assert_eq!(
            before
                .iter()
                .find(|(i, _)| *i == absolute)
                .unwrap()
                .1
                .deadlines
                .expires_at(),
            at(0) + Duration::from_secs(10)
        );

        let flash = Flash::new();
        let mut bytes = [0u8; SNAPSHOT_BUF];
        let len = before
            .write_sealed_snapshot(&mut bytes, saved_at, &keys())
            .unwrap();
        let mut scratch = [0u8; SCRATCH_BUF];
        snapshots(&flash)
            .store(&mut scratch, &bytes[..len])
            .await
            .unwrap();

        // Reboot (1): through the public API. embassy-time's clock started
        // with this test process, far below a day.
        let restored = sessions_with(POLICY, 5).await;
        let start = now();
        let outcome = snapshots(&flash).restore(&restored, &mut scratch).await;
        let end = now();
        assert!(end < saved_at, "the clock is not 'after a reboot': {end:?}");
        assert_eq!(outcome.unwrap(), 2);
        {
            let mut inner = restored.lock().await;
            let table = inner.table();
            let expiry = |id: &SessionId| {
                table
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, r)| (r.deadlines.expires_at(), r.protected))
            };
            let (idle_at, idle_protected) = expiry(&idle).unwrap();
            assert!(
                start + Duration::from_secs(40) <= idle_at
                    && idle_at <= end + Duration::from_secs(40)
            );
            assert!(!idle_protected);
            let (absolute_at, absolute_protected) = expiry(&absolute).unwrap();
            assert!(
                start + Duration::from_secs(10) <= absolute_at
                    && absolute_at <= end + Duration::from_secs(10)
            );
            assert!(absolute_protected);
            assert!(expiry(&gone).is_none());
        }

        // Reboot (2): the same flash bytes, read back with sequential-storage
        // (one map item under key 0u8: the on-flash layout devices depend
        // on), restored with the clock at exactly zero.
        let mut map = MapStorage::<u8, _, _>::new(
            flash.clone(),
            MapConfig::new(RANGE),
            Cache::new_uncached(),
        );
        let stored: &[u8] = map
            .fetch_item(&mut scratch, &0u8)
            .await
            .unwrap()
            .expect("no item under key 0");
        assert_eq!(stored, &bytes[..len]);
        let mut after = SessionTable::<Data, CAPACITY>::new().with_policy(POLICY);
        assert_eq!(
            after
                .restore_sealed_snapshot(stored, Instant::ZERO, &keys())
                .unwrap(),
            2
        );
        let expiry = |id: &SessionId| {
            after
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, r)| r.deadlines.expires_at())
        };
        assert_eq!(expiry(&idle), Some(Instant::from_secs(40)));
        assert_eq!(expiry(&absolute), Some(Instant::from_secs(10)));
        assert_eq!(expiry(&gone), None);
        assert!(after.contains(&idle, Instant::from_millis(39_999)));
        assert!(!after.contains(&idle, Instant::from_secs(40)));

        // A shorter policy after the update caps what was saved.
        let mut capped = SessionTable::<Data, CAPACITY>::new()
            .with_policy(POLICY.with_idle_timeout(Duration::from_secs(15)));
        capped
            .restore_sealed_snapshot(stored, Instant::ZERO, &keys())
            .unwrap();
        let idle_now = capped
            .iter()
            .find(|(i, _)| *i == idle)
            .unwrap()
            .1
            .deadlines
            .expires_at();
        assert_eq!(idle_now, Instant::from_secs(15));
    });
}

/// Eight sessions made through the public API; their ids.
async fn eight_sessions(sessions: &'static Table) -> Vec<SessionId> {
    for i in 0..CAPACITY {
        let session = Session::from_cookie_headers(sessions, std::iter::empty::<&[u8]>()).await;
        session
            .update(|d: &mut Data| {
                d.user = format!("user{i}").as_str().try_into().unwrap();
            })
            .await
            .unwrap();
    }
    let mut inner = sessions.lock().await;
    inner.table().iter().map(|(id, _)| id).collect()
}

/// One change: a request that bumps a counter.
async fn change(sessions: &'static Table, id: &SessionId) {
    request(sessions, id)
        .await
        .update(|d| d.visits += 1)
        .await
        .unwrap();
}

struct Wear {
    erases: usize,
    writes: usize,
    bytes: usize,
    per_page: [usize; PAGES],
}

fn wear(flash: &Flash, baseline: Counters, baseline_pages: [usize; PAGES]) -> Wear {
    let c = flash.ram().counters();
    let mut per_page = flash.ram().page_erases();
    for (p, b) in per_page.iter_mut().zip(baseline_pages) {
        *p -= b;
    }
    Wear {
        erases: c.erases - baseline.erases,
        writes: c.writes - baseline.writes,
        bytes: c.bytes_written - baseline.bytes_written,
        per_page,
    }
}

const CHANGES: usize = 1_000;
const BURST: usize = 10;

#[test]
fn wear_per_thousand_changes() {
    block_on(async {
        // (a) A save after every change.
        let every = leak(sessions(6).await);
        let ids = eight_sessions(every).await;
        let flash_a = Flash::new();
        let mut snaps = snapshots(&flash_a);
        save(every, &mut snaps).await.unwrap();
        let snapshot_bytes = snapshot_len(every).await;
        let (base, base_pages) = (flash_a.ram().counters(), flash_a.ram().page_erases());
        for i in 0..CHANGES {
            change(every, &ids[i % ids.len()]).await;
            save(every, &mut snaps).await.unwrap();
        }
        let a = wear(&flash_a, base, base_pages);
        let (outcome, restored) = boot(&flash_a).await;
        assert_eq!(outcome.unwrap(), CAPACITY);
        assert_eq!(contents(&restored).await, contents(every).await);

        // (b) run_persistence: bursts of 10 changes, one coalesced save each.
        let bursty = leak(sessions(7).await);
        let flash_b = Flash::new();
        let coalesce_ms = 5;
        let (b, saves_b) = race(persistence(bursty, flash_b.clone(), coalesce_ms), async {
            let ids = eight_sessions(bursty).await;
            Timer::after_millis(8 * coalesce_ms).await;
            let (base, base_pages) = (flash_b.ram().counters(), flash_b.ram().page_erases());
            assert!(
                base.writes > 0,
                "run_persistence never saved the new sessions"
            );
            for burst in 0..CHANGES / BURST {
                for j in 0..BURST {
                    change(bursty, &ids[(burst * BURST + j) % ids.len()]).await;
                }
                Timer::after_millis(4 * coalesce_ms).await;
            }
            (wear(&flash_b, base, base_pages), CHANGES / BURST)
        })
        .await;
        let (outcome, restored) = boot(&flash_b).await;
        assert_eq!(outcome.unwrap(), CAPACITY);
        assert_eq!(
            contents(&restored).await,
            contents(bursty).await,
            "the last burst was not saved"
        );

        // (c) The same bursts mirrored with save_now (no timing involved).
        let mirrored = leak(sessions(8).await);
        let ids = eight_sessions(mirrored).await;
        let flash_c = Flash::new();
        let mut snaps = snapshots(&flash_c);
        save(mirrored, &mut snaps).await.unwrap();
        let (base, base_pages) = (flash_c.ram().counters(), flash_c.ram().page_erases());
        for burst in 0..CHANGES / BURST {
            for j in 0..BURST {
                change(mirrored, &ids[(burst * BURST + j) % ids.len()]).await;
            }
            save(mirrored, &mut snaps).await.unwrap();
        }
        let c = wear(&flash_c, base, base_pages);

        // What one save costs: an 8-byte item header, 1 key byte, the
        // snapshot, padded to words; a page holds its two marker words.
        let item = 8 + (1 + snapshot_bytes).div_ceil(4) * 4;
        let items_per_page = (PAGE_SIZE - 8) / item;
        let bound = |saves: usize| saves.div_ceil(items_per_page) + 1;
        println!(
            "wear: flash {PAGES} x {PAGE_SIZE} B pages, write size 4; snapshot {snapshot_bytes} B \
             ({CAPACITY} sessions), {item} B per item, {items_per_page} items per page"
        );
        for (name, w, saves) in [
            ("(a) save after every change", &a, CHANGES),
            (
                "(b) run_persistence, bursts of 10, coalesce 5 ms",
                &b,
                saves_b,
            ),
            ("(c) save_now once per burst of 10", &c, CHANGES / BURST),
        ] {
            println!(
                "wear: {name}: {saves} saves, {} erases per {CHANGES} changes (per page {:?}), {} writes, {} bytes written",
                w.erases, w.per_page, w.writes, w.bytes
            );
            assert!(
                w.erases <= bound(saves),
                "{name}: {} erases, expected at most {}",
                w.erases,
                bound(saves)
            );
        }
        assert!(
            a.erases >= 10,
            "{} erases for {CHANGES} saves: the measure is off",
            a.erases
        );
        assert!(
            b.erases * 5 <= a.erases,
            "coalescing saved too little: {} vs {}",
            b.erases,
            a.erases
        );
        assert!(
            b.writes <= c.writes + c.writes / 10,
            "run_persistence wrote more than one save per burst"
        );
        // Wear levelling: no page far above the others.
        let (min, max) = (
            a.per_page.iter().min().unwrap(),
            a.per_page.iter().max().unwrap(),
        );
        assert!(max - min <= 1, "uneven wear {:?}", a.per_page);
        assert_eq!(
            flash_a.ram().counters().overwrites + flash_b.ram().counters().overwrites,
            0
        );
    });
}

#[test]
fn read_only_requests_write_nothing_to_flash() {
    block_on(async {
        // `Sessions::changed` is pub(crate), so this watches the flash: with
        // run_persistence running, a request that only reads must cause no
        // write at all.
        let sessions = leak(sessions(9).await);
        let flash = Flash::new();
        let coalesce_ms = 5;
        race(persistence(sessions, flash.clone(), coalesce_ms), async {
            let ids = eight_sessions(sessions).await;
            Timer::after_millis(8 * coalesce_ms).await;
            let saved = flash.ram().counters();
            assert!(saved.writes > 0, "the new sessions were not saved");

            for round in 0..50 {
                let id = &ids[round % ids.len()];
                let session = request(sessions, id).await;
                assert!(session.get().await.is_some());
                assert!(!session.is_protected().await);
                assert!(session.expires_at().await.is_some());
                assert!(!session.verify_csrf("not-a-token").await);
                // No refresh was due: the response sets no cookie.
                drop(session.respond(()).await);
            }
            Timer::after_millis(8 * coalesce_ms).await;
            assert_eq!(
                flash.ram().counters(),
                saved,
                "read-only requests reached the flash"
            );

            // Control: one write does reach it.
            change(sessions, &ids[0]).await;
            Timer::after_millis(8 * coalesce_ms).await;
            assert!(
                flash.ram().counters().writes > saved.writes,
                "a change was not saved"
            );
        })
        .await;

        // And a read that does refresh the idle deadline is persisted.
        let eager = leak(sessions_with(ExpiryPolicy::new().with_refresh_percent(0), 10).await);
        let flash = Flash::new();
        race(persistence(eager, flash.clone(), coalesce_ms), async {
            let ids = eight_sessions(eager).await;
            Timer::after_millis(8 * coalesce_ms).await;
            let saved = flash.ram().counters();
            assert!(request(eager, &ids[0]).await.get().await.is_some());
            Timer::after_millis(8 * coalesce_ms).await;
            assert!(
                flash.ram().counters().writes > saved.writes,
                "a refreshing read was not saved"
            );
        })
        .await;
    });
}

#[test]
fn a_damaged_page_marker_does_not_stop_saving_for_good() {
    block_on(async {
        let (flash, source, _) = used_flash().await;
        // The open (erased) buffer page; its start marker then reads as
        // programmed, as after a stray write or bits stuck at 0.
        let open = (0..PAGES)
            .find(|p| {
                flash.ram().image()[p * PAGE_SIZE..][..WORD]
                    .iter()
                    .all(|b| *b == 0xFF)
            })
            .expect("no open page");
        flash.ram_mut().xor(open * PAGE_SIZE, 0xFF);

        // Losing the sessions here is allowed (none wrong): today it restores none.
        let (outcome, restored) = boot(&flash).await;
        let got = contents(&restored).await;
        assert!(outcome.is_err() || outcome.is_ok_and(|n| n == got.len()));

        // But the device must be able to save again, without a wipe by hand.
        let mut snaps = snapshots(&flash);
        let erases = flash.ram().counters().erases;
        let saved = save(&source, &mut snaps).await;
        assert!(
            saved.is_ok(),
            "the save after the damage failed: {saved:?} (it erased {} pages)",
            flash.ram().counters().erases - erases
        );
        let (outcome, restored) = boot(&flash).await;
        assert_eq!(outcome.unwrap(), contents(&source).await.len());
        assert_eq!(contents(&restored).await, contents(&source).await);
    });
}

/// A logout (and a login) reaches flash without waiting out the coalescing
/// delay, so a power cut right after it cannot undo it; an ordinary change
/// still waits for the delay.
#[test]
fn logins_and_logouts_are_saved_without_the_coalescing_delay() {
    block_on(async {
        let sessions = leak(sessions(11).await);
        let flash = Flash::new();
        // Far longer than the test waits: only an urgent save can land.
        let coalesce_ms = 60_000;
        race(persistence(sessions, flash.clone(), coalesce_ms), async {
            let ids = eight_sessions(sessions).await;
            Timer::after_millis(50).await;
            assert_eq!(
                flash.ram().counters().writes,
                0,
                "new sessions wait for the coalescing delay"
            );

            let login = request(sessions, &ids[0]).await;
            login.regenerate().await.unwrap();
            login.set_protected(true).await.unwrap();
            Timer::after_millis(50).await;
            let (outcome, restored) = boot(&flash).await;
            assert_eq!(outcome.unwrap(), CAPACITY, "the login is in flash at once");
            assert_eq!(contents(&restored).await, contents(sessions).await);

            let logout = request(sessions, &ids[1]).await;
            logout.destroy().await;
            Timer::after_millis(50).await;
            let (outcome, restored) = boot(&flash).await;
            assert_eq!(
                outcome.unwrap(),
                CAPACITY - 1,
                "the logout is in flash at once"
            );
            assert_eq!(contents(&restored).await, contents(sessions).await);

            let writes = flash.ram().counters().writes;
            change(sessions, &ids[2]).await;
            Timer::after_millis(50).await;
            assert_eq!(
                flash.ram().counters().writes,
                writes,
                "an ordinary change waits for the coalescing delay"
            );
        })
        .await;
    });
}

/// A revoked session stays gone after a reboot, and the owners, labels and
/// remember-me deadlines of the others come back with them.
#[test]
fn revocations_owners_and_remember_me_deadlines_survive_a_reboot() {
    use sesh::expiry::Lifetime;
    use sesh::owner::{DisplayTag, Label, UserId};
    block_on(async {
        let flash = Flash::new();
        let sessions = leak(sessions(21).await);
        let mut rng = TestRng(22);
        let alice = UserId::new(b"alice").unwrap();
        let mut ids = Vec::new();
        for label in ["kept", "revoked", "other"] {
            let id = create(sessions, &mut rng, data("alice", 1), true).await;
            let session = request(sessions, &id).await;
            session.set_owner(alice.clone()).await.unwrap();
            session.set_label(Label::new(label).unwrap()).await.unwrap();
            session.set_lifetime(Lifetime::REMEMBER_ME).await.unwrap();
            let _ = session.respond(()).await;
            ids.push(id);
        }
        let session = request(sessions, &ids[0]).await;
        session.revoke(&DisplayTag::of(&ids[1])).await.unwrap();
        let before = session.sessions::<4>().await;
        let _ = session.respond(()).await;
        assert_eq!(before.len(), 2);
        save(sessions, &mut snapshots(&flash)).await.unwrap();

        let (restored, table) = boot(&flash).await;
        assert_eq!(restored.unwrap(), 2, "the revoked session is not restored");
        let table = leak(table);
        let session = request(table, &ids[0]).await;
        assert_eq!(session.owner().await, Some(alice.clone()));
        let after = session.sessions::<4>().await;
        let _ = session.respond(()).await;
        assert_eq!(after.len(), 2);
        for (a, b) in after.iter().zip(before.iter()) {
            assert_eq!(
                (a.tag, &a.label, a.lifetime, a.current),
                (b.tag, &b.label, b.lifetime, b.current)
            );
            // Remaining time is kept (to the millisecond the clock moved).
            let left = a.expires_at.saturating_duration_since(now());
            assert!(left > Duration::from_hours(24 * 29), "{left:?}");
        }
        assert!(
            request(table, &ids[1]).await.owner().await.is_none(),
            "gone"
        );
    });
}

/// A snapshot holding more owned sessions than the booting table's
/// metadata pool is refused whole (the table stays empty, nothing is half
/// restored) and stays on the flash: a table with room restores it all.
#[test]
fn a_snapshot_with_more_owners_than_the_pool_is_refused_and_kept() {
    use sesh::owner::UserId;
    block_on(async {
        let flash = Flash::new();
        let sessions = leak(sessions(31).await);
        let mut rng = TestRng(32);
        for n in 0..3u8 {
            let id = create(sessions, &mut rng, data("alice", 1), true).await;
            let session = request(sessions, &id).await;
            session.set_owner(UserId::new(&[n]).unwrap()).await.unwrap();
            let _ = session.respond(()).await;
        }
        create(sessions, &mut rng, data("anon", 1), false).await;
        save(sessions, &mut snapshots(&flash)).await.unwrap();

        type Small = Sessions<NoopRawMutex, Data, TestRng, CAPACITY, 2, EmbassyClock, 2>;
        let small: Small = Sessions::new(
            TestRng(33),
            keys(),
            CookieConfig::new("sid"),
            ExpiryPolicy::new(),
        )
        .unwrap();
        let mut scratch = [0u8; SCRATCH_BUF];
        let outcome = snapshots(&flash).restore(&small, &mut scratch).await;
        assert!(
            matches!(
                outcome,
                Err(FlashError::Restore(RestoreError::TooManyOwned))
            ),
            "{outcome:?}"
        );
        assert_eq!(small.occupancy().await.0, 0);

        let (restored, table) = boot(&flash).await;
        assert_eq!(restored.unwrap(), 4);
        assert_eq!(contents(&table).await, contents(sessions).await);
    });
}
