//! The HTTP suite's probe app for sesh-embassy (`sesh_tests::embassy_app`,
//! the code the host suite serves on an in-process stack) as a real
//! Cortex-M4F image on QEMU's mps2-an386, on the board crate's LAN9118
//! driver, time driver, executor and semihosting flash.
//!
//! The harness (`sesh_tests::http::qemu_probe`) boots it with
//! `--spec HEX` (the case's `ServerSpec`), `--flash FILE` and `--clock
//! manual|real` (the sessions' clock), forwards a host port to port 80 (the
//! probe app) and one to [`CONTROL_PORT`]: `GET /stored` answers the
//! sessions in the table; `POST /advance/MS` moves the manual clock;
//! `POST /shutdown` writes
//! the table's snapshot to flash and ends QEMU with status 0, so that the
//! next boot over the same file restores it (a restart with new keys).
//!
//! ⚠️ Test plumbing: the control port tells and stops everything. Session
//! data and buffers live on a heap here (the probe app uses `alloc`), unlike
//! the firmware, whose table is in a `StaticCell` (`.bss`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::fmt::Write as _;

use embassy_executor::Spawner;
use embassy_futures::select::select;
use embassy_net::{Stack, StackResources};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer};
use embedded_alloc::LlffHeap;
use mps2_an386::emulator_entropy::{self, HostEntropy};
use mps2_an386::host_flash::HostFlash;
use mps2_an386::{ethernet, executor, faults, net, println, semihosting, storage, time_driver};
use picoserve::extract::State;
use picoserve::routing::{get, parse_path_segment, post};
use picoserve::{Router, Timeouts};
use rand_chacha::ChaCha20Rng;
use sesh_embassy::Sessions;
use sesh_embassy::flash::{FlashSnapshots, run_persistence, save_now};
use sesh_tests::embassy_app::{
    self, ManualClock, ProbeClock, ProbeSessions, ProbeState, Slots, WORKERS,
};
use sesh_tests::spec::ServerSpec;
use static_cell::StaticCell;

/// The harness's port.
const CONTROL_PORT: u16 = 81;
/// Connection slots: the suite's most concurrent case opens 100 connections
/// at once, and [`WORKERS`] of them are served at a time (one HTTP buffer
/// each); the others wait, accepted, in their slot.
const SLOTS: usize = 104;
/// Sockets: the slots, the control port, DHCP.
const SOCKETS: usize = SLOTS + 2;
/// Room for the heap: the HTTP buffers (80 KiB each), the slots' TCP
/// buffers (4 KiB each) and the sessions' data.
const HEAP_BYTES: usize = 2 * 1024 * 1024;
/// The snapshot of a table of small sessions; a larger one is not saved
/// (logged), and the previous snapshot stays.
const SNAPSHOT_BUF: usize = 3 * 1024;
/// The snapshot plus sequential-storage's item header.
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 128;
/// Longest command line: `--spec` with a few keys, and a path.
const COMMAND_LINE: usize = 2048;
/// Time for `/shutdown`'s answer to leave before QEMU ends.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Raised by `POST /shutdown`.
static SHUTDOWN: Signal<CriticalSectionRawMutex, ()> = Signal::new();

type Rng = ChaCha20Rng;
type Snapshots = FlashSnapshots<HostFlash>;

fn fail(what: &str, error: impl core::fmt::Display) -> ! {
    semihosting::exit_failure(format_args!("qemu-probe: {what}: {error}"))
}

/// `--spec HEX` and `--flash FILE` from the semihosting command line.
struct Args<'a> {
    spec: ServerSpec,
    flash: &'a str,
    /// `--clock manual`: the table reads [`CLOCK`], which only the control
    /// port's `POST /advance/MS` moves; else embassy-time's clock.
    manual_clock: bool,
}

