//! A behavioural model of the LAN9118 as QEMU emulates it, for the host
//! tests: registers, MAC registers behind MAC_CSR_CMD/DATA, the PHY behind
//! MII_ACC/MII_DATA, TX command parsing, the RX status and data FIFOs with
//! QEMU's sizes and drop rules, INT_STS/INT_EN and the IRQ line, reset.
//!
//! Offsets and bits are written out here from the datasheet rather than
//! taken from `regs.rs`, so a wrong constant there shows up as a failure.
//! The model is stricter than QEMU where the driver must not go (RX_DP_CTRL,
//! padded TX end alignment, RX data offsets, PHY registers QEMU lacks,
//! registers the driver has no use for): those panic.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test-only model: a broken invariant should fail the test loudly"
)]

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::Registers;

/// QEMU's MAC address when `-nic` gives none.
pub(crate) const QEMU_DEFAULT_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

const RX_STATUS_CAPACITY: usize = 176;
const RX_DATA_CAPACITY_WORDS: usize = 2640;
const TX_STATUS_CAPACITY: usize = 512;
const TX_DATA_FIFO_BYTES: u32 = 4608;

const INT_SW: u32 = 1 << 31;
const INT_TX_IOC: u32 = 1 << 21;
const INT_PHY: u32 = 1 << 18;
const INT_RXE: u32 = 1 << 14;
const INT_TXE: u32 = 1 << 13;
const INT_TDFA: u32 = 1 << 9;
const INT_TSFF: u32 = 1 << 8;
const INT_TSFL: u32 = 1 << 7;
const INT_RSFL: u32 = 1 << 3;
const INT_RESERVED: u32 = 0x7C00_1000;

const IRQ_EN: u32 = 1 << 8;
const IRQ_POL: u32 = 1 << 4;
const IRQ_TYPE: u32 = 1;
const IRQ_INT: u32 = 1 << 12;

const MAC_CR_RXALL: u32 = 1 << 31;
const MAC_CR_MCPAS: u32 = 1 << 19;
const MAC_CR_PRMS: u32 = 1 << 18;
const MAC_CR_BCAST: u32 = 1 << 11;
const MAC_CR_RXEN: u32 = 1 << 2;

const PHY_INT_ENERGY_ON: u16 = 1 << 7;
const PHY_INT_AN_COMPLETE: u16 = 1 << 6;
const PHY_INT_LINK_DOWN: u16 = 1 << 4;
const PHY_STATUS_LINK_AND_AN: u16 = 0x0024;

/// What became of a frame offered to the model's receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// In the RX FIFOs.
    Queued,
    /// Not for us: the address filter dropped it (QEMU reports it taken).
    Filtered,
    /// Refused: receiver off, bad size, or a FIFO full (QEMU drops it).
    Dropped,
}

/// Things the tests check that the driver did, or did not, do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Observations {
    /// RX status reads with the status FIFO empty (QEMU hands back an old word).
    pub(crate) empty_status_pops: u32,
    /// RX data reads beyond the current frame's words.
    pub(crate) rx_underflows: u32,
    /// TX frames whose data length disagreed with command B.
    pub(crate) tx_length_mismatches: u32,
    /// PHY register accesses through MII_ACC.
    pub(crate) mii_accesses: u32,
    /// Soft resets.
    pub(crate) resets: u32,
}

/// Failures the tests can switch on.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults {
    /// BYTE_TEST reads this instead of 0x8765_4321.
    pub(crate) byte_test: Option<u32>,
    /// HW_CFG SRST never clears.
    pub(crate) reset_stuck: bool,
    /// PMT_CTRL READY never sets.
    pub(crate) never_ready: bool,
    /// MAC_CSR_CMD stays busy.
    pub(crate) mac_csr_stuck: bool,
}

/// The LAN9118 model. Share it as `&'static Model` (see [`Model::leak`]).
pub(crate) struct Model {
    device: Mutex<Device>,
}

