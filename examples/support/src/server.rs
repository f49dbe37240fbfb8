//! The start-up every host example binary shares ([`run`]): logging, the
//! store, the listener, and a graceful stop at Ctrl-C.

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;

use sesh_tokio::SessionLayer;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::cli::{ServerArgs, SessionOptions};

/// An example's parsed command line, as [`run`] needs it.
pub trait ExampleArgs {
    /// The options its server runs with.
    type Options;

    /// Where to listen.
    fn addr(&self) -> SocketAddr;

    /// The server options; an error is a usage error (exit code 2).
    fn into_options(self) -> Result<Self::Options, String>;
}

impl ExampleArgs for ServerArgs {
    type Options = SessionOptions;

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn into_options(self) -> Result<SessionOptions, String> {
        ServerArgs::into_options(self)
    }
}

/// Runs an example binary called `name` with its parsed command line
/// `args` (clap already printed `--help` or a usage error and exited with
/// 2): sets up logging (`RUST_LOG`, default `info`, on stderr), opens the
/// session layer with `open_layer` before taking the port (so that a
/// database another server holds fails first), prints
/// `<name> listening on http://ADDR/` and serves with `serve` (which should
/// stop at [`shutdown_signal`]).
///
/// Exits with 2 when the options are refused (a usage error), 1 when the
/// store, the port or the server fails.
pub async fn run<A: ExampleArgs>(
    name: &str,
    args: A,
    open_layer: impl AsyncFnOnce(&A::Options) -> io::Result<SessionLayer>,
    serve: impl AsyncFnOnce(TcpListener, SessionLayer, A::Options) -> io::Result<()>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let addr = args.addr();
    let options = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };

    // The store first: a database another server holds fails before the port is taken.
    let layer = match open_layer(&options).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("{name} listening on http://{bound}/"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    if let Err(e) = serve(listener, layer, options).await {
        eprintln!("{name}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Completes at Ctrl-C (never, if Ctrl-C cannot be watched).
pub async fn shutdown_signal() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot watch for Ctrl-C");
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
}
