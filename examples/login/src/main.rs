//! `cargo run -p login -- [--addr 127.0.0.1:3001] [--store redb:PATH|memory|redis://…|postgres://…] [--user admin --password …] [--secret …]`
//!
//! Then open http://127.0.0.1:3001/ in a browser. With the default redb
//! store, a restart keeps you signed in.

use std::process::ExitCode;

use sesh_example_support::server::{self, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    server::run(
        "login",
        login::cli::parse(),
        login::open_layer,
        async |listener, layer, options| {
            login::serve_layer(listener, layer, options.credentials, shutdown_signal()).await
        },
    )
    .await
}
