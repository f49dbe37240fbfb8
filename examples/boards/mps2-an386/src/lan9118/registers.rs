//! How the driver reaches the device: 32-bit register reads and writes by
//! offset, so the same driver code runs on the board (memory-mapped, see
//! [`MmioRegisters`](super::MmioRegisters)) and against a model in host tests.

/// 32-bit access to the LAN9118's registers, by byte offset from its base.
///
/// Reads of the FIFO ports have side effects (they pop), hence the device,
/// not the caller, decides what a read means. Implementations must perform
/// each access exactly once and in program order (volatile on hardware).
pub trait Registers {
    /// Reads the 32-bit register at `offset`.
    fn read(&self, offset: u32) -> u32;
    /// Writes `value` to the 32-bit register at `offset`.
    fn write(&self, offset: u32, value: u32);
}

impl<T: Registers + ?Sized> Registers for &T {
    fn read(&self, offset: u32) -> u32 {
        T::read(self, offset)
    }

    fn write(&self, offset: u32, value: u32) {
        T::write(self, offset, value);
    }
}
