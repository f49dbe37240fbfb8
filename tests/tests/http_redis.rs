//! The HTTP-level suite against sesh-tokio with the Redis store: a real
//! redis-server process per case, on a free loopback port.
//!
//! The backend lacks a movable clock (`Capability::MovableClock`), so the
//! cases that move a paused tokio clock are skipped: on a paused runtime
//! tokio jumps the clock to the Redis client's response timeout whenever it
//! waits on the socket, so those cases would test tokio, not sesh. Redis expiry is covered by the store contract
//! (`tests/store_contract.rs`), which drives the store with explicit instants.
//!
//! `mod tls` runs the same suite over `rediss://`, on a redis-server that
//! speaks TLS only (`RedisServer::start_tls`), trusting its CA.
#![allow(missing_docs, clippy::expect_used)]

use std::net::SocketAddr;

use sesh_tests::http::axum_probe::TokioServer;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tests::http::{ServerError, ServerSpec, TestServer};
use sesh_tokio::store::{RedisConfig, RedisStore, StoreKey};

/// The probe server and its own redis-server, stopped together.
struct WithRedis {
    app: TokioServer<RedisStore>,
    _redis: RedisServer,
}

async fn redis_server(spec: ServerSpec) -> WithRedis {
    with_redis(RedisServer::start().expect("redis-server starts"), spec).await
}

/// The probe server on `redis`, trusting its CA if it has one.
async fn with_redis(redis: RedisServer, spec: ServerSpec) -> WithRedis {
    let mut config = RedisConfig::new(redis.url());
    if let Some(ca) = redis.ca_file() {
        config = config.with_ca_file(ca);
    }
    if let Some(max) = spec.max_sessions {
        config = config.with_max_sessions(max);
    }
    let store = RedisStore::connect(config, StoreKey::new(&[5; 32]).expect("a store key"))
        .await
        .expect("a Redis store");
    let app = TokioServer::start(store, spec)
        .await
        .expect("the probe server starts");
    WithRedis { app, _redis: redis }
}

impl TestServer for WithRedis {
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
sesh_tests::session_tests!(redis_server; lacks: [MovableClock]);

/// The suite over `rediss://`.
mod tls {
    use super::*;

    async fn rediss_server(spec: ServerSpec) -> WithRedis {
        let redis = RedisServer::start_tls().expect("a TLS redis-server starts");
        with_redis(redis, spec).await
    }

    sesh_tests::session_tests!(rediss_server; lacks: [MovableClock]);
}
