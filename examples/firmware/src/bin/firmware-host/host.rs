//! The host server: flags, the session table, picoserve on tokio.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

use clap::Parser;
use firmware::AppSessions;
use getrandom::SysRng;
use sesh::Duration;
use sesh::signing::{Key, KeyRing};
use sesh_embassy::Sessions;
use tokio::net::TcpListener;

/// The session table of the host server, with the OS's CSPRNG.
type HostSessions = AppSessions<SysRng>;

/// The address unless `--addr` says otherwise (the `login` example takes 3001).
const DEFAULT_ADDR: &str = "127.0.0.1:3002";

/// The environment variable that may hold the signing secret.
const SECRET_ENV: &str = "SESH_SECRET";

/// The fewest bytes a signing secret may have.
const MIN_SECRET_LEN: usize = 32;

/// PBKDF2 iterations `--hash-password` uses unless `--iterations` says.
const DEFAULT_ITERATIONS: u32 = 50_000;

/// firmware-host: the firmware's login UI (picoserve + sesh-embassy) on the host
#[derive(Parser)]
#[command(
    name = "firmware-host",
    args_override_self = true,
    after_help = "\
Sessions live in RAM only: a restart signs everyone out. The cookie has no
`Secure` (plain HTTP, as on the board): use a loopback address. The account
is the demo one, admin / admin, as in the emulator."
)]
struct Cli {
    /// Address to listen on
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Idle timeout of a session [default: the firmware's, 600]
    #[arg(
        long,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..),
        allow_negative_numbers = true
    )]
    idle_timeout: Option<u64>,
    /// Cookie signing secret, at least 32 bytes (prefer SESH_SECRET) [default: random per start]
    #[arg(long, value_name = "SECRET", env = SECRET_ENV, hide_env_values = true, value_parser = parse_secret)]
    secret: Option<String>,
    /// Also answer on this address with the table's occupancy as JSON (for tests only)
    #[arg(long, value_name = "IP:PORT")]
    stats_addr: Option<SocketAddr>,
    /// Read a password from standard input, print its PHC string for a board
    /// image's build-time SESH_ADMIN_PASSWORD_HASH, and exit
    #[arg(long)]
    hash_password: bool,
    /// PBKDF2 iterations for --hash-password
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_ITERATIONS,
        value_parser = clap::value_parser!(u32).range(1..),
        allow_negative_numbers = true
    )]
    iterations: u32,
}

/// `--secret`: at least [`MIN_SECRET_LEN`] bytes.
fn parse_secret(secret: &str) -> Result<String, String> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "the secret has {} bytes; it needs at least {MIN_SECRET_LEN}",
            secret.len()
        ));
    }
    Ok(secret.to_owned())
}

/// The flags of the server.
struct Args {
    addr: SocketAddr,
    idle_timeout: Option<Duration>,
    secret: Option<String>,
    stats_addr: Option<SocketAddr>,
}

impl From<Cli> for Args {
    fn from(cli: Cli) -> Args {
        Args {
            addr: cli.addr,
            idle_timeout: cli.idle_timeout.map(Duration::from_secs),
            secret: cli.secret,
            stats_addr: cli.stats_addr,
        }
    }
}

/// `--hash-password`: the PHC string of the first line of standard input
/// (without its line ending), under 16 random bytes of salt.
fn hash_password(iterations: u32) -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no OS randomness: {e}"))?;
    firmware::Credentials::hash_phc(password, &salt, iterations)
        .map(|phc| phc.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// The signing key ring: the given secret, or 32 fresh random bytes.
fn keys(secret: Option<String>) -> Result<sesh_embassy::Keys, String> {
    let bytes = match secret {
        Some(s) if s.len() < MIN_SECRET_LEN => {
            return Err(format!(
                "the secret has {} bytes; it needs at least {MIN_SECRET_LEN}",
                s.len()
            ));
        }
        Some(s) => s.into_bytes(),
        None => {
            let mut random = vec![0u8; MIN_SECRET_LEN];
            getrandom::fill(&mut random).map_err(|e| format!("no OS randomness: {e}"))?;
            random
        }
    };
    let key = Key::new(&bytes).map_err(|e| format!("bad secret: {e:?}"))?;
    Ok(KeyRing::new(key))
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.hash_password {
        return match hash_password(cli.iterations) {
            Ok(phc) => {
                println!("{phc}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("firmware-host: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::from(cli);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("firmware-host: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firmware-host: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let policy = match args.idle_timeout {
        Some(idle) => firmware::POLICY.with_idle_timeout(idle),
        None => firmware::POLICY,
    };
    // The host knows the date: the session list's times are wall times.
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        let unix_ms = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        firmware::WALL_CLOCK.learn(sesh_embassy::now(), unix_ms);
    }
    // A board puts its table in a `StaticCell`; leaked, it lives as long as
    // the process just the same.
    let sessions: &'static HostSessions = Box::leak(Box::new(
        Sessions::new(SysRng, keys(args.secret)?, firmware::COOKIE, policy)
            .map_err(|e| format!("bad cookie settings: {e:?}"))?,
    ));

    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "firmware-host: warning: {bound} is not a loopback address; the session cookie \
             crosses the network in clear text"
        );
    }
    if let Some(stats_addr) = args.stats_addr {
        let stats = TcpListener::bind(stats_addr)
            .await
            .map_err(|e| format!("cannot listen on {stats_addr}: {e}"))?;
        let stats_bound = stats
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        println!("firmware-host stats on http://{stats_bound}/");
        tokio::task::spawn_local(serve(stats, Rc::new(firmware::stats_router(sessions))));
    }
    tokio::task::spawn_local(async move {
        sesh_embassy::run_sweeper(sessions).await;
    });
    println!("firmware-host listening on http://{bound}/");

    serve(listener, Rc::new(firmware::router(sessions))).await;
    Ok(())
}

