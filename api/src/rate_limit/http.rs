//! The rate limits on the request path: each request's class (from its route), its client (the verified
//! principal, else its address), the budget (the class's, or an override's), the decision, and what the
//! client is told: the `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-10 on
//! every answer of a limited route, and a 429 problem with `Retry-After` past its budget.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use registry_runtime::config::{RateClass, RateLimitsConfig, RatePolicy};

use super::{Client, Decision};
use crate::audit::{AuditSlot, ClientAddress};
use crate::auth::authz::{Action, matches};
use crate::auth::{Principal, is_exchange};
use crate::error::PROBLEM_JSON;
use crate::state::AppState;

pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The problem type the draft registers for a request past its quota.
const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// The class of a request, from its method and route; `None` for what is never limited (health, readiness,
/// version, `/.well-known/*`, the web catalogue's assets).
pub fn class_of(method: &Method, uri: &Uri) -> Option<RateClass> {
    let path = uri.path();
    if never_limited(path) {
        return None;
    }
    if is_exchange(path)
        || path == crate::ui::SIGN_IN_PATH
        || path == registry_runtime::config::SIGN_IN_CALLBACK_PATH
    {
        return Some(RateClass::TokenExchanges);
    }
    if path == crate::names::MCP_PATH {
        return Some(RateClass::Mcp);
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Some(RateClass::Writes);
    }
    let searched = if crate::ui::is_ui(path) { "q" } else { "search" };
    let query = uri.query().unwrap_or_default();
    let searching = url::form_urlencoded::parse(query.as_bytes())
        .any(|(key, value)| key == searched && !value.trim().is_empty());
    Some(if searching { RateClass::Search } else { RateClass::Reads })
}

/// Health, readiness, version, `/.well-known/*` and the web catalogue's assets.
pub fn never_limited(path: &str) -> bool {
    matches!(path, "/health" | "/v0/health" | "/v0.1/health" | "/readiness" | "/version")
        || path.starts_with("/.well-known/")
        || path.starts_with("/ui/assets/")
}

/// Who spends a budget: a verified principal (its provider, and a registry token's method, with its
/// subject), else the address (IPv6 by its /64).
fn client(principal: Option<&Principal>, address: IpAddr) -> Client<'_> {
    if let Some(principal) = principal
        && let Some(subject) = &principal.subject
    {
        let method = principal.registry.as_ref().map(|grant| grant.method.as_str()).unwrap_or_default();
        return Client::Principal { provider: &principal.provider, method, subject };
    }
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            Client::Network(ipnet::Ipv6Net::new(v6, 64).map(|net| net.trunc()).unwrap_or_default())
        }
        other => Client::Address(other.to_canonical()),
    }
}

/// The budget of `class` for `principal`: the first override whose claims it matches, else the class's.
fn policy(config: &RateLimitsConfig, class: RateClass, principal: Option<&Principal>) -> RatePolicy {
    let claims =
        principal.filter(|principal| principal.registry.is_none()).map(|principal| &principal.claims);
    claims
        .and_then(|claims| {
            config.overrides.iter().find(|rule| rule.class == class && matches(&rule.matcher, claims))
        })
        .map_or_else(|| config.policy(class), |rule| rule.policy)
}

/// Whole seconds, rounded up, and at least `floor`.
fn seconds(wait: Duration, floor: u64) -> u64 {
    wait.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX).max(floor)
}

fn fields(headers: &mut HeaderMap, class: RateClass, policy: RatePolicy, remaining: u64, reset: u64) {
    let name = class.as_str();
    let described = format!("\"{name}\";q={};w=60", policy.per_minute);
    let state = format!("\"{name}\";r={remaining};t={reset}");
    for (field, value) in [(&RATELIMIT_POLICY, described), (&RATELIMIT, state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(field.clone(), value);
        }
    }
}

