//! Flash persistence (feature `flash`): sesh-embassy's [`FlashSnapshots`] on
//! a RAM-backed NOR flash, as plain `no_std` cases that run on the host and
//! on the emulated microcontroller alike.
//!
//! The flash ([`RamFlash`], module [`ram_flash`](crate::ram_flash)) follows
//! the rules of real NOR parts (an erase sets 0xFF, a write only clears bits)
//! and can cut the power in the middle of any write or erase. It lives inside
//! each case, on the stack: 4 pages of 512 bytes, two of them (4 KiB) in the
//! cases that keep a copy to start from again. The deepest case takes about
//! 7.9 KiB of stack on a Cortex-M (the snapshot seal included), which leaves
//! room on a 16 KiB part; 1 KiB pages would take about 11.5 KiB.
//!
//! Saving goes through [`FlashSnapshots::store`]. Restoring cannot go through
//! [`FlashSnapshots::restore`]: it reads embassy-time's clock, and there is no
//! time driver here. `boot` does what it does with an explicit `now`: it
//! reads the one sequential-storage map item under key `0u8` (the on-flash
//! layout devices depend on) and hands it to
//! [`restore_sealed_snapshot`](sesh::table::Table::restore_sealed_snapshot)
//! with the cases' key ring, as sesh-embassy does with the keys of its
//! `Sessions`.

use core::ops::Range;

use embassy_futures::block_on;
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};
use sesh::expiry::Deadlines;
use sesh::record::SessionRecord;
use sesh::signing::{Key, KeyRing};
use sesh::table::RestoreError;
use sesh::{Duration, ExpiryPolicy, Instant, SessionId, SessionTable};
use sesh_embassy::flash::{FlashError, FlashSnapshots};

use crate::case::{Case, Failure, Outcome};
use crate::ram_flash::{FlashFault, Op, RamFlash};
use crate::rng::TestRng;
use crate::table_cases::{CAPACITY, POLICY};
use crate::{check, check_eq};

// ---------------------------------------------------------------- set-up --

/// Erase page size of the cases' flash: three full-table snapshots fit a page.
pub const PAGE: usize = 512;
/// Pages in the cases' flash.
pub const PAGES: usize = 4;
/// The flash the cases use: 2 KiB.
pub type Flash = RamFlash<PAGE, PAGES>;
/// The snapshot range: the whole flash.
pub const RANGE: Range<u32> = 0..(PAGE * PAGES) as u32;
/// Snapshot buffer: a full table of 4 `u32` sessions takes about 150 bytes.
pub const SNAPSHOT_BUF: usize = 256;
/// sequential-storage's buffer: the snapshot, its key and item header.
pub const SCRATCH_BUF: usize = 320;

type Table = SessionTable<u32, CAPACITY>;
type Error = FlashError<FlashFault>;

/// The clock when the cases save and restore (no session expires at it).
const SAVED_AT: Instant = Instant::from_secs(10);

fn failure(line: u32, check: &'static str) -> Failure {
    Failure { line, check }
}

/// Unwraps a `Result`, or fails the case naming the expression.
macro_rules! must {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => return Err(failure(line!(), stringify!($e))),
        }
    };
}

fn empty() -> Table {
    Table::new().with_policy(POLICY)
}

/// The signing keys snapshots are sealed with (sesh-embassy uses those of
/// its `Sessions`).
fn keys() -> KeyRing<2> {
    match Key::new(&[0x5E; 32]) {
        Ok(key) => KeyRing::new(key),
        Err(_) => unreachable!("32 bytes make a key"),
    }
}

/// Saves `table` as [`sesh_embassy::flash::save_now`] does, with an explicit
/// clock: snapshot it, then [`FlashSnapshots::store`].
#[inline(never)] // its buffers and futures live only during the call
fn save(table: &Table, flash: &mut Flash, now: Instant) -> Result<(), Error> {
    let mut snapshot = [0u8; SNAPSHOT_BUF];
    let len = table
        .write_sealed_snapshot(&mut snapshot, now, &keys())
        .map_err(FlashError::Snapshot)?;
    let bytes = snapshot.get(..len).ok_or(FlashError::BufferTooSmall)?;
    store(flash, bytes)
}

