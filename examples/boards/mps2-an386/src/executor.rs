//! The thread-mode executor: embassy's raw executor, sleeping with `wfi`.
//!
//! embassy-executor's cortex-m platform sleeps with `wfe` and wakes itself
//! with `sev`. QEMU implements `wfe` as a plain yield that returns at once,
//! so an idle firmware would spin at 100 % of a host core; `wfi` really
//! halts the emulated CPU until an interrupt. Here the `__pender` sets a
//! flag, and the loop sleeps only when no task was woken since the last
//! poll, checked with interrupts masked so that no wake-up slips between
//! the check and the `wfi` (a pending interrupt ends `wfi` even while
//! masked; it is taken right after).
//!
//! Every image of this board runs its tasks with [`run`], from its
//! `#[cortex_m_rt::entry]` function.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{Spawner, raw};
use static_cell::StaticCell;

/// Set when a task was woken and the executor must poll again.
static WORK_PENDING: AtomicBool = AtomicBool::new(true);

/// embassy-executor calls this (by its link name) whenever a task is woken,
/// from a task or from an interrupt handler.
#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WORK_PENDING.store(true, Ordering::Release);
}

/// Runs the executor forever: `init` spawns the first tasks.
pub fn run(init: impl FnOnce(Spawner)) -> ! {
    static EXECUTOR: StaticCell<raw::Executor> = StaticCell::new();
    let executor: &'static raw::Executor = EXECUTOR.init(raw::Executor::new(core::ptr::null_mut()));
    init(executor.spawner());
    loop {
        // SAFETY: `poll` is called from this loop only, in thread mode,
        // never re-entered, and the executor is `'static`.
        unsafe {
            executor.poll();
        }
        cortex_m::interrupt::free(|_| {
            if !WORK_PENDING.swap(false, Ordering::AcqRel) {
                cortex_m::asm::wfi();
            }
        });
    }
}
