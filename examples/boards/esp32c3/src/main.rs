//! The login UI on an ESP32-C3 (RISC-V): esp-hal with esp-rtos's embassy
//! executor, esp-radio Wi-Fi, [`firmware::WORKERS`] picoserve workers on
//! port 80, sessions that survive a reboot in a flash partition.
//!
//! **Network.** A setup portal by default: a WPA2 access point
//! ([`wifi_portal::AP_SSID`], [`wifi_portal::AP_PASSWORD`], build-time
//! variables with public defaults: change them) at 192.168.4.1 with a DHCP
//! server (edge-dhcp). With the `station` feature the board joins
//! `SESH_WIFI_SSID` instead and takes an address by DHCP.
//!
//! **Randomness.** esp-hal's `Trng` (the RNG peripheral with the SAR ADC as
//! entropy source, rand_core 0.10 directly) seeds a ChaCha20 generator once
//! at boot, as on the NUCLEO board, and makes the signing key at first boot.
//! Its `Rng` without a `TrngSource` (or the radio) running is not a TRNG.
//!
//! **Keys and sessions** live in the `sesh` data partition of
//! `partitions.csv`, found by name at boot, through esp-storage wrapped in
//! embassy-embedded-hal's `BlockingAsync` (sesh-embassy wants the async
//! `NorFlash`; esp-storage is blocking, so a sector erase, tens of ms, stalls
//! the executor: the persistence task coalesces writes to keep them rare).
//! Enable flash encryption and secure boot on a product, or the key reads out.
#![no_std]
#![no_main]
// The web task's future nests every route of the firmware's router.
#![recursion_limit = "256"]

use embassy_embedded_hal::adapter::BlockingAsync;
use embassy_executor::Spawner;
use embassy_net::{Runner, Stack, StackResources};
use embassy_time::Duration;
use esp_bootloader_esp_idf::partitions::{PARTITION_TABLE_MAX_LEN, read_partition_table};
use esp_hal::clock::CpuClock;
use esp_hal::rng::{Trng, TrngSource};
use esp_hal::timer::timg::TimerGroup;
use esp_radio::wifi::{AuthenticationMethodConfig, Config, ControllerConfig};
use esp_radio::wifi::{Interface, WifiController};
use esp_storage::FlashStorage;
use firmware::{AppSessions, WORKERS};
use panic_halt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sesh::signing::KeyRing;
use sesh_embassy::flash::{FlashSnapshots, run_persistence};
use static_cell::{ConstStaticCell, StaticCell};

esp_bootloader_esp_idf::esp_app_desc!();

type Storage = BlockingAsync<FlashStorage<'static>>;

/// The partition (by name, in `partitions.csv`) that holds key and sessions.
const PARTITION: &str = "sesh";
/// The flash's erase sector: the key has the partition's first one.
const SECTOR: u32 = 4096;
const SNAPSHOT_BUF: usize = firmware::SNAPSHOT_BUF;
/// The snapshot plus sequential-storage's item header.
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 128;
/// A burst of requests within this window costs one flash write.
const COALESCE: Duration = Duration::from_secs(5);
/// Sockets: one per worker, one for DHCP (server or client), one spare.
const SOCKETS: usize = WORKERS + 2;

/// Stops here for good: the board cannot serve safely (no randomness, no
/// key, no radio). The watchdog or a person resets it.
fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The `sesh` partition's range, from the partition table in flash.
fn partition(flash: &mut FlashStorage<'_>) -> Option<core::ops::Range<u32>> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let table = read_partition_table(flash, &mut table).ok()?;
    let entry = table.iter().find(|p| p.label_as_str() == PARTITION)?;
    let end = entry.offset().checked_add(entry.len())?;
    // The key's sector plus at least two for sequential-storage.
    (entry.len() >= 3 * SECTOR).then_some(entry.offset()..end)
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface>) -> ! {
    runner.run().await
}

#[cfg(not(feature = "station"))]
#[embassy_executor::task]
async fn dhcp_task(stack: Stack<'static>) -> ! {
    wifi_portal::dhcp_server(stack).await
}

