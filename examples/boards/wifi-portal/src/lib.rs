//! What the Wi-Fi boards (`esp32c3`, `pico2w`) share and the NUCLEO board
//! does not need: the setup portal's access point (name, password, address),
//! a DHCP server for its clients, the station option's network, the admin
//! account and the signing key made at first boot.
//!
//! Every Wi-Fi setting is a build-time environment variable. The defaults
//! are public, so **change them before a device leaves the bench**:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `SESH_AP_SSID` | `sesh-setup` | the access point's name |
//! | `SESH_AP_PASSWORD` | `change-me-before-shipping` | WPA2, 8 to 63 characters |
//! | `SESH_WIFI_SSID` | (none) | station mode: the network to join |
//! | `SESH_WIFI_PASSWORD` | (none) | station mode: its WPA2 password |
//! | `SESH_ADMIN_PASSWORD_HASH` | (required) | the admin's PBKDF2 hash |
#![no_std]

use core::net::Ipv4Addr;

use edge_dhcp::server::{Server, ServerOptions};
use edge_dhcp::{Options, Packet};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{IpEndpoint, Ipv4Cidr, Stack, StaticConfigV4};
use embassy_time::{Duration, Instant, Timer};
use embedded_storage_async::nor_flash::NorFlash;
use rand_core::TryCryptoRng;
use sesh::signing::Key;

/// Reads a build-time variable, or `default` when it is unset.
macro_rules! env_or {
    ($name:literal, $default:expr) => {
        match option_env!($name) {
            Some(value) => value,
            None => $default,
        }
    };
}

/// The access point's name (`SESH_AP_SSID`). ⚠️ Change it before shipping.
pub const AP_SSID: &str = env_or!("SESH_AP_SSID", "sesh-setup");
/// The access point's WPA2 password (`SESH_AP_PASSWORD`). ⚠️ The default is
/// public: give each product its own.
pub const AP_PASSWORD: &str = env_or!("SESH_AP_PASSWORD", "change-me-before-shipping");
/// Station mode: the network to join (`SESH_WIFI_SSID`); empty if unset.
pub const WIFI_SSID: &str = env_or!("SESH_WIFI_SSID", "");
/// Station mode: its WPA2 password (`SESH_WIFI_PASSWORD`); empty if unset.
pub const WIFI_PASSWORD: &str = env_or!("SESH_WIFI_PASSWORD", "");
/// The Wi-Fi channel of the access point.
pub const AP_CHANNEL: u8 = 6;

// WPA2 takes a passphrase of 8 to 63 characters and a name of at most 32.
const _: () = assert!(AP_PASSWORD.len() >= 8 && AP_PASSWORD.len() <= 63);
const _: () = assert!(!AP_SSID.is_empty() && AP_SSID.len() <= 32);

/// The board's address on its own access point: the login UI is at
/// `http://192.168.4.1/`.
pub const AP_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 1);

/// The network configuration of the access point's interface.
pub fn ap_config() -> embassy_net::Config {
    embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(AP_ADDRESS, 24),
        gateway: None,
        dns_servers: heapless::Vec::new(),
    })
}

/// The admin account, from the required build-time `SESH_ADMIN_PASSWORD_HASH`
/// (see the NUCLEO board's README): no default password exists.
#[allow(clippy::panic)] // evaluated at compile time: a bad value fails the build
pub const ADMIN: firmware::Credentials =
    match firmware::Credentials::from_phc("admin", env!("SESH_ADMIN_PASSWORD_HASH")) {
        Ok(credentials) => credentials,
        Err(e) => panic!("{}", e.as_str()),
    };

