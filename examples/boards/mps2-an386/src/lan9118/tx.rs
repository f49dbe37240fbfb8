//! Transmitting: one frame is one buffer, written to the TX data FIFO as
//! command A, command B, then the bytes packed little-endian into words.

use core::task::Context;

use super::regs::{
    TX_DATA_FIFO, TX_FIFO_INF, TX_STATUS_FIFO, fifo_inf, int, tx_cfg, tx_cmd_a, tx_cmd_b, tx_status,
};
use super::{MTU, Registers, State};

/// TX_CFG: transmitter on; the TX status FIFO may overrun instead of
/// stopping the transmitter (the driver only counts the statuses).
pub(crate) const TX_CFG_VALUE: u32 = tx_cfg::TX_ON | tx_cfg::TXSAO;

/// Free TX data FIFO bytes any frame needs: two command words and the
/// largest frame rounded up to whole words.
pub(crate) const ROOM_FOR_ANY_FRAME: u32 = 8 + (MTU as u32).next_multiple_of(4);

/// The FIFO_INT TX data available level: TDFA fires once more than this many
/// 64-byte units are free, which is room for any frame.
pub(crate) const TX_AVAILABLE_LEVEL: u32 = ROOM_FOR_ANY_FRAME.div_ceil(64);

// TDFA fires when more than `level * 64` bytes are free: that must fit any
// frame, and it fits the 11-bit buffer size too.
const _: () = assert!(TX_AVAILABLE_LEVEL * 64 >= ROOM_FOR_ANY_FRAME);
const _: () = assert!(MTU as u32 <= tx_cmd_a::BUFFER_SIZE_MASK);

/// Command A for a frame in one buffer: first and last segment, no
/// completion interrupt, data from the first byte, 4-byte end alignment.
fn command_a(len: u32) -> u32 {
    tx_cmd_a::FIRST_SEGMENT | tx_cmd_a::LAST_SEGMENT | (len & tx_cmd_a::BUFFER_SIZE_MASK)
}

/// Command B: the tag echoed in the TX status, and the frame length (the
/// device adds the FCS and pads short frames).
fn command_b(tag: u16, len: u32) -> u32 {
    u32::from(tag) << tx_cmd_b::TAG_SHIFT | (len & tx_cmd_b::LENGTH_MASK)
}

/// Whether the TX data FIFO has room for any frame. If not, arranges for
/// `cx` to be woken when it has (TDFA).
pub(crate) fn ready<R: Registers>(state: &State<R>, cx: &mut Context<'_>) -> bool {
    if has_room(state) {
        return true;
    }
    state.tx_waker.register(cx.waker());
    state.acknowledge(int::TDFA);
    state.enable(int::TDFA);
    // Room may have appeared before the acknowledgement.
    if has_room(state) {
        state.disable(int::TDFA);
        return true;
    }
    false
}

/// Reads the TX FIFO levels, counting (and so popping) the status words of
/// frames sent so far, and tells whether any frame fits.
fn has_room<R: Registers>(state: &State<R>) -> bool {
    let registers = state.registers();
    let levels = registers.read(TX_FIFO_INF);
    let statuses = (levels >> fifo_inf::STATUS_USED_SHIFT) & fifo_inf::STATUS_USED_MASK;
    for _ in 0..statuses {
        if registers.read(TX_STATUS_FIFO) & tx_status::ERROR_SUMMARY != 0 {
            state.counters.tx_errors.bump();
        }
    }
    levels & fifo_inf::DATA_BYTES_MASK >= ROOM_FOR_ANY_FRAME
}

/// Writes one frame (at most [`MTU`] bytes; more are cut off) to the TX
/// data FIFO. The caller has checked there is room.
pub(crate) fn write_frame<R: Registers>(registers: &R, frame: &[u8], tag: u16) {
    let frame = frame.get(..MTU).unwrap_or(frame);
    let len = frame.len() as u32;
    registers.write(TX_DATA_FIFO, command_a(len));
    registers.write(TX_DATA_FIFO, command_b(tag, len));
    for chunk in frame.chunks(4) {
        let mut word = [0; 4];
        for (slot, byte) in word.iter_mut().zip(chunk) {
            *slot = *byte;
        }
        registers.write(TX_DATA_FIFO, u32::from_le_bytes(word));
    }
}

#[cfg(test)]
mod tests {
    use super::{ROOM_FOR_ANY_FRAME, TX_AVAILABLE_LEVEL, command_a, command_b};

    #[test]
    fn command_words_describe_a_single_buffer_frame() {
        assert_eq!(command_a(61), 0x0000_303D);
        assert_eq!(command_a(1514), 0x0000_35EA);
        assert_eq!(command_b(0xBEEF, 61), 0xBEEF_003D);
    }

    #[test]
    fn the_tdfa_level_is_the_smallest_that_fits_the_largest_frame() {
        assert_eq!(ROOM_FOR_ANY_FRAME, 1524);
        assert_eq!(TX_AVAILABLE_LEVEL, 24);
    }
}
