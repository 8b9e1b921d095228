//! `auth.publisherTokens`: the signing keys, the tokens' lifetime and issuer, blocked namespaces, and the
//! exchanges that are on. The key files are not read here: the API reads them when it starts, and
//! `registry-admin config check` where they are mounted.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Check;
use super::publisher_methods::{MethodContext, RawMethods, methods};
use crate::config::{DEFAULT_TOKEN_TTL, PublisherTokensConfig};

const PATH: &str = "auth.publisherTokens";

/// The issuer when neither `issuer` nor `auth.oauth.resourceUrl` is set, as upstream.
const DEFAULT_ISSUER: &str = "mcp-registry";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPublisherTokens {
    signing_key_file: Option<String>,
    #[serde(default)]
    previous_key_files: Vec<String>,
    ttl: Option<String>,
    issuer: Option<String>,
    #[serde(default)]
    blocked_namespaces: Vec<String>,
    #[serde(default)]
    methods: RawMethods,
}

/// What the rest of the configuration tells this section.
pub(super) struct Context<'a> {
    /// `auth.oauth.resourceUrl` as configured: the default issuer.
    pub resource: Option<&'a str>,
    /// The database is the embedded SQLite file (one process), which may make its own key.
    pub embedded: bool,
    /// The names of `auth.oauth.providers` in oauth mode; `None` in anonymous mode.
    pub providers: Option<Vec<&'a str>>,
    /// Whether http issuers and APIs off loopback are allowed ([`crate::config::INSECURE_ISSUERS`]).
    pub insecure_issuers: bool,
}

/// The section, when it turns registry tokens on: a signing key is set, or a method is on (on the embedded
/// database, which then makes its key when it starts).
pub(super) fn publisher_tokens(
    check: &mut Check,
    value: Value,
    context: &Context<'_>,
) -> Option<PublisherTokensConfig> {
    let raw: RawPublisherTokens = check.section(PATH, value)?;
    let method_context = MethodContext {
        resource: context.resource,
        providers: context.providers.as_deref(),
        insecure_issuers: context.insecure_issuers,
    };
    let methods = methods(check, raw.methods, &method_context);
    let path = format!("{PATH}.signingKeyFile");
    let signing_key_file = match raw.signing_key_file {
        Some(file) => Some(check.absolute_path(&path, file)),
        None if !methods.any() => return None,
        None if context.embedded => None,
        None => {
            check.fail(
                path,
                "is required with PostgreSQL once a method is on: a file holding the Ed25519 seed (64 hex digits) every API replica signs with",
            );
            return None;
        }
    };
    let previous_key_files = (raw.previous_key_files.into_iter().enumerate())
        .map(|(i, file)| check.absolute_path(&format!("{PATH}.previousKeyFiles[{i}]"), file))
        .collect();
    let ttl = ttl(check, raw.ttl.as_deref());
    check.patterns(&format!("{PATH}.blockedNamespaces"), &raw.blocked_namespaces);
    let issuer = [raw.issuer.as_deref(), context.resource]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|issuer| !issuer.is_empty())
        .unwrap_or(DEFAULT_ISSUER)
        .to_owned();
    Some(PublisherTokensConfig {
        signing_key_file,
        previous_key_files,
        ttl: ttl?,
        issuer,
        blocked_namespaces: raw.blocked_namespaces,
        methods,
    })
}

/// A token's lifetime: five minutes unless configured, from 1 s to 1 h.
fn ttl(check: &mut Check, raw: Option<&str>) -> Option<Duration> {
    let path = format!("{PATH}.ttl");
    let ttl = check.duration(&path, raw, Some(DEFAULT_TOKEN_TTL))?;
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&ttl) {
        check.fail(path, "must be from 1s to 1h");
        return None;
    }
    Some(ttl)
}
