//! The cookie decision (`sesh::cookie::CookieDecision`): which `Set-Cookie`,
//! `Vary: Cookie` and `Cache-Control: no-store` a response gets from what
//! happened to the session. Both adapters write only its answer, so these
//! cases are the header rules of sesh-tokio and sesh-embassy alike.

use sesh::cookie::{
    CookieConfig, CookieDecision, CookieHeaders, PreSessionCookie, RequestCookie, SessionCookie,
};
use sesh::presession::PreSession;
use sesh::signing::{Key, KeyRing};
use sesh::{Duration, Instant, SessionId};

use crate::case::{Case, Failure, Outcome};
use crate::rng::TestRng;
use crate::{check, check_eq};

const NOW: Instant = Instant::from_secs(5_000);

const REQUESTS: [RequestCookie; 4] = [
    RequestCookie::Absent,
    RequestCookie::Current,
    RequestCookie::RetiredKey,
    RequestCookie::Refused,
];

/// One thing that happens to the session during a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Event {
    Accessed,
    Missing,
    Used(u8),
    Refreshed(u8),
    Created(u8),
    Regenerated(u8),
    Destroyed,
    PreSession,
}

const EVENTS: [Event; 8] = [
    Event::Accessed,
    Event::Missing,
    Event::Used(1),
    Event::Refreshed(1),
    Event::Created(2),
    Event::Regenerated(3),
    Event::Destroyed,
    Event::PreSession,
];

fn id(n: u8) -> Result<SessionId, Failure> {
    SessionId::generate(&mut TestRng(u64::from(n))).map_err(|_| Failure {
        line: line!(),
        check: "test id",
    })
}

fn pre() -> Result<PreSession, Failure> {
    PreSession::parse("AAAAAAAAAAAAAAAAAAAAAA").map_err(|_| Failure {
        line: line!(),
        check: "pre-session",
    })
}

/// Each id `n` expires `n` minutes from [`NOW`]; a pre-session 30 minutes.
fn expires(n: u8) -> Instant {
    NOW.saturating_add(Duration::from_mins(u64::from(n)))
}

fn decide(request: RequestCookie, events: &[Event]) -> Result<CookieHeaders, Failure> {
    let mut d = CookieDecision::new(request);
    for event in events {
        match *event {
            Event::Accessed => d.accessed(),
            Event::Missing => d.missing(),
            Event::Used(n) => d.used(id(n)?, expires(n)),
            Event::Refreshed(n) => d.refreshed(id(n)?, expires(n)),
            Event::Created(n) => d.created(id(n)?, expires(n)),
            Event::Regenerated(n) => d.regenerated(id(n)?, expires(n)),
            Event::Destroyed => d.destroyed(),
            Event::PreSession => d.pre_session_issued(pre()?, expires(30)),
        }
    }
    Ok(d.decide(NOW))
}

fn set(n: u8) -> Result<SessionCookie, Failure> {
    Ok(SessionCookie::Set {
        id: id(n)?,
        max_age: Duration::from_mins(u64::from(n)),
    })
}

/// The session cookie the rules predict for `events`, written out
/// independently of the implementation: the last event that decides wins.
fn expected_session(request: RequestCookie, events: &[Event]) -> Result<SessionCookie, Failure> {
    let mut cookie = SessionCookie::Keep;
    let mut resign = None;
    for event in events {
        match *event {
            Event::Refreshed(n) | Event::Created(n) | Event::Regenerated(n) => {
                cookie = set(n)?;
                resign = None;
            }
            Event::Destroyed => {
                cookie = if request == RequestCookie::Absent {
                    SessionCookie::Keep
                } else {
                    SessionCookie::Remove
                };
                resign = None;
            }
            Event::Used(n) => {
                if request == RequestCookie::RetiredKey && cookie == SessionCookie::Keep {
                    resign = Some(n);
                }
            }
            Event::Missing => resign = None,
            Event::Accessed | Event::PreSession => {}
        }
    }
    match (cookie, resign) {
        (SessionCookie::Keep, Some(n)) => set(n),
        (cookie, _) => Ok(cookie),
    }
}

