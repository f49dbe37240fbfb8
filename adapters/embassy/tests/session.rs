//! The request-side `Session` on the std embassy-time driver: reading in
//! place, and what a session past its deadline (not yet swept) reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

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
    let keys = KeyRing::new(Key::new(&[1; 32]).unwrap());
    let sessions = Sessions::new(TestRng(7), keys, CookieConfig::new("sid"), policy);
    Box::leak(Box::new(sessions.unwrap()))
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
        let keys = KeyRing::new(Key::new(&[1; 32]).unwrap());
        let sessions: &'static Sessions<NoopRawMutex, Pin, TestRng, 2> = Box::leak(Box::new(
            Sessions::new(
                TestRng(9),
                keys,
                CookieConfig::new("sid"),
                ExpiryPolicy::new(),
            )
            .unwrap(),
        ));
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.replace(Pin(1)).await.unwrap();
        assert_eq!(session.get().await, Some(Pin(1)));
        session.replace(Pin(2)).await.unwrap();
        assert_eq!(session.get().await, Some(Pin(2)));
        assert_eq!(sessions.occupancy().await.0, 1, "the same session");
    });
}

/// `set_protected` without a live session starts one and marks it. Under a
/// policy that ends a session the moment it starts (a zero idle timeout),
/// there is nothing to mark: it answers `Ok` like `update` does (the
/// response's cookie ends the session), no longer a 500 "not initialised".
#[test]
fn set_protected_starts_a_session_and_survives_a_zero_timeout() {
    block_on(async {
        let sessions = leaked_sessions(ExpiryPolicy::new()).await;
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.set_protected(true).await.unwrap();
        assert!(session.is_protected().await);
        session.set_protected(false).await.unwrap();
        assert!(!session.is_protected().await);
        assert_eq!(sessions.occupancy().await.0, 1, "the same session");

        let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_millis(0));
        let sessions = leaked_sessions(policy).await;
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.set_protected(true).await.unwrap();
        assert!(!session.is_protected().await, "expired as it started");
        assert_eq!(session.get().await, None);
        session.update(|d| d.visits = 1).await.unwrap();
        assert_eq!(
            session.get().await,
            None,
            "update stores a dead session too"
        );
    });
}

/// `update` and `replace` on a session that has just expired start a new
/// session with the change applied (one lookup; the change is never lost
/// and never reported as an error).
#[test]
fn update_and_replace_after_expiry_start_a_new_session() {
    block_on(async {
        let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_millis(50));
        let sessions = leaked_sessions(policy).await;
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.update(|d| d.visits = 1).await.unwrap();
        Timer::after_millis(80).await;
        session.update(|d| d.visits += 1).await.unwrap();
        assert_eq!(
            session.get().await.map(|d| d.visits),
            Some(1),
            "from default"
        );
        Timer::after_millis(80).await;
        let data = Data {
            visits: 9,
            user: heapless::String::new(),
        };
        session.replace(data.clone()).await.unwrap();
        assert_eq!(session.get().await, Some(data));
    });
}

/// A clock that moves only when told: what `Sessions::with_clock` is for.
#[derive(Debug, Default)]
struct StepClock(core::cell::Cell<u64>);

impl sesh_embassy::Clock for &'static StepClock {
    fn now(&self) -> sesh::Instant {
        sesh::Instant::from_millis(self.0.get())
    }
}

/// A ring of three keys (`K = 3`), on a manual clock: a cookie signed two
/// rotations ago still selects its session, which expires exactly at its
/// idle timeout on the injected clock, with no waiting.
#[test]
fn three_keys_and_a_manual_clock() {
    block_on(async {
        let clock: &'static StepClock = Box::leak(Box::default());
        let key = |n: u8| Key::new(&[n; 32]).unwrap();
        let policy = ExpiryPolicy::new().with_idle_timeout(Duration::from_secs(60));
        let old: &'static Sessions<NoopRawMutex, Data, TestRng, 4, 3, &'static StepClock> =
            Box::leak(Box::new(
                Sessions::with_clock(
                    TestRng(11),
                    KeyRing::new(key(1)),
                    CookieConfig::new("sid"),
                    policy,
                    clock,
                )
                .unwrap(),
            ));
        let session = Session::from_cookie_headers(old, core::iter::empty()).await;
        session.update(|d| d.visits = 3).await.unwrap();
        let id = old.lock().await.table().iter().next().map(|(id, _)| id);
        let signed = KeyRing::<3>::new(key(1)).sign(&id.unwrap()).to_string();
        // Two rotations later: the ring holds keys 3, 2 and 1.
        let ring = KeyRing::<3>::new(key(3))
            .with_previous(key(2))
            .unwrap()
            .with_previous(key(1))
            .unwrap();
        let new: &'static Sessions<NoopRawMutex, Data, TestRng, 4, 3, &'static StepClock> =
            Box::leak(Box::new(
                Sessions::with_clock(TestRng(12), ring, CookieConfig::new("sid"), policy, clock)
                    .unwrap(),
            ));
        core::mem::swap(old.lock().await.table(), new.lock().await.table());
        let cookie = format!("sid={signed}");
        let again = Session::from_cookie_headers(new, [cookie.as_bytes()].into_iter()).await;
        assert_eq!(
            again.read(|d| d.visits).await,
            Some(3),
            "the oldest key verifies"
        );
        clock.0.set(59_999);
        assert_eq!(again.read(|d| d.visits).await, Some(3), "alive at 59.999 s");
        let last = Session::from_cookie_headers(new, [cookie.as_bytes()].into_iter()).await;
        clock.0.set(59_999 + 60_000);
        assert_eq!(
            last.read(|d| d.visits).await,
            None,
            "expired on the manual clock"
        );
    });
}

