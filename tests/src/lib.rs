//! The behaviour suite that runs against every sesh table, adapter and store.
//!
//! The core cases are plain `no_std` functions ([`case::Case`]), so the same
//! bodies run under `cargo test` on the host and on an emulated
//! microcontroller.
//!
//! With feature `flash` (`no_std`), module `flash_cases` adds the flash
//! persistence cases (sesh-embassy's `FlashSnapshots` on a RAM-backed NOR
//! flash with power-loss injection) to [`core_cases`]. That flash alone is
//! module `ram_flash` (feature `ram-flash`, `no_std`).
//!
//! With feature `spec` (`no_std`, alloc), module `spec` holds the session
//! settings a case asks a probe server for, and with `embassy-app` module
//! `embassy_app` is the probe app for sesh-embassy, which both the host suite
//! and the QEMU probe image (tests/qemu-probe) serve.
//!
//! With feature `http` (std), module `http` adds the HTTP-level suite that every
//! adapter and store runs over real TCP: `session_tests!`.
#![no_std]
// Test code: an overflow or a bad index here is a bug in a case, not reachable from input.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

#[cfg(feature = "spec")]
extern crate alloc;
#[cfg(feature = "http")]
extern crate std;

pub mod case;
pub mod cookie_cases;
pub mod decision_cases;
#[cfg(feature = "embassy-app")]
pub mod embassy_app;
#[cfg(feature = "flash")]
pub mod flash_cases;
#[cfg(feature = "spec")]
pub mod form;
#[cfg(feature = "http")]
pub mod http;
pub mod owner_cases;
#[cfg(feature = "spec")]
pub mod owner_routes;
#[cfg(feature = "ram-flash")]
pub mod ram_flash;
pub mod rng;
#[cfg(feature = "spec")]
pub mod spec;
pub mod table_cases;

/// An empty fixed table of capacity [`table_cases::CAPACITY`], whose
/// every session may have an owner (a metadata pool as large), as in the
/// map table the same cases run on.
pub fn fixed_table() -> sesh::SessionTable<u32, { table_cases::CAPACITY }, { table_cases::CAPACITY }>
{
    sesh::SessionTable::new()
}

/// Every core case on the fixed table (table and owner cases), plus the
/// cookie, signing and cookie decision cases, plus the flash cases with
/// feature `flash`.
pub fn core_cases() -> impl Iterator<Item = case::Case> {
    table_cases!("fixed", crate::fixed_table)
        .into_iter()
        .chain(owner_cases!("fixed", crate::fixed_table))
        .chain(cookie_cases::COOKIE_CASES)
        .chain(decision_cases::DECISION_CASES)
        .chain(flash_case_list())
}

#[cfg(feature = "flash")]
fn flash_case_list() -> impl IntoIterator<Item = case::Case> {
    flash_cases::flash_cases()
}

#[cfg(not(feature = "flash"))]
fn flash_case_list() -> impl IntoIterator<Item = case::Case> {
    []
}

/// The repository README's Rust examples, compiled as doctests, so that
/// the code a reader copies first builds.
#[cfg(all(doctest, feature = "http"))]
#[doc = include_str!("../../README.md")]
pub struct RootReadme;
