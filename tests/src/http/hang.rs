//! What a hung case was doing, for [`run_case`](super::run_case)'s report.
//!
//! [`run_case`](super::run_case) gives each case a [`CaseWatch`], current on
//! the case's thread and on every thread of its runtime. The client records
//! each request there while it is in flight ([`request`]), and a server
//! under test can register a report of its own ([`on_hang`]): a QEMU
//! machine gives what the image wrote. When the case hangs, the report says
//! which requests were waiting, in which phase and for how long, how many
//! were answered, and what each server said, then stops the servers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::format;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread_local;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// A server's part of a hang report: its state as text, and how to stop it.
pub trait HangReport: Send + Sync {
    /// What the server wrote or knows, for a person reading the failure.
    fn report(&self) -> String;
    /// Stops the server (the hung case will never drop it).
    fn stop(&self);
}

/// One request the client has not finished.
struct InFlight {
    what: String,
    phase: &'static str,
    since: Instant,
}

/// How many of one kind of client call started, ended well, failed.
#[derive(Default, Clone, Copy)]
struct Counts {
    started: usize,
    done: usize,
    failed: usize,
}

#[derive(Default)]
struct Watched {
    next_id: u64,
    in_flight: BTreeMap<u64, InFlight>,
    /// [`connect`]s and [`request`]s.
    counts: [Counts; 2],
    servers: BTreeMap<u64, Arc<dyn HangReport>>,
    /// Time spent in finished [`uncounted`] work.
    uncounted: Duration,
    /// [`uncounted`] work under way: what, since when.
    uncounted_now: BTreeMap<u64, (&'static str, Instant)>,
}

const CONNECTS: usize = 0;
const REQUESTS: usize = 1;

/// A case's record of its requests and servers.
#[derive(Default)]
pub struct CaseWatch(Mutex<Watched>);

thread_local! {
    static CURRENT: RefCell<Option<Arc<CaseWatch>>> = const { RefCell::new(None) };
}

impl CaseWatch {
    fn lock(&self) -> MutexGuard<'_, Watched> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `watch` the current thread's watch (for the case's thread and
    /// its runtime's threads).
    pub fn enter(watch: &Arc<CaseWatch>) {
        CURRENT.with(|c| *c.borrow_mut() = Some(watch.clone()));
    }

    /// Time the case spent in [`uncounted`] work so far, the work under way
    /// included: it does not count against the case's timeout.
    pub fn uncounted_time(&self) -> Duration {
        let w = self.lock();
        let now = Instant::now();
        w.uncounted_now
            .values()
            .fold(w.uncounted, |total, (_, since)| {
                total.saturating_add(now.saturating_duration_since(*since))
            })
    }

    /// The report of a hung case: the client's requests, then each server's
    /// report. Stops the servers.
    pub fn report_and_stop(&self) -> String {
        let (mut text, servers) = {
            let w = self.lock();
            let [c, r] = w.counts;
            let mut text = format!(
                "client: {} requests sent, {} answered, {} failed; {} connections opened first \
                 (Connection::open), {} connected, {} failed; {} in flight:",
                r.started,
                r.done,
                r.failed,
                c.started,
                c.done,
                c.failed,
                w.in_flight.len()
            );
            let now = Instant::now();
            for (what, since) in w.uncounted_now.values() {
                let _ = write!(
                    text,
                    "\n  (uncounted) {what} for {:.1} s",
                    now.saturating_duration_since(*since).as_secs_f64()
                );
            }
            for (id, r) in &w.in_flight {
                let _ = write!(
                    text,
                    "\n  #{id} {}: {} for {:.1} s",
                    r.what,
                    r.phase,
                    now.saturating_duration_since(r.since).as_secs_f64()
                );
            }
            (text, w.servers.values().cloned().collect::<Vec<_>>())
        };
        for server in servers {
            let _ = write!(text, "\n{}", server.report());
            server.stop();
        }
        text
    }
}

fn current() -> Option<Arc<CaseWatch>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A client call in flight, recorded in the current case's watch (if any)
/// until [`Request::answered`] or drop (counted as failed).
pub struct Request {
    watch: Option<(Arc<CaseWatch>, u64)>,
    kind: usize,
}

/// Records that the client started request `what` (method, target, address).
pub fn request(what: impl FnOnce() -> String) -> Request {
    start(REQUESTS, what, "connecting")
}

/// Records that the client started to connect to `addr` (a connection
/// opened before its request is sent).
pub fn connect(addr: impl FnOnce() -> String) -> Request {
    start(
        CONNECTS,
        || format!("connection to {}", addr()),
        "connecting",
    )
}

fn start(kind: usize, what: impl FnOnce() -> String, phase: &'static str) -> Request {
    let watch = current().map(|watch| {
        let mut w = watch.lock();
        let id = w.next_id;
        w.next_id = id.wrapping_add(1);
        if let Some(c) = w.counts.get_mut(kind) {
            c.started = c.started.saturating_add(1);
        }
        w.in_flight.insert(
            id,
            InFlight {
                what: what(),
                phase,
                since: Instant::now(),
            },
        );
        drop(w);
        (watch, id)
    });
    Request { watch, kind }
}

impl Request {
    /// The request is now in `phase` ("sending", "reading the response").
    pub fn phase(&self, phase: &'static str) {
        if let Some((watch, id)) = &self.watch
            && let Some(r) = watch.lock().in_flight.get_mut(id)
        {
            r.phase = phase;
        }
    }