impl Model {
    /// A powered-on device with QEMU's default MAC address and the link up,
    /// leaked so a `State` can hold a `&'static` to it.
    pub(crate) fn leak() -> &'static Self {
        Self::leak_with(|_| {})
    }

    /// As [`Model::leak`], after `setup` adjusted the device (faults, the
    /// EEPROM's MAC address...) before power-on.
    pub(crate) fn leak_with(setup: impl FnOnce(&mut Device)) -> &'static Self {
        let mut device = Device::powered_off();
        setup(&mut device);
        device.reset();
        device.observations.resets = 0;
        Box::leak(Box::new(Self {
            device: Mutex::new(device),
        }))
    }

    fn device(&self) -> MutexGuard<'_, Device> {
        self.device.lock().expect("model lock")
    }

    /// Offers `frame` (without FCS) to the receiver, as QEMU's network would.
    pub(crate) fn deliver(&self, frame: &[u8]) -> Delivery {
        self.device().deliver(frame)
    }

    /// Queues a raw RX status word and data words, as a faulty or hostile
    /// device could.
    pub(crate) fn deliver_raw(&self, status: u32, words: &[u32]) {
        self.device().queue_rx(status, words);
    }

    /// Takes the frames transmitted so far.
    pub(crate) fn take_sent(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.device().sent)
    }

    /// Plugs (true) or unplugs the cable, like QEMU's `set_link`.
    pub(crate) fn set_link(&self, up: bool) {
        let mut device = self.device();
        device.link_up = up;
        device.phy_update_link();
    }

    /// Sets what the link partner offers (PHY register 5).
    pub(crate) fn set_partner_abilities(&self, abilities: u16) {
        self.device().phy.partner = abilities;
    }

    /// Overrides the TX data FIFO's free space (`None`: QEMU's behaviour,
    /// always room). When space rises past the FIFO_INT level, the model
    /// raises TDFA as real hardware does; QEMU never does.
    pub(crate) fn set_tx_free_space(&self, bytes: Option<u32>) {
        let mut device = self.device();
        device.tx_free_override = bytes;
        let level = (device.fifo_int >> 24) * 64;
        if device.tx_free() > level {
            device.int_sts |= INT_TDFA;
        }
    }

    /// The IRQ output as QEMU drives it into the NVIC (true: asserted).
    pub(crate) fn irq_line(&self) -> bool {
        self.device().irq_line()
    }

    /// A side-effect-free register read (not for the FIFO ports).
    pub(crate) fn peek(&self, offset: u32) -> u32 {
        assert!(
            offset >= 0x50 && offset != 0x40 && offset != 0x48,
            "peek of a FIFO port"
        );
        self.device().read(offset)
    }

    /// A MAC register, read directly.
    pub(crate) fn mac_register(&self, index: u32) -> u32 {
        self.device().mac_read(index)
    }

    /// A PHY register, read directly (not 29: reading it clears it).
    pub(crate) fn phy_register(&self, index: u32) -> u16 {
        assert_ne!(index, 29, "reading the PHY interrupt source clears it");
        self.device().phy_read(index)
    }

    /// The RX FIFOs' fill: (status words, data words).
    pub(crate) fn rx_fill(&self) -> (usize, usize) {
        let device = self.device();
        (device.rx_status.len(), device.rx_data.len())
    }

    pub(crate) fn observations(&self) -> Observations {
        self.device().observations
    }
}

impl Registers for Model {
    fn read(&self, offset: u32) -> u32 {
        self.device().read(offset)
    }

    fn write(&self, offset: u32, value: u32) {
        self.device().write(offset, value);
    }
}

#[derive(Default)]
struct Phy {
    control: u16,
    status: u16,
    advertisement: u16,
    partner: u16,
    interrupt_source: u16,
    interrupt_mask: u16,
}

/// Where the TX data FIFO parser is within a buffer.
#[derive(Default)]
enum TxParser {
    #[default]
    AwaitingCommandA,
    AwaitingCommandB {
        command_a: u32,
    },
    Data {
        command_a: u32,
        words_left: usize,
        bytes: Vec<u8>,
    },
}

/// The device's state, behind the model's lock.
pub(crate) struct Device {
    // Kept across resets.
    pub(crate) eeprom_mac: [u8; 6],
    pub(crate) faults: Faults,
    link_up: bool,
    observations: Observations,
    sent: Vec<Vec<u8>>,
    tx_free_override: Option<u32>,

