//! The HTTP-level cases of users' sessions (issue 16): listing, revoking one,
//! revoking the others, foreign and unknown tags, remember-me and
//! browser-session cookies. They are part of [`cases`](super::cases) (which
//! re-exports them) and of the case table.
// A case fails its test by panicking with a message that says what broke.
#![allow(clippy::panic)]

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use sesh::SessionId;
use sesh::owner::DisplayTag;

use super::cases::{
    assert_answer, assert_attributes, assert_cache_headers, assert_no_set_cookie, get, make_server,
    post, secs, session_cookie, stored,
};
use super::client::{Response, SetCookie};
use super::{MakeServer, ServerSpec, TestServer};
use crate::owner_routes::ListedSession;

/// Remember me's idle timeout ([`sesh::expiry::Lifetime::REMEMBER_ME`]), in seconds.
const REMEMBER_IDLE_SECS: u64 = 30 * 24 * 3600;
/// Its absolute lifetime, in seconds.
const REMEMBER_ABSOLUTE_SECS: u64 = 90 * 24 * 3600;

/// Logs `user` in from a new client, with the extra form `fields` (`label`,
/// `lifetime`), and returns the session cookie.
async fn log_in(
    server: &impl TestServer,
    spec: &ServerSpec,
    user: &str,
    fields: &str,
) -> SetCookie {
    let target = format!("/login?user={user}&{fields}");
    let resp = post(server, &target, None).await;
    assert_answer(&resp, 200, user, &format!("POST {target}"));
    session_cookie(&resp, spec, &format!("POST {target}"))
}

/// The display tag of the session a cookie names.
fn tag_of(cookie: &SetCookie) -> DisplayTag {
    let id = cookie.value.split_once('.').map_or("", |(id, _)| id);
    match SessionId::parse(id) {
        Ok(id) => DisplayTag::of(&id),
        Err(e) => panic!("{:?} names no session id: {e}", cookie.value),
    }
}

/// `/sessions` with `cookie`: 200, one parsed line per session.
async fn listed(server: &impl TestServer, cookie: &str, context: &str) -> Vec<ListedSession> {
    let resp = get(server, "/sessions", Some(cookie)).await;
    assert_eq!(
        resp.status,
        200,
        "{context}: GET /sessions: {}",
        resp.text()
    );
    assert_no_set_cookie(&resp, &format!("{context}: listing"));
    resp.text()
        .lines()
        .map(|line| match ListedSession::parse(line) {
            Some(s) => s,
            None => panic!("{context}: /sessions line {line:?} does not parse"),
        })
        .collect()
}

async fn revoke(server: &impl TestServer, cookie: Option<&str>, tag: &str) -> Response {
    post(server, &format!("/sessions/revoke?tag={tag}"), cookie).await
}

async fn assert_signed_in(server: &impl TestServer, cookie: &SetCookie, user: &str, who: &str) {
    let resp = get(server, "/me", Some(&cookie.pair())).await;
    assert_answer(&resp, 200, user, &format!("{who} is still signed in"));
}

async fn assert_signed_out(server: &impl TestServer, cookie: &SetCookie, who: &str) {
    let resp = get(server, "/me", Some(&cookie.pair())).await;
    assert_eq!(resp.status, 401, "{who} is signed out: {}", resp.text());
}

/// Milliseconds from `a` to `b` lie within a second of `expected`: the
/// server may read its clock more than once in one request.
#[track_caller]
fn assert_span(a: u64, b: u64, expected_secs: u64, context: &str) {
    let span = b.saturating_sub(a);
    let expected = expected_secs * 1000;
    assert!(
        span.abs_diff(expected) <= 1000,
        "{context}: {span} ms, expected {expected} ms"
    );
}

/// `Max-Age` of a cookie, if it has one.
fn max_age(cookie: &SetCookie) -> Option<u64> {
    cookie
        .attributes
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("max-age"))
        .and_then(|(_, value)| value.as_deref()?.parse().ok())
}

