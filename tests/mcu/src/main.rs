//! Runs every core behaviour case on the emulated microcontroller and prints
//! `N passed, M failed`; QEMU exits with 1 when a case failed. It also prints
//! the deepest stack any case used, measured by painting.
#![no_std]
#![no_main]

mod stack;

use core::fmt::Write as _;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use sesh::signing::{Key, KeyRing};
use sesh::{Instant, SessionTable};
use sesh_tests::rng::TestRng;

/// Stack painted below each case: inside the micro:bit's 16 KiB of RAM
/// (the runner has 8 bytes of .bss), and above the deepest case (the flash
/// cases, about 12 KiB since each slot holds its owner and label). A case
/// that reports all of it may go deeper.
const CASE_PAINT: usize = 13 * 1024;

#[entry]
fn main() -> ! {
    let sp = cortex_m::register::msp::read() as usize;
    let mut deepest = (0, "none");
    let mut bottom = stack::paint(CASE_PAINT);
    let (passed, failed) = sesh_tests::case::run_all(sesh_tests::core_cases(), |case, outcome| {
        let used = stack::used(bottom, sp);
        if used > deepest.0 {
            deepest = (used, case.name);
        }
        match outcome {
            Ok(()) => hprintln!("case {} ... ok", case.name),
            Err(failure) => hprintln!("case {} ... FAILED at {}", case.name, failure),
        }
        bottom = stack::paint(CASE_PAINT);
    });
    hprintln!(
        "stack: deepest case {} used {} bytes (of {} painted)",
        deepest.1,
        deepest.0,
        CASE_PAINT
    );
    report_stack();
    hprintln!("{} passed, {} failed", passed, failed);
    debug::exit(if failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// The deepest stack of create + sign + verify + snapshot, measured by painting.
fn report_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let bottom = stack::paint(11 * 1024);
    let ok = create_sign_verify_snapshot();
    let depth = stack::used(bottom, sp);
    hprintln!(
        "stack: create+sign+verify+snapshot used {} bytes (workload ok: {})",
        depth,
        ok
    );
}

#[inline(never)]
fn create_sign_verify_snapshot() -> bool {
    let mut table: SessionTable<[u8; 32], 16> = SessionTable::new();
    let mut rng = TestRng(7);
    let Ok(key) = Key::new(&[9; 32]) else {
        return false;
    };
    let keys = KeyRing::<2>::new(key);
    let now = Instant::from_millis(1);
    let Ok((id, _)) = table.create(&mut rng, now, [3; 32]) else {
        return false;
    };
    let mut cookie: heapless::String<64> = heapless::String::new();
    if write!(cookie, "{}", keys.sign(&id)).is_err() {
        return false;
    }
    let verified = keys.verify(&cookie).map(|v| v.id() == id).unwrap_or(false);
    let mut buf = [0u8; 2048];
    let snapshot = table.write_snapshot(&mut buf, now).is_ok();
    core::hint::black_box(&buf);
    verified && snapshot
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    hprintln!("0 passed, 1 failed");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
