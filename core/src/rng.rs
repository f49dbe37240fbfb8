//! Randomness comes from the caller: a rand_core 0.10 `TryCryptoRng`.

use core::fmt;

use rand_core::{TryCryptoRng, TryRng};

/// The random number generator failed, so no id was made.
///
/// sesh never falls back to a weaker id: creation fails closed.
///
/// ```
/// # struct Broken; // a generator that always fails
/// # impl rand_core::TryRng for Broken {
/// #     type Error = core::fmt::Error;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Err(core::fmt::Error) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Err(core::fmt::Error) }
/// #     fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> { Err(core::fmt::Error) }
/// # }
/// # impl rand_core::TryCryptoRng for Broken {}
/// use sesh::{RngError, SessionId};
/// let err = SessionId::generate(&mut Broken).unwrap_err();
/// assert_eq!(err, RngError);
/// assert_eq!(err.to_string(), "the random number generator failed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RngError;

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random number generator failed")
    }
}

impl core::error::Error for RngError {}

/// Fills `buf` from `rng`, mapping its error to [`RngError`].
pub(crate) fn fill<R: TryCryptoRng + ?Sized>(rng: &mut R, buf: &mut [u8]) -> Result<(), RngError> {
    TryRng::try_fill_bytes(rng, buf).map_err(|_| RngError)
}

/// Adapts a rand_core **0.9** cryptographic RNG to rand_core 0.10.
///
/// embassy-rp (`Trng`, `RoscRng`) and embassy-stm32 (`Rng`) implement only
/// rand_core 0.6/0.9 today. Wrap such a generator to hand it to sesh:
///
/// ```
/// # struct Trng; // stands in for embassy_stm32::rng::Rng
/// # impl rand_core_09::TryRngCore for Trng {
/// #     type Error = core::convert::Infallible;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(7) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(7) }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { d.fill(7); Ok(()) }
/// # }
/// # impl rand_core_09::TryCryptoRng for Trng {}
/// use sesh::{rng::Rng09, SessionId};
/// let mut rng = Rng09(Trng);
/// let id = SessionId::generate(&mut rng)?;
/// # Ok::<(), sesh::RngError>(())
/// ```
///
/// Only wrap a generator that really is cryptographic (a hardware TRNG, or a
/// ChaCha generator seeded from one). The 0.9 `TryCryptoRng` bound is the
/// generator author's promise of that, and this bridge can check nothing
/// more. ⚠️ embassy-rp makes that promise for `RoscRng` too, so the bridge
/// accepts it, but on the RP2040 it reads the ring oscillator's `RANDOMBIT`
/// one bit at a time: the bits are biased and correlated (they follow the
/// oscillator's frequency, voltage and temperature), nothing conditions them,
/// and the datasheet does not offer them as a cryptographic source. Prefer
/// the RP2350's `Trng`; on an RP2040, hash many ROSC bits (with anything
/// unique to the device) into a seed for a ChaCha generator, or provision a
/// seed at manufacture.
#[cfg(feature = "rand_core_09")]
#[derive(Debug)]
pub struct Rng09<R>(pub R);

/// The wrapped rand_core 0.9 generator reported an error.
///
/// ```
/// # struct Broken; // stands in for a hardware RNG that faulted
/// # impl rand_core_09::TryRngCore for Broken {
/// #     type Error = core::fmt::Error;
/// #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Err(core::fmt::Error) }
/// #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Err(core::fmt::Error) }
/// #     fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> { Err(core::fmt::Error) }
/// # }
/// # impl rand_core_09::TryCryptoRng for Broken {}
/// use rand_core::TryRng;
/// use sesh::rng::{Rng09, Rng09Error};
/// let err = Rng09(Broken).try_next_u32().unwrap_err();
/// assert_eq!(err, Rng09Error);
/// assert_eq!(err.to_string(), "the rand_core 0.9 generator failed");
/// ```
#[cfg(feature = "rand_core_09")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rng09Error;

#[cfg(feature = "rand_core_09")]
impl fmt::Display for Rng09Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the rand_core 0.9 generator failed")
    }
}

#[cfg(feature = "rand_core_09")]
impl core::error::Error for Rng09Error {}

#[cfg(feature = "rand_core_09")]
impl<R: rand_core_09::TryCryptoRng> TryRng for Rng09<R> {
    type Error = Rng09Error;

    fn try_next_u32(&mut self) -> Result<u32, Rng09Error> {
        self.0.try_next_u32().map_err(|_| Rng09Error)
    }

    fn try_next_u64(&mut self) -> Result<u64, Rng09Error> {
        self.0.try_next_u64().map_err(|_| Rng09Error)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Rng09Error> {
        self.0.try_fill_bytes(dst).map_err(|_| Rng09Error)
    }
}

#[cfg(feature = "rand_core_09")]
impl<R: rand_core_09::TryCryptoRng> TryCryptoRng for Rng09<R> {}
