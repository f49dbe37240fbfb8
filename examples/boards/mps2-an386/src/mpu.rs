//! The MPU (PMSAv7, 8 regions on the Cortex-M4): a guard below the stack,
//! the image read-only, RAM never executable.
//!
//! QEMU maps nearly the whole address space below RAM as "unimplemented
//! devices" that swallow writes without a bus fault, so without the guard a
//! stack overflow would write into nothing and read back zeros. With it,
//! the first push below the stack is a MemManage fault ([`crate::faults`]
//! reports it as a stack overflow).
//!
//! | region | base          | size    | access                           |
//! |--------|---------------|---------|----------------------------------|
//! | 0      | `0x0000_0000` | 8 MiB   | read-only, executable (SSRAM1 and its mirror: the image) |
//! | 1      | `0x1000_0000` | 256 MiB | none: the stack guard, as large as any stack frame can jump |
//! | 2      | `0x2000_0000` | 8 MiB   | read-write, never executed (SSRAM2&3 and its mirror) |
//!
//! Everything else (peripherals, the system space) keeps the default map
//! (`PRIVDEFENA`); the firmware runs privileged. HardFault runs with the MPU
//! off (`HFNMIENA` clear), so the fault report can always run.
#![allow(unsafe_code)]

/// MPU_CTRL, MPU_RNR, MPU_RBAR, MPU_RASR.
const MPU_CTRL: usize = 0xE000_ED94;
const MPU_RNR: usize = 0xE000_ED98;
const MPU_RBAR: usize = 0xE000_ED9C;
const MPU_RASR: usize = 0xE000_EDA0;

const CTRL_ENABLE: u32 = 1 << 0;
const CTRL_PRIVDEFENA: u32 = 1 << 2;

const RASR_ENABLE: u32 = 1;
const RASR_XN: u32 = 1 << 28;
const AP_NO_ACCESS: u32 = 0b000 << 24;
const AP_READ_WRITE: u32 = 0b011 << 24;
const AP_READ_ONLY: u32 = 0b110 << 24;
/// Normal memory, write-back (TEX 0, C 1, B 1); QEMU ignores caching.
const NORMAL: u32 = (1 << 17) | (1 << 16);

/// The guard's base and size: everything from 256 MiB up to RAM.
pub const GUARD_BASE: usize = 0x1000_0000;
/// See [`GUARD_BASE`].
pub const GUARD_SIZE: usize = 0x1000_0000;

/// RASR's SIZE field for a power-of-two region of `bytes` (at least 32).
const fn size_field(bytes: usize) -> u32 {
    // A region of 2^(SIZE + 1) bytes.
    (bytes.trailing_zeros().saturating_sub(1)) << 1
}

/// Whether `address` lies in the stack guard.
pub fn in_guard(address: usize) -> bool {
    (GUARD_BASE..GUARD_BASE.saturating_add(GUARD_SIZE)).contains(&address)
}

/// Programs the three regions and turns the MPU on. Call once, early.
pub fn enable() {
    let regions: [(u32, u32); 3] = [
        (0x0000_0000, AP_READ_ONLY | NORMAL | size_field(8 << 20)),
        (
            GUARD_BASE as u32,
            AP_NO_ACCESS | RASR_XN | size_field(GUARD_SIZE),
        ),
        (
            0x2000_0000,
            AP_READ_WRITE | RASR_XN | NORMAL | size_field(8 << 20),
        ),
    ];
    // SAFETY: the MPU registers are architectural (ARMv7-M, always present
    // on the Cortex-M4); the regions cover only memory whose use they
    // allow (the image is never written after reset, nothing runs from
    // RAM, nothing lives in the guard), and the barriers make the new map
    // apply before the next instruction.
    unsafe {
        core::ptr::write_volatile(MPU_CTRL as *mut u32, 0);
        for (number, (base, attributes)) in (0u32..).zip(regions) {
            core::ptr::write_volatile(MPU_RNR as *mut u32, number);
            core::ptr::write_volatile(MPU_RBAR as *mut u32, base);
            core::ptr::write_volatile(MPU_RASR as *mut u32, attributes | RASR_ENABLE);
        }
        core::ptr::write_volatile(MPU_CTRL as *mut u32, CTRL_ENABLE | CTRL_PRIVDEFENA);
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}
