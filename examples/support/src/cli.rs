//! The flags every host example takes ([`SessionFlags`]: `--store`,
//! `--max-sessions`, `--secret` or [`SECRET_ENV`],
//! `--secure-cookies`/`--insecure-cookies`),
//! parsed by clap, and how they and `--addr` become [`SessionOptions`].
//!
//! Each example's own `Cli` (derive [`clap::Parser`]) holds `--addr`, with
//! its default, flattens [`SessionFlags`] and adds its own flags.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::store::{self, StoreSpec};

/// The environment variable that may hold the signing secret.
pub const SECRET_ENV: &str = "SESH_SECRET";

/// The fewest bytes a signing secret may have.
pub const MIN_SECRET_LEN: usize = 32;

/// The end of every example's `--help`: the environment clap does not list.
pub const AFTER_HELP: &str = "Environment:\n  RUST_LOG  Log filter [default: info]";

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

/// Parses `--addr`: an IP address and port, e.g. `example` (the example's
/// default, named in the error).
pub fn parse_addr(value: &str, example: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|e| format!("not an IP address and port ({e}), e.g. {example}"))
}

/// Parses `--max-sessions`: a whole number, at least 1.
pub fn parse_max_sessions(value: &str) -> Result<NonZeroUsize, String> {
    let n: usize = value
        .parse()
        .map_err(|e| format!("not a whole number ({e}), e.g. 1000000"))?;
    NonZeroUsize::new(n)
        .ok_or_else(|| "0 would hold no session at all: give at least 1, e.g. 1000000".to_owned())
}

/// The flags every host example takes, after `--addr`.
#[derive(clap::Args, Clone, PartialEq, Eq)]
pub struct SessionFlags {
    /// Where sessions live
    #[arg(
        long,
        value_name = "STORE",
        default_value = store::DEFAULT_STORE,
        long_help = "Where sessions live:
  redb:PATH             a crash-safe file: sessions survive a restart, even a crash
  memory                this process only: a restart loses every session
  redis://HOST:PORT/DB  a Redis database that several servers share (needs --secret)
  rediss://HOST:PORT/DB the same over TLS (--redis-ca FILE for a private CA)
  postgres://USER:PASS@HOST:PORT/DB
                        a PostgreSQL database that several servers share (needs --secret)"
    )]
    pub store: StoreSpec,
    /// The CA (PEM file) that signed the Redis server's certificate, for a rediss:// store
    #[arg(
        long,
        value_name = "FILE",
        long_help = "The CA (PEM file) that signed the Redis server's certificate, for \
--store rediss://…: only it is trusted then. Without it, rediss:// trusts the system's root \
certificates."
    )]
    pub redis_ca: Option<PathBuf>,
    /// The most sessions the store holds [default: 100000]
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_max_sessions,
        long_help = "The most sessions the store holds (with redis:// or postgres://, across \
every server that shares it) [default: 100000]. A new session that finds it full makes room by \
dropping expired sessions, then the least recently used anonymous ones (with memory, within its \
shard, a batch at a time); signed-in sessions are never evicted, and when only they are left a \
new session is refused (503 Service Unavailable).
⚠️ The bound is what stops a flood of new visitors (every request without a cookie may make a \
session) from taking memory, disk or database space without limit: a larger one lets such a \
flood take more. Size for it: about 100 bytes per small session in memory or redb (twice that \
while redb rewrites pages), 150 in Redis (its maxmemory), plus each session's data."
    )]
    pub max_sessions: Option<NonZeroUsize>,
    /// Cookie signing secret, at least 32 bytes (prefer the environment variable)
    #[arg(
        long,
        value_name = "SECRET",
        env = SECRET_ENV,
        hide_env_values = true,
        long_help = "Cookie signing secret, at least 32 bytes (prefer the SESH_SECRET \
environment variable: arguments are visible to every user of the machine). Without either: \
with redb:PATH a random secret is made once and kept in PATH.secret (mode 0600); with memory \
a random one is made per start; with redis:// or postgres:// the server refuses to start."
    )]
    pub secret: Option<String>,
    /// ⚠️ Send the session cookie without `Secure` (only for localhost)
    #[arg(
        long,
        conflicts_with = "secure_cookies",
        long_help = "⚠️ Send the session cookie without `Secure`, so a browser keeps it over \
plain http://. The cookie then crosses the network in clear text: only for localhost. This is \
the default on a loopback address, since the demo serves plain HTTP."
    )]
    pub insecure_cookies: bool,
    /// Keep `Secure` even on a loopback address (behind a TLS-terminating proxy)
    #[arg(long)]
    pub secure_cookies: bool,
}

impl std::fmt::Debug for SessionFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFlags")
            .field("store", &self.store)
            .field("redis_ca", &self.redis_ca)
            .field("max_sessions", &self.max_sessions)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("insecure_cookies", &self.insecure_cookies)
            .field("secure_cookies", &self.secure_cookies)
            .finish()
    }
}

