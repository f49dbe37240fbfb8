//! The login UI on QEMU's MPS2 AN386 (Cortex-M4F): the board-independent
//! [`firmware`] app wired to this board's pieces, like the NUCLEO image.
//!
//! Run: `bash scripts/qemu-firmware.sh` (builds, starts QEMU, forwards a
//! host port to port 80). See the crate's README for the knobs.
//!
//! ⚠️ **For the emulator only.** The session RNG's seed and the signing key
//! come from the *host's* `/dev/urandom`, and the "flash" (key and session
//! snapshots) is a host file, both through semihosting. A product seeds
//! from a TRNG and keeps the key in locked internal flash (see the NUCLEO
//! board).
#![no_std]
#![no_main]
// The web task's future nests every route of the firmware's router: its
// layout needs more than the default 128 levels of queries.
#![recursion_limit = "256"]

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration, Timer};
use firmware::{AppSessions, WORKERS};
use mps2_an386::emulator_entropy::{self, BootRandomness, HostEntropy};
use mps2_an386::faults::{self, Crash};
use mps2_an386::host_flash::HostFlash;
use mps2_an386::storage::{self, KeyOrigin};
use mps2_an386::{ethernet, executor, knobs, net, println, semihosting, stack, time_driver};
use rand_chacha::ChaCha20Rng;
use sesh::signing::KeyRing;
use sesh_embassy::Sessions;
use sesh_embassy::flash::{FlashSnapshots, run_persistence};
use static_cell::{ConstStaticCell, StaticCell};

type Snapshots = FlashSnapshots<HostFlash>;

/// Room for a full table's snapshot, owners and labels included.
const SNAPSHOT_BUF: usize = firmware::SNAPSHOT_BUF;
/// The snapshot plus sequential-storage's item header, in whole words.
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 128;
/// A burst of requests within this window costs one flash write.
const COALESCE: Duration = Duration::from_secs(5);
/// How long `--crash` waits after boot, so that the executor, the timers
/// and the interrupts are all live when it crashes.
const CRASH_DELAY: Duration = Duration::from_millis(200);

/// Stops QEMU with status 1 after saying why: the board cannot serve
/// safely (no randomness, no key, a bad flash file).
fn fail(what: &str, error: impl core::fmt::Display) -> ! {
    semihosting::exit_failure(format_args!("mps2-an386: {what}: {error}"))
}

#[embassy_executor::task(pool_size = WORKERS)]
async fn web_task(
    id: usize,
    stack: Stack<'static>,
    sessions: &'static AppSessions<ChaCha20Rng>,
) -> ! {
    firmware::serve(id, stack, sessions).await
}

#[embassy_executor::task]
async fn stats_task(
    stack: Stack<'static>,
    port: u16,
    sessions: &'static AppSessions<ChaCha20Rng>,
) -> ! {
    firmware::serve_stats_on(stack, port, sessions).await
}

#[embassy_executor::task]
async fn sweeper_task(sessions: &'static AppSessions<ChaCha20Rng>) -> ! {
    sesh_embassy::run_sweeper(sessions).await
}

#[embassy_executor::task]
async fn persistence_task(
    sessions: &'static AppSessions<ChaCha20Rng>,
    mut snapshots: Snapshots,
    scratch: &'static mut [u8; SCRATCH_BUF],
) -> ! {
    static SNAPSHOT: ConstStaticCell<[u8; SNAPSHOT_BUF]> = ConstStaticCell::new([0; SNAPSHOT_BUF]);
    run_persistence(sessions, &mut snapshots, SNAPSHOT.take(), scratch, COALESCE).await
}

#[embassy_executor::task]
async fn crash_task(crash: Crash) -> ! {
    Timer::after(CRASH_DELAY).await;
    println!("crash: {:?} (--crash)", crash);
    faults::crash(crash)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    faults::init();
    time_driver::init();
    executor::run(|spawner| {
        spawner.spawn(boot_task(spawner).unwrap_or_else(|e| fail("boot task", e)))
    })
}

