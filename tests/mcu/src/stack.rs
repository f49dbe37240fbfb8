//! Stack painting: how deep a piece of code goes.
//!
//! The only unsafe code in the project's test runners: painting means writing
//! to memory below the stack pointer, which safe Rust cannot name.
#![allow(unsafe_code)]

const PAINT: u32 = 0x5E5E_5E5E;

/// Paints `bytes` of the stack below the current stack pointer.
#[inline(never)]
pub fn paint(bytes: usize) -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    // Leave a margin for this function's own frame.
    let top = sp - 64;
    let bottom = top - bytes;
    let mut at = bottom;
    while at < top {
        // SAFETY: [bottom, top) is below the live stack and above the stack
        // limit (the runner paints far less than the board's RAM).
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
    bottom
}

/// The deepest stack use since `paint`, in bytes below `sp_before`.
#[inline(never)]
pub fn used(bottom: usize, sp_before: usize) -> usize {
    let mut at = bottom;
    // SAFETY: the same painted region as above, now only read.
    while at < sp_before && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    sp_before - at
}
