//! `cargo run -p counter -- [--addr 127.0.0.1:3000] [--store redb:PATH|memory|redis://…|postgres://…] [--secret …] [--insecure-cookies]`
//!
//! Then `curl -c jar -b jar http://127.0.0.1:3000/` counts 1, 2, 3, … and,
//! with the default redb store, goes on counting after a restart.

use std::process::ExitCode;

use clap::Parser;
use counter::cli::{Args, Cli};
use sesh_example_support::server::{self, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    server::run(
        "counter",
        Args::from(Cli::parse()),
        counter::open_layer,
        async |listener, layer, _options| {
            counter::serve_layer(listener, layer, shutdown_signal()).await
        },
    )
    .await
}