/// Serves `app` on every connection `listener` accepts, each in a task of
/// its own, with the board's picoserve settings and buffer size.
async fn serve<P: picoserve::routing::PathRouter + 'static>(
    listener: TcpListener,
    app: Rc<picoserve::Router<P>>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly.
                eprintln!("firmware-host: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = Rc::clone(&app);
        tokio::task::spawn_local(async move {
            let mut http_buffer = [0u8; firmware::HTTP_BUFFER];
            let served =
                picoserve::Server::new_tokio(&app, &firmware::SERVER_CONFIG, &mut http_buffer)
                    .serve(stream)
                    .await;
            if let Err(e) = served {
                eprintln!("firmware-host: {peer}: {e:?}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use clap::CommandFactory;

    use super::*;

    fn run(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("firmware-host").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
        let help = Cli::command().render_help().to_string();
        for text in [
            "--addr <IP:PORT>",
            "[default: 127.0.0.1:3002]",
            // e2e/lib/targets.js passes `--idle-timeout SECS`.
            "--idle-timeout <SECS>",
            "--secret <SECRET>",
            "[env: SESH_SECRET",
            "--stats-addr <IP:PORT>",
            "--hash-password",
            "--iterations <N>",
            "[default: 50000]",
            "Sessions live in RAM only",
        ] {
            assert!(help.contains(text), "{text} missing from:\n{help}");
        }
    }

    #[test]
    fn hash_password_flags() {
        let cli = run(&["--hash-password"]).unwrap();
        assert!(cli.hash_password);
        assert_eq!(cli.iterations, 50_000);
        let cli = run(&["--iterations=1000", "--hash-password"]).unwrap();
        assert_eq!((cli.hash_password, cli.iterations), (true, 1000));
        for bad in ["0", "-1", "many"] {
            let err = run(&["--hash-password", "--iterations", bad])
                .err()
                .unwrap();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("--iterations"), "{bad}: {err}");
        }
    }

    #[test]
    fn flags() {
        let a = Args::from(run(&[]).unwrap());
        assert_eq!(a.addr, DEFAULT_ADDR.parse().unwrap());
        assert!(a.idle_timeout.is_none() && a.stats_addr.is_none());
        let a = Args::from(
            run(&[
                "--addr=127.0.0.1:0",
                "--idle-timeout",
                "2",
                "--stats-addr",
                "127.0.0.1:9",
            ])
            .unwrap(),
        );
        assert_eq!(a.addr.port(), 0);
        assert_eq!(a.idle_timeout, Some(Duration::from_secs(2)));
        assert_eq!(a.stats_addr, Some("127.0.0.1:9".parse().unwrap()));
        for bad in [
            &["--idle-timeout", "0"][..],
            &["--idle-timeout", "2s"],
            &["--addr", "localhost"],
            &["--addr"],
            &["--secret", "too short"],
            &["--nope"],
        ] {
            let err = run(bad).err().unwrap();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
        assert_eq!(run(&["-h"]).err().unwrap().exit_code(), 0);
    }

    #[test]
    fn secrets() {
        let secret = "x".repeat(MIN_SECRET_LEN);
        let a = Args::from(run(&["--secret", &secret]).unwrap());
        assert_eq!(a.secret, Some(secret.clone()));
        assert!(keys(Some("too short".into())).is_err());
        assert!(keys(Some(secret)).is_ok());
        assert!(keys(None).is_ok());
    }
}
