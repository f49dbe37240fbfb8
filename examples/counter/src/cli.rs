//! Command-line flags: counter has only those every host example takes
//! ([`sesh_example_support::cli`]), and how they become [`Options`](crate::Options).

use sesh_example_support::cli::{self as shared, ServerArgs};

use crate::DEFAULT_ADDR;

pub use sesh_example_support::cli::{CookieSecurity, MIN_SECRET_LEN, SECRET_ENV};

/// What `--help` prints.
pub const USAGE: &str = concat!(
    "\
counter: express-session's visit counter on sesh-tokio

USAGE:
    counter [OPTIONS]

OPTIONS:
    --addr <IP:PORT>      Address to listen on [default: 127.0.0.1:3000]
",
    sesh_example_support::common_usage!()
);

/// The parsed flags; [`ServerArgs::into_options`] makes them [`Options`](crate::Options).
pub type Args = ServerArgs;

/// What the command line asks for.
pub type Command = shared::Command<Args>;

/// Parses the arguments (without the program name). `env_secret` is the
/// value of [`SECRET_ENV`]; `--secret` wins over it.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_secret: Option<String>,
) -> Result<Command, String> {
    shared::parse(args, env_secret, DEFAULT_ADDR, |_| Ok(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::StoreSpec;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(|s| s.to_string()), None)? {
            Command::Run(a) => Ok(a),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn listens_on_port_3000_by_default() {
        let args = run(&[]).unwrap();
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(DEFAULT_ADDR, "127.0.0.1:3000");
        let err = run(&["--addr", "localhost"]).unwrap_err();
        assert!(err.contains("e.g. 127.0.0.1:3000"), "{err}");
        assert!(USAGE.contains("[default: 127.0.0.1:3000]"));
        assert!(USAGE.contains("--store <STORE>"));
    }

    #[test]
    fn takes_the_shared_flags_and_no_others() {
        let args = run(&["--store=memory", "--secure-cookies"]).unwrap();
        assert_eq!(args.store, StoreSpec::Memory);
        assert_eq!(args.cookies, CookieSecurity::Secure);
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
        for flag in ["--user", "--password=x", "--idle-timeout=60", "--nope"] {
            assert!(run(&[flag]).is_err(), "{flag}");
        }
        assert_eq!(run(&["-h"]), Err("help".into()));
    }
}
