//! Panics, faults and stack overflows end QEMU with a readable message and
//! exit status 1, never with a hang.
//!
//! - [`#[panic_handler]`](panic): `panic: <file>:<line>:<col>: <message>`.
//! - HardFault, MemManage, BusFault and UsageFault share one entry in
//!   assembly. It moves the stack pointer to a stack of its own before any
//!   Rust code runs, because a stack overflow leaves the normal stack
//!   pointer inside the MPU guard, where every push faults again. Then it
//!   prints the fault, the faulting PC, LR and xPSR (when the exception
//!   frame could be pushed), the fault status registers, and whether the
//!   stack overflowed.
//! - [`init`] enables MemManage, BusFault and UsageFault (so they are
//!   reported as themselves, not as an escalated HardFault) and the MPU
//!   guard ([`crate::mpu`]).
//!
//! QEMU has no lockup state: a fault it cannot escalate (a fault while this
//! report runs, say) ends QEMU with `qemu: fatal: Lockup: can't escalate 3
//! to HardFault` and a register dump, and an abort status (134).
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::fmt;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::semihosting::exit;
use crate::{mpu, stack};

/// System control registers (ARMv7-M).
const ICSR: usize = 0xE000_ED04;
const SHCSR: usize = 0xE000_ED24;
const CFSR: usize = 0xE000_ED28;
const HFSR: usize = 0xE000_ED2C;
const MMFAR: usize = 0xE000_ED34;
const BFAR: usize = 0xE000_ED38;

/// SHCSR: MEMFAULTENA, BUSFAULTENA, USGFAULTENA.
const FAULTS_ENABLED: u32 = (1 << 16) | (1 << 17) | (1 << 18);

/// The report's own stack (the `.bss`, far above the main stack).
const FAULT_STACK_SIZE: usize = 8192;

#[repr(C, align(8))]
struct FaultStack(UnsafeCell<[u8; FAULT_STACK_SIZE]>);

// SAFETY: only the fault entry touches it, as a stack, and a second fault
// while the report runs is a lockup (QEMU stops) or is cut short by
// `REPORTING` before it uses much of it.
unsafe impl Sync for FaultStack {}

static FAULT_STACK: FaultStack = FaultStack(UnsafeCell::new([0; FAULT_STACK_SIZE]));

/// Set by the first report; a fault inside the report ends QEMU at once.
static REPORTING: AtomicBool = AtomicBool::new(false);

// The four fault vectors. cortex-m-rt's link.x only `PROVIDE`s defaults for
// them, so these global symbols take their places in the vector table.
//
// r0 = the exception frame (MSP or PSP, by EXC_RETURN bit 2), r1 =
// EXC_RETURN; then MSP moves to the top of FAULT_STACK; FPCCR.LSPACT is
// cleared so that no lazy floating-point state is ever pushed into a frame
// that may lie in the guard (QEMU would lock up); then the Rust report.
core::arch::global_asm!(
    ".section .text.mps2_fault_entry, \"ax\", %progbits",
    ".global HardFault",
    ".global MemoryManagement",
    ".global BusFault",
    ".global UsageFault",
    ".type HardFault, %function",
    ".type MemoryManagement, %function",
    ".type BusFault, %function",
    ".type UsageFault, %function",
    ".thumb_func",
    "HardFault:",
    ".thumb_func",
    "MemoryManagement:",
    ".thumb_func",
    "BusFault:",
    ".thumb_func",
    "UsageFault:",
    "    tst lr, #4",
    "    ite eq",
    "    mrseq r0, msp",
    "    mrsne r0, psp",
    "    mov r1, lr",
    "    ldr r2, ={stack} + {stack_size}",
    "    msr msp, r2",
    "    ldr r3, =0xE000EF34",
    "    ldr r2, [r3]",
    "    bic r2, r2, #1",
    "    str r2, [r3]",
    "    b {report}",
    ".size HardFault, . - HardFault",
    stack = sym FAULT_STACK,
    stack_size = const FAULT_STACK_SIZE,
    report = sym report_fault,
);

fn read_register(address: usize) -> u32 {
    // SAFETY: callers pass the architectural system control registers
    // above, always mapped and readable without side effects.
    unsafe { core::ptr::read_volatile(address as *const u32) }
}