/// A browser-session cookie: the spec's attributes, but neither `Max-Age`
/// nor `Expires`.
#[track_caller]
fn assert_session_only(cookie: &SetCookie, spec: &ServerSpec, context: &str) {
    let has = |wanted: &str| {
        cookie
            .attributes
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(wanted))
    };
    assert!(
        !has("max-age") && !has("expires"),
        "{context}: a browser-session cookie with a lifetime: {:?}",
        cookie.raw
    );
    assert!(
        has("path") && has("samesite") && has("httponly") == spec.http_only,
        "{context}: attributes of {:?}",
        cookie.raw
    );
}

/// A user sees each of their sessions once, with its label, times and tag
/// (the tag of its id, never the id), the current one marked; never another
/// user's. Listing is for logged-in sessions only and writes nothing.
pub async fn a_user_lists_their_sessions(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let phone = log_in(&server, &spec, "alice", "label=phone").await;
    let laptop = log_in(&server, &spec, "alice", "label=my+laptop").await;
    let bob = log_in(&server, &spec, "bob", "label=bob").await;

    let list = listed(&server, &laptop.pair(), "alice's laptop").await;
    let mut seen: Vec<(String, bool, DisplayTag)> = list
        .iter()
        .map(|s| (s.label.clone(), s.current, s.tag))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("my laptop".to_string(), true, tag_of(&laptop)),
            ("phone".to_string(), false, tag_of(&phone)),
        ],
        "alice's sessions, from her laptop"
    );
    for s in &list {
        assert!(
            s.created_ms <= s.last_seen_ms && s.last_seen_ms - s.created_ms < 60_000,
            "created after last seen, or long before this case began: {s:?}"
        );
        assert_span(
            s.last_seen_ms,
            s.expires_ms,
            spec.idle_timeout.as_millis() / 1000,
            "expiry of a default session",
        );
    }
    let text = get(&server, "/sessions", Some(&phone.pair())).await.text();
    for cookie in [&phone, &laptop, &bob] {
        let id = cookie.value.split_once('.').map_or("", |(id, _)| id);
        assert!(!text.contains(id), "the listing shows a session id: {text}");
    }
    let from_phone = listed(&server, &phone.pair(), "alice's phone").await;
    assert_eq!(
        from_phone
            .iter()
            .filter(|s| s.current)
            .map(|s| s.tag)
            .collect::<Vec<_>>(),
        vec![tag_of(&phone)],
        "the phone's listing marks the phone"
    );

    let bobs = listed(&server, &bob.pair(), "bob").await;
    assert_eq!(bobs.len(), 1, "bob sees his one session: {bobs:?}");
    assert!(bobs.iter().all(|s| s.current && s.tag == tag_of(&bob)));

    // Not logged in: nothing to list, and nothing stored for asking.
    let resp = get(&server, "/sessions", None).await;
    assert_eq!(resp.status, 401, "/sessions without a session");
    assert_no_set_cookie(&resp, "/sessions without a session");
    let resp = get(&server, "/count", None).await;
    let anonymous = session_cookie(&resp, &spec, "an anonymous visitor").pair();
    let resp = get(&server, "/sessions", Some(&anonymous)).await;
    assert_eq!(resp.status, 401, "/sessions of an anonymous session");
    assert_eq!(stored(&server).await, 4, "three logins and a visitor");
    server.stop().await;
}

/// Revoking one of the user's other sessions signs that device out at once
/// and leaves the current one alone; the same tag again is not found.
/// Revoking the current session signs it out and removes its cookie.
pub async fn revoking_a_session_signs_that_device_out(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let phone = log_in(&server, &spec, "alice", "label=phone").await;
    let laptop = log_in(&server, &spec, "alice", "label=laptop").await;

    let resp = revoke(&server, Some(&laptop.pair()), &tag_of(&phone).to_string()).await;
    assert_answer(&resp, 200, "ended", "the laptop revokes the phone");
    assert_no_set_cookie(&resp, "revoking another session");
    assert_signed_out(&server, &phone, "the phone").await;
    assert_signed_in(&server, &laptop, "alice", "the laptop").await;
    let list = listed(&server, &laptop.pair(), "after the revocation").await;
    assert_eq!(
        list.iter().map(|s| (s.tag, s.current)).collect::<Vec<_>>(),
        vec![(tag_of(&laptop), true)],
        "only the laptop is left"
    );
    assert_eq!(stored(&server).await, 1, "the phone's session is gone");
    let resp = revoke(&server, Some(&laptop.pair()), &tag_of(&phone).to_string()).await;
    assert_answer(&resp, 404, "not found", "the same tag again");

    let resp = revoke(&server, Some(&laptop.pair()), &tag_of(&laptop).to_string()).await;
    assert_answer(&resp, 200, "ended", "the laptop revokes itself");
    let removal = session_cookie(&resp, &spec, "revoking the current session");
    assert_eq!(
        removal.value, "",
        "revoking the current session removes its cookie"
    );
    assert_attributes(&removal, &spec, 0, "the removal cookie");
    assert_signed_out(&server, &laptop, "the laptop").await;
    assert_eq!(stored(&server).await, 0, "nothing left");
    server.stop().await;
}

