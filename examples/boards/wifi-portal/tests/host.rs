//! On the host: the portal's DHCP server against smoltcp's DHCP client (the
//! one embassy-net uses) over an in-memory Ethernet hub, and the key
//! provisioning against a RAM NOR flash. Building needs
//! `SESH_ADMIN_PASSWORD_HASH` set, as every image does (scripts/test.sh sets it).
// Test code: a panic is a failed test, and the numbers are small constants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use embassy_futures::select::{Either, select};
use embassy_net::driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_net::{Runner, Stack, StackResources};
use embassy_time::{Duration, with_timeout};
use embedded_storage_async::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

// ---------------------------------------------------------------- DHCP --

/// Frames waiting for one port of the hub, and its reader's waker.
type Inbox = (VecDeque<Vec<u8>>, Option<Waker>);

/// The hub: one inbox per port.
#[derive(Default)]
struct Hub(Mutex<Vec<Inbox>>);

/// One port of an Ethernet hub: a frame sent on it reaches every other port.
struct Port {
    hub: Arc<Hub>,
    index: usize,
    mac: [u8; 6],
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a Port);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let out = f(&mut frame);
        let mut ports = self.0.hub.0.lock().unwrap();
        for (index, (queue, waker)) in ports.iter_mut().enumerate() {
            if index != self.0.index {
                queue.push_back(frame.clone());
                if let Some(waker) = waker.take() {
                    waker.wake();
                }
            }
        }
        out
    }
}

impl Driver for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let mut ports = self.hub.0.lock().unwrap();
        let (queue, waker) = &mut ports[self.index];
        match queue.pop_front() {
            Some(frame) => Some((Rx(frame), Tx(self))),
            None => {
                *waker = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(self))
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = 1514;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

fn stack(
    hub: &Arc<Hub>,
    index: usize,
    config: embassy_net::Config,
) -> (Stack<'static>, Runner<'static, Port>) {
    hub.0.lock().unwrap().push(Default::default());
    let port = Port {
        hub: hub.clone(),
        index,
        mac: [0x02, 0, 0, 0, 0, u8::try_from(index).unwrap() + 1],
    };
    let resources = Box::leak(Box::new(StackResources::<4>::new()));
    embassy_net::new(port, config, resources, 0x5e5e_0000 + index as u64)
}

#[test]
fn access_point_clients_get_addresses_by_dhcp() {
    let hub = Arc::new(Hub::default());
    let (ap, mut ap_runner) = stack(&hub, 0, wifi_portal::ap_config());
    let (phone, mut phone_runner) = stack(&hub, 1, embassy_net::Config::dhcpv4(Default::default()));
    let (laptop, mut laptop_runner) =
        stack(&hub, 2, embassy_net::Config::dhcpv4(Default::default()));
    let network = async {
        embassy_futures::join::join4(
            ap_runner.run(),
            phone_runner.run(),
            laptop_runner.run(),
            wifi_portal::dhcp_server(ap),
        )
        .await
    };
    let clients = async {
        with_timeout(Duration::from_secs(30), async {
            embassy_futures::join::join(phone.wait_config_up(), laptop.wait_config_up()).await;
        })
        .await
        .expect("both clients configured within 30 s");
        (phone.config_v4().unwrap(), laptop.config_v4().unwrap())
    };
    let (phone, laptop) = futures_executor::block_on(async {
        match select(clients, network).await {
            Either::First(configs) => configs,
            Either::Second(_) => unreachable!("the stacks run forever"),
        }
    });
    for config in [&phone, &laptop] {
        let address = config.address.address();
        assert_eq!(config.address.prefix_len(), 24);
        assert_eq!(&address.octets()[..3], &[192, 168, 4]);
        assert!((50..=200).contains(&address.octets()[3]), "{address}");
        assert_eq!(config.gateway, Some(wifi_portal::AP_ADDRESS));
    }
    assert_ne!(phone.address.address(), laptop.address.address());
    assert_ne!(phone.address.address(), Ipv4Addr::UNSPECIFIED);
}

// ----------------------------------------------------------------- key --

const SECTOR: usize = 4096;

/// A NOR flash in RAM: an erase sets 0xFF, a write only clears bits.
struct RamFlash {
    bytes: Vec<u8>,
    erases: usize,
    fail: bool,
}

impl RamFlash {
    fn new(fill: u8) -> Self {
        RamFlash {
            bytes: vec![fill; 2 * SECTOR],
            erases: 0,
            fail: false,
        }
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.fail {
            return Err(NorFlashErrorKind::Other);
        }
        let start = offset as usize;
        bytes.copy_from_slice(&self.bytes[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        assert_eq!(from as usize % SECTOR, 0);
        assert_eq!(to as usize % SECTOR, 0);
        self.bytes[from as usize..to as usize].fill(0xFF);
        self.erases += 1;
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        assert_eq!(offset as usize % Self::WRITE_SIZE, 0);
        assert_eq!(bytes.len() % Self::WRITE_SIZE, 0);
        for (cell, byte) in self.bytes[offset as usize..].iter_mut().zip(bytes) {
            *cell &= byte;
        }
        Ok(())
    }
}

/// A TRNG stuck at one value.
struct Stuck(u8);

impl TryRng for Stuck {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_ne_bytes([self.0; 4]))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from_ne_bytes([self.0; 8]))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(self.0);
        Ok(())
    }
}

