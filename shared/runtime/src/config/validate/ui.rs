//! `ui`: the web catalogue, its sessions, and sign-in through one of the OAuth providers.

use serde_json::Value;

use super::Check;
use crate::config::raw::{RawSignIn, RawUi};
use crate::config::*;

/// `ui`: on unless `enabled: false`; `signIn` only in oauth mode, through a provider with a client id.
pub(super) fn ui(check: &mut Check, value: Option<Value>, auth: Option<&AuthConfig>) -> Option<UiConfig> {
    let Some(raw) = value else { return Some(UiConfig::default()) };
    let raw: RawUi = check.section("ui", raw)?;
    let session_ttl = check.duration("ui.sessionTtl", raw.session_ttl.as_deref(), Some(DEFAULT_SESSION_TTL));
    let sign_in = match raw.sign_in {
        Some(sign_in) => Some(self::sign_in(check, sign_in, auth)?),
        None => None,
    };
    Some(UiConfig { enabled: raw.enabled.unwrap_or(true), session_ttl: session_ttl?, sign_in })
}

fn sign_in(check: &mut Check, raw: RawSignIn, auth: Option<&AuthConfig>) -> Option<SignInConfig> {
    let provider = check.required("ui.signIn.provider", raw.provider.as_deref()).map(str::to_owned);
    // A broken auth section is reported on its own.
    if let (Some(auth), Some(name)) = (auth, &provider) {
        let providers = auth.oauth.iter().flat_map(|oauth| &oauth.providers);
        let known = providers.clone().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        match providers.clone().find(|p| &p.name == name) {
            _ if auth.mode != AuthMode::Oauth => {
                check.fail(
                    "ui.signIn",
                    "needs auth.mode: oauth (in anonymous mode there is nobody to sign in)",
                );
            }
            None => check.fail(
                "ui.signIn.provider",
                format!("{name:?} is not among auth.oauth.providers (they are: {known})"),
            ),
            Some(p) if p.client_id.is_none() => check.fail(
                "ui.signIn.provider",
                format!("provider {name} has no clientId: sign-in is a client of the provider and needs one"),
            ),
            Some(_) => {}
        }
    }
    if raw.redirect_urls.is_empty() {
        check.fail(
            "ui.signIn.redirectUrls",
            format!("is required: the callback on each public host, e.g. https://registry.example.com{SIGN_IN_CALLBACK_PATH}"),
        );
    }
    let mut redirect_urls = Vec::new();
    for (i, raw) in raw.redirect_urls.iter().enumerate() {
        let path = format!("ui.signIn.redirectUrls[{i}]");
        let Some(url) = check.url(&path, raw, &["https", "http"]) else { continue };
        if url.scheme() == "http" && !is_loopback(&url) {
            check.fail(
                &path,
                format!("{raw:?} must use https (http only on loopback: session cookies are Secure)"),
            );
        } else if url.path() != SIGN_IN_CALLBACK_PATH || url.query().is_some() || url.fragment().is_some() {
            check.fail(
                &path,
                format!("{raw:?} must end in {SIGN_IN_CALLBACK_PATH}, with no query or fragment"),
            );
        } else {
            redirect_urls.push(url);
        }
    }
    let mut scopes = raw.scopes.unwrap_or_else(|| vec!["openid".to_owned(), "profile".to_owned()]);
    for (i, scope) in scopes.iter().enumerate() {
        if scope.is_empty() || scope.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
            check.fail(format!("ui.signIn.scopes[{i}]"), format!("{scope:?} is not a scope token"));
        }
    }
    if !scopes.iter().any(|scope| scope == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    Some(SignInConfig { provider: provider?, redirect_urls, scopes })
}
