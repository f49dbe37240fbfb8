//! `cargo run -p counter -- [--addr 127.0.0.1:3000] [--store redb:PATH|memory|redis://…] [--secret …] [--insecure-cookies]`
//!
//! Then `curl -c jar -b jar http://127.0.0.1:3000/` counts 1, 2, 3, … and,
//! with the default redb store, goes on counting after a restart.

use std::io::IsTerminal;
use std::process::ExitCode;

use counter::cli::{self, Command, SECRET_ENV, USAGE};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let env_secret = match std::env::var(SECRET_ENV) {
        Ok(s) => Some(s),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("counter: {SECRET_ENV} is not valid UTF-8");
            return ExitCode::from(2);
        }
    };
    let args = match cli::parse(std::env::args().skip(1), env_secret) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("counter: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = args.addr;
    let options = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("counter: {e}");
            return ExitCode::from(2);
        }
    };

    // The store first: a database another server holds fails before the port is taken.
    let layer = match counter::open_layer(&options).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("counter: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("counter: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("counter listening on http://{bound}/"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    if let Err(e) = counter::serve_layer(listener, layer, shutdown_signal()).await {
        eprintln!("counter: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Completes at Ctrl-C (never, if Ctrl-C cannot be watched).
async fn shutdown_signal() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot watch for Ctrl-C");
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
}
