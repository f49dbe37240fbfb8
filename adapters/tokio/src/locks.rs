//! Striped per-session locks: one process never races itself on a session.

use sesh::SessionId;
use std::hash::BuildHasher;
use tokio::sync::{Mutex, MutexGuard};

/// A fixed set of async mutexes; a session maps to one by its id's hash.
///
/// Writers of one session in this process take turns, so they do not burn
/// compare-and-swap retries against each other; the store's CAS still
/// settles races between processes.
#[derive(Debug)]
pub(crate) struct Stripes {
    locks: Box<[Mutex<()>]>,
}

impl Stripes {
    pub(crate) fn new(count: usize) -> Self {
        Stripes {
            locks: (0..count.max(1)).map(|_| Mutex::new(())).collect(),
        }
    }

    pub(crate) async fn lock(&self, id: &SessionId) -> Option<MutexGuard<'_, ()>> {
        let hash = std::hash::BuildHasherDefault::<sesh::table::IdHasher>::default().hash_one(id);
        let count = u64::try_from(self.locks.len()).ok()?.max(1);
        let index = usize::try_from((hash >> 16).checked_rem(count)?).ok()?;
        Some(self.locks.get(index)?.lock().await)
    }
}
