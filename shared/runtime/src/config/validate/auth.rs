//! `auth`: the mode, public paths and reads, and the OAuth providers.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Check;
use super::publisher_tokens::{Context, publisher_tokens};
use crate::config::raw::*;
use crate::config::*;

/// `embedded`: the database is the embedded SQLite file (one process), where registry tokens need no
/// configured signing key.
pub(super) fn auth(
    check: &mut Check,
    value: Option<Value>,
    insecure_issuers: bool,
    embedded: bool,
) -> Option<AuthConfig> {
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
    let oauth = raw.oauth.map(|oauth| oauth_config(check, oauth, insecure_issuers));
    if mode == AuthMode::Oauth {
        match &oauth {
            Some(oauth) if oauth.providers.is_empty() => no_providers(check),
            None => no_providers(check),
            Some(oauth) if oauth.resource_url.is_none() => check.fail(
                "auth.oauth.resourceUrl",
                "is required in oauth mode: the registry's canonical URL, e.g. https://registry.example.com",
            ),
            Some(_) => {}
        }
    }
    let authz = raw.authz.map(|authz| authz_config(check, authz));
    let context = Context {
        resource: oauth.as_ref().map(|oauth| oauth.resource.as_str()),
        embedded,
        providers: (mode == AuthMode::Oauth)
            .then(|| oauth.iter().flat_map(|oauth| &oauth.providers).map(|p| p.name.as_str()).collect()),
        insecure_issuers,
    };
    let publisher_tokens = raw.publisher_tokens.and_then(|value| publisher_tokens(check, value, &context));
    // Tokens go to the registry's own check by their issuer: a provider's cannot share it.
    if let (Some(tokens), Some(oauth)) = (&publisher_tokens, &oauth)
        && let Some(provider) = oauth.providers.iter().find(|provider| provider.issuer == tokens.issuer)
    {
        check.fail(
            "auth.publisherTokens.issuer",
            format!(
                "{:?} is the issuer of provider {}: the registry's own tokens need one of their own",
                tokens.issuer, provider.name
            ),
        );
    }
    Some(AuthConfig {
        mode,
        public_paths: raw.public_paths,
        public_reads: raw.public_reads.unwrap_or(false),
        oauth,
        authz,
        publisher_tokens,
    })
}

fn authz_config(check: &mut Check, raw: RawAuthz) -> AuthzConfig {
    let mut role = |name: &str, maps: Vec<Map<String, Value>>| -> Vec<ClaimMatch> {
        maps.into_iter()
            .enumerate()
            .filter_map(|(i, map)| claim_match(check, &format!("auth.authz.roles.{name}[{i}]"), map))
            .collect()
    };
    let roles = Roles {
        super_admin: role("superAdmin", raw.roles.super_admin),
        manage_sources: role("manageSources", raw.roles.manage_sources),
        manage_registries: role("manageRegistries", raw.roles.manage_registries),
        manage_entries: role("manageEntries", raw.roles.manage_entries),
    };
    let namespaces = raw
        .namespaces
        .into_iter()
        .enumerate()
        .filter_map(|(i, rule)| {
            let path = format!("auth.authz.namespaces[{i}]");
            if rule.publish.is_empty() {
                check.fail(format!("{path}.publish"), "must list at least one pattern (`*` for every name)");
            }
            check.patterns(&format!("{path}.publish"), &rule.publish);
            let matcher = claim_match(check, &format!("{path}.match"), rule.matcher)?;
            Some(NamespaceRule { matcher, publish: rule.publish })
        })
        .collect();
    AuthzConfig { roles, namespaces }
}

