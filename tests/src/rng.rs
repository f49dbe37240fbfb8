//! Deterministic generators for tests. **Not cryptographic**: never use them
//! outside tests.

use core::convert::Infallible;
use core::fmt;

use rand_core::{TryCryptoRng, TryRng};

/// SplitMix64: deterministic and well spread, so ids look random.
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl TryRng for TestRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(word) {
                *d = s;
            }
        }
        Ok(())
    }
}
impl TryCryptoRng for TestRng {}

/// Fails every call, like a TRNG whose health check tripped.
#[derive(Debug, Clone, Copy)]
pub struct FailingRng;

/// The error [`FailingRng`] reports.
#[derive(Debug, Clone, Copy)]
pub struct RngBroken;

impl fmt::Display for RngBroken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("test RNG failure")
    }
}
impl core::error::Error for RngBroken {}

impl TryRng for FailingRng {
    type Error = RngBroken;
    fn try_next_u32(&mut self) -> Result<u32, RngBroken> {
        Err(RngBroken)
    }
    fn try_next_u64(&mut self) -> Result<u64, RngBroken> {
        Err(RngBroken)
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), RngBroken> {
        Err(RngBroken)
    }
}
impl TryCryptoRng for FailingRng {}

/// Returns the same bytes on every call: the worst possible generator.
#[derive(Debug, Clone, Copy)]
pub struct StuckRng(pub u8);

impl TryRng for StuckRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_le_bytes([self.0; 4]))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from_le_bytes([self.0; 8]))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(self.0);
        Ok(())
    }
}
impl TryCryptoRng for StuckRng {}

/// Repeats the same bytes `repeats` times, then behaves like [`TestRng`].
#[derive(Debug, Clone)]
pub struct RepeatThenRandomRng {
    /// Calls left that return the stuck bytes.
    pub repeats: usize,
    /// The stuck byte.
    pub byte: u8,
    /// What follows.
    pub then: TestRng,
}

impl TryRng for RepeatThenRandomRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.then.try_next_u32()
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.then.try_next_u64()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if self.repeats > 0 {
            self.repeats -= 1;
            dst.fill(self.byte);
            Ok(())
        } else {
            self.then.try_fill_bytes(dst)
        }
    }
}
impl TryCryptoRng for RepeatThenRandomRng {}
