//! Purging expired sessions when they expire.

use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{Duration, Timer};

use crate::clock::Clock;
use crate::sessions::Sessions;

/// The longest the sweeper sleeps when no session is due.
pub const SWEEP_IDLE: Duration = Duration::from_secs(60);

/// Runs forever: sleeps until the next session expires (at most
/// [`SWEEP_IDLE`]) and purges. Spawn it from an embassy task:
///
/// ```no_run
/// # use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// # type Rng = rand_core::UnwrapErr<getrandom::SysRng>;
/// type AppSessions = sesh_embassy::Sessions<CriticalSectionRawMutex, u32, Rng, 8>;
///
/// // In firmware, mark this `#[embassy_executor::task]` and spawn it with
/// // the `&'static` its `StaticCell` gave at boot.
/// async fn sweeper(sessions: &'static AppSessions) -> ! {
///     sesh_embassy::run_sweeper(sessions).await
/// }
/// ```
pub async fn run_sweeper<
    M: RawMutex,
    D,
    R,
    const N: usize,
    const K: usize,
    C: Clock,
    const OWNED: usize,
>(
    sessions: &'static Sessions<M, D, R, N, K, C, OWNED>,
) -> ! {
    loop {
        let next = sessions.lock().await.table.next_expiry();
        // A delay on the sessions' clock, slept on embassy-time's: the two
        // may differ (a test's manual clock), so never an absolute instant.
        let due = next.map_or(SWEEP_IDLE, |at| {
            let ms = at.saturating_duration_since(sessions.now()).as_millis();
            Duration::from_millis(ms).min(SWEEP_IDLE)
        });
        Timer::after(due).await;
        let purged = sessions.purge_expired().await;
        if purged > 0 {
            debug!(
                "purged {} expired sessions at {}",
                purged,
                sessions.now().as_millis()
            );
        }
    }
}
