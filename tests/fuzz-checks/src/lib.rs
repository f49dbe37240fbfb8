//! The fuzz targets' checks (fuzz/fuzz_targets), as plain functions of the
//! input bytes: each panics when sesh breaks a promise on that input.
//!
//! cargo-fuzz (nightly, `scripts/fuzz.sh`) feeds them libFuzzer's inputs;
//! this crate's tests feed them proptest's, and inputs made from real
//! cookies, records and snapshots, on stable in every CI run. A check that
//! no longer holds for the code then fails CI at once, instead of at the
//! next fuzz run (snapshot_restore's did not hold from issue 16 until
//! 5caf696, and nothing noticed).
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test plumbing: a panic is how a check reports a broken promise"
)]

use std::sync::OnceLock;

use axum::{Router, body::Body, routing::get};
use sesh::cookie::{CookieScan, ScanOutcome};
use sesh::expiry::Lifetime;
use sesh::presession::PreSession;
use sesh::record::SessionRecord;
use sesh::signing::{Key, KeyRing};
use sesh::table::{Slots, Table};
use sesh::{AllocSessionTable, Instant, SessionId, SessionTable};
use sesh_tokio::{MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

/// The key [`signed_verify`] and [`http_request`] sign and verify with.
pub const KEY: [u8; 32] = [7; 32];

/// The Cookie header scanner on arbitrary bytes, split at `\n` into several
/// headers: never panics, and a value it finds is a valid cookie value.
pub fn cookie_scan(data: &[u8]) {
    let mut scan = CookieScan::new("sid");
    for header in data.split(|&b| b == b'\n') {
        scan.feed(header);
    }
    if let ScanOutcome::Found(value) = scan.outcome() {
        assert!(value.len() <= CookieScan::MAX_VALUE_LEN);
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\')),
            "not a cookie value: {value:?}"
        );
    }
}

/// Signed-id verification on arbitrary text: never panics, and accepts only
/// the one canonical signature of an id. The same text, split into a
/// pre-session cookie and a form token, never verifies (that takes the key).
pub fn signed_verify(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = Key::new(&KEY) else {
        panic!("the test key is refused")
    };
    let ring = KeyRing::<2>::new(key);
    if let Ok(verified) = ring.verify(text) {
        assert_eq!(ring.sign(&verified.id()).to_string(), text);
    }
    let Ok(zero_id) = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAA") else {
        panic!("the zero id does not parse")
    };
    let _ = ring.verify_csrf(&zero_id, text);
    let cut = text.len().min(22);
    if let (Some(cookie), Some(token)) = (text.get(..cut), text.get(cut..))
        && let Ok(pre) = PreSession::parse(cookie)
    {
        assert!(
            ring.verify_pre_csrf(&pre, token, Instant::ZERO).is_err(),
            "a form token verified without the key: {text:?}"
        );
    }
    let Ok(zero_pre) = PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA") else {
        panic!("the zero pre-session does not parse")
    };
    let _ = ring.verify_pre_csrf(&zero_pre, text, Instant::ZERO);
}

/// Record decoding on arbitrary bytes: never panics, and what decodes
/// re-encodes to a record that decodes the same.
pub fn record_decode(data: &[u8]) {
    if let Ok(record) = SessionRecord::<Vec<u8>>::decode(data) {
        let again = SessionRecord::<Vec<u8>>::decode(&record.to_vec().unwrap_or_default());
        assert_eq!(again.as_ref().ok(), Some(&record));
    }
    let _ = SessionRecord::<(u32, heapless::String<8>, Option<bool>)>::decode(data);
}

