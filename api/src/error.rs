//! The API's one error type, rendered as RFC 9457 `application/problem+json`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use registry_core::publish::NotManaged;
use registry_core::validation::Issue;
use registry_store::jobs::JobError;
use registry_store::publisher::PublishError;
use registry_store::{Store, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be understood (a bad cursor or timestamp, a NUL byte).
    #[error("{0}")]
    BadRequest(String),
    /// 422: parameters that parse but break a rule, each with its location (`query.limit`).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 401: the caller must authenticate.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the write is not allowed here, whoever asks (a registry that is not managed).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: a dependency is not ready; the detail says what to do.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One invalid input.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where: `query.limit`, `path.serverName`, `body.name`.
    pub location: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// What a client is told while the database cannot be reached; the error itself goes to the log only.
const DATABASE_UNAVAILABLE: &str = "the database is not reachable right now; try again shortly";

/// How long a client should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::UnknownRegistry(name) => Self::NotFound(format!("Registry {name} not found")),
            StoreError::Conflict(conflict) => Self::Conflict(conflict.to_string()),
            error if Store::is_unavailable(&error) => {
                tracing::warn!(error = format!("{error:#}"), "the database is unavailable; answering 503");
                Self::Unavailable(DATABASE_UNAVAILABLE.into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Store(error) => error.into(),
            other => Self::Internal(other.into()),
        }
    }
}

/// A write to a registry that mirrors a source is forbidden.
impl From<NotManaged> for ApiError {
    fn from(refused: NotManaged) -> Self {
        Self::Forbidden(refused.to_string())
    }
}

impl From<PublishError> for ApiError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::NotManaged(refused) => refused.into(),
            PublishError::Invalid(issues) => Self::Validation(
                issues
                    .into_iter()
                    .filter(Issue::is_error)
                    .map(|issue| FieldError {
                        location: if issue.path.is_empty() {
                            "body".into()
                        } else {
                            format!("body.{}", issue.path)
                        },
                        message: issue.message,
                        value: None,
                    })
                    .collect(),
            ),
            PublishError::Conflict(conflict) => Self::Conflict(conflict.to_string()),
            PublishError::Store(error) => error.into(),
        }
    }
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (detail, errors) = match self {
            Self::Validation(errors) => ("validation failed".to_owned(), errors),
            Self::Internal(error) => {
                // The request id is on the response header and in the log line of this request.
                tracing::error!(error = format!("{error:#}"), "request failed");
                (
                    "internal error; quote the x-request-id response header when reporting it".to_owned(),
                    Vec::new(),
                )
            }
            other => (other.to_string(), Vec::new()),
        };
        let mut response = problem(status, detail, errors);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// A problem+json response.
pub fn problem(status: StatusCode, detail: String, errors: Vec<FieldError>) -> Response {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}
