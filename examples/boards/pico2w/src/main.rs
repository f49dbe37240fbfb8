//! The login UI on a Raspberry Pi Pico 2 W: the RP2350A with its CYW43439
//! radio (cyw43 over the PIO SPI bus), [`firmware::WORKERS`] picoserve
//! workers on port 80, sessions that survive a reboot in on-board flash.
//!
//! **Network.** A setup portal by default: a WPA2 access point
//! ([`wifi_portal::AP_SSID`], [`wifi_portal::AP_PASSWORD`], build-time
//! variables with public defaults: change them) at 192.168.4.1 with a DHCP
//! server. With the `station` feature the board joins `SESH_WIFI_SSID`
//! instead and takes an address by DHCP.
//!
//! **Randomness.** The RP2350's TRNG (embassy-rp 0.10 implements rand_core
//! 0.9, so it reaches sesh through `sesh::rng::Rng09`) seeds a ChaCha20
//! generator once at boot, as on the NUCLEO board, and makes the signing key
//! at first boot. Never the RP2040's `RoscRng`: its ring oscillator is a weak
//! source.
//!
//! **Keys and sessions** live in the last 64 KiB of the flash, which
//! `memory.x` keeps out of the image, through embassy-rp's async `Flash`.
//! Anyone with the board in BOOTSEL mode or a debug probe can read them:
//! lock the chip (secure boot, OTP debug disable) before shipping.
//!
//! **The radio firmware** comes from the `cyw43-firmware` crate (its licence
//! allows use with Raspberry Pi devices), never downloaded at build time.
#![no_std]
#![no_main]
// The web task's future nests every route of the firmware's router.
#![recursion_limit = "256"]

use cyw43_pio::{PioSpi, RM2_CLOCK_DIVIDER};
use embassy_executor::Spawner;
use embassy_net::{Runner, Stack, StackResources};
use embassy_rp::flash::{Async, Flash};
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, DMA_CH1, FLASH, PIO0, TRNG};
use embassy_rp::pio::{self, Pio};
use embassy_rp::trng::{self, Trng};
use embassy_rp::{bind_interrupts, dma};
use embassy_time::Duration;
use firmware::{AppSessions, WORKERS};
use panic_halt as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sesh::rng::Rng09;
use sesh::signing::KeyRing;
use sesh_embassy::flash::{FlashSnapshots, run_persistence};
use static_cell::{ConstStaticCell, StaticCell};

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>, dma::InterruptHandler<DMA_CH1>;
    TRNG_IRQ => trng::InterruptHandler<TRNG>;
});

/// The Pico 2 W's flash: 4 MiB.
const FLASH_SIZE: usize = 4 * 1024 * 1024;
type Storage = Flash<'static, FLASH, Async, FLASH_SIZE>;
type Radio = cyw43::Runner<'static, cyw43::SpiBus<Output<'static>, PioSpi<'static, PIO0, 0>>>;

/// Offsets from the start of flash; see `memory.x`.
const KEY_OFFSET: u32 = 0x3F_0000;
const SNAPSHOTS: core::ops::Range<u32> = 0x3F_1000..0x40_0000;
const SNAPSHOT_BUF: usize = firmware::SNAPSHOT_BUF;
/// The snapshot plus sequential-storage's item header.
const SCRATCH_BUF: usize = SNAPSHOT_BUF + 128;
/// A burst of requests within this window costs one flash write.
const COALESCE: Duration = Duration::from_secs(5);
/// Sockets: one per worker, one for DHCP (server or client), one spare.
const SOCKETS: usize = WORKERS + 2;

/// The radio's firmware and country table, copied to 4-byte alignment at
/// compile time (cyw43 wants them aligned; the crate's arrays are not).
static WIFI_FW: cyw43::Aligned<cyw43::A4, [u8; cyw43_firmware::CYW43_43439A0.len()]> =
    cyw43::Aligned(*cyw43_firmware::CYW43_43439A0);
static WIFI_CLM: &[u8] = cyw43_firmware::CYW43_43439A0_CLM;

