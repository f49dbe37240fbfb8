//! What the driver and the board's interrupt handler share: the registers,
//! one waker per event, and the counters. It lives in a `static`.

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_sync::waitqueue::AtomicWaker;

use super::Registers;
use super::regs::{INT_EN, INT_STS, int};
use super::stats::{Counters, Stats};

/// The state shared by the [`Lan9118`](super::Lan9118) driver and the
/// board's interrupt handler, meant for a `static`:
///
/// ```ignore
/// static LAN9118: State<MmioRegisters> =
///     // SAFETY: QEMU's MPS2 machines map a LAN9118 there, used by nothing else.
///     State::new(unsafe { MmioRegisters::new(MPS2_AN386_BASE) });
/// ```
///
/// The interrupt handler calls [`State::on_interrupt`]; the driver holds a
/// `&'static` to the same value.
pub struct State<R> {
    registers: R,
    pub(crate) rx_waker: AtomicWaker,
    pub(crate) tx_waker: AtomicWaker,
    pub(crate) link_waker: AtomicWaker,
    /// Set by the interrupt handler when the PHY interrupted, cleared by the
    /// driver when it has read the PHY.
    pub(crate) phy_event: AtomicBool,
    pub(crate) counters: Counters,
}

impl<R: Registers> State<R> {
    /// Shared state for the device behind `registers`.
    pub const fn new(registers: R) -> Self {
        Self {
            registers,
            rx_waker: AtomicWaker::new(),
            tx_waker: AtomicWaker::new(),
            link_waker: AtomicWaker::new(),
            phy_event: AtomicBool::new(false),
            counters: Counters::new(),
        }
    }

    /// Handles the LAN9118's interrupt: call it from the board's handler for
    /// the device's line (IRQ 13 on QEMU's MPS2 machines).
    ///
    /// It masks every enabled source that fired (so the level-triggered line
    /// drops even for sources that stay asserted until the driver has dealt
    /// with them, like the PHY), acknowledges them, and wakes the driver's
    /// task for each. The driver re-enables a source once it has handled it.
    /// A call with nothing pending does nothing.
    pub fn on_interrupt(&self) {
        let enabled = self.registers.read(INT_EN);
        let fired = self.registers.read(INT_STS) & enabled;
        if fired == 0 {
            return;
        }
        self.counters.interrupts.bump();
        // Writing SW to INT_EN would raise a software interrupt: never do it.
        self.registers.write(INT_EN, enabled & !fired & !int::SW);
        self.registers.write(INT_STS, fired);
        if fired & int::RSFL != 0 {
            self.rx_waker.wake();
        }
        if fired & int::TDFA != 0 {
            self.tx_waker.wake();
        }
        if fired & int::PHY != 0 {
            self.phy_event.store(true, Ordering::Release);
            self.link_waker.wake();
        }
    }

    /// The driver's counters so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    pub(crate) fn registers(&self) -> &R {
        &self.registers
    }

    /// Clears latched `sources` in INT_STS: done before re-enabling them, and
    /// before the last look at the condition, so only later events interrupt.
    pub(crate) fn acknowledge(&self, sources: u32) {
        self.registers.write(INT_STS, sources);
    }

    /// Enables `sources` in INT_EN.
    pub(crate) fn enable(&self, sources: u32) {
        self.update_enabled(|enabled| enabled | sources);
    }

    /// Disables `sources` in INT_EN.
    pub(crate) fn disable(&self, sources: u32) {
        self.update_enabled(|enabled| enabled & !sources);
    }

    fn update_enabled(&self, change: impl FnOnce(u32) -> u32) {
        // The interrupt handler also rewrites INT_EN: keep it out of this
        // read-modify-write so neither undoes the other's change.
        critical_section::with(|_| {
            let enabled = self.registers.read(INT_EN);
            self.registers.write(INT_EN, change(enabled) & !int::SW);
        });
    }
}
