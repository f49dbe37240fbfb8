//! Host speed of sesh's crypto and codecs against the hand-written code they
//! replaced (issue 15): an id's HMAC tag, base64url of 16 and 24 bytes, the
//! CRC-32 of a snapshot and PBKDF2-HMAC-SHA256. BENCHMARKS.md, "Library
//! crypto and codecs", records a run.
//!
//! ```sh
//! cargo run --release -p sesh --example codecs [ROUNDS]
//! ```
//!
//! A round times 101 short batches of each case, hand-written and library
//! in turn, and keeps each one's median ns per operation. The report is the
//! median over rounds with the range, and the median of the per-round
//! ratios library ÷ hand-written with their range (above 1.0: the library is
//! slower). It first checks that both give the same output.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use hmac::block_api::HmacCore;
use hmac::digest::block_api::{Buffer, CoreProxy};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The hand-written code, as it was before the libraries replaced it.
mod hand {
    use sha2::Digest as _;

    pub struct Key {
        inner: [u32; 8],
        outer: [u32; 8],
    }

    const IV: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];

    fn compress_final(state: &mut [u32; 8], parts: &[&[u8]]) {
        let mut block = [0u8; 64];
        let mut len = 0;
        for part in parts {
            block[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        block[len] = 0x80;
        block[56..].copy_from_slice(&((64 + len as u64) * 8).to_be_bytes());
        sha2::block_api::compress256(state, &[block]);
    }

    fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    impl Key {
        pub fn new(secret: &[u8]) -> Key {
            let mut key = [0u8; 64];
            if secret.len() > 64 {
                key[..32].copy_from_slice(&sha2::Sha256::digest(secret));
            } else {
                key[..secret.len()].copy_from_slice(secret);
            }
            let pad = |byte: u8| {
                let mut block = key;
                block.iter_mut().for_each(|b| *b ^= byte);
                let mut state = IV;
                sha2::block_api::compress256(&mut state, &[block]);
                state
            };
            Key {
                inner: pad(0x36),
                outer: pad(0x5c),
            }
        }

        /// HMAC-SHA256 of `parts`, one block's worth at most.
        pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
            let mut inner = self.inner;
            compress_final(&mut inner, parts);
            let mut outer = self.outer;
            compress_final(&mut outer, &[&state_bytes(&inner)]);
            state_bytes(&outer)
        }
    }

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    const SEXTETS: [u8; 256] = {
        let mut table = [0xff; 256];
        let mut i = 0;
        while i < 64 {
            table[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        table
    };

    fn symbol(s: u8) -> u8 {
        ALPHABET[usize::from(s & 0x3f)]
    }

    pub fn encode16(bytes: &[u8; 16]) -> [u8; 22] {
        let mut out = [0u8; 22];
        let mut at = 0;
        let mut put = |s: u8| {
            out[at] = symbol(s);
            at += 1;
        };
        for t in bytes[..15].chunks_exact(3) {
            let [a, b, c] = [t[0], t[1], t[2]];
            put(a >> 2);
            put((a << 4) | (b >> 4));
            put((b << 2) | (c >> 6));
            put(c);
        }
        put(bytes[15] >> 2);
        put(bytes[15] << 4);
        out
    }

    pub fn decode16(text: &[u8]) -> Option<[u8; 16]> {
        if text.len() != 22 {
            return None;
        }
        let mut s = [0u8; 22];
        for (s, &c) in s.iter_mut().zip(text) {
            *s = SEXTETS[usize::from(c)];
            if *s == 0xff {
                return None;
            }
        }
        let mut out = [0u8; 16];
        for (q, o) in s[..20].chunks_exact(4).zip(out.chunks_exact_mut(3)) {
            o[0] = (q[0] << 2) | (q[1] >> 4);
            o[1] = (q[1] << 4) | (q[2] >> 2);
            o[2] = (q[2] << 6) | q[3];
        }
        if s[21] & 0x0f != 0 {
            return None;
        }
        out[15] = (s[20] << 2) | (s[21] >> 4);
        Some(out)
    }

    pub fn encode24(bytes: &[u8; 24]) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (t, q) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
            q[0] = symbol(t[0] >> 2);
            q[1] = symbol((t[0] << 4) | (t[1] >> 4));
            q[2] = symbol((t[1] << 2) | (t[2] >> 6));
            q[3] = symbol(t[2]);
        }
        out
    }

    pub fn decode24(text: &[u8]) -> Option<[u8; 24]> {
        if text.len() != 32 {
            return None;
        }
        let mut out = [0u8; 24];
        for (q, t) in text.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
            let [w, x, y, z] = [q[0], q[1], q[2], q[3]].map(|c| SEXTETS[usize::from(c)]);
            if (w | x | y | z) == 0xff {
                return None;
            }
            t[0] = (w << 2) | (x >> 4);
            t[1] = (x << 4) | (y >> 2);
            t[2] = (y << 6) | z;
        }
        Some(out)
    }

    /// CRC-32 (IEEE 802.3) bit by bit.
    pub fn crc32(crc: u32, bytes: &[u8]) -> u32 {
        let mut c = !crc;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                let mask = (c & 1).wrapping_neg();
                c = (c >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !c
    }

    /// The firmware's PBKDF2-HMAC-SHA256, one 32-byte block: its PRF is
    /// HMAC over two cloned `Sha256` states.
    pub fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        use sha2::Sha256;
        let mut block = [0u8; 64];
        if password.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(password));
        } else {
            block[..password.len()].copy_from_slice(password);
        }
        let pad = |byte: u8| {
            let mut padded = block;
            padded.iter_mut().for_each(|b| *b ^= byte);
            Sha256::new().chain_update(padded)
        };
        let (inner, outer) = (pad(0x36), pad(0x5c));
        let mac = |parts: &[&[u8]]| -> [u8; 32] {
            let mut i = inner.clone();
            parts.iter().for_each(|p| i.update(p));
            outer.clone().chain_update(i.finalize()).finalize().into()
        };
        let mut u = mac(&[salt, &1u32.to_be_bytes()]);
        let mut t = u;
        for _ in 1..iterations {
            u = mac(&[&u]);
            t.iter_mut().zip(u).for_each(|(t, u)| *t ^= u);
        }
        t
    }
}

