//! The HTTP-level behaviour suite (feature `http`, needs std).
//!
//! Every adapter and every store runs the same cases against a real server on
//! a loopback TCP port, through the plain HTTP/1.1 [`client`]. An adapter
//! provides two things:
//!
//! 1. **The probe app**: the routes of [`ROUTES`], served behind its session
//!    layer. The axum version for sesh-tokio is [`axum_probe`]; the picoserve
//!    version for sesh-embassy, on a real embassy-net stack, is
//!    `embassy_probe` (feature `embassy`).
//! 2. **A factory**: an async function that takes a [`ServerSpec`] (the
//!    session settings the case wants), starts the probe app with them on
//!    `127.0.0.1:0`, and returns a handle implementing [`TestServer`].
//!
//! Then one line makes one test per case:
//!
//! ```no_run
//! use sesh_tests::http::ServerSpec;
//! use sesh_tests::http::axum_probe::TokioServer;
//! use sesh_tokio::MemoryStore;
//!
//! async fn memory_server(spec: ServerSpec) -> TokioServer<MemoryStore> {
//!     TokioServer::start(MemoryStore::default(), spec).await.expect("server starts")
//! }
//!
//! sesh_tests::session_tests!(memory_server);
//! # fn main() {}
//! ```
//!
//! # The probe app
//!
//! The session data holds a counter, an optional user and a blob. Every
//! response body is plain text.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /count` | increments the counter (starting a session if there is none) and answers it in decimal |
//! | `GET /peek` | answers the counter without writing anything; `0` without a session |
//! | `POST /login` | regenerates the id, marks the session protected and stores the user from the query or form field `user` (400 without one); makes the session the user's, with the label of field `label` and the lifetime of field `lifetime` (`remember`, `browser`, else the default; [`owner_routes`](crate::owner_routes)); answers the user |
//! | `GET /me` | answers the user of a protected session, else 401 |
//! | `POST /logout` | destroys the session |
//! | `GET /csrf` | answers the form's CSRF token: the session's with a live session, else a pre-session token (setting the pre-session cookie `<name>-pre`); stores nothing |
//! | `POST /csrf-check` | 200 when header `x-csrf-token` holds the session's token or the pre-session cookie's form token, else 403 |
//! | `GET /big?bytes=N` | stores a blob of `N` bytes (400 for a bad `N`); an error status when the data is over the limit |
//! | `GET /plain` | answers `plain` without touching the session (the handler still extracts it) |
//! | `GET /sessions` | the logged-in user's sessions, one [`session_line`](crate::owner_routes::session_line) each; 401 when not logged in |
//! | `POST /sessions/revoke` | ends the user's session whose tag is in query field `tag`: `ended`, or 404 `not found` (a foreign, unknown or malformed tag); 401 when not logged in |
//! | `POST /sessions/revoke-others` | ends the user's other sessions and answers how many; 401 when not logged in |
//!
//! A session error is answered as the adapter answers it (sesh-tokio: 500,
//! or 503 when out of room or randomness).
//!
//! # What a factory must provide
//!
//! - The settings of the [`ServerSpec`] it is given, all of them: cookie
//!   name and attributes, idle and absolute timeouts, refresh share, data
//!   limit, and the key ring ([`ServerSpec::key_ring`]: cases sign ids with
//!   it, and check that cookies are `name=<22>.<22>` signed by its first key).
//! - A new, empty store per call, behind a switch that makes every store call
//!   fail ([`TestServer::set_store_failing`]; sesh-tokio:
//!   [`axum_probe::FailingStore`]), and a way to count its sessions past that
//!   switch ([`TestServer::stored_sessions`]).
//! - A clock the case can move ([`TestServer::advance_clock`]); the time
//!   cases run on a paused current-thread runtime ([`Runtime::Paused`]).
//! - A restart over the same store with another spec
//!   ([`TestServer::restart`]), for key rotation.
//!
//! What the cases then expect, beyond the routes: a response that sets a
//! cookie carries `Cache-Control: no-store` and `Vary: Cookie`, one that
//! touched the session `Vary: Cookie`, one that did not neither; a store
//! failure answers 500 with no cookie; data over the limit answers 413 or
//! a 5xx and stores nothing. [`cases`] documents each case.