/// The invariants every answer keeps.
fn check_answer(request: RequestCookie, events: &[Event], h: &CookieHeaders) -> Outcome {
    check_eq!(h.session(), expected_session(request, events)?);
    let pre_expected = events.contains(&Event::PreSession);
    check_eq!(h.pre_session().is_some(), pre_expected);
    let sets = pre_expected || h.session() != SessionCookie::Keep;
    check_eq!(h.sets_cookie(), sets);
    // no-store exactly with a Set-Cookie; Vary whenever the session was touched.
    check_eq!(h.no_store(), sets);
    check_eq!(h.vary_cookie(), !events.is_empty());
    // A removal only for a cookie the request carried.
    check!(h.session() != SessionCookie::Remove || request.was_sent());
    Ok(())
}

/// No event: nothing at all, whatever cookie the request carried, so a
/// response that never touched the session stays shareable by caches.
pub fn untouched_session_sends_no_headers() -> Outcome {
    for request in REQUESTS {
        let h = decide(request, &[])?;
        check_eq!(h.session(), SessionCookie::Keep);
        check!(h.pre_session().is_none());
        check!(!h.vary_cookie());
        check!(!h.no_store());
    }
    Ok(())
}

/// Reading (a live session, or finding none) varies by cookie and sets
/// nothing, also without a cookie in the request; a forged, unknown or
/// expired cookie that is only read is not removed.
pub fn reads_vary_and_set_nothing() -> Outcome {
    for request in REQUESTS {
        for events in [&[Event::Missing][..], &[Event::Accessed]] {
            let h = decide(request, events)?;
            check_eq!(h.session(), SessionCookie::Keep);
            check!(h.vary_cookie());
            check!(!h.no_store());
        }
    }
    for request in [RequestCookie::Absent, RequestCookie::Current] {
        let h = decide(request, &[Event::Used(1)])?;
        check_eq!(h.session(), SessionCookie::Keep);
        check!(h.vary_cookie() && !h.no_store());
    }
    Ok(())
}

/// Creating, refreshing and regenerating set the cookie with the time left
/// as `Max-Age`, with `no-store` and `Vary`.
pub fn writes_set_the_cookie() -> Outcome {
    for request in REQUESTS {
        for (event, n) in [
            (Event::Created(2), 2),
            (Event::Refreshed(1), 1),
            (Event::Regenerated(3), 3),
        ] {
            let h = decide(request, &[Event::Missing, event])?;
            check_eq!(h.session(), set(n)?);
            check!(h.vary_cookie() && h.no_store());
        }
    }
    // Login: a live session moved to a new id; the new one is sent.
    let h = decide(
        RequestCookie::Current,
        &[Event::Used(1), Event::Regenerated(3)],
    )?;
    check_eq!(h.session(), set(3)?);
    Ok(())
}

/// A cookie signed by a retired key is re-signed when its live session is
/// used, and not when the session is unknown, expired or went meanwhile.
pub fn retired_key_is_resigned_for_a_live_session() -> Outcome {
    let h = decide(RequestCookie::RetiredKey, &[Event::Used(1)])?;
    check_eq!(h.session(), set(1)?);
    check!(h.no_store() && h.vary_cookie());
    check_eq!(
        decide(RequestCookie::RetiredKey, &[Event::Missing])?.session(),
        SessionCookie::Keep
    );
    check_eq!(
        decide(RequestCookie::RetiredKey, &[Event::Used(1), Event::Missing])?.session(),
        SessionCookie::Keep
    );
    check_eq!(
        decide(RequestCookie::Current, &[Event::Used(1)])?.session(),
        SessionCookie::Keep
    );
    Ok(())
}

/// Logout removes the cookie the request carried (valid, old-key or
/// forged), and leaves alone a request that carried none, even if it made a
/// session before destroying it.
pub fn destroy_removes_the_cookie_the_request_carried() -> Outcome {
    for request in [
        RequestCookie::Current,
        RequestCookie::RetiredKey,
        RequestCookie::Refused,
    ] {
        let h = decide(request, &[Event::Destroyed])?;
        check_eq!(h.session(), SessionCookie::Remove);
        check!(h.no_store() && h.vary_cookie());
        let h = decide(request, &[Event::Refreshed(1), Event::Destroyed])?;
        check_eq!(h.session(), SessionCookie::Remove);
    }
    let h = decide(RequestCookie::Absent, &[Event::Destroyed])?;
    check_eq!(h.session(), SessionCookie::Keep);
    check!(h.vary_cookie() && !h.no_store());
    let h = decide(
        RequestCookie::Absent,
        &[Event::Created(2), Event::Destroyed],
    )?;
    check_eq!(h.session(), SessionCookie::Keep);
    // A session started after the logout is sent.
    let h = decide(
        RequestCookie::Current,
        &[Event::Destroyed, Event::Created(2)],
    )?;
    check_eq!(h.session(), set(2)?);
    Ok(())
}

