//! The HTTP-level suite against sesh-tokio with the PostgreSQL store: a
//! throwaway PostgreSQL (initdb into a temporary directory, a free loopback
//! port), shared by the cases that run together, and a table per case.
//!
//! As with Redis, the cases that move a paused tokio clock are skipped
//! (`Capability::MovableClock`): on a paused runtime tokio jumps the clock
//! to the store's timeout whenever it waits on the socket. Expiry is
//! covered by the store contract (`tests/store_contract_postgres.rs`),
//! which drives the store with explicit instants.
#![allow(missing_docs, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use sesh_tests::http::axum_probe::TokioServer;
use sesh_tests::http::postgres_server::PostgresServer;
use sesh_tests::http::{ServerError, ServerSpec, TestServer};
use sesh_tokio::store::{PostgresConfig, PostgresStore, StoreKey};

/// The probe server on a table of its own, and the server it needs.
struct WithPostgres {
    app: TokioServer<PostgresStore>,
    _postgres: Arc<PostgresServer>,
}

async fn postgres_server(spec: ServerSpec) -> WithPostgres {
    let postgres = PostgresServer::shared().expect("postgres starts");
    let mut config = PostgresConfig::new(postgres.url()).with_table(PostgresServer::table("http"));
    if let Some(max) = spec.max_sessions {
        config = config.with_max_sessions(max);
    }
    let store = PostgresStore::connect(config, StoreKey::new(&[5; 32]).expect("a store key"))
        .await
        .expect("a PostgreSQL store");
    let app = TokioServer::start(store, spec)
        .await
        .expect("the probe server starts");
    WithPostgres {
        app,
        _postgres: postgres,
    }
}

impl TestServer for WithPostgres {
    fn addr(&self) -> SocketAddr {
        self.app.addr()
    }

    async fn stored_sessions(&self) -> Result<usize, ServerError> {
        self.app.stored_sessions().await
    }

    fn set_store_failing(&self, failing: bool) {
        self.app.set_store_failing(failing);
    }

    fn fail_store_call(&self, nth: usize) {
        self.app.fail_store_call(nth);
    }

    async fn advance_clock(&self, by: core::time::Duration) {
        self.app.advance_clock(by).await;
    }

    async fn restart(&mut self, spec: ServerSpec) -> Result<(), ServerError> {
        self.app.restart(spec).await
    }

    async fn stop(self) {
        self.app.stop().await;
    }
}

// The cases that move a paused clock are skipped here: see the file's docs.
sesh_tests::session_tests!(postgres_server; lacks: [MovableClock]);
