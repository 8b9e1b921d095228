//! Registry tokens: EdDSA JWTs this registry signs itself once an exchange (`/v0/auth/*`) has proved who is
//! calling, as the official registry does for its publisher CLI. Their claims are the official ones (`iss`,
//! `iat`, `nbf`, `exp`, `auth_method`, `auth_method_sub`, `permissions`); the header names the key (`kid`), so
//! that tokens of a previous key keep working through a rotation. A token whose `iss` is ours is checked here,
//! against our keys only, and never handed to an identity provider.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use registry_core::digest::hex;
use registry_core::namespace;
use registry_runtime::config::{KeyFileError, PublisherTokensConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::Principal;
use super::authz::{Action, Grants};
use super::jwt::{self, Jws, Rejection};
use crate::error::problem;

/// The provider a registry token's principal names, in the audit trail and the metrics.
pub const REGISTRY_PROVIDER: &str = "registry";

/// Clock skew allowed between replicas on `nbf` and `exp`.
const LEEWAY: Duration = Duration::from_secs(5);

/// What a permission allows on the names its resource pattern covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionAction {
    /// Publish, validate, and change the status of one or all versions.
    Publish,
    /// All of publish, and replace (`PUT`) or delete a version.
    Edit,
}

/// One permission of a registry token, as the official registry writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Permission {
    pub action: PermissionAction,
    /// A server name pattern: `*`, a prefix ending in `*`, or one exact name.
    pub resource: String,
}

impl PermissionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Edit => "edit",
        }
    }
}

impl Permission {
    pub fn new(action: PermissionAction, resource: impl Into<String>) -> Self {
        Self { action, resource: resource.into() }
    }

    fn allows(&self, action: Action) -> bool {
        match action {
            Action::Publish | Action::ChangeStatus => true,
            Action::Edit | Action::Delete => self.action == PermissionAction::Edit,
            Action::SyncNow | Action::ProbeNow => false,
        }
    }
}

/// What a verified registry token holds: how it was obtained and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryGrant {
    /// The exchange that issued it: `none`, `dns`, `http`, `github-oidc`, `github-at` or `oidc`.
    pub method: String,
    pub permissions: Vec<Permission>,
    /// A `github-at` token whose GitHub token could not list organisation roles (no `read:org`), so that
    /// a refusal for an organisation's namespace can say why.
    pub org_roles_unseen: bool,
}

impl RegistryGrant {
    pub fn new(method: &str, permissions: Vec<Permission>) -> Self {
        Self { method: method.to_owned(), permissions, org_roles_unseen: false }
    }

    /// What the token allows for `action`: the action's role when any permission allows it, and the name
    /// patterns of those permissions. Roles of `auth.authz` never apply to registry tokens.
    pub fn grants(&self, action: Action) -> Grants {
        let mut namespaces: Vec<String> = (self.permissions.iter())
            .filter(|permission| permission.allows(action))
            .map(|permission| permission.resource.clone())
            .collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        let roles = if namespaces.is_empty() { Vec::new() } else { vec![action.role()] };
        Grants { roles, namespaces: Some(namespaces) }
    }

    /// The permissions as they read in a refusal.
    pub fn describe(&self) -> String {
        describe(&self.permissions)
    }
}

/// Permissions as people read them: `publish io.github.alice/*, edit …`, or `none`.
pub fn describe(permissions: &[Permission]) -> String {
    if permissions.is_empty() {
        return "none".to_owned();
    }
    let described: Vec<String> =
        permissions.iter().map(|p| format!("{} {}", p.action.as_str(), p.resource)).collect();
    described.join(", ")
}

/// The answer of every exchange, as the official registry writes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub registry_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why an exchange's grants cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern} is a blocked namespace")]
pub struct Blocked {
    pub pattern: String,
}

/// The registry's signing key and every key whose tokens it accepts.
pub struct RegistryTokens {
    issuer: String,
    ttl: Duration,
    signing: SigningKey,
    kid: String,
    /// The signing key's and the previous keys' public halves, by `kid`.
    verifying: HashMap<String, VerifyingKey>,
    blocked: Vec<String>,
}

