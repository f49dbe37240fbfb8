//! The request-side `Session` on the std embassy-time driver: reading in
//! place, and what a session past its deadline (not yet swept) reports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::Timer;
use futures_executor::block_on;
use sesh::cookie::CookieConfig;
use sesh::signing::{Key, KeyRing};
use sesh::{Duration, ExpiryPolicy};
use sesh_embassy::{Session, Sessions, now};
use sesh_tests::rng::TestRng;

#[derive(Debug, Default, Clone, PartialEq)]
struct Data {
    visits: u32,
    user: heapless::String<32>,
}

type Table = Sessions<NoopRawMutex, Data, TestRng, 4>;

async fn leaked_sessions(policy: ExpiryPolicy) -> &'static Table {
    let sessions: &'static Table =
        Box::leak(Box::new(Sessions::new(CookieConfig::new("sid"), policy)));
    sessions
        .init(TestRng(7), KeyRing::new(Key::new(&[1; 32]).unwrap()))
        .await
        .unwrap();
    sessions
}

#[test]
fn read_sees_the_data_in_place_and_nothing_once_expired() {
    block_on(async {
        let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_millis(50));
        let sessions = leaked_sessions(policy).await;
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        assert_eq!(session.read(|d| d.visits).await, None, "no session yet");
        assert_eq!(session.expires_at().await, None);
        session.update(|d| d.visits = 7).await.unwrap();
        assert_eq!(session.read(|d| d.visits).await, Some(7));
        assert_eq!(session.get().await.map(|d| d.visits), Some(7));
        let expires_at = session.expires_at().await.unwrap();
        assert!(expires_at > now(), "{expires_at:?}");

        Timer::after_millis(80).await;
        assert_eq!(
            sessions.occupancy().await.0,
            1,
            "no sweeper ran: the record is still in the table"
        );
        assert_eq!(session.expires_at().await, None, "past its deadline");
        assert_eq!(session.read(|d| d.visits).await, None);
        assert_eq!(session.get().await, None);
    });
}

/// A data type with no `Default`: `replace` starts and overwrites sessions
/// of it (`update` needs `Default` to start one).
#[derive(Debug, Clone, PartialEq)]
struct Pin(u32);

#[test]
fn replace_starts_and_overwrites_a_session() {
    block_on(async {
        let sessions: &'static Sessions<NoopRawMutex, Pin, TestRng, 2> = Box::leak(Box::new(
            Sessions::new(CookieConfig::new("sid"), ExpiryPolicy::new()),
        ));
        sessions
            .init(TestRng(9), KeyRing::new(Key::new(&[1; 32]).unwrap()))
            .await
            .unwrap();
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.replace(Pin(1)).await.unwrap();
        assert_eq!(session.get().await, Some(Pin(1)));
        session.replace(Pin(2)).await.unwrap();
        assert_eq!(session.get().await, Some(Pin(2)));
        assert_eq!(sessions.occupancy().await.0, 1, "the same session");
    });
}
