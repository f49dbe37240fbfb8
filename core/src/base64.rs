//! Unpadded base64url for 16-byte values (ids and tags): 22 characters.
//!
//! Hand-written rather than the `base64` crate's: the crate decoded an id
//! 1.46 × slower and added 396 B of firmware `.text` (BENCHMARKS.md,
//! "Library crypto and codecs"). The tests check it against the crate.

/// Characters in an encoded 16-byte value.
pub(crate) const ENCODED_LEN: usize = 22;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why 22 characters did not decode to 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base64Error {
    Length,
    Alphabet,
    /// The last character has bits set beyond the 128th.
    NonCanonical,
}

fn symbol(sextet: u8) -> u8 {
    ALPHABET
        .get(usize::from(sextet & 0x3f))
        .copied()
        .unwrap_or(b'A')
}

/// Byte → sextet, or `INVALID`: a table, because the branchy version
/// mispredicts on random ids and cost more than the HMAC check.
const INVALID: u8 = 0xff;
// Evaluated at compile time: a bad index fails the build, never a run.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const SEXTETS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

#[cfg(any(feature = "signed", test))]
fn sextet(c: u8) -> Option<u8> {
    SEXTETS
        .get(usize::from(c))
        .copied()
        .filter(|&s| s != INVALID)
}

/// Encodes 16 bytes as 22 base64url characters.
pub(crate) fn encode16(bytes: &[u8; 16]) -> [u8; ENCODED_LEN] {
    let mut out = [0u8; ENCODED_LEN];
    let mut chars = out.iter_mut();
    let mut put = |s: u8| {
        if let Some(slot) = chars.next() {
            *slot = symbol(s);
        }
    };
    let (triples, last) = bytes.split_at(15);
    for t in triples.chunks_exact(3) {
        if let [a, b, c] = *t {
            put(a >> 2);
            put((a << 4) | (b >> 4));
            put((b << 2) | (c >> 6));
            put(c);
        }
    }
    if let [a] = *last {
        put(a >> 2);
        put(a << 4);
    }
    out
}

/// Decodes exactly 22 base64url characters into 16 bytes.
pub(crate) fn decode16(text: &[u8]) -> Result<[u8; 16], Base64Error> {
    let Ok(text) = <&[u8; ENCODED_LEN]>::try_from(text) else {
        return Err(Base64Error::Length);
    };
    // No branch per character, and each group of four characters (three
    // bytes) on its own, so the groups decode side by side rather than
    // through one long chain of shifts. An invalid character's table entry
    // has bits 6 and 7 set, remembered in `seen`.
    let lookup = |c: u8| SEXTETS.get(usize::from(c)).copied().unwrap_or(INVALID);
    let (quads, last) = text.as_chunks::<4>();
    let mut out = [0u8; 16];
    let mut seen = 0u8;
    for (quad, bytes) in quads.iter().zip(out.as_chunks_mut::<3>().0) {
        let [a, b, c, d] = quad.map(lookup);
        seen |= a | b | c | d;
        let word = (u32::from(a & 0x3f) << 18)
            | (u32::from(b & 0x3f) << 12)
            | (u32::from(c & 0x3f) << 6)
            | u32::from(d & 0x3f);
        let [_, x, y, z] = word.to_be_bytes();
        *bytes = [x, y, z];
    }
    // The last two characters: 6 bits and the top 2 bits of the 16th byte.
    let [a, b] = match *last {
        [a, b] => [lookup(a), lookup(b)],
        _ => [INVALID; 2],
    };
    if (seen | a | b) & 0xc0 != 0 {
        return Err(Base64Error::Alphabet);
    }
    if b & 0x0f != 0 {
        return Err(Base64Error::NonCanonical);
    }
    if let Some(byte) = out.last_mut() {
        *byte = (a << 2) | (b >> 4);
    }
    Ok(out)
}

#[cfg(any(feature = "signed", test))]
/// Characters in an encoded 24-byte value (a pre-session form token).
pub(crate) const ENCODED_24_LEN: usize = 32;

#[cfg(any(feature = "signed", test))]
/// Encodes 24 bytes (eight whole triples, so no padding) as 32 characters.
pub(crate) fn encode24(bytes: &[u8; 24]) -> [u8; ENCODED_24_LEN] {
    let mut out = [0u8; ENCODED_24_LEN];
    for (t, q) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        if let ([a, b, c], [w, x, y, z]) = (t, q) {
            *w = symbol(a >> 2);
            *x = symbol((a << 4) | (b >> 4));
            *y = symbol((b << 2) | (c >> 6));
            *z = symbol(*c);
        }
    }
    out
}

