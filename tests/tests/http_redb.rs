//! The HTTP-level suite against sesh-tokio with the redb store: a real
//! database file per case.
#![allow(missing_docs, clippy::expect_used)]

use sesh_tests::http::ServerSpec;
use sesh_tests::http::axum_probe::TokioServer;
use sesh_tokio::store::{RedbStore, StoreKey};

async fn redb_server(spec: ServerSpec) -> TokioServer<RedbStore> {
    // The directory lives as long as the test process; each case gets its own.
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    let key = StoreKey::new(&[5; 32]).expect("a store key");
    let mut store = RedbStore::open(dir.join("sessions.redb"), key)
        .await
        .expect("the database opens");
    if let Some(max) = spec.max_sessions {
        store = store.with_max_sessions(max);
    }
    TokioServer::start(store, spec)
        .await
        .expect("the probe server starts")
}

sesh_tests::session_tests!(redb_server);
