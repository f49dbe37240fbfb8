//! The LAN9118 register map: byte offsets from the device's base address and
//! the bits this driver uses (names follow the SMSC datasheet).

/// RX data FIFO port (any offset 0x00..=0x1C reads the same FIFO).
pub(crate) const RX_DATA_FIFO: u32 = 0x00;
/// TX data FIFO port (any offset 0x20..=0x3C writes the same FIFO).
pub(crate) const TX_DATA_FIFO: u32 = 0x20;
/// RX status FIFO port: each read pops one status word.
pub(crate) const RX_STATUS_FIFO: u32 = 0x40;
/// TX status FIFO port: each read pops one status word.
pub(crate) const TX_STATUS_FIFO: u32 = 0x48;
/// Interrupt pin configuration.
pub(crate) const IRQ_CFG: u32 = 0x54;
/// Interrupt status, write 1 to clear.
pub(crate) const INT_STS: u32 = 0x58;
/// Interrupt enables.
pub(crate) const INT_EN: u32 = 0x5C;
/// Reads [`BYTE_TEST_VALUE`] when the bus is wired correctly.
pub(crate) const BYTE_TEST: u32 = 0x64;
/// FIFO level interrupt thresholds.
pub(crate) const FIFO_INT: u32 = 0x68;
/// Receive configuration.
pub(crate) const RX_CFG: u32 = 0x6C;
/// Transmit configuration.
pub(crate) const TX_CFG: u32 = 0x70;
/// Hardware configuration (soft reset).
pub(crate) const HW_CFG: u32 = 0x74;
/// RX FIFO fill levels.
pub(crate) const RX_FIFO_INF: u32 = 0x7C;
/// TX FIFO fill levels.
pub(crate) const TX_FIFO_INF: u32 = 0x80;
/// Power management control (READY bit).
pub(crate) const PMT_CTRL: u32 = 0x84;
/// Indirect MAC register access: command.
pub(crate) const MAC_CSR_CMD: u32 = 0xA4;
/// Indirect MAC register access: data.
pub(crate) const MAC_CSR_DATA: u32 = 0xA8;
/// EEPROM command (busy while the MAC address loads after reset).
pub(crate) const E2P_CMD: u32 = 0xB0;

/// What [`BYTE_TEST`] reads on a correctly wired 32-bit bus.
pub(crate) const BYTE_TEST_VALUE: u32 = 0x8765_4321;

/// [`IRQ_CFG`] bits.
pub(crate) mod irq_cfg {
    /// Enable the IRQ output.
    pub(crate) const IRQ_EN: u32 = 1 << 8;
    /// Active-high polarity.
    pub(crate) const IRQ_POL: u32 = 1 << 4;
    /// Push-pull output (instead of open drain).
    pub(crate) const IRQ_TYPE: u32 = 1 << 0;
}

/// [`INT_STS`] and [`INT_EN`] bits.
pub(crate) mod int {
    /// Software interrupt: writing this bit to INT_EN raises it.
    pub(crate) const SW: u32 = 1 << 31;
    /// PHY interrupt (the PHY's own source register says why).
    pub(crate) const PHY: u32 = 1 << 18;
    /// TX data FIFO has more free space than the FIFO_INT level.
    pub(crate) const TDFA: u32 = 1 << 9;
    /// RX status FIFO holds more words than the FIFO_INT level.
    pub(crate) const RSFL: u32 = 1 << 3;
}

/// [`FIFO_INT`] fields.
pub(crate) mod fifo_int {
    /// TX data available level, in 64-byte units (bits 31:24). The RX
    /// status level is bits 7:0, in status words.
    pub(crate) const TX_DATA_AVAILABLE_SHIFT: u32 = 24;
}

/// [`RX_CFG`] bits.
pub(crate) mod rx_cfg {
    /// Empty both RX FIFOs (self-clearing).
    pub(crate) const RX_DUMP: u32 = 1 << 15;
}

