//! Command-line flags: those every host example takes
//! ([`sesh_example_support::cli`]) and login's own (`--user`, `--password`,
//! `--idle-timeout`), and how they become [`Options`].

use std::net::SocketAddr;

use sesh_example_support::cli::{self as shared, ServerArgs};
use sesh_example_support::server::ExampleArgs;

use crate::{Credentials, DEFAULT_ADDR, Options};

pub use sesh_example_support::cli::{CookieSecurity, MIN_SECRET_LEN, SECRET_ENV};

/// The demo account unless `--user`/`--password` say otherwise.
pub const DEFAULT_USER: &str = "admin";

/// The demo password unless `--password` says otherwise.
pub const DEFAULT_PASSWORD: &str = "admin";

/// What `--help` prints.
pub const USAGE: &str = concat!(
    "\
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
",
    sesh_example_support::common_usage!()
);

/// What the command line asks for.
pub type Command = shared::Command<Args>;

/// The parsed flags.
#[derive(Clone, PartialEq, Eq)]
pub struct Args {
    /// The flags every host example takes.
    pub server: ServerArgs,
    /// The demo account's user name.
    pub user: String,
    /// The demo account's password.
    pub password: String,
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

/// Parses the arguments (without the program name). `env_secret` is the
/// value of [`SECRET_ENV`]; `--secret` wins over it.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
) -> Result<Command, String> {
    let mut user = DEFAULT_USER.to_owned();
    let mut password = DEFAULT_PASSWORD.to_owned();
    let mut idle_timeout = None;
    let command = shared::parse(args, env_secret, DEFAULT_ADDR, |flag| {
        match flag.name() {
            "--user" => user = flag.value()?,
            "--password" => password = flag.value()?,
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
    if user.is_empty() || password.is_empty() {
        return Err("--user and --password must not be empty".into());
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
    /// (which logs a warning for every weakened default), the demo account
    /// (with a warning for the default password) and the idle timeout.
    pub fn into_options(self) -> Result<Options, String> {
        let session = self.server.into_options()?;
        if self.password == DEFAULT_PASSWORD {
            tracing::warn!(
                user = %self.user,
                "the demo password is the default `{DEFAULT_PASSWORD}`: set --password"
            );
        }
        Ok(Options {
            secret: session.secret,
            secure_cookies: session.secure_cookies,
            credentials: Credentials::new(self.user, &self.password),
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
        assert_eq!(args.server.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(
            (args.user.as_str(), args.password.as_str()),
            ("admin", "admin")
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
        assert!(options.credentials.check("admin", "admin"));
        assert!(USAGE.contains("--store <STORE>"));
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
        assert_eq!(options.idle_timeout, Some(sesh::Duration::from_secs(60)));
        let a = run(&["--store=memory", "--secure-cookies"], Some(SECRET)).unwrap();
        let options = a.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.store, StoreSpec::Memory);
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
    }
}