/// The libraries, used as sesh now uses them.
mod lib {
    use super::*;

    pub type Key = HmacCore<Sha256>;

    pub fn key(secret: &[u8]) -> Key {
        HmacCore::new_from_slice(secret).unwrap()
    }

    /// The keyed state cloned per tag: two compressions.
    pub fn tag(key: &Key, label: &[u8], id: &[u8; 16]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::compose(key.clone(), Buffer::<Key>::default());
        mac.update(label);
        mac.update(id);
        mac.finalize().into_bytes().into()
    }

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn encode<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
        let mut out = [0u8; M];
        B64.encode_slice(bytes, &mut out).unwrap();
        out
    }

    pub fn decode<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        match B64.decode_slice(text, &mut out) {
            Ok(n) if n == N => Some(out),
            _ => None,
        }
    }

    pub static CRC_NO_TABLE: crc::Crc<u32, crc::NoTable> =
        crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);
    pub static CRC_TABLE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

    pub fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations)
    }

    /// The firmware's check: PBKDF2 a step at a time (so that it can yield),
    /// its PRF the `hmac` crate's keyed state cloned per iteration.
    pub fn pbkdf2_steps(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let prf = key(password);
        let mac = |parts: &[&[u8]]| -> [u8; 32] {
            let mut mac = Hmac::<Sha256>::compose(prf.clone(), Buffer::<Key>::default());
            parts.iter().for_each(|p| mac.update(p));
            mac.finalize().into_bytes().into()
        };
        let mut u = mac(&[salt, &1u32.to_be_bytes()]);
        let mut t = u;
        for _ in 1..iterations {
            u = mac(&[&u]);
            t.iter_mut().zip(u).for_each(|(t, u)| *t ^= u);
        }
        t
    }
}

