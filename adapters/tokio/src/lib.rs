#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::panic
    )
)]

mod clock;
mod config;
mod error;
mod future;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod guide;
mod layer;
mod locks;
mod random;
mod service;
mod session;
mod state;
pub mod store;
mod sweeper;
pub mod throttle;

pub use clock::HostClock;
pub use config::SessionConfig;
pub use error::SessionError;
pub use future::ResponseFuture;
pub use layer::SessionLayer;
pub use random::{LockedRng, OsRandom, RandomSource};
pub use service::SessionService;
pub use session::{Session, SessionHandle};
pub use store::{MemoryStore, SessionStore, StoreError};
pub use sweeper::Sweeper;
