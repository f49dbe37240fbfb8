//! Record decoding on arbitrary bytes: never panics; what decodes re-encodes
//! The check lives in tests/fuzz-checks, which CI also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sesh_fuzz_checks::record_decode(data));
