//! Guides that go beyond one item's docs. Their code is compiled and run
//! with sesh-tokio's tests (it needs the feature `testing`).

#[doc = include_str!("../docs/custom-store.md")]
pub mod custom_store {}