impl RegistryTokens {
    /// Reads the signing key and the previous keys of `config`.
    pub fn load(config: &PublisherTokensConfig) -> Result<Self, KeyFileError> {
        let (signing, previous) = config.read_seeds()?;
        let signing = match signing {
            Some(seed) => SigningKey::from_bytes(&seed),
            None => {
                tracing::info!(
                    "auth.publisherTokens.signingKeyFile is not set: signing registry tokens with a key made now, which ends with this process"
                );
                SigningKey::from_bytes(&rand::random())
            }
        };
        let verifying = std::iter::once(signing.verifying_key())
            .chain(previous.iter().map(|seed| SigningKey::from_bytes(seed).verifying_key()))
            .map(|key| (key_id(&key), key))
            .collect();
        Ok(Self {
            issuer: config.issuer.clone(),
            ttl: config.ttl,
            kid: key_id(&signing.verifying_key()),
            signing,
            verifying,
            blocked: config.blocked_namespaces.clone(),
        })
    }

    /// A token for `subject` holding `grant`; refused when one of its permissions covers a blocked
    /// namespace (unless the token holds `*`, as upstream).
    pub fn issue(&self, grant: &RegistryGrant, subject: &str) -> Result<IssuedToken, Blocked> {
        self.check_blocked(&grant.permissions)?;
        let now = Utc::now().timestamp();
        let expires_at = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let mut claims = json!({
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "auth_method": grant.method,
            "auth_method_sub": subject,
            "permissions": grant.permissions,
        });
        if grant.org_roles_unseen {
            claims["org_roles_unseen"] = Value::Bool(true);
        }
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let signing_input = format!("{}.{}", encode(&header), encode(&claims));
        let signature = self.signing.sign(signing_input.as_bytes());
        let registry_token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(IssuedToken { registry_token, expires_at })
    }

    fn check_blocked(&self, permissions: &[Permission]) -> Result<(), Blocked> {
        if permissions.iter().any(|permission| permission.resource == "*") {
            return Ok(());
        }
        for permission in permissions {
            if let Some(blocked) = self.blocked.iter().find(|b| namespace::overlap(b, &permission.resource)) {
                return Err(Blocked { pattern: blocked.clone() });
            }
        }
        Ok(())
    }

    /// Whether `jws` claims to be ours: its `iss` is our issuer. Nothing is verified yet.
    pub fn claims_to_be_ours(&self, jws: &Jws<'_>) -> bool {
        jws.unverified_issuer().is_ok_and(|issuer| issuer == self.issuer)
    }

    /// The principal of a token of ours: EdDSA, signed by one of our keys (named by `kid`), within its time.
    pub fn verify(&self, jws: Jws<'_>) -> Result<Principal, Rejection> {
        if jws.header.alg != "EdDSA" {
            return Err(Rejection::AlgorithmNotAllowed(jwt::clip(&jws.header.alg)));
        }
        let kid = jws.header.kid.as_deref().ok_or(Rejection::NoKeyId)?;
        let key = self.verifying.get(kid).ok_or_else(|| Rejection::UnknownKey(jwt::clip(kid)))?;
        let (signed, signature) = jws.signed();
        let signature = Signature::from_slice(signature).map_err(|_| Rejection::BadSignature)?;
        key.verify_strict(signed, &signature).map_err(|_| Rejection::BadSignature)?;
        jwt::check_times(&jws.claims, LEEWAY, Utc::now())?;
        let grant = grant_of(&jws.claims).ok_or(Rejection::NoPermissions)?;
        Ok(Principal {
            provider: REGISTRY_PROVIDER.to_owned(),
            subject: jws.claims.get("auth_method_sub").and_then(Value::as_str).map(str::to_owned),
            claims: jws.claims,
            registry: Some(grant),
        })
    }
}

/// The method and permissions a token's claims carry (signed by us, so well formed unless a key leaked).
fn grant_of(claims: &Map<String, Value>) -> Option<RegistryGrant> {
    let method = claims.get("auth_method")?.as_str()?.to_owned();
    let permissions = serde_json::from_value(claims.get("permissions")?.clone()).ok()?;
    let org_roles_unseen = claims.get("org_roles_unseen").and_then(Value::as_bool).unwrap_or(false);
    Some(RegistryGrant { method, permissions, org_roles_unseen })
}

/// A key's id: the first 16 hex digits of the SHA-256 of its public half.
fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes())[..8])
}

