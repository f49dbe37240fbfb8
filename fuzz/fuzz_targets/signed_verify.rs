//! Signed-id verification on arbitrary text: never panics, and accepts only
//! the one canonical signature of an id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesh::signing::{Key, KeyRing};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(key) = Key::new(&[7; 32]) else { return };
    let ring = KeyRing::<2>::new(key);
    if let Ok(verified) = ring.verify(text) {
        // Only the exact value sesh would write verifies.
        assert_eq!(ring.sign(&verified.id()).to_string(), text);
    }
    let _ = ring.verify_csrf(&sesh::SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap_or_else(|_| unreachable!()), text);
});
