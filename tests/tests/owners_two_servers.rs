//! Sessions with an owner (issue 16) across two servers that share one
//! store: a revocation on one server signs the session out on the other at
//! its next request. The suite's probe app on real TCP, over a real
//! redis-server and a throwaway PostgreSQL.
#![allow(missing_docs, clippy::expect_used, clippy::indexing_slicing)]

use sesh_tests::http::axum_probe::TokioServer;
use sesh_tests::http::postgres_server::PostgresServer;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tests::http::{ServerSpec, TestServer, owner_cases};
use sesh_tokio::SessionStore;
use sesh_tokio::store::{PostgresConfig, PostgresStore, RedisConfig, RedisStore, StoreKey};

fn store_key() -> StoreKey {
    StoreKey::new(&[5; 32]).expect("a store key")
}

async fn probe(store: impl SessionStore) -> TokioServer<impl SessionStore> {
    TokioServer::start(store, ServerSpec::default())
        .await
        .expect("the probe server starts")
}

#[tokio::test]
async fn on_one_redis() {
    let redis = RedisServer::start().expect("redis-server starts");
    let connect = || RedisStore::connect(RedisConfig::new(redis.url()), store_key());
    let a = probe(connect().await.expect("a Redis store")).await;
    let b = probe(connect().await.expect("a Redis store")).await;
    owner_cases::a_revocation_on_one_server_signs_out_on_the_other(&a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn on_one_postgres_table() {
    let postgres = PostgresServer::shared().expect("postgres starts");
    let table = PostgresServer::table("owners");
    let connect = || {
        let config = PostgresConfig::new(postgres.url()).with_table(&table);
        PostgresStore::connect(config, store_key())
    };
    let a = probe(connect().await.expect("a PostgreSQL store")).await;
    let b = probe(connect().await.expect("a PostgreSQL store")).await;
    owner_cases::a_revocation_on_one_server_signs_out_on_the_other(&a, &b).await;
    a.stop().await;
    b.stop().await;
}
