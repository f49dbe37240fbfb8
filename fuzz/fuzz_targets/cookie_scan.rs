//! The Cookie header parser on arbitrary bytes, split into several headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesh::cookie::{CookieScan, ScanOutcome};

fuzz_target!(|data: &[u8]| {
    let mut scan = CookieScan::new("sid");
    // 0x0A splits the input into several Cookie headers.
    for header in data.split(|&b| b == b'\n') {
        scan.feed(header);
    }
    if let ScanOutcome::Found(value) = scan.outcome() {
        assert!(value.len() <= CookieScan::MAX_VALUE_LEN);
        assert!(value.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\')));
    }
});
