//! `auth.publisherTokens.methods`: which exchanges are on, and the settings of the calls each makes.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Check;
use crate::config::{
    ANONYMOUS_NAMESPACE, DEFAULT_DNS_TIMEOUT, DEFAULT_HTTP_TIMEOUT, DnsMethod, GITHUB_ACTIONS_ISSUER,
    GITHUB_API, GITHUB_OIDC_AUDIENCE, GithubAtMethod, GithubOidcMethod, HttpMethod, NoneMethod, OidcMethod,
    Outbound, PublisherMethods, is_github_login,
};

const PATH: &str = "auth.publisherTokens.methods";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawMethods {
    none: Option<RawNone>,
    github_oidc: Option<RawGithubOidc>,
    github_at: Option<RawGithubAt>,
    dns: Option<RawDns>,
    http: Option<RawHttp>,
    oidc: Option<RawOidc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawNone {
    #[serde(default)]
    enabled: bool,
    namespaces: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGithubOidc {
    issuer: Option<String>,
    jwks_url: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    allowed_owners: Vec<String>,
    #[serde(default)]
    allowed_repositories: Vec<String>,
    ca_cert_path: Option<String>,
    #[serde(default, rename = "allowPrivateIP")]
    allow_private_ip: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGithubAt {
    api_url: Option<String>,
    client_id: Option<String>,
    timeout: Option<String>,
    ca_cert_path: Option<String>,
    #[serde(default, rename = "allowPrivateIP")]
    allow_private_ip: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDns {
    nameserver: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHttp {
    timeout: Option<String>,
    ca_cert_path: Option<String>,
    #[serde(default, rename = "allowPrivateIP")]
    allow_private_ip: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOidc {
    #[serde(default)]
    providers: Vec<String>,
}

/// What the rest of the configuration tells the methods.
pub(super) struct MethodContext<'a> {
    /// `auth.oauth.resourceUrl` as configured: its origin is an accepted GitHub Actions audience.
    pub resource: Option<&'a str>,
    /// The names of `auth.oauth.providers` in oauth mode; `None` in anonymous mode.
    pub providers: Option<&'a [&'a str]>,
    /// Whether http issuers and APIs off loopback are allowed ([`crate::config::INSECURE_ISSUERS`]).
    pub insecure_issuers: bool,
}

pub(super) fn methods(check: &mut Check, raw: RawMethods, context: &MethodContext<'_>) -> PublisherMethods {
    PublisherMethods {
        none: raw.none.filter(|none| none.enabled).map(|none| none_method(check, none)),
        github_oidc: raw.github_oidc.map(|raw| github_oidc(check, raw, context)),
        github_at: raw.github_at.map(|raw| github_at(check, raw, context.insecure_issuers)),
        dns: raw.dns.map(|raw| dns(check, raw)),
        http: raw.http.map(|raw| HttpMethod {
            timeout: timeout(check, "http", raw.timeout.as_deref(), DEFAULT_HTTP_TIMEOUT),
            outbound: outbound(check, "http", raw.ca_cert_path, raw.allow_private_ip),
        }),
        oidc: raw.oidc.map(|oidc| oidc_method(check, oidc, context.providers)),
    }
}

fn none_method(check: &mut Check, raw: RawNone) -> NoneMethod {
    let namespaces = raw.namespaces.unwrap_or_else(|| vec![ANONYMOUS_NAMESPACE.to_owned()]);
    let path = format!("{PATH}.none.namespaces");
    if namespaces.is_empty() {
        check.fail(&path, "must list at least one pattern");
    }
    check.patterns(&path, &namespaces);
    NoneMethod { namespaces }
}

fn github_oidc(check: &mut Check, raw: RawGithubOidc, context: &MethodContext<'_>) -> GithubOidcMethod {
    let path = format!("{PATH}.githubOidc");
    let issuer = raw.issuer.unwrap_or_else(|| GITHUB_ACTIONS_ISSUER.to_owned());
    check.secure_url(&format!("{path}.issuer"), &issuer, context.insecure_issuers);
    let jwks_url = (raw.jwks_url.filter(|url| !url.trim().is_empty()))
        .and_then(|url| check.secure_url(&format!("{path}.jwksUrl"), &url, context.insecure_issuers));
    let audiences = if raw.audiences.is_empty() {
        let origin = context.resource.and_then(|resource| url::Url::parse(resource).ok());
        std::iter::once(GITHUB_OIDC_AUDIENCE.to_owned())
            .chain(origin.map(|url| url.origin().ascii_serialization()))
            .collect()
    } else {
        raw.audiences
    };
    for (i, owner) in raw.allowed_owners.iter().enumerate() {
        if !is_github_login(owner) {
            check.fail(
                format!("{path}.allowedOwners[{i}]"),
                format!("{owner:?} is not a GitHub user or organisation name"),
            );
        }
    }
    for (i, repository) in raw.allowed_repositories.iter().enumerate() {
        let well_formed = repository
            .split_once('/')
            .is_some_and(|(owner, name)| is_github_login(owner) && !name.is_empty() && !name.contains('/'));
        if !well_formed {
            check.fail(
                format!("{path}.allowedRepositories[{i}]"),
                format!("{repository:?} is not owner/name"),
            );
        }
    }
    GithubOidcMethod {
        issuer,
        jwks_url,
        audiences,
        allowed_owners: raw.allowed_owners,
        allowed_repositories: raw.allowed_repositories,
        outbound: outbound(check, "githubOidc", raw.ca_cert_path, raw.allow_private_ip),
    }
}

fn github_at(check: &mut Check, raw: RawGithubAt, insecure_issuers: bool) -> GithubAtMethod {
    let path = format!("{PATH}.githubAt.apiUrl");
    let api_url = raw.api_url.unwrap_or_else(|| GITHUB_API.to_owned());
    let api_url = check
        .secure_url(&path, &api_url, insecure_issuers)
        .unwrap_or_else(|| url::Url::parse(GITHUB_API).expect("a valid URL"));
    GithubAtMethod {
        api_url,
        client_id: raw.client_id.filter(|id| !id.trim().is_empty()),
        timeout: timeout(check, "githubAt", raw.timeout.as_deref(), DEFAULT_HTTP_TIMEOUT),
        outbound: outbound(check, "githubAt", raw.ca_cert_path, raw.allow_private_ip),
    }
}

fn dns(check: &mut Check, raw: RawDns) -> DnsMethod {
    let nameserver = raw.nameserver.filter(|ns| !ns.trim().is_empty()).and_then(|raw| {
        let raw = raw.trim();
        let parsed = (raw.parse::<SocketAddr>().ok())
            .or_else(|| raw.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
        if parsed.is_none() {
            check.fail(
                format!("{PATH}.dns.nameserver"),
                format!("{raw:?} is not an address: write ip:port, e.g. 10.0.0.2:53"),
            );
        }
        parsed
    });
    DnsMethod { nameserver, timeout: timeout(check, "dns", raw.timeout.as_deref(), DEFAULT_DNS_TIMEOUT) }
}

/// A method's timeout: from 100 ms to 1 min.
fn timeout(check: &mut Check, method: &str, raw: Option<&str>, default: Duration) -> Duration {
    let path = format!("{PATH}.{method}.timeout");
    match check.duration(&path, raw, Some(default)) {
        Some(timeout) if (Duration::from_millis(100)..=Duration::from_secs(60)).contains(&timeout) => timeout,
        Some(_) => {
            check.fail(path, "must be from 100ms to 1m");
            default
        }
        None => default,
    }
}

fn outbound(
    check: &mut Check,
    method: &str,
    ca_cert_path: Option<String>,
    allow_private_ip: bool,
) -> Outbound {
    let ca_cert_path: Option<PathBuf> = (ca_cert_path.filter(|path| !path.trim().is_empty()))
        .map(|file| check.absolute_path(&format!("{PATH}.{method}.caCertPath"), file));
    Outbound { ca_cert_path, allow_private_ip }
}

/// The providers whose tokens are exchanged: at least one, each a provider of oauth mode.
fn oidc_method(check: &mut Check, raw: RawOidc, providers: Option<&[&str]>) -> OidcMethod {
    let path = format!("{PATH}.oidc.providers");
    let Some(known) = providers else {
        check.fail(
            format!("{PATH}.oidc"),
            "needs auth.mode: oauth, whose providers check the tokens it takes",
        );
        return OidcMethod { providers: raw.providers };
    };
    if raw.providers.is_empty() {
        check.fail(&path, "must name at least one provider of auth.oauth.providers");
    }
    for (i, name) in raw.providers.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            check.fail(format!("{path}[{i}]"), format!("{name:?} is not a provider of auth.oauth.providers"));
        }
    }
    OidcMethod { providers: raw.providers }
}
