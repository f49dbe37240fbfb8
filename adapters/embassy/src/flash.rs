//! Flash persistence (feature `flash`): the table's snapshot in NOR flash.
//!
//! The snapshot is one sequential-storage map item. sequential-storage writes
//! a new item before it erases the page holding the old one, and checks each
//! item with its own CRC, so a write cut off by power loss leaves the previous
//! snapshot readable; the core's CRC refuses bytes damaged before they were
//! written. Writes are wear-aware: [`run_persistence`] writes only after a
//! change, coalesces changes over a delay, and a read-only request never
//! changes anything. Logins and logouts (`regenerate`, `set_protected`,
//! `destroy`) are written at once, without the delay.
//!
//! Snapshots are sealed ([`Table::write_sealed_snapshot`]): an HMAC under
//! a key derived from the current signing key of [`Sessions`] covers the
//! whole snapshot. Someone who can write the flash (a debug probe, a
//! firmware bug, an update tool) but does not hold the key cannot edit a
//! session, move a logged-in session's record to an id of theirs, or plant
//! a snapshot: [`FlashSnapshots::restore`] refuses it
//! ([`RestoreError::BadSeal`]), logs it, and the device starts with no
//! sessions. Any key of the ring verifies, so a snapshot saved before a key
//! rotation still restores. **Upgrading:** a snapshot written by an earlier
//! sesh-embassy carries no seal and is refused ([`RestoreError::Unsealed`]):
//! the first boot after the update starts with no sessions, and users sign
//! in again.
//!
//! [`Table::write_sealed_snapshot`]: sesh::table::Table::write_sealed_snapshot
//!
//! ⚠️ Restoring brings back the last snapshot that was saved and intact. A
//! logout is in flash one write after its response (the persistence task
//! runs as soon as the handler yields): a power cut inside that window
//! brings the session back until it expires. Other changes (a counter, a
//! refreshed deadline) can be lost for up to the coalescing delay. If the
//! newest item is damaged an older one may be restored.

use core::fmt;
use core::ops::Range;

use embassy_futures::select::select;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{Duration, Timer};
use embedded_storage_async::nor_flash::NorFlash;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sesh::table::{RestoreError, SnapshotError};

use crate::clock::Clock;
use crate::sessions::Sessions;

const SNAPSHOT_KEY: u8 = 0;

/// Why a snapshot was not saved or restored.
#[derive(Debug)]
pub enum FlashError<E> {
    /// The flash range is not whole pages, or fewer than two.
    BadRange,
    /// The flash driver failed.
    Flash(E),
    /// sequential-storage found the range corrupt or full.
    Storage,
    /// The buffers are too small for the snapshot.
    BufferTooSmall,
    /// The snapshot could not be written.
    Snapshot(SnapshotError),
    /// The stored snapshot was refused (it is left as it is; the table stays empty).
    Restore(RestoreError),
}