/// [`TX_CFG`] bits.
pub(crate) mod tx_cfg {
    /// Let the TX status FIFO overrun instead of stopping transmission.
    pub(crate) const TXSAO: u32 = 1 << 2;
    /// Transmitter on.
    pub(crate) const TX_ON: u32 = 1 << 1;
}

/// [`HW_CFG`] bits.
pub(crate) mod hw_cfg {
    /// Soft reset (self-clearing).
    pub(crate) const SRST: u32 = 1 << 0;
}

/// [`PMT_CTRL`] bits.
pub(crate) mod pmt_ctrl {
    /// The device is ready to be accessed.
    pub(crate) const READY: u32 = 1 << 0;
}

/// [`E2P_CMD`] bits.
pub(crate) mod e2p_cmd {
    /// An EEPROM operation (the MAC address load after reset) is running.
    pub(crate) const BUSY: u32 = 1 << 31;
}

/// [`RX_FIFO_INF`] and [`TX_FIFO_INF`] fields.
pub(crate) mod fifo_inf {
    /// Status words used (bits 23:16).
    pub(crate) const STATUS_USED_SHIFT: u32 = 16;
    /// Mask of the status words used, after shifting.
    pub(crate) const STATUS_USED_MASK: u32 = 0xFF;
    /// RX: data bytes used; TX: data bytes free (bits 15:0).
    pub(crate) const DATA_BYTES_MASK: u32 = 0xFFFF;
}

/// [`MAC_CSR_CMD`] bits.
pub(crate) mod mac_csr_cmd {
    /// Set to start an access; the device clears it when done.
    pub(crate) const BUSY: u32 = 1 << 31;
    /// Read (set) or write (clear).
    pub(crate) const READ: u32 = 1 << 30;
    /// The MAC register index (bits 7:0).
    pub(crate) const ADDRESS_MASK: u32 = 0xFF;
}

/// The MAC's registers, reached through [`MAC_CSR_CMD`]/[`MAC_CSR_DATA`].
pub(crate) mod mac {
    /// MAC control.
    pub(crate) const MAC_CR: u8 = 1;
    /// MAC address bytes 4 and 5.
    pub(crate) const ADDRH: u8 = 2;
    /// MAC address bytes 0 to 3.
    pub(crate) const ADDRL: u8 = 3;
    /// MII (PHY) access command.
    pub(crate) const MII_ACC: u8 = 6;
    /// MII (PHY) access data.
    pub(crate) const MII_DATA: u8 = 7;
}

/// `MAC_CR` bits.
pub(crate) mod mac_cr {
    /// Full duplex.
    pub(crate) const FDPX: u32 = 1 << 20;
    /// Pass all multicast frames.
    pub(crate) const MCPAS: u32 = 1 << 19;
    /// Transmitter enable.
    pub(crate) const TXEN: u32 = 1 << 3;
    /// Receiver enable.
    pub(crate) const RXEN: u32 = 1 << 2;
}

/// `MII_ACC` fields.
pub(crate) mod mii_acc {
    /// PHY address (bits 15:11).
    pub(crate) const PHY_ADDRESS_SHIFT: u32 = 11;
    /// PHY register index (bits 10:6).
    pub(crate) const REGISTER_SHIFT: u32 = 6;
    /// Write (set) or read (clear).
    pub(crate) const WRITE: u32 = 1 << 1;
    /// Set to start an access; the MAC clears it when done.
    pub(crate) const BUSY: u32 = 1 << 0;
}

/// The internal PHY's MII address.
pub(crate) const INTERNAL_PHY_ADDRESS: u32 = 1;

/// The internal PHY's registers and bits.
pub(crate) mod phy {
    /// Basic control.
    pub(crate) const BASIC_CONTROL: u8 = 0;
    /// Basic status.
    pub(crate) const BASIC_STATUS: u8 = 1;
    /// Auto-negotiation advertisement.
    pub(crate) const AN_ADVERTISEMENT: u8 = 4;
    /// Auto-negotiation link partner ability.
    pub(crate) const AN_LINK_PARTNER: u8 = 5;
    /// Interrupt source flags (cleared by reading).
    pub(crate) const INTERRUPT_SOURCE: u8 = 29;
    /// Interrupt mask.
    pub(crate) const INTERRUPT_MASK: u8 = 30;