/// The CYW43439's board settings for the Pico W family (cyw43-firmware has
/// no NVRAM): `wifi_nvram_43439.h` of georgerobotics/cyw43-driver, the same
/// bytes as embassy's `nvram_rp2040.bin`.
static NVRAM: &cyw43::Aligned<cyw43::A4, [u8]> = &cyw43::Aligned(
    *b"NVRAMRev=$Rev$\0manfid=0x2d0\0prodid=0x0727\0vendid=0x14e4\0devid=0x43e2\0\
boardtype=0x0887\0boardrev=0x1100\0boardnum=22\0macaddr=00:A0:50:b5:59:5e\0sromrev=11\0\
boardflags=0x00404001\0boardflags3=0x04000000\0xtalfreq=37400\0nocrc=1\0ag0=255\0aa2g=1\0\
ccode=ALL\0pa0itssit=0x20\0extpagain2g=0\0pa2ga0=-168,6649,-778\0AvVmid_c0=0x0,0xc8\0\
cckpwroffset0=5\0maxp2ga0=84\0txpwrbckof=6\0cckbw202gpo=0\0legofdmbw202gpo=0x66111111\0\
mcsbw202gpo=0x77711111\0propbw202gpo=0xdd\0ofdmdigfilttype=18\0ofdmdigfilttypebe=18\0\
papdmode=1\0papdvalidtest=1\0pacalidx2g=45\0papdepsoffset=-30\0papdendidx=58\0ltecxmux=0\0\
ltecxpadnum=0x0102\0ltecxfnsel=0x44\0ltecxgcigpio=0x01\0il0macaddr=00:90:4c:c5:12:38\0\
wl0id=0x431b\0deadman_to=0xffffffff\0muxenab=0x100\0spurconfig=0x3\0glitch_based_crsmin=1\0\
btc_mode=1\0\0\0",
);

/// Stops here for good: the board cannot serve safely (no randomness, no
/// key, no radio). The watchdog or a person resets it.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[embassy_executor::task]
async fn radio_task(runner: Radio) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

#[cfg(not(feature = "station"))]
#[embassy_executor::task]
async fn dhcp_task(stack: Stack<'static>) -> ! {
    wifi_portal::dhcp_server(stack).await
}

/// Station mode: joins the network, and again whenever the link drops.
#[cfg(feature = "station")]
#[embassy_executor::task]
async fn join_task(mut control: cyw43::Control<'static>, stack: Stack<'static>) -> ! {
    const { assert!(!wifi_portal::WIFI_SSID.is_empty(), "set SESH_WIFI_SSID") };
    let options = cyw43::JoinOptions::new(wifi_portal::WIFI_PASSWORD.as_bytes());
    loop {
        if !stack.is_link_up() {
            // A failed join is retried on the next round.
            let _ = control.join(wifi_portal::WIFI_SSID, options.clone()).await;
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

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());

    // Randomness first: the session RNG's seed and the network's seed.
    let mut trng = Trng::new(p.TRNG, Irqs, trng::Config::default());
    let Ok(session_rng) = ChaCha20Rng::try_from_rng(&mut Rng09(&mut trng)) else {
        halt()
    };
    let Ok(net_seed) = rand_core::TryRng::try_next_u64(&mut Rng09(&mut trng)) else {
        halt()
    };

    // The key, then the sessions saved before the last reset.
    let mut storage: Storage = Flash::new(p.FLASH, p.DMA_CH1, Irqs);
    let Some(key) =
        wifi_portal::provision_key(&mut storage, KEY_OFFSET, &mut Rng09(&mut trng)).await
    else {
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
    // A damaged or missing snapshot leaves the table empty.
    let _restored = snapshots.restore(sessions, scratch).await;
    spawner.spawn(persistence_task(sessions, snapshots, scratch).unwrap_or_else(|_| halt()));
    spawner.spawn(sweeper_task(sessions).unwrap_or_else(|_| halt()));

    // The CYW43439 on PIO0: power GPIO23, chip select GPIO25, data GPIO24,
    // clock GPIO29 (the Pico 2 W's wiring).
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        RM2_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        dma::Channel::new(p.DMA_CH0, Irqs),
    );
    static RADIO: StaticCell<cyw43::State> = StaticCell::new();
    let (device, mut control, runner) =
        cyw43::new(RADIO.init(cyw43::State::new()), pwr, spi, &WIFI_FW, NVRAM).await;
    spawner.spawn(radio_task(runner).unwrap_or_else(|_| halt()));
    control.init(WIFI_CLM).await;

    #[cfg(not(feature = "station"))]
    let config = {
        control
            .start_ap_wpa2(
                wifi_portal::AP_SSID,
                wifi_portal::AP_PASSWORD,
                wifi_portal::AP_CHANNEL,
            )
            .await;
        wifi_portal::ap_config()
    };
    #[cfg(feature = "station")]
    let config = embassy_net::Config::dhcpv4(Default::default());

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        net_seed,
    );
    spawner.spawn(net_task(runner).unwrap_or_else(|_| halt()));
    #[cfg(not(feature = "station"))]
    spawner.spawn(dhcp_task(stack).unwrap_or_else(|_| halt()));
    #[cfg(feature = "station")]
    spawner.spawn(join_task(control, stack).unwrap_or_else(|_| halt()));
    // The provisioned account replaces the demo one before anyone can log in.
    firmware::LOGIN.provision(wifi_portal::ADMIN);
    for id in 0..WORKERS {
        spawner.spawn(web_task(id, stack, sessions).unwrap_or_else(|_| halt()));
    }
}