/// Stores raw snapshot bytes with [`FlashSnapshots::store`].
#[inline(never)] // its buffers and futures live only during the call
fn store(flash: &mut Flash, bytes: &[u8]) -> Result<(), Error> {
    let mut scratch = [0u8; SCRATCH_BUF];
    let mut snapshots = FlashSnapshots::new(flash, RANGE)?;
    block_on(snapshots.store(&mut scratch, bytes))
}

/// The stored snapshot bytes: the map item under key `0u8`, read with
/// sequential-storage directly (what `FlashSnapshots::restore` reads).
fn fetch<'s>(flash: &mut Flash, scratch: &'s mut [u8]) -> Result<Option<&'s [u8]>, Error> {
    let config = MapConfig::try_new(RANGE).map_err(|_| FlashError::BadRange)?;
    let mut map = MapStorage::<u8, _, _>::new(flash, config, Cache::new_uncached());
    block_on(map.fetch_item::<&[u8]>(scratch, &0u8)).map_err(|e| match e {
        sequential_storage::Error::Storage { value, .. } => FlashError::Flash(value),
        sequential_storage::Error::BufferTooSmall(_) | sequential_storage::Error::BufferTooBig => {
            FlashError::BufferTooSmall
        }
        _ => FlashError::Storage,
    })
}

/// Boots: restores the stored snapshot into the empty `table` with the
/// clock at `now`, as `FlashSnapshots::restore` does with embassy-time's.
#[inline(never)] // its buffers and futures live only during the call
fn boot(flash: &mut Flash, table: &mut Table, now: Instant) -> Result<usize, Error> {
    let mut scratch = [0u8; SCRATCH_BUF];
    let Some(bytes) = fetch(flash, &mut scratch)? else {
        return Ok(0);
    };
    table
        .restore_sealed_snapshot(bytes, now, &keys())
        .map_err(FlashError::Restore)
}

/// Whether both tables hold the same sessions: ids, deadlines, flags, data.
fn same_sessions(a: &Table, b: &Table) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(id, r)| b.iter().any(|(i, s)| i == id && s == r))
}

/// Data values per round: session `i` of round `r` holds `r * ROUND + i`.
const ROUND: u32 = 8;

/// The table as it was at save number `round` of a changing device: 1 to 4
/// sessions (always the same ids, in order), data that names the round,
/// protected flags that move around.
fn source(round: u32) -> Result<Table, Failure> {
    let mut t = empty();
    let mut rng = TestRng(0xF1A5_4000);
    for i in 0..=(round % CAPACITY as u32) {
        let (id, _) = must!(t.create(&mut rng, Instant::ZERO, round * ROUND + i));
        if (round + i).is_multiple_of(3) {
            must!(t.set_protected(&id, Instant::ZERO, true));
        }
    }
    Ok(t)
}

/// Which saved round `t` is, if it is exactly one of rounds `0..=last`.
fn round_of(t: &Table, last: u32) -> Result<Option<u32>, Failure> {
    let Some(round) = t.iter().next().map(|(_, r)| *r.data / ROUND) else {
        return Ok(None);
    };
    if round > last || !same_sessions(t, &source(round)?) {
        return Ok(None);
    }
    Ok(Some(round))
}

/// Saves rounds 0, 1, … until every page has been erased and reused; returns
/// the last round saved.
fn fill(flash: &mut Flash, erases: usize) -> Result<u32, Failure> {
    let mut round = 0;
    loop {
        check!(round < 500);
        must!(save(&source(round)?, flash, SAVED_AT));
        if flash.counters().erases >= erases {
            return Ok(round);
        }
        round += 1;
    }
}

// ----------------------------------------------------------------- cases --

