//! The internal PHY's registers, reached through the MAC's MII_ACC and
//! MII_DATA registers (themselves reached through MAC_CSR_CMD).

use super::regs::{INTERNAL_PHY_ADDRESS, mac, mii_acc};
use super::{Error, Registers, mac_csr};

/// The largest MII_ACC busy polls: each is a whole MAC register read.
const MAX_BUSY_POLLS: u32 = 1_000;

/// Reads PHY register `index`.
pub(crate) fn read<R: Registers + ?Sized>(registers: &R, index: u8) -> Result<u16, Error> {
    wait_idle(registers)?;
    mac_csr::write(registers, mac::MII_ACC, command(index) | mii_acc::BUSY)?;
    wait_idle(registers)?;
    let data = mac_csr::read(registers, mac::MII_DATA)?;
    // MII_DATA holds the 16-bit PHY register in its low half.
    Ok((data & 0xFFFF) as u16)
}

/// Writes `value` to PHY register `index`.
pub(crate) fn write<R: Registers + ?Sized>(
    registers: &R,
    index: u8,
    value: u16,
) -> Result<(), Error> {
    wait_idle(registers)?;
    mac_csr::write(registers, mac::MII_DATA, u32::from(value))?;
    mac_csr::write(
        registers,
        mac::MII_ACC,
        command(index) | mii_acc::WRITE | mii_acc::BUSY,
    )?;
    wait_idle(registers)
}

fn command(index: u8) -> u32 {
    INTERNAL_PHY_ADDRESS << mii_acc::PHY_ADDRESS_SHIFT
        | (u32::from(index) & 0x1F) << mii_acc::REGISTER_SHIFT
}

fn wait_idle<R: Registers + ?Sized>(registers: &R) -> Result<(), Error> {
    for _ in 0..MAX_BUSY_POLLS {
        if mac_csr::read(registers, mac::MII_ACC)? & mii_acc::BUSY == 0 {
            return Ok(());
        }
    }
    Err(Error::MiiTimeout)
}
