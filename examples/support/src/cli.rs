//! The flags every host example takes, and how they become
//! [`SessionOptions`]: `--addr`, `--store`, `--secret` (or [`SECRET_ENV`]),
//! `--secure-cookies`/`--insecure-cookies` and `-h`/`--help`.
//!
//! A tiny hand-written parser: `--flag value` or `--flag=value`. Any other
//! flag goes to the example's own parser (see [`parse`]).

use std::net::SocketAddr;

use crate::store::{self, StoreSpec};

/// The `--help` lines of the shared flags after `--addr` (whose default each
/// example states itself), and of the environment: for an example's `USAGE`,
/// `concat!("…OPTIONS:\n    --addr …\n", its own flags, common_usage!())`.
#[macro_export]
macro_rules! common_usage {
    () => {
        "    --store <STORE>       Where sessions live [default: redb:./sesh-sessions.redb]
                            redb:PATH    a crash-safe file: sessions survive a
                                         restart, even a crash
                            memory       this process only: a restart loses
                                         every session
                            redis://HOST:PORT/DB
                                         a Redis database that several
                                         servers share (needs --secret)
    --secret <SECRET>     Cookie signing secret, at least 32 bytes (prefer the
                          SESH_SECRET environment variable: arguments are
                          visible to every user of the machine). Without
                          either: with redb:PATH a random secret is made once
                          and kept in PATH.secret (mode 0600); with memory a
                          random one is made per start; with redis:// the
                          server refuses to start.
    --insecure-cookies    ⚠️ Send the session cookie without `Secure`, so a
                          browser keeps it over plain http://. The cookie
                          then crosses the network in clear text: only for
                          localhost. This is the default on a loopback
                          address, since the demo serves plain HTTP.
    --secure-cookies      Keep `Secure` even on a loopback address (behind a
                          TLS-terminating proxy on the same machine).
    -h, --help            Print this help

ENVIRONMENT:
    SESH_SECRET           Cookie signing secret (see --secret)
    RUST_LOG              Log filter [default: info]
"
    };
}

/// The environment variable that may hold the signing secret.
pub const SECRET_ENV: &str = "SESH_SECRET";

/// The fewest bytes a signing secret may have.
pub const MIN_SECRET_LEN: usize = 32;

/// Whether the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieSecurity {
    /// Off on a loopback address (plain-HTTP local demo), on elsewhere.
    #[default]
    Auto,
    /// Always on (`--secure-cookies`).
    Secure,
    /// ⚠️ Always off (`--insecure-cookies`).
    Insecure,
}

impl CookieSecurity {
    /// Whether a server listening on `addr` sets `Secure`.
    pub fn is_secure_for(self, addr: SocketAddr) -> bool {
        match self {
            CookieSecurity::Auto => !addr.ip().is_loopback(),
            CookieSecurity::Secure => true,
            CookieSecurity::Insecure => false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<A> {
    /// Run the server with these arguments.
    Run(A),
    /// Print the usage and exit.
    Help,
}

/// The flags every host example takes.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The signing secret from `--secret` or [`SECRET_ENV`], if any.
    pub secret: Option<String>,
    /// The `Secure` attribute choice.
    pub cookies: CookieSecurity,
    /// Where sessions live.
    pub store: StoreSpec,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("addr", &self.addr)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("cookies", &self.cookies)
            .field("store", &self.store)
            .finish()
    }
}

/// A flag [`parse`] does not know itself, offered to the example's parser.
pub struct Flag<'a> {
    name: String,
    inline: Option<String>,
    rest: &'a mut dyn Iterator<Item = String>,
}

impl Flag<'_> {
    /// The flag as written, without an `=value`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The flag's value: after `=`, or the next argument.
    pub fn value(&mut self) -> Result<String, String> {
        value_of(&self.name, self.inline.take(), self.rest)
    }
}

