//! The GitHub exchanges' partners: the GitHub Actions OIDC issuer, whose tokens prove a workflow's
//! repository owner (`github-oidc`), and the REST API, which tells who a GitHub access token belongs to and
//! which organisations it administers (`github-at`).

use std::sync::Arc;
use std::time::Duration;

use registry_runtime::config::{
    GithubAtMethod, GithubOidcMethod, OAuthProvider, SigningAlgorithm, is_github_login,
};
use serde::Deserialize;
use serde_json::Value;

use super::signed::ProofError;
use crate::auth::jwt::{self, Rejection};
use crate::auth::providers::Provider;
use registry_runtime::outbound::{self, HostTable, check_literal, error_chain, read_capped};

/// Clock skew allowed on a GitHub Actions token's `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(30);
/// The most a GitHub API answer may hold.
const MAX_BODY: usize = 1024 * 1024;
/// Organisation memberships are read this many to a page, for at most [`MAX_PAGES`] pages.
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 10;

/// Who a GitHub Actions token proves: the workflow's subject and its repository's owner.
pub struct Workflow {
    pub subject: String,
    pub owner: String,
}

pub struct GithubOidc {
    provider: Arc<Provider>,
    method: GithubOidcMethod,
}

impl GithubOidc {
    pub fn new(method: &GithubOidcMethod) -> Result<Self, String> {
        let issuer_url = url::Url::parse(&method.issuer).map_err(|e| format!("issuer: {e}"))?;
        let provider = Provider::new(OAuthProvider {
            name: "github-oidc".to_owned(),
            issuer: method.issuer.clone(),
            issuer_url,
            audience: String::new(),
            client_id: None,
            client_secret_file: None,
            ca_cert_path: method.outbound.ca_cert_path.clone(),
            jwks_url: method.jwks_url.clone(),
            auth_token_file: None,
            introspection_url: None,
            allow_private_ip: method.outbound.allow_private_ip,
            algorithms: vec![SigningAlgorithm::RS256],
            leeway: LEEWAY,
            require_at_jwt: false,
            advertise: false,
        })
        .map_err(|e| format!("auth.publisherTokens.methods.githubOidc: {e}"))?;
        Ok(Self { provider: Arc::new(provider), method: method.clone() })
    }

    /// Loads the issuer's key set, and keeps it fresh, until dropped.
    pub fn keep_keys_fresh(&self) -> impl Future<Output = ()> + Send + 'static {
        self.provider.clone().keep_fresh()
    }

    /// The workflow `token` proves: RS256 under the issuer's keys, within its time, for one of the
    /// audiences, from an allowed owner and repository.
    pub async fn verify(&self, token: &str) -> Result<Workflow, ProofError> {
        let jws = jwt::parse(token)?;
        let issuer = jws.unverified_issuer()?;
        if issuer != self.method.issuer {
            return Err(refused(format!(
                "its issuer {:?} is not {:?}",
                jwt::clip(issuer),
                self.method.issuer
            )));
        }
        self.provider.verify_signature(&jws).await?;
        jwt::check_times(&jws.claims, LEEWAY, chrono::Utc::now())?;
        let audiences: Vec<&str> = match jws.claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !self.method.audiences.iter().any(|wanted| audiences.contains(&wanted.as_str())) {
            let found = audiences.iter().map(|a| jwt::clip(a)).collect::<Vec<_>>().join(", ");
            return Err(refused(format!(
                "its audience ({found}) is none of {} (auth.publisherTokens.methods.githubOidc.audiences)",
                self.method.audiences.join(", ")
            )));
        }
        let claim = |name: &str| jws.claims.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (owner, repository) = (claim("repository_owner"), claim("repository"));
        if !is_github_login(&owner) {
            return Err(refused(format!(
                "its repository_owner {:?} is not a GitHub account name",
                jwt::clip(&owner)
            )));
        }
        let listed = |list: &[String], value: &str| {
            list.is_empty() || list.iter().any(|item| item.eq_ignore_ascii_case(value))
        };
        if !listed(&self.method.allowed_owners, &owner) {
            return Err(refused(format!("the owner {owner} is not in allowedOwners")));
        }
        if !listed(&self.method.allowed_repositories, &repository) {
            return Err(refused(format!(
                "the repository {:?} is not in allowedRepositories",
                jwt::clip(&repository)
            )));
        }
        let subject = claim("sub");
        Ok(Workflow { subject: if subject.is_empty() { owner.clone() } else { subject }, owner })
    }
}

