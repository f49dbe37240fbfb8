//! Firmware images in QEMU for tests: the `mps2-an386` machine (Cortex-M4F)
//! with its LAN9118 Ethernet on QEMU's user network, guest ports forwarded
//! to loopback ports of the host, semihosting for the image's output, its
//! command line and its flash file.
//!
//! [`QemuMachine`] is one running QEMU, killed and reaped on drop (printing
//! what the image wrote when the test is failing). [`image`] builds an image
//! crate once per test process (a no-op when `scripts/test.sh` built it
//! already) and returns the ELF. `SESH_QEMU_PCAP=DIR` makes every machine
//! write its network frames to a pcap file in `DIR`.
// A machine that fails to start fails its #[test] by panicking, with its output.
#![allow(clippy::panic, clippy::expect_used)]

use std::borrow::ToOwned;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::string::String;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;
use std::{eprintln, format};

/// How long an image may take from QEMU's start to the line it waits for
/// (DHCP included).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds the image crate in `crate_dir` (relative to the repository root)
/// in release with `cargo build --locked` (the folder's `.cargo/config.toml`
/// picks the target) and returns the ELF of binary `bin`, once per process
/// and crate. The path is the one cargo reports, so the image is found
/// wherever cargo put it (`CARGO_TARGET_DIR`, `build.target-dir`). Panics
/// with cargo's output when the build fails: a missing image is a failure,
/// never a skipped test.
pub fn image(crate_dir: &str, bin: &str) -> PathBuf {
    // A build forced by a change to the sources is slow, not hung.
    super::hang::uncounted("building the image (cargo build)", || {
        build_image(crate_dir, bin)
    })
}

fn build_image(crate_dir: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(elf) = built.get(crate_dir) {
        return elf.clone();
    }
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "--bin", bin])
        // Artifacts as JSON on stdout, diagnostics rendered on stderr.
        .arg("--message-format=json-render-diagnostics")
        .current_dir(repo_root().join(crate_dir))
        .output()
        .unwrap_or_else(|e| panic!("cargo does not start in {crate_dir}: {e}"));
    assert!(
        output.status.success(),
        "building {crate_dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Only a binary's artifact has a non-null "executable"; --bin builds one.
    let elf = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .find_map(|line| json_string(line, "executable"))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("cargo named no executable for {bin} in {crate_dir}"));
    assert!(elf.is_file(), "no image at {}", elf.display());
    built.insert(crate_dir.into(), elf.clone());
    elf
}

/// The string value of `"key":"…"` in one line of cargo's JSON messages
/// (a flat search: cargo writes no spaces between tokens); `None` when the
/// value is not a string. Decodes JSON's escapes, as a path may need them.
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))?;
    let mut chars = line
        .get(start.checked_add(key.len())?.checked_add(4)?..)?
        .chars();
    let mut value = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => value.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                other => other,
            }),
            c => value.push(c),
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// What the image wrote so far, and whether QEMU has exited.
#[derive(Default)]
struct Output {
    lines: Vec<String>,
    closed: bool,
}

/// One QEMU running an image; killed and reaped on drop.
pub struct QemuMachine {
    /// Shared with the hang report, which kills QEMU when the case hangs.
    child: Arc<Mutex<Child>>,
    output: Arc<(Mutex<Output>, Condvar)>,
    forwards: Vec<(u16, u16)>,
    started: Instant,
    _on_hang: super::hang::Registered,
}

