//! The four routes. Every handler ends with `session.respond(reply).await`,
//! which adds the one `Set-Cookie` the reply needs, if any.

use picoserve::ResponseSent;
use picoserve::extract::{Form, State};
use picoserve::io::Read;
use picoserve::response::{
    Connection, IntoResponse, Redirect, Response, ResponseWriter, StatusCode,
};
use rand_core::TryCryptoRng;
use serde::Deserialize;
use sesh_embassy::{SessionError, WithSession};

use crate::devices::{DeviceLabel, sign_in_as};
use crate::html::{Html, Notice, Page};
use crate::login::Login;
use crate::{AppSession, USER_LEN};

/// Form fields are bounded: a longer value fails the form (400).
const FIELD_LEN: usize = 64;

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: heapless::String<FIELD_LEN>,
    password: heapless::String<FIELD_LEN>,
    csrf: heapless::String<FIELD_LEN>,
    /// `on` (the checkbox): a persistent session; absent: a browser session.
    #[serde(default)]
    remember: heapless::String<FIELD_LEN>,
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: heapless::String<FIELD_LEN>,
}

/// What a handler answers, before the session adds its cookie.
pub(crate) enum Reply {
    Page(StatusCode, Page),
    /// 429 with the form and `Retry-After: secs`.
    Throttled(Page, u64),
    SeeOther(&'static str),
    Text(StatusCode, &'static str),
    User(heapless::String<USER_LEN>),
    Error(SessionError),
}

/// Headers on every page: no caching of session-specific content, no
/// framing, no sniffing, no referrer, and nothing but our inline CSS.
const PAGE_HEADERS: [(&str, &str); 5] = [
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
];

impl IntoResponse for Reply {
    async fn write_to<R: Read, W: ResponseWriter<Error = R::Error>>(
        self,
        connection: Connection<'_, R>,
        writer: W,
    ) -> Result<ResponseSent, W::Error> {
        match self {
            Reply::Page(status, page) => {
                let response = Response::new(status, Html(page)).with_headers(PAGE_HEADERS);
                writer.write_response(connection, response).await
            }
            Reply::Throttled(page, secs) => {
                let response = Response::new(StatusCode::TOO_MANY_REQUESTS, Html(page))
                    .with_headers(PAGE_HEADERS)
                    .with_header("Retry-After", secs);
                writer.write_response(connection, response).await
            }
            Reply::SeeOther(location) => Redirect::to(location).write_to(connection, writer).await,
            Reply::Text(status, text) => {
                let response = Response::new(status, text).with_header("Cache-Control", "no-store");
                writer.write_response(connection, response).await
            }
            Reply::User(user) => {
                let response = Response::ok(user).with_header("Cache-Control", "no-store");
                writer.write_response(connection, response).await
            }
            Reply::Error(error) => error.write_to(connection, writer).await,
        }
    }
}

fn or_error(reply: Result<Reply, SessionError>) -> Reply {
    reply.unwrap_or_else(Reply::Error)
}

/// The logged-in user: a live, protected session with a user.
async fn current_user<R: TryCryptoRng>(
    session: &AppSession<R>,
) -> Option<heapless::String<USER_LEN>> {
    if !session.is_protected().await {
        return None;
    }
    session.read(|account| account.user.clone()).await.flatten()
}

/// `GET /`: for a signed-in user, counts the view and shows the user; for
/// anyone else, the login form, storing nothing (issue 14, finding 1).
pub(crate) async fn index<R: TryCryptoRng>(
    State(login): State<&'static Login>,
    session: AppSession<R>,
) -> WithSession<Reply> {
    let reply = or_error(index_page(login, &session).await);
    session.respond(reply).await
}

async fn index_page<R: TryCryptoRng>(
    login: &Login,
    session: &AppSession<R>,
) -> Result<Reply, SessionError> {
    // Only a signed-in session counts its views: an anonymous page view
    // stores nothing, so a flood of them can fill nothing.
    let account = if session.is_protected().await {
        // One atomic read-modify-write of the live session.
        let account = session
            .update(|account| {
                account.visits = account.visits.saturating_add(1);
                account.clone()
            })
            .await?;
        Some(account)
    } else {
        None
    };
    // The session's token when signed in; else a pre-session token, bound
    // to a cookie of its own.
    let csrf = token_text(session.csrf_token().await?.as_str());
    let page = Page {
        visits: account.as_ref().map_or(0, |account| account.visits),
        user: account.and_then(|account| account.user),
        csrf,
        error: None,
        demo: login.is_demo(),
        occupancy: session.occupancy().await,
        expires_in_secs: expires_in_secs(session).await,
    };
    Ok(Reply::Page(StatusCode::OK, page))
}

/// Seconds until the session expires, by the embassy clock.
async fn expires_in_secs<R: TryCryptoRng>(session: &AppSession<R>) -> Option<u64> {
    let at = session.expires_at().await?;
    Some(
        at.saturating_duration_since(sesh_embassy::now())
            .as_secs_ceil(),
    )
}

/// A form token as the page's field (every token fits: 22 or 32 characters).
fn token_text(token: &str) -> heapless::String<{ sesh::presession::PRE_CSRF_TOKEN_LEN }> {
    heapless::String::try_from(token).unwrap_or_default()
}

/// The login form again, with `notice` and the form's token `csrf`, which
/// just verified: it goes back as it is, and nothing is stored or set.
async fn form_again<R: TryCryptoRng>(
    login: &Login,
    session: &AppSession<R>,
    csrf: &str,
    notice: Notice,
) -> Result<Page, SessionError> {
    let visits = session.read(|account| account.visits).await.unwrap_or(0);
    Ok(Page {
        user: None,
        visits,
        csrf: token_text(csrf),
        error: Some(notice),
        demo: login.is_demo(),
        occupancy: session.occupancy().await,
        expires_in_secs: expires_in_secs(session).await,
    })
}

/// `POST /login`.
pub(crate) async fn login<R: TryCryptoRng>(
    State(login): State<&'static Login>,
    session: AppSession<R>,
    DeviceLabel(label): DeviceLabel,
    Form(form): Form<LoginForm>,
) -> WithSession<Reply> {
    let reply = or_error(log_in(login, &session, &form, label).await);
    session.respond(reply).await
}

async fn log_in<R: TryCryptoRng>(
    login: &Login,
    session: &AppSession<R>,
    form: &LoginForm,
    label: sesh::owner::Label,
) -> Result<Reply, SessionError> {
    // The token is bound to the pre-session cookie the form was served
    // with (or to the session); checking it never creates a session.
    if !session.verify_csrf(&form.csrf).await {
        return Ok(Reply::Text(
            StatusCode::FORBIDDEN,
            "bad or missing CSRF token\n",
        ));
    }
    // Counted before the password is checked (after the token, so that
    // posts without the form cannot hold a user back); refused, the
    // password is not even looked at.
    let attempt = match login.begin(&form.username, sesh_embassy::now()) {
        Ok(attempt) => attempt,
        Err(refused) => {
            let secs = refused.retry_after().as_secs_ceil().max(1);
            let page = form_again(login, session, &form.csrf, Notice::TryAgainIn(secs)).await?;
            return Ok(Reply::Throttled(page, secs));
        }
    };
    if !attempt
        .credentials()
        .check(&form.username, &form.password)
        .await
    {
        // Counted already: the attempt is simply dropped.
        let page = form_again(login, session, &form.csrf, Notice::WrongCredentials).await?;
        return Ok(Reply::Page(StatusCode::UNAUTHORIZED, page));
    }
    let name = attempt.credentials().user();
    login.succeeded(attempt);
    let Ok(user) = heapless::String::try_from(name) else {
        return Ok(Reply::Text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "user name too long\n",
        ));
    };
    let remember = form.remember.as_str() == "on";
    let Some(sign_in) = sign_in_as(name, label, remember) else {
        return Ok(Reply::Text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "user name too long\n",
        ));
    };
    let account = |_: Option<&crate::Account>| crate::Account {
        user: Some(user),
        visits: 0,
    };
    // One step: a fresh id (an id planted before login is dead), the
    // account, the owner, label and lifetime, or nothing at all.
    match session.sign_in(&sign_in, account).await {
        Ok(_) => {}
        Err(SessionError::Full) => {
            return Ok(Reply::Text(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many devices are signed in: sign out on one of them first\n",
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(Reply::SeeOther("/"))
}

/// `GET /me`.
pub(crate) async fn me<R: TryCryptoRng>(session: AppSession<R>) -> WithSession<Reply> {
    let reply = match current_user(&session).await {
        Some(user) => Reply::User(user),
        None => Reply::Text(StatusCode::UNAUTHORIZED, "not logged in\n"),
    };
    session.respond(reply).await
}

/// `POST /logout`.
pub(crate) async fn logout<R: TryCryptoRng>(
    session: AppSession<R>,
    Form(form): Form<CsrfForm>,
) -> WithSession<Reply> {
    let reply = if session.verify_csrf(&form.csrf).await {
        session.destroy().await;
        Reply::SeeOther("/")
    } else {
        Reply::Text(StatusCode::FORBIDDEN, "bad or missing CSRF token\n")
    };
    session.respond(reply).await
}

/// The table's occupancy as JSON (the test-only stats port).
pub(crate) async fn stats<R>(
    picoserve::extract::State(sessions): picoserve::extract::State<&'static crate::AppSessions<R>>,
) -> impl IntoResponse {
    use core::fmt::Write as _;
    let (used, capacity) = sessions.occupancy().await;
    let mut body = heapless::String::<64>::new();
    // 64 bytes hold two numbers of at most 20 digits and the keys.
    let _ = write!(body, "{{\"sessions\":{used},\"capacity\":{capacity}}}");
    Response::ok(body)
        .with_header("Content-Type", "application/json")
        .with_header("Cache-Control", "no-store")
}
