//! The LAN9118's interrupt line in the Cortex-M NVIC.
#![allow(unsafe_code)]

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;

/// The LAN9118's external interrupt number on QEMU's `mps2-an385` and
/// `mps2-an386` (exception 29, vector table entry 16 + 13). AN511 uses 47.
pub const MPS2_AN386_IRQ: u16 = 13;

/// The LAN9118's interrupt, for the `cortex_m::peripheral::NVIC` functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lan9118Interrupt;

// SAFETY: a single value that always maps to the same number, the LAN9118's
// device interrupt, which no other interrupt type of this crate claims.
unsafe impl InterruptNumber for Lan9118Interrupt {
    fn number(self) -> u16 {
        MPS2_AN386_IRQ
    }
}

/// Forgets the line's pending state and unmasks it in the NVIC. Call it
/// once [`Lan9118::new`](super::Lan9118::new) has returned `Ok`: until the
/// driver set IRQ_CFG, QEMU held the line asserted, which left it pending.
pub fn unmask_interrupt() {
    NVIC::unpend(Lan9118Interrupt);
    // SAFETY: unmasking can only break critical sections built by masking
    // this line in the NVIC; this board's critical sections disable all
    // interrupts instead (cortex-m's single-core implementation).
    unsafe { NVIC::unmask(Lan9118Interrupt) }
}
