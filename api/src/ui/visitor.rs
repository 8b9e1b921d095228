//! Who is looking at a page: a signed-in session (a random id in a cookie, the rest in the database, so any
//! replica serves any browser), a caller with a bearer token, or nobody. The gate admits sessions on `/ui`
//! ([`admit`]); pages take a [`Visitor`], which says what to offer, carries the CSRF token of the forms that
//! change something, and splices the signed-in bar into a page, so rendered pages stay cacheable for all.

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use bytes::Bytes;
use cookie::{Cookie, SameSite};
use registry_store::UiSession;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::{error_page, html, request_id};
use crate::audit::AuditSlot;
use crate::auth::authz::{Action, Grants};
use crate::auth::{Principal, WriteAccess};
use crate::state::AppState;

/// The cookie of a signed-in browser: the session's random id, nothing else.
pub const SESSION_COOKIE: &str = "registry_session";
/// The cookie that ties a sign-in's callback to the browser that began it: its `state`.
pub const SIGN_IN_COOKIE: &str = "registry_sign_in";
/// In anonymous mode, where nobody signs in, the token the forms repeat (the double-submit pattern).
pub const CSRF_COOKIE: &str = "registry_csrf";
/// Where a rendered page takes the signed-in bar.
const BAR_MARKER: &str = "<!--visitor-->";

