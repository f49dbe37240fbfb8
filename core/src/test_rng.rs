//! Deliberately weak generators for tests. Never use these outside tests.

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

/// Counts up: predictable, but distinct ids.
#[derive(Default)]
pub(crate) struct CountingRng(pub u64);

impl TryRng for CountingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(1);
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let n = self.try_next_u64()?.to_le_bytes();
        for (i, b) in dst.iter_mut().enumerate() {
            *b = n[i % 8] ^ (i as u8);
        }
        Ok(())
    }
}
impl TryCryptoRng for CountingRng {}

/// Always fails.
pub(crate) struct FailingRng;

/// The error [`FailingRng`] reports.
#[derive(Debug)]
pub(crate) struct Broken;
impl core::fmt::Display for Broken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("broken")
    }
}
impl core::error::Error for Broken {}

impl TryRng for FailingRng {
    type Error = Broken;
    fn try_next_u32(&mut self) -> Result<u32, Broken> {
        Err(Broken)
    }
    fn try_next_u64(&mut self) -> Result<u64, Broken> {
        Err(Broken)
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Broken> {
        Err(Broken)
    }
}
impl TryCryptoRng for FailingRng {}
