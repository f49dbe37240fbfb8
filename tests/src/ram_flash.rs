//! A NOR flash in RAM (feature `ram-flash`, `no_std`): the rules of real NOR
//! parts (an erase sets 0xFF, a write only clears bits), usage counters, and
//! power loss injected in the middle of any write or erase.
//!
//! The flash cases ([`crate::flash_cases`]) run on it on the host and on the
//! emulated microcontroller; sesh-embassy's own flash tests share one behind
//! an `Rc<RefCell<_>>`, through the blocking [`RamFlash::read_now`],
//! [`RamFlash::write_now`] and [`RamFlash::erase_now`].

use core::ops::Range;

use embedded_storage_async::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Program and read unit of [`RamFlash`], in bytes.
pub const WORD: usize = 4;

/// What [`RamFlash`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashFault {
    /// The power is off: an injected cut, until [`RamFlash::power_cycle`].
    PowerLoss,
    /// Outside the flash.
    OutOfBounds,
    /// Not aligned to a word (write, read) or a page (erase).
    NotAligned,
}

impl NorFlashError for FlashFault {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashFault::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashFault::NotAligned => NorFlashErrorKind::NotAligned,
            FlashFault::PowerLoss => NorFlashErrorKind::Other,
        }
    }
}

/// The kind of a write or erase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A program operation.
    Write,
    /// An erase of one or more pages.
    Erase,
}

/// Usage counters of a [`RamFlash`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Write operations.
    pub writes: usize,
    /// Erase operations.
    pub erase_ops: usize,
    /// Pages erased (an erase of n pages counts n; a cut erase counts too).
    pub erases: usize,
    /// Words programmed that were not erased before: NOR ANDs them, a part
    /// with ECC would refuse. sequential-storage should never do it.
    pub overwrites: usize,
    /// Bytes programmed (a cut write counts the half that reached the flash).
    pub bytes_written: usize,
    /// Read operations.
    pub reads: usize,
}

impl Counters {
    /// Writes and erases: what a power-loss budget counts.
    pub fn ops(&self) -> usize {
        self.writes + self.erase_ops
    }
}

/// `PAGES` erase pages of `PAGE` bytes in RAM, with NOR rules and power-loss
/// injection. No allocation: the memory is inside the struct.
#[derive(Clone)]
pub struct RamFlash<const PAGE: usize, const PAGES: usize> {
    pages: [[u8; PAGE]; PAGES],
    counters: Counters,
    page_erases: [usize; PAGES],
    fail_after: Option<usize>,
    off: bool,
    torn: Option<Op>,
}

impl<const PAGE: usize, const PAGES: usize> Default for RamFlash<PAGE, PAGES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGE: usize, const PAGES: usize> RamFlash<PAGE, PAGES> {
    /// Total size in bytes.
    pub const SIZE: usize = PAGE * PAGES;

    /// A fully erased flash, fresh counters, full power.
    pub const fn new() -> Self {
        RamFlash {
            pages: [[0xFF; PAGE]; PAGES],
            counters: Counters {
                writes: 0,
                erase_ops: 0,
                erases: 0,
                overwrites: 0,
                bytes_written: 0,
                reads: 0,
            },
            page_erases: [0; PAGES],
            fail_after: None,
            off: false,
            torn: None,
        }
    }

    /// Becomes a copy of `other`'s memory, with fresh counters and full power.
    pub fn copy_from(&mut self, other: &Self) {
        self.pages = other.pages;
        self.counters = Counters::default();
        self.page_erases = [0; PAGES];
        self.fail_after = None;
        self.off = false;
        self.torn = None;
    }

    /// The whole memory.
    pub fn image(&self) -> &[u8] {
        self.pages.as_flattened()
    }

    /// Usage since creation or the last [`RamFlash::copy_from`].
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Erases per page since creation or the last [`RamFlash::copy_from`].
    pub fn page_erases(&self) -> [usize; PAGES] {
        self.page_erases
    }

    /// Arms a power cut: `ops` more writes or erases succeed, the next one
    /// is torn (only its first half reaches the flash) and fails, and every
    /// operation after it fails, reads included, until
    /// [`RamFlash::power_cycle`]. `None` disarms.
    pub fn fail_after(&mut self, ops: Option<usize>) {
        self.fail_after = ops;
    }

    /// Power is back (a reboot): clears the cut and the budget.
    pub fn power_cycle(&mut self) {
        self.off = false;
        self.fail_after = None;
    }

