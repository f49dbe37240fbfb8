//! The driver against the device model: initialisation, transmit, receive
//! (good, bad and bogus frames), interrupts and the link.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed expectation should panic"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

use embassy_net_driver::{Driver, HardwareAddress, LinkState, RxToken as _, TxToken as _};

use super::model::{Delivery, Model, QEMU_DEFAULT_MAC};
use super::{Config, Error, Lan9118, MTU, RX_FIFO_FULL_SIZE_FRAMES, State, Stats};

// Register offsets and bits as the tests inspect them (from the datasheet).
const IRQ_CFG: u32 = 0x54;
const INT_EN: u32 = 0x5C;
const INT_STS: u32 = 0x58;
const FIFO_INT: u32 = 0x68;
const RX_CFG: u32 = 0x6C;
const TX_CFG: u32 = 0x70;
const INT_PHY: u32 = 1 << 18;
const INT_TDFA: u32 = 1 << 9;
const INT_RSFL: u32 = 1 << 3;
const INT_RXE: u32 = 1 << 14;
const INT_TXE: u32 = 1 << 13;
const INT_TSFL: u32 = 1 << 7;
const MAC_CR_FDPX: u32 = 1 << 20;

type ModelDriver = Lan9118<&'static Model>;

/// Counts its wake-ups.
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Harness {
    model: &'static Model,
    state: &'static State<&'static Model>,
    driver: ModelDriver,
    wakes: Arc<WakeCounter>,
    waker: Waker,
}

impl Harness {
    fn start() -> Self {
        Self::start_on(Model::leak(), Config::default())
    }

