//! The LAN9118 as the CPU sees it: registers mapped into memory.
#![allow(unsafe_code)]

use super::Registers;

/// Where QEMU's `mps2-an385`/`mps2-an386` machines map the LAN9118.
pub const MPS2_AN386_BASE: usize = 0x4020_0000;

/// The LAN9118's register window spans 256 bytes.
const WINDOW_MASK: u32 = 0xFC;

/// The registers of a LAN9118 mapped at a fixed address, accessed with
/// volatile 32-bit loads and stores.
#[derive(Clone, Copy, Debug)]
pub struct MmioRegisters {
    base: usize,
}

impl MmioRegisters {
    /// A handle to the LAN9118 whose 256-byte register window starts at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be the 4-byte-aligned address of a LAN9118's register
    /// window (for example [`MPS2_AN386_BASE`] on QEMU's MPS2 machines), and
    /// nothing but this driver and its interrupt handler may access that
    /// device while handles exist.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// The address of the register at `offset`, kept inside the window and
    /// word aligned whatever the offset.
    fn address(&self, offset: u32) -> usize {
        self.base.wrapping_add((offset & WINDOW_MASK) as usize)
    }
}

impl Registers for MmioRegisters {
    fn read(&self, offset: u32) -> u32 {
        let register = self.address(offset) as *const u32;
        // SAFETY: `new`'s contract makes `base` an aligned LAN9118 window that
        // only this driver uses; `address` keeps the access word aligned and
        // inside the window, and a register read has no memory-safety effect.
        unsafe { register.read_volatile() }
    }

    fn write(&self, offset: u32, value: u32) {
        let register = self.address(offset) as *mut u32;
        // SAFETY: as for `read`: an aligned device register inside the window
        // that `new`'s caller dedicated to this driver.
        unsafe { register.write_volatile(value) }
    }
}