fn parse(line: &str) -> Result<Args<'_>, &'static str> {
    let mut words = line
        .split_ascii_whitespace()
        .skip_while(|w| !w.starts_with('-'));
    let (mut spec, mut flash, mut manual_clock) = (None, None, false);
    while let Some(word) = words.next() {
        match word {
            "--spec" => {
                let hex = words.next().ok_or("--spec needs a value")?;
                spec = Some(ServerSpec::from_hex(hex).ok_or("--spec is no ServerSpec")?);
            }
            "--flash" => flash = Some(words.next().ok_or("--flash needs a value")?),
            "--clock" => {
                manual_clock = match words.next() {
                    Some("manual") => true,
                    Some("real") => false,
                    _ => return Err("--clock needs manual or real"),
                }
            }
            _ => {
                return Err(
                    "unknown argument (expected --spec HEX --flash FILE [--clock manual|real])",
                );
            }
        }
    }
    Ok(Args {
        spec: spec.ok_or("--spec is missing")?,
        flash: flash.ok_or("--flash is missing")?,
        manual_clock,
    })
}

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: called once, before anything allocates.
    #[allow(unsafe_code)]
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_BYTES);
    }
    faults::init();
    time_driver::init();
    executor::run(|spawner| {
        spawner.spawn(boot_task(spawner).unwrap_or_else(|e| fail("boot task", e)))
    })
}

#[embassy_executor::task]
async fn boot_task(spawner: Spawner) {
    let mut line = Box::new([0u8; COMMAND_LINE]);
    let line = semihosting::command_line(&mut line[..]).unwrap_or_else(|e| fail("command line", e));
    let args = parse(line).unwrap_or_else(|e| fail("command line", e));

    let mut entropy = HostEntropy::open().unwrap_or_else(|e| fail("entropy", e));
    let randomness =
        emulator_entropy::boot_randomness(&mut entropy).unwrap_or_else(|e| fail("entropy", e));
    let _ = entropy.close();

    let keys = args.spec.key_ring().unwrap_or_else(|e| fail("keys", e));
    // 16 sessions of up to 4 KiB each: a 64 KiB value on its way to the
    // heap, which is why this image asks the board for a large stack.
    let sessions: &'static ProbeSessions<Rng> = Box::leak(Box::new(
        Sessions::with_clock(
            randomness.session_rng,
            keys,
            args.spec.cookie_config(),
            args.spec.policy(),
            if args.manual_clock {
                ProbeClock::Manual(&CLOCK)
            } else {
                ProbeClock::Real
            },
        )
        .unwrap_or_else(|e| fail("cookie settings", format_args!("{e:?}"))),
    ));

    let path = alloc::ffi::CString::new(args.flash).unwrap_or_else(|e| fail("--flash", e));
    let flash = HostFlash::open(&path, storage::CAPACITY).unwrap_or_else(|e| fail(args.flash, e));
    let mut snapshots =
        FlashSnapshots::new(flash, storage::SNAPSHOTS).unwrap_or_else(|e| fail("snapshots", e));
    let scratch: &'static mut [u8] = Box::leak(Box::new([0u8; SCRATCH_BUF]));
    match snapshots.restore(sessions, scratch).await {
        Ok(n) => println!("probe: {} sessions restored", n),
        Err(e) => println!("probe: no sessions restored ({})", e),
    }
    spawner.spawn(
        persistence_task(sessions, snapshots, scratch)
            .unwrap_or_else(|e| fail("persistence task", e)),
    );
    spawner.spawn(sweeper_task(sessions).unwrap_or_else(|e| fail("sweeper task", e)));

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let resources = RESOURCES.init_with(StackResources::new);
    let stack = ethernet::spawn_network(spawner, randomness.net_seed, resources)
        .unwrap_or_else(|e| fail("network", e));
    let state = ProbeState {
        sessions,
        max_data_len: args.spec.max_data_len,
    };
    let slots: &'static Slots<WORKERS> = Box::leak(Box::new(Slots::new()));
    for _ in 0..SLOTS {
        spawner.spawn(slot_task(stack, state, slots).unwrap_or_else(|e| fail("slot task", e)));
    }
    spawner.spawn(control_task(stack, sessions, slots).unwrap_or_else(|e| fail("control task", e)));
    net::wait_for_address(stack).await;
    println!("probe: serving on port {}", embassy_app::PORT);
}