/// A pre-session form token sets the pre-session cookie for the token's
/// lifetime, next to whatever the session cookie does.
pub fn pre_session_cookie_goes_with_its_token() -> Outcome {
    let expected = PreSessionCookie {
        pre: pre()?,
        max_age: Duration::from_mins(30),
    };
    for request in REQUESTS {
        let h = decide(request, &[Event::Missing, Event::PreSession])?;
        check_eq!(h.pre_session(), Some(expected));
        check_eq!(h.session(), SessionCookie::Keep);
        check!(h.vary_cookie() && h.no_store());
        let h = decide(request, &[Event::PreSession, Event::Created(2)])?;
        check_eq!(h.pre_session(), Some(expected));
        check_eq!(h.session(), set(2)?);
    }
    Ok(())
}

/// Every request cookie with every sequence of up to three events keeps
/// the rules: the predicted cookie, `no-store` exactly with a `Set-Cookie`,
/// `Vary` whenever the session was touched.
pub fn every_sequence_of_three_events_keeps_the_rules() -> Outcome {
    let mut seen = 0usize;
    for request in REQUESTS {
        check_answer(request, &[], &decide(request, &[])?)?;
        for a in EVENTS {
            check_answer(request, &[a], &decide(request, &[a])?)?;
            for b in EVENTS {
                check_answer(request, &[a, b], &decide(request, &[a, b])?)?;
                for c in EVENTS {
                    let events = [a, b, c];
                    check_answer(request, &events, &decide(request, &events)?)?;
                    seen += 1;
                }
            }
        }
    }
    check_eq!(
        seen,
        REQUESTS.len() * EVENTS.len() * EVENTS.len() * EVENTS.len()
    );
    Ok(())
}

/// `Max-Age` counts from the `now` given to `decide`, rounded up to whole
/// seconds when written, and is 0 for a deadline already past.
pub fn max_age_counts_from_now() -> Outcome {
    let mut d = CookieDecision::new(RequestCookie::Absent);
    let session = id(1)?;
    d.created(session, Instant::from_millis(10_500));
    check_eq!(
        d.decide(Instant::from_secs(10)).session(),
        SessionCookie::Set {
            id: session,
            max_age: Duration::from_millis(500)
        }
    );
    check_eq!(
        d.decide(Instant::from_secs(11)).session(),
        SessionCookie::Set {
            id: session,
            max_age: Duration::ZERO
        }
    );
    let keys = keys()?;
    let mut out: heapless::String<160> = heapless::String::new();
    check_eq!(
        d.decide(Instant::from_secs(10)).write_session_cookie(
            &mut out,
            &CookieConfig::new("sid"),
            &keys
        ),
        Ok(true)
    );
    check!(out.contains("; Max-Age=1;"));
    Ok(())
}

fn keys() -> Result<KeyRing<2>, Failure> {
    Key::new(&[5; 32]).map(KeyRing::new).map_err(|_| Failure {
        line: line!(),
        check: "test key",
    })
}

