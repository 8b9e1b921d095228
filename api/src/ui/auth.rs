//! Signing in and out of the web catalogue: `GET /ui/auth/sign-in` sends the browser to the provider (the
//! authorization code flow with PKCE, see [`crate::auth::sign_in`]), `GET /ui/auth/callback` finishes it and
//! starts a session, and `POST /ui/auth/sign-out` ends it. The callback is tied to the browser that began
//! the sign-in by a cookie holding its `state`, so nobody can sign a victim in as someone else.

use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use cookie::SameSite;
use registry_runtime::config::{SignInConfig, is_loopback};
use registry_store::{PendingSignIn, UiSession};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use url::Url;

use super::visitor::{
    SESSION_COOKIE, SIGN_IN_COOKIE, Session, StoredPrincipal, cookie, forged, random_secret, set_cookie,
};
use super::{UI_PATH, error_page, failed, request_id};
use crate::auth::sign_in::SignInError;
use crate::error::ApiError;
use crate::state::AppState;

pub const SIGN_OUT_PATH: &str = "/ui/auth/sign-out";
/// Where sign-out leads: a page anyone may see, so that a catalogue that needs a signed-in user does not send
/// the browser straight back to the provider (whose own session would sign it in again).
pub const SIGNED_OUT_PATH: &str = "/ui/auth/signed-out";
/// How long a sign-in may take between leaving for the provider and coming back.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Where the sign-in cookie is sent: the callback only.
const AUTH_PATH: &str = "/ui/auth";

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(rename = "return")]
    return_to: Option<String>,
}

/// A page of this catalogue to come back to: a `/ui` path (with its query), never another site. Nothing that
/// a browser or the URL rules could turn into another site's address (`//`, `\\`, a dot segment, an encoded
/// dot or slash) and nothing but printable ASCII.
fn return_to(asked: Option<String>) -> String {
    asked
        .filter(|asked| {
            let path = asked.split('?').next().unwrap_or_default();
            let lowered = path.to_ascii_lowercase();
            (path == UI_PATH || path.starts_with("/ui/"))
                && !path.starts_with(AUTH_PATH)
                && !path.contains("//")
                && !path.split('/').any(|segment| segment == "." || segment == "..")
                && !lowered.contains("%2e")
                && !lowered.contains("%2f")
                && !lowered.contains("%5c")
                && asked.bytes().all(|b| b.is_ascii_graphic())
                && asked.len() <= 2048
        })
        .unwrap_or_else(|| UI_PATH.to_owned())
}

/// The configured callback on the host the browser asked: the sign-in cookie must come back to it.
fn redirect_url<'a>(config: &'a SignInConfig, headers: &HeaderMap) -> Option<&'a Url> {
    let host = headers.get(header::HOST)?.to_str().ok()?.to_ascii_lowercase();
    config.redirect_urls.iter().find(|url| {
        let (Some(name), Some(port)) = (url.host_str(), url.port_or_known_default()) else { return false };
        host == format!("{name}:{port}") || (url.port().is_none() && host == name)
    })
}

/// Cookies go only over HTTPS, except to a loopback callback over plain HTTP.
fn secure(redirect_url: &Url) -> bool {
    !(redirect_url.scheme() == "http" && is_loopback(redirect_url))
}

fn not_configured(headers: &HeaderMap) -> Response {
    let detail = "Nobody signs in to this catalogue: sign-in is not configured (ui.signIn).".to_owned();
    error_page(StatusCode::NOT_FOUND, "Sign-in is off", detail, request_id(headers))
}

/// The page of a failed sign-in: what kind of failure, for the person; the details, for the log, under the
/// request id the page shows.
fn sign_in_failed(error: &SignInError, headers: &HeaderMap) -> Response {
    let (status, detail) = match error {
        SignInError::Unreachable(_) => {
            (StatusCode::BAD_GATEWAY, "The identity provider could not be reached. Try again in a moment.")
        }
        SignInError::Refused(_) => {
            (StatusCode::FORBIDDEN, "The identity provider refused the sign-in. Sign in again.")
        }
        SignInError::TokenRefused(_) => (
            StatusCode::FORBIDDEN,
            "The identity provider signed you in, but its access token is not one this registry accepts (the \
             operators' log says why).",
        ),
    };
    let request_id = request_id(headers);
    tracing::warn!(error = %error, request_id = ?request_id, "a sign-in to the web catalogue failed");
    error_page(status, "Sign-in failed", detail.to_owned(), request_id)
}

/// Sends the browser to the provider, remembering what the callback needs.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Response {
    let Some(sign_in) = state.sign_in.as_deref() else { return not_configured(&headers) };
    let Some(redirect_url) = redirect_url(&sign_in.config, &headers) else {
        let hosts: Vec<String> =
            (sign_in.config.redirect_urls.iter()).map(|url| url.origin().ascii_serialization()).collect();
        let detail = format!(
            "Sign-in works from the catalogue's configured addresses only ({}): open it there and sign in.",
            hosts.join(", ")
        );
        return error_page(StatusCode::BAD_REQUEST, "Sign in elsewhere", detail, request_id(&headers));
    };
    let started = match sign_in.start(redirect_url).await {
        Ok(started) => started,
        Err(error) => return sign_in_failed(&error, &headers),
    };
    let pending = PendingSignIn {
        pkce_verifier: started.pkce_verifier,
        nonce: started.nonce,
        redirect_url: redirect_url.to_string(),
        return_to: return_to(query.return_to),
    };
    let until = Utc::now() + SIGN_IN_WINDOW;
    if let Err(error) = state.store.begin_sign_in(&started.state, &pending, until).await {
        return failed(&ApiError::from(error), request_id(&headers));
    }
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        started.state,
        AUTH_PATH,
        SameSite::Lax,
        SIGN_IN_WINDOW,
        secure(redirect_url),
    );
    let mut response = Redirect::to(started.authorize_url.as_str()).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The provider that answers (RFC 9207), when it says.
    iss: Option<String>,
}