/// Clients on the access point at the same time (leases held).
const LEASES: usize = 8;
/// A DHCP message fits in a few hundred bytes; 576 is the minimum a client
/// must accept.
const DHCP_BUF: usize = 1024;
const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// Hands out 192.168.4.50 to .200 to the access point's clients, forever.
/// Malformed requests are skipped; a socket error waits a moment and
/// carries on, so one bad packet never stops the portal.
pub async fn dhcp_server(stack: Stack<'static>) -> ! {
    let mut rx_meta = [PacketMetadata::EMPTY; 4];
    let mut tx_meta = [PacketMetadata::EMPTY; 4];
    let mut rx_buf = [0u8; DHCP_BUF];
    let mut tx_buf = [0u8; DHCP_BUF];
    let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
    while socket.bind(SERVER_PORT).is_err() {
        Timer::after(Duration::from_secs(1)).await;
    }
    let mut server = Server::<_, LEASES>::new(|| Instant::now().as_secs(), AP_ADDRESS);
    let mut gateway = [AP_ADDRESS];
    let options = ServerOptions::new(AP_ADDRESS, Some(&mut gateway));
    let mut request_buf = [0u8; DHCP_BUF];
    let mut reply_buf = [0u8; DHCP_BUF];
    loop {
        let Ok((len, _)) = socket.recv_from(&mut request_buf).await else {
            Timer::after(Duration::from_millis(100)).await;
            continue;
        };
        let Some(bytes) = request_buf.get(..len) else {
            continue;
        };
        let Ok(request) = Packet::decode(bytes) else {
            continue;
        };
        // No relay agents on the board's own access point.
        if !request.giaddr.is_unspecified() {
            continue;
        }
        let mut opt_buf = Options::buf();
        let Some(reply) = server.handle_request(&mut opt_buf, &options, &request) else {
            continue;
        };
        // RFC 2131 4.1: a client without an address yet gets a broadcast.
        let to = if !request.ciaddr.is_unspecified() && !request.broadcast {
            request.ciaddr
        } else {
            Ipv4Addr::BROADCAST
        };
        if let Ok(out) = reply.encode(&mut reply_buf) {
            // A lost reply is retried by the client.
            let _ = socket
                .send_to(out, IpEndpoint::new(to.into(), CLIENT_PORT))
                .await;
        }
    }
}

/// The signing key's length.
const KEY_LEN: usize = 32;
/// Marks a key this firmware wrote. It follows the key, so a write cut
/// short by a power loss leaves no marker and the next boot starts over.
const MARKER: [u8; 8] = *b"sesh-k01";
const RECORD_LEN: usize = KEY_LEN + MARKER.len();

/// The signing key kept in the erase sector at `offset`. At first boot
/// (sector erased), or when the sector holds bytes another program left
/// there, the sector is erased and 32 fresh bytes from `trng` are written
/// with a marker and read back: leftover data never becomes the key.
/// `None` if the flash or the TRNG fails: the board then stops rather
/// than sign with a weak key.
pub async fn provision_key<F: NorFlash, R: TryCryptoRng>(
    flash: &mut F,
    offset: u32,
    trng: &mut R,
) -> Option<Key> {
    let mut stored = [0u8; RECORD_LEN];
    flash.read(offset, &mut stored).await.ok()?;
    if stored.get(KEY_LEN..) != Some(&MARKER[..]) {
        let sector_end = offset.checked_add(u32::try_from(F::ERASE_SIZE).ok()?)?;
        flash.erase(offset, sector_end).await.ok()?;
        let mut fresh = [0u8; RECORD_LEN];
        let (key, marker) = fresh.split_at_mut(KEY_LEN);
        trng.try_fill_bytes(key).ok()?;
        // A TRNG stuck at all zeros or all ones gives no key: nothing is
        // written, so a later boot with a working TRNG starts over.
        if !usable(key) {
            return None;
        }
        marker.copy_from_slice(&MARKER);
        flash.write(offset, &fresh).await.ok()?;
        flash.read(offset, &mut stored).await.ok()?;
        if stored != fresh {
            return None;
        }
    }
    let key = stored.get(..KEY_LEN)?;
    if !usable(key) {
        return None;
    }
    Key::new(key).ok()
}

/// Not all zeros and not all ones.
fn usable(key: &[u8]) -> bool {
    !key.iter().all(|b| *b == 0) && !key.iter().all(|b| *b == 0xFF)
}
