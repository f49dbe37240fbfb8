#![cfg_attr(feature = "signed", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "signed"),
    doc = "Server-side sessions for `no_std` firmware and host servers (the README example needs feature `signed`)."
)]
#![cfg_attr(not(test), no_std)]
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

#[cfg(feature = "alloc")]
extern crate alloc;

mod base64;
mod crc;
#[macro_use]
mod fmt;
mod id;
#[cfg(test)]
mod test_rng;
mod time;

pub mod cookie;
pub mod expiry;
pub mod owner;
#[cfg(feature = "signed")]
pub mod presession;
pub mod record;
pub mod rng;
#[cfg(feature = "signed")]
pub mod signing;
pub mod table;
pub mod throttle;

pub use expiry::ExpiryPolicy;
pub use id::{EncodedId, ParseIdError, SessionId};
pub use rng::RngError;
pub use time::{Duration, Instant};

/// A fixed-capacity session table: `N` slots, no heap, `const fn new()`.
///
/// ```
/// use sesh::{Instant, SessionTable};
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let mut table: SessionTable<[u8; 32], 16> = SessionTable::new();
/// let (id, _) = table.create(&mut rng, Instant::ZERO, [0; 32]).unwrap();
/// assert!(table.contains(&id, Instant::ZERO));
/// ```
pub type SessionTable<D, const N: usize> = table::Table<table::FixedSlots<D, N>>;

/// A growable session table on hashbrown (feature `alloc`), with the same
/// rules and tests as [`SessionTable`].
///
/// ```
/// use sesh::{AllocSessionTable, Instant};
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let mut table: AllocSessionTable<String> = AllocSessionTable::with_max_sessions(10_000);
/// let (id, _) = table.create(&mut rng, Instant::ZERO, "alice".to_string()).unwrap();
/// assert_eq!(table.peek(&id, Instant::ZERO).map(String::as_str), Some("alice"));
/// ```
#[cfg(feature = "alloc")]
pub type AllocSessionTable<D> = table::Table<table::MapSlots<D>>;