    /// The response came (the connection is open): counted as done.
    pub fn answered(mut self) {
        self.end(true);
    }

    fn end(&mut self, done: bool) {
        if let Some((watch, id)) = self.watch.take() {
            let mut w = watch.lock();
            w.in_flight.remove(&id);
            if let Some(c) = w.counts.get_mut(self.kind) {
                let count = if done { &mut c.done } else { &mut c.failed };
                *count = count.saturating_add(1);
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        self.end(false);
    }
}

/// Runs `work` (`what`: building a firmware image, say) without counting
/// its time against the current case's timeout: a build that a change to
/// the sources forces is slow, not hung, and takes minutes on a busy machine.
pub fn uncounted<T>(what: &'static str, work: impl FnOnce() -> T) -> T {
    let Some(watch) = current() else {
        return work();
    };
    let id = {
        let mut w = watch.lock();
        let id = w.next_id;
        w.next_id = id.wrapping_add(1);
        w.uncounted_now.insert(id, (what, Instant::now()));
        id
    };
    // Counted as done on the way out, a panic included.
    struct Done(Arc<CaseWatch>, u64);
    impl Drop for Done {
        fn drop(&mut self) {
            let mut w = self.0.lock();
            if let Some((_, since)) = w.uncounted_now.remove(&self.1) {
                w.uncounted = w.uncounted.saturating_add(since.elapsed());
            }
        }
    }
    let _done = Done(watch, id);
    work()
}

/// A server registered with [`on_hang`]; unregistered on drop.
pub struct Registered {
    watch: Option<(Arc<CaseWatch>, u64)>,
}

/// Registers `server` for the current case's hang report (nothing outside
/// a case).
pub fn on_hang(server: Arc<dyn HangReport>) -> Registered {
    let watch = current().map(|watch| {
        let mut w = watch.lock();
        let id = w.next_id;
        w.next_id = id.wrapping_add(1);
        w.servers.insert(id, server);
        drop(w);
        (watch, id)
    });
    Registered { watch }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some((watch, id)) = self.watch.take() {
            watch.lock().servers.remove(&id);
        }
    }
}

/// Boxes a report for [`on_hang`] from two closures.
pub fn report_with(
    report: impl Fn() -> String + Send + Sync + 'static,
    stop: impl Fn() + Send + Sync + 'static,
) -> Arc<dyn HangReport> {
    struct Closures<R, S>(R, S);
    impl<R: Fn() -> String + Send + Sync, S: Fn() + Send + Sync> HangReport for Closures<R, S> {
        fn report(&self) -> String {
            (self.0)()
        }
        fn stop(&self) {
            (self.1)();
        }
    }
    Arc::new(Closures(report, stop)) as Arc<dyn HangReport>
}
