//! What the host examples (`counter`, `login`) share: the `--store` choice,
//! opening it under a session layer, and keeping a generated secret.

pub mod store;

pub use store::StoreSpec;
