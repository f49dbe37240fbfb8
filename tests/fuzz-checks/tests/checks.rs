//! Every fuzz check, fed on stable by proptest: arbitrary bytes, and inputs
//! built from what sesh itself writes (signed cookies, records, snapshots
//! with owners and remember-me lifetimes), whole and with one byte changed,
//! so that the checks reach past the first parse.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test code: a failure here is a test failure"
)]

use proptest::prelude::*;
use sesh::expiry::Lifetime;
use sesh::owner::UserId;
use sesh::record::SessionRecord;
use sesh::signing::{Key, KeyRing};
use sesh::{AllocSessionTable, Duration, Instant, SessionId};
use sesh_fuzz_checks::{
    KEY, cookie_scan, http_request, record_decode, signed_verify, snapshot_input, snapshot_restore,
};
use sesh_tests::rng::TestRng;

fn ring(key: [u8; 32]) -> KeyRing<2> {
    KeyRing::new(Key::new(&key).unwrap())
}

fn id(seed: u64) -> SessionId {
    SessionId::generate(&mut TestRng(seed)).unwrap()
}

/// A cookie value sesh would write for a random id, under `KEY` or another key.
fn signed(seed: u64, ours: bool) -> String {
    let key = if ours { KEY } else { [8; 32] };
    ring(key).sign(&id(seed)).to_string()
}

/// Bytes put together from pieces of cookie headers, real signed values
/// among them: what a scanner or a verifier must take apart.
fn cookie_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"sid=".to_vec()),
        Just(b"sid".to_vec()),
        Just(b"=".to_vec()),
        Just(b"; ".to_vec()),
        Just(b";".to_vec()),
        Just(b"\n".to_vec()),
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b".".to_vec()),
        Just(b" ".to_vec()),
        Just(b"other=1".to_vec()),
        "[A-Za-z0-9_-]{0,30}".prop_map(String::into_bytes),
        (any::<u64>(), any::<bool>()).prop_map(|(s, ours)| signed(s, ours).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// `bytes` with the byte at `at` (mod its length) changed by `delta`.
fn changed(mut bytes: Vec<u8>, at: usize, delta: u8) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] = bytes[i].wrapping_add(delta.max(1));
    }
    bytes
}

/// A snapshot sesh wrote at `at` of a table with `sessions` sessions, some
/// signed in (an owner), some kept with "remember me".
fn real_snapshot(seed: u64, sessions: usize, at: Instant) -> Vec<u8> {
    let mut rng = TestRng(seed);
    let mut table = AllocSessionTable::<u32>::with_max_sessions(64);
    for n in 0..sessions {
        let (id, _) = table.create(&mut rng, at, n as u32).unwrap();
        if n % 3 == 1 {
            table
                .set_owner(&id, UserId::new(b"alice").unwrap(), at)
                .unwrap();
        }
        if n % 2 == 1 {
            table.set_lifetime(&id, Lifetime::REMEMBER_ME, at).unwrap();
        }
    }
    let mut buf = vec![0; 4096];
    let len = table.write_snapshot(&mut buf, at).unwrap();
    buf.truncate(len);
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cookie_scan_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        cookie_scan(&data);
    }

    #[test]
    fn cookie_scan_on_cookie_headers(data in cookie_soup()) {
        cookie_scan(&data);
    }

    #[test]
    fn signed_verify_on_any_text(text in ".{0,120}") {
        signed_verify(text.as_bytes());
    }

    #[test]
    fn signed_verify_on_real_and_changed_values(
        seed in any::<u64>(), ours in any::<bool>(), at in any::<usize>(), delta in any::<u8>(),
        soup in cookie_soup(),
    ) {
        let value = signed(seed, ours).into_bytes();
        signed_verify(&value);
        signed_verify(&changed(value.clone(), at, delta));
        signed_verify(&[&value[..], &soup[..]].concat());
        signed_verify(&soup);
    }

    #[test]
    fn record_decode_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        record_decode(&data);
    }

    #[test]
    fn record_decode_on_real_and_changed_records(
        secs in any::<u32>(), protected in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<usize>(), delta in any::<u8>(), cut in any::<usize>(),
    ) {
        let deadlines = sesh::expiry::ExpiryPolicy::new().start(Instant::from_secs(u64::from(secs)));
        let bytes = SessionRecord { deadlines, protected, data }.to_vec().unwrap();
        record_decode(&bytes);
        record_decode(&changed(bytes.clone(), at, delta));
        record_decode(&bytes[..cut % (bytes.len() + 1)]);
    }

    #[test]
    fn snapshot_restore_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        snapshot_restore(&data);
    }

    /// Restored at the time written or up to 100 days later: sessions
    /// expire on the way, remember-me ones last longest (the case the
    /// fuzz target got wrong from issue 16 to 5caf696).
    #[test]
    fn snapshot_restore_on_real_snapshots(
        seed in any::<u64>(), sessions in 0_usize..12,
        written in 0_u64..1_000_000, later_hours in 0_u64..2_400,
        at in any::<usize>(), delta in any::<u8>(),
    ) {
        let at_time = Instant::from_secs(written);
        let now = at_time + Duration::from_hours(later_hours);
        let snapshot = real_snapshot(seed, sessions, at_time);
        snapshot_restore(&snapshot_input(now, &snapshot));
        // One byte of the records changed, under a correct CRC (the low bit
        // of `now` set: snapshot_restore frames the records itself).
        let records = snapshot[5..snapshot.len() - 4].to_vec();
        let mut input = ((now.as_millis() << 20) | 1).to_le_bytes().to_vec();
        input.extend_from_slice(&changed(records, at, delta));
        snapshot_restore(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn http_request_on_any_cookie_headers(data in cookie_soup()) {
        http_request(&data);
    }

    /// A cookie signed with the server's own key, for an id it never
    /// issued, selects nothing either.
    #[test]
    fn http_request_with_our_signature_on_unknown_ids(seed in any::<u64>(), soup in cookie_soup()) {
        let cookie = format!("sid={}", signed(seed, true));
        http_request(cookie.as_bytes());
        http_request(&[cookie.as_bytes(), b"\n", &soup[..]].concat());
    }
}

/// The framing the real-snapshot test assumes: a 5-byte header, a 4-byte CRC.
#[test]
fn a_snapshot_is_header_records_crc() {
    let snapshot = real_snapshot(1, 2, Instant::from_secs(5));
    assert_eq!(&snapshot[..5], b"SESH\x01");
    assert!(snapshot.len() > 9);
}
