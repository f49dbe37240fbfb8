//! The probe app for sesh-embassy as a real microcontroller image in QEMU:
//! the [`TestServer`] that runs the HTTP suite against `tests/qemu-probe`.
//!
//! The image (`tests/qemu-probe`, built for thumbv7em-none-eabihf on the
//! `mps2-an386` board crate) serves [`crate::embassy_app`], the code the
//! host suite serves on an in-process stack, through the board's LAN9118
//! driver, embassy-net with DHCP from QEMU's user network, the board's
//! embassy-time driver and its semihosting-backed flash. The suite's client
//! reaches it on a loopback port that QEMU forwards to the guest's port 80.
//!
//! The image reads its settings from its semihosting command line:
//! `--spec HEX` ([`ServerSpec::to_hex`]), `--flash FILE` and `--clock
//! manual|real`. A second guest port, [`CONTROL_PORT`], answers the harness:
//! `GET /stored` (sessions in the table), `POST /advance/MS` (moves the
//! manual clock) and `POST /shutdown` (writes the table's snapshot to flash,
//! then ends QEMU with status 0).
//!
//! [`TestServer::restart`] is a real reboot: the image saves its snapshot and
//! exits, and a new QEMU boots the image with the new spec over the same
//! flash file, restoring the table from it. The sessions' clock is a manual
//! one that [`TestServer::advance_clock`] moves through the control port, so
//! the paused-clock cases run ([`QemuServer::start_on_the_real_clock`]: the
//! emulator's clock, the host's real time); there is no store that could
//! fail. The harness's own waits sleep in real time (`real_sleep`): the
//! paused-clock cases run on a paused tokio clock, which a tokio sleep would
//! skip.

use std::format;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::client::Request;
use super::qemu::{BOOT_TIMEOUT, QemuMachine, free_port, image};
use super::{ServerError, ServerSpec, TestServer};

/// The guest port of the probe app.
pub const HTTP_PORT: u16 = 80;
/// The guest port of the harness's control routes.
pub const CONTROL_PORT: u16 = 81;
/// Connections QEMU's forwarded ports queue before slirp accepts them: more
/// than the suite's most concurrent case opens (100), so that its connects
/// never wait for slirp. (A backlog of 16 was tried too: under the same load
/// its clients still lost SYNs, and it was no faster.)
const LISTEN_BACKLOG: i32 = 256;
/// How long the image may take to save its snapshot and exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`TestServer::accepted`] waits: slirp sends a lost SYN again
/// after 6-7 s, and a second loss doubles that.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The probe image's ELF, built on first use.
pub fn probe_image() -> PathBuf {
    image("tests/qemu-probe", "qemu-probe")
}

/// A probe image running in QEMU, with its flash file in a directory of its
/// own (removed on drop).
pub struct QemuServer {
    machine: Option<QemuMachine>,
    dir: PathBuf,
    /// `--clock manual`: [`TestServer::advance_clock`] moves the image's clock.
    manual_clock: bool,
}

impl QemuServer {
    /// Boots the probe image with `spec` over a new, erased flash file and
    /// waits until it answers on both ports.
    pub async fn start(spec: ServerSpec) -> Result<QemuServer, ServerError> {
        Self::start_with(spec, true).await
    }

    /// [`start`](Self::start) with the emulator's real clock as the
    /// sessions' clock: [`TestServer::advance_clock`] then waits.
    pub async fn start_on_the_real_clock(spec: ServerSpec) -> Result<QemuServer, ServerError> {
        Self::start_with(spec, false).await
    }

    async fn start_with(spec: ServerSpec, manual_clock: bool) -> Result<QemuServer, ServerError> {
        // A directory no other case of any run shares: the image restores
        // whatever flash.bin it finds, so a shared one (two cases drawing the
        // same free port for its name, or a stale one from an earlier process
        // with the same pid) leaked one case's sessions into another.
        static CASES: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sesh-qemu-probe-{}-{}",
            std::process::id(),
            CASES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        let mut server = QemuServer {
            machine: None,
            dir,
            manual_clock,
        };
        server.boot(&spec).await?;
        Ok(server)
    }

    /// The running machine (for its output).
    pub fn machine(&self) -> Option<&QemuMachine> {
        self.machine.as_ref()
    }