/// Nanoseconds per call of `f`, over `n` calls.
fn time(n: u32, f: &mut impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// Short batches of `n` calls, hand-written then library, `PAIRS` times:
/// the median ns per call of each, so that the machine's noise (other
/// builds) falls on both alike.
fn pair(n: u32, mut hand: impl FnMut(u32), mut lib: impl FnMut(u32)) -> (f64, f64) {
    const PAIRS: usize = 101;
    let (mut h, mut l) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for _ in 0..PAIRS {
        h.push(time(n, &mut hand));
        l.push(time(n, &mut lib));
    }
    (median(h), median(l))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

struct Case {
    name: &'static str,
    hand: Vec<f64>,
    lib: Vec<f64>,
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(11);
    let secret = *b"a secret of at least 32 bytes!!!";
    let label = b"sesh/id/v1";
    let ids: Vec<[u8; 16]> = (0u8..64)
        .map(|i| core::array::from_fn(|j| i.wrapping_mul(31) ^ (j as u8).wrapping_mul(97)))
        .collect();
    let tokens: Vec<[u8; 24]> = (0u8..64)
        .map(|i| core::array::from_fn(|j| i.wrapping_mul(13) ^ (j as u8).wrapping_mul(59)))
        .collect();
    let snapshot: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let hand_key = hand::Key::new(&secret);
    let lib_key = lib::key(&secret);

    // Same outputs first.
    for id in &ids {
        assert_eq!(hand_key.mac(&[label, id]), lib::tag(&lib_key, label, id));
        let text = hand::encode16(id);
        assert_eq!(text, lib::encode::<16, 22>(id));
        assert_eq!(lib::decode::<16>(&text), Some(*id));
    }
    for t in &tokens {
        let text = hand::encode24(t);
        assert_eq!(text, lib::encode::<24, 32>(t));
        assert_eq!(lib::decode::<24>(&text), Some(*t));
    }
    let crc = hand::crc32(0, &snapshot);
    assert_eq!(crc, lib::CRC_NO_TABLE.checksum(&snapshot));
    assert_eq!(crc, lib::CRC_TABLE.checksum(&snapshot));
    assert_eq!(
        hand::pbkdf2(b"pw", b"salt-salt", 50),
        lib::pbkdf2(b"pw", b"salt-salt", 50)
    );
    assert_eq!(
        lib::pbkdf2_steps(&[b'p'; 100], b"salt-salt", 50),
        lib::pbkdf2(&[b'p'; 100], b"salt-salt", 50)
    );

    let encoded16: Vec<[u8; 22]> = ids.iter().map(hand::encode16).collect();
    let encoded24: Vec<[u8; 32]> = tokens.iter().map(hand::encode24).collect();
    let pick = |i: u32| (i % 64) as usize;

    let mut cases = vec![
        Case {
            name: "HMAC tag of an id (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "base64url encode 16 B (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "base64url decode 22 chars (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "base64url encode 24 B (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "base64url decode 32 chars (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "CRC-32 of 169 B, crc NoTable (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "CRC-32 of 169 B, crc Table<1> (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "CRC-32 of 2 KiB, crc NoTable (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "CRC-32 of 2 KiB, crc Table<1> (ns)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "PBKDF2-HMAC-SHA256, 1000 iterations, pbkdf2 crate (µs)",
            hand: vec![],
            lib: vec![],
        },
        Case {
            name: "PBKDF2-HMAC-SHA256, 1000 iterations, stepwise over hmac (µs)",
            hand: vec![],
            lib: vec![],
        },
    ];
    let record = &snapshot[..169];
    for _ in 0..rounds {
        let mut results: Vec<(f64, f64)> = Vec::new();
        results.push(pair(
            2_000,
            |i| {
                black_box(hand_key.mac(&[label, black_box(&ids[pick(i)])]));
            },
            |i| {
                black_box(lib::tag(&lib_key, label, black_box(&ids[pick(i)])));
            },
        ));
        results.push(pair(
            20_000,
            |i| {
                black_box(hand::encode16(black_box(&ids[pick(i)])));
            },
            |i| {
                black_box(lib::encode::<16, 22>(black_box(&ids[pick(i)])));
            },
        ));
        results.push(pair(
            20_000,
            |i| {
                black_box(hand::decode16(black_box(&encoded16[pick(i)])));
            },
            |i| {
                black_box(lib::decode::<16>(black_box(&encoded16[pick(i)])));
            },
        ));
        results.push(pair(
            20_000,
            |i| {
                black_box(hand::encode24(black_box(&tokens[pick(i)])));
            },
            |i| {
                black_box(lib::encode::<24, 32>(black_box(&tokens[pick(i)])));
            },
        ));
        results.push(pair(
            20_000,
            |i| {
                black_box(hand::decode24(black_box(&encoded24[pick(i)])));
            },
            |i| {
                black_box(lib::decode::<24>(black_box(&encoded24[pick(i)])));
            },
        ));
        for (bytes, n) in [(record, 200), (&snapshot[..], 20)] {
            let hand = |_| {
                black_box(hand::crc32(0, black_box(bytes)));
            };
            results.push(pair(n, hand, |_| {
                black_box(lib::CRC_NO_TABLE.checksum(black_box(bytes)));
            }));
            results.push(pair(n, hand, |_| {
                black_box(lib::CRC_TABLE.checksum(black_box(bytes)));
            }));
        }
        let (h, l) = pair(
            1,
            |i| {
                black_box(hand::pbkdf2(b"password", black_box(&i.to_be_bytes()), 1000));
            },
            |i| {
                black_box(lib::pbkdf2(b"password", black_box(&i.to_be_bytes()), 1000));
            },
        );
        results.push((h / 1000.0, l / 1000.0));
        let (h, l) = pair(
            1,
            |i| {
                black_box(hand::pbkdf2(b"password", black_box(&i.to_be_bytes()), 1000));
            },
            |i| {
                black_box(lib::pbkdf2_steps(
                    b"password",
                    black_box(&i.to_be_bytes()),
                    1000,
                ));
            },
        );
        results.push((h / 1000.0, l / 1000.0));
        for (case, (h, l)) in cases.iter_mut().zip(results) {
            case.hand.push(h);
            case.lib.push(l);
        }
    }

    println!("{rounds} rounds; median (min–max)");
    println!("| | hand-written | library | library ÷ hand-written |");
    println!("|---|---:|---:|---:|");
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!("{:.1} ({min:.1}–{max:.1})", median(v.to_vec()))
    };
    for case in &cases {
        let ratios: Vec<f64> = case
            .lib
            .iter()
            .zip(&case.hand)
            .map(|(l, h)| l / h)
            .collect();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {} | {} | {:.2} ({min:.2}–{max:.2}) |",
            case.name,
            range(&case.hand),
            range(&case.lib),
            median(ratios.clone()),
        );
    }
}