/// A flat claim map: each value a string or a list of strings; an empty map would match everyone.
pub(super) fn claim_match(check: &mut Check, path: &str, map: Map<String, Value>) -> Option<ClaimMatch> {
    if map.is_empty() {
        check.fail(path, "an empty claim map would match every caller; name at least one claim");
        return None;
    }
    let mut matcher = ClaimMatch::new();
    for (claim, value) in map {
        let values = match value {
            Value::String(one) => vec![one],
            Value::Array(many) if !many.is_empty() && many.iter().all(Value::is_string) => {
                many.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            _ => {
                check.fail(format!("{path}.{claim}"), "must be a string or a non-empty list of strings");
                continue;
            }
        };
        matcher.insert(claim, values);
    }
    Some(matcher)
}

fn no_providers(check: &mut Check) {
    check.fail(
        "auth.oauth.providers",
        "oauth mode needs at least one provider (or set auth.mode: anonymous to leave the API open)",
    );
}

fn oauth_config(check: &mut Check, raw: RawOAuth, insecure_issuers: bool) -> OAuthConfig {
    // A missing resourceUrl is reported where oauth is checked; an empty one stands in meanwhile.
    let resource = raw.resource_url.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let resource_url =
        raw.resource_url.and_then(|url| check.url("auth.oauth.resourceUrl", &url, &["https", "http"]));
    let mut names = HashSet::new();
    let mut issuers = HashSet::new();
    let providers = raw
        .providers
        .into_iter()
        .enumerate()
        .filter_map(|(i, provider)| {
            let path = format!("auth.oauth.providers[{i}]");
            let provider: RawProvider = check.section(&path, provider)?;
            let provider = provider_config(check, &path, provider, insecure_issuers)?;
            if !names.insert(provider.name.clone()) {
                check.fail(
                    format!("{path}.name"),
                    format!("{:?} is used by an earlier provider", provider.name),
                );
            }
            // Tokens are routed to their provider by `iss`: two providers cannot share one.
            if !issuers.insert(provider.issuer.clone()) {
                check.fail(format!("{path}.issuerUrl"), "is the issuer of an earlier provider");
            }
            Some(provider)
        })
        .collect();
    let scopes_supported = if raw.scopes_supported.is_empty() {
        vec!["mcp-registry:read".to_owned(), "mcp-registry:write".to_owned()]
    } else {
        raw.scopes_supported
    };
    OAuthConfig {
        resource_url,
        resource,
        realm: raw.realm.unwrap_or_else(|| "mcp-registry".to_owned()),
        scopes_supported,
        enforce_scopes: raw.enforce_scopes.unwrap_or(false),
        providers,
    }
}

fn provider_config(
    check: &mut Check,
    path: &str,
    provider: RawProvider,
    insecure_issuers: bool,
) -> Option<OAuthProvider> {
    let name = check.required(&format!("{path}.name"), provider.name.as_deref()).map(str::to_owned);
    let issuer = check.required(&format!("{path}.issuerUrl"), provider.issuer_url.as_deref());
    let issuer_url =
        issuer.and_then(|url| check.secure_url(&format!("{path}.issuerUrl"), url, insecure_issuers));
    let audience =
        check.required(&format!("{path}.audience"), provider.audience.as_deref()).map(str::to_owned);
    let mut optional_url = |key: &str, raw: Option<String>| {
        raw.and_then(|url| check.secure_url(&format!("{path}.{key}"), &url, insecure_issuers))
    };
    let jwks_url = optional_url("jwksUrl", provider.jwks_url);
    let introspection_url = optional_url("introspectionUrl", provider.introspection_url);
    if introspection_url.is_some() && provider.client_id.is_some() != provider.client_secret_file.is_some() {
        check.fail(path, "clientId and clientSecretFile go together (introspection authenticates with both)");
    }
    let algorithms = provider.algorithms.unwrap_or_else(|| SigningAlgorithm::ALL.to_vec());
    if algorithms.is_empty() {
        check.fail(format!("{path}.algorithms"), "must name at least one algorithm");
    }
    let leeway = leeway(check, path, provider.leeway.as_deref());
    let absolute = |key: &str, file: Option<String>, check: &mut Check| {
        file.map(|file| check.absolute_path(&format!("{path}.{key}"), file))
    };
    let client_secret_file = absolute("clientSecretFile", provider.client_secret_file, check);
    let ca_cert_path = absolute("caCertPath", provider.ca_cert_path, check);
    let auth_token_file = absolute("authTokenFile", provider.auth_token_file, check);
    Some(OAuthProvider {
        name: name?,
        // A provider without issuerUrl was reported above; it is never used.
        issuer: issuer.unwrap_or_default().to_owned(),
        issuer_url: issuer_url?,
        audience: audience?,
        client_id: provider.client_id,
        client_secret_file,
        ca_cert_path,
        jwks_url,
        auth_token_file,
        introspection_url,
        allow_private_ip: provider.allow_private_ip,
        algorithms,
        leeway: leeway?,
        require_at_jwt: provider.require_at_jwt.unwrap_or(false),
        advertise: provider.advertise.unwrap_or(true),
    })
}

/// A provider's clock leeway: 30 s by default, at most 5 min.
fn leeway(check: &mut Check, path: &str, raw: Option<&str>) -> Option<Duration> {
    let leeway = check.duration_or_zero(&format!("{path}.leeway"), raw, Duration::from_secs(30));
    if leeway.is_some_and(|leeway| leeway > Duration::from_secs(300)) {
        check.fail(format!("{path}.leeway"), "must be at most 5m");
    }
    leeway
}