/// The 429: problem+json with the draft's problem type and the policy it broke, `Retry-After` never earlier
/// than the budget allows, and the same wait in `RateLimit`.
fn too_many(class: RateClass, policy: RatePolicy, decision: Decision) -> Response {
    let wait = seconds(decision.retry_after, 1);
    let body = serde_json::json!({
        "type": QUOTA_EXCEEDED,
        "title": "Too Many Requests",
        "status": 429,
        "detail": format!(
            "over the {} rate limit ({} requests a minute, {} at once): try again in {wait} s",
            class.as_str(), policy.per_minute, policy.burst
        ),
        "violated-policies": [class.as_str()],
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    fields(headers, class, policy, 0, wait);
    response
}

/// Spends the request's budget, then answers it, or refuses it with 429.
pub async fn limit<F: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    match spend(state, request.method(), request.uri(), request.extensions()).await {
        Spent::Refused(refused) => refused,
        spent => spent.tell(next(request).await),
    }
}

/// The gate refused the request's token: it spends its address's budget (never the subject's the token
/// claims), and is told so; past the budget the refusal is a 429.
pub async fn token_refused(state: &AppState, request: Request, refusal: Response) -> Response {
    let (parts, _) = request.into_parts();
    match spend(state, &parts.method, &parts.uri, &parts.extensions).await {
        Spent::Refused(refused) => refused,
        spent => spent.tell(refusal),
    }
}

enum Spent {
    /// Not limited (the route, the address, or the limits are off).
    Free,
    Allowed(RateClass, RatePolicy, Decision),
    Refused(Response),
}

impl Spent {
    /// `response`, with the `RateLimit` fields of an allowed request.
    fn tell(self, mut response: Response) -> Response {
        if let Self::Allowed(class, policy, decision) = self {
            fields(response.headers_mut(), class, policy, decision.remaining, seconds(decision.next_unit, 0));
        }
        response
    }
}

async fn spend(state: &AppState, method: &Method, uri: &Uri, extensions: &Extensions) -> Spent {
    let Some(limiter) = state.limiter.as_deref() else { return Spent::Free };
    let config = &state.config.rate_limits;
    let Some(class) = class_of(method, uri) else { return Spent::Free };
    let address = extensions.get::<ClientAddress>().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.0);
    if config.exempt.iter().any(|network| network.contains(&address)) {
        return Spent::Free;
    }
    let principal = extensions.get::<Principal>();
    let policy = policy(config, class, principal);
    let (decision, _) = limiter.check(class, client(principal, address), policy).await;
    if !decision.allowed {
        metrics::counter!(registry_runtime::metrics::RATE_LIMITED, "class" => class.as_str()).increment(1);
        if class == RateClass::Writes {
            let action = Action::of(method, uri.path());
            AuditSlot::of(extensions).note(|facts| {
                facts.action = Some(action);
                facts.detail = Some(format!("over the {} rate limit", class.as_str()));
            });
        }
        return Spent::Refused(too_many(class, policy, decision));
    }
    Spent::Allowed(class, policy, decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(method: &Method, uri: &str) -> Option<&'static str> {
        class_of(method, &uri.parse().unwrap()).map(RateClass::as_str)
    }

    #[test]
    fn each_route_has_its_class_and_health_and_assets_have_none() {
        assert_eq!(class(&Method::GET, "/v0.1/servers"), Some("reads"));
        assert_eq!(class(&Method::GET, "/v0.1/servers?search=weather"), Some("search"));
        assert_eq!(class(&Method::GET, "/v0.1/servers?search="), Some("reads"));
        assert_eq!(class(&Method::GET, "/ui?q=weather"), Some("search"));
        assert_eq!(class(&Method::GET, "/ui?search=weather"), Some("reads"));
        assert_eq!(class(&Method::GET, "/docs/"), Some("reads"));
        assert_eq!(class(&Method::POST, "/v0.1/publish"), Some("writes"));
        assert_eq!(class(&Method::POST, "/v0.1/validate"), Some("writes"));
        assert_eq!(class(&Method::POST, "/ui/registries/files/sync"), Some("writes"));
        assert_eq!(class(&Method::POST, "/v0/auth/none"), Some("tokenExchanges"));
        assert_eq!(class(&Method::GET, "/ui/auth/callback?code=x"), Some("tokenExchanges"));
        assert_eq!(class(&Method::POST, "/mcp"), Some("mcp"));
        for free in [
            "/health",
            "/v0/health",
            "/readiness",
            "/version",
            "/.well-known/oauth-protected-resource",
            "/ui/assets/ui.css",
        ] {
            assert_eq!(class(&Method::GET, free), None, "{free}");
        }
    }

    #[test]
    fn a_principal_spends_its_own_budget_and_an_address_its_network_s() {
        let alice = Principal {
            provider: "idp".into(),
            subject: Some("alice".into()),
            claims: serde_json::Map::new(),
            registry: None,
        };
        let address: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(client(Some(&alice), address).to_string(), "principal:idp::alice");
        assert_eq!(client(None, address).to_string(), "address:2001:db8:1:2::/64");
        assert_eq!(client(None, "::ffff:192.0.2.7".parse().unwrap()).to_string(), "address:192.0.2.7");
        assert_eq!(seconds(Duration::from_millis(1), 1), 1);
        assert_eq!(seconds(Duration::from_millis(1001), 0), 2);
        assert_eq!(seconds(Duration::ZERO, 0), 0);
    }
}
