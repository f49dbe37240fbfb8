//! Command-line flags, and how they become [`Options`].
//!
//! A tiny hand-written parser: `--flag value` or `--flag=value`.

use std::net::SocketAddr;

use crate::{Credentials, DEFAULT_ADDR, Options};
use sesh_example_support::store::{self, StoreSpec};

/// The environment variable that may hold the signing secret.
pub const SECRET_ENV: &str = "SESH_SECRET";

/// The fewest bytes a signing secret may have.
pub const MIN_SECRET_LEN: usize = 32;

/// The demo account unless `--user`/`--password` say otherwise.
pub const DEFAULT_USER: &str = "admin";

/// The demo password unless `--password` says otherwise.
pub const DEFAULT_PASSWORD: &str = "admin";

/// What `--help` prints.
pub const USAGE: &str = "\
login: a firmware-style admin page on sesh-tokio (login, CSRF, logout)

USAGE:
    login [OPTIONS]

OPTIONS:
    --addr <IP:PORT>      Address to listen on [default: 127.0.0.1:3001]
    --user <NAME>         The demo account's user name [default: admin]
    --password <PASS>     The demo account's password [default: admin]
    --idle-timeout <SECS> ⚠️ Sign sessions out after this many idle seconds
                          [default: 1800]; longer leaves an unattended browser
                          signed in for longer
    --store <STORE>       Where sessions live [default: redb:./sesh-sessions.redb]
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
";

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
pub enum Command {
    /// Run the server.
    Run(Args),
    /// Print [`USAGE`] and exit.
    Help,
}

/// The parsed flags.
#[derive(Clone, PartialEq, Eq)]
pub struct Args {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The signing secret from `--secret` or [`SECRET_ENV`], if any.
    pub secret: Option<String>,
    /// The `Secure` attribute choice.
    pub cookies: CookieSecurity,
    /// The demo account's user name.
    pub user: String,
    /// The demo account's password.
    pub password: String,
    /// Where sessions live.
    pub store: StoreSpec,
    /// The idle timeout, if not the default 30 minutes.
    pub idle_timeout: Option<sesh::Duration>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("addr", &self.addr)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("cookies", &self.cookies)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("store", &self.store)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Parses the arguments (without the program name). `env_secret` is the
/// value of [`SECRET_ENV`]; `--secret` wins over it.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
) -> Result<Command, String> {
    let mut addr: SocketAddr = DEFAULT_ADDR
        .parse()
        .map_err(|e| format!("bad default address: {e}"))?;
    let mut secret = None;
    let mut cookies = CookieSecurity::Auto;
    let mut user = DEFAULT_USER.to_owned();
    let mut password = DEFAULT_PASSWORD.to_owned();
    let mut store = StoreSpec::default();
    let mut idle_timeout = None;
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
                        "--addr `{value}` is not an IP address and port ({e}), e.g. 127.0.0.1:3001"
                    )
                })?;
            }
            "--secret" => secret = Some(value_of(&flag, inline, &mut args)?),
            "--user" => user = value_of(&flag, inline, &mut args)?,
            "--password" => password = value_of(&flag, inline, &mut args)?,
            "--store" => store = value_of(&flag, inline, &mut args)?.parse()?,
            "--idle-timeout" => {
                let value = value_of(&flag, inline, &mut args)?;
                let secs: u64 = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("--idle-timeout `{value}` is not a whole number of seconds above 0")
                })?;
                idle_timeout = Some(sesh::Duration::from_secs(secs));
            }
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
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if user.is_empty() || password.is_empty() {
        return Err("--user and --password must not be empty".into());
    }
    Ok(Command::Run(Args {
        addr,
        secret: secret.or(env_secret),
        cookies,
        user,
        password,
        store,
        idle_timeout,
    }))
}

/// The flag's value: after `=`, or the next argument.
fn value_of(
    flag: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    inline
        .or_else(|| rest.next())
        .ok_or_else(|| format!("{flag} needs a value"))
}

