//! `firmware-host`: the firmware's login UI on a real TCP socket of the host,
//! for a browser (the end-to-end tests in `e2e/` drive it with Chromium).
//!
//! ```sh
//! cargo run -p firmware --features host-server --bin firmware-host -- --addr 127.0.0.1:3002
//! ```
//!
//! It serves the very app the board serves: [`firmware::router`] with the
//! handlers and pages of the `firmware` lib, [`firmware::SERVER_CONFIG`],
//! [`firmware::COOKIE`] and a [`firmware::AppSessions`] table of
//! [`firmware::CAPACITY`] slots. Only the runtime differs: picoserve's tokio
//! runtime (`Server::new_tokio`) on a `tokio::net::TcpStream` per accepted
//! connection, inside a `LocalSet` (picoserve's futures are not `Send`),
//! instead of embassy-net workers.
//!
//! What differs from the board, on purpose:
//!
//! - **Randomness**: session ids come from the operating system's CSPRNG
//!   (`getrandom::SysRng`, i.e. `getrandom(2)` on Linux) instead of ChaCha20
//!   seeded from the STM32 TRNG.
//! - **Signing key**: `--secret` or `SESH_SECRET` (at least 32 bytes), else 32
//!   random bytes per start (the board keeps its key in a flash sector).
//! - **Persistence**: none. Sessions live in RAM only (the board snapshots
//!   them to internal flash with sequential-storage), so a restart signs
//!   everyone out. The host `login` example (redb file) is the one that
//!   keeps users signed in across a restart.
//! - **Time**: embassy-time's `std` driver with a generic timer queue, so the
//!   sweeper and the expiry clock run on the host's monotonic clock.
//! - **Connections**: one tokio task per connection, not a fixed pool of
//!   [`firmware::WORKERS`] workers.
//! - **Idle timeout**: `--idle-timeout SECS` replaces the idle timeout of
//!   [`firmware::POLICY`] (10 minutes), so that tests can watch a session
//!   expire; the absolute lifetime stays.
//! - **Account**: the demo account admin / admin ([`firmware::LOGIN`]'s),
//!   as in the emulator; a board image provisions its own.
//!   `--hash-password` prints the PHC string a board image is built with
//!   (the password read from standard input) and exits.
//! - **Stats**: `--stats-addr IP:PORT` (off by default) answers every request
//!   on a second port with `{"sessions":N,"capacity":16}`: how many slots of
//!   the table are in use (live, or expired and not yet swept), which the
//!   firmware's page does not show. Only for tests; never expose it.
//!
//! It prints `firmware-host listening on http://IP:PORT/` (and `firmware-host
//! stats on http://IP:PORT/`) on stdout once it accepts connections, so
//! `--addr 127.0.0.1:0` works for tests.
//!
//! The cookie is sent without `Secure`, as on the board: plain HTTP. Keep it
//! on a loopback address.

mod host;

fn main() -> std::process::ExitCode {
    host::main()
}