/// The 401 for a token the registry checked itself (its own, or in anonymous mode one it did not issue),
/// saying what failed: its expiry, its key, its signature.
pub fn refused(rejection: &Rejection) -> Response {
    let detail = format!("the registry token was refused: {rejection}");
    let mut response = problem(StatusCode::UNAUTHORIZED, detail, Vec::new());
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::Path;

    use super::*;

    fn key_file(seed: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{seed}").unwrap();
        file
    }

    fn tokens(signing: &Path, previous: &[&Path], blocked: &[&str]) -> RegistryTokens {
        RegistryTokens::load(&PublisherTokensConfig {
            signing_key_file: Some(signing.to_owned()),
            previous_key_files: previous.iter().map(|p| p.to_path_buf()).collect(),
            ttl: Duration::from_secs(300),
            issuer: "https://registry.example.com".into(),
            blocked_namespaces: blocked.iter().map(|b| (*b).to_owned()).collect(),
            methods: Default::default(),
        })
        .unwrap()
    }

    fn publish(resource: &str) -> Vec<Permission> {
        vec![Permission::new(PermissionAction::Publish, resource)]
    }

    fn verify(tokens: &RegistryTokens, token: &str) -> Result<Principal, Rejection> {
        tokens.verify(jwt::parse(token).unwrap())
    }

    #[test]
    fn a_token_verifies_with_its_key_and_carries_the_official_claims() {
        let key = key_file(&"11".repeat(32));
        let tokens = tokens(key.path(), &[], &[]);
        let issued = tokens.issue(&RegistryGrant::new("none", publish("io.example/*")), "anonymous").unwrap();
        let principal = verify(&tokens, &issued.registry_token).unwrap();
        assert_eq!(principal.subject.as_deref(), Some("anonymous"));
        assert_eq!(principal.claims["exp"], json!(issued.expires_at));
        assert_eq!(
            principal.claims["permissions"],
            json!([{"action": "publish", "resource": "io.example/*"}])
        );
        let grant = principal.registry.unwrap();
        assert_eq!((grant.method.as_str(), grant.describe()), ("none", "publish io.example/*".to_owned()));
    }

    #[test]
    fn a_previous_key_is_accepted_and_an_unknown_one_refused() {
        let (old, new, other) =
            (key_file(&"22".repeat(32)), key_file(&"33".repeat(32)), key_file(&"44".repeat(32)));
        let before =
            tokens(old.path(), &[], &[]).issue(&RegistryGrant::new("none", publish("x/*")), "a").unwrap();
        assert!(verify(&tokens(new.path(), &[old.path()], &[]), &before.registry_token).is_ok());
        let stranger =
            tokens(other.path(), &[], &[]).issue(&RegistryGrant::new("none", publish("x/*")), "a").unwrap();
        let refused = verify(&tokens(new.path(), &[old.path()], &[]), &stranger.registry_token);
        assert!(matches!(refused, Err(Rejection::UnknownKey(_))), "{refused:?}");
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let key = key_file(&"55".repeat(32));
        let tokens = tokens(key.path(), &[], &[]);
        let issued = tokens.issue(&RegistryGrant::new("none", publish("x/*")), "a").unwrap().registry_token;
        let parts: Vec<&str> = issued.split('.').collect();
        let forged_claims = json!({"iss": "https://registry.example.com", "exp": 4_000_000_000_i64,
            "auth_method": "none", "auth_method_sub": "a", "permissions": [{"action": "edit", "resource": "*"}]});
        let forged =
            format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(forged_claims.to_string()), parts[2]);
        assert_eq!(verify(&tokens, &forged).unwrap_err(), Rejection::BadSignature);
    }

    #[test]
    fn blocked_namespaces_are_never_granted_except_with_everything() {
        let key = key_file(&"66".repeat(32));
        let tokens = tokens(key.path(), &[], &["com.example/*"]);
        assert_eq!(
            tokens
                .issue(&RegistryGrant::new("dns", publish("com.example/*")), "example.com")
                .unwrap_err()
                .pattern,
            "com.example/*"
        );
        assert!(tokens.issue(&RegistryGrant::new("dns", publish("org.example/*")), "example.org").is_ok());
        let everything = vec![Permission::new(PermissionAction::Edit, "*")];
        assert!(tokens.issue(&RegistryGrant::new("oidc", everything), "admin").is_ok());
    }

    #[test]
    fn permissions_allow_by_action() {
        let grant = RegistryGrant::new("none", publish("a/*"));
        assert_eq!(grant.grants(Action::Publish).namespaces, Some(vec!["a/*".to_owned()]));
        assert_eq!(grant.grants(Action::ChangeStatus).roles, vec![Action::ChangeStatus.role()]);
        assert!(grant.grants(Action::Delete).roles.is_empty());
        assert!(grant.grants(Action::SyncNow).roles.is_empty());
        let editor = RegistryGrant::new("oidc", vec![Permission::new(PermissionAction::Edit, "*")]);
        assert_eq!(editor.grants(Action::Edit).roles, vec![Action::Edit.role()]);
    }
}
