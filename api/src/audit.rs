//! The API's side of the audit trail ([`registry_runtime::audit`]): [`audit_requests`] gives every request an
//! [`AuditSlot`] that authentication, [`crate::auth::WriteAccess`] and the write handlers fill in (who, what,
//! where), and records one event when the request was a write or was refused (401 or 403).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Method};
use axum::response::Response;
use ipnet::IpNet;
use registry_runtime::audit::{AuditEvent, Outcome};

use crate::auth::authz::Action;
use crate::auth::{Principal, is_write};
use crate::names::REQUEST_ID;
use crate::state::AppState;

/// What the layers and the handler learn about a request, for its audit event.
#[derive(Debug, Default, Clone)]
pub struct AuditFacts {
    /// Set once the request reached a write route's authorization.
    pub action: Option<Action>,
    pub provider: Option<String>,
    pub subject: Option<String>,
    pub registry: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    /// Why the request was refused.
    pub detail: Option<String>,
    /// Set by a token exchange: the method asked for (its event's action is `exchange`).
    pub exchange: Option<&'static str>,
}

impl AuditFacts {
    /// Who the token says: its provider, or for a registry token `registry:<method>` (the exchange that
    /// issued it), and its subject.
    pub fn principal(&mut self, principal: &Principal) {
        self.provider = Some(match &principal.registry {
            Some(grant) => format!("{}:{}", principal.provider, grant.method),
            None => principal.provider.clone(),
        });
        self.subject.clone_from(&principal.subject);
    }
}

/// The facts of one request, shared by everything that handles it.
#[derive(Debug, Default, Clone)]
pub struct AuditSlot(Arc<Mutex<AuditFacts>>);

impl AuditSlot {
    /// The request's slot; outside [`audit_requests`] (a router without the layer) a detached one.
    pub fn of(extensions: &Extensions) -> Self {
        // A request outside the audit layer notes into a slot nobody reads.
        extensions.get::<Self>().cloned().unwrap_or_default()
    }

    pub fn note(&self, update: impl FnOnce(&mut AuditFacts)) {
        update(&mut self.lock());
    }

    fn lock(&self) -> MutexGuard<'_, AuditFacts> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handler's way to the request's slot (a detached one outside the audit layer).
impl<S: Send + Sync> FromRequestParts<S> for AuditSlot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// The client's address, as [`client_address`] finds it, for the layers inside the audit's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Records the audit event of each write and each refused request, once its answer is known. It sits
/// outside the request timeout, so that a write cut off by it is recorded too.
pub async fn audit_requests<F: Future<Output = Response>>(
    state: &AppState,
    mut request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    // Shared, not copied: most requests record nothing.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let client =
        peer.map(|peer| client_address(peer, request.headers(), &state.config.server.trusted_proxies));
    if let Some(client) = client {
        request.extensions_mut().insert(ClientAddress(client));
    }
    let response = next(request).await;
    let status = response.status().as_u16();
    let facts = std::mem::take(&mut *slot.lock());
    // A write or an exchange the rate limits refused is a refusal; a read they refused is not recorded (a
    // client looping over reads would flood the trail).
    let limited = status == 429;
    let outcome = if limited { Outcome::Refused } else { Outcome::of_status(status) };
    if facts.action.is_none() && facts.exchange.is_none() && (outcome != Outcome::Refused || limited) {
        return response;
    }
    let action = match facts.action {
        Some(action) => action.as_str(),
        None if facts.exchange.is_some() => "exchange",
        None if !is_write(&method, uri.path()) => "read",
        None if matches!(method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) => {
            Action::of(&method, uri.path()).as_str()
        }
        None => "other",
    };
    state.audit.record(&AuditEvent {
        request_id: request_id.and_then(|id| id.to_str().ok().map(str::to_owned)),
        client: client.map(|ip| ip.to_string()),
        provider: facts.provider,
        subject: facts.subject,
        method: Some(method.to_string()),
        path: Some(uri.path().to_owned()),
        registry: facts.registry,
        name: facts.name,
        version: facts.version,
        status: Some(status),
        detail: facts.detail,
        ..AuditEvent::new(action, outcome)
    });
    response
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest address in
/// `X-Forwarded-For` (read from the right) that is not a trusted proxy, or the farthest one when all are.
/// An entry that is not an address ends the walk at the last trusted hop.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|network| network.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_forwarded_client_counts_only_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        let proxy = ip("10.1.2.3");

        let cases = [
            (ip("198.51.100.9"), forwarded(&["203.0.113.5"]), "198.51.100.9"),
            (proxy, forwarded(&[]), "10.1.2.3"),
            (proxy, forwarded(&["203.0.113.5"]), "203.0.113.5"),
            (proxy, forwarded(&["192.0.2.1, 203.0.113.5, 10.9.9.9"]), "203.0.113.5"),
            (proxy, forwarded(&["192.0.2.1", "203.0.113.5"]), "203.0.113.5"),
            (proxy, forwarded(&["10.7.7.7, 10.8.8.8"]), "10.7.7.7"),
            (proxy, forwarded(&["203.0.113.5, not-an-address, 10.8.8.8"]), "10.8.8.8"),
            (ip("fd00::1"), forwarded(&["2001:db8::7"]), "2001:db8::7"),
        ];

        for (peer, headers, expected) in cases {
            assert_eq!(client_address(peer, &headers, &trusted), ip(expected), "{peer} {headers:?}");
        }
    }
}