    irq_cfg: u32,
    int_sts: u32,
    int_en: u32,
    fifo_int: u32,
    rx_cfg: u32,
    tx_cfg: u32,
    reset_pending: bool,
    mac_csr_cmd: u32,
    mac_csr_data: u32,

    mac_cr: u32,
    mac_address: [u8; 6],
    mii_acc: u32,
    mii_data: u32,
    phy: Phy,

    rx_status: VecDeque<u32>,
    last_rx_status: u32,
    rx_data: VecDeque<u32>,
    rx_frame_words: VecDeque<usize>,
    rx_words_left_in_frame: usize,

    tx_parser: TxParser,
    tx_frame: Vec<u8>,
    tx_frame_length: usize,
    tx_tag: u32,
    tx_status: VecDeque<u32>,
}

impl Device {
    fn powered_off() -> Self {
        Self {
            eeprom_mac: QEMU_DEFAULT_MAC,
            faults: Faults::default(),
            link_up: true,
            observations: Observations::default(),
            sent: Vec::new(),
            tx_free_override: None,
            irq_cfg: 0,
            int_sts: 0,
            int_en: 0,
            fifo_int: 0,
            rx_cfg: 0,
            tx_cfg: 0,
            reset_pending: false,
            mac_csr_cmd: 0,
            mac_csr_data: 0,
            mac_cr: 0,
            mac_address: [0; 6],
            mii_acc: 0,
            mii_data: 0,
            phy: Phy {
                partner: 0x0F71,
                ..Phy::default()
            },
            rx_status: VecDeque::new(),
            last_rx_status: 0,
            rx_data: VecDeque::new(),
            rx_frame_words: VecDeque::new(),
            rx_words_left_in_frame: 0,
            tx_parser: TxParser::default(),
            tx_frame: Vec::new(),
            tx_frame_length: 0,
            tx_tag: 0,
            tx_status: VecDeque::new(),
        }
    }

    /// Power-on and soft reset: QEMU's `lan9118_reset`.
    fn reset(&mut self) {
        self.observations.resets += 1;
        self.irq_cfg &= IRQ_POL | IRQ_TYPE;
        self.int_sts = 0;
        self.int_en = 0;
        self.fifo_int = 0x4800_0000;
        self.rx_cfg = 0;
        self.tx_cfg = 0;
        self.tx_parser = TxParser::default();
        self.tx_status.clear();
        self.rx_status.clear();
        self.rx_data.clear();
        self.rx_frame_words.clear();
        self.rx_words_left_in_frame = 0;
        self.mac_csr_cmd = 0;
        self.mac_csr_data = 0;
        self.mac_cr = MAC_CR_PRMS;
        self.mii_acc = 0;
        self.mii_data = 0;
        self.phy_reset();
        self.mac_address = self.eeprom_mac;
    }

    fn irq_pending(&self) -> bool {
        self.int_sts & self.int_en != 0
    }

    fn irq_line(&self) -> bool {
        let level = self.irq_pending() && self.irq_cfg & IRQ_EN != 0;
        if self.irq_cfg & (IRQ_POL | IRQ_TYPE) == IRQ_POL | IRQ_TYPE {
            level
        } else {
            // QEMU: active low unless active-high push-pull.
            !level
        }
    }

