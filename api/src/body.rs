//! Request bodies of the write endpoints: JSON, at most [`MAX_BODY_BYTES`]. An over-long body is a 413 and
//! a body declared as something other than JSON a 415, both before any handler runs. Whether the bytes
//! parse is left to the handler: `/validate` reports a syntax error as an issue, the writes as a 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;

use crate::error::ApiError;

/// The largest request body the write endpoints read (the official registry's limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body, parsed or with the reason it did not parse.
pub struct JsonBody(pub Result<Value, String>);

impl JsonBody {
    /// The parsed value; a syntax error is a 400.
    pub fn value(self) -> Result<Value, ApiError> {
        self.0.map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Some(content_type) = content_type {
            // A split always yields a first part.
            let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the request body must be application/json, not {content_type}"
                )));
            }
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "the request body is over the limit of {MAX_BODY_BYTES} bytes"
                ))
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        Ok(Self(serde_json::from_slice(&bytes).map_err(|e| e.to_string())))
    }
}