/// Enables the configurable faults and the MPU (guard below the stack,
/// read-only image). Call first thing in `main`.
pub fn init() {
    // SAFETY: SHCSR is architectural; setting the three enable bits only
    // routes those faults to their own vectors (the entry above) instead
    // of HardFault.
    unsafe {
        let shcsr = core::ptr::read_volatile(SHCSR as *const u32);
        core::ptr::write_volatile(SHCSR as *mut u32, shcsr | FAULTS_ENABLED);
    }
    mpu::enable();
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    match info.location() {
        Some(at) => crate::println!(
            "panic: {}:{}:{}: {}",
            at.file(),
            at.line(),
            at.column(),
            info.message()
        ),
        None => crate::println!("panic: {}", info.message()),
    }
    exit(false)
}

/// The CPU registers pushed on exception entry.
struct Frame {
    r0: u32,
    r1: u32,
    r2: u32,
    r3: u32,
    r12: u32,
    lr: u32,
    pc: u32,
    xpsr: u32,
}

/// The frame at `sp`, if it lies inside the stack and was pushed.
fn read_frame(sp: u32, stacking_failed: bool) -> Option<Frame> {
    let sp = sp as usize;
    let in_stack = sp >= stack::bottom() && sp.saturating_add(32) <= stack::top();
    if stacking_failed || !in_stack || !sp.is_multiple_of(4) {
        return None;
    }
    let word = |i: usize| {
        // SAFETY: `sp..sp + 32` is inside the stack region (checked
        // above), word-aligned plain RAM the processor just wrote the
        // frame to; the reads have no side effect.
        unsafe { core::ptr::read_volatile((sp as *const u32).wrapping_add(i)) }
    };
    Some(Frame {
        r0: word(0),
        r1: word(1),
        r2: word(2),
        r3: word(3),
        r12: word(4),
        lr: word(5),
        pc: word(6),
        xpsr: word(7),
    })
}

/// The fault's name from the active exception number.
fn exception_name(number: u32) -> &'static str {
    match number {
        2 => "NMI",
        3 => "HardFault",
        4 => "MemManage fault",
        5 => "BusFault",
        6 => "UsageFault",
        _ => "unexpected exception",
    }
}

/// Writes the CFSR/HFSR bits that are set, in words.
struct Causes {
    cfsr: u32,
    hfsr: u32,
    mmfar: u32,
    bfar: u32,
}

impl fmt::Display for Causes {
    /// One `  cause: ...` or `  fault address: ...` line per fact, each
    /// line but the first starting with a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CFSR_BITS: [(u32, &str); 17] = [
            (0, "instruction fetch from a protected address (IACCVIOL)"),
            (1, "data access violation (DACCVIOL)"),
            (3, "MemManage fault while unstacking (MUNSTKERR)"),
            (
                4,
                "MemManage fault while stacking the exception frame (MSTKERR)",
            ),
            (5, "MemManage fault during lazy FP stacking (MLSPERR)"),
            (8, "bus error on instruction fetch (IBUSERR)"),
            (9, "precise bus error on data access (PRECISERR)"),
            (10, "imprecise bus error on data access (IMPRECISERR)"),
            (11, "bus error while unstacking (UNSTKERR)"),
            (12, "bus error while stacking the exception frame (STKERR)"),
            (13, "bus error during lazy FP stacking (LSPERR)"),
            (16, "undefined instruction (UNDEFINSTR)"),
            (
                17,
                "invalid state, e.g. a call to an even address (INVSTATE)",
            ),
            (18, "invalid EXC_RETURN (INVPC)"),
            (19, "no coprocessor (NOCP)"),
            (24, "unaligned access (UNALIGNED)"),
            (25, "division by zero (DIVBYZERO)"),
        ];
        let mut out = Lines { f, count: 0 };
        for (bit, what) in CFSR_BITS {
            if self.cfsr & (1 << bit) != 0 {
                out.line(format_args!("cause: {what}"))?;
            }
        }
        if self.hfsr & (1 << 1) != 0 {
            out.line(format_args!(
                "cause: bus error reading the vector table (HFSR.VECTTBL)"
            ))?;
        }
        if self.hfsr & (1 << 30) != 0 {
            out.line(format_args!("escalated to HardFault (HFSR.FORCED)"))?;
        }
        if out.count == 0 {
            out.line(format_args!("cause: not recorded in CFSR/HFSR"))?;
        }
        if self.cfsr & (1 << 7) != 0 {
            out.line(format_args!("fault address: {:#010x} (MMFAR)", self.mmfar))?;
        }
        if self.cfsr & (1 << 15) != 0 {
            out.line(format_args!("fault address: {:#010x} (BFAR)", self.bfar))?;
        }
        Ok(())
    }
}

/// Indented lines with newlines between them (not after the last).
struct Lines<'a, 'f> {
    f: &'a mut fmt::Formatter<'f>,
    count: u32,
}

