//! ⚠️ **Emulator only: never use this on a product.** A NOR flash backed by
//! a file of the *host*, through semihosting, so that QEMU's MPS2 AN386 (no
//! flash controller that keeps data across runs) keeps sessions and its
//! signing key across restarts, the way the NUCLEO keeps them in internal
//! flash.
//!
//! The firmware enforces NOR rules itself, so that code that runs here runs
//! on a real part:
//!
//! - [`ERASE_SIZE`] (4 KiB) sectors: an erase sets them to `0xFF`;
//! - [`WRITE_SIZE`] (4-byte) words: offset and length must be multiples;
//! - a write can only clear bits. A write that would turn a 0 bit back
//!   into a 1 is **refused** with [`HostFlashError::WouldSetBits`] and
//!   writes nothing: a real serial NOR part would AND the bits silently and leave
//!   damaged data, so refusing shows the bug where it happens. Writing a
//!   word again that only clears more bits is allowed, as on NOR, which is
//!   what `MultiwriteNorFlash` promises.
//! - reads of any length at any offset;
//! - out of range and misaligned requests fail with the matching
//!   `NorFlashErrorKind`.
//!
//! The file is opened (created when missing) and, when shorter than the
//! configured capacity, extended with `0xFF` (erased) bytes. Writes go to
//! the host at once, so a `kill -9` of QEMU behaves like a power cut between
//! two flash operations. The file holds the signing key in clear: it is a
//! test fixture, not a secret store.

use core::ffi::CStr;
use core::fmt;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use crate::semihosting::{HostError, HostFile, OpenMode};

/// Erase granularity: 4 KiB sectors, as on common serial NOR parts.
pub const ERASE_SIZE: usize = 4096;

/// Write granularity: 4-byte words.
pub const WRITE_SIZE: usize = 4;

/// The host's "no such file" errno (Linux, macOS).
const ENOENT: usize = 2;

/// Bytes compared or written per semihosting call.
const CHUNK: usize = 256;

/// An erased chunk.
const ERASED: [u8; CHUNK] = [0xFF; CHUNK];

/// Why a flash operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFlashError {
    /// `offset..offset + len` is not inside the flash.
    OutOfBounds {
        /// First byte asked for.
        offset: u32,
        /// Bytes asked for.
        len: usize,
    },
    /// The offset or length is not a multiple of the write or erase size.
    NotAligned {
        /// First byte asked for.
        offset: u32,
        /// Bytes asked for.
        len: usize,
    },
    /// The write would turn a 0 bit back into 1 at this byte: erase first.
    WouldSetBits {
        /// The first offending byte.
        offset: u32,
    },
    /// The capacity is not a whole number of sectors.
    BadCapacity(u32),
    /// The host file could not be opened, read or written.
    Host(HostError),
}

impl fmt::Display for HostFlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFlashError::OutOfBounds { offset, len } => {
                write!(f, "{len} bytes at {offset:#x} are outside the flash")
            }
            HostFlashError::NotAligned { offset, len } => {
                write!(
                    f,
                    "{len} bytes at {offset:#x} are not aligned to the flash's words or sectors"
                )
            }
            HostFlashError::WouldSetBits { offset } => write!(
                f,
                "the write would set bits at {offset:#x}; NOR writes only clear bits (erase first)"
            ),
            HostFlashError::BadCapacity(capacity) => write!(
                f,
                "a capacity of {capacity} bytes is not a whole number of {ERASE_SIZE}-byte sectors"
            ),
            HostFlashError::Host(e) => write!(f, "host flash file: {e}"),
        }
    }
}

impl core::error::Error for HostFlashError {}

impl NorFlashError for HostFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            HostFlashError::OutOfBounds { .. } => NorFlashErrorKind::OutOfBounds,
            HostFlashError::NotAligned { .. } => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl From<HostError> for HostFlashError {
    fn from(e: HostError) -> Self {
        HostFlashError::Host(e)
    }
}

/// ⚠️ Emulator only. A NOR flash of `capacity` bytes in a host file.
#[derive(Debug)]
pub struct HostFlash {
    file: HostFile,
    capacity: u32,
}

