//! `cargo run -p login -- [--addr 127.0.0.1:3001] [--store redb:PATH|memory|redis://…] [--user admin --password …] [--secret …]`
//!
//! Then open http://127.0.0.1:3001/ in a browser. With the default redb
//! store, a restart keeps you signed in.

use std::io::IsTerminal;
use std::process::ExitCode;

use login::cli::{self, Command, SECRET_ENV, USAGE};
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
            eprintln!("login: {SECRET_ENV} is not valid UTF-8");
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
            eprintln!("login: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = args.addr;
    let options = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("login: {e}");
            return ExitCode::from(2);
        }
    };

    // The store first: a database another server holds fails before the port is taken.
    let layer = match login::open_layer(&options).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("login: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("login: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("login listening on http://{bound}/"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    if let Err(e) =
        login::serve_layer(listener, layer, options.credentials, shutdown_signal()).await
    {
        eprintln!("login: {e}");
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
