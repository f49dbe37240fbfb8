//! Where session ids come from on a host.

use std::sync::Mutex;

use rand_core::{TryCryptoRng, TryRng};
use sesh::RngError;

/// A shared source of cryptographic randomness.
///
/// The default is the operating system's generator ([`OsRandom`]). Tests
/// inject broken or repeating sources to show that sesh fails closed.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `dest`, or fails: never a partial or predictable fill.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The operating system's CSPRNG (`getrandom`), read in blocks.
///
/// One system call per session id would cost more than the rest of making a
/// session, so each thread reads 512 bytes at once and hands them out;
/// every byte is handed out once and wiped. A forked child starts a new
/// block instead of repeating its parent's: on Unix a `pthread_atfork`
/// handler (through the `forkguard` crate) counts forks, so the check is
/// one atomic load; where the handler cannot be registered, the process id
/// is compared instead (a system call per draw). A child made by a raw
/// `clone` system call, which runs no fork handlers, is not detected on the
/// first path: create processes with libc's `fork`, `posix_spawn` or
/// `std::process::Command`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

/// Bytes read from the OS at a time (32 session ids).
const BLOCK: usize = 512;

struct Block {
    bytes: [u8; BLOCK],
    used: usize,
    /// Set up with the first fill; until then the block is empty.
    fork: Option<ForkCheck>,
}

/// Tells whether this process is a fork of the one that filled the block.
enum ForkCheck {
    /// Forks counted by a `pthread_atfork` child handler: one atomic load.
    #[cfg(unix)]
    Atfork(forkguard::atfork::Guard),
    /// The process id when the block was filled: a system call per check.
    Pid(u32),
}

impl ForkCheck {
    fn new() -> Self {
        #[cfg(unix)]
        if let Ok(guard) = forkguard::atfork::Guard::try_new() {
            return ForkCheck::Atfork(guard);
        }
        ForkCheck::Pid(std::process::id())
    }

    /// Whether a fork happened since the last check (or since `new`).
    fn forked(&mut self) -> bool {
        match self {
            #[cfg(unix)]
            ForkCheck::Atfork(guard) => guard.detected_fork(),
            ForkCheck::Pid(pid) => {
                let now = std::process::id();
                std::mem::replace(pid, now) != now
            }
        }
    }
}

thread_local! {
    static BLOCK_OF_THIS_THREAD: std::cell::RefCell<Block> = const {
        std::cell::RefCell::new(Block { bytes: [0; BLOCK], used: BLOCK, fork: None })
    };
}

impl Block {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        // Registered before the first fill, so no fork after it goes unseen.
        let fork = self.fork.get_or_insert_with(ForkCheck::new);
        if fork.forked() {
            self.used = BLOCK;
        }
        for chunk in dest.chunks_mut(BLOCK) {
            if BLOCK.saturating_sub(self.used) < chunk.len() {
                getrandom::fill(&mut self.bytes).map_err(|_| RngError)?;
                self.used = 0;
            }
            let end = self.used.saturating_add(chunk.len());
            let fresh = self.bytes.get_mut(self.used..end).ok_or(RngError)?;
            chunk.copy_from_slice(fresh);
            fresh.fill(0);
            self.used = end;
        }
        Ok(())
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        BLOCK_OF_THIS_THREAD
            .try_with(|block| block.try_borrow_mut().map_err(|_| RngError)?.fill(dest))
            .map_err(|_| RngError)?
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, ForkCheck, OsRandom, RandomSource};

    /// The fallback sees a process id other than the one it holds as a
    /// fork, once. (The default check is tested by forking, in
    /// tests/fork-check: the workspace forbids the `unsafe` that needs.)
    #[test]
    fn the_process_id_check_sees_another_process() {
        let mut check = ForkCheck::Pid(std::process::id().wrapping_add(1));
        assert!(check.forked());
        assert!(!check.forked());
        assert!(!ForkCheck::new().forked());
    }

    #[test]
    fn hands_out_each_byte_once_across_block_boundaries() {
        let mut seen = std::collections::HashSet::new();
        for len in [16usize, 1, 7, BLOCK, BLOCK + 3, 0, 16] {
            for _ in 0..(3 * BLOCK / len.max(1)).min(200) {
                let mut a = vec![0u8; len];
                OsRandom.fill(&mut a).unwrap();
                if len >= 16 {
                    assert!(seen.insert(a.clone()), "a {len}-byte draw repeated");
                    assert!(a.iter().any(|&b| b != 0), "an all-zero draw of {len} bytes");
                }
            }
        }
    }
}

/// Any rand_core 0.10 generator behind a mutex (for example a seeded
/// ChaCha, or a test generator).
#[derive(Debug)]
pub struct LockedRng<R>(pub Mutex<R>);

impl<R: TryCryptoRng + Send + 'static> RandomSource for LockedRng<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        let mut rng = self.0.lock().map_err(|_| RngError)?;
        rng.try_fill_bytes(dest).map_err(|_| RngError)
    }
}

/// Lets the core's `SessionId::generate` draw from a [`RandomSource`].
pub(crate) struct SourceRng<'a>(pub &'a dyn RandomSource);

impl TryRng for SourceRng<'_> {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        self.0.fill(dst)
    }
}

impl TryCryptoRng for SourceRng<'_> {}
