//! Who may write. Every write endpoint takes [`WriteAccess`], which asks [`authorize_write`]; OIDC fills it in
//! later. As an extractor it runs before the request body is read, so an unauthenticated caller gets 401,
//! never a body error.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use registry_shared::config::AuthMode;

use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the caller may write.
pub struct WriteAccess;

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authorize_write(state, &parts.headers)
    }
}

/// Anonymous mode lets every caller write. In OAuth mode writes are refused until token validation exists.
pub fn authorize_write(state: &AppState, _headers: &HeaderMap) -> Result<WriteAccess, ApiError> {
    match state.config.auth.mode {
        AuthMode::Anonymous => Ok(WriteAccess),
        AuthMode::Oauth => Err(ApiError::Unauthorized(
            "writes need authentication, which this server does not support yet: set auth.mode: anonymous \
             on a trusted network"
                .into(),
        )),
    }
}