pub mod axum_probe;
pub mod cases;
pub mod client;
#[cfg(feature = "embassy")]
pub mod embassy_client;
#[cfg(feature = "embassy")]
pub mod embassy_probe;
pub mod example_process;
pub mod hang;
pub mod owner_cases;
pub mod postgres_server;
pub mod qemu;
pub mod qemu_probe;
pub mod redis_server;

use std::borrow::ToOwned;
use std::boxed::Box;
use std::future::Future;
use std::net::SocketAddr;

pub use crate::form::form_field;
pub use crate::spec::{CSRF_HEADER, MAX_BIG_BYTES, ServerSpec};

/// One route of the probe app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// A request target that exercises it.
    pub example: &'static str,
    /// What it does.
    pub does: &'static str,
}

/// The routes every probe app serves; see the [module docs](self).
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/count",
        example: "/count",
        does: "increments the counter and answers it in decimal",
    },
    Route {
        method: "GET",
        path: "/peek",
        example: "/peek",
        does: "answers the counter without writing; 0 without a session",
    },
    Route {
        method: "POST",
        path: "/login",
        example: "/login?user=probe",
        does: "regenerates the id, marks the session protected, stores the user, makes it theirs",
    },
    Route {
        method: "GET",
        path: "/me",
        example: "/me",
        does: "answers the user of a protected session, else 401",
    },
    Route {
        method: "POST",
        path: "/logout",
        example: "/logout",
        does: "destroys the session",
    },
    Route {
        method: "GET",
        path: "/csrf",
        example: "/csrf",
        does: "answers the form's CSRF token (the session's, else a pre-session token); stores nothing",
    },
    Route {
        method: "POST",
        path: "/csrf-check",
        example: "/csrf-check",
        does: "200 when header x-csrf-token holds the session's or the pre-session's token, else 403",
    },
    Route {
        method: "GET",
        path: "/big",
        example: "/big?bytes=1",
        does: "stores N bytes (query bytes=N); an error status over the limit",
    },
    Route {
        method: "GET",
        path: "/plain",
        example: "/plain",
        does: "answers plain without touching the session",
    },
    Route {
        method: "GET",
        path: "/sessions",
        example: "/sessions",
        does: "lists the logged-in user's sessions, a line each; 401 when not logged in",
    },
    Route {
        method: "POST",
        path: "/sessions/revoke",
        example: "/sessions/revoke?tag=0000000000000000",
        does: "ends the user's session with that tag, 404 for another's or an unknown one",
    },
    Route {
        method: "POST",
        path: "/sessions/revoke-others",
        example: "/sessions/revoke-others",
        does: "ends the user's other sessions; answers how many",
    },
];

/// An error a [`TestServer`] reports to the case, which then fails.
pub type ServerError = Box<dyn std::error::Error + Send + Sync>;

/// A running probe server, as a case sees it.
///
/// The suite calls these methods from the thread that runs the case; none
/// needs to be `Send`.
pub trait TestServer {
    /// The loopback address the server accepts connections on. It may change
    /// across [`TestServer::restart`].
    fn addr(&self) -> SocketAddr;

    /// How many sessions the store holds now, read from the store itself,
    /// past any [`TestServer::set_store_failing`] switch.
    fn stored_sessions(&self) -> impl Future<Output = Result<usize, ServerError>>;

    /// Waits until the server has accepted `n` connections that have sent
    /// nothing yet. On the host a connect returns once the server's kernel
    /// has accepted it, so only a server behind an emulated network (QEMU's
    /// user network, where the connect returns at once and the image's
    /// handshake follows) has anything to wait for.
    fn accepted(&self, n: usize) -> impl Future<Output = Result<(), ServerError>> {
        let _ = n;
        core::future::ready(Ok(()))
    }

    /// While `failing` is true every store call fails (sesh-tokio:
    /// `StoreError::Unavailable`), as a store that lost its backend does.
    fn set_store_failing(&self, failing: bool);

    /// Makes only the `nth` store call from now on fail (1: the next one),
    /// as a store that fails midway through a request's steps; 0 turns it
    /// off. Like [`TestServer::set_store_failing`], only for a backend with
    /// a store.
    fn fail_store_call(&self, nth: usize);

    /// Moves the server's clock forward by `by`. The suite runs the cases
    /// that call it on a current-thread tokio runtime started paused, so a
    /// server on tokio's clock just calls `tokio::time::advance`.
    fn advance_clock(&self, by: core::time::Duration) -> impl Future<Output = ()>;

