//! A user's sessions (issue 16) over a real embassy-net stack: the
//! remember-me and browser-session cookies, the list as HTML and JSON,
//! revoking one, revoking the others, and what a revoke refuses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod common;

use firmware::AppSessions;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sesh::owner::{DisplayTag, UserId};
use sesh::signing::{Key, KeyRing};
use sesh_tests::http::client::{Request, Response};
use sesh_tests::http::embassy_client::Client;
use static_cell::StaticCell;

use common::{TestRng, boot, csrf, run};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Signs in as admin from a browser named by `agent`, with or without
/// "remember me"; answers the login's response.
async fn log_in(client: &mut Client<'_>, agent: &str, remember: bool) -> Response {
    let page = client.get("/").await.unwrap();
    let token = csrf(&page);
    let mut fields = vec![
        ("username", "admin"),
        ("password", "admin"),
        ("csrf", token.as_str()),
    ];
    if remember {
        fields.push(("remember", "on"));
    }
    let answer = client
        .send(
            Request::post("/login")
                .header("User-Agent", agent)
                .form_fields(&fields),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 303, "{}", answer.text());
    answer
}

/// `/sessions.json`, parsed loosely: (tag, current, label) per object, and
/// the raw text.
async fn listed(client: &mut Client<'_>) -> (Vec<(String, bool, String)>, String) {
    let json = client.get("/sessions.json").await.unwrap();
    assert_eq!(json.status, 200, "{}", json.text());
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    let text = json.text();
    let field = |object: &str, name: &str| -> String {
        let after = object.split(&format!("\"{name}\":")).nth(1).unwrap();
        after
            .trim_start_matches('"')
            .split(['"', ',', '}'])
            .next()
            .unwrap()
            .to_owned()
    };
    let objects = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split("},{")
        .filter(|o| !o.is_empty())
        .map(|o| {
            (
                field(o, "tag"),
                field(o, "current") == "true",
                field(o, "label"),
            )
        })
        .collect();
    (objects, text)
}

#[test]
fn remember_me_sets_max_age_of_30_days_and_otherwise_a_browser_session_cookie() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 11);
    run(sessions, |mut client| async move {
        let remembered = log_in(&mut client, FIREFOX, true).await;
        let cookie = &remembered.set_cookies_named("sid")[0];
        let max_age = cookie
            .attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("max-age"));
        assert_eq!(
            max_age.and_then(|(_, v)| v.as_deref()),
            Some("2592000"),
            "{}",
            cookie.raw
        );

        let mut other = client.another();
        let browser = log_in(&mut other, "curl/8.5.0", false).await;
        let cookie = &browser.set_cookies_named("sid")[0];
        assert!(
            !cookie.raw.to_ascii_lowercase().contains("max-age")
                && !cookie.raw.to_ascii_lowercase().contains("expires"),
            "{}",
            cookie.raw
        );
        // Still signed in, and a later answer keeps the cookie session-only.
        assert_eq!(other.get("/me").await.unwrap().status, 200);
        let (list, text) = listed(&mut other).await;
        assert_eq!(list.len(), 2, "{text}");
        assert!(
            text.contains("\"created_at\":\"") && text.contains("\"expires_at\":\""),
            "{text}"
        );
    });
}