/// Parses the arguments (without the program name). `env_secret` is the
/// value of [`SECRET_ENV`]; `--secret` wins over it. `--addr` defaults to
/// `default_addr`.
///
/// A flag not listed above goes to `own_flag`, which takes its value if it
/// has one and says whether it knew the flag; an unknown flag is an error.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
    default_addr: &str,
    mut own_flag: impl FnMut(&mut Flag<'_>) -> Result<bool, String>,
) -> Result<Command<ServerArgs>, String> {
    let mut addr: SocketAddr = default_addr
        .parse()
        .map_err(|e| format!("bad default address: {e}"))?;
    let mut secret = None;
    let mut cookies = CookieSecurity::Auto;
    let mut store = StoreSpec::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--addr" => {
                let value = value_of(&flag, inline, &mut args)?;
                addr = value.parse().map_err(|e| {
                    format!(
                        "--addr `{value}` is not an IP address and port ({e}), e.g. {default_addr}"
                    )
                })?;
            }
            "--secret" => secret = Some(value_of(&flag, inline, &mut args)?),
            "--store" => store = value_of(&flag, inline, &mut args)?.parse()?,
            "--insecure-cookies" | "--secure-cookies" => {
                if inline.is_some() {
                    return Err(format!("{flag} takes no value"));
                }
                let wanted = if flag == "--secure-cookies" {
                    CookieSecurity::Secure
                } else {
                    CookieSecurity::Insecure
                };
                if cookies != CookieSecurity::Auto && cookies != wanted {
                    return Err("--secure-cookies and --insecure-cookies exclude each other".into());
                }
                cookies = wanted;
            }
            _ => {
                let mut own = Flag {
                    name: flag,
                    inline,
                    rest: &mut args,
                };
                if !own_flag(&mut own)? {
                    return Err(format!("unknown argument `{}` (try --help)", own.name));
                }
            }
        }
    }
    Ok(Command::Run(ServerArgs {
        addr,
        secret: secret.or(env_secret),
        cookies,
        store,
    }))
}

/// The flag's value: after `=`, or the next argument.
fn value_of(
    flag: &str,
    inline: Option<String>,
    rest: &mut dyn Iterator<Item = String>,
) -> Result<String, String> {
    inline
        .or_else(|| rest.next())
        .ok_or_else(|| format!("{flag} needs a value"))
}

/// Where sessions live, and how the server signs and sends its session cookie.
#[derive(Clone)]
pub struct SessionOptions {
    /// The signing secret: at least 32 random bytes. The store key (the
    /// keyed hash of ids at rest) comes from it too.
    pub secret: Vec<u8>,
    /// Whether the cookie carries `Secure`. ⚠️ Turn it off only for plain
    /// `http://` on localhost: without it the browser sends the session
    /// cookie over unencrypted connections.
    pub secure_cookies: bool,
    /// The session store.
    pub store: StoreSpec,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("secret", &"<redacted>")
            .field("secure_cookies", &self.secure_cookies)
            .field("store", &self.store)
            .finish()
    }
}