    /// Whether an injected cut has happened and power is still off.
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// The operation the last cut tore, if any.
    pub fn torn(&self) -> Option<Op> {
        self.torn
    }

    /// Flips bits: `byte ^= mask` at `at` (damage, not a NOR write).
    pub fn xor(&mut self, at: usize, mask: u8) {
        if let Some(b) = self.pages.as_flattened_mut().get_mut(at) {
            *b ^= mask;
        }
    }

    /// Fills a whole page with `byte` (damage, not a NOR write).
    pub fn fill_page(&mut self, page: usize, byte: u8) {
        if let Some(p) = self.pages.get_mut(page) {
            p.fill(byte);
        }
    }

    /// [`ReadNorFlash::read`], without the future.
    pub fn read_now(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashFault> {
        self.powered()?;
        let range = Self::range(offset, bytes.len(), WORD)?;
        self.counters.reads += 1;
        bytes.copy_from_slice(&self.pages.as_flattened()[range]);
        Ok(())
    }

    /// [`NorFlash::erase`], without the future.
    pub fn erase_now(&mut self, from: u32, to: u32) -> Result<(), FlashFault> {
        self.powered()?;
        let len = to.checked_sub(from).ok_or(FlashFault::OutOfBounds)?;
        let range = Self::range(from, len as usize, PAGE)?;
        let cut = self.spend(Op::Erase);
        self.counters.erase_ops += 1;
        // A cut erase still wore the pages it started on.
        self.counters.erases += range.len() / PAGE;
        for page in &mut self.page_erases[range.start / PAGE..range.end / PAGE] {
            *page += 1;
        }
        // Cut: only the first half of the range is erased.
        let end = if cut {
            range.start + range.len() / 2
        } else {
            range.end
        };
        self.pages.as_flattened_mut()[range.start..end].fill(0xFF);
        if cut {
            Err(FlashFault::PowerLoss)
        } else {
            Ok(())
        }
    }

    /// [`NorFlash::write`], without the future.
    pub fn write_now(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashFault> {
        self.powered()?;
        let range = Self::range(offset, data.len(), WORD)?;
        let cut = self.spend(Op::Write);
        self.counters.writes += 1;
        // Cut: only the first half of the bytes are programmed.
        let programmed = if cut { data.len() / 2 } else { data.len() };
        self.counters.bytes_written += programmed;
        let memory = &mut self.pages.as_flattened_mut()[range.start..][..programmed];
        let mut overwrites = 0;
        for word in memory.chunks(WORD) {
            if word.iter().any(|b| *b != 0xFF) {
                overwrites += 1;
            }
        }
        // NOR: programming only clears bits.
        for (m, d) in memory.iter_mut().zip(data) {
            *m &= *d;
        }
        self.counters.overwrites += overwrites;
        if cut {
            Err(FlashFault::PowerLoss)
        } else {
            Ok(())
        }
    }

    fn powered(&self) -> Result<(), FlashFault> {
        if self.off {
            Err(FlashFault::PowerLoss)
        } else {
            Ok(())
        }
    }

    /// Spends one operation of the budget; true if this one is cut.
    fn spend(&mut self, op: Op) -> bool {
        match &mut self.fail_after {
            Some(0) => {
                self.off = true;
                self.torn = Some(op);
                true
            }
            Some(left) => {
                *left -= 1;
                false
            }
            None => false,
        }
    }

    fn range(offset: u32, len: usize, align: usize) -> Result<Range<usize>, FlashFault> {
        let start = usize::try_from(offset).map_err(|_| FlashFault::OutOfBounds)?;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(FlashFault::NotAligned);
        }
        let end = start.checked_add(len).ok_or(FlashFault::OutOfBounds)?;
        if end > Self::SIZE {
            return Err(FlashFault::OutOfBounds);
        }
        Ok(start..end)
    }
}

impl<const PAGE: usize, const PAGES: usize> ErrorType for RamFlash<PAGE, PAGES> {
    type Error = FlashFault;
}

impl<const PAGE: usize, const PAGES: usize> ReadNorFlash for RamFlash<PAGE, PAGES> {
    const READ_SIZE: usize = WORD;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashFault> {
        self.read_now(offset, bytes)
    }

    fn capacity(&self) -> usize {
        Self::SIZE
    }
}

impl<const PAGE: usize, const PAGES: usize> NorFlash for RamFlash<PAGE, PAGES> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashFault> {
        self.erase_now(from, to)
    }

    async fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashFault> {
        self.write_now(offset, data)
    }
}