#[embassy_executor::task(pool_size = SLOTS)]
async fn slot_task(
    stack: Stack<'static>,
    state: ProbeState<Rng>,
    slots: &'static Slots<WORKERS>,
) -> ! {
    embassy_app::serve_slot(stack, state, slots).await
}

#[embassy_executor::task]
async fn sweeper_task(sessions: &'static ProbeSessions<Rng>) -> ! {
    sesh_embassy::run_sweeper(sessions).await
}

/// Saves after every change (no coalescing: a test restarts right after a
/// response), and once more on `POST /shutdown`, then ends QEMU.
#[embassy_executor::task]
async fn persistence_task(
    sessions: &'static ProbeSessions<Rng>,
    mut snapshots: Snapshots,
    scratch: &'static mut [u8],
) {
    let snapshot: &'static mut [u8] = Box::leak(Box::new([0u8; SNAPSHOT_BUF]));
    select(
        run_persistence(
            sessions,
            &mut snapshots,
            snapshot,
            scratch,
            Duration::from_ticks(0),
        ),
        SHUTDOWN.wait(),
    )
    .await;
    if let Err(e) = save_now(sessions, &mut snapshots, snapshot, scratch).await {
        fail("the last snapshot", e);
    }
    Timer::after(SHUTDOWN_GRACE).await;
    println!("probe: snapshot saved, shutting down");
    semihosting::exit(true)
}

const CONTROL_CONFIG: picoserve::Config = picoserve::Config::new(Timeouts {
    start_read_request: embassy_time::Duration::from_secs(5),
    persistent_start_read_request: embassy_time::Duration::from_secs(1),
    read_request: embassy_time::Duration::from_secs(5),
    write: embassy_time::Duration::from_secs(5),
})
.close_connection_after_response();

async fn stored(State(sessions): State<&'static ProbeSessions<Rng>>) -> heapless::String<20> {
    let mut count = heapless::String::new();
    let _ = write!(count, "{}", sessions.occupancy().await.0);
    count
}

/// Connections the image has accepted whose request has not arrived
/// (`Slots::waiting`).
async fn waiting(slots: &'static Slots<WORKERS>) -> heapless::String<20> {
    let mut count = heapless::String::new();
    let _ = write!(count, "{}", slots.waiting());
    count
}

/// The sessions' clock under `--clock manual`: it stands still until the
/// harness moves it, as a paused tokio clock does for sesh-tokio, so that
/// the suite's paused-clock cases step expiry to the millisecond.
static CLOCK: ManualClock = ManualClock::starting_at(ManualClock::START);

async fn advance(ms: u64) -> &'static str {
    CLOCK.advance(sesh::Duration::from_millis(ms));
    "advanced\n"
}

async fn shutdown() -> &'static str {
    SHUTDOWN.signal(());
    "saving and shutting down\n"
}

/// The harness's routes on [`CONTROL_PORT`].
#[embassy_executor::task]
async fn control_task(
    stack: Stack<'static>,
    sessions: &'static ProbeSessions<Rng>,
    slots: &'static Slots<WORKERS>,
) -> ! {
    let app = Router::<_, &'static ProbeSessions<Rng>>::new()
        .route("/stored", get(stored))
        .route("/waiting", get(move || waiting(slots)))
        .route("/shutdown", post(shutdown))
        .route(("/advance", parse_path_segment::<u64>()), post(advance))
        .with_state(sessions);
    let mut rx = [0u8; 1024];
    let mut tx = [0u8; 1024];
    let mut http = [0u8; 2048];
    picoserve::Server::new(&app, &CONTROL_CONFIG, &mut http)
        .listen_and_serve("control", stack, CONTROL_PORT, &mut rx, &mut tx)
        .await
        .into_never()
}
