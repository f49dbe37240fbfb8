//! Group commit: one thread commits the writes that wait together.

use std::sync::Arc;

use redb::WriteTransaction;

use super::handle::{DatabaseHandle, is_io_failure};
use crate::store::StoreError;

/// What running a job did: whether it succeeded, and whether it failed on
/// an I/O error (then the database must be opened again).
#[derive(Clone, Copy)]
pub(super) struct Ran {
    pub(super) ok: bool,
    pub(super) io_failure: bool,
}

impl Ran {
    pub(super) fn of<T>(out: &Result<T, StoreError>) -> Ran {
        Ran {
            ok: out.is_ok(),
            io_failure: out.as_ref().err().is_some_and(is_io_failure),
        }
    }
}

/// One write: runs inside the batch's transaction (or learns that there is
/// none), says how that went, and returns what to tell its caller once the
/// batch's fate is known.
pub(super) type Job =
    Box<dyn FnOnce(Result<&WriteTransaction, &StoreError>) -> (Ran, Reply) + Send>;
/// Tells a job's caller the batch's fate.
pub(super) type Reply = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// Most writes one commit (one fsync) carries.
const MAX_BATCH: usize = 64;

/// The thread that commits writes: the writes waiting when a commit starts
/// share it (group commit), so concurrent requests pay one fsync between
/// them instead of one each. A write is answered only once its batch is
/// durable. A batch is all or nothing: if one write fails (an I/O error),
/// the transaction is aborted and every write in it fails. After an I/O
/// error the thread opens the database again (when the store can).
pub(super) struct Writer {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(super) fn spawn(db: Arc<DatabaseHandle>) -> Result<Writer, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sesh-redb-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    if commit_batch(&db, batch) {
                        db.reopen();
                    }
                }
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    pub(super) fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| StoreError::Backend("the redb writer thread has stopped".into()))
    }
}

impl Drop for Writer {
    /// Waits for the writes already queued, so that the file is closed when
    /// the last handle goes (a reopen right after must not find it locked).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The same failure for another caller: same kind, same message.
pub(super) fn echo(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(source) => StoreError::Unavailable(source.to_string().into()),
        StoreError::Full => StoreError::Full,
        StoreError::Backend(source) => StoreError::Backend(source.to_string().into()),
    }
}

fn redb_error(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(Box::new(e.into()))
}

/// Runs and commits one batch, and answers its writes. Returns whether it
/// failed on an I/O error (or found the database closed by an earlier one).
fn commit_batch(handle: &DatabaseHandle, batch: Vec<Job>) -> bool {
    // Closed after a failed reopen: try again first.
    let db = handle.get().or_else(|_| {
        handle.reopen();
        handle.get()
    });
    let begun = db.and_then(|db| db.begin_write().map_err(redb_error));
    let txn = match begun {
        Ok(txn) => txn,
        Err(e) => {
            let io_failure = is_io_failure(&e);
            for job in batch {
                let (_, reply) = job(Err(&e));
                reply(Err(&e));
            }
            return io_failure;
        }
    };
    let aborted =
        StoreError::Backend("another write in the same commit failed; nothing was written".into());
    let mut all_ok = true;
    let mut io_failure = false;
    let replies: Vec<Reply> = batch
        .into_iter()
        .map(|job| {
            // After a failure the rest do not run: the batch is aborted anyway.
            let (ran, reply) = job(if all_ok { Ok(&txn) } else { Err(&aborted) });
            all_ok &= ran.ok;
            io_failure |= ran.io_failure;
            reply
        })
        .collect();
    let outcome = if all_ok {
        txn.commit().map_err(redb_error)
    } else {
        if let Err(e) = txn.abort() {
            tracing::warn!(error = %e, "aborting a failed redb batch failed");
        }
        Err(aborted)
    };
    io_failure |= outcome.as_ref().err().is_some_and(is_io_failure);
    for reply in replies {
        reply(outcome.as_ref().map(|_| ()));
    }
    io_failure
}
