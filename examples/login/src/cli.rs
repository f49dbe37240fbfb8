//! Command-line flags: those every host example takes
//! ([`sesh_example_support::cli`]) and login's own (`--user`, `--password`
//! or [`PASSWORD_ENV`], `--idle-timeout`), and how they become [`Options`].
//!
//! Without a password the server starts only on a loopback address, with
//! the demo account `admin`/`admin` and a warning; anywhere else it refuses.

use std::net::SocketAddr;

use clap::builder::NonEmptyStringValueParser;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use sesh_example_support::cli::{self as shared, AFTER_HELP, ServerArgs, SessionFlags};
use sesh_example_support::server::ExampleArgs;

use crate::{Credentials, DEFAULT_ADDR, Options};

pub use sesh_example_support::cli::{CookieSecurity, MIN_SECRET_LEN, SECRET_ENV};

/// The account's user name unless `--user` says otherwise.
pub const DEFAULT_USER: &str = "admin";

/// The demo password: only on a loopback address, and only when neither
/// `--password` nor [`PASSWORD_ENV`] gives one.
pub const DEFAULT_PASSWORD: &str = "admin";

/// The environment variable that may hold the password (`--password` wins).
pub const PASSWORD_ENV: &str = "SESH_LOGIN_PASSWORD";

/// login: a firmware-style admin page on sesh-tokio (login, CSRF, logout)
#[derive(Parser)]
#[command(name = "login", after_help = AFTER_HELP, args_override_self = true)]
pub struct Cli {
    /// Address to listen on
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR, value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// The account's user name
    #[arg(long, value_name = "NAME", default_value = DEFAULT_USER, value_parser = NonEmptyStringValueParser::new())]
    pub user: String,
    /// The account's password (prefer SESH_LOGIN_PASSWORD: arguments are
    /// visible to every user of the machine). Without either, the server
    /// starts only on a loopback address, with the demo password `admin`
    #[arg(
        long,
        value_name = "PASS",
        env = PASSWORD_ENV,
        hide_env_values = true,
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub password: Option<String>,
    /// ⚠️ Sign sessions out after this many idle seconds [default: 1800];
    /// longer leaves an unattended browser signed in for longer
    #[arg(
        long,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..),
        allow_negative_numbers = true
    )]
    pub idle_timeout: Option<u64>,
    /// The flags every host example takes.
    #[command(flatten)]
    pub session: SessionFlags,
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    shared::parse_addr(value, DEFAULT_ADDR)
}

/// The parsed flags.
#[derive(Clone, PartialEq, Eq)]
pub struct Args {
    /// The flags every host example takes.
    pub server: ServerArgs,
    /// The account's user name.
    pub user: String,
    /// The account's password, from `--password` or [`PASSWORD_ENV`];
    /// `None` for the demo password (loopback only).
    pub password: Option<Password>,
    /// The idle timeout, if not the default 30 minutes.
    pub idle_timeout: Option<sesh::Duration>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Where the password came from.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `--password` (visible to every local user, e.g. in `ps`).
    Flag(String),
    /// [`PASSWORD_ENV`].
    Env(String),
}

impl Password {
    /// The password.
    pub fn as_str(&self) -> &str {
        match self {
            Password::Flag(p) | Password::Env(p) => p,
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Password::Flag(_) => "Flag(<redacted>)",
            Password::Env(_) => "Env(<redacted>)",
        })
    }
}

/// Parses the command line (`args`, with the program name first): the flags
/// win over [`SECRET_ENV`] and [`PASSWORD_ENV`].
pub fn try_parse_from<I, T>(args: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let from_env = matches.value_source("password") == Some(ValueSource::EnvVariable);
    let cli = Cli::from_arg_matches(&matches)?;
    Ok(Args {
        server: cli.session.with_addr(cli.addr),
        user: cli.user,
        password: cli.password.map(|p| {
            if from_env {
                Password::Env(p)
            } else {
                Password::Flag(p)
            }
        }),
        idle_timeout: cli.idle_timeout.map(sesh::Duration::from_secs),
    })
}

