//! The HTTP-level suite against sesh-tokio with the memory store, over real
//! loopback TCP: one test per case of `sesh_tests::http::cases`.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::axum_probe::TokioServer;
use sesh_tokio::MemoryStore;

async fn memory_server(spec: ServerSpec) -> TokioServer<MemoryStore> {
    let store = spec
        .max_sessions
        .map_or_else(MemoryStore::default, MemoryStore::new);
    TokioServer::start(store, spec)
        .await
        .expect("the probe server starts")
}

sesh_tests::session_tests!(memory_server);

/// sesh-tokio with the memory store only: a store full of protected
/// sessions answers 503, as `StoreError::Full` and `SessionError::status`
/// document, and sends no cookie.
#[tokio::test]
async fn full_store_answers_503() {
    use sesh_tests::http::TestServer;
    use sesh_tests::http::client::Request;

    let server = TokioServer::start(MemoryStore::new(1), ServerSpec::default())
        .await
        .expect("the probe server starts");
    let login = Request::post("/login?user=alice")
        .send(server.addr())
        .await
        .expect("login");
    assert_eq!(login.status, 200, "login fills the store's one slot");
    let resp = Request::get("/count")
        .send(server.addr())
        .await
        .expect("count");
    assert_eq!(
        resp.status,
        503,
        "a store full of protected sessions: {}",
        resp.text()
    );
    assert!(resp.set_cookies().is_empty(), "no cookie for a full store");
    assert_eq!(server.stored_sessions().await.expect("occupancy"), 1);
    server.stop().await;
}