/// A random secret: 32 bytes, URL-safe base64.
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The value of the cookie `name`, from the `Cookie` headers only (never from the query string or a form).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, with `same_site`, under `path`, for `max_age` (zero removes it), and
/// Secure when `secure`.
pub fn set_cookie(
    name: &str,
    value: String,
    path: &'static str,
    same_site: SameSite,
    max_age: std::time::Duration,
    secure: bool,
) -> HeaderValue {
    let max_age = cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
    let cookie = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(same_site)
        .secure(secure)
        .max_age(max_age)
        .build();
    // Names and values are ours: base64url and fixed words, always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A principal as a session keeps it.
#[derive(Serialize, Deserialize)]
pub struct StoredPrincipal {
    pub provider: String,
    pub subject: Option<String>,
    pub claims: Map<String, Value>,
    pub display_name: String,
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub display_name: String,
    pub csrf: String,
    pub principal: Principal,
}

impl Session {
    pub(super) fn of(stored: &UiSession) -> Option<Self> {
        let principal: StoredPrincipal = serde_json::from_str(&stored.principal).ok()?;
        Some(Self {
            display_name: principal.display_name,
            csrf: stored.csrf_token.clone(),
            principal: Principal {
                provider: principal.provider,
                subject: principal.subject,
                claims: principal.claims,
                registry: None,
            },
        })
    }
}

/// What the gate does on `/ui`: a valid session cookie of the configured sign-in admits the request as its
/// principal, whose scopes allow the request as the API checks a token's; without one, a page that needs a
/// signed-in user leads to sign-in, unless a bearer token is there for the API's check. `Ok(request)` goes on
/// to that check.
pub async fn admit(
    state: &AppState,
    mut request: Request,
    required: bool,
    write: bool,
) -> Result<Request, Response> {
    let (Some(sign_in), Some(id)) = (state.sign_in.as_deref(), cookie(request.headers(), SESSION_COOKIE))
    else {
        return sign_in_needed(state, &request, required).map_or(Ok(request), Err);
    };
    let stored = state.store.ui_session(&id).await.map_err(|error| {
        super::failed(&crate::error::ApiError::from(error), request_id(request.headers()))
    })?;
    // A session begun through another provider (before the configuration changed) is nobody's.
    let session = stored
        .as_ref()
        .and_then(Session::of)
        .filter(|session| session.principal.provider == sign_in.config.provider);
    let Some(session) = session else {
        return sign_in_needed(state, &request, required).map_or(Ok(request), Err);
    };
    let audit = AuditSlot::of(request.extensions());
    audit.note(|facts| facts.principal(&session.principal));
    let scoped = state
        .authenticator
        .as_deref()
        .is_none_or(|authenticator| authenticator.scope_refusal(&session.principal, write).is_none());
    if !scoped {
        if !required {
            // The page is open to anyone: it is shown as to anyone.
            return Ok(request);
        }
        let detail = "Your sign-in does not carry the scope this needs. Sign out, and sign in again once the \
                      catalogue asks for it (ui.signIn.scopes).";
        let body = super::error_body("Not allowed", detail.to_owned(), request_id(request.headers()));
        return Err(Visitor::signed_in(session).page(StatusCode::FORBIDDEN, body));
    }
    request.extensions_mut().insert(session.principal.clone());
    request.extensions_mut().insert(session);
    Ok(request)
}

/// Where a request with no session goes instead of on to the API's check: to sign-in, when it needs a token
/// and carries none.
fn sign_in_needed(state: &AppState, request: &Request, required: bool) -> Option<Response> {
    (required && crate::auth::bearer_token(request.headers()).is_none())
        .then(|| sign_in_first(state, request))
}

/// A page that needs a signed-in user, asked for by nobody: a page leads to sign-in and back; a form, or a
/// catalogue where nobody can sign in, gets a 401 page saying so.
fn sign_in_first(state: &AppState, request: &Request) -> Response {
    if state.sign_in.is_some() && request.method() == Method::GET {
        let here = request.uri().path_and_query().map_or(super::UI_PATH, |pq| pq.as_str());
        return Redirect::to(&sign_in_link(here)).into_response();
    }
    let detail = if state.sign_in.is_some() {
        "Sign in first, then try again."
    } else {
        "This catalogue needs a signed-in user, and sign-in is not configured here (ui.signIn). Use the API with a \
         bearer token, or ask the operators to configure sign-in."
    };
    error_page(StatusCode::UNAUTHORIZED, "Sign-in needed", detail.to_owned(), request_id(request.headers()))
}

/// The sign-in link that comes back to `here`.
pub fn sign_in_link(here: &str) -> String {
    let back: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    format!("{}?return={back}", super::SIGN_IN_PATH)
}

/// Whoever asks for a page, as the pages need them.
pub struct Visitor {
    pub session: Option<Session>,
    /// A principal from a bearer token, when no session.
    bearer: Option<Principal>,
    /// Whether sign-in is configured.
    sign_in: bool,
    /// Anonymous mode: the forms' token, and whether the browser still needs its cookie.
    anonymous_csrf: Option<(String, bool)>,
    /// The page asked for (path and query), where sign-in comes back to.
    here: String,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = parts.extensions.get::<Session>().cloned();
        let bearer = if session.is_none() { parts.extensions.get::<Principal>().cloned() } else { None };
        let anonymous_csrf =
            state.authenticator.is_none().then(|| match cookie(&parts.headers, CSRF_COOKIE) {
                Some(token) if token.len() >= 32 => (token, false),
                _ => (random_secret(), true),
            });
        let here = parts.uri.path_and_query().map_or(super::UI_PATH, |pq| pq.as_str()).to_owned();
        Ok(Self { session, bearer, sign_in: state.sign_in.is_some(), anonymous_csrf, here })
    }
}

impl Visitor {
    /// A signed-in visitor, for a page the gate answers itself.
    fn signed_in(session: Session) -> Self {
        Self {
            session: Some(session),
            bearer: None,
            sign_in: true,
            anonymous_csrf: None,
            here: String::new(),
        }
    }
}

/// The signed-in bar in the site header.
#[derive(Template)]
#[template(
    source = r#"{% if let Some(name) = name %}<span class="who">Signed in as <strong>{{ name }}</strong></span><form method="post" action="/ui/auth/sign-out" class="inline"><input type="hidden" name="csrf" value="{{ csrf }}"><button type="submit" class="link">Sign out</button></form>{% else if let Some(link) = sign_in %}<a href="{{ link }}">Sign in</a>{% endif %}"#,
    ext = "html"
)]
struct Bar<'a> {
    name: Option<&'a str>,
    csrf: &'a str,
    sign_in: Option<String>,
}

