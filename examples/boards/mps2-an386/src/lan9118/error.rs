//! Why bringing the device up failed.

use core::fmt;

/// An initialisation failure of [`Lan9118::new`](super::Lan9118::new).
///
/// Every wait on the device is bounded, so a missing or stuck device ends in
/// one of these rather than a hang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// BYTE_TEST read this value instead of `0x8765_4321`: no LAN9118 at this
    /// address, or a bus that is not 32 bits wide.
    ByteTest(u32),
    /// The soft reset bit (HW_CFG SRST) did not clear.
    ResetTimeout,
    /// PMT_CTRL never reported READY after the reset.
    NotReady,
    /// The EEPROM controller (which loads the MAC address after a reset)
    /// stayed busy.
    EepromTimeout,
    /// An indirect MAC register access (MAC_CSR_CMD) did not complete.
    MacCsrTimeout,
    /// A PHY register access (the MAC's MII_ACC) did not complete.
    MiiTimeout,
    /// Emptying the RX FIFOs (RX_CFG RX_DUMP) did not complete.
    RxDumpTimeout,
    /// The MAC address is all zeros or multicast (a chip without EEPROM
    /// reads FF:FF:FF:FF:FF:FF): pass one in [`Config`](super::Config).
    UnusableMacAddress([u8; 6]),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ByteTest(value) => {
                write!(
                    f,
                    "LAN9118 BYTE_TEST read {value:#010x}, expected 0x87654321"
                )
            }
            Self::ResetTimeout => f.write_str("LAN9118 soft reset did not complete"),
            Self::NotReady => f.write_str("LAN9118 did not become ready after reset"),
            Self::EepromTimeout => f.write_str("LAN9118 EEPROM controller stayed busy"),
            Self::MacCsrTimeout => f.write_str("LAN9118 MAC register access timed out"),
            Self::MiiTimeout => f.write_str("LAN9118 PHY register access timed out"),
            Self::RxDumpTimeout => f.write_str("LAN9118 RX FIFO dump did not complete"),
            Self::UnusableMacAddress(mac) => write!(
                f,
                "LAN9118 MAC address {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} is not a unicast address",
                mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
            ),
        }
    }
}

impl core::error::Error for Error {}
