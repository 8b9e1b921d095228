//! Who may write. Every write endpoint asks [`authorize_write`]; OIDC fills it in later.

use axum::http::HeaderMap;
use registry_shared::config::AuthMode;

use crate::error::ApiError;
use crate::state::AppState;

/// Anonymous mode lets every caller write. In OAuth mode writes are refused until token validation exists.
pub fn authorize_write(state: &AppState, _headers: &HeaderMap) -> Result<(), ApiError> {
    match state.config.auth.mode {
        AuthMode::Anonymous => Ok(()),
        AuthMode::Oauth => Err(ApiError::Unauthorized(
            "writes need authentication, which this server does not support yet: set auth.mode: anonymous \
             on a trusted network"
                .into(),
        )),
    }
}
