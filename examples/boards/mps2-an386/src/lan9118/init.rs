//! Bringing the device up, in the datasheet's order: check the bus, soft
//! reset, wait until ready, settle the MAC address, start the PHY, then
//! configure FIFOs, MAC and the interrupt pin.

use super::regs::{
    BYTE_TEST, BYTE_TEST_VALUE, E2P_CMD, FIFO_INT, HW_CFG, INT_EN, INT_STS, IRQ_CFG, PMT_CTRL,
    RX_CFG, TX_CFG, e2p_cmd, fifo_int, hw_cfg, irq_cfg, mac, mac_cr, pmt_ctrl,
};
use super::{Error, Registers, mac_csr, phy, poll, rx, tx};

/// How to bring the device up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The MAC address to program. `None` keeps the one the device loaded
    /// from its EEPROM at reset: on QEMU, the `-nic ...,mac=` option,
    /// 52:54:00:12:34:56 by default.
    pub mac_address: Option<[u8; 6]>,
}

/// MAC_CR: transmit and receive, full duplex until auto-negotiation says
/// otherwise, accept broadcast (BCAST clear), unicast to our address and all
/// multicast (so protocols joining groups need no hash filter); no
/// promiscuous mode, which is QEMU's reset value.
pub(crate) const MAC_CR_VALUE: u32 = mac_cr::TXEN | mac_cr::RXEN | mac_cr::FDPX | mac_cr::MCPAS;

/// IRQ_CFG: output enabled, active-high, push-pull. QEMU drives the line
/// inverted (asserted while idle) unless both polarity and type are set.
pub(crate) const IRQ_CFG_VALUE: u32 = irq_cfg::IRQ_EN | irq_cfg::IRQ_POL | irq_cfg::IRQ_TYPE;

/// RSFL fires when the RX status FIFO holds more words than this: level 0
/// interrupts on the first frame, so a burst is drained from its start.
const RX_STATUS_LEVEL: u32 = 0;

/// FIFO_INT: RSFL on the first RX status word, TDFA once a largest frame
/// fits; the TX status level stays 0 (its interrupt is unused).
pub(crate) const FIFO_INT_VALUE: u32 =
    tx::TX_AVAILABLE_LEVEL << fifo_int::TX_DATA_AVAILABLE_SHIFT | RX_STATUS_LEVEL;

/// Resets and configures the device; returns its MAC address. Interrupt
/// sources are left disabled (and cleared), the pin enabled.
pub(crate) fn initialise<R: Registers>(registers: &R, config: &Config) -> Result<[u8; 6], Error> {
    let byte_test = registers.read(BYTE_TEST);
    if byte_test != BYTE_TEST_VALUE {
        return Err(Error::ByteTest(byte_test));
    }
    registers.write(HW_CFG, hw_cfg::SRST);
    poll::until_clear(registers, HW_CFG, hw_cfg::SRST, Error::ResetTimeout)?;
    poll::until_set(registers, PMT_CTRL, pmt_ctrl::READY, Error::NotReady)?;
    // After a reset the chip loads its MAC address from the EEPROM.
    poll::until_clear(registers, E2P_CMD, e2p_cmd::BUSY, Error::EepromTimeout)?;

    let mac_address = match config.mac_address {
        Some(address) => {
            check_unicast(address)?;
            write_mac_address(registers, address)?;
            address
        }
        None => {
            let address = read_mac_address(registers)?;
            check_unicast(address)?;
            address
        }
    };

    phy::start_autonegotiation(registers)?;

    registers.write(FIFO_INT, FIFO_INT_VALUE);
    registers.write(RX_CFG, rx::RX_CFG_VALUE);
    registers.write(TX_CFG, tx::TX_CFG_VALUE);
    mac_csr::write(registers, mac::MAC_CR, MAC_CR_VALUE)?;

    registers.write(INT_EN, 0);
    registers.write(INT_STS, u32::MAX);
    registers.write(IRQ_CFG, IRQ_CFG_VALUE);
    Ok(mac_address)
}

/// Multicast (which includes broadcast) and all-zero addresses cannot be a
/// station's own.
fn check_unicast(address: [u8; 6]) -> Result<(), Error> {
    let multicast = address[0] & 1 != 0;
    if multicast || address == [0; 6] {
        return Err(Error::UnusableMacAddress(address));
    }
    Ok(())
}

/// ADDRL holds bytes 0 to 3 (byte 0 in bits 7:0), ADDRH bytes 4 and 5.
fn read_mac_address<R: Registers>(registers: &R) -> Result<[u8; 6], Error> {
    let [a0, a1, a2, a3] = mac_csr::read(registers, mac::ADDRL)?.to_le_bytes();
    let [a4, a5, ..] = mac_csr::read(registers, mac::ADDRH)?.to_le_bytes();
    Ok([a0, a1, a2, a3, a4, a5])
}

fn write_mac_address<R: Registers>(registers: &R, address: [u8; 6]) -> Result<(), Error> {
    let [a0, a1, a2, a3, a4, a5] = address;
    mac_csr::write(registers, mac::ADDRL, u32::from_le_bytes([a0, a1, a2, a3]))?;
    mac_csr::write(registers, mac::ADDRH, u32::from_le_bytes([a4, a5, 0, 0]))
}