    /// Stops the server and starts it again with `spec` over the same store,
    /// keeping its sessions (key rotation, settings changes).
    fn restart(&mut self, spec: ServerSpec) -> impl Future<Output = Result<(), ServerError>>;

    /// Stops the server and waits until it has stopped.
    fn stop(self) -> impl Future<Output = ()>;
}

/// Starts a probe server for a spec: implemented by every
/// `async fn(ServerSpec) -> impl TestServer`.
pub trait MakeServer {
    /// The handle.
    type Server: TestServer;
    /// Starts a server with `spec` over a new, empty store.
    fn make(&self, spec: ServerSpec) -> impl Future<Output = Self::Server>;
}

impl<F, Fut, T> MakeServer for F
where
    F: Fn(ServerSpec) -> Fut,
    Fut: Future<Output = T>,
    T: TestServer,
{
    type Server = T;

    fn make(&self, spec: ServerSpec) -> impl Future<Output = T> {
        self(spec)
    }
}

/// The runtime a case needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// A current-thread runtime.
    CurrentThread,
    /// A multi-thread runtime with two workers (real parallelism).
    MultiThread,
    /// A current-thread runtime whose clock starts paused: cases move it
    /// with [`TestServer::advance_clock`].
    ///
    /// Real TCP and a paused clock get along here because the server and
    /// the client run on this one thread: every byte one side writes is in
    /// the other's socket buffer before the runtime next parks, and tokio
    /// auto-advances a paused clock only when it would park with a timer
    /// pending. Neither `axum::serve` (it configures no hyper timer) nor
    /// [`client`] sets a timer, so the clock moves only when a case says so;
    /// [`run_case`] bounds the whole case in real time instead.
    ///
    /// A store that waits on another process (Redis) breaks that premise if
    /// its client keeps a timer (a response timeout) pending meanwhile:
    /// tokio may then jump the paused clock to that timer. Such a store's
    /// factory should leave its client's timers off for these cases.
    Paused,
}

/// Real time a case may take before it counts as hung, not counting work
/// it runs through [`hang::uncounted`] (a firmware image's build; at most
/// [`MAX_UNCOUNTED`] of it).
pub const CASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The most time [`hang::uncounted`] work may add to a case's limit.
pub const MAX_UNCOUNTED: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Runs one case on its own thread and runtime, failing it after
/// [`CASE_TIMEOUT`] of real time. [`session_tests!`](crate::session_tests)
/// calls it; the case's panic (a failed assertion) becomes the test's. A
/// case that hangs fails with a report ([`hang`]): the requests its client
/// was waiting for, how many were answered, and what its servers said (a
/// QEMU machine's output); its servers are stopped.
#[allow(clippy::panic)] // A hung or failed case fails its #[test] by panicking.
pub fn run_case<Fut>(
    name: &'static str,
    runtime: Runtime,
    case: impl FnOnce() -> Fut + Send + 'static,
) where
    Fut: Future<Output = ()>,
{
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // What the case's requests and servers are doing, for a hang's report.
    let watch = std::sync::Arc::new(hang::CaseWatch::default());
    let case_watch = watch.clone();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            hang::CaseWatch::enter(&case_watch);
            let mut builder = match runtime {
                Runtime::MultiThread => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(2);
                    b
                }
                Runtime::CurrentThread | Runtime::Paused => {
                    tokio::runtime::Builder::new_current_thread()
                }
            };
            builder.enable_all();
            let workers_watch = case_watch.clone();
            builder.on_thread_start(move || hang::CaseWatch::enter(&workers_watch));
            if runtime == Runtime::Paused {
                builder.start_paused(true);
            }
            match builder.build() {
                Ok(rt) => rt.block_on(case()),
                Err(e) => panic!("case {name}: no tokio runtime: {e}"),
            }
            let _ = done_tx.send(());
        });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => panic!("case {name}: cannot spawn its thread: {e}"),
    };
    let started = std::time::Instant::now();
    // Work the case does not answer for (an image's build) extends the
    // limit, up to MAX_UNCOUNTED: a build stuck for good still fails.
    let limit = || CASE_TIMEOUT.saturating_add(watch.uncounted_time().min(MAX_UNCOUNTED));
    let finished = loop {
        let left = limit().saturating_sub(started.elapsed());
        match done_rx.recv_timeout(left) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if started.elapsed() < limit() => {}
            other => break other,
        }
    };
    match finished {
        Ok(()) => {
            if let Err(p) = thread.join() {
                std::panic::resume_unwind(p);
            }
        }
        // The sender was dropped without sending: the case panicked.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = thread.join() {
                std::panic::resume_unwind(p);
            }
            panic!("case {name} ended without finishing");
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            // The case's thread never returns: its servers are stopped here.
            let report = watch.report_and_stop();
            panic!(
                "case {name} hung: no result after {CASE_TIMEOUT:?} (and {:?} uncounted)\n{report}",
                watch.uncounted_time()
            )
        }
    }
}

