//! ⚠️ **Emulator only.** Test knobs from the semihosting command line.
//!
//! QEMU passes them with `-semihosting-config
//! enable=on,target=native,arg=mps2-an386,arg=--flash,arg=FILE,...`: every
//! `arg=` is one word, the first is the program name by convention (a first
//! word that does not start with `-` is skipped as such), and QEMU joins
//! them with spaces, so a value cannot contain a space (and a comma is
//! written `,,`). Without any `arg=`, QEMU sends the `-kernel` file name
//! and the `-append` text instead, which works the same way.
//!
//! | knob | effect |
//! |------|--------|
//! | `--flash FILE` | the host file holding the flash (default [`DEFAULT_FLASH_FILE`], in QEMU's working directory) |
//! | `--idle-timeout SECS` | the sessions' idle timeout instead of [`firmware::POLICY`]'s |
//! | `--absolute-lifetime SECS` | the sessions' absolute lifetime instead of [`firmware::POLICY`]'s |
//! | `--stats-port PORT` | also answer `{"sessions":N,"capacity":16}` on this guest TCP port |
//! | `--crash panic\|fault\|stack` | after boot, panic / read an unmapped address / recurse without bound |
//! | `-h`, `--help` | print the knobs and exit 0 |
//!
//! `--flag=value` works as well. A bad value prints why and exits 1.

use core::ffi::CStr;
use core::fmt;

use sesh::{Duration, ExpiryPolicy};

use crate::faults::Crash;
use crate::semihosting::{self, HostError};

/// The flash file unless `--flash` says otherwise.
pub const DEFAULT_FLASH_FILE: &CStr = c"firmware-flash.bin";

/// The longest host path `--flash` takes, in bytes.
pub const MAX_PATH: usize = 255;

/// The longest command line read from QEMU.
const MAX_COMMAND_LINE: usize = 1024;

