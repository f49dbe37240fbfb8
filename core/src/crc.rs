//! CRC-32 (IEEE 802.3), bit by bit: no table, so it costs firmware ~100 bytes.

/// The CRC-32 of `bytes`, continuing from `crc` (start with 0).
pub(crate) fn crc32(crc: u32, bytes: &[u8]) -> u32 {
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

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(super::crc32(0, b"123456789"), 0xCBF4_3926);
        let split = super::crc32(super::crc32(0, b"1234"), b"56789");
        assert_eq!(split, 0xCBF4_3926);
    }
}
