#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), no_std)]

#[macro_use]
mod fmt;

mod clock;
mod error;
#[cfg(feature = "flash")]
pub mod flash;
mod response;
mod session;
mod sessions;
mod sweeper;

pub use clock::{Clock, EmbassyClock, now};
pub use error::SessionError;
pub use response::{SET_COOKIE_CAPACITY, WithSession};
pub use session::Session;
pub use sessions::{Inner, Keys, Sessions};
pub use sweeper::{SWEEP_IDLE, run_sweeper};
