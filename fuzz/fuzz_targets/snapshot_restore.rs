//! Snapshot restore on arbitrary bytes, then the restored table's invariants.
//! The check lives in tests/fuzz-checks, which CI also runs on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sesh_fuzz_checks::snapshot_restore(data));