impl Visitor {
    /// The token the forms that change something carry.
    pub fn csrf(&self) -> &str {
        match (&self.session, &self.anonymous_csrf) {
            (Some(session), _) => &session.csrf,
            (None, Some((token, _))) => token,
            (None, None) => "",
        }
    }

    /// Whether the form of `action` is offered: as the API decides on the write, the caller holds its role.
    pub fn may(&self, state: &AppState, action: Action) -> bool {
        if state.authenticator.is_none() {
            return true;
        }
        let principal = self.session.as_ref().map(|session| &session.principal).or(self.bearer.as_ref());
        let Some(principal) = principal else { return false };
        let grants = match &principal.registry {
            Some(grant) => grant.grants(action),
            None => Grants::of(state.config.auth.authz.as_ref(), &principal.claims),
        };
        let scoped = (state.authenticator.as_deref())
            .is_none_or(|authenticator| authenticator.scope_refusal(principal, true).is_none());
        grants.holds(action.role()) && scoped
    }

    /// Whether a submitted form is this site's: it carries the session's token (or, in anonymous mode, the
    /// cookie's). A caller with a bearer token sends no ambient credential and needs none.
    pub fn sent_by_this_site(&self, token: &str) -> bool {
        let expected = match (&self.session, &self.anonymous_csrf, &self.bearer) {
            (Some(session), _, _) => session.csrf.as_str(),
            (None, _, Some(_)) => return true,
            // A fresh token means the browser sent no cookie: nothing to match.
            (None, Some((token, false)), None) => token.as_str(),
            _ => return false,
        };
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }

    /// The write a form asks for, when the form is this site's and the API lets the caller make it; else the
    /// page that says why not (a forged form, no role, a name outside the caller's namespaces).
    pub async fn write_form(
        &self,
        csrf: &str,
        access: Result<WriteAccess, Response>,
        headers: &HeaderMap,
    ) -> Result<WriteAccess, Response> {
        if !self.sent_by_this_site(csrf) {
            return Err(forged(headers));
        }
        match access {
            Ok(access) => Ok(access),
            Err(refusal) => Err(super::refused(refusal, headers).await),
        }
    }

    /// A rendered page, with the signed-in bar, and the CSRF cookie a browser lacks.
    pub fn page(&self, status: StatusCode, body: Bytes) -> Response {
        let bar = Bar {
            name: self.session.as_ref().map(|session| session.display_name.as_str()),
            csrf: self.csrf(),
            sign_in: (self.sign_in && self.session.is_none() && self.bearer.is_none())
                .then(|| sign_in_link(&self.here)),
        };
        let body = match (bar.render(), marker_at(&body)) {
            (Ok(bar), Some(at)) => {
                let mut spliced = Vec::with_capacity(body.len() + bar.len());
                spliced.extend_from_slice(&body[..at]);
                spliced.extend_from_slice(bar.as_bytes());
                spliced.extend_from_slice(&body[at + BAR_MARKER.len()..]);
                Bytes::from(spliced)
            }
            _ => body,
        };
        let mut response = html(status, body);
        if let Some((token, true)) = &self.anonymous_csrf {
            let cookie = set_cookie(
                CSRF_COOKIE,
                token.clone(),
                super::UI_PATH,
                SameSite::Strict,
                CSRF_COOKIE_AGE,
                false,
            );
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// The 403 page of a form that is not this site's.
pub fn forged(headers: &HeaderMap) -> Response {
    let detail = "This form did not come from this page, or the page is too old. Reload the page and submit it \
                  again.";
    error_page(StatusCode::FORBIDDEN, "Form refused", detail.to_owned(), request_id(headers))
}

/// How long the anonymous forms' cookie lasts.
const CSRF_COOKIE_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

fn marker_at(body: &[u8]) -> Option<usize> {
    body.windows(BAR_MARKER.len()).position(|window| window == BAR_MARKER.as_bytes())
}
