//! ⚠️ Emulator only: host files and the command line through Arm
//! semihosting (`bkpt 0xab`), as QEMU serves them with
//! `-semihosting-config enable=on,target=native`.
//!
//! On a real board without a debugger attached, `bkpt` is a debug event the
//! core cannot take: it faults. Everything built on this module
//! ([`crate::emulator_entropy`], [`crate::host_flash`], [`crate::knobs`])
//! is for QEMU and never for a product.
//!
//! Each call blocks the whole emulated CPU while QEMU does the host I/O, so
//! calls are short and happen at boot or from the flash driver only.
#![allow(unsafe_code)]

use core::ffi::CStr;
use core::fmt;

use cortex_m_semihosting::{nr, syscall1};

/// The semihosting crate, for [`println!`](crate::println) in other crates.
#[doc(hidden)]
pub use cortex_m_semihosting as hio;

/// A semihosting call failed; `errno` is the host's error number
/// (SYS_ERRNO), 0 when the host gave none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostError {
    /// Which call failed.
    pub call: &'static str,
    /// The host's `errno` after the call.
    pub errno: usize,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "semihosting {} failed (host errno {})",
            self.call, self.errno
        )
    }
}

impl core::error::Error for HostError {}

/// How [`HostFile::open`] opens a file: the `fopen` modes semihosting
/// numbers 1, 3 and 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// `"rb"`: read an existing file.
    Read,
    /// `"r+b"`: read and write an existing file; fails when it is missing.
    ReadWrite,
    /// `"w+b"`: create the file, or truncate it to 0 bytes.
    CreateTruncate,
}

impl OpenMode {
    fn number(self) -> usize {
        match self {
            OpenMode::Read => nr::open::R_BINARY,
            OpenMode::ReadWrite => nr::open::RW_BINARY,
            OpenMode::CreateTruncate => nr::open::RW_TRUNC_BINARY,
        }
    }
}

/// The host's `errno` for the last failed call.
fn errno() -> usize {
    // SAFETY: SYS_ERRNO takes no argument block (r1 must be 0) and only
    // returns a value in r0.
    unsafe { syscall1(nr::ERRNO, 0) }
}

fn failed(call: &'static str) -> HostError {
    HostError {
        call,
        errno: errno(),
    }
}

/// Semihosting returns -1 (as a word) for most failures.
const FAILURE: usize = usize::MAX;

/// A file of the host, open until [`HostFile::close`] (or forever).
#[derive(Debug)]
pub struct HostFile {
    handle: usize,
}

impl HostFile {
    /// Opens `path`, relative to QEMU's working directory unless absolute.
    pub fn open(path: &CStr, mode: OpenMode) -> Result<HostFile, HostError> {
        let bytes = path.to_bytes();
        let args = [bytes.as_ptr() as usize, mode.number(), bytes.len()];
        // SAFETY: the block holds a pointer to a NUL-terminated string that
        // outlives the call (QEMU reads up to the NUL), the mode and the
        // length without the NUL, as SYS_OPEN expects; the host only reads.
        let handle = unsafe { syscall1(nr::OPEN, args.as_ptr() as usize) };
        if handle == FAILURE {
            return Err(failed("SYS_OPEN"));
        }
        Ok(HostFile { handle })
    }

    /// Reads up to `buf.len()` bytes at the file position; returns how many
    /// (fewer only at the end of the file).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostError> {
        let args = [self.handle, buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: the block names this open handle and a writable buffer of
        // exactly `buf.len()` bytes, borrowed mutably for the call; the host
        // writes at most that many bytes into it.
        let not_read = unsafe { syscall1(nr::READ, args.as_ptr() as usize) };
        // SYS_READ returns how many bytes were *not* read.
        buf.len()
            .checked_sub(not_read)
            .ok_or_else(|| failed("SYS_READ"))
    }

