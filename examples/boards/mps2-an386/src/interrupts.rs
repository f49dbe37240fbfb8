//! Device interrupts without a PAC: cortex-m-rt (without its `device`
//! feature) points all 240 device vectors at `DefaultHandler`, and the
//! `DefaultHandler` here dispatches by IRQ number.
//!
//! | IRQ | device (QEMU hw/arm/mps2.c, AN386) | handler |
//! |-----|-------------------------------------|---------|
//! | 8   | CMSDK APB TIMER0                    | the clock's wrap ([`crate::time_driver`]) |
//! | 9   | CMSDK APB TIMER1                    | the alarm ([`crate::time_driver`]) |
//! | 13  | LAN9118 Ethernet                    | [`crate::ethernet`] |
//!
//! Any other exception that reaches `DefaultHandler` (NMI, SVCall, PendSV,
//! SysTick, an IRQ without a handler) is reported and ends QEMU with
//! status 1. The fault exceptions have their own entry ([`crate::faults`]).
#![allow(unsafe_code)]

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;

/// The device interrupts this board uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Irq {
    /// CMSDK APB TIMER0: the time driver's clock.
    Timer0 = 8,
    /// CMSDK APB TIMER1: the time driver's alarm.
    Timer1 = 9,
    /// The LAN9118 Ethernet controller.
    Ethernet = 13,
}

// SAFETY: the values are the MPS2 AN386's device interrupt numbers, all
// below the 32 external interrupts QEMU gives its NVIC.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

/// Lets `irq` through the NVIC. Its handler must be ready (its state
/// initialised) before this is called.
pub fn unmask(irq: Irq) {
    // SAFETY: the handlers take their own critical sections for shared
    // state, so letting an interrupt through cannot break a critical
    // section in progress (no mask-based critical section is used).
    unsafe { NVIC::unmask(irq) }
}

/// Masks `irq` in the NVIC.
pub fn mask(irq: Irq) {
    NVIC::mask(irq);
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match irqn {
        8 => crate::time_driver::on_clock_wrap(),
        9 => crate::time_driver::on_alarm(),
        13 => crate::ethernet::on_interrupt(),
        other => crate::faults::unexpected_exception(other),
    }
}