/// Station mode: joins the network, and again whenever it drops.
#[cfg(feature = "station")]
#[embassy_executor::task]
async fn join_task(mut controller: WifiController<'static>) -> ! {
    loop {
        if controller.connect_async().await.is_ok() {
            let _ = controller.wait_for_disconnect_async().await;
        }
        embassy_time::Timer::after(Duration::from_secs(2)).await;
    }
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

/// The Wi-Fi settings: the setup access point, or the network to join.
fn wifi_config() -> Option<Config> {
    let auth = |password: &str| {
        password
            .try_into()
            .ok()
            .map(AuthenticationMethodConfig::Wpa2Personal)
    };
    #[cfg(not(feature = "station"))]
    let config = Config::AccessPoint(
        esp_radio::wifi::ap::AccessPointConfig::default()
            .with_ssid(wifi_portal::AP_SSID.try_into().ok()?)
            .with_channel(wifi_portal::AP_CHANNEL)
            .with_authentication(auth(wifi_portal::AP_PASSWORD)?),
    );
    #[cfg(feature = "station")]
    let config = {
        const { assert!(!wifi_portal::WIFI_SSID.is_empty(), "set SESH_WIFI_SSID") };
        Config::Station(
            esp_radio::wifi::sta::StationConfig::default()
                .with_ssid(wifi_portal::WIFI_SSID.try_into().ok()?)
                .with_authentication(auth(wifi_portal::WIFI_PASSWORD)?),
        )
    };
    Some(config)
}

#[esp_rtos::main]
async fn main(spawner: Spawner) {
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    // The radio's driver allocates (about 60 KiB in access point mode).
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 16 * 1024);
    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    // Randomness first: the TRNG lives as long as the board runs.
    static TRNG_SOURCE: StaticCell<TrngSource<'static>> = StaticCell::new();
    TRNG_SOURCE.init(TrngSource::new(p.RNG, p.ADC1));
    let Ok(mut trng) = Trng::try_new() else {
        halt()
    };
    // esp-hal's Trng cannot fail (Infallible).
    let Ok(session_rng) = ChaCha20Rng::try_from_rng(&mut trng);
    let net_seed = u64::from(trng.random()) << 32 | u64::from(trng.random());

    // The key, then the sessions saved before the last reset.
    let mut flash = FlashStorage::new(p.FLASH);
    let Some(range) = partition(&mut flash) else {
        halt()
    };
    let mut storage = BlockingAsync::new(flash);
    let Some(key) = wifi_portal::provision_key(&mut storage, range.start, &mut trng).await else {
        halt()
    };
    // Every worker shares this one table; a StaticCell puts it in .bss.
    static SESSIONS: StaticCell<AppSessions<ChaCha20Rng>> = StaticCell::new();
    let Ok(sessions) = firmware::new_sessions(session_rng, KeyRing::new(key)) else {
        halt()
    };
    let sessions: &'static AppSessions<ChaCha20Rng> = SESSIONS.init(sessions);
    let snapshots_range = range.start.saturating_add(SECTOR)..range.end;
    let Ok(mut snapshots) = FlashSnapshots::new(storage, snapshots_range) else {
        halt()
    };
    static SCRATCH: ConstStaticCell<[u8; SCRATCH_BUF]> = ConstStaticCell::new([0; SCRATCH_BUF]);
    let scratch = SCRATCH.take();
    // A damaged or missing snapshot leaves the table empty.
    let _restored = snapshots.restore(sessions, scratch).await;
    spawner.spawn(persistence_task(sessions, snapshots, scratch).unwrap_or_else(|_| halt()));
    spawner.spawn(sweeper_task(sessions).unwrap_or_else(|_| halt()));

    // Wi-Fi: the controller starts the access point (or station) at once.
    let Some(config) = wifi_config() else { halt() };
    let Ok(controller) = WifiController::new(
        p.WIFI,
        ControllerConfig::default().with_initial_config(config),
    ) else {
        halt()
    };
    #[cfg(not(feature = "station"))]
    let (device, net_config) = {
        // Dropping the controller would stop the radio: it lives on.
        static CONTROLLER: StaticCell<WifiController<'static>> = StaticCell::new();
        CONTROLLER.init(controller);
        let Some(device) = Interface::try_access_point() else {
            halt()
        };
        (device, wifi_portal::ap_config())
    };
    #[cfg(feature = "station")]
    let (device, net_config) = {
        spawner.spawn(join_task(controller).unwrap_or_else(|_| halt()));
        let Some(device) = Interface::try_station() else {
            halt()
        };
        (device, embassy_net::Config::dhcpv4(Default::default()))
    };

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        net_config,
        RESOURCES.init(StackResources::new()),
        net_seed,
    );
    spawner.spawn(net_task(runner).unwrap_or_else(|_| halt()));
    #[cfg(not(feature = "station"))]
    spawner.spawn(dhcp_task(stack).unwrap_or_else(|_| halt()));
    // The provisioned account replaces the demo one before anyone can log in.
    firmware::LOGIN.provision(wifi_portal::ADMIN);
    for id in 0..WORKERS {
        spawner.spawn(web_task(id, stack, sessions).unwrap_or_else(|_| halt()));
    }
}