impl SessionFlags {
    /// The flags with the address the example listens on.
    pub fn with_addr(self, addr: SocketAddr) -> ServerArgs {
        let cookies = if self.secure_cookies {
            CookieSecurity::Secure
        } else if self.insecure_cookies {
            CookieSecurity::Insecure
        } else {
            CookieSecurity::Auto
        };
        ServerArgs {
            addr,
            secret: self.secret,
            cookies,
            store: self.store,
            redis_ca: self.redis_ca,
            max_sessions: self.max_sessions,
        }
    }
}

/// The flags every host example takes, with the address.
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
    /// `--redis-ca`: the CA file for a `rediss://` store.
    pub redis_ca: Option<PathBuf>,
    /// `--max-sessions`: the store's bound, if not its default.
    pub max_sessions: Option<NonZeroUsize>,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("addr", &self.addr)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("cookies", &self.cookies)
            .field("store", &self.store)
            .field("redis_ca", &self.redis_ca)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
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
    /// The most sessions the store holds, if not its default
    /// ([`sesh_tokio::store::DEFAULT_MAX_SESSIONS`]).
    pub max_sessions: Option<NonZeroUsize>,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("secret", &"<redacted>")
            .field("secure_cookies", &self.secure_cookies)
            .field("store", &self.store)
            .field("max_sessions", &self.max_sessions)
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
        let store = match (self.store, self.redis_ca) {
            (StoreSpec::Redis(url), Some(ca)) if url.starts_with("rediss://") => {
                StoreSpec::RedisTls(url, ca)
            }
            (_, Some(_)) => {
                return Err(
                    "--redis-ca FILE is for --store rediss://HOST:PORT/DB (Redis over TLS)".into(),
                );
            }
            (store, None) => store,
        };
        let secret = match self.secret {
            Some(s) if s.len() < MIN_SECRET_LEN => {
                return Err(format!(
                    "the secret has {} bytes; it needs at least {MIN_SECRET_LEN} random bytes \
                     (e.g. `openssl rand -base64 32`)",
                    s.len()
                ));
            }
            Some(s) => s.into_bytes(),
            None => store::default_secret(&store, SECRET_ENV)?,
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
            store,
            max_sessions: self.max_sessions,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use clap::{CommandFactory, Parser};

    use super::*;

    const DEFAULT_ADDR: &str = "127.0.0.1:3000";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// The shared flags as an example takes them.
    #[derive(Parser, Debug)]
    #[command(name = "example", args_override_self = true)]
    struct Cli {
        #[arg(long, default_value = DEFAULT_ADDR, value_parser = |s: &str| parse_addr(s, DEFAULT_ADDR))]
        addr: SocketAddr,
        #[command(flatten)]
        session: SessionFlags,
    }

    fn run(args: &[&str]) -> Result<ServerArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("example").chain(args.iter().copied()))?;
        Ok(cli.session.with_addr(cli.addr))
    }

    fn with_secret(args: &[&str]) -> ServerArgs {
        let mut a = run(args).unwrap();
        a.secret.get_or_insert_with(|| SECRET.to_owned());
        a
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
        assert_eq!(
            store::DEFAULT_STORE.parse::<StoreSpec>(),
            Ok(StoreSpec::default())
        );
    }

    #[test]
    fn defaults_to_loopback_without_secure() {
        let args = run(&[]).unwrap();
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(args.store, StoreSpec::Redb("./sesh-sessions.redb".into()));
        assert_eq!(args.cookies, CookieSecurity::Auto);
        // Not the default file: it would land in the crate's directory.
        let mut args = run(&["--store", "memory"]).unwrap();
        args.secret = None;
        let options = args.into_options().unwrap();
        assert!(!options.secure_cookies);
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
    }

    #[test]
    fn the_store_flag() {
        let a = run(&["--store=memory"]).unwrap();
        assert_eq!(a.store, StoreSpec::Memory);
        let a = with_secret(&["--store", "redis://127.0.0.1:6379/0"]);
        assert_eq!(a.store, StoreSpec::Redis("redis://127.0.0.1:6379/0".into()));
        assert_eq!(a.into_options().unwrap().secret, SECRET.as_bytes());
        let err = run(&["--store", "sqlite:x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("is not a store"), "{err}");
        assert!(run(&["--store"]).is_err());
        // The last one counts, as before clap.
        assert_eq!(
            run(&["--store=memory", "--store=memory"]).unwrap().store,
            StoreSpec::Memory
        );
    }

    #[test]
    fn the_max_sessions_flag() {
        // Without it, each store keeps its own default.
        assert_eq!(run(&[]).unwrap().max_sessions, None);
        let options = with_secret(&["--store", "memory"]).into_options().unwrap();
        assert_eq!(options.max_sessions, None);
        for args in [
            &["--max-sessions", "10000000"][..],
            &["--max-sessions=10000000"],
            &["--max-sessions", "5", "--max-sessions", "10000000"],
        ] {
            let a = with_secret(&[&["--store", "memory"][..], args].concat());
            let options = a.into_options().unwrap();
            assert_eq!(
                options.max_sessions,
                NonZeroUsize::new(10_000_000),
                "{args:?}"
            );
        }
        for bad in ["0", "-1", "many", "1e6", ""] {
            let err = run(&[&format!("--max-sessions={bad}")]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("e.g. 1000000"), "{err}");
        }
        let err = run(&["--max-sessions", "0"]).unwrap_err().to_string();
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn a_redis_ca_goes_with_a_rediss_store_only() {
        let url = "rediss://127.0.0.1:6380/0";
        let a = with_secret(&["--store", url, "--redis-ca", "/etc/redis/ca.pem"]);
        assert_eq!(
            a.into_options().unwrap().store,
            StoreSpec::RedisTls(url.into(), "/etc/redis/ca.pem".into())
        );
        let a = with_secret(&["--store", url]);
        assert_eq!(
            a.into_options().unwrap().store,
            StoreSpec::Redis(url.into())
        );
        for store in ["redis://127.0.0.1:6379/0", "memory"] {
            let a = with_secret(&["--store", store, "--redis-ca", "ca.pem"]);
            let err = a.into_options().unwrap_err();
            assert!(err.contains("rediss://"), "{err}");
        }
    }

    #[test]
    fn redis_without_a_secret_refuses_to_start() {
        let mut a = run(&["--store", "redis://127.0.0.1:6379/0"]).unwrap();
        a.secret = None;
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
        let no_secret = || {
            let mut a = run(&[&flag]).unwrap();
            a.secret = None;
            a.into_options().unwrap()
        };
        let first = no_secret();
        assert_eq!(first.secret.len(), MIN_SECRET_LEN);
        assert!(store::secret_path(&db).exists());
        assert_eq!(no_secret().secret, first.secret);
        // A given secret wins over the file.
        let given = run(&[&flag, "--secret", SECRET])
            .unwrap()
            .into_options()
            .unwrap();
        assert_eq!(given.secret, SECRET.as_bytes());
    }

    #[test]
    fn secure_by_default_off_loopback() {
        let options = with_secret(&["--addr", "0.0.0.0:8080"])
            .into_options()
            .unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret, SECRET.as_bytes());
    }

    #[test]
    fn flags_override_the_default() {
        let a = with_secret(&["--addr=[::1]:1", "--secure-cookies"]);
        assert!(a.into_options().unwrap().secure_cookies);
        let a = with_secret(&["--addr", "192.0.2.1:1", "--insecure-cookies"]);
        assert!(!a.into_options().unwrap().secure_cookies);
        let err = run(&["--secure-cookies", "--insecure-cookies"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(
            run(&["--secure-cookies", "--secure-cookies"])
                .unwrap()
                .cookies,
            CookieSecurity::Secure
        );
    }

    #[test]
    fn refuses_bad_input() {
        let short = run(&["--secret", "short"]).unwrap();
        assert!(short.into_options().is_err());
        assert!(run(&["--addr"]).is_err());
        let err = run(&["--addr", "localhost"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("e.g. 127.0.0.1:3000"), "{err}");
        assert!(run(&["--insecure-cookies=yes"]).is_err());
        assert!(run(&["--nope"]).is_err());
        for help in ["-h", "--help"] {
            let err = run(&[help]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
            assert_eq!(err.exit_code(), 0);
        }
    }

    #[test]
    fn help_lists_the_flags_and_the_environment() {
        let help = Cli::command()
            .after_help(AFTER_HELP)
            .render_long_help()
            .to_string();
        for text in [
            "--addr <ADDR>",
            "--store <STORE>",
            "[default: redb:./sesh-sessions.redb]",
            "redis://HOST:PORT/DB",
            "postgres://USER:PASS@HOST:PORT/DB",
            "--secret <SECRET>",
            "[env: SESH_SECRET",
            "--insecure-cookies",
            "--secure-cookies",
            "--max-sessions <N>",
            "least recently used anonymous",
            "⚠️",
            "RUST_LOG",
        ] {
            assert!(help.contains(text), "{text} missing from:\n{help}");
        }
        // The default the help states is the stores' own.
        let default = format!("[default: {}]", sesh_tokio::store::DEFAULT_MAX_SESSIONS);
        for text in [&default[..], "[default: redb:./sesh-sessions.redb]"] {
            assert!(help.contains(text), "{text} missing from:\n{help}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let a = run(&[
            "--secret",
            SECRET,
            "--store",
            "redis://u:hunter2@127.0.0.1/0",
        ])
        .unwrap();
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
        let cli = Cli::try_parse_from(["example", "--secret", SECRET]).unwrap();
        assert!(!format!("{cli:?}").contains(SECRET));
        let options = SessionOptions {
            secret: SECRET.as_bytes().to_vec(),
            secure_cookies: true,
            store: StoreSpec::Memory,
            max_sessions: None,
        };
        assert!(!format!("{options:?}").contains(SECRET));
    }
}
