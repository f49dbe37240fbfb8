//! The HTTP-level suite against sesh-tokio with the Redis store: a real
//! redis-server process per case, on a free loopback port.
//!
//! The four cases that move a paused tokio clock are not in this list: on a
//! paused runtime tokio jumps the clock to the Redis client's response
//! timeout whenever it waits on the socket, so those cases would test tokio,
//! not sesh. Redis expiry is covered by the store contract
//! (`tests/store_contract.rs`), which drives the store with explicit instants.
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
    let redis = RedisServer::start().expect("redis-server starts");
    let mut config = RedisConfig::new(redis.url());
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

sesh_tests::session_tests!(redis_server;
    routes_are_served,
    counter_counts_with_the_cookie,
    set_cookie_has_the_default_attributes,
    set_cookie_has_the_configured_attributes,
    reading_is_lazy,
    forged_tag_selects_no_session,
    tampered_id_selects_no_session,
    unsigned_id_selects_no_session,
    unknown_signed_id_selects_no_session,
    cookie_headers_are_scanned_strictly,
    cookie_header_abuse_selects_nothing,
    login_regenerates_the_id,
    logout_removes_the_cookie_and_the_session,
    csrf_token_is_bound_to_the_session,
    concurrent_increments_are_not_lost,
    store_error_answers_500,
    key_rotation_resigns_then_retires,
    data_over_the_limit_is_refused,
    a_flood_never_evicts_a_logged_in_session,
    an_anonymous_form_token_stores_nothing,
    an_anonymous_flood_stores_nothing_and_locks_nobody_out,
);
