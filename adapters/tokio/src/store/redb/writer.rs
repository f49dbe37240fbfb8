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

/// One write waiting for its batch: one allocation per write.
pub(super) trait Pending: Send {
    /// Runs the write in the batch's tables (or learns that there are
    /// none) and says how that went.
    fn run(&mut self, tables: Result<&mut Tables<'_>, &StoreError>) -> Ran;
    /// Tells the caller the batch's fate, once it is known.
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
/// durable. A batch is all or nothing: if one write fails (an I/O error),
/// the transaction is aborted and every write in it fails. After an I/O
/// error the thread opens the database again (when the store can).
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

/// Fails every job of `batch` with `e`.
fn fail_all(batch: &mut Vec<Job>, e: &StoreError) {
    for mut job in batch.drain(..) {
        job.run(Err(e));
        job.answer(Err(e));
    }
}

/// Runs and commits one batch (in one transaction, its tables opened
/// once), answers its writes and leaves `batch` empty. Returns whether it
/// failed on an I/O error (or found the database closed by an earlier one).
fn commit_batch(context: &Context, batch: &mut Vec<Job>) -> bool {
    let handle = &context.db;
    // Closed after a failed reopen: try again first.
    let db = handle.get().or_else(|_| {
        handle.reopen();
        handle.get()
    });
    let begun = db.and_then(|db| db.begin_write().map_err(redb_error));
    let txn = match begun {
        Ok(txn) => txn,
        Err(e) => {
            fail_all(batch, &e);
            return is_io_failure(&e);
        }
    };
    let aborted =
        StoreError::Backend("another write in the same commit failed; nothing was written".into());
    let mut all_ok = true;
    let mut io_failure = false;
    match Tables::open(&txn, &context.keys, &context.cache) {
        Ok(mut tables) => {
            for job in batch.iter_mut() {
                // After a failure the rest do not run: the batch is aborted anyway.
                let ran = if all_ok {
                    job.run(Ok(&mut tables))
                } else {
                    job.run(Err(&aborted))
                };
                all_ok &= ran.ok;
                io_failure |= ran.io_failure;
            }
        }
        Err(e) => {
            io_failure = is_io_failure(&e);
            for job in batch.iter_mut() {
                job.run(Err(&e));
            }
            all_ok = false;
        }
    }
    let outcome = if all_ok {
        txn.commit().map_err(redb_error)
    } else {
        if let Err(e) = txn.abort() {
            tracing::warn!(error = %e, "aborting a failed redb batch failed");
        }
        Err(aborted)
    };
    io_failure |= outcome.as_ref().err().is_some_and(is_io_failure);
    for job in batch.drain(..) {
        job.answer(outcome.as_ref().map(|_| ()));
    }
    io_failure
}