/// Parses this process's command line; prints `--help` or a usage error
/// and exits (with 2 for an error) as clap does.
pub fn parse() -> Args {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

impl Args {
    /// The server options: the session options of [`ServerArgs::into_options`]
    /// (which logs a warning for every weakened default), the account (its
    /// password hashed with Argon2id) and the idle timeout.
    ///
    /// Without a password: on a loopback address the demo password
    /// [`DEFAULT_PASSWORD`], with a warning; anywhere else an error.
    pub fn into_options(self) -> Result<Options, String> {
        let addr = self.server.addr;
        let password = match &self.password {
            Some(given) => {
                if let Password::Flag(_) = given {
                    tracing::warn!(
                        "--password is visible to every user of this machine (ps, /proc): \
                         prefer {PASSWORD_ENV}"
                    );
                }
                if given.as_str() == DEFAULT_PASSWORD {
                    tracing::warn!(user = %self.user, "the password is the demo password `{DEFAULT_PASSWORD}`");
                }
                given.as_str()
            }
            None if addr.ip().is_loopback() => {
                tracing::warn!(
                    user = %self.user,
                    %addr,
                    "no password given: the demo password `{DEFAULT_PASSWORD}` on loopback only \
                     (set {PASSWORD_ENV} for anything else)"
                );
                DEFAULT_PASSWORD
            }
            None => {
                return Err(format!(
                    "refusing to listen on {addr} with the demo password `{DEFAULT_PASSWORD}`: \
                     set {PASSWORD_ENV} (or --password), or listen on a loopback address"
                ));
            }
        };
        let credentials =
            Credentials::new(self.user.clone(), password).map_err(|e| e.to_string())?;
        let session = self.server.into_options()?;
        Ok(Options {
            secret: session.secret,
            secure_cookies: session.secure_cookies,
            credentials,
            store: session.store,
            max_sessions: session.max_sessions,
            idle_timeout: self.idle_timeout,
        })
    }
}

impl ExampleArgs for Args {
    type Options = Options;

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn into_options(self) -> Result<Options, String> {
        Args::into_options(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::StoreSpec;

    /// The flags, with the environment's secret and password (if any) cleared.
    fn run(args: &[&str]) -> Result<Args, clap::Error> {
        let mut a = try_parse_from(std::iter::once("login").chain(args.iter().copied()))?;
        if !args.contains(&"--secret") {
            a.server.secret = None;
        }
        if matches!(a.password, Some(Password::Env(_))) {
            a.password = None;
        }
        Ok(a)
    }

    fn with_secret(args: &[&str]) -> Args {
        let mut a = run(args).unwrap();
        a.server.secret = Some(SECRET.to_owned());
        a
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let args = run(&[]).unwrap();
        assert_eq!(args.server.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(
            (args.user.as_str(), args.password.as_ref()),
            ("admin", None)
        );
        assert_eq!(args.idle_timeout, None);
        assert_eq!(
            args.server.store,
            StoreSpec::Redb("./sesh-sessions.redb".into())
        );
        // Not the default file: it would land in the crate's directory.
        let options = run(&["--store", "memory"]).unwrap().into_options().unwrap();
        assert!(!options.secure_cookies, "loopback: plain-HTTP demo");
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
        // Loopback without a password: the demo account.
        assert!(options.credentials.check("admin", "admin"));
    }

    #[test]
    fn help_lists_every_flag_and_variable() {
        let help = Cli::command().render_long_help().to_string();
        for text in [
            "--addr <IP:PORT>",
            "[default: 127.0.0.1:3001]",
            "--user <NAME>",
            "--password <PASS>",
            "[env: SESH_LOGIN_PASSWORD",
            // e2e/lib/targets.js finds the flag with /(--idle(?:-timeout)?)[ =]<([^>]+)>/.
            "--idle-timeout <SECS>",
            "--store <STORE>",
            "[env: SESH_SECRET",
            "RUST_LOG",
        ] {
            assert!(help.contains(text), "{text} missing from:\n{help}");
        }
    }

    #[test]
    fn flags() {
        let args = with_secret(&[
            "--addr=0.0.0.0:80",
            "--user",
            "root",
            "--password=hunter2",
            "--idle-timeout",
            "60",
        ]);
        assert_eq!(args.password, Some(Password::Flag("hunter2".into())));
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret, SECRET.as_bytes());
        assert!(options.credentials.check("root", "hunter2"));
        assert!(!options.credentials.check("admin", "admin"));
        assert!(!options.credentials.check("root", "admin"));
        assert_eq!(options.idle_timeout, Some(sesh::Duration::from_secs(60)));
        let a = with_secret(&["--store=memory", "--secure-cookies"]);
        let options = a.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.store, StoreSpec::Memory);
    }

    #[test]
    fn off_loopback_a_password_is_required() {
        for addr in ["0.0.0.0:80", "[::]:80", "192.0.2.1:3001"] {
            let err = with_secret(&["--addr", addr, "--store=memory"])
                .into_options()
                .unwrap_err();
            assert!(
                err.contains("refusing") && err.contains(PASSWORD_ENV),
                "{addr}: {err}"
            );
        }
        // A given password lets it start (the environment's: tests/stores.rs).
        let mut args = with_secret(&["--addr=0.0.0.0:80", "--store=memory"]);
        args.password = Some(Password::Env("s3cret".into()));
        let options = args.into_options().unwrap();
        assert!(options.credentials.check("admin", "s3cret"));
        assert!(!options.credentials.check("admin", "admin"));
        // On any loopback address the demo account stays.
        for addr in ["127.0.0.1:0", "127.1.2.3:0", "[::1]:0"] {
            let options = run(&["--addr", addr, "--store=memory"])
                .unwrap()
                .into_options()
                .unwrap();
            assert!(options.credentials.check("admin", "admin"), "{addr}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        // The shared checks (see sesh_example_support::cli) reach login's options.
        let short = run(&["--secret", "short"]).unwrap();
        assert!(short.into_options().is_err());
        let redis = run(&["--store", "redis://127.0.0.1:6379/0"]).unwrap();
        assert!(redis.into_options().is_err(), "Redis needs a given secret");
        for bad in [
            &["--password="][..],
            &["--user="],
            &["--user"],
            &["--secure-cookies", "--insecure-cookies"],
            &["--nope"],
        ] {
            let err = run(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
        for bad in ["0", "-1", "1.5", "soon"] {
            let err = run(&["--idle-timeout", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
            assert!(err.to_string().contains("--idle-timeout"), "{bad}: {err}");
        }
        let err = run(&["--addr", "localhost"]).unwrap_err();
        assert!(err.to_string().contains("e.g. 127.0.0.1:3001"), "{err}");
        assert_eq!(run(&["--help"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn debug_hides_secrets() {
        let a = run(&["--secret", SECRET, "--password", "hunter2"]).unwrap();
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
        let options = a.into_options().unwrap();
        let shown = format!("{options:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