impl ServerArgs {
    /// The session options: checks the secret, or without one gets the
    /// store's default (see [`store::default_secret`]: the redb file's kept
    /// secret, made on first use; a random one for memory; an error for
    /// Redis), and decides on `Secure`. Logs a warning for every weakened
    /// default.
    pub fn into_options(self) -> Result<SessionOptions, String> {
        let secret = match self.secret {
            Some(s) if s.len() < MIN_SECRET_LEN => {
                return Err(format!(
                    "the secret has {} bytes; it needs at least {MIN_SECRET_LEN} random bytes \
                     (e.g. `openssl rand -base64 32`)",
                    s.len()
                ));
            }
            Some(s) => s.into_bytes(),
            None => store::default_secret(&self.store, SECRET_ENV)?,
        };
        let secure_cookies = self.cookies.is_secure_for(self.addr);
        if !secure_cookies {
            if self.addr.ip().is_loopback() {
                tracing::warn!(
                    addr = %self.addr,
                    "plain-HTTP demo on loopback: the session cookie is sent without `Secure` \
                     (--secure-cookies keeps it behind a TLS proxy)"
                );
            } else {
                tracing::warn!(
                    addr = %self.addr,
                    "--insecure-cookies on a non-loopback address: the session cookie crosses \
                     the network in clear text"
                );
            }
        }
        Ok(SessionOptions {
            secret,
            secure_cookies,
            store: self.store,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const DEFAULT_ADDR: &str = "127.0.0.1:3000";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// The shared flags alone, plus `--extra VALUE` as an example's own.
    fn run(args: &[&str], env: Option<&str>) -> Result<ServerArgs, String> {
        let command = parse(
            args.iter().map(|s| s.to_string()),
            env.map(str::to_owned),
            DEFAULT_ADDR,
            |flag| match flag.name() {
                "--extra" => flag.value().map(|_| true),
                _ => Ok(false),
            },
        )?;
        match command {
            Command::Run(a) => Ok(a),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_to_loopback_without_secure() {
        let args = run(&[], None).unwrap();
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(args.secret, None);
        assert_eq!(args.store, StoreSpec::Redb("./sesh-sessions.redb".into()));
        // Not the default file: it would land in the crate's directory.
        let args = run(&["--store", "memory"], None).unwrap();
        let options = args.into_options().unwrap();
        assert!(!options.secure_cookies);
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
    }

    #[test]
    fn the_store_flag() {
        let a = run(&["--store=memory"], None).unwrap();
        assert_eq!(a.store, StoreSpec::Memory);
        let a = run(&["--store", "redis://127.0.0.1:6379/0"], Some(SECRET)).unwrap();
        assert_eq!(a.store, StoreSpec::Redis("redis://127.0.0.1:6379/0".into()));
        assert_eq!(a.into_options().unwrap().secret, SECRET.as_bytes());
        assert!(run(&["--store", "sqlite:x"], None).is_err());
        assert!(run(&["--store"], None).is_err());
    }

    #[test]
    fn redis_without_a_secret_refuses_to_start() {
        let a = run(&["--store", "redis://127.0.0.1:6379/0"], None).unwrap();
        let err = a.into_options().unwrap_err();
        assert!(
            err.contains("--secret") && err.contains(SECRET_ENV),
            "{err}"
        );
    }

    #[test]
    fn redb_without_a_secret_keeps_one_next_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.redb");
        let flag = format!("--store=redb:{}", db.display());
        let first = run(&[&flag], None).unwrap().into_options().unwrap();
        assert_eq!(first.secret.len(), MIN_SECRET_LEN);
        assert!(store::secret_path(&db).exists());
        let again = run(&[&flag], None).unwrap().into_options().unwrap();
        assert_eq!(again.secret, first.secret);
        // A given secret wins over the file.
        let given = run(&[&flag], Some(SECRET)).unwrap().into_options().unwrap();
        assert_eq!(given.secret, SECRET.as_bytes());
    }

    #[test]
    fn secure_by_default_off_loopback() {
        let args = run(&["--addr", "0.0.0.0:8080"], Some(SECRET)).unwrap();
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret, SECRET.as_bytes());
    }

    #[test]
    fn flags_override_the_default() {
        let a = run(&["--addr=[::1]:1", "--secure-cookies"], Some(SECRET)).unwrap();
        assert!(a.into_options().unwrap().secure_cookies);
        let a = run(
            &["--addr", "192.0.2.1:1", "--insecure-cookies"],
            Some(SECRET),
        )
        .unwrap();
        assert!(!a.into_options().unwrap().secure_cookies);
        assert!(run(&["--secure-cookies", "--insecure-cookies"], None).is_err());
    }

    #[test]
    fn the_flag_secret_wins_over_the_environment() {
        let other = "another secret of at least 32 bytes!";
        let a = run(&["--secret", other], Some(SECRET)).unwrap();
        assert_eq!(a.into_options().unwrap().secret, other.as_bytes());
    }

    #[test]
    fn own_flags_take_their_value() {
        let a = run(&["--extra", "x", "--store=memory", "--extra=y"], None).unwrap();
        assert_eq!(a.store, StoreSpec::Memory);
        assert_eq!(run(&["--extra"], None), Err("--extra needs a value".into()));
        assert_eq!(
            run(&["--nope=1"], None),
            Err("unknown argument `--nope` (try --help)".into())
        );
    }

    #[test]
    fn refuses_bad_input() {
        assert!(
            run(&["--secret", "short"], None)
                .unwrap()
                .into_options()
                .is_err()
        );
        assert!(run(&["--addr"], None).is_err());
        let err = run(&["--addr", "localhost"], None).unwrap_err();
        assert!(err.contains("e.g. 127.0.0.1:3000"), "{err}");
        assert!(run(&["--insecure-cookies=yes"], None).is_err());
        assert!(run(&["--nope"], None).is_err());
        assert_eq!(run(&["-h"], None), Err("help".into()));
        assert_eq!(run(&["--help"], None), Err("help".into()));
    }

    #[test]
    fn debug_hides_the_secret() {
        let a = run(
            &[
                "--secret",
                SECRET,
                "--store",
                "redis://u:hunter2@127.0.0.1/0",
            ],
            None,
        )
        .unwrap();
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
        let options = SessionOptions {
            secret: SECRET.as_bytes().to_vec(),
            secure_cookies: true,
            store: StoreSpec::Memory,
        };
        assert!(!format!("{options:?}").contains(SECRET));
    }
}