/// The header values written from the answer: the signed id, the removal
/// and the pre-session cookie, with the configured attributes; a buffer too
/// small is an error, never a truncated header.
pub fn headers_are_written_from_the_answer() -> Outcome {
    let keys = keys()?;
    let config = CookieConfig::new("sid").with_domain("example.test");
    let mut out: heapless::String<200> = heapless::String::new();
    let mut expected: heapless::String<200> = heapless::String::new();

    let h = decide(
        RequestCookie::Absent,
        &[Event::Created(2), Event::PreSession],
    )?;
    check_eq!(h.write_session_cookie(&mut out, &config, &keys), Ok(true));
    check!(
        core::fmt::write(
            &mut expected,
            format_args!(
                "sid={}; Path=/; Domain=example.test; Max-Age=120; HttpOnly; Secure; SameSite=Lax",
                keys.sign(&id(2)?)
            )
        )
        .is_ok()
    );
    check_eq!(out, expected);
    out.clear();
    check_eq!(h.write_pre_session_cookie(&mut out, &config), Ok(true));
    check_eq!(
        out.as_str(),
        "sid-pre=AAAAAAAAAAAAAAAAAAAAAA; Path=/; Domain=example.test; Max-Age=1800; HttpOnly; Secure; SameSite=Lax"
    );

    out.clear();
    let h = decide(RequestCookie::Refused, &[Event::Destroyed])?;
    check_eq!(h.write_session_cookie(&mut out, &config, &keys), Ok(true));
    check_eq!(
        out.as_str(),
        "sid=; Path=/; Domain=example.test; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    );
    out.clear();
    check_eq!(h.write_pre_session_cookie(&mut out, &config), Ok(false));
    check_eq!(out.as_str(), "");

    let h = decide(RequestCookie::Current, &[Event::Used(1)])?;
    check_eq!(h.write_session_cookie(&mut out, &config, &keys), Ok(false));
    check_eq!(out.as_str(), "");

    let h = decide(RequestCookie::Absent, &[Event::Created(2)])?;
    let mut small: heapless::String<32> = heapless::String::new();
    check!(h.write_session_cookie(&mut small, &config, &keys).is_err());
    Ok(())
}

/// Lists the cookie decision cases.
pub const DECISION_CASES: [Case; 11] = [
    Case {
        name: "decision::untouched_session_sends_no_headers",
        run: untouched_session_sends_no_headers,
    },
    Case {
        name: "decision::reads_vary_and_set_nothing",
        run: reads_vary_and_set_nothing,
    },
    Case {
        name: "decision::writes_set_the_cookie",
        run: writes_set_the_cookie,
    },
    Case {
        name: "decision::retired_key_is_resigned_for_a_live_session",
        run: retired_key_is_resigned_for_a_live_session,
    },
    Case {
        name: "decision::destroy_removes_the_cookie_the_request_carried",
        run: destroy_removes_the_cookie_the_request_carried,
    },
    Case {
        name: "decision::pre_session_cookie_goes_with_its_token",
        run: pre_session_cookie_goes_with_its_token,
    },
    Case {
        name: "decision::every_sequence_of_three_events_keeps_the_rules",
        run: every_sequence_of_three_events_keeps_the_rules,
    },
    Case {
        name: "decision::max_age_counts_from_now",
        run: max_age_counts_from_now,
    },
    Case {
        name: "decision::headers_are_written_from_the_answer",
        run: headers_are_written_from_the_answer,
    },
    Case {
        name: "decision::a_failed_check_is_reported",
        run: a_failed_check_is_reported,
    },
    Case {
        name: "decision::a_browser_session_cookie_has_no_max_age",
        run: a_browser_session_cookie_has_no_max_age,
    },
];

/// A browser session's cookie (issue 16) is set without `Max-Age` or
/// `Expires`, with every other attribute; its removal still has `Max-Age=0`,
/// and the cache rules do not change.
pub fn a_browser_session_cookie_has_no_max_age() -> Outcome {
    let keys = keys()?;
    let config = CookieConfig::new("sid").with_domain("example.test");
    let id = id(7)?;
    let mut decision = CookieDecision::new(RequestCookie::Current);
    decision.regenerated(id, NOW + Duration::from_mins(30));
    decision.browser_session();
    let h = decision.decide(NOW);
    check!(h.browser_session() && h.no_store() && h.vary_cookie());
    check_eq!(
        h.session(),
        SessionCookie::Set {
            id,
            max_age: Duration::from_mins(30)
        }
    );
    let mut out: heapless::String<200> = heapless::String::new();
    check_eq!(h.write_session_cookie(&mut out, &config, &keys), Ok(true));
    let mut expected: heapless::String<200> = heapless::String::new();
    check!(
        core::fmt::write(
            &mut expected,
            format_args!(
                "sid={}; Path=/; Domain=example.test; HttpOnly; Secure; SameSite=Lax",
                keys.sign(&id)
            )
        )
        .is_ok()
    );
    check_eq!(out, expected);
    decision.destroyed();
    out.clear();
    check_eq!(
        decision
            .decide(NOW)
            .write_session_cookie(&mut out, &config, &keys),
        Ok(true)
    );
    check!(out.contains("; Max-Age=0;"));
    Ok(())
}

/// The checker itself fails where it should: a wrong prediction is caught.
pub fn a_failed_check_is_reported() -> Outcome {
    let h = decide(RequestCookie::Current, &[Event::Destroyed])?;
    // Checked against the events of another request: must fail.
    check!(check_answer(RequestCookie::Current, &[Event::Used(1)], &h).is_err());
    check!(check_answer(RequestCookie::Current, &[Event::Destroyed], &h).is_ok());
    Ok(())
}
