//! Board support for QEMU's Arm MPS2 AN386 machine (Cortex-M4F, 25 MHz), on
//! which the sesh firmware runs as a real microcontroller image. Every image
//! of this board (the firmware in `src/main.rs`, a test probe) links these
//! pieces:
//!
//! - [`lan9118`]: an interrupt-driven `embassy-net-driver` for the SMSC
//!   LAN9118 Ethernet controller QEMU emulates (0x4020_0000, IRQ 13). It
//!   builds on the host as well, where its register sequences are tested
//!   against a small model of the device.
//! - [`ethernet`]: the one LAN9118 of the board, its shared state and IRQ.
//! - [`executor`]: embassy's executor, sleeping with `wfi`.
//! - [`time_driver`]: embassy-time on the CMSDK APB timers, tickless.
//! - [`interrupts`]: the device vectors (dispatch by IRQ number) and NVIC.
//! - [`faults`]: panic handler, fault handlers with a stack of their own,
//!   the `--crash` tests; [`mpu`]: the stack guard; [`stack`]: the stack's
//!   high-water mark.
//! - [`net`]: the embassy-net stack with DHCP.
//! - [`storage`]: the flash layout and the signing key's provisioning.
//! - ⚠️ Emulator only, never for a product: [`semihosting`] (host I/O),
//!   [`emulator_entropy`] (the host's `/dev/urandom` as the seed),
//!   [`host_flash`] (NOR flash in a host file), [`knobs`] (test flags).
//!
//! Linking: `memory.x` comes with this crate (its build script puts it on
//! the link search path of every image that depends on it), and so do the
//! vector table entries (`DefaultHandler`, the fault vectors), the time
//! driver, the executor's `__pender` and the `#[panic_handler]`; its entry
//! function calls [`executor::run`]. An image only needs cortex-m-rt's
//! `-Tlink.x`, which the repository's `.cargo/config.toml` adds.
//!
//! Everything but [`lan9118`] exists for `target_os = "none"` only.
#![cfg_attr(not(test), no_std)]

pub mod lan9118;

#[cfg(target_os = "none")]
pub mod emulator_entropy;
#[cfg(target_os = "none")]
pub mod ethernet;
#[cfg(target_os = "none")]
pub mod executor;
#[cfg(target_os = "none")]
pub mod faults;
#[cfg(target_os = "none")]
pub mod host_flash;
#[cfg(target_os = "none")]
pub mod interrupts;
#[cfg(target_os = "none")]
pub mod knobs;
#[cfg(target_os = "none")]
pub mod mpu;
#[cfg(target_os = "none")]
pub mod net;
#[cfg(target_os = "none")]
pub mod semihosting;
#[cfg(target_os = "none")]
pub mod stack;
#[cfg(target_os = "none")]
pub mod storage;
#[cfg(target_os = "none")]
pub mod time_driver;
