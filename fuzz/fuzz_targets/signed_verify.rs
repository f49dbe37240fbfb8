//! Signed-id verification on arbitrary text: never panics, and accepts only
//! the one canonical signature of an id. The same for pre-session form
//! tokens: arbitrary text, split into a cookie and a token, never panics and
//! never verifies (that would take the key).
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
    let cut = text.len().min(22);
    if let (Some(cookie), Some(token)) = (text.get(..cut), text.get(cut..)) {
        if let Ok(pre) = sesh::presession::PreSession::parse(cookie) {
            // A token made without the key is a MAC forgery: it never verifies.
            assert!(
                ring.verify_pre_csrf(&pre, token, sesh::Instant::ZERO).is_err(),
                "a form token verified without the key: {text:?}"
            );
        }
    }
    let _ = ring.verify_pre_csrf(
        &sesh::presession::PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap_or_else(|_| unreachable!()),
        text,
        sesh::Instant::ZERO,
    );
});