mod owners {
    use super::*;
    use sesh::SessionId;
    use sesh::expiry::Lifetime;
    use sesh::owner::{DisplayTag, Label, UserId};
    use sesh::table::{MetaError, NotFound};
    use sesh_embassy::EmbassyClock;

    /// 8 sessions, each of which may have an owner.
    type Owned = Sessions<NoopRawMutex, Data, TestRng, 8, 2, EmbassyClock, 8>;

    fn owned_sessions() -> &'static Owned {
        let keys = KeyRing::new(Key::new(&[1; 32]).unwrap());
        let sessions = Sessions::new(
            TestRng(3),
            keys,
            CookieConfig::new("sid"),
            ExpiryPolicy::new(),
        );
        Box::leak(Box::new(sessions.unwrap().with_max_sessions_per_user(3)))
    }

    /// The request of the session whose display tag is `tag`.
    async fn as_session(
        sessions: &'static Owned,
        tag: DisplayTag,
    ) -> Session<NoopRawMutex, Data, TestRng, 8, 2, EmbassyClock, 8> {
        let id: SessionId = sessions
            .lock()
            .await
            .table()
            .iter()
            .map(|(id, _)| id)
            .find(|id| DisplayTag::of(id) == tag)
            .expect("a session with that tag");
        let cookie = format!(
            "sid={}",
            KeyRing::<2>::new(Key::new(&[1; 32]).unwrap()).sign(&id)
        );
        Session::from_cookie_headers(sessions, std::iter::once(cookie.as_bytes())).await
    }

    /// A login of `user` labelled `label`: answers the new session's tag.
    async fn log_in(sessions: &'static Owned, user: &str, label: &str) -> DisplayTag {
        let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
        session.update(|d| d.visits = 1).await.unwrap();
        session.regenerate().await.unwrap();
        assert_eq!(
            session
                .set_owner(UserId::new(user.as_bytes()).unwrap())
                .await,
            Ok(None)
        );
        session.set_label(Label::new(label).unwrap()).await.unwrap();
        let listed = session.sessions::<8>().await;
        let current = listed
            .iter()
            .find(|s| s.current)
            .expect("the current session");
        assert_eq!(current.label.as_str(), label);
        let _ = session.respond(()).await;
        current.tag
    }

    #[test]
    fn a_user_lists_and_revokes_their_own_sessions_only() {
        block_on(async {
            let sessions = owned_sessions();
            let phone = log_in(sessions, "alice", "phone").await;
            let laptop = log_in(sessions, "alice", "laptop").await;
            let bobs = log_in(sessions, "bob", "bob's").await;

            let alice = as_session(sessions, laptop).await;
            assert_eq!(alice.owner().await, Some(UserId::new(b"alice").unwrap()));
            let listed = alice.sessions::<8>().await;
            assert_eq!(listed.len(), 2, "bob's session is not alice's");
            assert!(listed.iter().any(|s| s.tag == phone && !s.current));
            assert_eq!(alice.sessions::<1>().await.len(), 1, "capped at L");

            assert_eq!(alice.revoke(&bobs).await, Err(NotFound), "another user's");
            assert_eq!(
                alice
                    .revoke(&DisplayTag::parse("0000000000000000").unwrap())
                    .await,
                Err(NotFound)
            );
            assert_eq!(alice.revoke(&phone).await, Ok(()));
            assert_eq!(alice.revoke(&phone).await, Err(NotFound), "already gone");
            assert_eq!(alice.sessions::<8>().await.len(), 1);
            assert_eq!(
                as_session(sessions, bobs).await.sessions::<8>().await.len(),
                1
            );
            let _ = alice.respond(()).await;
        });
    }

    #[test]
    fn revoke_others_keeps_the_current_one_and_revoking_it_logs_out() {
        block_on(async {
            let sessions = owned_sessions();
            let a = log_in(sessions, "alice", "a").await;
            log_in(sessions, "alice", "b").await;
            let c = log_in(sessions, "alice", "c").await;
            let bobs = log_in(sessions, "bob", "x").await;
            let alice = as_session(sessions, c).await;
            assert_eq!(alice.revoke_others().await, 2);
            let listed = alice.sessions::<8>().await;
            assert_eq!(
                (listed.len(), listed[0].tag, listed[0].current),
                (1, c, true)
            );
            assert_eq!(
                as_session(sessions, bobs).await.sessions::<8>().await.len(),
                1
            );
            assert_eq!(alice.revoke(&a).await, Err(NotFound));

            assert_eq!(alice.revoke(&c).await, Ok(()));
            assert_eq!(alice.owner().await, None, "logged out");
            assert!(alice.sessions::<8>().await.is_empty());
            let _ = alice.respond(()).await;
        });
    }

    #[test]
    fn the_per_user_cap_ends_the_least_recently_used_session() {
        block_on(async {
            let sessions = owned_sessions(); // 3 per user
            let first = log_in(sessions, "alice", "1").await;
            log_in(sessions, "alice", "2").await;
            log_in(sessions, "alice", "3").await;
            let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
            session.update(|d| d.visits = 1).await.unwrap();
            let ended = session.set_owner(UserId::new(b"alice").unwrap()).await;
            assert_eq!(ended, Ok(Some(first)));
            assert_eq!(session.sessions::<8>().await.len(), 3);
            let _ = session.respond(()).await;
        });
    }

    /// A pool of one entry: a second logged-in owner is refused, and the
    /// first keeps its owner; the default pool of none refuses every owner.
    #[test]
    fn a_full_metadata_pool_refuses_an_owner_and_changes_nothing() {
        block_on(async {
            type OnePool = Sessions<NoopRawMutex, Data, TestRng, 4, 2, EmbassyClock, 1>;
            let keys = KeyRing::new(Key::new(&[1; 32]).unwrap());
            let sessions: &'static OnePool = Box::leak(Box::new(
                Sessions::new(
                    TestRng(5),
                    keys,
                    CookieConfig::new("sid"),
                    ExpiryPolicy::new(),
                )
                .unwrap(),
            ));
            let first = Session::from_cookie_headers(sessions, core::iter::empty()).await;
            first.update(|d| d.visits = 1).await.unwrap();
            first.set_protected(true).await.unwrap();
            first
                .set_owner(UserId::new(b"alice").unwrap())
                .await
                .unwrap();
            let second = Session::from_cookie_headers(sessions, core::iter::empty()).await;
            second.update(|d| d.visits = 2).await.unwrap();
            second.set_protected(true).await.unwrap();
            assert_eq!(
                second.set_owner(UserId::new(b"bob").unwrap()).await,
                Err(MetaError::NoRoom)
            );
            assert_eq!(
                second.set_lifetime(Lifetime::REMEMBER_ME).await,
                Err(MetaError::NoRoom)
            );
            assert_eq!(second.owner().await, None);
            assert_eq!(
                second.get().await,
                Some(Data {
                    visits: 2,
                    ..Data::default()
                })
            );
            assert_eq!(first.owner().await, Some(UserId::new(b"alice").unwrap()));
            let _ = first.respond(()).await;
            let _ = second.respond(()).await;

            let none = leaked_sessions(ExpiryPolicy::new()).await;
            let plain = Session::from_cookie_headers(none, core::iter::empty()).await;
            plain.update(|d| d.visits = 1).await.unwrap();
            assert_eq!(
                plain.set_owner(UserId::new(b"x").unwrap()).await,
                Err(MetaError::NoRoom)
            );
            let _ = plain.respond(()).await;
        });
    }

    #[test]
    fn without_a_session_nothing_is_owned_or_revoked() {
        block_on(async {
            let sessions = owned_sessions();
            let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
            assert_eq!(
                session.set_owner(UserId::new(b"x").unwrap()).await,
                Err(MetaError::NotFound)
            );
            assert_eq!(
                session.set_lifetime(Lifetime::REMEMBER_ME).await,
                Err(MetaError::NotFound)
            );
            assert_eq!(
                session.set_label(Label::new("l").unwrap()).await,
                Err(MetaError::NotFound)
            );
            assert_eq!(session.owner().await, None);
            assert!(session.sessions::<4>().await.is_empty());
            assert_eq!(session.revoke_others().await, 0);
            let tag = DisplayTag::parse("0123456789abcdef").unwrap();
            assert_eq!(session.revoke(&tag).await, Err(NotFound));
            let _ = session.respond(()).await;
        });
    }

    #[test]
    fn remember_me_gives_the_session_its_own_deadlines() {
        block_on(async {
            let sessions = owned_sessions();
            let session = Session::from_cookie_headers(sessions, core::iter::empty()).await;
            session.update(|d| d.visits = 1).await.unwrap();
            session.set_lifetime(Lifetime::REMEMBER_ME).await.unwrap();
            let left = session
                .expires_at()
                .await
                .unwrap()
                .saturating_duration_since(now());
            assert!(left > Duration::from_hours(24 * 29), "{left:?}");
            session
                .set_lifetime(Lifetime::BrowserSession)
                .await
                .unwrap();
            let left = session
                .expires_at()
                .await
                .unwrap()
                .saturating_duration_since(now());
            assert!(left <= Duration::from_mins(30), "the policy's: {left:?}");
            let _ = session.respond(()).await;
        });
    }
}
