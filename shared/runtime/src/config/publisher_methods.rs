//! `auth.publisherTokens.methods`: the exchanges through which a caller proves who it is and gets a registry
//! token (`POST /v0/auth/{method}`), each with the settings of the calls it makes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use registry_core::duration::humantime_serde;

/// How long a `dns` proof's lookup may take unless configured, as upstream.
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an `http` proof's fetch, or a call to GitHub, may take unless configured, as upstream.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The issuer of GitHub Actions' OIDC tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitHub's REST API.
pub const GITHUB_API: &str = "https://api.github.com";
/// The audience the publisher CLI asks GitHub Actions for (v1.7.0).
pub const GITHUB_OIDC_AUDIENCE: &str = "mcp-registry";

/// The exchanges that are on; each is on when its section is present (`none` only with `enabled: true`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublisherMethods {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub none: Option<NoneMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_oidc: Option<GithubOidcMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_at: Option<GithubAtMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcMethod>,
}

impl PublisherMethods {
    /// Whether any exchange is on.
    pub fn any(&self) -> bool {
        self.none.is_some()
            || self.github_oidc.is_some()
            || self.github_at.is_some()
            || self.dns.is_some()
            || self.http.is_some()
            || self.oidc.is_some()
    }
}

/// `POST /v0/auth/none`: a token for anyone, publishing and editing `namespaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoneMethod {
    pub namespaces: Vec<String>,
}

/// `POST /v0/auth/oidc`: a token of one of `providers` (names of `auth.oauth.providers`), checked as a bearer
/// token is, exchanged for a registry token with the namespaces `auth.authz` gives its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcMethod {
    pub providers: Vec<String>,
}

/// How an exchange reaches a server of someone else's: its trust roots and whether private addresses may
/// be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbound {
    /// A PEM bundle that replaces the system's trust roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<PathBuf>,
    /// Whether loopback, private, link-local and CGNAT addresses may be reached.
    #[serde(rename = "allowPrivateIP")]
    pub allow_private_ip: bool,
}

/// `POST /v0/auth/github-oidc`: a GitHub Actions OIDC token, granting `io.github.<repository_owner>/*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubOidcMethod {
    /// The tokens' `iss`, exactly.
    pub issuer: String,
    /// The key set; found from the issuer's discovery document when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<Url>,
    /// A token's `aud` must contain one of them.
    pub audiences: Vec<String>,
    /// The repository owners whose tokens are exchanged; empty: any.
    pub allowed_owners: Vec<String>,
    /// The repositories (`owner/name`) whose tokens are exchanged; empty: any.
    pub allowed_repositories: Vec<String>,
    #[serde(flatten)]
    pub outbound: Outbound,
}

/// GitHub's rule for user and organisation names: letters, digits and hyphens.
pub fn is_github_login(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `POST /v0/auth/github-at`: a GitHub access token, granting the user's namespace and those of the
/// organisations it administers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubAtMethod {
    /// GitHub's REST API, or a GitHub Enterprise Server's (`https://host/api/v3`).
    pub api_url: Url,
    /// The OAuth app the publisher CLI's device flow signs in to, shown by `GET /v0/health`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(flatten)]
    pub outbound: Outbound,
}

/// `POST /v0/auth/dns`: a timestamp signed with a key published in a TXT record of the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsMethod {
    /// The nameserver asked; the system's resolver when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<SocketAddr>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// `POST /v0/auth/http`: a timestamp signed with a key published at
/// `https://<domain>/.well-known/mcp-registry-auth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMethod {
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(flatten)]
    pub outbound: Outbound,
}
