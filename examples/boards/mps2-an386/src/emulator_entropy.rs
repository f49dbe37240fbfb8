//! ⚠️ **Emulator only: never use this on a product.** Randomness from the
//! *host's* `/dev/urandom`, read through semihosting.
//!
//! QEMU's MPS2 AN386 has no TRNG, so the firmware borrows the host's: a
//! session id is only as unpredictable as its RNG's seed, and a constant,
//! a clock or the MAC address would repeat or narrow down every id. On real
//! hardware, seed from the chip's TRNG (see the NUCLEO board) and drop this
//! module: semihosting does not exist there.
//!
//! [`HostEntropy`] implements rand_core 0.10's `TryRng` and
//! `TryCryptoRng`, so the boot code reads it like the NUCLEO reads its
//! TRNG:
//!
//! ```ignore
//! let mut entropy = HostEntropy::open()?;
//! let session_rng = ChaCha20Rng::try_from_rng(&mut entropy)?; // 256-bit seed
//! let net_seed = entropy.try_next_u64()?;                      // smoltcp's seed
//! ```
//!
//! A short read is an error, never a silently weaker seed.

use core::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

use crate::semihosting::{HostError, HostFile, OpenMode};

/// The host device read for entropy.
const SOURCE: &core::ffi::CStr = c"/dev/urandom";

/// The host's randomness could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntropyError(pub HostError);

impl fmt::Display for EntropyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no entropy: cannot read the host's /dev/urandom through semihosting ({}); \
             is QEMU started with -semihosting-config enable=on,target=native?",
            self.0
        )
    }
}

impl core::error::Error for EntropyError {}

/// ⚠️ Emulator only. The host's `/dev/urandom`, open for reading.
#[derive(Debug)]
pub struct HostEntropy {
    file: HostFile,
}

impl HostEntropy {
    /// Opens the host's `/dev/urandom`.
    pub fn open() -> Result<HostEntropy, EntropyError> {
        let file = HostFile::open(SOURCE, OpenMode::Read).map_err(EntropyError)?;
        Ok(HostEntropy { file })
    }

    /// Closes the host file.
    pub fn close(self) -> Result<(), EntropyError> {
        self.file.close().map_err(EntropyError)
    }
}

impl TryRng for HostEntropy {
    type Error = EntropyError;

    fn try_next_u32(&mut self) -> Result<u32, EntropyError> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, EntropyError> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), EntropyError> {
        self.file.read_exact(dst).map_err(EntropyError)
    }
}

/// `/dev/urandom` is a CSPRNG; the trait says so to the session code.
impl TryCryptoRng for HostEntropy {}

/// ⚠️ Emulator only. What the boot code needs from the host: the session
/// RNG (a ChaCha20 seeded with 32 host bytes) and embassy-net's seed.
pub struct BootRandomness {
    /// Session ids and CSRF tokens come from this.
    pub session_rng: ChaCha20Rng,
    /// For smoltcp (TCP initial sequence numbers, DHCP transaction ids).
    pub net_seed: u64,
}

/// Reads [`BootRandomness`] from `entropy`: fails unless it gets all
/// 32 + 8 bytes.
pub fn boot_randomness(entropy: &mut HostEntropy) -> Result<BootRandomness, EntropyError> {
    let session_rng = ChaCha20Rng::try_from_rng(entropy)?;
    let net_seed = entropy.try_next_u64()?;
    Ok(BootRandomness {
        session_rng,
        net_seed,
    })
}
