//! Receiving: each RX status word is judged before its data is touched, good
//! frames are copied out of the RX data FIFO without their FCS, and every
//! other frame's data is read and thrown away so the FIFO stays in step.

use core::task::Context;

use super::regs::{
    RX_CFG, RX_DATA_FIFO, RX_FIFO_INF, RX_STATUS_FIFO, fifo_inf, int, rx_cfg, rx_status,
};
use super::ring::FrameRing;
use super::{Error, MTU, Registers, State, poll};

/// RX_CFG: frames start at the first byte of a FIFO word (no RXDOFF offset)
/// and end on a 4-byte boundary, so a frame of `n` bytes (FCS included)
/// occupies exactly `ceil(n / 4)` data words and no padding words.
pub(crate) const RX_CFG_VALUE: u32 = 0;

/// The FCS the device leaves at the end of each frame in the FIFO.
const FCS_LEN: u32 = 4;
/// Shorter frames cannot hold an Ethernet header.
const MIN_FRAME_LEN: u32 = 14;
/// Status words judged in one pump: more than the status FIFO holds (176),
/// so only frames arriving during the pump make it stop early.
const STATUS_WORDS_PER_PUMP: u32 = 256;

/// Status bits that make a frame unfit for the stack.
const STATUS_ERRORS: u32 = rx_status::ERROR_SUMMARY
    | rx_status::RUNT
    | rx_status::TOO_LONG
    | rx_status::COLLISION
    | rx_status::WATCHDOG
    | rx_status::MII_ERROR
    | rx_status::CRC_ERROR
    | rx_status::FILTER_FAIL;

/// What to do with the frame an RX status word describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand `len` bytes to the stack; the frame occupies `words` data words.
    Deliver { len: usize, words: u32 },
    /// Drop the frame, reading its `words` data words.
    Discard { words: u32, reason: DropReason },
    /// The status claims more data than the data FIFO holds: nothing in the
    /// FIFOs can be trusted to line up any more.
    Resync,
}

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The status word reports a receive error.
    Error,
    /// Too short for an Ethernet header, or longer than [`MTU`].
    BadLength,
}

/// Judges an RX status word, given the bytes the RX data FIFO holds.
pub(crate) fn judge(status: u32, data_bytes_in_fifo: u32) -> Verdict {
    let length_with_fcs = (status >> rx_status::LENGTH_SHIFT) & rx_status::LENGTH_MASK;
    let words = length_with_fcs.div_ceil(4);
    if words.saturating_mul(4) > data_bytes_in_fifo {
        return Verdict::Resync;
    }
    if status & STATUS_ERRORS != 0 {
        return Verdict::Discard {
            words,
            reason: DropReason::Error,
        };
    }
    match length_with_fcs.checked_sub(FCS_LEN) {
        Some(len) if (MIN_FRAME_LEN..=MTU as u32).contains(&len) => Verdict::Deliver {
            len: len as usize,
            words,
        },
        _ => Verdict::Discard {
            words,
            reason: DropReason::BadLength,
        },
    }
}

/// The RX FIFOs' fill levels.
struct Levels {
    status_words: u32,
    data_bytes: u32,
}

impl Levels {
    fn read<R: Registers>(registers: &R) -> Self {
        let value = registers.read(RX_FIFO_INF);
        Self {
            status_words: (value >> fifo_inf::STATUS_USED_SHIFT) & fifo_inf::STATUS_USED_MASK,
            data_bytes: value & fifo_inf::DATA_BYTES_MASK,
        }
    }
}

/// What [`pump`] stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// The RX FIFOs are empty.
    Empty,
    /// The ring has no room for a largest frame: the rest stays in the FIFOs.
    Full,
    /// The bound on status words per call was reached.
    Bounded,
}

/// Moves frames from the RX FIFOs into `ring` while it has room for a
/// largest frame, dropping bad frames on the way. Called from the interrupt
/// handler and from the driver, inside a critical section.
pub(crate) fn pump<R: Registers>(state: &State<R>, ring: &mut FrameRing) -> Pumped {
    let registers = state.registers();
    for _ in 0..STATUS_WORDS_PER_PUMP {
        let levels = Levels::read(registers);
        // Only pop with a status word present: QEMU returns a stale word
        // from an empty status FIFO.
        if levels.status_words == 0 {
            return Pumped::Empty;
        }
        // The length is known only once the status word is popped.
        if !ring.fits(MTU) {
            return Pumped::Full;
        }
        let status = registers.read(RX_STATUS_FIFO);
        match judge(status, levels.data_bytes) {
            Verdict::Deliver { len, words } => {
                if ring.push_words(len, words, || registers.read(RX_DATA_FIFO)) {
                    state.counters.rx_frames.bump();
                } else {
                    discard(registers, words);
                }
            }
            Verdict::Discard { words, reason } => {
                discard(registers, words);
                match reason {
                    DropReason::Error => state.counters.rx_errors.bump(),
                    DropReason::BadLength => state.counters.rx_bad_length.bump(),
                }
            }
            Verdict::Resync => {
                state.counters.rx_resyncs.bump();
                // Nothing more to do if even the dump fails: the next status
                // word gets judged the same way.
                let _ = dump_fifos(registers);
            }
        }
    }
    Pumped::Bounded
}

