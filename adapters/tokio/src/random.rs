//! Where session ids come from on a host.

use std::sync::Mutex;

use rand_core::{TryCryptoRng, TryRng};
use sesh::RngError;

/// A shared source of cryptographic randomness.
///
/// The default is the operating system's generator ([`OsRandom`]). Tests
/// inject broken or repeating sources to show that sesh fails closed.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `dest`, or fails: never a partial or predictable fill.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        getrandom::fill(dest).map_err(|_| RngError)
    }
}

/// Any rand_core 0.10 generator behind a mutex (for example a seeded
/// ChaCha, or a test generator).
#[derive(Debug)]
pub struct LockedRng<R>(pub Mutex<R>);

impl<R: TryCryptoRng + Send + 'static> RandomSource for LockedRng<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        let mut rng = self.0.lock().map_err(|_| RngError)?;
        rng.try_fill_bytes(dest).map_err(|_| RngError)
    }
}

/// Lets the core's `SessionId::generate` draw from a [`RandomSource`].
pub(crate) struct SourceRng<'a>(pub &'a dyn RandomSource);

impl TryRng for SourceRng<'_> {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        self.0.fill(dst)
    }
}

impl TryCryptoRng for SourceRng<'_> {}
