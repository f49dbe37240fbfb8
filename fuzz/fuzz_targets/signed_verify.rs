//! Signed-id verification on arbitrary text: never panics, and accepts only
//! The check lives in tests/fuzz-checks, which CI also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sesh_fuzz_checks::signed_verify(data));