    /// Fills `buf` completely, or fails (also at the end of the file).
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), HostError> {
        let mut rest = buf;
        while !rest.is_empty() {
            let n = self.read(rest)?;
            if n == 0 {
                return Err(HostError {
                    call: "SYS_READ (end of file)",
                    errno: 0,
                });
            }
            rest = rest.get_mut(n..).unwrap_or_default();
        }
        Ok(())
    }

    /// Writes all of `bytes` at the file position.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let args = [self.handle, rest.as_ptr() as usize, rest.len()];
            // SAFETY: the block names this open handle and `rest.len()`
            // readable bytes borrowed for the call; the host only reads.
            let not_written = unsafe { syscall1(nr::WRITE, args.as_ptr() as usize) };
            // SYS_WRITE returns how many bytes were *not* written.
            let written = rest
                .len()
                .checked_sub(not_written)
                .filter(|&n| n > 0)
                .ok_or_else(|| failed("SYS_WRITE"))?;
            rest = rest.get(written..).unwrap_or_default();
        }
        Ok(())
    }

    /// Moves the file position to `offset` bytes from the start.
    pub fn seek(&mut self, offset: u32) -> Result<(), HostError> {
        let args = [self.handle, offset as usize];
        // SAFETY: the block names this open handle and an absolute offset,
        // as SYS_SEEK expects; the host only reads the block.
        let status = unsafe { syscall1(nr::SEEK, args.as_ptr() as usize) };
        if status != 0 {
            return Err(failed("SYS_SEEK"));
        }
        Ok(())
    }

    /// The file's length in bytes.
    pub fn len(&mut self) -> Result<u32, HostError> {
        let args = [self.handle];
        // SAFETY: the block names this open handle, as SYS_FLEN expects.
        let len = unsafe { syscall1(nr::FLEN, args.as_ptr() as usize) };
        if len == FAILURE {
            return Err(failed("SYS_FLEN"));
        }
        u32::try_from(len).map_err(|_| failed("SYS_FLEN"))
    }

    /// Whether the file is empty.
    pub fn is_empty(&mut self) -> Result<bool, HostError> {
        Ok(self.len()? == 0)
    }

    /// Closes the file.
    pub fn close(self) -> Result<(), HostError> {
        let args = [self.handle];
        // SAFETY: the block names this open handle, which is not used again
        // (`self` is consumed).
        let status = unsafe { syscall1(nr::CLOSE, args.as_ptr() as usize) };
        if status != 0 {
            return Err(failed("SYS_CLOSE"));
        }
        Ok(())
    }
}

/// The host's clock, in seconds since the Unix epoch (SYS_TIME).
pub fn unix_time() -> Result<u64, HostError> {
    // SAFETY: SYS_TIME takes no argument block (r1 must be 0) and only
    // returns a value in r0.
    let secs = unsafe { syscall1(nr::TIME, 0) };
    // A 32-bit r0 cannot say "failed" apart from a time: -1 is the error.
    if secs == usize::MAX {
        return Err(failed("SYS_TIME"));
    }
    Ok(secs as u64)
}

/// The command line QEMU hands the guest (SYS_GET_CMDLINE), read into `buf`.
///
/// QEMU joins the `arg=` values of `-semihosting-config` with spaces (the
/// first one is, by convention, the program name); without any `arg=`, it
/// is the `-kernel` file name followed by the `-append` text.
pub fn command_line(buf: &mut [u8]) -> Result<&str, HostError> {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block holds a writable buffer of `buf.len()` bytes and its
    // length; the host writes the NUL-terminated line into the buffer (at
    // most its length, or it fails) and the line's length into the block,
    // both borrowed mutably for the call.
    let status = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if status != 0 {
        return Err(failed("SYS_GET_CMDLINE"));
    }
    let [_, len] = block;
    let line = buf.get(..len).ok_or_else(|| failed("SYS_GET_CMDLINE"))?;
    core::str::from_utf8(line).map_err(|_| HostError {
        call: "SYS_GET_CMDLINE (not UTF-8)",
        errno: 0,
    })
}

/// Prints to the host's console through semihosting, with a newline (QEMU
/// writes it to its standard error unless `-semihosting-config chardev=`
/// says otherwise).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::semihosting::hio::hprintln!($($arg)*)
    };
}

/// Ends QEMU with a failure status (1), after `message` on the console.
pub fn exit_failure(message: fmt::Arguments<'_>) -> ! {
    cortex_m_semihosting::hprintln!("{}", message);
    exit(false)
}

/// Ends QEMU: status 0 when `success`, 1 otherwise (SYS_EXIT).
pub fn exit(success: bool) -> ! {
    let status = if success {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    };
    cortex_m_semihosting::debug::exit(status);
    // A debugger may return from SYS_EXIT; QEMU never does. Stop for good.
    loop {
        cortex_m::asm::wfi();
    }
}