/// The RX interrupt's work: moves what fits of the FIFOs into the ring.
/// Returns whether RSFL may be enabled again (false while the ring is full:
/// the driver re-enables it once it has made room).
pub(crate) fn on_interrupt<R: Registers>(state: &State<R>) -> bool {
    critical_section::with(|cs| {
        let mut ring = state.rx_ring.0.borrow_ref_mut(cs);
        if ring.stalled {
            return false;
        }
        ring.stalled = pump(state, &mut ring) == Pumped::Full;
        !ring.stalled
    })
}

/// Takes the oldest good frame (from the ring, else from the RX FIFOs) into
/// `buffer` and returns its length. With none, `cx` is woken by the next
/// frame's interrupt.
pub(crate) fn receive<R: Registers>(
    state: &State<R>,
    buffer: &mut [u8; MTU],
    cx: &mut Context<'_>,
) -> Option<usize> {
    // Before looking: a frame after the look interrupts and wakes.
    state.rx_waker.register(cx.waker());
    critical_section::with(|cs| {
        let mut ring = state.rx_ring.0.borrow_ref_mut(cs);
        if ring.stalled {
            // Acknowledge before the pump, so a frame after it interrupts.
            state.acknowledge(int::RSFL);
            if pump(state, &mut ring) != Pumped::Full {
                ring.stalled = false;
                state.enable(int::RSFL);
            }
        } else if ring.is_empty() && pump(state, &mut ring) == Pumped::Bounded {
            // A long run of bad frames: let other tasks run, then carry on.
            cx.waker().wake_by_ref();
        }
        ring.pop_into(buffer)
    })
}

/// Reads and drops `words` data words. (RX_DP_CTRL's fast-forward would be
/// quicker, but QEMU's version loses track of the FIFO's fill level.)
fn discard<R: Registers>(registers: &R, words: u32) {
    for _ in 0..words {
        registers.read(RX_DATA_FIFO);
    }
}

/// Empties both RX FIFOs, losing the frames in them.
fn dump_fifos<R: Registers>(registers: &R) -> Result<(), Error> {
    registers.write(RX_CFG, RX_CFG_VALUE | rx_cfg::RX_DUMP);
    poll::until_clear(registers, RX_CFG, rx_cfg::RX_DUMP, Error::RxDumpTimeout)
}

#[cfg(test)]
mod tests {
    use super::{DropReason, Verdict, judge};
    use crate::lan9118::regs::rx_status;

    fn status(length_with_fcs: u32, flags: u32) -> u32 {
        length_with_fcs << 16 | flags
    }

    #[test]
    fn good_frames_are_delivered_without_their_fcs() {
        assert_eq!(
            judge(status(64, 0), 64),
            Verdict::Deliver { len: 60, words: 16 }
        );
        assert_eq!(
            judge(status(65, 0), 68),
            Verdict::Deliver { len: 61, words: 17 }
        );
        // The shortest and longest frames the stack takes.
        assert_eq!(
            judge(status(18, 0), 20),
            Verdict::Deliver { len: 14, words: 5 }
        );
        assert_eq!(
            judge(status(1518, 0), 1520),
            Verdict::Deliver {
                len: 1514,
                words: 380
            }
        );
        // Broadcast and multicast flags are not errors.
        assert_eq!(
            judge(status(64, 1 << 13 | 1 << 10), 4096),
            Verdict::Deliver { len: 60, words: 16 }
        );
    }

    #[test]
    fn error_statuses_are_discarded_with_their_data() {
        for flag in [
            rx_status::ERROR_SUMMARY,
            rx_status::CRC_ERROR,
            rx_status::RUNT,
            rx_status::TOO_LONG,
            rx_status::COLLISION,
            rx_status::WATCHDOG,
            rx_status::MII_ERROR,
            rx_status::FILTER_FAIL,
        ] {
            assert_eq!(
                judge(status(65, flag), 68),
                Verdict::Discard {
                    words: 17,
                    reason: DropReason::Error
                },
                "flag {flag:#x}"
            );
        }
    }

    #[test]
    fn lengths_outside_the_frame_sizes_are_discarded() {
        let bad = |words| Verdict::Discard {
            words,
            reason: DropReason::BadLength,
        };
        assert_eq!(judge(status(1519, 0), 1520), bad(380));
        assert_eq!(judge(status(2051, 0), 2052), bad(513));
        assert_eq!(judge(status(17, 0), 20), bad(5));
        assert_eq!(judge(status(3, 0), 4), bad(1));
        assert_eq!(judge(status(0, 0), 0), bad(0));
    }

    #[test]
    fn a_length_beyond_the_data_in_the_fifo_means_resync() {
        assert_eq!(judge(status(65, 0), 64), Verdict::Resync);
        assert_eq!(judge(status(0x3FFF, 0), 16_380), Verdict::Resync);
        assert_eq!(
            judge(status(0x3FFF, 0), 16_384),
            Verdict::Discard {
                words: 4096,
                reason: DropReason::BadLength
            }
        );
        assert_eq!(
            judge(status(0x3FFF, rx_status::CRC_ERROR), 100),
            Verdict::Resync
        );
        assert_eq!(judge(u32::MAX, 0), Verdict::Resync);
    }
}
