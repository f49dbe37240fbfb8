//! Command-line flags: those every host example takes
//! ([`sesh_example_support::cli`]) and login's own (`--user`, `--password`
//! or [`PASSWORD_ENV`], `--idle-timeout`), and how they become [`Options`].
//!
//! Without a password the server starts only on a loopback address, with
//! the demo account `admin`/`admin` and a warning; anywhere else it refuses.

use std::net::SocketAddr;

use sesh_example_support::cli::{self as shared, ServerArgs};
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

/// What `--help` prints.
pub const USAGE: &str = concat!(
    "\
login: a firmware-style admin page on sesh-tokio (login, CSRF, logout)

USAGE:
    login [OPTIONS]

OPTIONS:
    --addr <IP:PORT>      Address to listen on [default: 127.0.0.1:3001]
    --user <NAME>         The account's user name [default: admin]
    --password <PASS>     The account's password (prefer SESH_LOGIN_PASSWORD:
                          arguments are visible to every user of the
                          machine). Without either, the server starts only on
                          a loopback address, with the demo password `admin`
    --idle-timeout <SECS> ⚠️ Sign sessions out after this many idle seconds
                          [default: 1800]; longer leaves an unattended browser
                          signed in for longer
",
    sesh_example_support::common_usage!(),
    "    SESH_LOGIN_PASSWORD   The account's password (see --password)
"
);

/// What the command line asks for.
pub type Command = shared::Command<Args>;

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

/// The value of [`PASSWORD_ENV`], if set; an error if it is not UTF-8.
pub fn env_password() -> Result<Option<String>, String> {
    match std::env::var(PASSWORD_ENV) {
        Ok(p) => Ok(Some(p)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{PASSWORD_ENV} is not valid UTF-8")),
    }
}

/// Parses the arguments (without the program name). `env_secret` is the
/// value of [`SECRET_ENV`] and `env_password` that of [`PASSWORD_ENV`];
/// `--secret` and `--password` win over them.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
    env_password: Option<String>,
) -> Result<Command, String> {
    let mut user = DEFAULT_USER.to_owned();
    let mut password = env_password.map(Password::Env);
    let mut idle_timeout = None;
    let command = shared::parse(args, env_secret, DEFAULT_ADDR, |flag| {
        match flag.name() {
            "--user" => user = flag.value()?,
            "--password" => password = Some(Password::Flag(flag.value()?)),
            "--idle-timeout" => {
                let value = flag.value()?;
                let secs: u64 = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("--idle-timeout `{value}` is not a whole number of seconds above 0")
                })?;
                idle_timeout = Some(sesh::Duration::from_secs(secs));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let server = match command {
        shared::Command::Run(server) => server,
        shared::Command::Help => return Ok(Command::Help),
    };
    if user.is_empty() || password.as_ref().is_some_and(|p| p.as_str().is_empty()) {
        return Err(format!(
            "--user and --password (or {PASSWORD_ENV}) must not be empty"
        ));
    }
    Ok(Command::Run(Args {
        server,
        user,
        password,
        idle_timeout,
    }))
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

    fn run_env(args: &[&str], env: Option<&str>, password: Option<&str>) -> Result<Args, String> {
        let command = parse(
            args.iter().map(|s| s.to_string()),
            env.map(str::to_owned),
            password.map(str::to_owned),
        )?;
        match command {
            Command::Run(a) => Ok(a),
            Command::Help => Err("help".into()),
        }
    }

    fn run(args: &[&str], env: Option<&str>) -> Result<Args, String> {
        run_env(args, env, None)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults() {
        let args = run(&[], None).unwrap();
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
        let options = run(&["--store", "memory"], None)
            .unwrap()
            .into_options()
            .unwrap();
        assert!(!options.secure_cookies, "loopback: plain-HTTP demo");
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
        // Loopback without a password: the demo account.
        assert!(options.credentials.check("admin", "admin"));
        assert!(USAGE.contains("--store <STORE>"));
        assert!(USAGE.contains(PASSWORD_ENV));
    }

    #[test]
    fn flags() {
        let args = run(
            &[
                "--addr=0.0.0.0:80",
                "--user",
                "root",
                "--password=hunter2",
                "--idle-timeout",
                "60",
            ],
            Some(SECRET),
        )
        .unwrap();
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret, SECRET.as_bytes());
        assert!(options.credentials.check("root", "hunter2"));
        assert!(!options.credentials.check("admin", "admin"));
        assert!(!options.credentials.check("root", "admin"));
        assert_eq!(options.idle_timeout, Some(sesh::Duration::from_secs(60)));
        let a = run(&["--store=memory", "--secure-cookies"], Some(SECRET)).unwrap();
        let options = a.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.store, StoreSpec::Memory);
    }

    #[test]
    fn off_loopback_a_password_is_required() {
        for addr in ["0.0.0.0:80", "[::]:80", "192.0.2.1:3001"] {
            let err = run(&["--addr", addr, "--store=memory"], Some(SECRET))
                .unwrap()
                .into_options()
                .unwrap_err();
            assert!(
                err.contains("refusing") && err.contains(PASSWORD_ENV),
                "{addr}: {err}"
            );
        }
        // The environment's password, or the flag's, lets it start.
        let options = run_env(
            &["--addr=0.0.0.0:80", "--store=memory"],
            Some(SECRET),
            Some("s3cret"),
        )
        .unwrap()
        .into_options()
        .unwrap();
        assert!(options.credentials.check("admin", "s3cret"));
        assert!(!options.credentials.check("admin", "admin"));
        // On any loopback address the demo account stays.
        for addr in ["127.0.0.1:0", "127.1.2.3:0", "[::1]:0"] {
            let options = run(&["--addr", addr, "--store=memory"], None)
                .unwrap()
                .into_options()
                .unwrap();
            assert!(options.credentials.check("admin", "admin"), "{addr}");
        }
    }

    #[test]
    fn the_flag_password_wins_over_the_environment() {
        let a = run_env(&["--password", "flag"], None, Some("env")).unwrap();
        assert_eq!(a.password, Some(Password::Flag("flag".into())));
        let a = run_env(&[], None, Some("env")).unwrap();
        assert_eq!(a.password, Some(Password::Env("env".into())));
        assert!(run_env(&[], None, Some("")).is_err(), "an empty password");
    }

    #[test]
    fn refuses_bad_input() {
        // The shared checks (see sesh_example_support::cli) reach login's options.
        assert!(
            run(&["--secret", "short"], None)
                .unwrap()
                .into_options()
                .is_err()
        );
        let redis = run(&["--store", "redis://127.0.0.1:6379/0"], None).unwrap();
        assert!(redis.into_options().is_err(), "Redis needs a given secret");
        assert!(run(&["--password="], None).is_err());
        assert!(run(&["--user"], None).is_err());
        for bad in ["0", "-1", "1.5", "soon"] {
            assert!(run(&["--idle-timeout", bad], None).is_err(), "{bad}");
        }
        assert!(run(&["--secure-cookies", "--insecure-cookies"], None).is_err());
        let err = run(&["--addr", "localhost"], None).unwrap_err();
        assert!(err.contains("e.g. 127.0.0.1:3001"), "{err}");
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
        let options = a.into_options().unwrap();
        let shown = format!("{options:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