/// What a case needs of a backend beyond the probe app's routes. A backend
/// that lacks one says so (`session_tests!(make; lacks: [..])`), and the
/// cases that need it are skipped there, with [`Capability::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// A clock the case can move ([`TestServer::advance_clock`]), on a
    /// paused runtime ([`Runtime::Paused`]).
    MovableClock,
    /// A store whose every call can be made to fail
    /// ([`TestServer::set_store_failing`]).
    FailingStore,
}

impl Capability {
    /// Every capability.
    pub const ALL: &[Self] = &[Self::MovableClock, Self::FailingStore];

    /// Why a case that needs this cannot run on a backend that lacks it.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::MovableClock => {
                "it moves the server's clock (TestServer::advance_clock) by up to 100 s, in steps \
                 that must land exactly (to the millisecond; Max-Age to the second); a real clock \
                 can neither be waited on that long nor stepped exactly (the sesh-embassy probes \
                 give their tables a manual clock for this), and a store client that keeps a timer \
                 pending (Redis: its response timeout) makes tokio jump a paused clock to that \
                 timer, so the case would test tokio, not sesh"
            }
            Self::FailingStore => {
                "it makes every store call fail (TestServer::set_store_failing); a backend with \
                 no store (sesh-embassy keeps its sessions in its own table) has no store call \
                 that could fail"
            }
        }
    }
}

/// One case of the suite, as [`cases::CASES`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The name of the case: its function in [`cases`] and its `#[test]`.
    pub name: &'static str,
    /// The runtime it runs on.
    pub runtime: Runtime,
    /// What it needs of a backend.
    pub needs: &'static [Capability],
}

impl Case {
    /// The first capability of `lacks` that the case needs: the case is
    /// skipped on a backend that lacks it. `None`: the case runs there.
    pub fn skipped_for(&self, lacks: &[Capability]) -> Option<Capability> {
        self.needs.iter().copied().find(|need| lacks.contains(need))
    }
}

/// The case table, the one list of the HTTP-level cases: each entry is
/// `name: Runtime, needs [Capability, ..];`, where `name` is the case's
/// function in [`cases`], `Runtime` a variant of [`Runtime`] and each
/// capability a variant of [`Capability`].
///
/// `for_each_case!((path::to::callback) args..)` invokes
/// `path::to::callback! { (args..) name: Runtime, needs [..]; .. }` with
/// every entry. [`cases::CASES`] and [`session_tests!`](crate::session_tests)
/// are generated from it; a new case is one line here and its function.
#[macro_export]
macro_rules! for_each_case {
    (($($callback:tt)*) $($args:tt)*) => {
        $($callback)*! { ($($args)*)
            routes_are_served: CurrentThread, needs [];
            counter_counts_with_the_cookie: CurrentThread, needs [];
            set_cookie_has_the_default_attributes: CurrentThread, needs [];
            set_cookie_has_the_configured_attributes: CurrentThread, needs [];
            reading_is_lazy: CurrentThread, needs [];
            forged_tag_selects_no_session: CurrentThread, needs [];
            tampered_id_selects_no_session: CurrentThread, needs [];
            unsigned_id_selects_no_session: CurrentThread, needs [];
            unknown_signed_id_selects_no_session: CurrentThread, needs [];
            expired_id_selects_no_session: Paused, needs [MovableClock];
            cookie_headers_are_scanned_strictly: CurrentThread, needs [];
            cookie_header_abuse_selects_nothing: CurrentThread, needs [];
            login_regenerates_the_id: CurrentThread, needs [];
            logout_removes_the_cookie_and_the_session: CurrentThread, needs [];
            csrf_token_is_bound_to_the_session: CurrentThread, needs [];
            concurrent_increments_are_not_lost: MultiThread, needs [];
            idle_timeout_expires_the_session: Paused, needs [MovableClock];
            refresh_is_throttled: Paused, needs [MovableClock];
            absolute_lifetime_caps_the_session: Paused, needs [MovableClock];
            store_error_answers_500: CurrentThread, needs [FailingStore];
            a_sign_in_is_all_or_nothing: CurrentThread, needs [FailingStore];
            key_rotation_resigns_then_retires: CurrentThread, needs [];
            data_over_the_limit_is_refused: CurrentThread, needs [];
            a_flood_never_evicts_a_logged_in_session: CurrentThread, needs [];
            an_anonymous_form_token_stores_nothing: CurrentThread, needs [];
            an_anonymous_flood_stores_nothing_and_locks_nobody_out: CurrentThread, needs [];
            vary_follows_what_the_handler_did_with_the_session: CurrentThread, needs [];
            every_set_cookie_comes_with_no_store_and_only_then: CurrentThread, needs [];
            a_user_lists_their_sessions: CurrentThread, needs [];
            revoking_a_session_signs_that_device_out: CurrentThread, needs [];
            a_foreign_or_unknown_tag_revokes_nothing: CurrentThread, needs [];
            revoking_the_others_keeps_the_current_one: CurrentThread, needs [];
            remember_me_and_browser_session_cookies: CurrentThread, needs [];
            a_remembered_session_keeps_its_own_deadlines: Paused, needs [MovableClock];
            a_browser_session_still_expires_on_the_server: Paused, needs [MovableClock];
        }
    };
}