/// An erased flash restores nothing and is not written; after every save of
/// a changing table, through page closes, erases and reuse, a reboot
/// restores exactly the sessions saved; the item under key 0 is the snapshot.
pub fn save_then_restore_gives_the_same_sessions() -> Outcome {
    let mut flash = Flash::new();
    check!(matches!(
        FlashSnapshots::new(&mut flash, 0..PAGE as u32),
        Err(FlashError::BadRange)
    ));

    // First boot.
    let mut booted = empty();
    check!(matches!(boot(&mut flash, &mut booted, SAVED_AT), Ok(0)));
    check!(booted.is_empty());
    check_eq!(flash.counters().ops(), 0);

    // The stored item is the snapshot, byte for byte.
    let first = source(3)?;
    let mut snapshot = [0u8; SNAPSHOT_BUF];
    let len = must!(first.write_sealed_snapshot(&mut snapshot, SAVED_AT, &keys()));
    must!(save(&first, &mut flash, SAVED_AT));
    let mut scratch = [0u8; SCRATCH_BUF];
    let stored = must!(fetch(&mut flash, &mut scratch));
    check!(stored == snapshot.get(..len));

    let mut round = 0;
    while flash.counters().erases < 2 * PAGES {
        check!(round < 500);
        let saved = source(round)?;
        must!(save(&saved, &mut flash, SAVED_AT));
        let mut booted = empty();
        let restored = must!(boot(&mut flash, &mut booted, SAVED_AT));
        check_eq!(restored, saved.len());
        check!(same_sessions(&booted, &saved));
        round += 1;
    }
    check_eq!(flash.counters().overwrites, 0);

    // Restore needs an empty table, and leaves a full one as it was.
    let mut full = source(1)?;
    check!(matches!(
        boot(&mut flash, &mut full, SAVED_AT),
        Err(FlashError::Restore(RestoreError::NotEmpty))
    ));
    check!(same_sessions(&full, &source(1)?));
    Ok(())
}

/// A power cut at every write and erase of a save, in rounds until every
/// page has been reused twice (so cuts land in page closes, erases and
/// migrations too): the reboot restores the previous snapshot or the new
/// one, never an error or anything else, and saving works again after it.
pub fn power_loss_at_every_step_of_a_save_leaves_the_old_or_the_new_snapshot() -> Outcome {
    let mut base = Flash::new();
    let mut flash = Flash::new();
    let (mut got_old, mut got_new, mut cut_erases, mut cut_writes) = (0, 0, 0, 0);
    let mut round = 0u32;
    while base.counters().erases < 2 * PAGES {
        check!(round < 500);
        let new = source(round)?;

        // A dry run: how many writes and erases does this save take?
        flash.copy_from(&base);
        must!(save(&new, &mut flash, SAVED_AT));
        let plan = flash.counters().ops();

        for k in 0..=plan {
            flash.copy_from(&base);
            flash.fail_after(Some(k));
            let saved = save(&new, &mut flash, SAVED_AT);
            if k < plan {
                check!(matches!(
                    saved,
                    Err(FlashError::Flash(FlashFault::PowerLoss))
                ));
                check!(flash.is_off());
                match flash.torn() {
                    Some(Op::Erase) => cut_erases += 1,
                    Some(Op::Write) => cut_writes += 1,
                    None => check!(false),
                }
            } else {
                check!(saved.is_ok());
            }

            // Reboot.
            flash.power_cycle();
            let mut booted = empty();
            let restored = must!(boot(&mut flash, &mut booted, SAVED_AT));
            check_eq!(restored, booted.len());
            let is_new = same_sessions(&booted, &new);
            let is_old = match round.checked_sub(1) {
                None => booted.is_empty(),
                Some(previous) => same_sessions(&booted, &source(previous)?),
            };
            check!(is_old || is_new);
            if k == plan {
                check!(is_new);
            }
            if is_new {
                got_new += 1;
            } else {
                got_old += 1;
            }

            // The flash keeps working after the cut.
            must!(save(&new, &mut flash, SAVED_AT));
            let mut again = empty();
            must!(boot(&mut flash, &mut again, SAVED_AT));
            check!(same_sessions(&again, &new));
        }

        // Commit the new snapshot for the next round.
        must!(save(&new, &mut base, SAVED_AT));
        round += 1;
    }
    check!(cut_erases > 0);
    check!(cut_writes > 0);
    check!(got_old > 0 && got_new > 0);
    check_eq!(base.counters().overwrites, 0);
    Ok(())
}

/// Byte offsets damaged in every page: page markers, item headers, data, the end.
const DAMAGED_OFFSETS: [usize; 22] = [
    0,
    1,
    3,
    4,
    5,
    7,
    8,
    11,
    12,
    13,
    16,
    20,
    64,
    100,
    257,
    PAGE / 2 - 1,
    PAGE / 2,
    PAGE - 9,
    PAGE - 8,
    PAGE - 5,
    PAGE - 4,
    PAGE - 1,
];