impl<E: fmt::Debug> fmt::Display for FlashError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlashError::BadRange => f.write_str("the flash range must be at least two whole pages"),
            FlashError::Flash(e) => write!(f, "flash error: {e:?}"),
            FlashError::Storage => f.write_str("the snapshot storage is corrupt or full"),
            FlashError::BufferTooSmall => f.write_str("the snapshot buffers are too small"),
            FlashError::Snapshot(e) => write!(f, "{e}"),
            FlashError::Restore(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for FlashError<E> {}

fn storage_error<E>(e: sequential_storage::Error<E>) -> FlashError<E> {
    match e {
        sequential_storage::Error::Storage { value, .. } => FlashError::Flash(value),
        sequential_storage::Error::BufferTooSmall(_) | sequential_storage::Error::BufferTooBig => {
            FlashError::BufferTooSmall
        }
        _ => FlashError::Storage,
    }
}

/// Where snapshots live: a range of whole pages of a NOR flash.
pub struct FlashSnapshots<F: NorFlash> {
    map: MapStorage<u8, F, Cache<Uncached, Uncached, Uncached, u8>>,
}

impl<F: NorFlash> FlashSnapshots<F> {
    /// Uses `range` (at least two whole erase pages) of `flash`.
    pub fn new(flash: F, range: Range<u32>) -> Result<Self, FlashError<F::Error>> {
        let config = MapConfig::try_new(range).map_err(|_| FlashError::BadRange)?;
        Ok(FlashSnapshots {
            map: MapStorage::new(flash, config, Cache::new_uncached()),
        })
    }

    /// The flash, back (for tests and for reuse).
    pub fn into_flash(self) -> F {
        self.map.destroy().0
    }

    /// Writes `snapshot` as the newest snapshot. `scratch` must hold the
    /// snapshot plus a few bytes of item header.
    ///
    /// If sequential-storage finds the range corrupt or full (a damaged page
    /// marker, say), the range is erased and the snapshot written again: the
    /// table in RAM is the live state, so nothing of value is lost, and one
    /// damaged page never stops persistence for good. A power cut between the
    /// erase and the write leaves no snapshot: the device then boots with no
    /// sessions, the safe way to fail.
    pub async fn store(
        &mut self,
        scratch: &mut [u8],
        snapshot: &[u8],
    ) -> Result<(), FlashError<F::Error>> {
        match self.map.store_item(scratch, &SNAPSHOT_KEY, &snapshot).await {
            Err(
                sequential_storage::Error::Corrupted { .. }
                | sequential_storage::Error::FullStorage,
            ) => {
                warn!("snapshot flash range corrupt or full: erasing it");
                self.map.erase_all().await.map_err(storage_error)?;
                self.map
                    .store_item(scratch, &SNAPSHOT_KEY, &snapshot)
                    .await
                    .map_err(storage_error)
            }
            other => other.map_err(storage_error),
        }
    }

    /// Restores the newest snapshot into the (empty) table; returns the
    /// sessions restored, 0 when there is none yet. A damaged snapshot, or
    /// one whose seal does not verify under the keys of `sessions`, is an
    /// error and the table stays empty: the
    /// device starts with no sessions, never with wrong ones.
    pub async fn restore<
        M: RawMutex,
        D: DeserializeOwned,
        R,
        const N: usize,
        const K: usize,
        C: Clock,
        const OWNED: usize,
    >(
        &mut self,
        sessions: &Sessions<M, D, R, N, K, C, OWNED>,
        scratch: &mut [u8],
    ) -> Result<usize, FlashError<F::Error>> {
        let stored = self
            .map
            .fetch_item::<&[u8]>(scratch, &SNAPSHOT_KEY)
            .await
            .map_err(storage_error)?;
        let Some(bytes) = stored else { return Ok(0) };
        let mut guard = sessions.lock().await;
        let inner = &mut *guard;
        let restored = inner
            .table
            .restore_sealed_snapshot(bytes, sessions.now(), &inner.keys);
        match restored {
            Err(RestoreError::BadSeal) => {
                warn!(
                    "the session snapshot's seal does not verify (changed, or another key): refused"
                )
            }
            Err(RestoreError::Unsealed) => {
                warn!("the session snapshot is not sealed (an older sesh-embassy?): refused")
            }
            Err(RestoreError::TooManyOwned) => {
                warn!(
                    "the session snapshot holds more signed-in sessions than this build's OWNED: refused"
                )
            }
            _ => {}
        }
        restored.map_err(FlashError::Restore)
    }
}

/// Writes a snapshot after each burst of changes, forever.
///
/// It waits for a change, then `coalesce` longer so that a burst of requests
/// costs one write, then snapshots the table into `snapshot` (holding the
/// lock only for that) and stores it. A login or a logout cuts the wait
/// short: a power cut right after one must not undo it. Errors are logged
/// and retried at the next change.
pub async fn run_persistence<
    M: RawMutex,
    D: Serialize,
    R,
    const N: usize,
    const K: usize,
    C: Clock,
    F: NorFlash,
    const OWNED: usize,
>(
    sessions: &'static Sessions<M, D, R, N, K, C, OWNED>,
    flash: &mut FlashSnapshots<F>,
    snapshot: &mut [u8],
    scratch: &mut [u8],
    coalesce: Duration,
) -> ! {
    loop {
        sessions.changed.wait().await;
        if !sessions.urgent.signaled() {
            select(Timer::after(coalesce), sessions.urgent.wait()).await;
        }
        sessions.urgent.reset();
        sessions.changed.reset();
        if let Err(e) = save_now(sessions, flash, snapshot, scratch).await {
            warn!(
                "saving the session snapshot failed: {}",
                defmt_or_display(&e)
            );
        }
    }
}

/// Snapshots the table, sealed with the current signing key, and stores it now.
pub async fn save_now<
    M: RawMutex,
    D: Serialize,
    R,
    const N: usize,
    const K: usize,
    C: Clock,
    F: NorFlash,
    const OWNED: usize,
>(
    sessions: &Sessions<M, D, R, N, K, C, OWNED>,
    flash: &mut FlashSnapshots<F>,
    snapshot: &mut [u8],
    scratch: &mut [u8],
) -> Result<(), FlashError<F::Error>> {
    let len = {
        let inner = sessions.lock().await;
        inner
            .table
            .write_sealed_snapshot(snapshot, sessions.now(), &inner.keys)
            .map_err(FlashError::Snapshot)?
    };
    let bytes = snapshot.get(..len).ok_or(FlashError::BufferTooSmall)?;
    flash.store(scratch, bytes).await
}

#[cfg(not(feature = "defmt"))]
fn defmt_or_display<E: fmt::Debug>(e: &FlashError<E>) -> &FlashError<E> {
    e
}

#[cfg(feature = "defmt")]
fn defmt_or_display<E: fmt::Debug>(e: &FlashError<E>) -> defmt::Display2Format<'_, FlashError<E>> {
    defmt::Display2Format(e)
}