    fn read(&mut self, offset: u32) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        match offset {
            0x00..=0x1C => self.pop_rx_data(),
            0x40 => self.pop_rx_status(),
            0x48 => self.tx_status.pop_front().unwrap_or(0),
            0x50 => 0x0118_0001,
            0x54 => self.irq_cfg | if self.irq_pending() { IRQ_INT } else { 0 },
            0x58 => self.int_sts,
            0x5C => self.int_en,
            0x64 => self.faults.byte_test.unwrap_or(0x8765_4321),
            0x68 => self.fifo_int,
            0x6C => self.rx_cfg,
            0x70 => self.tx_cfg,
            0x74 => 0x0005_0004 | u32::from(self.reset_pending),
            0x7C => (self.rx_status.len() as u32) << 16 | (self.rx_data.len() as u32 * 4),
            0x80 => (self.tx_status.len() as u32) << 16 | self.tx_free(),
            0x84 => u32::from(!self.faults.never_ready),
            0xA4 => self.mac_csr_cmd,
            0xA8 => self.mac_csr_data,
            // MAC address loaded, EEPROM controller idle.
            0xB0 => 0x100,
            _ => panic!("model: read of a register the driver has no use for: {offset:#x}"),
        }
    }

    fn write(&mut self, offset: u32, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
        match offset {
            0x20..=0x3C => self.push_tx(value),
            0x54 => self.irq_cfg = value & (IRQ_EN | IRQ_POL | IRQ_TYPE),
            0x58 => self.int_sts &= !value,
            0x5C => {
                self.int_en = value & !INT_RESERVED;
                self.int_sts |= value & INT_SW;
            }
            0x68 => self.fifo_int = value,
            0x6C => {
                if value & 1 << 15 != 0 {
                    assert_eq!(
                        self.rx_words_left_in_frame, 0,
                        "RX_DUMP with a frame half read: QEMU would lose its place"
                    );
                    self.rx_status.clear();
                    self.rx_data.clear();
                    self.rx_frame_words.clear();
                }
                assert_eq!(
                    value & 0xC000_1F00,
                    0,
                    "RX end alignment and offset are not modelled"
                );
                self.rx_cfg = value & 0xCFFF_1FF0;
            }
            0x70 => {
                if value & 1 << 15 != 0 {
                    self.tx_status.clear();
                }
                if value & 1 << 14 != 0 {
                    self.tx_parser = TxParser::default();
                }
                self.tx_cfg = value & 0b110;
            }
            0x74 => {
                if value & 1 != 0 {
                    if self.faults.reset_stuck {
                        self.reset_pending = true;
                    } else {
                        self.reset();
                    }
                }
            }
            0x78 => panic!("RX_DP_CTRL: QEMU's fast-forward corrupts its RX FIFO accounting"),
            0xA4 => self.mac_csr_command(value),
            0xA8 => self.mac_csr_data = value,
            _ => panic!("model: write of a register the driver has no use for: {offset:#x}"),
        }
    }

    fn tx_free(&self) -> u32 {
        self.tx_free_override.unwrap_or_else(|| {
            let buffered = match &self.tx_parser {
                TxParser::AwaitingCommandA => 0,
                TxParser::AwaitingCommandB { .. } => 4,
                TxParser::Data { bytes, .. } => 8 + bytes.len() as u32,
            };
            TX_DATA_FIFO_BYTES - buffered - self.tx_frame.len() as u32
        })
    }

    fn mac_csr_command(&mut self, value: u32) {
        self.mac_csr_cmd = value & 0x4000_00FF;
        if value & 1 << 31 == 0 {
            return;
        }
        if self.faults.mac_csr_stuck {
            self.mac_csr_cmd |= 1 << 31;
            return;
        }
        let index = value & 0xFF;
        if value & 1 << 30 != 0 {
            self.mac_csr_data = self.mac_read(index);
        } else {
            self.mac_write(index, self.mac_csr_data);
        }
    }

    fn mac_read(&self, index: u32) -> u32 {
        let a = self.mac_address;
        match index {
            1 => self.mac_cr,
            2 => u32::from_le_bytes([a[4], a[5], 0, 0]),
            3 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]),
            6 => self.mii_acc,
            7 => self.mii_data,
            _ => panic!("model: MAC register {index} is not used by the driver"),
        }
    }

    fn mac_write(&mut self, index: u32, value: u32) {
        match index {
            1 => self.mac_cr = value,
            2 => {
                let [b4, b5, ..] = value.to_le_bytes();
                self.mac_address[4] = b4;
                self.mac_address[5] = b5;
            }
            3 => self.mac_address[..4].copy_from_slice(&value.to_le_bytes()),
            6 => self.mii_access(value),
            7 => self.mii_data = value & 0xFFFF,
            _ => panic!("model: MAC register {index} is not used by the driver"),
        }
    }

    fn mii_access(&mut self, value: u32) {
        assert_ne!(
            value & 1,
            0,
            "MII_ACC written without MIIBZY: real hardware ignores it"
        );
        assert_eq!(
            value >> 11 & 0x1F,
            1,
            "the internal PHY is at MII address 1"
        );
        self.observations.mii_accesses += 1;
        let index = value >> 6 & 0x1F;
        if value & 0b10 != 0 {
            self.phy_write(index, self.mii_data as u16);
        } else {
            self.mii_data = u32::from(self.phy_read_clearing(index));
        }
        self.mii_acc = value & !1;
    }

    fn phy_read(&self, index: u32) -> u16 {
        match index {
            0 => self.phy.control,
            1 => self.phy.status,
            2 => 0x0007,
            3 => 0xC0D1,
            4 => self.phy.advertisement,
            5 => self.phy.partner,
            6 => 1,
            29 => self.phy.interrupt_source,
            30 => self.phy.interrupt_mask,
            _ => panic!("QEMU does not implement PHY register {index} (it logs an error)"),
        }
    }

    fn phy_read_clearing(&mut self, index: u32) -> u16 {
        let value = self.phy_read(index);
        if index == 29 {
            self.phy.interrupt_source = 0;
            self.phy_update_irq();
        }
        value
    }

    fn phy_write(&mut self, index: u32, value: u16) {
        match index {
            0 if value & 0x8000 != 0 => self.phy_reset(),
            0 => {
                self.phy.control = value & 0x7980;
                // Auto-negotiation completes the moment it is enabled.
                if value & 0x1000 != 0 {
                    self.phy.status |= 0x0020;
                }
            }
            4 => self.phy.advertisement = (value & 0x2D7F) | 0x0080,
            30 => {
                self.phy.interrupt_mask = value & 0xFF;
                self.phy_update_irq();
            }
            _ => panic!("QEMU does not implement writes to PHY register {index}"),
        }
    }

    fn phy_reset(&mut self) {
        self.phy.control = 0x3000;
        self.phy.status = 0x7809;
        self.phy.advertisement = 0x01E1;
        self.phy.interrupt_mask = 0;
        self.phy.interrupt_source = 0;
        self.phy_update_link();
    }

    fn phy_update_link(&mut self) {
        if self.link_up {
            self.phy.status |= PHY_STATUS_LINK_AND_AN;
            self.phy.interrupt_source |= PHY_INT_ENERGY_ON | PHY_INT_AN_COMPLETE;
        } else {
            self.phy.status &= !PHY_STATUS_LINK_AND_AN;
            self.phy.interrupt_source |= PHY_INT_LINK_DOWN;
        }
        self.phy_update_irq();
    }

    /// QEMU recomputes INT_STS.PHY only here, at PHY events.
    fn phy_update_irq(&mut self) {
        if self.phy.interrupt_source & self.phy.interrupt_mask != 0 {
            self.int_sts |= INT_PHY;
        } else {
            self.int_sts &= !INT_PHY;
        }
    }

    fn push_tx(&mut self, value: u32) {
        match std::mem::take(&mut self.tx_parser) {
            TxParser::AwaitingCommandA => {
                assert_eq!(
                    value >> 24 & 0b11,
                    0,
                    "QEMU ignores TX end-alignment padding"
                );
                self.tx_parser = TxParser::AwaitingCommandB { command_a: value };
            }
            TxParser::AwaitingCommandB { command_a } => {
                if command_a & 1 << 13 != 0 {
                    self.tx_frame.clear();
                    self.tx_frame_length = (value & 0x7FF) as usize;
                    self.tx_tag = value >> 16;
                }
                let size = (command_a & 0x7FF) as usize;
                let offset = (command_a >> 16 & 0x1F) as usize;
                let words = (offset + size).div_ceil(4);
                assert_ne!(words, 0, "empty TX buffers are not modelled");
                self.tx_parser = TxParser::Data {
                    command_a,
                    words_left: words,
                    bytes: Vec::new(),
                };
            }
            TxParser::Data {
                command_a,
                words_left,
                mut bytes,
            } => {
                bytes.extend_from_slice(&value.to_le_bytes());
                if words_left > 1 {
                    self.tx_parser = TxParser::Data {
                        command_a,
                        words_left: words_left - 1,
                        bytes,
                    };
                    return;
                }
                let size = (command_a & 0x7FF) as usize;
                let offset = (command_a >> 16 & 0x1F) as usize;
                self.tx_frame
                    .extend_from_slice(&bytes[offset..offset + size]);
                if command_a & 1 << 12 != 0 {
                    self.finish_tx_frame();
                }
                if command_a & 1 << 31 != 0 {
                    self.int_sts |= INT_TX_IOC;
                }
            }
        }
    }

    fn finish_tx_frame(&mut self) {
        let frame = std::mem::take(&mut self.tx_frame);
        if frame.len() != self.tx_frame_length {
            self.observations.tx_length_mismatches += 1;
            self.int_sts |= INT_TXE;
        }
        self.sent.push(frame);
        if self.tx_status.len() < TX_STATUS_CAPACITY {
            self.tx_status.push_back(self.tx_tag << 16);
        } else {
            self.int_sts |= INT_TSFF;
        }
        // QEMU 7.2 raises TSFL past the FIFO_INT TX status level.
        if self.tx_status.len() as u32 > self.fifo_int >> 16 & 0xFF {
            self.int_sts |= INT_TSFL;
        }
    }

    /// QEMU's `lan9118_receive`.
    fn deliver(&mut self, frame: &[u8]) -> Delivery {
        if self.mac_cr & MAC_CR_RXEN == 0 || frame.len() < 14 || frame.len() >= 2048 {
            return Delivery::Dropped;
        }
        if self.rx_status.len() == RX_STATUS_CAPACITY {
            return Delivery::Dropped;
        }
        let destination: [u8; 6] = frame[..6].try_into().unwrap();
        let broadcast = destination == [0xFF; 6];
        let multicast = destination[0] & 1 != 0 && !broadcast;
        let passes = self.mac_cr & MAC_CR_PRMS != 0
            || (broadcast && self.mac_cr & MAC_CR_BCAST == 0)
            || (multicast && self.mac_cr & MAC_CR_MCPAS != 0)
            || destination == self.mac_address;
        if !passes && self.mac_cr & MAC_CR_RXALL == 0 {
            return Delivery::Filtered;
        }
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(&crc32(frame).to_le_bytes());
        let words: Vec<u32> = bytes
            .chunks(4)
            .map(|chunk| {
                let mut word = [0; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                u32::from_le_bytes(word)
            })
            .collect();
        if RX_DATA_CAPACITY_WORDS - self.rx_data.len() < words.len() {
            return Delivery::Dropped;
        }
        let mut status = (bytes.len() as u32) << 16;
        if broadcast {
            status |= 1 << 13;
        }
        if multicast {
            status |= 1 << 10;
        }
        if !passes {
            status |= 1 << 30;
        }
        self.queue_rx(status, &words);
        Delivery::Queued
    }

    fn queue_rx(&mut self, status: u32, words: &[u32]) {
        assert!(
            self.rx_status.len() < RX_STATUS_CAPACITY,
            "RX status FIFO full"
        );
        assert!(
            self.rx_data.len() + words.len() <= RX_DATA_CAPACITY_WORDS,
            "RX data FIFO full"
        );
        self.rx_data.extend(words);
        self.rx_frame_words.push_back(words.len());
        self.rx_status.push_back(status);
        if self.rx_status.len() as u32 > self.fifo_int & 0xFF {
            self.int_sts |= INT_RSFL;
        }
    }

    fn pop_rx_status(&mut self) -> u32 {
        match self.rx_status.pop_front() {
            Some(status) => {
                self.last_rx_status = status;
                status
            }
            None => {
                self.observations.empty_status_pops += 1;
                self.last_rx_status
            }
        }
    }

    fn pop_rx_data(&mut self) -> u32 {
        if self.rx_words_left_in_frame == 0 {
            while self.rx_frame_words.front() == Some(&0) {
                self.rx_frame_words.pop_front();
            }
            match self.rx_frame_words.pop_front() {
                Some(words) => self.rx_words_left_in_frame = words,
                None => return self.rx_underflow(),
            }
        }
        self.rx_words_left_in_frame -= 1;
        match self.rx_data.pop_front() {
            Some(word) => word,
            None => self.rx_underflow(),
        }
    }

    fn rx_underflow(&mut self) -> u32 {
        self.observations.rx_underflows += 1;
        self.int_sts |= INT_RXE;
        0
    }
}

/// The Ethernet FCS (CRC-32, reflected, polynomial 0x04C11DB7).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_fcs_is_the_ethernet_crc() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}
