//! What lives where in the flash, and the signing key's first-boot
//! provisioning. Generic over the flash and the randomness source, so it
//! runs the same on [`crate::host_flash`] as on a real part.
//!
//! | offset range          | size   | what |
//! |-----------------------|--------|------|
//! | `0x0000..0x1000`      | 4 KiB  | the cookie-signing key (32 bytes), its own sector |
//! | `0x1000..0x2000`      | 4 KiB  | unused (keeps the key's sector apart from the snapshots) |
//! | `0x2000..0xA000`      | 32 KiB | session snapshots (sequential-storage, 8 sectors) |
//! | `0xA000..0x10000`     | 24 KiB | unused |

use core::fmt;
use core::ops::Range;

use embedded_storage_async::nor_flash::NorFlash;
use rand_core::TryRng;
use sesh::signing::Key;

/// The whole flash: 64 KiB.
pub const CAPACITY: u32 = 0x1_0000;

/// Where the signing key lives.
pub const KEY_OFFSET: u32 = 0x0000;

/// The key's length: 32 bytes, eight flash words.
pub const KEY_LEN: usize = 32;

/// The sectors sesh-embassy's `FlashSnapshots` uses.
pub const SNAPSHOTS: Range<u32> = 0x2000..0xA000;

// Both regions fit, whole sectors, without overlapping.
const _: () = assert!(KEY_OFFSET as usize + KEY_LEN <= SNAPSHOTS.start as usize);
const _: () = assert!(SNAPSHOTS.end <= CAPACITY);

/// Why there is no key.
#[derive(Debug)]
pub enum KeyError<F, R> {
    /// The flash failed.
    Flash(F),
    /// The randomness source failed.
    Random(R),
    /// The key read back is not the key written.
    Verify,
    /// The stored bytes are all 0x00 or all 0xFF after provisioning: no key.
    Blank,
    /// sesh refused the bytes as a key.
    Refused,
}

impl<F: fmt::Debug, R: fmt::Display> fmt::Display for KeyError<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Flash(e) => write!(f, "the key's flash sector failed: {e:?}"),
            KeyError::Random(e) => write!(f, "no randomness for a new key: {e}"),
            KeyError::Verify => f.write_str("the key read back differs from the key written"),
            KeyError::Blank => f.write_str("the stored key is blank (all 0x00 or 0xFF)"),
            KeyError::Refused => f.write_str("the stored key is not a usable signing key"),
        }
    }
}

/// How [`provision_key`] found the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from flash: written at an earlier boot.
    Stored,
    /// Made now, at first boot: `KEY_LEN` random bytes written and verified.
    New,
}

/// The signing key from its sector; at first boot (the sector erased),
/// [`KEY_LEN`] fresh bytes from `random` are written there, read back and
/// compared. The key never sits in the firmware image.
pub async fn provision_key<F: NorFlash, R: TryRng>(
    flash: &mut F,
    random: &mut R,
) -> Result<(Key, KeyOrigin), KeyError<F::Error, R::Error>> {
    let mut stored = [0u8; KEY_LEN];
    flash
        .read(KEY_OFFSET, &mut stored)
        .await
        .map_err(KeyError::Flash)?;
    let mut origin = KeyOrigin::Stored;
    if stored.iter().all(|b| *b == 0xFF) {
        let mut fresh = [0u8; KEY_LEN];
        random
            .try_fill_bytes(&mut fresh)
            .map_err(KeyError::Random)?;
        flash
            .write(KEY_OFFSET, &fresh)
            .await
            .map_err(KeyError::Flash)?;
        flash
            .read(KEY_OFFSET, &mut stored)
            .await
            .map_err(KeyError::Flash)?;
        if stored != fresh {
            return Err(KeyError::Verify);
        }
        origin = KeyOrigin::New;
    }
    if stored.iter().all(|b| *b == 0) || stored.iter().all(|b| *b == 0xFF) {
        return Err(KeyError::Blank);
    }
    let key = Key::new(&stored).map_err(|_| KeyError::Refused)?;
    Ok((key, origin))
}
