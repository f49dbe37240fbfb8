//! The embassy-time driver: tickless, on the two CMSDK APB timers of the
//! MPS2 (25 MHz, 32-bit down counters; QEMU's hw/timer/cmsdk-apb-timer.c).
//!
//! - TIMER0 (`0x4000_0000`, IRQ 8) runs free from `0xFFFF_FFFF` down and
//!   wraps every 2^32 cycles (172 s). The clock is the 64-bit count of
//!   cycles: the last value seen plus the distance travelled since, which
//!   is right as long as it is looked at at least once per wrap; the wrap
//!   interrupt guarantees that.
//! - TIMER1 (`0x4000_1000`, IRQ 9) is the alarm: loaded with the cycles to
//!   the next deadline (at most [`MAX_ALARM_CYCLES`], about 86 s, then it
//!   is simply set again), it interrupts on reaching 0 and is stopped.
//!
//! Between deadlines no interrupt fires, so the executor's `wfi` sleeps and
//! QEMU idles. embassy-time ticks at 1 MHz (`tick-hz-1_000_000`): 25 cycles
//! a tick, exactly, so the clock never drifts from QEMU's virtual time
//! (which follows the host's clock while the guest runs).
//!
//! The timer queue is embassy-time-queue-utils' (the executor's integrated
//! one), behind a critical section.
#![allow(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::Waker;

use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

use crate::interrupts::{self, Irq};

const TIMER0: usize = 0x4000_0000;
const TIMER1: usize = 0x4000_1000;

/// Register offsets of a CMSDK APB timer.
const CTRL: usize = 0x0;
const VALUE: usize = 0x4;
const RELOAD: usize = 0x8;
const INTSTATUS: usize = 0xC;

/// CTRL: enable, interrupt enable.
const CTRL_ENABLE: u32 = 1 << 0;
const CTRL_IRQ_ENABLE: u32 = 1 << 3;

/// Timer cycles per embassy-time tick: 25 MHz / 1 MHz.
const CYCLES_PER_TICK: u64 = 25;

/// The longest alarm in cycles (half the counter's range, about 86 s).
pub const MAX_ALARM_CYCLES: u32 = 1 << 31;

// The tick rate this driver is written for.
const _: () = assert!(embassy_time_driver::TICK_HZ == 1_000_000);

fn write(timer: usize, register: usize, value: u32) {
    // SAFETY: `timer` is one of the two CMSDK APB timers QEMU maps on the
    // MPS2 and `register` one of its documented offsets; only this module
    // touches them, always inside a critical section (or before the
    // interrupts are unmasked).
    unsafe { core::ptr::write_volatile(timer.wrapping_add(register) as *mut u32, value) }
}

fn read(timer: usize, register: usize) -> u32 {
    // SAFETY: as for `write`; reading VALUE or INTSTATUS has no side effect.
    unsafe { core::ptr::read_volatile(timer.wrapping_add(register) as *const u32) }
}

struct CmsdkTimeDriver {
    started: AtomicBool,
    /// The 64-bit cycle count when the clock was last read.
    last_cycles: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl CmsdkTimeDriver {
    /// Cycles since [`init`]. Monotonic as long as it runs at least once
    /// per 2^32 cycles, which TIMER0's wrap interrupt ensures.
    fn cycles(&self, cs: CriticalSection<'_>) -> u64 {
        if !self.started.load(Ordering::Acquire) {
            return 0;
        }
        // The counter runs down from u32::MAX: its distance from there is
        // the position within the current wrap.
        let position = u64::from(u32::MAX.wrapping_sub(read(TIMER0, VALUE)));
        let last = self.last_cycles.borrow(cs);
        let previous = last.get();
        let mut wraps = previous >> 32;
        if position < previous & u64::from(u32::MAX) {
            wraps = wraps.saturating_add(1);
        }
        let now = (wraps << 32) | position;
        last.set(now);
        now
    }

    fn ticks(&self, cs: CriticalSection<'_>) -> u64 {
        self.cycles(cs) / CYCLES_PER_TICK
    }

    /// Arms TIMER1 for tick `at`; false if `at` has passed already (the
    /// caller then handles the expired timers and asks again).
    fn set_alarm(&self, cs: CriticalSection<'_>, at: u64) -> bool {
        write(TIMER1, CTRL, 0);
        write(TIMER1, INTSTATUS, 1);
        if at == u64::MAX {
            return true; // nothing to wait for
        }
        let now = self.ticks(cs);
        let Some(ahead) = at.checked_sub(now).filter(|&t| t > 0) else {
            return false;
        };
        // `now` is rounded down, so this many cycles never ends early.
        let cycles = ahead
            .saturating_mul(CYCLES_PER_TICK)
            .min(u64::from(MAX_ALARM_CYCLES)) as u32;
        // Writing RELOAD also loads VALUE; the interrupt comes when VALUE
        // goes from 1 to 0, `cycles` cycles from now.
        write(TIMER1, RELOAD, cycles);
        write(TIMER1, CTRL, CTRL_ENABLE | CTRL_IRQ_ENABLE);
        true
    }

    /// Wakes the expired timers and arms the alarm for the next one.
    fn service_queue(&self, cs: CriticalSection<'_>) {
        let mut queue = self.queue.borrow_ref_mut(cs);
        let mut next = queue.next_expiration(self.ticks(cs));
        while !self.set_alarm(cs, next) {
            next = queue.next_expiration(self.ticks(cs));
        }
    }
}

impl Driver for CmsdkTimeDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let changed = self.queue.borrow_ref_mut(cs).schedule_wake(at, waker);
            if changed {
                self.service_queue(cs);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: CmsdkTimeDriver = CmsdkTimeDriver {
    started: AtomicBool::new(false),
    last_cycles: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts the clock (TIMER0) and the alarm's interrupt (TIMER1). Call once
/// at boot, before anything waits on a timer; until then the clock reads 0.
pub fn init() {
    critical_section::with(|_| {
        write(TIMER0, CTRL, 0);
        write(TIMER0, INTSTATUS, 1);
        // RELOAD also loads VALUE: the count starts at u32::MAX now.
        write(TIMER0, RELOAD, u32::MAX);
        write(TIMER0, CTRL, CTRL_ENABLE | CTRL_IRQ_ENABLE);
        write(TIMER1, CTRL, 0);
        write(TIMER1, INTSTATUS, 1);
        DRIVER.started.store(true, Ordering::Release);
    });
    interrupts::unmask(Irq::Timer0);
    interrupts::unmask(Irq::Timer1);
}

/// TIMER0 wrapped (IRQ 8): read the clock so that the wrap is counted.
pub(crate) fn on_clock_wrap() {
    critical_section::with(|cs| {
        write(TIMER0, INTSTATUS, 1);
        DRIVER.cycles(cs);
    });
}

/// TIMER1 reached its deadline (IRQ 9).
pub(crate) fn on_alarm() {
    critical_section::with(|cs| {
        write(TIMER1, CTRL, 0);
        write(TIMER1, INTSTATUS, 1);
        DRIVER.service_queue(cs);
    });
}
