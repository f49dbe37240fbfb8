//! Network bring-up shared by every image of this board: an embassy-net
//! stack with DHCPv4 on any `embassy_net_driver::Driver`, with sockets for
//! the firmware's workers.
//!
//! ```ignore
//! static RESOURCES: StaticCell<StackResources<{ net::SOCKETS }>> = StaticCell::new();
//! let (stack, runner) = net::new_stack(device, net_seed, RESOURCES.init(StackResources::new()));
//! spawner.spawn(net_task(runner).unwrap_or_else(|_| ..)); // runs the stack
//! let address = net::wait_for_address(stack).await;    // prints `net: up, address ...`
//! ```
//!
//! The runner must be spawned by the image, because an embassy task cannot
//! be generic over the driver.

use embassy_net::{Ipv4Address, Runner, Stack, StackResources};
use embassy_net_driver::Driver;

/// The firmware's sockets: one per [`firmware::WORKERS`] worker, one for
/// DHCP, one for the emulator's stats port, and one spare. Another image
/// (the test probe) sizes its own.
pub const SOCKETS: usize = firmware::WORKERS + 3;

/// A DHCPv4 stack on `device` with the caller's `resources` (their size is
/// how many sockets the image can open), seeded with `seed` (random, from
/// the boot entropy: smoltcp derives TCP sequence numbers and DHCP ids from
/// it). Spawn the returned runner in a task that calls `runner.run().await`.
pub fn new_stack<D: Driver, const N: usize>(
    device: D,
    seed: u64,
    resources: &'static mut StackResources<N>,
) -> (Stack<'static>, Runner<'static, D>) {
    embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        resources,
        seed,
    )
}

/// Waits until DHCP has configured `stack`, prints `net: up, address
/// A.B.C.D` and returns the address.
pub async fn wait_for_address(stack: Stack<'_>) -> Ipv4Address {
    loop {
        stack.wait_config_up().await;
        if let Some(config) = stack.config_v4() {
            let address = config.address.address();
            crate::println!("net: up, address {}", address);
            return address;
        }
    }
}