    fn start_on(model: &'static Model, config: Config) -> Self {
        let state: &'static State<&'static Model> = Box::leak(Box::new(State::new(model)));
        let driver = Lan9118::new(state, config).expect("driver starts");
        let wakes = Arc::new(WakeCounter(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        Self {
            model,
            state,
            driver,
            wakes,
            waker,
        }
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    /// `Driver::receive`, the frame copied out.
    fn receive(&mut self) -> Option<Vec<u8>> {
        let mut cx = Context::from_waker(&self.waker);
        let (rx, _tx) = self.driver.receive(&mut cx)?;
        Some(rx.consume(|frame| frame.to_vec()))
    }

    /// `Driver::transmit` then `TxToken::consume` with `frame`.
    fn send(&mut self, frame: &[u8]) {
        let mut cx = Context::from_waker(&self.waker);
        let tx = self.driver.transmit(&mut cx).expect("room to transmit");
        tx.consume(frame.len(), |buffer| buffer.copy_from_slice(frame));
    }

    fn link_state(&mut self) -> LinkState {
        let mut cx = Context::from_waker(&self.waker);
        self.driver.link_state(&mut cx)
    }

    fn stats(&self) -> Stats {
        self.state.stats()
    }
}

/// An Ethernet frame of `len` bytes to `destination`, with a payload
/// pattern that starts at `seed`.
fn frame_to(destination: [u8; 6], len: usize, seed: u8) -> Vec<u8> {
    assert!(len >= 14);
    let mut frame = destination.to_vec();
    frame.extend_from_slice(&[0x52, 0x55, 0x0A, 0x00, 0x02, 0x02, 0x08, 0x00]);
    frame.extend((0..len - 14).map(|i| seed.wrapping_add(i as u8)));
    frame
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    frame_to(QEMU_DEFAULT_MAC, len, seed)
}

/// `frame` as the RX data FIFO holds it: little-endian words, FCS included
/// (any 4 bytes), last word zero-padded; and its status word.
fn fifo_words(frame: &[u8]) -> (u32, Vec<u32>) {
    let mut bytes = frame.to_vec();
    bytes.extend_from_slice(&[0xFC; 4]);
    let words = bytes
        .chunks(4)
        .map(|chunk| {
            let mut word = [0; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect();
    ((bytes.len() as u32) << 16, words)
}

#[test]
fn init_resets_and_configures_the_device() {
    let model = Model::leak();
    // Leave the device in a state a reset must undo.
    let (status, words) = fifo_words(&frame(60, 0));
    model.deliver_raw(status, &words);
    let harness = Harness::start_on(model, Config::default());

    assert_eq!(model.observations().resets, 1);
    assert_eq!(model.rx_fill(), (0, 0), "the reset emptied the RX FIFOs");
    assert_eq!(harness.driver.mac_address(), QEMU_DEFAULT_MAC);
    assert_eq!(
        harness.driver.hardware_address(),
        HardwareAddress::Ethernet(QEMU_DEFAULT_MAC)
    );
    // MAC: TX and RX on, full duplex, all multicast, no longer promiscuous.
    assert_eq!(model.mac_register(1), 1 << 3 | 1 << 2 | 1 << 20 | 1 << 19);
    assert_eq!(
        model.peek(TX_CFG),
        1 << 1 | 1 << 2,
        "TX on, status overrun allowed"
    );
    assert_eq!(model.peek(RX_CFG), 0, "no RX offset, 4-byte end alignment");
    assert_eq!(
        model.peek(FIFO_INT),
        24 << 24,
        "RSFL on the first status, TDFA at 24 * 64"
    );
    // Interrupt pin enabled, active high, push-pull; RX and PHY sources on.
    assert_eq!(model.peek(IRQ_CFG), 1 << 8 | 1 << 4 | 1);
    assert_eq!(model.peek(INT_EN), INT_RSFL | INT_PHY);
    assert!(!model.irq_line(), "nothing pending: the line is deasserted");
    // PHY: everything advertised, auto-negotiation on, link interrupts unmasked.
    assert_eq!(model.phy_register(4) & 0x01E1, 0x01E1);
    assert_ne!(model.phy_register(0) & 1 << 12, 0);
    assert_eq!(model.phy_register(30), 1 << 6 | 1 << 4);
    let capabilities = harness.driver.capabilities();
    assert_eq!(capabilities.max_transmission_unit, 1514);
    assert_eq!(capabilities.max_burst_size, Some(RX_FIFO_FULL_SIZE_FRAMES));
}

#[test]
fn a_mac_address_from_the_config_is_programmed_and_filters() {
    let ours = [0x02, 0x00, 0x5E, 0x10, 0x20, 0x30];
    let mut harness = Harness::start_on(
        Model::leak(),
        Config {
            mac_address: Some(ours),
        },
    );

    assert_eq!(harness.driver.mac_address(), ours);
    assert_eq!(harness.model.mac_register(3), 0x105E_0002);
    assert_eq!(harness.model.mac_register(2), 0x3020);
    assert_eq!(
        harness.model.deliver(&frame_to(QEMU_DEFAULT_MAC, 60, 1)),
        Delivery::Filtered
    );
    let to_us = frame_to(ours, 60, 2);
    assert_eq!(harness.model.deliver(&to_us), Delivery::Queued);
    let broadcast = frame_to([0xFF; 6], 42, 3);
    assert_eq!(harness.model.deliver(&broadcast), Delivery::Queued);
    assert_eq!(harness.receive(), Some(to_us));
    assert_eq!(harness.receive(), Some(broadcast));
}

#[test]
fn init_reports_a_device_that_is_not_there_or_stuck() {
    let start = |model| Lan9118::new(Box::leak(Box::new(State::new(model))), Config::default());
    let wrong_bus = Model::leak_with(|device| device.faults.byte_test = Some(0x4321_8765));
    assert_eq!(start(wrong_bus).err(), Some(Error::ByteTest(0x4321_8765)));
    let stuck_reset = Model::leak_with(|device| device.faults.reset_stuck = true);
    assert_eq!(start(stuck_reset).err(), Some(Error::ResetTimeout));
    let never_ready = Model::leak_with(|device| device.faults.never_ready = true);
    assert_eq!(start(never_ready).err(), Some(Error::NotReady));
    let stuck_mac = Model::leak_with(|device| device.faults.mac_csr_stuck = true);
    assert_eq!(start(stuck_mac).err(), Some(Error::MacCsrTimeout));
    // A real chip without EEPROM reads all ones.
    let no_eeprom = Model::leak_with(|device| device.eeprom_mac = [0xFF; 6]);
    assert_eq!(
        start(no_eeprom).err(),
        Some(Error::UnusableMacAddress([0xFF; 6]))
    );
    let config = Config {
        mac_address: Some([0x01, 0, 0x5E, 0, 0, 1]),
    };
    let model = Model::leak();
    assert_eq!(
        Lan9118::new(Box::leak(Box::new(State::new(model))), config).err(),
        Some(Error::UnusableMacAddress([0x01, 0, 0x5E, 0, 0, 1]))
    );
}

#[test]
fn transmit_sends_exactly_the_bytes_of_any_length() {
    let mut harness = Harness::start();
    let lengths = [14, 15, 42, 60, 61, 62, 63, 64, 1511, 1513, MTU];
    let frames: Vec<Vec<u8>> = lengths.iter().map(|&len| frame(len, len as u8)).collect();
    for frame in &frames {
        harness.send(frame);
    }

    assert_eq!(harness.model.take_sent(), frames);
    assert_eq!(harness.model.observations().tx_length_mismatches, 0);
    assert_eq!(harness.model.peek(INT_STS) & INT_TXE, 0);
    // QEMU raises TSFL for the TX statuses, but it is not enabled.
    assert_ne!(harness.model.peek(INT_STS) & INT_TSFL, 0);
    assert!(!harness.model.irq_line());
    assert_eq!(harness.stats().tx_frames, lengths.len() as u32);
    // The next transmit pops the status words of the frames sent so far.
    harness.send(&frame(60, 0));
    assert_eq!(
        harness.model.peek(0x80) >> 16,
        1,
        "only the last frame's status is left"
    );
    assert_eq!(harness.stats().tx_errors, 0);
}

#[test]
fn receive_returns_frames_in_order_without_fcs() {
    let mut harness = Harness::start();
    let lengths = [60, 61, 62, 63, 14, 15, 1513, MTU, 42];
    let frames: Vec<Vec<u8>> = lengths.iter().map(|&len| frame(len, len as u8)).collect();
    for frame in &frames {
        assert_eq!(harness.model.deliver(frame), Delivery::Queued);
    }

    for frame in &frames {
        assert_eq!(harness.receive().as_ref(), Some(frame));
    }
    assert_eq!(harness.receive(), None);
    assert_eq!(harness.model.rx_fill(), (0, 0));
    let observations = harness.model.observations();
    assert_eq!(observations.rx_underflows, 0, "never read past a frame");
    assert_eq!(
        observations.empty_status_pops, 0,
        "never popped an empty status FIFO"
    );
    assert_eq!(harness.model.peek(INT_STS) & INT_RXE, 0);
    assert_eq!(harness.stats().rx_frames, lengths.len() as u32);
}

#[test]
fn frames_arriving_between_receives_are_taken_back_to_back() {
    let mut harness = Harness::start();
    for round in 0..20u8 {
        let first = frame(60 + usize::from(round), round);
        let second = frame(61 + usize::from(round), round.wrapping_mul(7));
        harness.model.deliver(&first);
        assert_eq!(harness.receive(), Some(first));
        harness.model.deliver(&second);
        harness.model.deliver(&second);
        assert_eq!(harness.receive().as_ref(), Some(&second));
        assert_eq!(harness.receive(), Some(second));
        assert_eq!(harness.receive(), None);
    }
    assert_eq!(harness.model.observations().rx_underflows, 0);
}

#[test]
fn an_error_status_drops_its_frame_and_keeps_the_fifo_in_step() {
    let mut harness = Harness::start();
    let bad = frame(61, 0xAA);
    let good = frame(63, 0x55);
    let (status, words) = fifo_words(&bad);
    const CRC_ERROR: u32 = 1 << 1;
    const ERROR_SUMMARY: u32 = 1 << 15;
    harness
        .model
        .deliver_raw(status | ERROR_SUMMARY | CRC_ERROR, &words);
    harness.model.deliver(&good);
    // An error flag alone, without the summary bit, drops too.
    harness.model.deliver_raw(status | 1 << 11, &words);
    harness.model.deliver(&good);

    assert_eq!(harness.receive().as_ref(), Some(&good));
    assert_eq!(harness.receive(), Some(good));
    assert_eq!(harness.receive(), None);
    assert_eq!(harness.stats().rx_errors, 2);
    assert_eq!(harness.model.observations().rx_underflows, 0);
    assert_eq!(harness.model.rx_fill(), (0, 0));
}

#[test]
fn frames_longer_than_the_mtu_are_dropped_whole() {
    // QEMU takes frames of up to 2047 bytes.
    let mut harness = Harness::start();
    let good = frame(100, 1);
    assert_eq!(harness.model.deliver(&frame(MTU + 1, 9)), Delivery::Queued);
    assert_eq!(harness.model.deliver(&frame(2047, 9)), Delivery::Queued);
    harness.model.deliver(&good);

    assert_eq!(harness.receive(), Some(good));
    assert_eq!(harness.stats().rx_bad_length, 2);
    assert_eq!(harness.model.observations().rx_underflows, 0);
}

#[test]
fn bogus_lengths_are_dropped_without_panic() {
    let mut harness = Harness::start();
    let good = frame(70, 3);
    // Too short for a header, and zero, each with matching data words.
    harness
        .model
        .deliver_raw(10 << 16, &[0x1111_1111, 0x2222_2222, 0x3333]);
    harness.model.deliver_raw(0, &[]);
    harness.model.deliver(&good);
    assert_eq!(harness.receive().as_ref(), Some(&good));
    assert_eq!(harness.stats().rx_bad_length, 2);

    // A length far beyond what the data FIFO holds: nothing lines up any
    // more, so both FIFOs are emptied and reception carries on afterwards.
    harness.model.deliver_raw(0x3FFF << 16, &[0xDEAD_BEEF; 4]);
    harness.model.deliver(&good);
    assert_eq!(harness.receive(), None);
    assert_eq!(harness.stats().rx_resyncs, 1);
    assert_eq!(harness.model.rx_fill(), (0, 0));
    harness.model.deliver(&good);
    assert_eq!(harness.receive(), Some(good));
    assert_eq!(harness.model.observations().rx_underflows, 0);
}

#[test]
fn the_interrupt_acknowledges_masks_and_wakes_receive() {
    let mut harness = Harness::start();
    assert_eq!(harness.receive(), None);
    assert_eq!(harness.wakes(), 0);
    assert!(!harness.model.irq_line());

    let first = frame(64, 1);
    harness.model.deliver(&first);
    assert!(harness.model.irq_line(), "RSFL on the first status word");
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 1);
    assert!(!harness.model.irq_line(), "the handler lets the line drop");
    assert_eq!(harness.model.peek(INT_STS) & INT_RSFL, 0, "acknowledged");
    assert_eq!(
        harness.model.peek(INT_EN) & INT_RSFL,
        0,
        "masked until the task ran"
    );

    // More frames while masked: no interrupt storm, the task takes them all.
    let second = frame(65, 2);
    harness.model.deliver(&second);
    assert!(!harness.model.irq_line());
    assert_eq!(harness.receive(), Some(first));
    assert_eq!(harness.receive(), Some(second));
    assert_eq!(harness.receive(), None);
    assert_eq!(
        harness.model.peek(INT_EN) & INT_RSFL,
        INT_RSFL,
        "re-enabled once drained"
    );
    assert!(
        !harness.model.irq_line(),
        "the stale RSFL was acknowledged before re-enabling"
    );

    harness.model.deliver(&frame(66, 3));
    assert!(harness.model.irq_line());
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 2);
    assert_eq!(harness.stats().interrupts, 2);
}

#[test]
fn a_spurious_interrupt_changes_nothing() {
    let harness = Harness::start();
    let enabled = harness.model.peek(INT_EN);
    harness.state.on_interrupt();
    assert_eq!(harness.model.peek(INT_EN), enabled);
    assert_eq!(harness.wakes(), 0);
    assert_eq!(harness.stats().interrupts, 0);
}

#[test]
fn a_burst_is_received_whole_after_one_interrupt() {
    let mut harness = Harness::start();
    assert_eq!(harness.receive(), None);
    // 150 short frames land before the task runs (QEMU queues up to 176).
    let frames: Vec<Vec<u8>> = (0..150u8)
        .map(|i| frame(60 + usize::from(i % 5), i))
        .collect();
    for frame in &frames {
        assert_eq!(harness.model.deliver(frame), Delivery::Queued);
    }
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 1);

    let received: Vec<Vec<u8>> = std::iter::from_fn(|| harness.receive()).collect();
    assert_eq!(received, frames);
    assert_eq!(harness.model.observations().empty_status_pops, 0);
}

#[test]
fn the_burst_size_matches_the_rx_data_fifo() {
    let harness = Harness::start();
    for i in 0..RX_FIFO_FULL_SIZE_FRAMES {
        assert_eq!(
            harness.model.deliver(&frame(MTU, i as u8)),
            Delivery::Queued
        );
    }
    assert_eq!(
        harness.model.deliver(&frame(MTU, 0)),
        Delivery::Dropped,
        "QEMU drops when full"
    );
}

#[test]
fn link_state_follows_the_phy() {
    let mut harness = Harness::start();
    assert!(harness.link_state() == LinkState::Up);
    let accesses = harness.model.observations().mii_accesses;
    assert!(harness.link_state() == LinkState::Up);
    assert_eq!(
        harness.model.observations().mii_accesses,
        accesses,
        "no PHY access without an event"
    );

    harness.model.set_link(false);
    assert!(harness.model.irq_line(), "the PHY interrupts on link down");
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 1);
    assert!(!harness.model.irq_line());
    assert_eq!(
        harness.model.peek(INT_EN) & INT_PHY,
        0,
        "masked until the task ran"
    );
    assert!(harness.link_state() == LinkState::Down);
    assert_eq!(harness.model.peek(INT_EN) & INT_PHY, INT_PHY, "re-enabled");
    assert!(
        !harness.model.irq_line(),
        "reading the PHY's source cleared it"
    );

    // Back up with a half-duplex partner: MAC_CR follows the negotiation.
    harness.model.set_partner_abilities(1 << 7 | 1 << 5 | 1);
    harness.model.set_link(true);
    assert!(harness.model.irq_line());
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 2);
    assert!(harness.link_state() == LinkState::Up);
    assert_eq!(harness.model.mac_register(1) & MAC_CR_FDPX, 0);
}

#[test]
fn transmit_waits_for_fifo_room_and_is_woken() {
    let mut harness = Harness::start();
    let mut cx = Context::from_waker(&harness.waker);
    harness.model.set_tx_free_space(Some(1000));
    assert!(harness.driver.transmit(&mut cx).is_none());
    assert!(
        harness.driver.receive(&mut cx).is_none(),
        "no reply room, no frame"
    );
    assert_eq!(harness.model.peek(INT_EN) & INT_TDFA, INT_TDFA);
    assert!(!harness.model.irq_line());

    harness.model.set_tx_free_space(None);
    assert!(harness.model.irq_line(), "TDFA once a frame fits");
    harness.state.on_interrupt();
    assert_eq!(harness.wakes(), 1);
    assert_eq!(harness.model.peek(INT_EN) & INT_TDFA, 0);
    let good = frame(60, 1);
    harness.send(&good);
    assert_eq!(harness.model.take_sent(), vec![good]);
}

#[test]
fn a_received_frame_can_be_answered_with_its_tx_token() {
    let mut harness = Harness::start();
    let request = frame(98, 1);
    harness.model.deliver(&request);
    let mut cx = Context::from_waker(&harness.waker);
    let (rx, tx) = harness.driver.receive(&mut cx).expect("a frame");
    let reply = rx.consume(|frame| frame.iter().rev().copied().collect::<Vec<u8>>());
    tx.consume(reply.len(), |buffer| buffer.copy_from_slice(&reply));
    assert_eq!(harness.model.take_sent(), vec![reply]);
}