/// Damaged images per page: the offsets with three masks each, two pages
/// overwritten, 8 spread offsets.
const DAMAGES: usize = DAMAGED_OFFSETS.len() * 3 + 2 + 8;

/// Flipped bits and overwritten pages, in every page of a flash whose pages
/// have all been reused: the reboot restores a snapshot that was saved (the
/// newest or an older one) or nothing, never anything else and never a
/// panic; and a save after the damage, if the storage takes it, comes back
/// exactly.
pub fn a_corrupted_page_restores_an_older_snapshot_or_nothing() -> Outcome {
    let mut base = Flash::new();
    let last = fill(&mut base, PAGES + 1)?;
    let mut flash = Flash::new();
    let after = source(last + 1)?;

    let (mut newest, mut older, mut nothing) = (0, 0, 0);
    for page in 0..PAGES {
        let mut spread = TestRng(0xDA3A_6E00 + page as u64);
        for damage in 0..DAMAGES {
            flash.copy_from(&base);
            let page_at = page * PAGE;
            match damage {
                // Every listed offset with three masks.
                d if d < 3 * DAMAGED_OFFSETS.len() => {
                    let mask = [0x01u8, 0x80, 0xFF][d % 3];
                    flash.xor(page_at + DAMAGED_OFFSETS[d / 3], mask);
                }
                // Whole pages overwritten.
                d if d == 3 * DAMAGED_OFFSETS.len() => flash.fill_page(page, 0x00),
                d if d == 3 * DAMAGED_OFFSETS.len() + 1 => flash.fill_page(page, 0x5A),
                // Spread offsets.
                _ => {
                    let offset = must!(rand_core::TryRng::try_next_u32(&mut spread)) as usize;
                    flash.xor(page_at + offset % PAGE, 0x10);
                }
            }
            let mut booted = empty();
            match boot(&mut flash, &mut booted, SAVED_AT) {
                Ok(0) | Err(_) => {
                    check!(booted.is_empty());
                    nothing += 1;
                }
                Ok(n) => {
                    check_eq!(n, booted.len());
                    match round_of(&booted, last)? {
                        Some(r) if r == last => newest += 1,
                        Some(_) => older += 1,
                        None => check!(false),
                    }
                }
            }

            // The device keeps going.
            if save(&after, &mut flash, SAVED_AT).is_ok() {
                let mut again = empty();
                must!(boot(&mut flash, &mut again, SAVED_AT));
                check!(same_sessions(&again, &after));
            }
        }
    }
    // Most damage misses the newest item.
    check!(newest > older && newest > nothing);
    Ok(())
}

/// Bytes damaged before they reached the flash (so only the core's CRC can
/// tell) are refused whole and the table stays empty; a good save after
/// them restores again.
pub fn a_damaged_snapshot_in_flash_is_refused() -> Outcome {
    let mut flash = Flash::new();
    let good = source(2)?;
    must!(save(&good, &mut flash, SAVED_AT));
    let mut snapshot = [0u8; SNAPSHOT_BUF];
    let len = must!(good.write_sealed_snapshot(&mut snapshot, SAVED_AT, &keys()));
    for at in [0, 4, 5, 13, 20, len / 2, len - 5, len - 1] {
        let mut damaged = snapshot;
        damaged[at] ^= 0x10;
        must!(store(&mut flash, &damaged[..len]));
        let mut booted = empty();
        check!(matches!(
            boot(&mut flash, &mut booted, SAVED_AT),
            Err(FlashError::Restore(
                RestoreError::Checksum
                    | RestoreError::BadMagic
                    | RestoreError::UnsupportedVersion(_)
            ))
        ));
        check!(booted.is_empty());
    }
    must!(store(&mut flash, &snapshot[..len - 1]));
    let mut booted = empty();
    check!(matches!(
        boot(&mut flash, &mut booted, SAVED_AT),
        Err(FlashError::Restore(_))
    ));
    check!(booted.is_empty());
    must!(store(&mut flash, b"hello"));
    check!(matches!(
        boot(&mut flash, &mut booted, SAVED_AT),
        Err(FlashError::Restore(RestoreError::Truncated))
    ));

    must!(save(&good, &mut flash, SAVED_AT));
    check!(matches!(boot(&mut flash, &mut booted, SAVED_AT), Ok(n) if n == good.len()));
    check!(same_sessions(&booted, &good));
    Ok(())
}

