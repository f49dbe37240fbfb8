//! Sessions with an owner (issue 16) across two servers that share one
//! store: a revocation on one server signs the session out on the other at
//! its next request. The suite's probe app on real TCP, over a real
//! redis-server and a throwaway PostgreSQL.
#![allow(missing_docs, clippy::expect_used, clippy::indexing_slicing)]

use sesh_tests::http::axum_probe::TokioServer;
use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::postgres_server::PostgresServer;
use sesh_tests::http::redis_server::RedisServer;
use sesh_tests::http::{ServerSpec, TestServer};
use sesh_tests::owner_routes::ListedSession;
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

async fn send(server: &impl TestServer, request: Request) -> Response {
    request.send(server.addr()).await.expect("an answer")
}

/// Logs `user` in on `server` from a new device; the cookie pair.
async fn log_in(server: &impl TestServer, user: &str, lifetime: &str) -> (String, String) {
    let target = format!("/login?user={user}&lifetime={lifetime}");
    let response = send(server, Request::post(&target)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let set = response.header("set-cookie").expect("a cookie");
    (set.split(';').next().unwrap_or("").to_owned(), set)
}

async fn who(server: &impl TestServer, cookie: &str) -> u16 {
    send(server, Request::get("/me").cookie(cookie))
        .await
        .status
}

async fn listed(server: &impl TestServer, cookie: &str) -> Vec<ListedSession> {
    let response = send(server, Request::get("/sessions").cookie(cookie)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    text.lines()
        .map(|line| ListedSession::parse(line).expect("a session line"))
        .collect()
}

async fn revoke(server: &impl TestServer, cookie: &str, tag: &ListedSession) -> Response {
    let target = format!("/sessions/revoke?tag={}", tag.tag);
    send(server, Request::post(&target).cookie(cookie)).await
}

/// Alice on two devices, one per server, and bob: revocations on either
/// server hold on the other at once.
async fn a_revocation_on_one_server_signs_out_on_the_other(
    a: &impl TestServer,
    b: &impl TestServer,
) {
    let (laptop, set) = log_in(a, "alice", "remember").await;
    assert!(set.contains("Max-Age=2592000"), "{set}");
    let (phone, _) = log_in(b, "alice", "default").await;
    let (bob, _) = log_in(a, "bob", "default").await;

    // Both servers list both of alice's sessions, each marking the asker.
    let from_phone = listed(b, &phone).await;
    let from_laptop = listed(a, &laptop).await;
    assert_eq!((from_phone.len(), from_laptop.len()), (2, 2));
    let laptop_tag = from_laptop.iter().find(|s| s.current).expect("current");
    assert!(
        from_phone
            .iter()
            .any(|s| !s.current && s.tag == laptop_tag.tag)
    );

    // Bob, on B, cannot end alice's laptop.
    assert_eq!(revoke(b, &bob, laptop_tag).await.status, 404);
    assert_eq!(who(a, &laptop).await, 200);

    // The phone, on server B, ends the laptop: server A signs it out.
    assert_eq!(revoke(b, &phone, laptop_tag).await.status, 200);
    assert_eq!(who(a, &laptop).await, 401);
    assert_eq!(who(a, &phone).await, 200);

    // Sign out everywhere else, on A, ends the phone's other login on B.
    let (tablet, _) = log_in(b, "alice", "browser").await;
    let ended = send(a, Request::post("/sessions/revoke-others").cookie(&phone)).await;
    assert_eq!((ended.status, ended.text().as_str()), (200, "1"));
    assert_eq!(who(b, &tablet).await, 401);
    assert_eq!(listed(b, &phone).await.len(), 1);
    assert_eq!(who(b, &bob).await, 200);
}

#[tokio::test]
async fn on_one_redis() {
    let redis = RedisServer::start().expect("redis-server starts");
    let connect = || RedisStore::connect(RedisConfig::new(redis.url()), store_key());
    let a = probe(connect().await.expect("a Redis store")).await;
    let b = probe(connect().await.expect("a Redis store")).await;
    a_revocation_on_one_server_signs_out_on_the_other(&a, &b).await;
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
    a_revocation_on_one_server_signs_out_on_the_other(&a, &b).await;
    a.stop().await;
    b.stop().await;
}
