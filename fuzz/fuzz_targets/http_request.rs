//! The tokio adapter's request path with arbitrary Cookie header bytes.
//! The check lives in tests/fuzz-checks, which CI also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sesh_fuzz_checks::http_request(data));