#[cfg(any(feature = "signed", test))]
/// Decodes exactly 32 base64url characters into 24 bytes.
pub(crate) fn decode24(text: &[u8]) -> Result<[u8; 24], Base64Error> {
    if text.len() != ENCODED_24_LEN {
        return Err(Base64Error::Length);
    }
    let mut out = [0u8; 24];
    for (q, t) in text.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        if let ([w, x, y, z], [a, b, c]) = (q, t) {
            let (w, x) = (sextet(*w), sextet(*x));
            let (y, z) = (sextet(*y), sextet(*z));
            let (Some(w), Some(x), Some(y), Some(z)) = (w, x, y, z) else {
                return Err(Base64Error::Alphabet);
            };
            *a = (w << 2) | (x >> 4);
            *b = (x << 4) | (y >> 2);
            *c = (y << 6) | z;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_vectors() {
        let zero = encode16(&[0; 16]);
        assert_eq!(&zero, b"AAAAAAAAAAAAAAAAAAAAAA");
        let ff = encode16(&[0xff; 16]);
        assert_eq!(&ff, b"_____________________w");
        assert_eq!(decode16(&ff), Ok([0xff; 16]));
        let seq: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(decode16(&encode16(&seq)), Ok(seq));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode16(b"short"), Err(Base64Error::Length));
        assert_eq!(
            decode16(b"AAAAAAAAAAAAAAAAAAAAA="),
            Err(Base64Error::Alphabet)
        );
        assert_eq!(
            decode16(b"AAAAAAAAAAAAAAAAAAAAA+"),
            Err(Base64Error::Alphabet)
        );
        assert_eq!(
            decode16(b"AAAAAAAAAAAAAAAAAAAAAB"),
            Err(Base64Error::NonCanonical)
        );
    }

    #[test]
    fn matches_rfc_4648() {
        // The base64url alphabet of RFC 4648 §5, in order.
        let first = [
            0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3, 0x8f, 0x41, 0x14,
            0x93, 0x51, 0x55, 0x97, 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f,
        ];
        let second = [
            0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c,
            0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf,
        ];
        assert_eq!(&encode24(&first), b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef");
        assert_eq!(&encode24(&second), b"ghijklmnopqrstuvwxyz0123456789-_");
        assert_eq!(decode24(b"ghijklmnopqrstuvwxyz0123456789-_"), Ok(second));
        // RFC 4648 §10's "foobar", repeated to 16 bytes, without padding.
        assert_eq!(&encode16(b"foobarfoobarfoob"), b"Zm9vYmFyZm9vYmFyZm9vYg");
        assert_eq!(
            decode16(b"Zm9vYmFyZm9vYmFyZm9vYg"),
            Ok(*b"foobarfoobarfoob")
        );
    }

    proptest::proptest! {
        /// Same encodings as the `base64` crate's URL_SAFE_NO_PAD, and the
        /// same texts refused (non-canonical last characters included).
        #[test]
        fn agrees_with_the_base64_crate(
            bytes: [u8; 16],
            long: [u8; 24],
            text in "[A-Za-z0-9_=+/-]{22}",
            long_text in "[A-Za-z0-9_=+/-]{32}",
        ) {
            use ::base64::Engine as _;
            let crate_ = ::base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut expected = [0u8; ENCODED_24_LEN];
            let n = crate_.encode_slice(bytes, &mut expected).unwrap();
            proptest::prop_assert_eq!(&encode16(&bytes)[..], &expected[..n]);
            crate_.encode_slice(long, &mut expected).unwrap();
            proptest::prop_assert_eq!(encode24(&long), expected);
            let mut out = [0u8; 16];
            let theirs = crate_.decode_slice(text.as_bytes(), &mut out).map(|_| out);
            proptest::prop_assert_eq!(decode16(text.as_bytes()).ok(), theirs.ok());
            let mut out = [0u8; 24];
            let theirs = crate_.decode_slice(long_text.as_bytes(), &mut out).map(|_| out);
            proptest::prop_assert_eq!(decode24(long_text.as_bytes()).ok(), theirs.ok());
        }

        /// Canonical texts: the last character of 22 is any of the 64.
        #[test]
        fn the_last_character_is_refused_exactly_as_the_crate_does(
            bytes: [u8; 16],
            last in 0usize..64,
        ) {
            use ::base64::Engine as _;
            let mut text = encode16(&bytes);
            text[21] = ALPHABET[last];
            let mut out = [0u8; 16];
            let theirs = ::base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode_slice(text, &mut out)
                .map(|_| out);
            let ours = decode16(&text);
            proptest::prop_assert_eq!(ours.ok(), theirs.ok());
            if last & 0x0f != 0 {
                proptest::prop_assert_eq!(ours, Err(Base64Error::NonCanonical));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip(bytes: [u8; 16]) {
            proptest::prop_assert_eq!(decode16(&encode16(&bytes)), Ok(bytes));
        }

        #[test]
        fn arbitrary_text_never_panics(text: Vec<u8>) {
            let _ = decode16(&text);
            let _ = decode24(&text);
        }

        #[test]
        fn any_24_bytes_round_trip(bytes: [u8; 24]) {
            proptest::prop_assert_eq!(decode24(&encode24(&bytes)), Ok(bytes));
        }
    }
}
