//! The `embassy-net-driver` implementation on top of the FIFOs, the PHY and
//! the interrupt state.

use core::sync::atomic::Ordering;
use core::task::Context;

use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};

use super::regs::{int, mac, mac_cr};
use super::{Config, Error, Registers, State, init, mac_csr, phy, rx, tx};

/// The largest Ethernet frame the driver sends or receives: 14 header bytes
/// and 1500 payload bytes, without the FCS (the device adds and strips it).
pub const MTU: usize = 1514;

/// The RX data FIFO's size with the reset FIFO split (HW_CFG TX_FIF_SZ 5),
/// on the chip and in QEMU.
const RX_DATA_FIFO_BYTES: usize = 10_560;

/// Full-size frames the RX data FIFO holds (6: each takes 1,520 bytes with
/// its FCS, in whole words). Reported as the burst size, so smoltcp keeps a
/// TCP peer's burst within what the device can queue while the stack is not
/// polling: QEMU drops frames, without back-pressure, once the FIFO is full.
pub const RX_FIFO_FULL_SIZE_FRAMES: usize = RX_DATA_FIFO_BYTES / (MTU + 4).next_multiple_of(4);

/// An `embassy_net_driver::Driver` for the SMSC LAN9118, interrupt driven.
///
/// Construct it with [`Lan9118::new`] (which resets and configures the
/// device) and hand it to `embassy_net::new`. It holds one receive and one
/// transmit frame buffer ([`MTU`] bytes each).
pub struct Lan9118<R: Registers + 'static> {
    state: &'static State<R>,
    mac_address: [u8; 6],
    link: LinkState,
    next_tx_tag: u16,
    rx_buffer: [u8; MTU],
    tx_buffer: [u8; MTU],
}

impl<R: Registers + 'static> Lan9118<R> {
    /// Resets and configures the device behind `state`, reads the link, and
    /// enables its receive and PHY interrupts.
    ///
    /// Unmask the device's interrupt line in the NVIC only after this
    /// returns `Ok` (`lan9118::unmask_interrupt` does it on Cortex-M): until
    /// then QEMU holds the line asserted.
    pub fn new(state: &'static State<R>, config: Config) -> Result<Self, Error> {
        let mac_address = init::initialise(state.registers(), &config)?;
        let mut driver = Self {
            state,
            mac_address,
            link: LinkState::Down,
            next_tx_tag: 0,
            rx_buffer: [0; MTU],
            tx_buffer: [0; MTU],
        };
        driver.refresh_link();
        state.enable(int::RSFL);
        Ok(driver)
    }

    /// The MAC address in use.
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac_address
    }

    /// Reads the PHY after it interrupted (or at start), follows a
    /// negotiated duplex change in MAC_CR, and re-enables the PHY interrupt.
    fn refresh_link(&mut self) {
        let registers = self.state.registers();
        // Acknowledge before reading, so an event after the read interrupts.
        self.state.acknowledge(int::PHY);
        // On a failed PHY access keep the last state: the next event retries.
        if let Ok(link) = phy::read_link(registers) {
            self.link = if link.up {
                LinkState::Up
            } else {
                LinkState::Down
            };
            if let Some(full_duplex) = link.full_duplex {
                let _ = set_full_duplex(registers, full_duplex);
            }
        }
        self.state.enable(int::PHY);
    }
}

/// Sets MAC_CR's duplex to what the PHY negotiated, if it differs.
fn set_full_duplex<R: Registers>(registers: &R, full_duplex: bool) -> Result<(), Error> {
    let control = mac_csr::read(registers, mac::MAC_CR)?;
    let wanted = if full_duplex {
        control | mac_cr::FDPX
    } else {
        control & !mac_cr::FDPX
    };
    if wanted != control {
        mac_csr::write(registers, mac::MAC_CR, wanted)?;
    }
    Ok(())
}

impl<R: Registers + 'static> embassy_net_driver::Driver for Lan9118<R> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, R>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // The stack may answer a received frame at once: only take one when
        // a reply fits too.
        if !tx::ready(self.state, cx) {
            return None;
        }
        let len = rx::receive(self.state, &mut self.rx_buffer, cx)?;
        let frame = self.rx_buffer.get_mut(..len)?;
        let reply = TxToken {
            state: self.state,
            buffer: &mut self.tx_buffer,
            tag: &mut self.next_tx_tag,
        };
        Some((RxToken { frame }, reply))
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<Self::TxToken<'_>> {
        tx::ready(self.state, cx).then_some(TxToken {
            state: self.state,
            buffer: &mut self.tx_buffer,
            tag: &mut self.next_tx_tag,
        })
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        // Called on every poll of the stack: touch the PHY only after it
        // interrupted.
        self.state.link_waker.register(cx.waker());
        if self.state.phy_event.swap(false, Ordering::Acquire) {
            self.refresh_link();
        }
        self.link
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = MTU;
        capabilities.max_burst_size = Some(RX_FIFO_FULL_SIZE_FRAMES);
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac_address)
    }
}

/// A received frame, already copied out of the device.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        f(self.frame)
    }
}

/// Room in the TX FIFO for one frame.
pub struct TxToken<'a, R: Registers + 'static> {
    state: &'static State<R>,
    buffer: &'a mut [u8; MTU],
    tag: &'a mut u16,
}

impl<R: Registers + 'static> embassy_net_driver::TxToken for TxToken<'_, R> {
    fn consume<T, F>(self, len: usize, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        let Self { state, buffer, tag } = self;
        // The stack never asks for more than the MTU it was given.
        let frame = buffer.get_mut(..len.min(MTU)).unwrap_or_default();
        let result = f(frame);
        tx::write_frame(state.registers(), frame, *tag);
        *tag = tag.wrapping_add(1);
        state.counters.tx_frames.bump();
        result
    }
}