/// Who a GitHub access token belongs to, and the organisations it administers; `orgs_unseen` when the
/// token could not list its organisation roles (it lacks the `read:org` scope).
pub struct GithubUser {
    pub login: String,
    pub admin_orgs: Vec<String>,
    pub orgs_unseen: bool,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Membership {
    role: String,
    #[serde(default)]
    state: Option<String>,
    organization: Organization,
}

#[derive(Deserialize)]
struct Organization {
    login: String,
}

pub struct GithubApi {
    client: reqwest::Client,
    api_url: String,
    allow_private: bool,
}

impl GithubApi {
    pub fn new(method: &GithubAtMethod) -> Result<Self, String> {
        let outbound = &method.outbound;
        let client = outbound::client(
            outbound.ca_cert_path.as_deref(),
            outbound.allow_private_ip,
            method.timeout,
            HostTable::default(),
        )
        .map_err(|e| format!("auth.publisherTokens.methods.githubAt: {e}"))?;
        let api_url = method.api_url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { client, api_url, allow_private: outbound.allow_private_ip })
    }

    /// The user `token` belongs to (`GET /user`) and the organisations where it is an admin
    /// (`GET /user/memberships/orgs`).
    pub async fn user(&self, token: &str) -> Result<GithubUser, ProofError> {
        let (status, body) = self.get(token, "/user").await?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ProofError::Refused(
                "GitHub refused the token (401): it is not a valid GitHub access token".into(),
            ));
        }
        if status != reqwest::StatusCode::OK {
            return Err(ProofError::Unavailable(format!("GitHub answered {status} to GET /user")));
        }
        let user: User = serde_json::from_slice(&body)
            .map_err(|e| ProofError::Refused(format!("GitHub's answer to GET /user has no login: {e}")))?;
        if !is_github_login(&user.login) {
            return Err(ProofError::Refused(format!(
                "GitHub's login {:?} is not an account name",
                jwt::clip(&user.login)
            )));
        }
        let mut admin_orgs = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!("/user/memberships/orgs?state=active&per_page={PER_PAGE}&page={page}");
            let (status, body) = self.get(token, &path).await?;
            if matches!(status, reqwest::StatusCode::FORBIDDEN | reqwest::StatusCode::NOT_FOUND) {
                // The token may not read organisation memberships (no read:org).
                tracing::debug!(%status, login = %user.login, "the GitHub token cannot list organisation roles");
                return Ok(GithubUser { login: user.login, admin_orgs, orgs_unseen: true });
            }
            if status != reqwest::StatusCode::OK {
                let detail = format!("GitHub answered {status} to GET /user/memberships/orgs");
                return Err(ProofError::Unavailable(detail));
            }
            let memberships: Vec<Membership> = serde_json::from_slice(&body).map_err(|e| {
                ProofError::Refused(format!("GitHub's organisation memberships are unreadable: {e}"))
            })?;
            let count = memberships.len();
            admin_orgs.extend(
                memberships
                    .into_iter()
                    .filter(|m| m.role == "admin" && m.state.as_deref().is_none_or(|state| state == "active"))
                    .map(|m| m.organization.login)
                    .filter(|login| is_github_login(login)),
            );
            if count < PER_PAGE {
                break;
            }
        }
        Ok(GithubUser { login: user.login, admin_orgs, orgs_unseen: false })
    }

    async fn get(&self, token: &str, path: &str) -> Result<(reqwest::StatusCode, Vec<u8>), ProofError> {
        let url = format!("{}{path}", self.api_url);
        let unreachable =
            |why: String| ProofError::Unavailable(format!("cannot reach GitHub at {}: {why}", self.api_url));
        let parsed = reqwest::Url::parse(&url).map_err(|e| unreachable(e.to_string()))?;
        check_literal(&parsed, self.allow_private).map_err(|e| unreachable(e.to_string()))?;
        let response = (self.client.get(parsed))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status();
        let body = read_capped(response, MAX_BODY).await.map_err(|e| unreachable(error_chain(&e)))?;
        Ok((status, body))
    }
}

/// Why a GitHub Actions token is refused, as the exchange words it.
fn refused(why: impl std::fmt::Display) -> ProofError {
    ProofError::Refused(format!("the GitHub Actions token was refused: {why}"))
}

impl From<Rejection> for ProofError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::KeysNotLoaded => Self::Unavailable(
                "the GitHub Actions issuer's key set is not loaded yet: try again shortly".into(),
            ),
            other => refused(other),
        }
    }
}
