//! Host-only test support (std, unpublished): two embassy-net TCP/IP stacks
//! on an in-memory link, to serve a picoserve app and talk to it in one
//! process, with no network device and no OS socket. Used by sesh-tests
//! (feature `embassy`: the HTTP suite's embassy backend and its
//! `embassy_client`, which the firmware example's tests use).
//!
//! [`link`] joins two [`Port`]s, each an `embassy_net::driver::Driver` of
//! medium IP (no Ethernet, no ARP) whose packets go into the other port's
//! queue. [`LinkedStacks::new`] builds a server stack at [`SERVER`] and a
//! client stack at [`CLIENT`] on such a link; the caller runs both runners.
//!
//! ```no_run
//! use sesh_host_net::{LinkedStacks, SERVER};
//!
//! let stacks = LinkedStacks::new::<8>();
//! // Run `stacks.server_runner.run()` and `stacks.client_runner.run()`
//! // beside the app on `stacks.server` and a client on `stacks.client` that
//! // connects to `SERVER`, for example joined under one `block_on`.
//! # let _ = (stacks.server, stacks.client, SERVER);
//! ```

use core::task::{Context, Waker};
use std::boxed::Box;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec;
use std::vec::Vec;

use embassy_net::driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Runner, Stack, StackResources, StaticConfigV4};

/// The server stack's address.
pub const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
/// The client stack's address.
pub const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
/// The link's IP MTU.
pub const MTU: usize = 1500;

/// Packets queued towards one port, and the waker of the stack reading them.
#[derive(Default)]
struct Queue {
    packets: VecDeque<Vec<u8>>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Wire {
    /// Index 0 holds what port 0 receives, index 1 what port 1 receives.
    queues: [Mutex<Queue>; 2],
}

impl Wire {
    fn queue(&self, port: usize) -> MutexGuard<'_, Queue> {
        let queue = if port == 0 {
            &self.queues[0]
        } else {
            &self.queues[1]
        };
        // A test that panicked while holding the lock leaves plain data.
        queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One end of an in-memory IP link; an embassy-net driver.
pub struct Port {
    wire: Arc<Wire>,
    side: usize,
}

/// Two ports joined back to back: what one transmits, the other receives.
pub fn link() -> (Port, Port) {
    let wire = Arc::new(Wire::default());
    (
        Port {
            wire: wire.clone(),
            side: 0,
        },
        Port { wire, side: 1 },
    )
}

/// A received packet.
pub struct Rx(Vec<u8>);

/// Room to send one packet to the other port.
pub struct Tx<'a> {
    wire: &'a Wire,
    to: usize,
}

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0; len];
        let out = f(&mut packet);
        let mut queue = self.wire.queue(self.to);
        queue.packets.push_back(packet);
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
        out
    }
}

impl Port {
    fn other_side(&self) -> usize {
        1_usize.saturating_sub(self.side)
    }
}

impl Driver for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let mut queue = self.wire.queue(self.side);
        match queue.packets.pop_front() {
            Some(packet) => Some((
                Rx(packet),
                Tx {
                    wire: &self.wire,
                    to: self.other_side(),
                },
            )),
            None => {
                queue.waker = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx {
            wire: &self.wire,
            to: self.other_side(),
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ip
    }
}

/// A static IPv4 configuration on the link's /24.
pub fn ip_config(address: Ipv4Address) -> Config {
    Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, 24),
        gateway: None,
        dns_servers: Default::default(),
    })
}

/// A server stack at [`SERVER`] and a client stack at [`CLIENT`] on one
/// in-memory link. Nothing moves until both runners run.
pub struct LinkedStacks {
    /// The stack at [`SERVER`].
    pub server: Stack<'static>,
    /// The stack at [`CLIENT`].
    pub client: Stack<'static>,
    /// Drives the server stack.
    pub server_runner: Runner<'static, Port>,
    /// Drives the client stack.
    pub client_runner: Runner<'static, Port>,
}

impl LinkedStacks {
    /// Builds both stacks with `SOCKETS` sockets each. Their socket tables
    /// are leaked (a few KiB per call), which gives `'static` stacks that
    /// worker futures can hold.
    pub fn new<const SOCKETS: usize>() -> LinkedStacks {
        let (a, b) = link();
        let (server, server_runner) = embassy_net::new(
            a,
            ip_config(SERVER),
            Box::leak(Box::new(StackResources::<SOCKETS>::new())),
            0x5e5e_0001,
        );
        let (client, client_runner) = embassy_net::new(
            b,
            ip_config(CLIENT),
            Box::leak(Box::new(StackResources::<SOCKETS>::new())),
            0x5e5e_0002,
        );
        LinkedStacks {
            server,
            client,
            server_runner,
            client_runner,
        }
    }
}
