//! Counters of what the driver did and dropped, readable at any time through
//! [`State::stats`](super::State::stats) (the driver itself is moved into
//! the network stack).

use core::sync::atomic::{AtomicU32, Ordering};

/// A snapshot of the driver's counters. They wrap around at `u32::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Interrupts that found an enabled source pending.
    pub interrupts: u32,
    /// Frames handed to the network stack.
    pub rx_frames: u32,
    /// Frames dropped because their RX status reported an error.
    pub rx_errors: u32,
    /// Frames dropped because their length was outside 14..=1514 bytes.
    pub rx_bad_length: u32,
    /// Times the RX FIFOs were emptied because a status word claimed more
    /// data than the data FIFO held (the frames then in the FIFOs are lost).
    pub rx_resyncs: u32,
    /// Frames written to the TX FIFO.
    pub tx_frames: u32,
    /// TX status words reporting an error.
    pub tx_errors: u32,
}

/// One counter, bumped from thread mode or the interrupt handler.
#[derive(Default)]
pub(crate) struct Counter(AtomicU32);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    pub(crate) fn bump(&self) {
        // Wrapping on overflow is intended: counters are for trends and tests.
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The live counters behind [`Stats`].
pub(crate) struct Counters {
    pub(crate) interrupts: Counter,
    pub(crate) rx_frames: Counter,
    pub(crate) rx_errors: Counter,
    pub(crate) rx_bad_length: Counter,
    pub(crate) rx_resyncs: Counter,
    pub(crate) tx_frames: Counter,
    pub(crate) tx_errors: Counter,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Self {
            interrupts: Counter::new(),
            rx_frames: Counter::new(),
            rx_errors: Counter::new(),
            rx_bad_length: Counter::new(),
            rx_resyncs: Counter::new(),
            tx_frames: Counter::new(),
            tx_errors: Counter::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            interrupts: self.interrupts.get(),
            rx_frames: self.rx_frames.get(),
            rx_errors: self.rx_errors.get(),
            rx_bad_length: self.rx_bad_length.get(),
            rx_resyncs: self.rx_resyncs.get(),
            tx_frames: self.tx_frames.get(),
            tx_errors: self.tx_errors.get(),
        }
    }
}
