//! The board's one LAN9118 (0x4020_0000, IRQ 13): the state its driver
//! shares with the interrupt handler, and the network bring-up.
//!
//! ```ignore
//! static RESOURCES: StaticCell<StackResources<{ net::SOCKETS }>> = StaticCell::new();
//! let resources = RESOURCES.init(StackResources::new());
//! let stack = ethernet::spawn_network(spawner, net_seed, resources)?; // device, DHCP, runner task
//! net::wait_for_address(stack).await;                     // `net: up, address 10.0.2.15`
//! ```
#![allow(unsafe_code)]

use core::fmt;

use embassy_executor::{SpawnError, Spawner};
use embassy_net::{Runner, Stack, StackResources};

use crate::lan9118::{self, Config, Lan9118, MPS2_AN386_BASE, MmioRegisters, State};
use crate::net;

/// The network device of this board.
pub type Device = Lan9118<MmioRegisters>;

/// What the driver and the IRQ 13 handler share.
pub static LAN9118: State<MmioRegisters> =
    // SAFETY: QEMU's MPS2 AN386 maps a LAN9118 at MPS2_AN386_BASE, and only
    // this state (its driver and `on_interrupt`) accesses it.
    State::new(unsafe { MmioRegisters::new(MPS2_AN386_BASE) });

/// IRQ 13, from [`crate::interrupts`].
pub(crate) fn on_interrupt() {
    LAN9118.on_interrupt();
}

/// Why the network did not start.
#[derive(Debug)]
pub enum NetworkError {
    /// The LAN9118 did not come up.
    Device(lan9118::Error),
    /// The runner task could not be spawned.
    Spawn(SpawnError),
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Device(e) => write!(f, "{e}"),
            NetworkError::Spawn(e) => write!(f, "cannot spawn the network task: {e}"),
        }
    }
}

/// Resets and configures the LAN9118 (keeping the MAC address QEMU gives
/// it, 52:54:00:12:34:56 unless `-nic ...,mac=` says otherwise), then
/// unmasks its interrupt.
pub fn device() -> Result<Device, lan9118::Error> {
    let device = Lan9118::new(&LAN9118, Config::default())?;
    lan9118::unmask_interrupt();
    Ok(device)
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Brings the device up, starts an embassy-net stack with DHCPv4 on it
/// ([`net::new_stack`]) and spawns the task that runs it. Call once; then
/// [`net::wait_for_address`].
pub fn spawn_network<const N: usize>(
    spawner: Spawner,
    seed: u64,
    resources: &'static mut StackResources<N>,
) -> Result<Stack<'static>, NetworkError> {
    let device = device().map_err(NetworkError::Device)?;
    let [a, b, c, d, e, f] = device.mac_address();
    crate::println!(
        "net: LAN9118 up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, waiting for DHCP",
        a,
        b,
        c,
        d,
        e,
        f
    );
    let (stack, runner) = net::new_stack(device, seed, resources);
    spawner.spawn(net_task(runner).map_err(NetworkError::Spawn)?);
    Ok(stack)
}
