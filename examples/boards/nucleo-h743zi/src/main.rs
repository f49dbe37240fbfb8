//! The login UI on a real board: an STM32H743ZI (NUCLEO-H743ZI/ZI2) with its
//! Ethernet MAC and LAN8742A PHY, DHCP, [`firmware::WORKERS`] picoserve
//! workers on port 80, sessions that survive a reboot in internal flash.
//!
//! Build: `scripts/firmware.sh`, or `cargo build --release` in this folder
//! (its `.cargo/config.toml` picks `thumbv7em-none-eabihf`).
//!
//! **Randomness.** embassy-stm32 0.6's `Rng` implements rand_core 0.6 and
//! 0.9, not 0.10, so it reaches sesh through the `sesh::rng::Rng09` bridge.
//! Session ids come from a ChaCha20 generator seeded once with 256 bits from
//! the TRNG: the usual DRBG construction (ST's own crypto library also runs
//! its RNG through a DRBG), it never blocks inside a handler, and a TRNG
//! fault shows at boot rather than as a stalled request. `Rng09(trng)` as
//! the session RNG directly would be sound as well (embassy-stm32's blocking
//! read discards words flagged by seed or clock errors), at the cost of
//! busy-waiting on the TRNG with the table locked. Never seed the ChaCha
//! from a constant, the chip UID or the 64-bit smoltcp seed: every boot
//! would repeat (or narrow down) the ids.
//!
//! **Keys.** The cookie-signing key is 32 TRNG bytes written to its own flash
//! sector at first boot and read back at every later boot, so it never sits
//! in the firmware image and cookies stay valid across reboots (needed for
//! the restored sessions to be usable). Lock the chip (RDP level 1 or more)
//! on a real product, or a debugger reads the key out.
//!
//! **Cookies.** Served over plain HTTP, so without `Secure` (see
//! [`firmware::COOKIE`]).
//!
//! **The admin password** is a required build-time value: the PBKDF2 hash in
//! `SESH_ADMIN_PASSWORD_HASH` (make one with `firmware-host --hash-password`;
//! see the README). The image holds the hash, never the password, and there
//! is no default: the build fails without it.
#![no_std]
#![no_main]
// The web task's future nests every route of the firmware's router: its
// layout needs more than the default 128 levels of queries.
#![recursion_limit = "256"]

