//! The one error type of the platform and its HTTP rendering (SPEC §3).
//!
//! Error policy:
//! - Every non-2xx response body is `{"error_code", "detail", "request_id", …}`.
//! - Client mistakes carry enough to fix them: 422 lists *every* bad field with
//!   its `loc`, 404/409 name the resource, 403 names the missing permission.
//! - Server faults (`Internal`, `Unavailable`, `Upstream`) never put their cause
//!   in the body: the cause chain is logged together with the request id, and
//!   the client gets a generic sentence plus that id to quote.
//! - Adapters translate driver errors before they cross a port (a unique-key
//!   violation becomes `Conflict`, a timeout `Unavailable`), so handlers only
//!   ever see this type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::request_id;

/// One invalid field of a request, rendered inside a 422 `detail` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the bad value is: `["body","config","runtime","command"]`, `["query","page"]`.
    pub loc: Vec<String>,
    pub msg: String,
    /// Machine-readable kind: `missing`, `string_type`, `value_error`, …
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|s| (*s).to_owned()).collect(),
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: needs {required_permission}")]
    Forbidden { required_permission: &'static str },
    #[error("{resource_type} {resource_id} not found")]
    NotFound {
        resource_type: &'static str,
        resource_id: String,
    },
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        resource_type: &'static str,
        resource_id: Option<String>,
    },
    #[error("payload too large")]
    PayloadTooLarge { limit_bytes: usize },
    /// A body that does not say it is JSON (a form a cross-site page can
    /// send, `text/plain`, nothing): what it was sent as.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    #[error("rate limit exceeded, retry after {retry_after}s")]
    RateLimited { retry_after: u64 },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A resource that exists but is not serving (a stopped or failed
    /// deployment): 503 with its status, so a client can tell it from a 404.
    #[error("{resource_type} {resource_id} is {status}")]
    NotServing {
        resource_type: &'static str,
        resource_id: String,
        status: &'static str,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(resource_type: &'static str, resource_id: impl ToString) -> Self {
        Self::NotFound {
            resource_type,
            resource_id: resource_id.to_string(),
        }
    }

    pub fn invalid(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(loc, kind, msg)])
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{context}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) | Self::NotServing { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "INVALID_REQUEST",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict { .. } => "CONFLICT",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::NotServing { .. } => "NOT_SERVING",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

/// What `ErrorBody.detail` holds, for the OpenAPI document: a sentence, or
/// (422) the list of field errors. The body itself builds it as JSON.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum ErrorDetail {
    Message(String),
    Fields(Vec<FieldError>),
}

/// The SPEC §3 error body. Optional members are omitted when they do not apply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error_code: &'static str,
    /// A sentence, or for 422 the list of field errors.
    #[schema(value_type = ErrorDetail)]
    pub detail: serde_json::Value,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = request_id::current().unwrap_or_default();
        let mut body = ErrorBody {
            error_code: self.code(),
            detail: serde_json::Value::Null,
            request_id,
            resource_type: None,
            resource_id: None,
            required_permission: None,
            retry_after: None,
        };
        body.detail = match &self {
            Self::BadRequest(msg) => msg.clone().into(),
            Self::Unauthorized(msg) => (*msg).into(),
            Self::Forbidden {
                required_permission,
            } => {
                body.required_permission = Some(required_permission);
                format!("missing permission {required_permission}").into()
            }
            Self::NotFound {
                resource_type,
                resource_id,
            } => {
                body.resource_type = Some(resource_type);
                body.resource_id = Some(resource_id.clone());
                format!("{} not found", human_name(resource_type)).into()
            }
            Self::Conflict {
                detail,
                resource_type,
                resource_id,
            } => {
                body.resource_type = Some(resource_type);
                body.resource_id.clone_from(resource_id);
                detail.clone().into()
            }
            Self::PayloadTooLarge { limit_bytes } => {
                format!("request body exceeds {limit_bytes} bytes").into()
            }
            Self::UnsupportedMediaType(sent) => format!(
                "the body must be JSON, sent with Content-Type: application/json (it was sent as {sent})"
            )
            .into(),
            Self::Validation(errors) => serde_json::to_value(errors).unwrap_or_default(),
            Self::RateLimited { retry_after } => {
                body.retry_after = Some(*retry_after);
                "too many requests".into()
            }
            Self::MethodNotAllowed => "method not allowed on this path".into(),
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "service unavailable");
                "a backend service is unavailable; retry later".into()
            }
            Self::NotServing {
                resource_type,
                resource_id,
                status,
            } => {
                body.resource_type = Some(resource_type);
                body.resource_id = Some(resource_id.clone());
                format!("the {} is {status}", human_name(resource_type)).into()
            }
            Self::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "internal error");
                "internal server error".into()
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        match self {
            Self::RateLimited { retry_after } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            // RFC 9110 §15.5.2: a 401 names the scheme that would work.
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

fn human_name(resource_type: &str) -> &str {
    match resource_type {
        "mcp_tool" => "MCP tool",
        "user" => "User",
        "api_key" => "API key",
        "history_version" => "History version",
        "route" => "Route",
        other => other,
    }
}

impl From<sqlx::Error> for Error {
    /// Driver errors are translated here, at the adapter boundary; callers that
    /// know which constraint a violation means map it themselves first.
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Internal(err.into()),
        }
    }
}
