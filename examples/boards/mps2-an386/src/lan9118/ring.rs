//! The frames the interrupt handler took out of the RX FIFOs before the
//! stack asked for them. QEMU's user network hands the device bursts of
//! hundreds of frames faster than the stack handles them, and the device
//! drops what its FIFOs cannot hold; moving frames into RAM at interrupt
//! time keeps the FIFOs empty for the next part of the burst.

use core::cell::RefCell;

use critical_section::Mutex;

/// The RX ring's size: 32 KiB, about 480 minimum-size frames (a connection's
/// SYN or ACK) or 21 full-size ones, besides the device's own 10.5 KB.
pub const RX_RING_BYTES: usize = 32 * 1024;

/// Bytes before each frame: its length, little-endian.
const HEADER: usize = 2;

const MASK: usize = RX_RING_BYTES - 1;
const _: () = assert!(RX_RING_BYTES.is_power_of_two());

/// The RAM the driver keeps received frames in until the stack takes them
/// ([`RX_RING_BYTES`]). It has a `static` of its own, separate from the
/// [`State`](super::State), so that it lands in `.bss` (zeroed at boot)
/// rather than in `.data`, whose initial value also takes flash.
pub struct RxRing(pub(crate) Mutex<RefCell<FrameRing>>);

impl RxRing {
    /// An empty ring.
    pub const fn new() -> Self {
        Self(Mutex::new(RefCell::new(FrameRing::new())))
    }
}

impl Default for RxRing {
    fn default() -> Self {
        Self::new()
    }
}

/// A ring of frames, each a 2-byte length and its bytes, wrapping around.
pub(crate) struct FrameRing {
    bytes: [u8; RX_RING_BYTES],
    /// Where the oldest frame's header starts.
    start: usize,
    /// Bytes in use.
    used: usize,
    /// Set when a frame in the FIFO did not fit: the RX interrupt is then
    /// left off until the driver has made room.
    pub(crate) stalled: bool,
}

impl FrameRing {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; RX_RING_BYTES],
            start: 0,
            used: 0,
            stalled: false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Whether a frame of `len` bytes fits.
    pub(crate) fn fits(&self, len: usize) -> bool {
        RX_RING_BYTES.saturating_sub(self.used) >= HEADER.saturating_add(len)
    }

    fn put(&mut self, offset: usize, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.start.wrapping_add(offset) & MASK) {
            *slot = byte;
        }
    }

    fn get(&self, offset: usize) -> u8 {
        self.bytes
            .get(self.start.wrapping_add(offset) & MASK)
            .copied()
            .unwrap_or_default()
    }

    /// Appends a frame of `len` bytes (at most `u16::MAX`) taken from
    /// `next_word` (little-endian words, first byte in bits 7:0), which is
    /// called `words` times: bytes past `len` are dropped. Returns false,
    /// reading nothing, when it does not fit.
    pub(crate) fn push_words(
        &mut self,
        len: usize,
        words: u32,
        mut next_word: impl FnMut() -> u32,
    ) -> bool {
        let Ok(header) = u16::try_from(len) else {
            return false;
        };
        if !self.fits(len) {
            return false;
        }
        let [low, high] = header.to_le_bytes();
        self.put(self.used, low);
        self.put(self.used.wrapping_add(1), high);
        let mut written = 0;
        for _ in 0..words {
            for byte in next_word().to_le_bytes() {
                if written < len {
                    self.put(self.used.wrapping_add(HEADER).wrapping_add(written), byte);
                    written = written.wrapping_add(1);
                }
            }
        }
        // Within RX_RING_BYTES: `fits` checked it.
        self.used = self.used.saturating_add(HEADER).saturating_add(len);
        true
    }

    /// Moves the oldest frame into `out` and returns its length; a frame
    /// longer than `out` is dropped (`Some(0)` is never returned).
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> Option<usize> {
        loop {
            if self.used < HEADER {
                self.used = 0;
                return None;
            }
            let len = usize::from(u16::from_le_bytes([self.get(0), self.get(1)]));
            let taken = HEADER.saturating_add(len).min(self.used);
            let fits = out.len() >= len && taken == HEADER.saturating_add(len);
            if fits {
                for (offset, byte) in out.iter_mut().take(len).enumerate() {
                    *byte = self.get(HEADER.wrapping_add(offset));
                }
            }
            self.start = self.start.wrapping_add(taken) & MASK;
            self.used = self.used.saturating_sub(taken);
            if fits && len > 0 {
                return Some(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

    use super::{FrameRing, HEADER, RX_RING_BYTES};

    fn push(ring: &mut FrameRing, frame: &[u8]) -> bool {
        let mut words = frame.chunks(4).map(|chunk| {
            let mut word = [0; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        });
        // One extra word, like the FCS, which the ring must drop.
        let count = frame.len().div_ceil(4) as u32 + 1;
        ring.push_words(frame.len(), count, || words.next().unwrap_or(0xFCFC_FCFC))
    }

    #[test]
    fn frames_come_out_in_order_across_the_wrap() {
        let mut ring = Box::new(FrameRing::new());
        let mut out = [0u8; 1514];
        for round in 0..200usize {
            let frames: Vec<Vec<u8>> = (0..5)
                .map(|i| {
                    (0..60 + (round * 7 + i * 331) % 1454)
                        .map(|b| (b + round + i) as u8)
                        .collect()
                })
                .collect();
            for frame in &frames {
                assert!(push(&mut ring, frame));
            }
            for frame in &frames {
                assert_eq!(ring.pop_into(&mut out), Some(frame.len()));
                assert_eq!(&out[..frame.len()], &frame[..]);
            }
            assert_eq!(ring.pop_into(&mut out), None);
            assert!(ring.is_empty());
        }
    }

    #[test]
    fn a_full_ring_refuses_without_reading() {
        let mut ring = Box::new(FrameRing::new());
        let frame = vec![7u8; 1000];
        let mut pushed = 0;
        while push(&mut ring, &frame) {
            pushed += 1;
        }
        assert_eq!(pushed, RX_RING_BYTES / (HEADER + 1000));
        let mut reads = 0;
        assert!(!ring.push_words(1000, 251, || {
            reads += 1;
            0
        }));
        assert_eq!(reads, 0);
        let mut out = [0u8; 1514];
        assert_eq!(ring.pop_into(&mut out), Some(1000));
        assert!(push(&mut ring, &frame));
    }

    #[test]
    fn a_frame_too_long_for_the_buffer_is_skipped() {
        let mut ring = Box::new(FrameRing::new());
        assert!(push(&mut ring, &[1; 100]));
        assert!(push(&mut ring, &[2; 10]));
        let mut out = [0u8; 50];
        assert_eq!(ring.pop_into(&mut out), Some(10));
        assert_eq!(out[..10], [2; 10]);
        assert_eq!(ring.pop_into(&mut out), None);
    }
}
