//! What the host examples (`counter`, `login`) share: the common flags
//! ([`cli`]), the binary's start-up ([`server::run`]), the `--store` choice,
//! opening it under a session layer, and keeping a generated secret.

pub mod cli;
pub mod server;
pub mod store;

pub use store::StoreSpec;
