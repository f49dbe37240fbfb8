//! Snapshot restore on arbitrary bytes, then the restored table's invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesh::table::{Slots, Table};
use sesh::expiry::Lifetime;
use sesh::{Instant, SessionTable};

fn check<S: Slots<Data = u32>>(mut table: Table<S>, bytes: &[u8], now: Instant, fresh: impl Fn() -> Table<S>) {
    match table.restore_snapshot(bytes, now) {
        Err(_) => assert!(table.is_empty(), "a refused snapshot left sessions behind"),
        Ok(restored) => {
            assert_eq!(restored, table.len());
            assert!(table.len() <= table.capacity());
            // Nothing restored has expired, nothing outlives the policy of
            // its lifetime (a "remember me" session's own).
            for (id, record) in table.iter() {
                let lifetime = table.meta(&id, now).map_or(Lifetime::Default, |m| m.lifetime);
                let limit = table.policy().for_lifetime(lifetime).start(now);
                assert!(!record.deadlines.is_expired(now));
                assert!(record.deadlines.idle <= limit.idle && record.deadlines.absolute <= limit.absolute);
                assert!(table.contains(&id, now));
            }
            // A snapshot of the result restores to the same sessions.
            let mut buf = vec![0u8; 64 + bytes.len() * 2];
            let Ok(len) = table.write_snapshot(&mut buf, now) else { panic!("re-snapshot failed") };
            let mut copy = fresh();
            assert_eq!(copy.restore_snapshot(&buf[..len], now), Ok(restored));
        }
    }
}

/// sesh's snapshot CRC-32 (IEEE), so that half the inputs get a valid
/// checksum and reach the record decoding instead of stopping at the CRC check.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

fuzz_target!(|data: &[u8]| {
    let Some((now, bytes)) = data.split_first_chunk::<8>() else { return };
    let fix_crc = now[0] & 1 == 1;
    let now = Instant::from_millis(u64::from_le_bytes(*now) >> 20);
    let mut owned;
    let bytes = if fix_crc {
        // A real header in front, a correct CRC behind: only the records are fuzzed.
        owned = b"SESH\x01".to_vec();
        owned.extend_from_slice(bytes);
        let crc = CRC32.checksum(&owned);
        owned.extend_from_slice(&crc.to_le_bytes());
        &owned[..]
    } else {
        bytes
    };
    check(SessionTable::<u32, 8>::new(), bytes, now, SessionTable::<u32, 8>::new);
    // A pool smaller than the table: restores whole or not at all.
    check(SessionTable::<u32, 8, 2>::new(), bytes, now, SessionTable::<u32, 8, 2>::new);
    check(sesh::AllocSessionTable::<u32>::with_max_sessions(64), bytes, now, || {
        sesh::AllocSessionTable::with_max_sessions(64)
    });
});
