//! A background task that purges expired sessions.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::HostClock;
use crate::store::SessionStore;

/// Runs [`SessionStore::purge_expired`] every `period` until dropped.
///
/// Keep it alive as long as the server: dropping it (for example when the
/// function that runs the server returns) stops the task.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// let store = Arc::new(sesh_tokio::MemoryStore::default());
/// let sweeper = sesh_tokio::Sweeper::spawn(store.clone(), sesh_tokio::HostClock::new(), std::time::Duration::from_secs(60));
/// drop(sweeper); // stops it
/// # }
/// ```
#[derive(Debug)]
pub struct Sweeper {
    task: tokio::task::JoinHandle<()>,
}

impl Sweeper {
    /// Starts the task on the current tokio runtime.
    pub fn spawn<S: SessionStore>(store: Arc<S>, clock: HostClock, period: Duration) -> Self {
        Sweeper::spawn_dyn(store, clock, period)
    }

    pub(crate) fn spawn_dyn(
        store: Arc<dyn SessionStore>,
        clock: HostClock,
        period: Duration,
    ) -> Self {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.purge_expired(clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(purged = n, "expired sessions purged"),
                    Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
                }
            }
        });
        Sweeper { task }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}
