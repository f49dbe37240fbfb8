//! Command-line flags: counter has only those every host example takes
//! ([`sesh_example_support::cli`]), and how they become [`Options`](crate::Options).

use std::net::SocketAddr;

use clap::Parser;
use sesh_example_support::cli::{self as shared, AFTER_HELP, ServerArgs, SessionFlags};

use crate::DEFAULT_ADDR;

pub use sesh_example_support::cli::{CookieSecurity, MIN_SECRET_LEN, SECRET_ENV};

/// counter: express-session's visit counter on sesh-tokio
#[derive(Parser, Debug)]
#[command(name = "counter", after_help = AFTER_HELP, args_override_self = true)]
pub struct Cli {
    /// Address to listen on
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR, value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// The flags every host example takes.
    #[command(flatten)]
    pub session: SessionFlags,
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    shared::parse_addr(value, DEFAULT_ADDR)
}

/// The parsed flags; [`ServerArgs::into_options`] makes them [`Options`](crate::Options).
pub type Args = ServerArgs;

impl From<Cli> for Args {
    fn from(cli: Cli) -> Args {
        cli.session.with_addr(cli.addr)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use clap::CommandFactory;

    use super::*;
    use crate::StoreSpec;

    fn run(args: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("counter").chain(args.iter().copied())).map(Args::from)
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn listens_on_port_3000_by_default() {
        let args = run(&[]).unwrap();
        assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        assert_eq!(DEFAULT_ADDR, "127.0.0.1:3000");
        let err = run(&["--addr", "localhost"]).unwrap_err();
        assert!(err.to_string().contains("e.g. 127.0.0.1:3000"), "{err}");
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("[default: 127.0.0.1:3000]"), "{help}");
        assert!(help.contains("--store <STORE>"), "{help}");
    }

    #[test]
    fn takes_the_shared_flags_and_no_others() {
        let mut args = run(&["--store=memory", "--secure-cookies"]).unwrap();
        assert_eq!(args.store, StoreSpec::Memory);
        assert_eq!(args.cookies, CookieSecurity::Secure);
        args.secret = None;
        let options = args.into_options().unwrap();
        assert!(options.secure_cookies);
        assert_eq!(options.secret.len(), MIN_SECRET_LEN);
        for flag in ["--user", "--password=x", "--idle-timeout=60", "--nope"] {
            let err = run(&[flag]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{flag}");
        }
        assert_eq!(run(&["-h"]).unwrap_err().exit_code(), 0);
    }
}