/// Checks a backend's coverage of the suite: every case of
/// [`cases::CASES`] either has a test there (`has_test`, as
/// [`session_tests!`](crate::session_tests) generated them: name and whether
/// the case got one) or is skipped because the backend lacks a capability it
/// needs, with that capability's reason, which is printed; and the two
/// agree with [`Case::skipped_for`]. Each capability in `lacks` must skip
/// some case (else the declaration is stale), and some case must run.
#[allow(clippy::panic)] // A gap fails the calling #[test].
pub fn check_coverage(lacks: &[Capability], has_test: &[(&str, bool)]) {
    let listed: std::vec::Vec<&str> = has_test.iter().map(|(name, _)| *name).collect();
    let known: std::vec::Vec<&str> = cases::CASES.iter().map(|case| case.name).collect();
    assert_eq!(listed, known, "the generated tests and cases::CASES");
    let mut ran = 0_usize;
    for (case, (_, tested)) in cases::CASES.iter().zip(has_test) {
        match (case.skipped_for(lacks), tested) {
            (None, true) => ran = ran.saturating_add(1),
            (Some(lacked), false) => {
                let reason = lacked.reason();
                assert!(!reason.is_empty(), "{lacked:?} has no reason");
                std::println!("skipped {} (needs {lacked:?}): {reason}", case.name);
            }
            (None, false) => panic!("{} is neither run nor skipped with a reason", case.name),
            (Some(lacked), true) => {
                panic!(
                    "{} runs, though it needs {lacked:?}, which the backend lacks",
                    case.name
                )
            }
        }
    }
    assert!(ran > 0, "no case runs on this backend");
    for lacked in lacks {
        if !cases::CASES.iter().any(|c| c.needs.contains(lacked)) {
            panic!("the backend declares it lacks {lacked:?}, which no case needs");
        }
    }
}

