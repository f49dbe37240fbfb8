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

/// A fixed-capacity session table: `N` slots, no heap, `const fn new()`,
/// and a pool of `OWNED` entries for the metadata of sessions with an
/// owner, a label or a lifetime of their own.
///
/// A plain session costs its slot alone (id, deadlines, flag, data), and
/// its metadata times read as zero, as in an `AllocSessionTable`. The
/// pool is what per-user features cost: one entry (176 bytes: an
/// owner and a label of up to 64 bytes each) per session that has them.
/// `OWNED` is 0 by default, so a table that never signs anyone in stays as
/// small as its slots; there, [`set_owner`](table::Table::set_owner),
/// [`set_label`](table::Table::set_label) and
/// [`set_lifetime`](table::Table::set_lifetime) answer
/// [`MetaError::NoRoom`](table::MetaError::NoRoom). A device with sign-in
/// chooses how many signed-in sessions it keeps: a full pool evicts its
/// least recently used unprotected holder, and refuses
/// (`MetaError::NoRoom`, nothing changed) when every holder is logged in.
///
/// ```
/// use sesh::{owner::UserId, table::MetaError, Instant, SessionTable};
/// # let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let mut table: SessionTable<[u8; 32], 16> = SessionTable::new();
/// let (id, _) = table.create(&mut rng, Instant::ZERO, [0; 32]).unwrap();
/// assert!(table.contains(&id, Instant::ZERO));
/// let alice = UserId::new(b"alice").unwrap();
/// assert_eq!(table.set_owner(&id, alice.clone(), Instant::ZERO).unwrap_err(), MetaError::NoRoom);
///
/// // 16 slots, up to 4 of them signed in:
/// let mut signed_in: SessionTable<[u8; 32], 16, 4> = SessionTable::new();
/// let (id, _) = signed_in.create(&mut rng, Instant::ZERO, [0; 32]).unwrap();
/// assert!(signed_in.set_owner(&id, alice, Instant::ZERO).is_ok());
/// ```
pub type SessionTable<D, const N: usize, const OWNED: usize = 0> =
    table::Table<table::FixedSlots<D, N, OWNED>>;

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
