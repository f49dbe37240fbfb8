//! Group commit: one thread commits the writes that wait together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::Tables;
use super::handle::{DatabaseHandle, is_io_failure};
use crate::store::StoreError;
use crate::store::key::StoreKey;
use crate::store::write_cache::WriteCache;

/// How running a job went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Ran {
    /// Done: it commits with its batch.
    Done,
    /// Refused ([`StoreError::Full`]): it wrote nothing but cleanup a
    /// purge would do, so the others of its batch go on in the same
    /// transaction.
    Refused,
    /// Failed midway: what it wrote must not commit, so the transaction is
    /// aborted and the others of its batch run again in a new one.
    Failed,
    /// Failed on an I/O error: redb refuses the transaction, and every
    /// later one until the database is opened again.
    Io,
}

impl Ran {
    pub(super) fn of<T>(out: &Result<T, StoreError>) -> Ran {
        match out {
            Ok(_) => Ran::Done,
            Err(StoreError::Full) => Ran::Refused,
            Err(e) if is_io_failure(e) => Ran::Io,
            Err(_) => Ran::Failed,
        }
    }
}

/// One write waiting for its batch: one allocation per write.
pub(super) trait Pending: Send {
    /// Runs the write in the batch's tables and says how that went. It may
    /// run again, in a new transaction, when another write of its batch
    /// failed midway: only the last run counts.
    fn run(&mut self, tables: &mut Tables<'_>) -> Ran;
    /// Tells the caller how its write went: its own failure if it failed,
    /// else the fate of the commit it was part of (an error when there was
    /// none).
    fn answer(self: Box<Self>, committed: Result<(), &StoreError>);
}

/// A write, queued for the writer thread.
pub(super) type Job = Box<dyn Pending>;

/// How the writer gathers a batch, shared by the store's clones and read
/// at every batch.
pub(super) struct Batching {
    /// Most writes one commit (one fsync) carries.
    max_batch: AtomicUsize,
    /// How long (µs) the writer waits for more writes after the first one
    /// of a batch, when the queue is empty.
    wait_micros: AtomicU64,
}

impl Batching {
    pub(super) fn new(max_batch: usize, wait: Duration) -> Batching {
        let batching = Batching {
            max_batch: AtomicUsize::new(1),
            wait_micros: AtomicU64::new(0),
        };
        batching.set(max_batch, wait);
        batching
    }

    pub(super) fn set(&self, max_batch: usize, wait: Duration) {
        self.max_batch.store(max_batch.max(1), Ordering::Relaxed);
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.wait_micros.store(micros, Ordering::Relaxed);
    }

    pub(super) fn max_batch(&self) -> usize {
        self.max_batch.load(Ordering::Relaxed)
    }