/// Finishes a sign-in: the code for tokens, the tokens verified, a session started.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let (Some(sign_in), Some(authenticator)) = (state.sign_in.as_deref(), state.authenticator.as_deref())
    else {
        return not_configured(&headers);
    };
    let redo = |detail: &str| {
        let detail = format!("{detail} Sign in again.");
        let mut page = error_page(StatusCode::BAD_REQUEST, "Sign-in failed", detail, request_id(&headers));
        page.headers_mut().append(header::SET_COOKIE, clear(SIGN_IN_COOKIE, AUTH_PATH));
        page
    };
    // Nothing of the answer is shown or used before it is known to finish this browser's sign-in.
    let Some(sent_state) = callback.state else {
        return redo("The identity provider's answer has no state.");
    };
    let begun_here = cookie(&headers, SIGN_IN_COOKIE)
        .is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(sent_state.as_bytes())));
    if !begun_here {
        return redo("This sign-in was not begun in this browser.");
    }
    if callback.iss.as_deref().is_some_and(|iss| iss != sign_in.issuer()) {
        return redo("The answer came from another identity provider than the one sign-in uses.");
    }
    if let Some(error) = callback.error {
        tracing::info!(error = %error, description = ?callback.error_description, "the identity provider did not sign a person in");
        // An RFC 6749 error code is a word of `[a-z_]`; nothing else of the answer is shown.
        let code: String =
            error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        return redo(&format!("The identity provider did not sign you in ({code})."));
    }
    let Some(code) = callback.code else { return redo("The identity provider's answer has no code.") };
    let pending = match state.store.take_sign_in(&sent_state).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return redo("This sign-in took longer than ten minutes, or was finished already."),
        Err(error) => return failed(&ApiError::from(error), request_id(&headers)),
    };
    let Ok(redirect_url) = Url::parse(&pending.redirect_url) else {
        return redo("This sign-in's callback address is not a URL.");
    };
    let signed_in = match sign_in
        .finish(authenticator, &redirect_url, code, pending.pkce_verifier, pending.nonce)
        .await
    {
        Ok(signed_in) => signed_in,
        Err(error) => return sign_in_failed(&error, &headers),
    };
    // The session ends with its access token, and at most sessionTtl after sign-in.
    let now = Utc::now();
    let token_left = match signed_in.principal.claims.get("exp").and_then(Value::as_i64) {
        Some(exp) => Some(Duration::from_secs(u64::try_from(exp - now.timestamp()).unwrap_or(0))),
        None => signed_in.expires_in,
    };
    let ttl = token_left.map_or(state.config.ui.session_ttl, |left| left.min(state.config.ui.session_ttl));
    if ttl.is_zero() {
        return redo("The access token the identity provider gave has expired already.");
    }
    let principal = &signed_in.principal;
    let stored = StoredPrincipal {
        provider: principal.provider.clone(),
        subject: principal.subject.clone(),
        claims: principal.claims.clone(),
        display_name: signed_in.display_name,
    };
    let session = UiSession {
        principal: serde_json::to_string(&stored).unwrap_or_default(),
        csrf_token: random_secret(),
        expires_at: now + ttl,
    };
    // A session this browser held before ends: one browser, one session.
    if let Some(previous) = cookie(&headers, SESSION_COOKIE)
        && let Err(error) = state.store.end_ui_session(&previous).await
    {
        return failed(&ApiError::from(error), request_id(&headers));
    }
    let id = random_secret();
    if let Err(error) = state.store.create_ui_session(&id, &session).await {
        return failed(&ApiError::from(error), request_id(&headers));
    }
    tracing::info!(provider = %principal.provider, subject = ?principal.subject, "signed in to the web catalogue");
    let mut response = Redirect::to(&pending.return_to).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, id, UI_PATH, SameSite::Lax, ttl, secure(&redirect_url)),
    );
    headers.append(header::SET_COOKIE, clear(SIGN_IN_COOKIE, AUTH_PATH));
    response
}

/// A `Set-Cookie` that removes the cookie `name`.
fn clear(name: &str, path: &'static str) -> HeaderValue {
    set_cookie(name, String::new(), path, SameSite::Lax, Duration::ZERO, false)
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session the browser holds, when the form is this site's.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Response {
    let Some(id) = cookie(&headers, SESSION_COOKIE) else { return Redirect::to(UI_PATH).into_response() };
    let session = match state.store.ui_session(&id).await {
        Ok(session) => session,
        Err(error) => return failed(&ApiError::from(error), request_id(&headers)),
    };
    if let Some(session) = session.as_ref().and_then(Session::of) {
        if !bool::from(session.csrf.as_bytes().ct_eq(form.csrf.as_bytes())) {
            return forged(&headers);
        }
        if let Err(error) = state.store.end_ui_session(&id).await {
            return failed(&ApiError::from(error), request_id(&headers));
        }
        tracing::info!(provider = %session.principal.provider, subject = ?session.principal.subject, "signed out of the web catalogue");
    }
    let mut response = Redirect::to(SIGNED_OUT_PATH).into_response();
    response.headers_mut().append(header::SET_COOKIE, clear(SESSION_COOKIE, UI_PATH));
    response
}

/// The page after sign-out (a notice, not an error: no request id).
pub async fn signed_out() -> Response {
    let detail =
        "You are signed out of this catalogue. Your identity provider may still remember you: on a shared \
                  computer, sign out there too."
            .to_owned();
    error_page(StatusCode::OK, "Signed out", detail, None)
}
