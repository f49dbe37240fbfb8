//! The Cookie header parser on arbitrary bytes, split into several headers.
//! The check lives in tests/fuzz-checks, which CI also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sesh_fuzz_checks::cookie_scan(data));