/// The knobs' help text.
pub const USAGE: &str = "\
mps2-an386 (QEMU only) knobs, after -semihosting-config ...,arg=mps2-an386:
  --flash FILE               host file holding the flash [default: firmware-flash.bin]
  --idle-timeout SECS        session idle timeout [default: the firmware's, 600]
  --absolute-lifetime SECS   session absolute lifetime [default: the firmware's, 28800]
  --stats-port PORT          also serve {\"sessions\":N,\"capacity\":16} on this port (tests)
  --crash panic|fault|stack  crash after boot, to test the fault paths
  -h, --help                 print this and exit";

/// A host file path, NUL-terminated for semihosting.
#[derive(Clone)]
pub struct HostPath {
    bytes: [u8; MAX_PATH + 1],
    len: usize,
}

impl HostPath {
    /// `path`, if it is not empty, not longer than [`MAX_PATH`] bytes and
    /// has no NUL.
    pub fn new(path: &str) -> Option<HostPath> {
        let len = path.len();
        if len == 0 || len > MAX_PATH || path.contains('\0') {
            return None;
        }
        let mut bytes = [0u8; MAX_PATH + 1];
        bytes.get_mut(..len)?.copy_from_slice(path.as_bytes());
        Some(HostPath { bytes, len })
    }

    /// The path, as given.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The path with its NUL, for [`crate::semihosting::HostFile::open`].
    pub fn as_c_str(&self) -> &CStr {
        self.bytes
            .get(..=self.len)
            .and_then(|b| CStr::from_bytes_with_nul(b).ok())
            .unwrap_or_default()
    }
}

impl fmt::Debug for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The parsed knobs.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// `--flash`; see [`Knobs::flash_file`].
    pub flash_path: Option<HostPath>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--absolute-lifetime`.
    pub absolute_lifetime: Option<Duration>,
    /// `--stats-port`.
    pub stats_port: Option<u16>,
    /// `--crash`.
    pub crash: Option<Crash>,
    /// `-h` / `--help`.
    pub help: bool,
}

impl Knobs {
    /// The flash file: `--flash`, or [`DEFAULT_FLASH_FILE`].
    pub fn flash_file(&self) -> &CStr {
        self.flash_path
            .as_ref()
            .map_or(DEFAULT_FLASH_FILE, HostPath::as_c_str)
    }

    /// [`Knobs::flash_file`] as text, for messages.
    pub fn flash_file_name(&self) -> &str {
        self.flash_file().to_str().unwrap_or("(not UTF-8)")
    }

    /// `policy` with `--idle-timeout` and `--absolute-lifetime` applied.
    pub fn policy(&self, policy: ExpiryPolicy) -> ExpiryPolicy {
        let policy = match self.idle_timeout {
            Some(idle) => policy.with_idle_timeout(idle),
            None => policy,
        };
        match self.absolute_lifetime {
            Some(absolute) => policy.with_absolute_lifetime(absolute),
            None => policy,
        }
    }
}

/// Why the command line was refused.
#[derive(Debug)]
pub enum KnobError<'a> {
    /// A flag that needs a value came last.
    MissingValue(&'a str),
    /// A value that does not fit its flag.
    BadValue {
        /// The flag.
        flag: &'a str,
        /// The value given.
        value: &'a str,
        /// What the flag takes.
        expected: &'static str,
    },
    /// An argument that is no knob.
    Unknown(&'a str),
    /// The command line could not be read.
    Host(HostError),
}

impl fmt::Display for KnobError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            KnobError::BadValue {
                flag,
                value,
                expected,
            } => write!(f, "{flag} `{value}` is not {expected}"),
            KnobError::Unknown(arg) => write!(f, "unknown argument `{arg}` (try --help)"),
            KnobError::Host(e) => write!(f, "cannot read the command line: {e}"),
        }
    }
}

fn seconds<'a>(flag: &'a str, value: &'a str) -> Result<Duration, KnobError<'a>> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .ok_or(KnobError::BadValue {
            flag,
            value,
            expected: "a number of seconds > 0",
        })
}

/// Parses a command line (words separated by spaces; see the module docs).
pub fn parse(line: &str) -> Result<Knobs, KnobError<'_>> {
    let mut knobs = Knobs {
        flash_path: None,
        idle_timeout: None,
        absolute_lifetime: None,
        stats_port: None,
        crash: None,
        help: false,
    };
    let mut words = line.split_ascii_whitespace().peekable();
    if words.peek().is_some_and(|w| !w.starts_with('-')) {
        words.next(); // the program name
    }
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (word, None),
        };
        let mut value = || {
            inline
                .or_else(|| words.next())
                .ok_or(KnobError::MissingValue(flag))
        };
        match flag {
            "-h" | "--help" => knobs.help = true,
            "--flash" => {
                let path = value()?;
                knobs.flash_path = Some(HostPath::new(path).ok_or(KnobError::BadValue {
                    flag,
                    value: path,
                    expected: "a host path of 1 to 255 bytes",
                })?);
            }
            "--idle-timeout" => knobs.idle_timeout = Some(seconds(flag, value()?)?),
            "--absolute-lifetime" => knobs.absolute_lifetime = Some(seconds(flag, value()?)?),
            "--stats-port" => {
                let port = value()?;
                let parsed = port
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0 && p != firmware::PORT);
                knobs.stats_port = Some(parsed.ok_or(KnobError::BadValue {
                    flag,
                    value: port,
                    expected: "a TCP port from 1 to 65535 other than 80",
                })?);
            }
            "--crash" => {
                let kind = value()?;
                knobs.crash = Some(match kind {
                    "panic" => Crash::Panic,
                    "fault" => Crash::Fault,
                    "stack" => Crash::Stack,
                    _ => {
                        return Err(KnobError::BadValue {
                            flag,
                            value: kind,
                            expected: "panic, fault or stack",
                        });
                    }
                });
            }
            _ => return Err(KnobError::Unknown(word)),
        }
    }
    Ok(knobs)
}

/// The knobs from QEMU's command line. Prints the usage and exits 0 on
/// `--help`; prints the error and the usage and exits 1 on a bad one.
pub fn from_host_or_exit() -> Knobs {
    let mut buf = [0u8; MAX_COMMAND_LINE];
    let parsed = semihosting::command_line(&mut buf)
        .map_err(KnobError::Host)
        .and_then(parse);
    match parsed {
        Ok(knobs) if knobs.help => {
            crate::println!("{}", USAGE);
            semihosting::exit(true)
        }
        Ok(knobs) => knobs,
        Err(e) => semihosting::exit_failure(format_args!("mps2-an386: {e}\n{USAGE}")),
    }
}