/// One user can never end another's session: a foreign tag, an unknown
/// tag, a malformed one or none answer 404 and end nothing; without a
/// logged-in session the revocation routes answer 401.
pub async fn a_foreign_or_unknown_tag_revokes_nothing(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let alice = log_in(&server, &spec, "alice", "").await;
    let bob = log_in(&server, &spec, "bob", "").await;
    let resp = get(&server, "/count", None).await;
    let anonymous = session_cookie(&resp, &spec, "an anonymous visitor").pair();

    let bobs = tag_of(&bob).to_string();
    for (tag, what) in [
        (bobs.as_str(), "bob's session"),
        ("0000000000000000", "an unknown tag"),
        ("not-a-tag", "a malformed tag"),
        ("", "an empty tag"),
    ] {
        let resp = revoke(&server, Some(&alice.pair()), tag).await;
        assert_answer(&resp, 404, "not found", &format!("alice revokes {what}"));
        assert_no_set_cookie(&resp, &format!("alice revokes {what}"));
    }
    let resp = post(&server, "/sessions/revoke", Some(&alice.pair())).await;
    assert_answer(&resp, 404, "not found", "a revocation without a tag");

    for (cookie, who) in [
        (None, "no session"),
        (Some(anonymous.as_str()), "an anonymous session"),
    ] {
        let resp = revoke(&server, cookie, &bobs).await;
        assert_eq!(resp.status, 401, "a revocation with {who}");
        let resp = post(&server, "/sessions/revoke-others", cookie).await;
        assert_eq!(resp.status, 401, "revoke-others with {who}");
    }
    assert_signed_in(&server, &bob, "bob", "bob").await;
    assert_signed_in(&server, &alice, "alice", "alice").await;
    assert_eq!(stored(&server).await, 3, "nothing ended");
    server.stop().await;
}

/// "Sign out everywhere else": every other session of the user ends, the
/// current one and other users' stay.
pub async fn revoking_the_others_keeps_the_current_one(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let server = make_server(&make, &spec).await;
    let a = log_in(&server, &spec, "alice", "label=a").await;
    let b = log_in(&server, &spec, "alice", "label=b").await;
    let c = log_in(&server, &spec, "alice", "label=c").await;
    let bob = log_in(&server, &spec, "bob", "").await;

    let resp = post(&server, "/sessions/revoke-others", Some(&b.pair())).await;
    assert_answer(&resp, 200, "2", "alice signs out everywhere else");
    assert_no_set_cookie(&resp, "revoke-others keeps the current cookie");
    assert_signed_out(&server, &a, "alice's a").await;
    assert_signed_out(&server, &c, "alice's c").await;
    assert_signed_in(&server, &b, "alice", "alice's b").await;
    assert_signed_in(&server, &bob, "bob", "bob").await;
    let list = listed(&server, &b.pair(), "after revoke-others").await;
    assert_eq!(
        list.iter().map(|s| (s.tag, s.current)).collect::<Vec<_>>(),
        vec![(tag_of(&b), true)]
    );
    assert_eq!(stored(&server).await, 2, "alice's b and bob's");
    let resp = post(&server, "/sessions/revoke-others", Some(&b.pair())).await;
    assert_answer(&resp, 200, "0", "nothing else left");
    server.stop().await;
}