impl Lines<'_, '_> {
    fn line(&mut self, text: fmt::Arguments<'_>) -> fmt::Result {
        let separator = if self.count == 0 { "" } else { "\n" };
        self.count = self.count.saturating_add(1);
        write!(self.f, "{separator}  {text}")
    }
}

/// The Rust half of the fault entry: runs on `FAULT_STACK`, never returns.
extern "C" fn report_fault(frame_sp: u32, exc_return: u32) -> ! {
    if REPORTING.swap(true, Ordering::Relaxed) {
        crate::println!("fault: another fault while reporting a fault");
        exit(false)
    }
    let number = read_register(ICSR) & 0x1FF;
    let causes = Causes {
        cfsr: read_register(CFSR),
        hfsr: read_register(HFSR),
        mmfar: read_register(MMFAR),
        bfar: read_register(BFAR),
    };
    // MSTKERR / STKERR: the frame could not be pushed, the PC is lost.
    let stacking_failed = causes.cfsr & ((1 << 4) | (1 << 12)) != 0;
    let fault_in_guard = causes.cfsr & (1 << 7) != 0 && mpu::in_guard(causes.mmfar as usize);
    let stack_overflow = stacking_failed || fault_in_guard || (frame_sp as usize) < stack::bottom();

    crate::println!(
        "fault: {} (exception {})\n{}",
        exception_name(number),
        number,
        causes
    );
    match read_frame(frame_sp, stacking_failed) {
        Some(frame) => crate::println!(
            "  pc={:#010x} lr={:#010x} xpsr={:#010x}\n  r0={:#010x} r1={:#010x} r2={:#010x} r3={:#010x} r12={:#010x}\n  \
             source line: arm-none-eabi-addr2line -f -C -i -e <the ELF> {:#010x}",
            frame.pc,
            frame.lr,
            frame.xpsr,
            frame.r0,
            frame.r1,
            frame.r2,
            frame.r3,
            frame.r12,
            frame.pc
        ),
        None => crate::println!(
            "  pc unknown: no exception frame at sp={:#010x} (it could not be pushed)",
            frame_sp
        ),
    }
    crate::println!(
        "  sp={:#010x} exc_return={:#010x} cfsr={:#010x} hfsr={:#010x} mmfar={:#010x} bfar={:#010x}",
        frame_sp,
        exc_return,
        causes.cfsr,
        causes.hfsr,
        causes.mmfar,
        causes.bfar
    );
    if stack_overflow {
        crate::println!(
            "fault: stack overflow: the stack ({:#010x}..{:#010x}, {} bytes) ran into the MPU guard below it",
            stack::bottom(),
            stack::top(),
            stack::size_bytes()
        );
    }
    exit(false)
}

/// An exception nobody handles (NMI, SVCall, PendSV, SysTick, an interrupt
/// with no handler): reported like a fault, then QEMU exits with status 1.
pub fn unexpected_exception(irqn: i16) -> ! {
    cortex_m::interrupt::disable();
    crate::println!(
        "fault: unexpected exception {} (IRQ {}) with no handler",
        i32::from(irqn).saturating_add(16),
        irqn
    );
    exit(false)
}

/// What `--crash` does after boot, to test the paths above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// `panic!`.
    Panic,
    /// A read of an address with nothing behind it: a precise BusFault.
    Fault,
    /// Recursion without bound: a stack overflow into the MPU guard.
    Stack,
}

/// An address QEMU's AN386 leaves unmapped (AN500 has PSRAM there, AN386
/// does not): a read is a bus error, not a silent 0.
const UNMAPPED: usize = 0x6000_0000;

/// Crashes the way `crash` says. Never returns.
#[allow(clippy::panic, reason = "crashing is what it is for")]
pub fn crash(crash: Crash) -> ! {
    match crash {
        Crash::Panic => panic!("deliberate panic (--crash panic)"),
        Crash::Fault => {
            // SAFETY: deliberately unsound to test the fault path: the read
            // faults before it returns anything, and the fault handler ends
            // the program.
            let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u32) };
            panic!("the read of {UNMAPPED:#x} did not fault (it gave {value:#x})")
        }
        Crash::Stack => {
            let depth = recurse(0);
            panic!("the recursion returned at depth {depth}")
        }
    }
}

/// Calls itself forever with a 64-byte frame that the optimiser cannot
/// remove or turn into a loop.
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let frame = core::hint::black_box([depth; 16]);
    if core::hint::black_box(true) {
        let deeper = recurse(depth.wrapping_add(1));
        deeper.wrapping_add(frame.iter().fold(0, |sum, x| sum ^ x))
    } else {
        depth
    }
}