    /// Basic control: auto-negotiation enable.
    pub(crate) const CONTROL_AN_ENABLE: u16 = 1 << 12;
    /// Basic control: restart auto-negotiation.
    pub(crate) const CONTROL_AN_RESTART: u16 = 1 << 9;

    /// Basic status: auto-negotiation complete.
    pub(crate) const STATUS_AN_COMPLETE: u16 = 1 << 5;
    /// Basic status: link up (latches low on real PHYs).
    pub(crate) const STATUS_LINK_UP: u16 = 1 << 2;

    /// Advertisement/partner ability: 100BASE-TX full duplex.
    pub(crate) const ABILITY_100_FULL: u16 = 1 << 8;
    /// Advertisement/partner ability: 100BASE-TX half duplex.
    pub(crate) const ABILITY_100_HALF: u16 = 1 << 7;
    /// Advertisement/partner ability: 10BASE-T full duplex.
    pub(crate) const ABILITY_10_FULL: u16 = 1 << 6;
    /// Advertisement/partner ability: 10BASE-T half duplex.
    pub(crate) const ABILITY_10_HALF: u16 = 1 << 5;
    /// Advertisement selector field: IEEE 802.3.
    pub(crate) const SELECTOR_802_3: u16 = 0x0001;

    /// Interrupt source/mask: auto-negotiation complete (the link came up).
    pub(crate) const INT_AN_COMPLETE: u16 = 1 << 6;
    /// Interrupt source/mask: link down.
    pub(crate) const INT_LINK_DOWN: u16 = 1 << 4;
}

/// RX status word fields.
pub(crate) mod rx_status {
    /// The frame failed the address filter (only stored with MAC_CR RXALL).
    pub(crate) const FILTER_FAIL: u32 = 1 << 30;
    /// Frame length including the 4-byte FCS (bits 29:16).
    pub(crate) const LENGTH_SHIFT: u32 = 16;
    /// Mask of the frame length, after shifting.
    pub(crate) const LENGTH_MASK: u32 = 0x3FFF;
    /// Error summary.
    pub(crate) const ERROR_SUMMARY: u32 = 1 << 15;
    /// Runt frame.
    pub(crate) const RUNT: u32 = 1 << 11;
    /// Frame too long.
    pub(crate) const TOO_LONG: u32 = 1 << 7;
    /// Late collision.
    pub(crate) const COLLISION: u32 = 1 << 6;
    /// Receive watchdog timeout.
    pub(crate) const WATCHDOG: u32 = 1 << 4;
    /// MII error.
    pub(crate) const MII_ERROR: u32 = 1 << 3;
    /// CRC error.
    pub(crate) const CRC_ERROR: u32 = 1 << 1;
}

/// TX command A fields.
pub(crate) mod tx_cmd_a {
    /// First segment of a frame.
    pub(crate) const FIRST_SEGMENT: u32 = 1 << 13;
    /// Last segment of a frame.
    pub(crate) const LAST_SEGMENT: u32 = 1 << 12;
    /// Buffer size in bytes (bits 10:0).
    pub(crate) const BUFFER_SIZE_MASK: u32 = 0x7FF;
}

/// TX command B fields.
pub(crate) mod tx_cmd_b {
    /// Packet tag (bits 31:16), echoed in the TX status word.
    pub(crate) const TAG_SHIFT: u32 = 16;
    /// Frame length in bytes (bits 10:0).
    pub(crate) const LENGTH_MASK: u32 = 0x7FF;
}

/// TX status word fields.
pub(crate) mod tx_status {
    /// Error summary.
    pub(crate) const ERROR_SUMMARY: u32 = 1 << 15;
}
