//! Receiving: each RX status word is judged before its data is touched, good
//! frames are copied out of the RX data FIFO without their FCS, and every
//! other frame's data is read and thrown away so the FIFO stays in step.

use core::task::Context;

use super::regs::{
    RX_CFG, RX_DATA_FIFO, RX_FIFO_INF, RX_STATUS_FIFO, fifo_inf, int, rx_cfg, rx_status,
};
use super::{Error, MTU, Registers, State, poll};

/// RX_CFG: frames start at the first byte of a FIFO word (no RXDOFF offset)
/// and end on a 4-byte boundary, so a frame of `n` bytes (FCS included)
/// occupies exactly `ceil(n / 4)` data words and no padding words.
pub(crate) const RX_CFG_VALUE: u32 = 0;

/// The FCS the device leaves at the end of each frame in the FIFO.
const FCS_LEN: u32 = 4;
/// Shorter frames cannot hold an Ethernet header.
const MIN_FRAME_LEN: u32 = 14;
/// Status words judged in one `receive` call before yielding to other tasks
/// (only a stream of bad frames gets that far).
const STATUS_WORDS_PER_CALL: u32 = 32;

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

/// Takes the next good frame out of the RX FIFOs into `buffer` and returns
/// its length, dropping bad frames on the way. With the FIFOs empty, it
/// arranges for `cx` to be woken by the next frame's interrupt and returns
/// `None`.
pub(crate) fn receive<R: Registers>(
    state: &State<R>,
    buffer: &mut [u8; MTU],
    cx: &mut Context<'_>,
) -> Option<usize> {
    let registers = state.registers();
    let mut armed = false;
    for _ in 0..STATUS_WORDS_PER_CALL {
        let levels = Levels::read(registers);
        if levels.status_words == 0 {
            if armed {
                return None;
            }
            // Arm, then look once more: a frame that landed before the
            // acknowledgement is seen by that look, a later one interrupts.
            state.rx_waker.register(cx.waker());
            state.acknowledge(int::RSFL);
            state.enable(int::RSFL);
            armed = true;
            continue;
        }
        // Only pop with a status word present: QEMU returns a stale word
        // from an empty status FIFO.
        let status = registers.read(RX_STATUS_FIFO);
        match judge(status, levels.data_bytes) {
            Verdict::Deliver { len, words } => {
                let Some(frame) = buffer.get_mut(..len) else {
                    discard(registers, words);
                    continue;
                };
                read_frame(registers, frame, words);
                state.counters.rx_frames.bump();
                return Some(len);
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
    // A long run of bad frames: let other tasks run, then carry on.
    cx.waker().wake_by_ref();
    None
}

/// Reads `words` data words, filling `frame` from the first bytes (the FIFO
/// carries them little-endian, first byte in bits 7:0) and dropping the rest:
/// the FCS and the unused bytes of the last word.
fn read_frame<R: Registers>(registers: &R, frame: &mut [u8], words: u32) {
    let mut chunks = frame.chunks_mut(4);
    for _ in 0..words {
        let word = registers.read(RX_DATA_FIFO).to_le_bytes();
        if let Some(chunk) = chunks.next() {
            for (byte, value) in chunk.iter_mut().zip(word) {
                *byte = value;
            }
        }
    }
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