    async fn boot(&mut self, spec: &ServerSpec) -> Result<(), ServerError> {
        let elf = probe_image();
        let hex = spec.to_hex();
        let clock = if self.manual_clock { "manual" } else { "real" };
        let args = [
            "--spec",
            hex.as_str(),
            "--flash",
            "flash.bin",
            "--clock",
            clock,
        ];
        let forwards = [(HTTP_PORT, free_port()), (CONTROL_PORT, free_port())];
        let machine = QemuMachine::start(&elf, &self.dir, &args, &forwards);
        if machine
            .wait_for_line("probe: serving", BOOT_TIMEOUT)
            .is_none()
        {
            return Err(format!(
                "the probe image did not come up; its output:\n{}",
                machine.output_text()
            )
            .into());
        }
        // Slirp's backlog of 1 turns a burst of connects into seconds of SYN
        // retransmissions on a busy host (see widen_listen_backlogs).
        match machine.widen_listen_backlogs(LISTEN_BACKLOG) {
            Ok(n) if n == forwards.len() => {}
            Ok(n) => std::eprintln!(
                "qemu-probe: widened the backlog of {n} of {} forwarded ports",
                forwards.len()
            ),
            Err(e) => std::eprintln!("qemu-probe: the forwarded ports keep slirp's backlog: {e}"),
        }
        let control = machine.addr(CONTROL_PORT);
        self.machine = Some(machine);
        // QEMU accepts on the host port before the guest listens: ask until
        // the guest itself answers.
        for _ in 0..200 {
            if Request::get("/stored")
                .send(control)
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return Ok(());
            }
            real_sleep(Duration::from_millis(25)).await;
        }
        Err("the probe image does not answer on its control port".into())
    }

    fn running(&self) -> Result<&QemuMachine, ServerError> {
        self.machine
            .as_ref()
            .ok_or_else(|| "the probe image is not running".into())
    }
}

/// Waits `by` of real time, also on a paused tokio clock (which would end a
/// `tokio::time::sleep` at once, and so cut the harness's retries short).
async fn real_sleep(by: Duration) {
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(by)).await;
}

/// Sends `request` to the control port, again after a connection that
/// ends before its answer: the port has one listener, and while it closes the
/// previous connection (a FIN crossing the client's can take smoltcp a
/// second) a new one is refused, which QEMU's user network reports as a reset.
async fn control_request(
    request: Request,
    control: SocketAddr,
) -> Result<super::client::Response, ServerError> {
    let mut tries = 0;
    loop {
        match request.send(control).await {
            Ok(response) => return Ok(response),
            Err(_) if tries < 40 => {
                tries += 1;
                real_sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl TestServer for QemuServer {
    fn addr(&self) -> SocketAddr {
        self.machine
            .as_ref()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |m| m.addr(HTTP_PORT))
    }

    async fn stored_sessions(&self) -> Result<usize, ServerError> {
        let control = self.running()?.addr(CONTROL_PORT);
        let response = control_request(Request::get("/stored"), control).await?;
        if response.status != 200 {
            return Err(format!("/stored answered {}", response.status).into());
        }
        Ok(response.text().trim().parse()?)
    }

    /// Asks the image (`/waiting`) until `n` connections wait for their
    /// request. Sending before then races libslirp: when the image's SYN-ACK
    /// is sent again (the NIC dropped slirp's ACK in a burst), slirp takes
    /// its MSS option anew and `tcp_mss` re-reserves the socket's send
    /// buffer, which empties it. A request slirp had already sent (and the
    /// NIC dropped too) is then never sent again: the connection hangs.
    async fn accepted(&self, n: usize) -> Result<(), ServerError> {
        let control = self.running()?.addr(CONTROL_PORT);
        let deadline = std::time::Instant::now() + ACCEPT_TIMEOUT;
        loop {
            let response = control_request(Request::get("/waiting"), control).await?;
            if response.status != 200 {
                return Err(format!("/waiting answered {}", response.status).into());
            }
            let waiting: usize = response.text().trim().parse()?;
            if waiting >= n {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(
                    format!("{waiting} connections accepted after {ACCEPT_TIMEOUT:?}").into(),
                );
            }
            real_sleep(Duration::from_millis(20)).await;
        }
    }

    fn fail_store_call(&self, _nth: usize) {
        // No store, as for set_store_failing.
    }

    fn set_store_failing(&self, _failing: bool) {
        // sesh-embassy has no store: the cases that need one are left out.
    }

    async fn advance_clock(&self, by: core::time::Duration) {
        if !self.manual_clock {
            // The emulator's clock is the host's real time.
            real_sleep(by).await;
            return;
        }
        let moved = match self.running() {
            Ok(machine) => {
                let path = format!("/advance/{}", by.as_millis());
                control_request(Request::post(&path), machine.addr(CONTROL_PORT)).await
            }
            Err(e) => Err(e),
        };
        // A clock that did not move fails the case's next assertion; say why.
        match moved {
            Ok(response) if response.status == 200 => {}
            Ok(response) => std::eprintln!("advance_clock: /advance answered {}", response.status),
            Err(e) => std::eprintln!("advance_clock: {e}"),
        }
    }

    async fn restart(&mut self, spec: ServerSpec) -> Result<(), ServerError> {
        let control = self.running()?.addr(CONTROL_PORT);
        // The answer may be lost when QEMU ends first: the exit status says.
        let sent = control_request(Request::post("/shutdown"), control).await;
        let mut machine = self.machine.take().ok_or("not running")?;
        match machine.wait_exit(SHUTDOWN_TIMEOUT) {
            Some(status) if status.success() => {}
            other => {
                return Err(format!(
                    "the probe image did not shut down cleanly ({other:?}, /shutdown: {:?}); output:\n{}",
                    sent.map(|r| r.status),
                    machine.output_text()
                )
                .into());
            }
        }
        drop(machine);
        self.boot(&spec).await
    }

    async fn stop(mut self) {
        if let Some(mut machine) = self.machine.take() {
            machine.kill();
        }
    }
}

impl Drop for QemuServer {
    fn drop(&mut self) {
        drop(self.machine.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