/// Everything from the boot line to `firmware: serving on port 80`.
#[embassy_executor::task]
async fn boot_task(spawner: Spawner) {
    println!(
        "mps2-an386: sesh firmware {} on QEMU MPS2 AN386 (Cortex-M4F)",
        env!("CARGO_PKG_VERSION")
    );
    let knobs = knobs::from_host_or_exit();

    // ⚠️ Emulator only: randomness from the host (no TRNG on this machine).
    let mut entropy = HostEntropy::open().unwrap_or_else(|e| fail("entropy", e));
    let BootRandomness {
        session_rng,
        net_seed,
    } = emulator_entropy::boot_randomness(&mut entropy).unwrap_or_else(|e| fail("entropy", e));

    // ⚠️ Emulator only: the flash is a host file. The key first, in its
    // own sector, made at first boot.
    let flash_file = knobs.flash_file_name();
    let mut flash = HostFlash::open(knobs.flash_file(), storage::CAPACITY)
        .unwrap_or_else(|e| fail(flash_file, e));
    let (key, origin) = storage::provision_key(&mut flash, &mut entropy)
        .await
        .unwrap_or_else(|e| fail("signing key", e));
    // The entropy is no longer needed; a failed close changes nothing.
    let _ = entropy.close();
    println!(
        "flash: {} ({} KiB), signing key {}",
        flash_file,
        storage::CAPACITY / 1024,
        match origin {
            KeyOrigin::Stored => "read from flash",
            KeyOrigin::New => "made at first boot",
        }
    );

    // ⚠️ Emulator only: the wall clock is the host's (a product learns it
    // from an RTC or an authenticated time source); the session list's
    // RFC 3339 times count from boot without it.
    match semihosting::unix_time() {
        Ok(secs) => {
            firmware::WALL_CLOCK.learn(sesh_embassy::now(), secs.saturating_mul(1000));
        }
        Err(e) => println!("wall clock: unknown ({}), times count from boot", e),
    }

    // The session table, with the policy the knobs may change, then the
    // sessions saved before the last stop.
    static SESSIONS: StaticCell<AppSessions<ChaCha20Rng>> = StaticCell::new();
    let sessions: &'static AppSessions<ChaCha20Rng> = SESSIONS.init(
        Sessions::new(
            session_rng,
            KeyRing::new(key),
            firmware::COOKIE,
            knobs.policy(firmware::POLICY),
        )
        .unwrap_or_else(|e| fail("cookie settings", format_args!("{e:?}"))),
    );
    let mut snapshots =
        FlashSnapshots::new(flash, storage::SNAPSHOTS).unwrap_or_else(|e| fail("snapshots", e));
    static SCRATCH: ConstStaticCell<[u8; SCRATCH_BUF]> = ConstStaticCell::new([0; SCRATCH_BUF]);
    let scratch = SCRATCH.take();
    // A damaged or missing snapshot leaves the table empty: the device
    // starts with no sessions, never with wrong ones.
    match snapshots.restore(sessions, scratch).await {
        Ok(restored) => println!("sessions: {} restored from flash", restored),
        Err(e) => println!("sessions: none restored ({})", e),
    }
    spawner.spawn(
        persistence_task(sessions, snapshots, scratch)
            .unwrap_or_else(|e| fail("persistence task", e)),
    );
    spawner.spawn(sweeper_task(sessions).unwrap_or_else(|e| fail("sweeper task", e)));
    spawner.spawn(stack::monitor_task().unwrap_or_else(|e| fail("stack monitor", e)));

    // Ethernet, DHCP and the web workers.
    static RESOURCES: StaticCell<StackResources<{ net::SOCKETS }>> = StaticCell::new();
    let resources = RESOURCES.init(StackResources::new());
    let stack = ethernet::spawn_network(spawner, net_seed, resources)
        .unwrap_or_else(|e| fail("network", e));
    for id in 0..WORKERS {
        spawner.spawn(web_task(id, stack, sessions).unwrap_or_else(|e| fail("web task", e)));
    }
    if let Some(port) = knobs.stats_port {
        spawner.spawn(stats_task(stack, port, sessions).unwrap_or_else(|e| fail("stats task", e)));
        println!("stats: on port {} (--stats-port, for tests)", port);
    }
    if let Some(crash) = knobs.crash {
        spawner.spawn(crash_task(crash).unwrap_or_else(|e| fail("crash task", e)));
    }

    net::wait_for_address(stack).await;
    println!("firmware: serving on port {}", firmware::PORT);
}