impl TryCryptoRng for Stuck {}

fn provision(flash: &mut RamFlash, rng: &mut impl TryCryptoRng) -> bool {
    futures_executor::block_on(wifi_portal::provision_key(flash, SECTOR as u32, rng)).is_some()
}

#[test]
fn first_boot_makes_the_key_and_later_boots_keep_it() {
    let mut flash = RamFlash::new(0xFF);
    assert!(provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(1)));
    let record = flash.bytes[SECTOR..SECTOR + 40].to_vec();
    assert_eq!(&record[32..], b"sesh-k01");
    assert!(record[..32].iter().any(|b| *b != 0xFF));
    assert!(
        flash.bytes[..SECTOR].iter().all(|b| *b == 0xFF),
        "only its own sector"
    );
    // A later boot reads the same key and writes nothing, whatever the RNG.
    let erases = flash.erases;
    assert!(provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(2)));
    assert!(provision(&mut flash, &mut Stuck(0)));
    assert_eq!(flash.bytes[SECTOR..SECTOR + 40], record[..]);
    assert_eq!(flash.erases, erases);
}

#[test]
fn leftover_bytes_never_become_the_key() {
    // Another program's data (all zeros here, a file system in life).
    let mut flash = RamFlash::new(0x00);
    assert!(provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(3)));
    assert_eq!(flash.erases, 1);
    assert_eq!(&flash.bytes[SECTOR + 32..SECTOR + 40], b"sesh-k01");
    assert!(flash.bytes[SECTOR..SECTOR + 32].iter().any(|b| *b != 0));
    // A record cut short by a power loss (key written, no marker) is redone.
    let mut flash = RamFlash::new(0xFF);
    flash.bytes[SECTOR..SECTOR + 32].fill(0x5A);
    assert!(provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(4)));
    assert_ne!(flash.bytes[SECTOR..SECTOR + 32], [0x5A; 32]);
    assert_eq!(&flash.bytes[SECTOR + 32..SECTOR + 40], b"sesh-k01");
}

#[test]
fn a_stuck_trng_or_a_failing_flash_gives_no_key() {
    for value in [0x00, 0xFF] {
        let mut flash = RamFlash::new(0xFF);
        assert!(!provision(&mut flash, &mut Stuck(value)));
        // Nothing was written: a later boot with a working TRNG starts over.
        assert!(flash.bytes[SECTOR..SECTOR + 40].iter().all(|b| *b == 0xFF));
        assert!(provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(5)));
    }
    let mut flash = RamFlash::new(0xFF);
    flash.fail = true;
    assert!(!provision(&mut flash, &mut ChaCha20Rng::seed_from_u64(6)));
}