/// sesh's snapshot CRC-32 (IEEE), so that half the inputs get a valid
/// checksum and reach the record decoding instead of stopping at the CRC.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Snapshot restore on arbitrary bytes, into a fixed table, a fixed table
/// whose metadata pool is smaller than it, and a map table.
///
/// The first 8 bytes are `now` (little-endian, in units of 2²⁰ ms; its low
/// bit set: the rest is given a real header in front and a correct CRC
/// behind, so only the records are fuzzed); the rest is the snapshot.
pub fn snapshot_restore(data: &[u8]) {
    let Some((now, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let fix_crc = now[0] & 1 == 1;
    let now = Instant::from_millis(u64::from_le_bytes(*now) >> 20);
    let owned;
    let bytes = if fix_crc {
        let mut framed = b"SESH\x01".to_vec();
        framed.extend_from_slice(bytes);
        let crc = CRC32.checksum(&framed);
        framed.extend_from_slice(&crc.to_le_bytes());
        owned = framed;
        &owned[..]
    } else {
        bytes
    };
    check_restore(SessionTable::<u32, 8>::new(), bytes, now, SessionTable::new);
    check_restore(
        SessionTable::<u32, 8, 2>::new(),
        bytes,
        now,
        SessionTable::new,
    );
    check_restore(AllocSessionTable::with_max_sessions(64), bytes, now, || {
        AllocSessionTable::with_max_sessions(64)
    });
}

/// The fuzz input [`snapshot_restore`] reads as `snapshot`, whole (its own
/// header and CRC), restored at `now`.
pub fn snapshot_input(now: Instant, snapshot: &[u8]) -> Vec<u8> {
    // In units of 2²⁰ ms, the low bit clear: the snapshot is taken as it is.
    let mut input = (now.as_millis() << 20).to_le_bytes().to_vec();
    input.extend_from_slice(snapshot);
    input
}

/// A restore is whole or nothing, keeps no expired session and none past the
/// policy of its own lifetime, and its result snapshots and restores again
/// to as many sessions.
fn check_restore<S: Slots<Data = u32>>(
    mut table: Table<S>,
    bytes: &[u8],
    now: Instant,
    fresh: impl Fn() -> Table<S>,
) {
    match table.restore_snapshot(bytes, now) {
        Err(_) => assert!(table.is_empty(), "a refused snapshot left sessions behind"),
        Ok(restored) => {
            assert_eq!(restored, table.len());
            assert!(table.len() <= table.capacity());
            for (id, record) in table.iter() {
                let lifetime = table
                    .meta(&id, now)
                    .map_or(Lifetime::Default, |m| m.lifetime);
                let limit = table.policy().for_lifetime(lifetime).start(now);
                assert!(!record.deadlines.is_expired(now));
                assert!(
                    record.deadlines.idle <= limit.idle
                        && record.deadlines.absolute <= limit.absolute,
                    "a restored session outlives the policy of its lifetime ({lifetime:?})"
                );
                assert!(table.contains(&id, now));
            }
            let mut buf = vec![0u8; 64 + bytes.len() * 2];
            let Ok(len) = table.write_snapshot(&mut buf, now) else {
                panic!("re-snapshot failed")
            };
            let mut copy = fresh();
            assert_eq!(copy.restore_snapshot(&buf[..len], now), Ok(restored));
        }
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Count(u64);

async fn count(session: Session<Count>) -> Result<String, SessionError> {
    let n = session
        .update(|c| {
            c.0 = c.0.saturating_add(1);
            c.0
        })
        .await?;
    Ok(n.to_string())
}

/// One runtime and app for every input (a fuzzer calls millions of times).
fn app() -> &'static (tokio::runtime::Runtime, Router) {
    static APP: OnceLock<(tokio::runtime::Runtime, Router)> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let config = SessionConfig::new(&KEY).unwrap_or_else(|e| panic!("{e}"));
        let layer =
            SessionLayer::new(MemoryStore::new(1_000), config).unwrap_or_else(|e| panic!("{e}"));
        (rt, Router::new().route("/", get(count)).layer(layer))
    })
}

/// sesh-tokio's request path with arbitrary Cookie headers (the input split
/// at `\n`): the answer is 200 and the count starts at 1, since no cookie the
/// server did not issue selects a session.
pub fn http_request(data: &[u8]) {
    let (rt, app) = app();
    let mut request = http::Request::get("/");
    for header in data.split(|&b| b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(header) {
            request = request.header(http::header::COOKIE, value);
        }
    }
    let Ok(request) = request.body(Body::empty()) else {
        return;
    };
    let Ok(response) = rt.block_on(app.clone().oneshot(request));
    assert_eq!(response.status(), http::StatusCode::OK);
    let body = rt
        .block_on(axum::body::to_bytes(response.into_body(), 64))
        .unwrap_or_default();
    assert_eq!(&body[..], b"1");
}
