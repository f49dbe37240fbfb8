//! An interrupt-driven `embassy-net-driver` for the SMSC LAN9118 Ethernet
//! controller, as QEMU emulates it on its `mps2-an385`/`mps2-an386` machines
//! (registers at 0x4020_0000, interrupt 13, 32-bit bus).
//!
//! # Wiring it up
//!
//! ```ignore
//! use mps2_an386::lan9118::{self, Config, Lan9118, MmioRegisters, State, MPS2_AN386_BASE};
//!
//! // Shared by the driver and the interrupt handler.
//! static LAN9118: State<MmioRegisters> =
//!     // SAFETY: QEMU's MPS2 machines map a LAN9118 there, and nothing else uses it.
//!     State::new(unsafe { MmioRegisters::new(MPS2_AN386_BASE) });
//!
//! // The handler in vector table entry 16 + 13 (`lan9118::MPS2_AN386_IRQ`).
//! extern "C" fn lan9118_interrupt() {
//!     LAN9118.on_interrupt();
//! }
//!
//! let driver = Lan9118::new(&LAN9118, Config::default())?; // resets, configures
//! lan9118::unmask_interrupt(); // only now: see the quirks below
//! let (stack, runner) = embassy_net::new(driver, net_config, resources, seed);
//! ```
//!
//! # How it works
//!
//! - The interrupt handler ([`State::on_interrupt`]) reads INT_STS, masks
//!   and acknowledges each enabled source that fired and wakes the matching
//!   waker: RX status level (RSFL), TX data available (TDFA), PHY. The
//!   driver re-enables a source once it has handled it, after acknowledging
//!   it and before its last look at the condition, so no event falls between
//!   the two. Between events the executor sleeps.
//! - Receive: RSFL fires on the first RX status word. Each `receive` pops
//!   status words (only while RX_FIFO_INF counts some), judges each before
//!   touching its data, and copies the first good frame into the driver's
//!   buffer; smoltcp calls it until it returns `None`, so every wake-up
//!   drains the FIFOs. Frames with an error status or a length outside
//!   14..=[`MTU`] are dropped and their data words read out, which keeps the
//!   FIFO in step. A status claiming more data than the data FIFO holds
//!   cannot be trusted to line up with anything, so both RX FIFOs are
//!   emptied (RX_DUMP). Nothing read from the device can cause a panic.
//! - Transmit: a token is handed out only when the TX data FIFO has room for
//!   any frame (1,524 bytes with the command words); otherwise TDFA is
//!   armed. A frame is command A, command B and its bytes, one buffer, 4-byte
//!   end alignment, no offset. TX status words are popped and counted.
//! - Link: the PHY interrupts on auto-negotiation complete (link up) and
//!   link down. The driver then reads its interrupt source (which clears
//!   it), the basic status register's link bit (twice: it latches low), and
//!   on link up the negotiated duplex, which it applies to MAC_CR. Between
//!   events `link_state` answers from memory.
//! - [`State::stats`] counts interrupts, frames and drops.
//!
//! # QEMU's LAN9118: quirks
//!
//! Read in QEMU's `hw/net/lan9118.c`, and checked where noted by running this driver
//! in `qemu-system-arm` 7.2 (DHCP, HTTP, UDP bursts, `set_link`).
//!
//! - **Interrupt polarity.** QEMU inverts the output line unless IRQ_CFG has
//!   both IRQ_POL and IRQ_TYPE set, and with IRQ_EN clear the (inverted)
//!   line is asserted: from power-on until the driver writes IRQ_CFG the
//!   NVIC sees the interrupt asserted, and it stays pending. So: unmask the
//!   line only after [`Lan9118::new`] (`unmask_interrupt` clears the stale
//!   pending bit first). A soft reset keeps IRQ_POL/IRQ_TYPE and clears
//!   IRQ_EN.
//! - **Level, not pulse.** The line follows `INT_STS & INT_EN` (gated by
//!   IRQ_EN); the deassertion interval (IRQ_CFG INT_DEAS) is ignored. The
//!   Cortex-M NVIC re-pends a line still high when the handler returns, so
//!   the handler must make it drop: it masks what fired.
//! - **FIFO level interrupts.** RSFL is set when a frame arrives and the
//!   status FIFO then holds more than its level; TSFL likewise when a frame
//!   is sent (since QEMU 7.2; unused here). TDFA, RDFL and the overflow
//!   interrupts are never raised. QEMU sends a frame the
//!   moment its last word is written and its TX_FIFO_INF free space is back
//!   to 4,608 after each frame, so the driver never waits for TDFA there.
//! - **No RX back-pressure.** The status FIFO holds 176 words and the data
//!   FIFO 2,640 words (10,560 bytes: [`RX_FIFO_FULL_SIZE_FRAMES`] frames of
//!   1,514 bytes). When either is full, QEMU drops the frame silently
//!   (RX_DROP always reads 0, the dropped-frame interrupt never fires). Hence
//!   RSFL on the first word, the drain-everything receive path and the burst
//!   size in the capabilities. QEMU prints "Slirp: Failed to send packet,
//!   ret: -1" on stderr for each frame it drops this way. Its user network
//!   hands a burst over in one go while the CPU waits, so no driver can
//!   drain during a burst: measured with this driver, 166 of 300 minimum
//!   size frames and 7 of 50 full-size ones got through. What the driver
//!   can do is start each burst with empty FIFOs. Moving frames into a
//!   32 KiB RAM ring from the RX interrupt (commit 452824b, reverted) did
//!   not help: the HTTP suite's 100 connections still lost ~43 frames of a
//!   105-frame burst (17 KB in 1.2 ms, nothing from the guest in between)
//!   and `concurrent_increments_are_not_lost` took over 5 s in 10 of 25
//!   runs with and without it (interleaved A/B), also with
//!   `-accel tcg,thread=single`. QEMU accepts frames of 14
//!   to 2,047 bytes, so frames above [`MTU`] do arrive and are dropped here.
//! - **Empty status FIFO.** Reading RX_STATUS_FIFO when it is empty returns
//!   whatever its ring holds at the read position (zero until the ring first
//!   wraps, an old status after), with no error, so the driver checks
//!   RX_FIFO_INF first.
//! - **RX_DP_CTRL fast-forward is broken:** it moves QEMU's read position
//!   but neither lowers the data FIFO's fill count nor ends the frame being
//!   read, so the fill level leaks (until every frame is dropped) and later
//!   reads misalign. Checked in QEMU 7.2: fast-forwarding past a 64-byte
//!   frame lowered the fill level by 4 bytes instead of 68. The driver
//!   discards by reading the words instead.
//! - **RX_DUMP** clears both FIFOs but not the bookkeeping of a frame read
//!   halfway; the driver only dumps between frames.
//! - **RX status words** carry only the length (FCS included), broadcast,
//!   multicast and filter-fail bits: QEMU never reports receive errors. It
//!   does append a real FCS, which the driver strips.
//! - **TX quirks.** End-alignment padding is computed from the wrong value
//!   (always no padding), so only 4-byte end alignment, the driver's, works;
//!   frames go out even with the transmitter off; short frames are not
//!   padded and no FCS is added (QEMU's networks do not need either). TX
//!   status words hold only the tag, and the status FIFO (512 words in QEMU)
//!   stops recording when full: the driver pops them.
//! - **Reset and READY.** A soft reset (HW_CFG SRST) completes within the
//!   register write; PMT_CTRL READY is always set; the EEPROM is never busy.
//!   QEMU's EEPROM holds the `-nic ...,mac=` address (52:54:00:12:34:56 by
//!   default), loaded into ADDRH/ADDRL at every reset, so an address written
//!   by the driver lasts until the next soft reset. The driver still waits on
//!   each bit, bounded, as real hardware needs.
//! - **MAC defaults.** MAC_CR resets to promiscuous mode; the driver sets
//!   its own filter (own address, broadcast, all multicast).
//! - **Indirect access.** MAC_CSR_CMD and MII_ACC accesses complete at once
//!   (busy bits never read set). Only bits 3:0 of the MAC register index are
//!   decoded, and the PHY answers at any MII address (the driver uses 1, the
//!   internal PHY's).
//! - **PHY.** Only registers 0 to 6, 29 and 30 exist; others read 0 and make
//!   QEMU print "lan9118: error: PHY read reg N" on stderr. So the duplex is
//!   resolved from the advertisement (4) and link partner (5) registers, not
//!   from the vendor status register 31; QEMU's partner offers everything, so
//!   the result is 100 Mbit/s full duplex. Auto-negotiation completes as soon
//!   as it is enabled, the link is up after reset, and it changes only from
//!   the monitor (`set_link <netdev> off|on`), which raises the PHY
//!   interrupt (link down, or energy-on plus auto-negotiation complete):
//!   checked in QEMU 7.2, `embassy-net` sees the link go down and up.
//!   INT_STS.PHY is recomputed only at PHY events and when the interrupt
//!   source register (29) is read, which clears it.
//! - **Identity.** ID_REV reads 0x0118_0001, BYTE_TEST 0x8765_4321; the MPS2
//!   machines use the 32-bit bus mode.

mod driver;
mod error;
mod init;
#[cfg(target_os = "none")]
mod irq;
mod mac_csr;
mod mii;
mod mmio;
mod phy;
mod poll;
mod registers;
mod regs;
mod rx;
mod state;
mod stats;
mod tx;

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

pub use driver::{Lan9118, MTU, RX_FIFO_FULL_SIZE_FRAMES, RxToken, TxToken};
pub use error::Error;
pub use init::Config;
#[cfg(target_os = "none")]
pub use irq::{Lan9118Interrupt, MPS2_AN386_IRQ, unmask_interrupt};
pub use mmio::{MPS2_AN386_BASE, MmioRegisters};
pub use registers::Registers;
pub use state::State;
pub use stats::Stats;
