//! `auth`: the mode, public paths and OAuth providers.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;
use url::Url;

use super::Check;
use crate::config::raw::*;
use crate::config::*;

pub(super) fn auth(check: &mut Check, value: Option<Value>) -> Option<AuthConfig> {
    let raw: RawAuth = match value {
        Some(value) => check.section("auth", value)?,
        None => RawAuth::default(),
    };
    let mode = match raw.mode.as_deref() {
        None | Some("oauth") => AuthMode::Oauth,
        Some("anonymous") => AuthMode::Anonymous,
        Some(other) => {
            check.fail("auth.mode", format!("unknown mode {other:?}: expected anonymous or oauth"));
            return None;
        }
    };
    for (i, public) in raw.public_paths.iter().enumerate() {
        if !public.starts_with('/') {
            check.fail(format!("auth.publicPaths[{i}]"), format!("{public:?} must start with /"));
        }
    }
    let oauth = raw.oauth.map(|oauth| oauth_config(check, oauth));
    if mode == AuthMode::Oauth && oauth.as_ref().is_none_or(|o| o.providers.is_empty()) {
        check.fail(
            "auth.oauth.providers",
            "oauth mode needs at least one provider (or set auth.mode: anonymous to leave the API open)",
        );
    }
    Some(AuthConfig { mode, public_paths: raw.public_paths, oauth })
}

fn oauth_config(check: &mut Check, raw: RawOAuth) -> OAuthConfig {
    let resource_url =
        raw.resource_url.and_then(|url| check.url("auth.oauth.resourceUrl", &url, &["https", "http"]));
    let mut names = HashSet::new();
    let providers = raw
        .providers
        .into_iter()
        .enumerate()
        .filter_map(|(i, provider)| {
            let path = format!("auth.oauth.providers[{i}]");
            let provider: RawProvider = check.section(&path, provider)?;
            let name = check.required(&format!("{path}.name"), provider.name.as_deref()).map(str::to_owned);
            if let Some(name) = &name
                && !names.insert(name.clone())
            {
                check.fail(format!("{path}.name"), format!("{name:?} is used by an earlier provider"));
            }
            let issuer = check.required(&format!("{path}.issuerUrl"), provider.issuer_url.as_deref());
            let issuer_url = issuer.and_then(|url| secure_url(check, &format!("{path}.issuerUrl"), url));
            let audience =
                check.required(&format!("{path}.audience"), provider.audience.as_deref()).map(str::to_owned);
            let optional_url = |check: &mut Check, key: &str, raw: Option<String>| {
                raw.and_then(|url| secure_url(check, &format!("{path}.{key}"), &url))
            };
            let jwks_url = optional_url(check, "jwksUrl", provider.jwks_url);
            let introspection_url = optional_url(check, "introspectionUrl", provider.introspection_url);
            Some(OAuthProvider {
                name: name?,
                issuer_url: issuer_url?,
                audience: audience?,
                client_id: provider.client_id,
                client_secret_file: provider.client_secret_file.map(PathBuf::from),
                ca_cert_path: provider.ca_cert_path.map(PathBuf::from),
                jwks_url,
                auth_token_file: provider.auth_token_file.map(PathBuf::from),
                introspection_url,
                allow_private_ip: provider.allow_private_ip,
            })
        })
        .collect();
    OAuthConfig {
        resource_url,
        realm: raw.realm.unwrap_or_else(|| "mcp-registry".to_owned()),
        scopes_supported: raw.scopes_supported,
        providers,
    }
}

/// Token issuers must be https, except on loopback (local development and tests).
fn secure_url(check: &mut Check, path: &str, raw: &str) -> Option<Url> {
    let url = check.url(path, raw, &["https", "http"])?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "http" && !loopback {
        check.fail(path, format!("{raw:?} must use https (http is allowed only on loopback)"));
        return None;
    }
    Some(url)
}
