//! Bounded busy-waits on register bits. The device answers within
//! microseconds (QEMU at once), so a bit that never changes is reported as
//! an error instead of hanging the firmware.

use super::{Error, Registers};

/// How many reads a wait makes before giving up: tens of milliseconds on a
/// 25 MHz Cortex-M, far beyond the datasheet's worst cases.
const MAX_POLLS: u32 = 100_000;

/// Reads `offset` until the bits in `mask` are all clear.
pub(crate) fn until_clear<R: Registers + ?Sized>(
    registers: &R,
    offset: u32,
    mask: u32,
    on_timeout: Error,
) -> Result<(), Error> {
    until(registers, offset, |value| value & mask == 0, on_timeout)
}

/// Reads `offset` until the bits in `mask` are all set.
pub(crate) fn until_set<R: Registers + ?Sized>(
    registers: &R,
    offset: u32,
    mask: u32,
    on_timeout: Error,
) -> Result<(), Error> {
    until(registers, offset, |value| value & mask == mask, on_timeout)
}

fn until<R: Registers + ?Sized>(
    registers: &R,
    offset: u32,
    done: impl Fn(u32) -> bool,
    on_timeout: Error,
) -> Result<(), Error> {
    for _ in 0..MAX_POLLS {
        if done(registers.read(offset)) {
            return Ok(());
        }
    }
    Err(on_timeout)
}