    pub(super) fn wait(&self) -> Duration {
        Duration::from_micros(self.wait_micros.load(Ordering::Relaxed))
    }
}

/// The thread that commits writes: the writes waiting when a commit starts
/// share it (group commit), so concurrent requests pay one fsync between
/// them instead of one each. A write is answered only once its batch is
/// durable. Each write fails on its own: one refused or failing write is
/// left out and the others still commit (see [`commit_batch`]); only an
/// I/O error, after which redb refuses every transaction, fails the whole
/// batch. After one the thread opens the database again (when the store
/// can).
pub(super) struct Writer {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the writer thread works with.
pub(super) struct Context {
    pub(super) db: Arc<DatabaseHandle>,
    pub(super) keys: Arc<StoreKey>,
    pub(super) cache: Arc<WriteCache>,
    pub(super) batching: Arc<Batching>,
}

impl Writer {
    pub(super) fn spawn(context: Context) -> Result<Writer, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sesh-redb-writer".into())
            .spawn(move || {
                let mut batch = Vec::new();
                while gather(&queue, &mut batch, &context.batching) {
                    if commit_batch(&context, &mut batch) {
                        context.db.reopen();
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

/// Fills `batch` (empty) with the next writes: waits for one, takes those
/// already queued, and while the queue is empty waits up to
/// `batching.wait` for more. False once every sender is gone and the queue
/// is empty.
fn gather(queue: &Receiver<Job>, batch: &mut Vec<Job>, batching: &Batching) -> bool {
    let Ok(first) = queue.recv() else {
        return false;
    };
    batch.push(first);
    let max = batching.max_batch();
    let wait = batching.wait();
    let deadline = if wait.is_zero() {
        None
    } else {
        Instant::now().checked_add(wait)
    };
    while batch.len() < max {
        if let Ok(job) = queue.try_recv() {
            batch.push(job);
            continue;
        }
        let left = deadline.map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            break;
        }
        match queue.recv_timeout(left) {
            Ok(job) => batch.push(job),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    true
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

/// Answers every job of `batch` and `failed` with `e` (a job that failed
/// on its own gets its own failure).
fn fail_all(batch: &mut Vec<Job>, failed: &mut Vec<Job>, e: &StoreError) {
    for job in batch.drain(..).chain(failed.drain(..)) {
        job.answer(Err(e));
    }
}

/// Runs and commits one batch (in one transaction, its tables opened
/// once), answers its writes and leaves `batch` empty. Returns whether it
/// failed on an I/O error (or found the database closed by an earlier one).
///
/// Each write's failure is its own. A write refused with
/// [`StoreError::Full`] wrote nothing that must not commit: it is left
/// out and the batch goes on. A write that fails otherwise may have
/// written part of its change: the transaction is aborted and the batch
/// runs again without it in a new one, the refused writes too (the failed
/// write may have taken their room). That is at most one retry per failed
/// write, and an aborted transaction costs no fsync. Only an I/O error
/// fails every write of the batch: redb refuses the transaction anyway.
fn commit_batch(context: &Context, batch: &mut Vec<Job>) -> bool {
    let handle = &context.db;
    // Left out of the commit; answered with their own failure at the end.
    let mut failed: Vec<Job> = Vec::new();
    loop {
        // Closed after a failed reopen: try again first.
        let db = handle.get().or_else(|_| {
            handle.reopen();
            handle.get()
        });
        let txn = match db.and_then(|db| db.begin_write().map_err(redb_error)) {
            Ok(txn) => txn,
            Err(e) => {
                fail_all(batch, &mut failed, &e);
                return is_io_failure(&e);
            }
        };
        let mut refused: Vec<Job> = Vec::new();
        let mut stopped = None;
        let opened = match Tables::open(&txn, &context.keys, &context.cache) {
            Ok(mut tables) => {
                let mut next = 0usize;
                while let Some(job) = batch.get_mut(next) {
                    match job.run(&mut tables) {
                        Ran::Done => next = next.saturating_add(1),
                        Ran::Refused => refused.push(batch.remove(next)),
                        Ran::Failed => {
                            failed.push(batch.remove(next));
                            stopped = Some(Ran::Failed);
                            break;
                        }
                        Ran::Io => {
                            stopped = Some(Ran::Io);
                            break;
                        }
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = opened {
            if let Err(abort) = txn.abort() {
                tracing::warn!(error = %abort, "aborting a failed redb batch failed");
            }
            fail_all(batch, &mut failed, &e);
            return is_io_failure(&e);
        }
        if let Some(stopped) = stopped {
            if let Err(e) = txn.abort() {
                tracing::warn!(error = %e, "aborting a failed redb batch failed");
            }
            batch.append(&mut refused);
            if stopped == Ran::Io {
                let e = StoreError::Backend(
                    "another write in the same commit failed on an I/O error; nothing was written"
                        .into(),
                );
                fail_all(batch, &mut failed, &e);
                return true;
            }
            if !batch.is_empty() {
                continue;
            }
            fail_all(
                batch,
                &mut failed,
                &StoreError::Backend("nothing was written".into()),
            );
            return false;
        }
        // Refused writes leave only cleanup, which commits with the rest;
        // alone, it is not worth an fsync.
        failed.append(&mut refused);
        let outcome = if batch.is_empty() {
            txn.abort().map_err(redb_error)
        } else {
            txn.commit().map_err(redb_error)
        };
        for job in batch.drain(..).chain(failed.drain(..)) {
            job.answer(outcome.as_ref().map(|_| ()));
        }
        return outcome.as_ref().err().is_some_and(is_io_failure);
    }
}