impl Args {
    /// The server options: checks the secret, or without one gets the
    /// store's default (see [`store::default_secret`]: the redb file's kept
    /// secret, made on first use; a random one for memory; an error for
    /// Redis), and decides on `Secure`. Logs a warning for every weakened
    /// default.
    pub fn into_options(self) -> Result<Options, String> {
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
        if self.password == DEFAULT_PASSWORD {
            tracing::warn!(
                user = %self.user,
                "the demo password is the default `{DEFAULT_PASSWORD}`: set --password"
            );
        }
        Ok(Options {
            secret,
            secure_cookies,
            credentials: Credentials::new(self.user, &self.password),
            store: self.store,
            idle_timeout: self.idle_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Args, String> {
        match parse(args.iter().map(|s| s.to_string()), env.map(str::to_owned))? {
            Command::Run(a) => Ok(a),
            Command::Help => Err("help".into()),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults() {
        let args = run(&[], None).unwrap();
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(
            (args.user.as_str(), args.password.as_str()),
            ("admin", "admin")
        );
        assert_eq!(args.store, StoreSpec::Redb("./sesh-sessions.redb".into()));
        // Not the default file: it would land in the crate's directory.
        let options = run(&["--store", "memory"], None)
            .unwrap()
            .into_options()
            .unwrap();
        assert!(!options.secure_cookies, "loopback: plain-HTTP demo");
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
        assert!(options.credentials.check("admin", "admin"));
    }

    #[test]
    fn flags() {
        let args = run(
            &["--addr=0.0.0.0:80", "--user", "root", "--password=hunter2"],
            Some(SECRET),
        )
        .unwrap();
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret, SECRET.as_bytes());
        assert!(options.credentials.check("root", "hunter2"));
        assert!(!options.credentials.check("admin", "admin"));
        let a = run(&["--secure-cookies"], Some(SECRET)).unwrap();
        assert!(a.into_options().unwrap().secure_cookies);
        let a = run(
            &["--addr", "192.0.2.1:1", "--insecure-cookies"],
            Some(SECRET),
        )
        .unwrap();
        assert!(!a.into_options().unwrap().secure_cookies);
    }

    #[test]
    fn the_store_flag() {
        let a = run(&["--store=memory"], None).unwrap();
        assert_eq!(a.store, StoreSpec::Memory);
        let a = run(&["--store", "redis://127.0.0.1:6379/0"], Some(SECRET)).unwrap();
        assert_eq!(a.store, StoreSpec::Redis("redis://127.0.0.1:6379/0".into()));
        assert_eq!(a.into_options().unwrap().secret, SECRET.as_bytes());
        let a = run(&["--store", "redis://127.0.0.1:6379/0"], None).unwrap();
        let err = a.into_options().unwrap_err();
        assert!(
            err.contains("--secret") && err.contains(SECRET_ENV),
            "{err}"
        );
        assert!(run(&["--store", "sqlite:x"], None).is_err());
        assert!(run(&["--store"], None).is_err());
        assert!(USAGE.contains("--store <STORE>"));
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
        let given = run(&[&flag], Some(SECRET)).unwrap().into_options().unwrap();
        assert_eq!(given.secret, SECRET.as_bytes());
    }

    #[test]
    fn refuses_bad_input() {
        assert!(
            run(&["--secret", "short"], None)
                .unwrap()
                .into_options()
                .is_err()
        );
        assert!(run(&["--password="], None).is_err());
        assert!(run(&["--user"], None).is_err());
        assert!(run(&["--secure-cookies", "--insecure-cookies"], None).is_err());
        assert!(run(&["--addr", "localhost"], None).is_err());
        assert!(run(&["--nope"], None).is_err());
        assert_eq!(run(&["--help"], None), Err("help".into()));
    }

    #[test]
    fn debug_hides_secrets() {
        let a = run(&["--secret", SECRET, "--password", "hunter2"], None).unwrap();
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
