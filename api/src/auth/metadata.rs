//! RFC 9728 protected resource metadata: `GET /.well-known/oauth-protected-resource`, and the path-inserted
//! form of §3.1 when `resourceUrl` has a path, which is where `resource_metadata` in a challenge points.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(WELL_KNOWN, get(get_resource_metadata))
        .route(&format!("{WELL_KNOWN}/{{*path}}"), get(get_resource_metadata))
}

/// The metadata document's URL for `resource` (RFC 9728 §3.1: the well-known part goes between the host
/// and the path).
pub fn document_url(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            format!("{}{WELL_KNOWN}{path}", url.origin().ascii_serialization())
        }
        Err(_) => WELL_KNOWN.to_owned(),
    }
}

/// RFC 9728 §2.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceMetadataOut {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
}

/// How to get a token for this registry (oauth mode only).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource",
    tag = "ops",
    responses(
        (status = 200, body = ResourceMetadataOut),
        (status = 404, description = "auth.mode is anonymous", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_resource_metadata(
    State(state): State<AppState>,
) -> Result<Json<ResourceMetadataOut>, ApiError> {
    let authenticator = state.authenticator.as_deref().ok_or_else(super::auth_is_off)?;
    let oauth = authenticator.oauth();
    Ok(Json(ResourceMetadataOut {
        resource: oauth.resource.clone(),
        authorization_servers: authenticator.advertised_issuers().into_iter().map(str::to_owned).collect(),
        scopes_supported: oauth.scopes_supported.clone(),
        bearer_methods_supported: vec!["header".to_owned()],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_url_inserts_the_well_known_part_before_the_path() {
        assert_eq!(
            document_url("https://registry.example.com"),
            "https://registry.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            document_url("https://registry.example.com/"),
            "https://registry.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            document_url("https://example.com/mcp/registry"),
            "https://example.com/.well-known/oauth-protected-resource/mcp/registry"
        );
        assert_eq!(
            document_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
    }
}