#[test]
fn list_revoke_one_and_revoke_the_others() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 12);
    run(sessions, |mut laptop| async move {
        assert_eq!(laptop.get("/sessions.json").await.unwrap().status, 401);
        let signed_out = laptop.get("/sessions").await.unwrap();
        assert_eq!(
            (signed_out.status, signed_out.header("location").as_deref()),
            (303, Some("/"))
        );

        log_in(&mut laptop, FIREFOX, false).await;
        let mut phone = laptop.another();
        log_in(
            &mut phone,
            "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36",
            true,
        )
        .await;
        let mut script = laptop.another();
        log_in(&mut script, "<script>alert(1)</script>", false).await;

        let home = laptop.get("/").await.unwrap();
        assert!(home.text().contains("href=\"/sessions\""));

        let (list, text) = listed(&mut laptop).await;
        assert_eq!(list.len(), 3, "{text}");
        let mine: Vec<_> = list.iter().filter(|s| s.1).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].2, "Firefox on Linux");
        assert!(list.iter().any(|s| s.2 == "Chrome on Android"));
        assert!(!text.contains("<script>"), "JSON escapes <: {text}");

        let page = laptop.get("/sessions").await.unwrap();
        assert_eq!(page.status, 200);
        let html = page.text();
        assert!(
            html.contains("this device") && html.contains("Sign out everywhere else"),
            "{html}"
        );
        assert!(
            html.contains("&lt;script&gt;") && !html.contains("<script>"),
            "{html}"
        );
        assert_eq!(html.matches("action=\"/sessions/revoke\"").count(), 3);
        let cache = page.header_all("cache-control");
        assert_eq!(cache, ["no-store"], "once");
        let token = csrf(&page);

        // Revoke the phone's session by its tag.
        let phone_tag = list
            .iter()
            .find(|s| s.2 == "Chrome on Android")
            .unwrap()
            .0
            .clone();
        let answer = laptop
            .post_form("/sessions/revoke", &[("tag", &phone_tag), ("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.header("location").as_deref()),
            (303, Some("/sessions"))
        );
        assert_eq!(
            phone.get("/me").await.unwrap().status,
            401,
            "the phone is signed out"
        );
        assert_eq!(listed(&mut laptop).await.0.len(), 2);
        // Gone: a second revoke finds nothing.
        let again = laptop
            .post_form("/sessions/revoke", &[("tag", &phone_tag), ("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(again.status, 404);

        // Sign out everywhere else.
        let answer = laptop
            .post_form("/sessions/revoke-others", &[("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(
            (answer.status, answer.header("location").as_deref()),
            (303, Some("/sessions"))
        );
        assert_eq!(script.get("/me").await.unwrap().status, 401);
        let (list, _) = listed(&mut laptop).await;
        assert_eq!(list.len(), 1);
        assert!(list[0].1, "the current one stays");
        assert_eq!(laptop.get("/me").await.unwrap().status, 200);
    });
}

#[test]
fn revokes_without_a_token_or_with_a_foreign_or_unknown_tag_are_refused() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 13);
    run(sessions, |mut client| async move {
        // Another user's session, straight into the table.
        let bobs = {
            let mut inner = sessions.lock().await;
            let now = sesh_embassy::now();
            let mut rng = ChaCha20Rng::from_seed([99; 32]);
            let (id, _) = inner
                .table()
                .create(&mut rng, now, firmware::Account::default())
                .unwrap();
            inner
                .table()
                .set_owner(&id, UserId::new(b"bob").unwrap(), now)
                .unwrap();
            id
        };
        log_in(&mut client, FIREFOX, false).await;
        let (list, _) = listed(&mut client).await;
        let own = list[0].0.clone();
        let token = csrf(&client.get("/sessions").await.unwrap());

        let foreign = DisplayTag::of(&bobs).to_string();
        for tag in [foreign.as_str(), "0123456789abcdef", "not a tag", ""] {
            let answer = client
                .post_form("/sessions/revoke", &[("tag", tag), ("csrf", &token)])
                .await
                .unwrap();
            assert_eq!(answer.status, 404, "{tag:?}");
        }
        assert!(
            sessions
                .lock()
                .await
                .table()
                .contains(&bobs, sesh_embassy::now()),
            "bob's stays"
        );

        for fields in [
            vec![("tag", own.as_str())],
            vec![("tag", own.as_str()), ("csrf", "forged")],
        ] {
            let answer = client.post_form("/sessions/revoke", &fields).await.unwrap();
            assert_eq!(answer.status, 403);
        }
        for fields in [vec![], vec![("csrf", "forged")]] {
            let answer = client
                .post_form("/sessions/revoke-others", &fields)
                .await
                .unwrap();
            assert_eq!(answer.status, 403);
        }
        assert!(
            sessions
                .lock()
                .await
                .table()
                .contains(&bobs, sesh_embassy::now())
        );
        assert_eq!(client.get("/me").await.unwrap().status, 200);

        // Revoking the current session signs this browser out.
        let answer = client
            .post_form("/sessions/revoke", &[("tag", &own), ("csrf", &token)])
            .await
            .unwrap();
        assert_eq!(answer.status, 303);
        assert_eq!(client.get("/me").await.unwrap().status, 401);
        assert_eq!(client.get("/sessions.json").await.unwrap().status, 401);
    });
}

/// A full table whose every session has the longest user name, label and
/// data the firmware writes still snapshots into `SNAPSHOT_BUF`, which fits
/// a 4 KiB sector with sequential-storage's headers.
#[test]
fn a_full_table_of_owned_sessions_fits_the_snapshot_buffer() {
    use sesh::expiry::Lifetime;
    use sesh::table::MetaError;
    futures_executor::block_on(async {
        let keys = KeyRing::new(Key::new(&[14; 32]).unwrap());
        let sessions =
            firmware::new_sessions(ChaCha20Rng::from_seed([14; 32]), keys.clone()).unwrap();
        let mut inner = sessions.lock().await;
        let mut rng = ChaCha20Rng::from_seed([15; 32]);
        let now = sesh::Instant::from_secs(u64::from(u32::MAX));
        let name = "u".repeat(firmware::USER_LEN);
        for n in 0..firmware::CAPACITY {
            let account = firmware::Account {
                user: Some(name.as_str().try_into().unwrap()),
                visits: u32::MAX,
            };
            let (id, _) = inner.table().create(&mut rng, now, account).unwrap();
            let table = inner.table();
            table.set_protected(&id, now, true).unwrap();
            let owner = UserId::new(name.as_bytes()).unwrap();
            if n >= firmware::SIGNED_IN {
                // The pool is full of logged-in sessions: refused, unchanged.
                assert_eq!(
                    table.set_owner(&id, owner, now).unwrap_err(),
                    MetaError::NoRoom
                );
                continue;
            }
            table.set_owner(&id, owner, now).unwrap();
            let label = firmware::label_for(&"é".repeat(firmware::LABEL_LEN));
            assert_eq!(label.as_str().len(), firmware::LABEL_LEN);
            table.set_label(&id, label, now).unwrap();
            table.set_lifetime(&id, Lifetime::REMEMBER_ME, now).unwrap();
        }
        let mut buf = [0u8; firmware::SNAPSHOT_BUF];
        let len = inner
            .table()
            .write_sealed_snapshot(&mut buf, now, &keys)
            .unwrap();
        assert!(len + 256 <= 4096, "{len} bytes");
        println!("full snapshot: {len} of {} bytes", firmware::SNAPSHOT_BUF);
    });
}

/// Every entry of the metadata pool held by a logged-in session: a new
/// login is refused with 503 and its session ended (never left logged in
/// without an owner, which "sign out everywhere" could not find); once a
/// device signs out, logging in works again.
#[test]
fn a_login_past_the_signed_in_limit_is_refused_and_leaves_no_session() {
    static SESSIONS: StaticCell<AppSessions<TestRng>> = StaticCell::new();
    let sessions = boot(&SESSIONS, 17);
    run(sessions, |mut client| async move {
        let others = {
            let mut inner = sessions.lock().await;
            let now = sesh_embassy::now();
            let mut rng = ChaCha20Rng::from_seed([98; 32]);
            let mut ids = Vec::new();
            for _ in 0..firmware::SIGNED_IN {
                let table = inner.table();
                let (id, _) = table
                    .create(&mut rng, now, firmware::Account::default())
                    .unwrap();
                table.set_protected(&id, now, true).unwrap();
                table
                    .set_owner(&id, UserId::new(b"bob").unwrap(), now)
                    .unwrap();
                ids.push(id);
            }
            ids
        };
        let page = client.get("/").await.unwrap();
        let token = csrf(&page);
        let fields = [
            ("username", "admin"),
            ("password", "admin"),
            ("csrf", token.as_str()),
        ];
        let answer = client
            .send(Request::post("/login").form_fields(&fields))
            .await
            .unwrap();
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert!(answer.text().contains("too many devices"));
        assert_eq!(client.get("/me").await.unwrap().status, 401);
        let now = sesh_embassy::now();
        assert_eq!(
            sessions.occupancy().await.0,
            firmware::SIGNED_IN,
            "the refused login's session is gone"
        );
        let mut inner = sessions.lock().await;
        let bob = UserId::new(b"bob").unwrap();
        assert_eq!(
            inner.table().sessions_of(&bob, None, now).count(),
            others.len()
        );
        // One of bob's devices signs out: there is room again.
        inner.table().destroy(&others[0]);
        drop(inner);
        log_in(&mut client, FIREFOX, false).await;
        assert_eq!(client.get("/me").await.unwrap().status, 200);
    });
}