/// Makes one test per HTTP-level case for a server factory.
///
/// `make_server` is a path to an `async fn(ServerSpec) -> T` where `T:
/// TestServer` (anything implementing [`MakeServer`](crate::http::MakeServer)
/// that a `Send + 'static` closure can name, as every fn item is). Each
/// case becomes a plain `#[test]` that runs it on its own tokio runtime of
/// the kind it needs ([`Runtime`](crate::http::Runtime): current-thread,
/// two workers, or paused), built by [`run_case`](crate::http::run_case)
/// with a real-time limit. That is what `#[tokio::test]` would do, except
/// that the runtime kind is chosen per case and the calling crate needs
/// neither tokio's macros nor its `test-util` feature.
///
/// The cases come from the case table, [`for_each_case!`](crate::for_each_case).
/// A backend that lacks a [`Capability`](crate::http::Capability) says so,
/// and the cases that need it get no test there:
///
/// - `session_tests!(make_server)` runs every case.
/// - `session_tests!(make_server; lacks: [MovableClock])` runs every case
///   that needs none of the capabilities listed.
///
/// Either way it adds `every_case_runs_or_is_skipped_with_a_reason`
/// ([`check_coverage`](crate::http::check_coverage)), which prints each
/// skipped case with its reason.
///
/// The tests are named after the cases, so invoke it once per module; for
/// several stores in one file, give each its own module:
///
/// ```no_run
/// # use sesh_tests::http::{ServerSpec, axum_probe::TokioServer};
/// # use sesh_tokio::MemoryStore;
/// # async fn memory_server(spec: ServerSpec) -> TokioServer<MemoryStore> { unimplemented!() }
/// # async fn real_clock_server(spec: ServerSpec) -> TokioServer<MemoryStore> { unimplemented!() }
/// mod memory { sesh_tests::session_tests!(super::memory_server); }
/// mod real_clock { sesh_tests::session_tests!(super::real_clock_server; lacks: [MovableClock]); }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! session_tests {
    ($make:path) => {
        $crate::session_tests!($make; lacks: []);
    };
    ($make:path; lacks: [$($lack:ident),* $(,)?]) => {
        $crate::__session_tests_flags!(
            ($make) [$($lack),*] [$($lack)*] [MovableClock: no, FailingStore: no]
        );
    };
}

/// Turns a `lacks` list into one flag per capability, then makes the tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __session_tests_flags {
    (($make:path) $lacks:tt [] $flags:tt) => {
        $crate::for_each_case!(($crate::__session_tests_cases) ($make) $lacks $flags);
    };
    (($make:path) $lacks:tt [MovableClock $($rest:ident)*] [MovableClock: $c:tt, FailingStore: $s:tt]) => {
        $crate::__session_tests_flags!(
            ($make) $lacks [$($rest)*] [MovableClock: yes, FailingStore: $s]
        );
    };
    (($make:path) $lacks:tt [FailingStore $($rest:ident)*] [MovableClock: $c:tt, FailingStore: $s:tt]) => {
        $crate::__session_tests_flags!(
            ($make) $lacks [$($rest)*] [MovableClock: $c, FailingStore: yes]
        );
    };
}

/// The callback of [`for_each_case!`](crate::for_each_case) for
/// [`session_tests!`](crate::session_tests): a test per case the backend
/// can run, and the coverage check, given which cases got a test.
#[doc(hidden)]
#[macro_export]
macro_rules! __session_tests_cases {
    (
        (($make:path) [$($lack:ident),*] $flags:tt)
        $($name:ident: $rt:ident, needs [$($need:ident),*];)*
    ) => {
        $(
            $crate::__if_case_runs!($flags [$($need)*] {
                #[test]
                fn $name() {
                    $crate::http::run_case(
                        stringify!($name),
                        $crate::http::Runtime::$rt,
                        || $crate::http::cases::$name($make),
                    );
                }
            } {});
        )*

        #[test]
        fn every_case_runs_or_is_skipped_with_a_reason() {
            $crate::http::check_coverage(
                &[$($crate::http::Capability::$lack),*],
                &[$(
                    (
                        stringify!($name),
                        $crate::__if_case_runs!($flags [$($need)*] { true } { false }),
                    )
                ),*],
            );
        }
    };
}

/// `{ then }` when a backend with these capability flags has every
/// capability of the list, else `{ otherwise }`: the one place that decides
/// whether a case runs on a backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __if_case_runs {
    ($flags:tt [] { $($then:tt)* } { $($otherwise:tt)* }) => {
        $($then)*
    };
    ([MovableClock: no, FailingStore: $s:tt] [MovableClock $($rest:ident)*] $then:tt $otherwise:tt) => {
        $crate::__if_case_runs! {[MovableClock: no, FailingStore: $s] [$($rest)*] $then $otherwise}
    };
    ([MovableClock: $c:tt, FailingStore: no] [FailingStore $($rest:ident)*] $then:tt $otherwise:tt) => {
        $crate::__if_case_runs! {[MovableClock: $c, FailingStore: no] [$($rest)*] $then $otherwise}
    };
    ([MovableClock: yes, FailingStore: $s:tt] [MovableClock $($rest:ident)*] $then:tt { $($otherwise:tt)* }) => {
        $($otherwise)*
    };
    ([MovableClock: $c:tt, FailingStore: yes] [FailingStore $($rest:ident)*] $then:tt { $($otherwise:tt)* }) => {
        $($otherwise)*
    };
}