impl HostFlash {
    /// Opens the host file `path` (relative to QEMU's working directory),
    /// creating it when missing and extending it with erased bytes up to
    /// `capacity` (a multiple of [`ERASE_SIZE`]). Bytes past `capacity` in
    /// a longer file are left alone and never used.
    pub fn open(path: &CStr, capacity: u32) -> Result<HostFlash, HostFlashError> {
        if capacity == 0 || !(capacity as usize).is_multiple_of(ERASE_SIZE) {
            return Err(HostFlashError::BadCapacity(capacity));
        }
        // "r+b" keeps an existing file; "w+b" would truncate it, so it is
        // only for a file that does not exist (ENOENT), never after any
        // other failure.
        let mut file = match HostFile::open(path, OpenMode::ReadWrite) {
            Ok(file) => file,
            Err(e) if e.errno == ENOENT => HostFile::open(path, OpenMode::CreateTruncate)?,
            Err(e) => return Err(e.into()),
        };
        let len = file.len()?;
        if len < capacity {
            file.seek(len)?;
            let mut missing = capacity.abs_diff(len) as usize;
            while missing > 0 {
                let n = missing.min(CHUNK);
                file.write_all(ERASED.get(..n).unwrap_or_default())?;
                missing = missing.saturating_sub(n);
            }
        }
        Ok(HostFlash { file, capacity })
    }

    /// The flash size in bytes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// `offset..offset + len` inside the flash, or an error.
    fn check_bounds(&self, offset: u32, len: usize) -> Result<(), HostFlashError> {
        let end = u64::from(offset).saturating_add(len as u64);
        if end > u64::from(self.capacity) {
            return Err(HostFlashError::OutOfBounds { offset, len });
        }
        Ok(())
    }

    /// Reads `bytes.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), HostFlashError> {
        self.check_bounds(offset, bytes.len())?;
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.seek(offset)?;
        self.file.read_exact(bytes)?;
        Ok(())
    }

    /// Refuses the write unless every bit it sets to 1 is 1 already.
    fn check_only_clears(&mut self, offset: u32, bytes: &[u8]) -> Result<(), HostFlashError> {
        let mut stored = [0u8; CHUNK];
        let mut at = offset;
        for new in bytes.chunks(CHUNK) {
            let old = stored.get_mut(..new.len()).unwrap_or_default();
            self.read_at(at, old)?;
            if let Some(i) = old.iter().zip(new).position(|(o, n)| n & !o != 0) {
                return Err(HostFlashError::WouldSetBits {
                    offset: at.saturating_add(i as u32),
                });
            }
            at = at.saturating_add(new.len() as u32);
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u32, bytes: &[u8]) -> Result<(), HostFlashError> {
        if !(offset as usize).is_multiple_of(WRITE_SIZE) || !bytes.len().is_multiple_of(WRITE_SIZE)
        {
            return Err(HostFlashError::NotAligned {
                offset,
                len: bytes.len(),
            });
        }
        self.check_bounds(offset, bytes.len())?;
        if bytes.is_empty() {
            return Ok(());
        }
        // All or nothing: check the whole range before writing any of it.
        self.check_only_clears(offset, bytes)?;
        // Every 1 in `bytes` is 1 in the flash, so storing `bytes` is the
        // NOR result `stored & bytes`.
        self.file.seek(offset)?;
        self.file.write_all(bytes)?;
        Ok(())
    }

    fn erase_range(&mut self, from: u32, to: u32) -> Result<(), HostFlashError> {
        let len = to.checked_sub(from).ok_or(HostFlashError::OutOfBounds {
            offset: from,
            len: 0,
        })? as usize;
        if !(from as usize).is_multiple_of(ERASE_SIZE) || !len.is_multiple_of(ERASE_SIZE) {
            return Err(HostFlashError::NotAligned { offset: from, len });
        }
        self.check_bounds(from, len)?;
        self.file.seek(from)?;
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            self.file.write_all(ERASED.get(..n).unwrap_or_default())?;
            left = left.saturating_sub(n);
        }
        Ok(())
    }
}

impl ErrorType for HostFlash {
    type Error = HostFlashError;
}

impl ReadNorFlash for HostFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), HostFlashError> {
        self.read_at(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.capacity as usize
    }
}

impl NorFlash for HostFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), HostFlashError> {
        self.erase_range(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), HostFlashError> {
        self.write_at(offset, bytes)
    }
}

/// Honoured: a word may be written again as long as the write only clears
/// bits, exactly the rule [`HostFlash`] enforces on every write.
impl MultiwriteNorFlash for HostFlash {}
