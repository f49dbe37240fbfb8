//! The host server: flags, the session table, picoserve on tokio.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

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

const USAGE: &str = "\
firmware-host: the firmware's login UI (picoserve + sesh-embassy) on the host

USAGE:
    firmware-host [OPTIONS]

OPTIONS:
    --addr <IP:PORT>         Address to listen on [default: 127.0.0.1:3002]
    --idle-timeout <SECS>    Idle timeout of a session [default: the
                             firmware's, 600]
    --secret <SECRET>        Cookie signing secret, at least 32 bytes (prefer
                             SESH_SECRET) [default: random per start]
    --stats-addr <IP:PORT>   Also answer on this address with the table's
                             occupancy as JSON (for tests only)
    --hash-password          Read a password from standard input, print its
                             PHC string for a board image's build-time
                             SESH_ADMIN_PASSWORD_HASH, and exit
    --iterations <N>         PBKDF2 iterations for --hash-password
                             [default: 50000]
    -h, --help               Print this help

Sessions live in RAM only: a restart signs everyone out. The cookie has no
`Secure` (plain HTTP, as on the board): use a loopback address. The account
is the demo one, admin / admin, as in the emulator.
";

/// PBKDF2 iterations `--hash-password` uses unless `--iterations` says.
const DEFAULT_ITERATIONS: u32 = 50_000;

/// The parsed flags.
struct Args {
    addr: SocketAddr,
    idle_timeout: Option<Duration>,
    secret: Option<String>,
    stats_addr: Option<SocketAddr>,
}

enum Command {
    Run(Args),
    HashPassword { iterations: u32 },
    Help,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args {
        addr: parse_addr("--addr", DEFAULT_ADDR)?,
        idle_timeout: None,
        secret: None,
        stats_addr: None,
    };
    let mut hash_password = false;
    let mut iterations = DEFAULT_ITERATIONS;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--addr" => parsed.addr = parse_addr(&flag, &value()?)?,
            "--stats-addr" => parsed.stats_addr = Some(parse_addr(&flag, &value()?)?),
            "--secret" => parsed.secret = Some(value()?),
            "--hash-password" => hash_password = true,
            "--iterations" => {
                let text = value()?;
                iterations = text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--iterations `{text}` is not a whole number above 0")
                })?;
            }
            "--idle-timeout" => {
                let text = value()?;
                let secs: u64 = text.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                    format!("--idle-timeout `{text}` is not a number of seconds > 0")
                })?;
                parsed.idle_timeout = Some(Duration::from_secs(secs));
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if hash_password {
        return Ok(Command::HashPassword { iterations });
    }
    Ok(Command::Run(parsed))
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

fn parse_addr(flag: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("{flag} `{text}` is not an IP address and port ({e})"))
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
    let env_secret = std::env::var(SECRET_ENV).ok();
    let mut args = match parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::HashPassword { iterations }) => {
            return match hash_password(iterations) {
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
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("firmware-host: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    args.secret = args.secret.or(env_secret);
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
    // The board's table is a `static`; a runtime policy needs a leaked one,
    // which lives as long as the process just the same.
    let sessions: &'static HostSessions =
        Box::leak(Box::new(Sessions::new(firmware::COOKIE, policy)));
    sessions
        .init(SysRng, keys(args.secret)?)
        .await
        .map_err(|e| format!("bad cookie settings: {e:?}"))?;

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

    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(args) => Ok(args),
            Command::HashPassword { iterations } => Err(format!("hash {iterations}")),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn hash_password_flags() {
        assert_eq!(
            run(&["--hash-password"]).err().as_deref(),
            Some("hash 50000")
        );
        assert_eq!(
            run(&["--iterations=1000", "--hash-password"])
                .err()
                .as_deref(),
            Some("hash 1000")
        );
        for bad in ["0", "-1", "many"] {
            assert!(
                run(&["--hash-password", "--iterations", bad])
                    .err()
                    .is_some_and(|e| e.contains("--iterations")),
                "{bad}"
            );
        }
    }

    #[test]
    fn flags() {
        let a = run(&[]).unwrap();
        assert_eq!(a.addr, DEFAULT_ADDR.parse().unwrap());
        assert!(a.idle_timeout.is_none() && a.stats_addr.is_none() && a.secret.is_none());
        let a = run(&[
            "--addr=127.0.0.1:0",
            "--idle-timeout",
            "2",
            "--stats-addr",
            "127.0.0.1:9",
        ])
        .unwrap();
        assert_eq!(a.addr.port(), 0);
        assert_eq!(a.idle_timeout, Some(Duration::from_secs(2)));
        assert_eq!(a.stats_addr, Some("127.0.0.1:9".parse().unwrap()));
        for bad in [
            &["--idle-timeout", "0"][..],
            &["--idle-timeout", "2s"],
            &["--addr", "localhost"],
            &["--addr"],
            &["--nope"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert_eq!(run(&["-h"]).err().as_deref(), Some("help"));
    }

    #[test]
    fn secrets() {
        assert!(keys(Some("too short".into())).is_err());
        assert!(keys(Some("x".repeat(MIN_SECRET_LEN))).is_ok());
        assert!(keys(None).is_ok());
    }
}
