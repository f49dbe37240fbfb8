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
    /// Never empty, by construction: every id has a lock, so no turn is
    /// ever skipped (an update, a regenerate and a destroy of one session
    /// in this process always take turns).
    first: Mutex<()>,
    rest: Box<[Mutex<()>]>,
}

impl Stripes {
    pub(crate) fn new(count: usize) -> Self {
        Stripes {
            first: Mutex::new(()),
            rest: (1..count).map(|_| Mutex::new(())).collect(),
        }
    }

    pub(crate) async fn lock(&self, id: &SessionId) -> MutexGuard<'_, ()> {
        self.stripe(id).lock().await
    }

    /// The turn for `id` if it is free now; `None` if another writer has it
    /// or waits for it (a free turn never goes to a latecomer first: tokio's
    /// mutex hands a released turn to the longest waiter).
    pub(crate) fn try_lock(&self, id: &SessionId) -> Option<MutexGuard<'_, ()>> {
        self.stripe(id).try_lock().ok()
    }

    fn stripe(&self, id: &SessionId) -> &Mutex<()> {
        let hash = std::hash::BuildHasherDefault::<sesh::table::IdHasher>::default().hash_one(id);
        let count = u64::try_from(self.rest.len())
            .unwrap_or(0)
            .saturating_add(1);
        let index = usize::try_from((hash >> 16).checked_rem(count).unwrap_or(0)).unwrap_or(0);
        index
            .checked_sub(1)
            .and_then(|i| self.rest.get(i))
            .unwrap_or(&self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id gets a turn, whatever the stripe count (0 means one), and
    /// one id always maps to the same lock.
    #[tokio::test]
    async fn every_id_has_a_lock() {
        let mut rng = crate::random::SourceRng(&crate::random::OsRandom);
        for count in [0, 1, 2, 64] {
            let stripes = Stripes::new(count);
            for _ in 0..32 {
                let id = SessionId::generate(&mut rng).unwrap();
                let turn = stripes.lock(&id).await;
                assert!(stripes.try_lock(&id).is_none(), "a taken turn is not free");
                assert!(
                    tokio::time::timeout(std::time::Duration::from_millis(1), stripes.lock(&id))
                        .await
                        .is_err(),
                    "the same id waits for its turn ({count} stripes)"
                );
                drop(turn);
                let turn = stripes.try_lock(&id).expect("a free turn");
                assert!(
                    tokio::time::timeout(std::time::Duration::from_millis(1), stripes.lock(&id))
                        .await
                        .is_err(),
                    "a turn taken by try_lock is taken"
                );
                drop(turn);
            }
        }
    }
}
