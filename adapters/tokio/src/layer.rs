//! The tower `Layer`.

use std::sync::Arc;

use sesh::cookie::CookieConfigError;

use crate::clock::HostClock;
use crate::config::SessionConfig;
use crate::locks::Stripes;
use crate::random::{OsRandom, RandomSource};
use crate::service::SessionService;
use crate::state::Shared;
use crate::store::SessionStore;
use crate::sweeper::Sweeper;

/// Adds sessions to any tower/hyper service; handlers reach them through
/// [`Session`](crate::Session).
///
/// ```
/// use sesh_tokio::{MemoryStore, SessionConfig, SessionLayer};
/// let layer = SessionLayer::new(MemoryStore::new(10_000), SessionConfig::new(&[7; 32])?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie", &self.shared.config.cookie_name())
            .finish_non_exhaustive()
    }
}

/// How many per-session locks the layer keeps.
const STRIPES: usize = 1024;

impl SessionLayer {
    /// A layer over `store`, with ids from the operating system's CSPRNG and
    /// the [`HostClock`]. Fails if the cookie settings are invalid.
    pub fn new(store: impl SessionStore, config: SessionConfig) -> Result<Self, CookieConfigError> {
        Self::with_parts(store, config, HostClock::new(), Arc::new(OsRandom))
    }

    /// A layer with an explicit clock and randomness source (for tests, or
    /// a seeded generator).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sesh_tokio::{HostClock, MemoryStore, OsRandom, SessionConfig, SessionLayer};
    /// let layer = SessionLayer::with_parts(MemoryStore::default(), SessionConfig::new(&[7; 32])?, HostClock::anchored_at(0), Arc::new(OsRandom))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_parts(
        store: impl SessionStore,
        config: SessionConfig,
        clock: HostClock,
        random: Arc<dyn RandomSource>,
    ) -> Result<Self, CookieConfigError> {
        config.validate()?;
        let pre_cookie_name = config.pre_cookie_name();
        let shared = Shared {
            pre_cookie_name,
            store: Arc::new(store),
            config,
            clock,
            random,
            stripes: Stripes::new(STRIPES),
        };
        Ok(SessionLayer {
            shared: Arc::new(shared),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// Starts a [`Sweeper`] over this layer's store and clock, purging
    /// expired sessions every `period`. Keep the handle as long as the
    /// server runs; dropping it stops the task.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sesh_tokio::{MemoryStore, SessionConfig, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::default(), SessionConfig::new(&[7; 32])?)?;
    /// let _sweeper = layer.spawn_sweeper(std::time::Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    pub fn spawn_sweeper(&self, period: std::time::Duration) -> Sweeper {
        Sweeper::spawn_dyn(self.shared.store.clone(), self.shared.clock, period)
    }
}

impl<S> tower_layer::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone())
    }
}