/// At login a session can be remembered (a cookie with remember me's
/// `Max-Age`, and its own deadlines on the server) or last as long as the
/// browser (a cookie with neither `Max-Age` nor `Expires`, the server's
/// deadlines unchanged); the default keeps the configured `Max-Age`. The
/// deadlines survive a restart.
pub async fn remember_me_and_browser_session_cookies(make: impl MakeServer) {
    let spec = ServerSpec::default();
    let mut server = make_server(&make, &spec).await;
    let idle_secs = spec.idle_timeout.as_millis() / 1000;
    let remembered = log_in(&server, &spec, "alice", "label=r&lifetime=remember").await;
    assert_attributes(&remembered, &spec, REMEMBER_IDLE_SECS, "remember me");
    let browser = log_in(&server, &spec, "alice", "label=b&lifetime=browser").await;
    assert_session_only(&browser, &spec, "a browser session");
    let plain = log_in(&server, &spec, "alice", "label=d").await;
    assert_attributes(&plain, &spec, idle_secs, "the default");

    for round in ["before a restart", "after a restart"] {
        if round == "after a restart" {
            let restarted = server.restart(spec.clone()).await;
            restarted.unwrap_or_else(|e| panic!("restart: {e}"));
        }
        let list = listed(&server, &plain.pair(), round).await;
        assert_eq!(list.len(), 3, "{round}: {list:?}");
        for s in &list {
            let expected = if s.label == "r" {
                REMEMBER_IDLE_SECS
            } else {
                idle_secs
            };
            assert_span(
                s.last_seen_ms,
                s.expires_ms,
                expected,
                &format!("{round}: expiry of session {}", s.label),
            );
        }
    }
    assert_signed_in(&server, &remembered, "alice", "the remembered session").await;
    assert_signed_in(&server, &browser, "alice", "the browser session").await;
    server.stop().await;
}

/// A remembered session outlives the configured idle timeout and absolute
/// lifetime and ends at its own: each refresh (also by a write) sends
/// remember me's `Max-Age` again, an idle
/// stretch longer than 30 days ends it, and so do 90 days in all, however
/// often it is used.
pub async fn a_remembered_session_keeps_its_own_deadlines(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        absolute_lifetime: sesh::Duration::from_secs(600),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let remembered = log_in(&server, &spec, "alice", "lifetime=remember").await;
    let plain = log_in(&server, &spec, "bob", "").await;

    server.advance_clock(secs(61)).await;
    assert_signed_out(&server, &plain, "bob after the idle timeout").await;
    assert_signed_in(
        &server,
        &remembered,
        "alice",
        "alice after the idle timeout",
    )
    .await;

    // Used every 29 days: alive, each refresh with the long Max-Age, until 90 days.
    let mut elapsed = 61;
    while elapsed + 29 * 24 * 3600 < REMEMBER_ABSOLUTE_SECS {
        server.advance_clock(secs(29 * 24 * 3600)).await;
        elapsed += 29 * 24 * 3600;
        // A write as the first use of the request follows the session's own
        // deadlines too.
        let resp = get(&server, "/count", Some(&remembered.pair())).await;
        let context = format!("alice after {} days", elapsed / 86_400);
        assert_eq!(resp.status, 200, "{context}: {}", resp.text());
        let refreshed = session_cookie(&resp, &spec, &context);
        let left = REMEMBER_ABSOLUTE_SECS - elapsed;
        assert_eq!(
            max_age(&refreshed),
            Some(REMEMBER_IDLE_SECS.min(left)),
            "{context}: the refreshed cookie's Max-Age"
        );
    }
    server
        .advance_clock(secs(REMEMBER_ABSOLUTE_SECS - elapsed + 1))
        .await;
    assert_signed_out(&server, &remembered, "alice after 90 days").await;

    // Idle for more than 30 days ends it too.
    let idle = log_in(&server, &spec, "carol", "lifetime=remember").await;
    server.advance_clock(secs(REMEMBER_IDLE_SECS - 1)).await;
    assert_signed_in(&server, &idle, "carol", "carol just within 30 days").await;
    server.advance_clock(secs(REMEMBER_IDLE_SECS + 1)).await;
    assert_signed_out(&server, &idle, "carol after 30 idle days").await;
    server.stop().await;
}

