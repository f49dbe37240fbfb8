//! The main stack's high-water mark.
//!
//! The stack is the `STACK` region of `memory.x`, at the bottom of RAM:
//! `_stack_end` (lowest address) to `_stack_start` (the initial stack
//! pointer). cortex-m-rt's `paint-stack` feature fills it with
//! [`cortex_m_rt::STACK_PAINT_VALUE`] at reset; the deepest word that no
//! longer holds the paint is as far as the stack (the firmware's and the
//! interrupt handlers', they share it) has ever reached.
#![allow(unsafe_code)]

use embassy_time::{Duration, Timer};

unsafe extern "C" {
    /// The stack's lowest address (cortex-m-rt's name).
    static _stack_end: u32;
    /// The stack's top, the initial stack pointer (cortex-m-rt's name).
    static _stack_start: u32;
}

/// The stack's lowest address: below it lies the MPU guard.
pub fn bottom() -> usize {
    core::ptr::addr_of!(_stack_end) as usize
}

/// The stack's top, where it starts.
pub fn top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

/// The stack's size in bytes.
pub fn size_bytes() -> usize {
    top().saturating_sub(bottom())
}

/// The most stack ever used since reset, in bytes.
pub fn peak_bytes() -> usize {
    let mut address = bottom();
    while address < top() {
        // SAFETY: `address` is word-aligned and inside the linker's STACK
        // region, plain RAM that is always mapped; a volatile read of a word
        // has no side effect and makes no reference to it.
        let word = unsafe { core::ptr::read_volatile(address as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        address = address.saturating_add(4);
    }
    top().saturating_sub(address)
}

/// How often [`run_monitor`] looks.
pub const MONITOR_PERIOD: Duration = Duration::from_secs(1);

/// Prints `stack: peak N of M bytes` over semihosting at start and then
/// whenever the peak has grown, checking once every [`MONITOR_PERIOD`].
/// Tests read the last such line after a flood of requests.
pub async fn run_monitor() -> ! {
    let mut reported = 0;
    loop {
        let peak = peak_bytes();
        if peak > reported {
            crate::println!("stack: peak {} of {} bytes", peak, size_bytes());
            reported = peak;
        }
        Timer::after(MONITOR_PERIOD).await;
    }
}

/// [`run_monitor`] as a task: `spawner.spawn(stack::monitor_task().unwrap_or_else(..))`.
#[embassy_executor::task]
pub async fn monitor_task() -> ! {
    run_monitor().await
}