impl QemuMachine {
    /// Starts `elf` with `args` on its semihosting command line (after the
    /// program name) and each `(guest, host)` TCP port pair forwarded from
    /// `127.0.0.1:host`, in `dir` (the image's relative paths are there).
    /// QEMU's stdout and stderr (the image's semihosting output included)
    /// are collected line by line.
    pub fn start(elf: &Path, dir: &Path, args: &[&str], forwards: &[(u16, u16)]) -> QemuMachine {
        let mut semihosting = String::from("enable=on,target=native,arg=firmware");
        for arg in args {
            // QEMU's option syntax: a comma inside a value is written twice.
            semihosting.push_str(",arg=");
            semihosting.push_str(&arg.replace(',', ",,"));
        }
        let mut nic = String::from("user,id=net0,model=lan9118");
        for (guest, host) in forwards {
            nic.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
        }
        let mut child = Command::new("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-nographic", "-monitor", "none"])
            .args(["-semihosting-config", &semihosting])
            .args(["-nic", &nic])
            // The user network (libslirp) runs in QEMU's main loop, asleep in
            // ppoll() on the sockets and timeout slirp gave it; a frame the
            // image sends reaches slirp on the vCPU thread, and nothing wakes
            // the main loop then (QEMU 7.2, libslirp 4.7): a request waits
            // unread in the forwarded socket the guest's SYN-ACK has just
            // connected, up to slirp's 499 ms timer. These redirectors pass
            // the image's frames through a socket pair (`slirp.sock` in
            // `dir`) so that the main loop hands them to slirp itself and
            // polls afresh. `slirp-in` must come first: a netdev's rx filters
            // run last to first. See scripts/qemu-firmware.sh.
            .args([
                "-chardev",
                "socket,id=slirp-in,path=slirp.sock,server=on,wait=off",
            ])
            .args(["-chardev", "socket,id=slirp-out,path=slirp.sock"])
            .args([
                "-object",
                "filter-redirector,id=slirp-rx-in,netdev=net0,queue=rx,indev=slirp-in",
            ])
            .args([
                "-object",
                "filter-redirector,id=slirp-rx-out,netdev=net0,queue=rx,outdev=slirp-out",
            ])
            // Added last, so that it runs first among the rx filters: it sees
            // the image's frames before the redirectors and slirp's after.
            .args(pcap_dump(forwards))
            .arg("-kernel")
            .arg(elf)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("qemu-system-arm does not start: {e}"));
        let output: Arc<(Mutex<Output>, Condvar)> = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = [
            collect(stdout, output.clone()),
            collect(stderr, output.clone()),
        ];
        let closer = output.clone();
        thread::spawn(move || {
            for reader in readers {
                let _ = reader.join();
            }
            let (lock, changed) = &*closer;
            lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
            changed.notify_all();
        });
        let child = Arc::new(Mutex::new(child));
        let (report_output, killed) = (output.clone(), child.clone());
        let pid = lock(&child).id();
        let ports: Vec<u16> = forwards.iter().map(|(_, host)| *host).collect();
        let on_hang = super::hang::on_hang(super::hang::report_with(
            move || {
                format!(
                    "--- QEMU (pid {pid}) output so far ---\n{}\n--- end of QEMU output ---\n\
                     --- QEMU's threads (state, kernel wait, syscall) ---\n{}\n\
                     --- host TCP sockets on the forwarded ports {ports:?} (ss) ---\n{}\n\
                     --- QEMU's threads' stacks (gdb) ---\n{}",
                    output_text(&report_output),
                    threads(pid),
                    sockets(&ports),
                    stacks(pid),
                )
            },
            move || {
                let mut child = lock(&killed);
                let _ = child.kill();
                let _ = child.wait();
            },
        ));
        QemuMachine {
            child,
            output,
            forwards: forwards.to_vec(),
            started: Instant::now(),
            _on_hang: on_hang,
        }
    }

    /// The host address forwarded to `guest_port`.
    pub fn addr(&self, guest_port: u16) -> SocketAddr {
        let host = self
            .forwards
            .iter()
            .find(|(guest, _)| *guest == guest_port)
            .map(|(_, host)| *host)
            .unwrap_or_else(|| panic!("guest port {guest_port} is not forwarded"));
        SocketAddr::from(([127, 0, 0, 1], host))
    }

    /// Widens the listen backlog of QEMU's forwarded host ports to
    /// `backlog` and returns how many it widened (one per forward once QEMU
    /// has set them up, before the image runs).
    ///
    /// libslirp listens on a forwarded port with a backlog of 1: Linux
    /// queues two connections that slirp has not accepted yet and drops the
    /// SYNs beyond, and a client whose SYN was dropped sends it again after
    /// 1 s, then 2, 4, 8, 16 and 32 s more. Slirp accepts in QEMU's main loop,
    /// which a busy host runs late, so clients that connect back to back (a
    /// case opening 100 connections) lose SYNs: on a loaded 2-core machine
    /// such a case spent 4-17 s connecting, and one connection whose SYN met
    /// a full queue five times in a row took over a minute. `listen()` on a
    /// listening socket only changes its backlog: this takes a duplicate of
    /// QEMU's listening sockets (`pidfd_getfd`, Linux 5.6; QEMU is this
    /// process's child) and calls it with `backlog`.
    #[cfg(target_os = "linux")]
    pub fn widen_listen_backlogs(&self, backlog: i32) -> Result<usize, String> {
        use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};
        let raw = lock(&self.child).id();
        let pid = i32::try_from(raw)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| format!("QEMU's pid {raw} is no pid"))?;
        let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(|e| format!("pidfd_open: {e}"))?;
        let fds = std::fs::read_dir(format!("/proc/{raw}/fd"))
            .map_err(|e| format!("QEMU's file descriptors: {e}"))?;
        let mut widened = 0;
        for entry in fds.flatten() {
            let socket = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            let number = entry.file_name().to_str().and_then(|n| n.parse().ok());
            let Some(number) = number.filter(|_| socket) else {
                continue;
            };
            // A descriptor closed meanwhile is simply not there any more.
            let Ok(fd) = pidfd_getfd(&pidfd, number, PidfdGetfdFlags::empty()) else {
                continue;
            };
            if !rustix::net::sockopt::socket_acceptconn(&fd).unwrap_or(false) {
                continue;
            }
            let port = rustix::net::getsockname(&fd)
                .ok()
                .and_then(|addr| SocketAddr::try_from(addr).ok())
                .map(|addr| addr.port());
            if port.is_some_and(|port| self.forwards.iter().any(|(_, host)| *host == port)) {
                rustix::net::listen(&fd, backlog)
                    .map_err(|e| format!("listen on QEMU's port {port:?}: {e}"))?;
                widened += 1;
            }
        }
        Ok(widened)
    }

    /// When QEMU was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Waits until the image has written a line containing `needle` and
    /// returns it; `None` when QEMU exits or `timeout` passes first.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.output;
        let mut output = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(line) = output.lines.iter().find(|l| l.contains(needle)) {
                return Some(line.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if output.closed || left.is_zero() {
                return None;
            }
            output = changed
                .wait_timeout(output, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Like [`QemuMachine::wait_for_line`], but panics with the whole output
    /// when the line does not come.
    pub fn expect_line(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_line(needle, timeout).unwrap_or_else(|| {
            panic!(
                "the image did not print {needle:?} within {timeout:?}; its output:\n{}",
                self.output_text()
            )
        })
    }

    /// Every line the image and QEMU wrote so far.
    pub fn output_text(&self) -> String {
        output_text(&self.output)
    }

    /// `SIGKILL` to QEMU (the machine stops at once, as with a power cut),
    /// and waits until it is gone.
    pub fn kill(&mut self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Waits up to `timeout` for QEMU to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = lock(&self.child).try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics (with the output) unless QEMU still runs.
    pub fn assert_running(&mut self) {
        let status = lock(&self.child).try_wait();
        if let Ok(Some(status)) = status {
            panic!("QEMU exited ({status}); output:\n{}", self.output_text());
        }
    }
}

impl Drop for QemuMachine {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("--- QEMU output ---\n{}", self.output_text());
        }
    }
}

/// Each thread of process `pid`: name, state, where it waits in the kernel
/// and its syscall line (`/proc`), for a hang's report.
fn threads(pid: u32) -> String {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|e| format!("({e})"))
    };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return String::from("(no /proc entry: QEMU has exited)");
    };
    let mut lines: Vec<String> = tasks
        .flatten()
        .map(|task| {
            let dir = task.path();
            let stat = read(&dir.join("stat"));
            // The state follows the name's closing parenthesis.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            format!(
                "{} {:<16} {} wchan={} syscall={}",
                task.file_name().to_string_lossy(),
                read(&dir.join("comm")),
                state.unwrap_or("?"),
                read(&dir.join("wchan")),
                read(&dir.join("syscall")),
            )
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// With `SESH_QEMU_PCAP=DIR` in the environment, QEMU writes every frame
/// between the image and its user network to `DIR/qemu-PORT.pcap` (PORT:
/// the first forwarded host port), for `tcpdump -r`: which segment was lost,
/// which was sent again and when.
fn pcap_dump(forwards: &[(u16, u16)]) -> Vec<String> {
    let Some(dir) = std::env::var_os("SESH_QEMU_PCAP") else {
        return Vec::new();
    };
    let port = forwards.first().map_or(0, |(_, host)| *host);
    let file = Path::new(&dir).join(format!("qemu-{port}.pcap"));
    vec![
        "-object".into(),
        format!(
            "filter-dump,id=dump,netdev=net0,queue=all,file={}",
            file.to_string_lossy().replace(',', ",,")
        ),
    ]
}

/// Every thread's stack of process `pid`, by gdb (when installed).
fn stacks(pid: u32) -> String {
    match Command::new("gdb")
        .args(["-p", &format!("{pid}"), "-batch", "-nx"])
        .args(["-ex", "thread apply all bt 12"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('#') || l.starts_with("Thread"))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("(gdb does not run: {e})"),
    }
}

/// The listening sockets on loopback `ports` (`ss`: Recv-Q is the accept
/// queue, Send-Q its limit) and how many connections are in each state.
fn sockets(ports: &[u16]) -> String {
    let filter: Vec<String> = ports
        .iter()
        .map(|p| format!("( sport = :{p} or dport = :{p} )"))
        .collect();
    let out = match Command::new("ss")
        .args(["-tanH", &filter.join(" or ")])
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => return format!("(ss does not run: {e})"),
    };
    let mut states: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut text = String::new();
    for line in out.lines() {
        let state = line.split_whitespace().next().unwrap_or("?");
        if state == "LISTEN" {
            text.push_str(line);
            text.push('\n');
        }
        let count = states.entry(state).or_default();
        *count = count.saturating_add(1);
    }
    text.push_str(&format!("connections by state: {states:?}"));
    text
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every line in `output`, joined.
fn output_text(output: &(Mutex<Output>, Condvar)) -> String {
    lock(&output.0).lines.join("\n")
}

/// Reads `from` line by line into `output` until it closes.
fn collect(
    from: impl Read + Send + 'static,
    output: Arc<(Mutex<Output>, Condvar)>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let (lock, changed) = &*output;
            lock.lock()
                .unwrap_or_else(|p| p.into_inner())
                .lines
                .push(line);
            changed.notify_all();
        }
    })
}
