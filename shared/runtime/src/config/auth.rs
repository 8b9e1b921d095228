//! `auth`: anonymous or OAuth, the identity providers, and who may write.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use registry_core::duration::humantime_serde;

use super::{ConfigProblem, PublisherTokensConfig};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub public_paths: Vec<String>,
    /// In oauth mode, whether the registry reads need no token (writes and the extension API still do).
    pub public_reads: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthConfig>,
    /// Who may write. Without it, any authenticated caller may (as in ToolHive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authz: Option<AuthzConfig>,
    /// Tokens the registry issues itself (`mcp-publisher login`); off without a signing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher_tokens: Option<PublisherTokensConfig>,
}

impl AuthConfig {
    /// What is allowed but probably not meant: in oauth mode with protected reads, the `none` exchange gives
    /// anyone a token, and any registry token may read.
    pub fn warning(&self) -> Option<ConfigProblem> {
        let none_on = self.publisher_tokens.as_ref().is_some_and(|tokens| tokens.methods.none.is_some());
        (self.mode == AuthMode::Oauth && none_on && !self.public_reads).then(|| ConfigProblem {
            path: "auth.publisherTokens.methods.none".to_owned(),
            message:
                "anyone may get a token at /v0/auth/none, and any registry token may read: the reads that \
                      auth.publicReads: false protects are open to anyone"
                    .to_owned(),
        })
    }
}

/// Roles from claims, in ToolHive v1.x's model, and the server names each caller may publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthzConfig {
    pub roles: Roles,
    pub namespaces: Vec<NamespaceRule>,
}

/// Each role is granted by any of its claim maps (OR); a map matches when every key does (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    /// Everything, and alone may edit a published version.
    pub super_admin: Vec<ClaimMatch>,
    /// Sync now.
    pub manage_sources: Vec<ClaimMatch>,
    /// Accepted so that ToolHive v1.x configs load; no route needs it yet.
    pub manage_registries: Vec<ClaimMatch>,
    /// Publish, status changes and delete.
    pub manage_entries: Vec<ClaimMatch>,
}

/// Claim name → the values it may have; a claim matches when it (a string, or any item of an array) is
/// one of them.
pub type ClaimMatch = std::collections::BTreeMap<String, Vec<String>>;

/// Callers whose claims match `matcher` may publish and change servers named by `publish` patterns (`*`
/// is every name, a trailing `*` a prefix, anything else exact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceRule {
    #[serde(rename = "match")]
    pub matcher: ClaimMatch,
    pub publish: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Anonymous,
    Oauth,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConfig {
    /// The registry's canonical URL (RFC 9728 `resource`); required in oauth mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_url: Option<Url>,
    /// `resourceUrl` exactly as configured (no trailing slash added), as clients compare it.
    #[serde(skip)]
    pub resource: String,
    pub realm: String,
    pub scopes_supported: Vec<String>,
    /// Whether writes need `mcp-registry:write` and protected reads `mcp-registry:read` (or write).
    pub enforce_scopes: bool,
    pub providers: Vec<OAuthProvider>,
}

/// A JWS algorithm a provider's tokens may be signed with. Asymmetric only: never `none`, never HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
}

impl SigningAlgorithm {
    pub const ALL: [Self; 8] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
        }
    }
}

/// One trusted token issuer. Secrets are file paths, read when used.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthProvider {
    pub name: String,
    /// The issuer exactly as configured: a token's `iss` must equal it, character for character.
    #[serde(skip)]
    pub issuer: String,
    pub issuer_url: Url,
    pub audience: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<Url>,
    #[serde(rename = "allowPrivateIP")]
    pub allow_private_ip: bool,
    /// The algorithms its tokens may use; the token's own `alg` only selects among these.
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Whether tokens must carry `typ: at+jwt` (RFC 9068).
    pub require_at_jwt: bool,
    /// Whether the provider is listed in `authorization_servers` of the RFC 9728 document.
    pub advertise: bool,
}
