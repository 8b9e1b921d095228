//! Extractors that turn a request into checked values, or into a problem+json error: the list parameters,
//! the registry scope of a route, the registry a write goes to, and path parameters.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, RawPathParams};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use registry_core::model::RegistryName;
use registry_core::publish::{ensure_managed, publish_target};
use registry_runtime::config::RegistryConfig;
use registry_store::{Cursor, ListQuery, Scope, VersionSelector};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::audit::AuditSlot;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 30;
pub const MAX_LIMIT: u32 = 100;

/// The query of `GET …/servers`. Unknown parameters are ignored; for a repeated one the first wins.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Opaque position from `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 30)]
    pub limit: Option<u32>,
    /// Case-insensitive substring of the name, title or description; `%` and `_` match themselves.
    pub search: Option<String>,
    /// `latest` for latest versions only, or an exact version.
    pub version: Option<String>,
    /// Only entries updated strictly after this RFC 3339 time; includes deleted ones.
    pub updated_since: Option<DateTime<Utc>>,
    /// Include deleted entries (always on with `updated_since`).
    #[param(default = false)]
    pub include_deleted: Option<bool>,
}

/// `include_deleted` alone, for the single-server reads.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncludeDeleted {
    /// Include deleted versions.
    #[param(default = false)]
    pub include_deleted: Option<bool>,
}

pub(crate) fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    // No query string: no parameters.
    let query = parts.uri.query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The value a read takes for `key`: its first occurrence, an empty one counting as absent.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn parse_bool(raw: Option<&str>, key: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match raw? {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            errors.push(FieldError {
                location: format!("query.{key}"),
                message: "expected boolean (true or false)".into(),
                value: Some(other.into()),
            });
            None
        }
    }
}

fn parse_limit(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<u32> {
    let raw = raw?;
    let message = match raw.parse::<i64>() {
        Ok(n) if n < 1 => "expected number >= 1",
        Ok(n) if n > i64::from(MAX_LIMIT) => "expected number <= 100",
        Ok(n) => return u32::try_from(n).ok(),
        Err(_) => "expected an integer from 1 to 100",
    };
    errors.push(FieldError {
        location: "query.limit".into(),
        message: message.into(),
        value: Some(raw.into()),
    });
    None
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs = query_pairs(parts);
        let mut errors = Vec::new();
        let limit = parse_limit(first(&pairs, "limit"), &mut errors);
        let include_deleted = parse_bool(first(&pairs, "include_deleted"), "include_deleted", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let updated_since = first(&pairs, "updated_since")
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                    ApiError::BadRequest(
                        "Invalid updated_since format: expected RFC3339 timestamp (e.g., 2025-08-07T13:15:04.280Z)"
                            .into(),
                    )
                })
            })
            .transpose()?;
        if updated_since.is_some() && include_deleted == Some(false) {
            return Err(ApiError::BadRequest(
                "Cannot set include_deleted=false when using updated_since (incremental sync requires deleted servers)"
                    .into(),
            ));
        }
        Ok(Self {
            cursor: first(&pairs, "cursor").map(str::to_owned),
            limit,
            search: first(&pairs, "search").map(str::to_owned),
            version: first(&pairs, "version").map(str::to_owned),
            updated_since,
            include_deleted,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IncludeDeleted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs = query_pairs(parts);
        let mut errors = Vec::new();
        let include_deleted = parse_bool(first(&pairs, "include_deleted"), "include_deleted", &mut errors);
        if errors.is_empty() { Ok(Self { include_deleted }) } else { Err(ApiError::Validation(errors)) }
    }
}

/// The query of `GET /extension/v0/probes`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProbeParams {
    /// Only this registry's remotes.
    pub registry: Option<String>,
    /// Only remotes whose latest probe ended so (`ok`, `requiresAuth`, `timeout`, …).
    pub outcome: Option<String>,
    /// Opaque position from `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 30)]
    pub limit: Option<u32>,
}

impl<S: Send + Sync> FromRequestParts<S> for ProbeParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs = query_pairs(parts);
        let mut errors = Vec::new();
        let limit = parse_limit(first(&pairs, "limit"), &mut errors);
        let outcome = first(&pairs, "outcome").map(str::to_owned);
        if let Some(raw) = &outcome
            && registry_core::probe::Outcome::parse(raw).is_none()
        {
            let known: Vec<&str> = registry_core::probe::Outcome::ALL.iter().map(|o| o.as_str()).collect();
            errors.push(FieldError {
                location: "query.outcome".into(),
                message: format!("expected one of {}", known.join(", ")),
                value: Some(raw.clone().into()),
            });
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let text = |key| first(&pairs, key).map(str::to_owned);
        Ok(Self { registry: text("registry"), outcome, cursor: text("cursor"), limit })
    }
}

impl ListParams {
    pub fn into_query(self, scope: Scope) -> Result<ListQuery, ApiError> {
        let cursor = self
            .cursor
            .map(|raw| Cursor::decode(&raw).map_err(|e| ApiError::BadRequest(e.to_string())))
            .transpose()?;
        Ok(ListQuery {
            scope,
            cursor,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
            search: self.search,
            version: self.version.as_deref().map(VersionSelector::parse),
            updated_since: self.updated_since,
            include_deleted: self.include_deleted.unwrap_or(false),
        })
    }
}

/// Which registries a route reads: one, for routes under `/registry/{registryName}`, else all of them.
/// A registry that is not configured is a 404.
pub struct RegistryScope(pub Scope);

impl FromRequestParts<AppState> for RegistryScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let Some((_, raw)) = params.iter().find(|(key, _)| *key == "registryName") else {
            return Ok(Self(Scope::Aggregated));
        };
        Ok(Self(Scope::Registry(stored_registry(state, raw)?.name)))
    }
}

/// The managed registry a write goes to: the one `/registry/{registryName}` names (unknown: 404; not
/// managed: 403), or at the root aliases the publish registry (`publishRegistry`, or the only managed one;
/// none: 404 with how to configure one).
pub struct WriteTarget(pub RegistryConfig);

impl FromRequestParts<AppState> for WriteTarget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let registry = match params.iter().find(|(key, _)| *key == "registryName") {
            Some((_, raw)) => stored_registry(state, raw)?,
            None => {
                let registries = registry_set(state)?;
                publish_target(&registries, state.config.publish_registry.as_ref())
                    .cloned()
                    .map_err(ApiError::NotFound)?
            }
        };
        AuditSlot::of(&parts.extensions).note(|facts| facts.registry = Some(registry.name.to_string()));
        ensure_managed(&registry)?;
        Ok(Self(registry))
    }
}

/// The stored registry a path names; any other name, valid or not, is a 404.
pub fn stored_registry(state: &AppState, raw: &str) -> Result<RegistryConfig, ApiError> {
    let registries = registry_set(state)?;
    RegistryName::parse(raw)
        .ok()
        .and_then(|name| registries.iter().find(|r| r.name == name).cloned())
        .ok_or_else(|| ApiError::NotFound(format!("Registry {raw} not found")))
}

/// The stored registry set; 503 before this replica has read it once (its readiness says so meanwhile), so
/// that no answer claims a registry is missing that is only not read yet.
pub fn registry_set(state: &AppState) -> Result<Arc<[RegistryConfig]>, ApiError> {
    state
        .registries
        .current()
        .ok_or_else(|| ApiError::Unavailable("the stored registry set is not read yet".into()))
}

/// Path parameters, percent-decoded; a malformed one is a 400 problem.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}