use embassy_executor::Spawner;
use embassy_net::{Runner, Stack, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::flash::{Async, Flash};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::Rng;
use embassy_stm32::{Config, bind_interrupts, eth, flash, peripherals, rng};
use embassy_time::Duration;
use embedded_storage_async::nor_flash::ReadNorFlash;
use firmware::{AppSessions, WORKERS};
use panic_halt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sesh::rng::Rng09;
use sesh::signing::{Key, KeyRing};
use sesh_embassy::flash::{FlashSnapshots, run_persistence};
use static_cell::{ConstStaticCell, StaticCell};

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
    FLASH => flash::InterruptHandler;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;
type Trng = Rng<'static, RNG>;
type Storage = Flash<'static, Async>;

/// The admin account, from the required build-time `SESH_ADMIN_PASSWORD_HASH`.
#[allow(clippy::panic)] // evaluated at compile time: a bad value fails the build
const ADMIN: firmware::Credentials =
    match firmware::Credentials::from_phc("admin", env!("SESH_ADMIN_PASSWORD_HASH")) {
        Ok(credentials) => credentials,
        Err(e) => panic!("{}", e.as_str()),
    };

/// Offsets from the start of flash; see `memory.x`.
const KEY_OFFSET: u32 = 0x1A_0000;
const SNAPSHOTS: core::ops::Range<u32> = 0x1C_0000..0x20_0000;
/// The H7 programs flash in 32-byte words.
const KEY_WORD: usize = 32;
/// Room for a full table's snapshot, owners and labels included.
const SNAPSHOT_BUF: usize = firmware::SNAPSHOT_BUF;
/// The snapshot plus sequential-storage's item header, in whole words.
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 128;
/// A burst of requests within this window costs one flash write.
const COALESCE: Duration = Duration::from_secs(5);

/// Sockets: one per worker, one for DHCP, one spare.
const SOCKETS: usize = WORKERS + 2;

/// A locally administered MAC address derived from the chip's unique id.
fn mac_address() -> [u8; 6] {
    let [u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10, u11] = embassy_stm32::uid::uid();
    [
        0x02,
        0x00,
        u0 ^ u4 ^ u8,
        u1 ^ u5 ^ u9,
        u2 ^ u6 ^ u10,
        u3 ^ u7 ^ u11,
    ]
}

fn clocks() -> Config {
    use embassy_stm32::rcc::{
        AHBPrescaler, APBPrescaler, HSIPrescaler, Pll, PllDiv, PllMul, PllPreDiv, PllSource,
        Sysclk, VoltageScale,
    };
    let mut config = Config::default();
    config.rcc.hsi = Some(HSIPrescaler::DIV1);
    config.rcc.csi = true;
    config.rcc.hsi48 = Some(Default::default()); // the RNG's clock
    config.rcc.pll1 = Some(Pll {
        source: PllSource::HSI,
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL50,
        divp: Some(PllDiv::DIV2),
        divq: None,
        divr: None,
        fracn: None,
    });
    config.rcc.sys = Sysclk::PLL1_P; // 400 MHz
    config.rcc.ahb_pre = AHBPrescaler::DIV2; // 200 MHz
    config.rcc.apb1_pre = APBPrescaler::DIV2;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.apb3_pre = APBPrescaler::DIV2;
    config.rcc.apb4_pre = APBPrescaler::DIV2;
    config.rcc.voltage_scale = VoltageScale::Scale1;
    config
}

/// Stops here for good: the board cannot serve safely (no randomness, no
/// key, bad configuration). The watchdog or a person resets it.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// The signing key from its flash sector; at first boot (sector erased),
/// 32 fresh TRNG bytes written there and read back.
async fn provision_key(flash: &mut Storage, trng: &mut Trng) -> Option<Key> {
    let mut stored = [0u8; KEY_WORD];
    flash.read(KEY_OFFSET, &mut stored).await.ok()?;
    if stored.iter().all(|b| *b == 0xFF) {
        let mut fresh = [0u8; KEY_WORD];
        rand_core::TryRng::try_fill_bytes(&mut Rng09(&mut *trng), &mut fresh).ok()?;
        flash.write(KEY_OFFSET, &fresh).await.ok()?;
        flash.read(KEY_OFFSET, &mut stored).await.ok()?;
        if stored != fresh {
            return None;
        }
    }
    // A sector of all zeros or all ones is no key.
    if stored.iter().all(|b| *b == 0) || stored.iter().all(|b| *b == 0xFF) {
        return None;
    }
    Key::new(&stored).ok()
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
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
async fn sweeper_task(sessions: &'static AppSessions<ChaCha20Rng>) -> ! {
    sesh_embassy::run_sweeper(sessions).await
}

#[embassy_executor::task]
async fn persistence_task(
    sessions: &'static AppSessions<ChaCha20Rng>,
    mut snapshots: FlashSnapshots<Storage>,
    scratch: &'static mut [u8; SCRATCH_BUF],
) -> ! {
    static SNAPSHOT: ConstStaticCell<[u8; SNAPSHOT_BUF]> = ConstStaticCell::new([0; SNAPSHOT_BUF]);
    run_persistence(sessions, &mut snapshots, SNAPSHOT.take(), scratch, COALESCE).await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());

    // Randomness first: the session RNG's seed and the network's seed.
    let mut trng = Rng::new(p.RNG, Irqs);
    let Ok(session_rng) = ChaCha20Rng::try_from_rng(&mut Rng09(&mut trng)) else {
        halt()
    };
    let Ok(net_seed) = rand_core::TryRng::try_next_u64(&mut Rng09(&mut trng)) else {
        halt()
    };

    // The key, then the sessions saved before the last reset.
    let mut storage = Flash::new(p.FLASH, Irqs);
    let Some(key) = provision_key(&mut storage, &mut trng).await else {
        halt()
    };
    // Every worker shares this one table; a StaticCell puts it in .bss.
    static SESSIONS: StaticCell<AppSessions<ChaCha20Rng>> = StaticCell::new();
    let Ok(sessions) = firmware::new_sessions(session_rng, KeyRing::new(key)) else {
        halt()
    };
    let sessions: &'static AppSessions<ChaCha20Rng> = SESSIONS.init(sessions);
    let Ok(mut snapshots) = FlashSnapshots::new(storage, SNAPSHOTS) else {
        halt()
    };
    static SCRATCH: ConstStaticCell<[u8; SCRATCH_BUF]> = ConstStaticCell::new([0; SCRATCH_BUF]);
    let scratch = SCRATCH.take();
    // A damaged or missing snapshot leaves the table empty: the device
    // starts with no sessions, never with wrong ones.
    let _restored = snapshots.restore(sessions, scratch).await;
    spawner.spawn(persistence_task(sessions, snapshots, scratch).unwrap_or_else(|_| halt()));
    spawner.spawn(sweeper_task(sessions).unwrap_or_else(|_| halt()));

    // Ethernet (RMII pins of the NUCLEO-H743ZI) and DHCP.
    static PACKETS: ConstStaticCell<PacketQueue<4, 4>> = ConstStaticCell::new(PacketQueue::new());
    let device = Ethernet::new(
        PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac_address(),
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        net_seed,
    );
    spawner.spawn(net_task(runner).unwrap_or_else(|_| halt()));
    // The provisioned account replaces the demo one before anyone can log in.
    firmware::LOGIN.provision(ADMIN);
    for id in 0..WORKERS {
        spawner.spawn(web_task(id, stack, sessions).unwrap_or_else(|_| halt()));
    }
}