/// A browser session's cookie never gets a lifetime, not at login and not
/// at a refresh, and the server still ends the session at its idle deadline.
pub async fn a_browser_session_still_expires_on_the_server(make: impl MakeServer) {
    let spec = ServerSpec {
        idle_timeout: sesh::Duration::from_secs(60),
        ..ServerSpec::default()
    };
    let server = make_server(&make, &spec).await;
    let browser = log_in(&server, &spec, "alice", "lifetime=browser").await;
    assert_session_only(&browser, &spec, "at login");

    // Past the refresh share: the cookie is sent again, still session-only.
    server.advance_clock(secs(20)).await;
    let resp = get(&server, "/me", Some(&browser.pair())).await;
    assert_answer(&resp, 200, "alice", "alice after 20 s");
    assert_cache_headers(&resp, "a refresh");
    let refreshed = session_cookie(&resp, &spec, "a refresh");
    assert_session_only(&refreshed, &spec, "at a refresh");

    server.advance_clock(secs(61)).await;
    assert_signed_out(&server, &browser, "alice after the idle timeout").await;
    assert!(
        stored(&server).await <= 1,
        "at most the expired session awaits the sweeper"
    );
    server.stop().await;
}

/// `server` lists exactly alice's `asker` (current) and `other` sessions.
async fn assert_lists_both(server: &impl TestServer, asker: &SetCookie, other: &SetCookie) {
    let mut list: Vec<(DisplayTag, bool)> = listed(server, &asker.pair(), "alice")
        .await
        .iter()
        .map(|s| (s.tag, s.current))
        .collect();
    list.sort();
    let mut want = vec![(tag_of(asker), true), (tag_of(other), false)];
    want.sort();
    assert_eq!(list, want, "alice's sessions, listed on either server");
}

/// Two servers over one store (`a` and `b`, both with
/// [`ServerSpec::default`]): alice on a device of each, and bob;
/// revocations on either server hold on the other at once. Not a case of
/// the table (it needs two servers); `tests/owners_two_servers.rs` runs it
/// on Redis and PostgreSQL.
pub async fn a_revocation_on_one_server_signs_out_on_the_other(
    a: &impl TestServer,
    b: &impl TestServer,
) {
    let spec = ServerSpec::default();
    let laptop = log_in(a, &spec, "alice", "lifetime=remember").await;
    assert_eq!(max_age(&laptop), Some(REMEMBER_IDLE_SECS), "remember me");
    let phone = log_in(b, &spec, "alice", "").await;
    let bob = log_in(a, &spec, "bob", "").await;

    // Both servers list both of alice's sessions, each marking the asker.
    assert_lists_both(b, &phone, &laptop).await;
    assert_lists_both(a, &laptop, &phone).await;

    // Bob, on B, cannot end alice's laptop.
    let laptop_tag = tag_of(&laptop).to_string();
    let resp = revoke(b, Some(&bob.pair()), &laptop_tag).await;
    assert_answer(&resp, 404, "not found", "bob revokes alice's laptop");
    assert_signed_in(a, &laptop, "alice", "the laptop on A").await;

    // The phone, on server B, ends the laptop: server A signs it out.
    let resp = revoke(b, Some(&phone.pair()), &laptop_tag).await;
    assert_answer(&resp, 200, "ended", "the phone revokes the laptop on B");
    assert_signed_out(a, &laptop, "the laptop on A").await;
    assert_signed_in(a, &phone, "alice", "the phone on A").await;

    // Sign out everywhere else, on A, ends the phone's other login on B.
    let tablet = log_in(b, &spec, "alice", "lifetime=browser").await;
    let resp = post(a, "/sessions/revoke-others", Some(&phone.pair())).await;
    assert_answer(&resp, 200, "1", "sign out everywhere else, on A");
    assert_signed_out(b, &tablet, "the tablet on B").await;
    assert_eq!(listed(b, &phone.pair(), "after").await.len(), 1);
    assert_signed_in(b, &bob, "bob", "bob on B").await;
}