/// Saved after a day of uptime, restored with the clock back at zero: each
/// session keeps the time it had left (idle or absolute, whichever comes
/// first), a session with none left is not restored, and a shorter policy
/// after the reboot caps what was saved.
pub fn a_restore_after_reboot_keeps_the_remaining_lifetimes() -> Outcome {
    const POLICY: ExpiryPolicy = ExpiryPolicy::new()
        .with_idle_timeout(Duration::from_secs(60))
        .with_absolute_lifetime(Duration::from_secs(3_600));
    let saved_at = Instant::from_secs(86_400);
    let before_save = |secs: u64| saved_at.saturating_sub(Duration::from_secs(secs));
    let mut rng = TestRng(55);
    let mut before = Table::new().with_policy(POLICY);
    // Used 20 s before the save: 40 s of idle time left.
    let (idle, _) = must!(before.create(&mut rng, before_save(20), 1));
    // The absolute deadline, 10 s after the save, comes first. Protected.
    let absolute = must!(SessionId::generate(&mut rng));
    let record = SessionRecord {
        deadlines: Deadlines {
            idle: saved_at + Duration::from_secs(55),
            absolute: saved_at + Duration::from_secs(10),
        },
        protected: true,
        data: 2,
    };
    must!(before.insert(absolute, record, before_save(5)));
    // Idle deadline 10 s before the save: not written.
    let (gone, _) = must!(before.create(&mut rng, before_save(70), 3));

    let mut flash = Flash::new();
    must!(save(&before, &mut flash, saved_at));

    // Reboot: the clock restarts at zero.
    let mut after = Table::new().with_policy(POLICY);
    check!(matches!(boot(&mut flash, &mut after, Instant::ZERO), Ok(2)));
    let expiry = |t: &Table, id: &SessionId| {
        t.iter()
            .find(|(i, _)| i == id)
            .map(|(_, r)| (r.deadlines.expires_at(), r.protected, *r.data))
    };
    check_eq!(
        expiry(&after, &idle),
        Some((Instant::from_secs(40), false, 1))
    );
    check_eq!(
        expiry(&after, &absolute),
        Some((Instant::from_secs(10), true, 2))
    );
    check_eq!(expiry(&after, &gone), None);
    check!(after.contains(&idle, Instant::from_millis(39_999)));
    check!(!after.contains(&idle, Instant::from_secs(40)));
    check_eq!(after.next_expiry(), Some(Instant::from_secs(10)));

    // A shorter idle timeout after an update caps what was saved.
    let mut capped = Table::new().with_policy(POLICY.with_idle_timeout(Duration::from_secs(15)));
    check!(matches!(
        boot(&mut flash, &mut capped, Instant::ZERO),
        Ok(2)
    ));
    check_eq!(
        expiry(&capped, &idle),
        Some((Instant::from_secs(15), false, 1))
    );
    Ok(())
}

/// Every flash case.
pub const FLASH_CASES: [Case; 5] = [
    Case {
        name: "flash::save_then_restore_gives_the_same_sessions",
        run: save_then_restore_gives_the_same_sessions,
    },
    Case {
        name: "flash::power_loss_at_every_step_of_a_save_leaves_the_old_or_the_new_snapshot",
        run: power_loss_at_every_step_of_a_save_leaves_the_old_or_the_new_snapshot,
    },
    Case {
        name: "flash::a_corrupted_page_restores_an_older_snapshot_or_nothing",
        run: a_corrupted_page_restores_an_older_snapshot_or_nothing,
    },
    Case {
        name: "flash::a_damaged_snapshot_in_flash_is_refused",
        run: a_damaged_snapshot_in_flash_is_refused,
    },
    Case {
        name: "flash::a_restore_after_reboot_keeps_the_remaining_lifetimes",
        run: a_restore_after_reboot_keeps_the_remaining_lifetimes,
    },
];

/// Every flash case, as a list.
pub fn flash_cases() -> [Case; 5] {
    FLASH_CASES
}
