//! The MAC's registers are not memory-mapped: they are read and written one
//! at a time through MAC_CSR_CMD and MAC_CSR_DATA.

use super::regs::{MAC_CSR_CMD, MAC_CSR_DATA, mac_csr_cmd};
use super::{Error, Registers, poll};

/// Reads MAC register `index`.
pub(crate) fn read<R: Registers + ?Sized>(registers: &R, index: u8) -> Result<u32, Error> {
    wait_idle(registers)?;
    registers.write(
        MAC_CSR_CMD,
        mac_csr_cmd::BUSY | mac_csr_cmd::READ | address(index),
    );
    wait_idle(registers)?;
    Ok(registers.read(MAC_CSR_DATA))
}

/// Writes `value` to MAC register `index`.
pub(crate) fn write<R: Registers + ?Sized>(
    registers: &R,
    index: u8,
    value: u32,
) -> Result<(), Error> {
    wait_idle(registers)?;
    registers.write(MAC_CSR_DATA, value);
    registers.write(MAC_CSR_CMD, mac_csr_cmd::BUSY | address(index));
    wait_idle(registers)
}

fn address(index: u8) -> u32 {
    u32::from(index) & mac_csr_cmd::ADDRESS_MASK
}

fn wait_idle<R: Registers + ?Sized>(registers: &R) -> Result<(), Error> {
    poll::until_clear(
        registers,
        MAC_CSR_CMD,
        mac_csr_cmd::BUSY,
        Error::MacCsrTimeout,
    )
}
