//! The one place that picks HTTP statuses: [`ApiError`] → RFC 9457
//! `application/problem+json` `{type, title, status, detail, code, request_id}`.
//! 5xx bodies say nothing internal; their cause is logged once here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::{AuthError, Denial};
use crate::error_code::ErrorCode;
use crate::service::{Cause, IssueError};

/// Content type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered to an HTTP caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or invalid token (401 + `WWW-Authenticate`).
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// Authenticated but not granted (403).
    #[error(transparent)]
    Forbidden(#[from] Denial),
    /// Malformed request: bad JSON syntax (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid request (422).
    #[error("{detail}")]
    Invalid {
        /// Stable code.
        code: ErrorCode,
        /// Human explanation.
        detail: String,
    },
    /// Body too large (413).
    #[error("request body is too large")]
    PayloadTooLarge,
    /// Not `application/json` (415).
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// No such route (404).
    #[error("no such resource")]
    NotFound,
    /// Route exists, method does not (405).
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// Signing pool full or service overloaded (503 + `Retry-After`).
    #[error("the service is at capacity; retry shortly")]
    Overloaded,
    /// The audit trail cannot record the request (503 + `Retry-After`).
    #[error(transparent)]
    AuditUnavailable(#[from] crate::audit::Unavailable),
    /// A vault-held key did not sign (503 + `Retry-After`); the cause is
    /// logged, not returned.
    #[error("the signing key's vault did not answer in time; retry shortly")]
    KeyUnavailable,
    /// Not ready or draining (503).
    #[error("the service is not ready: {0}")]
    NotReady(&'static str),
    /// Unexpected failure (500); the cause is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The problem document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `urn:cfsign:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the status.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What went wrong.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// The request id (also in the `x-request-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `/readyz` only: each trusted issuer and whether its tokens can be
    /// verified (an RFC 9457 extension member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuers: Option<serde_json::Value>,
}

impl Problem {
    /// A problem with `code` (which decides the status) and `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let status = status(code);
        Self {
            kind: format!("urn:cfsign:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            request_id: None,
            issuers: None,
        }
    }

    /// The answer's status and headers, with the problem kept beside it:
    /// its body is written once, by [`problem_body`], when the request id
    /// is known.
    fn into_response_with(self, extra: impl FnOnce(&mut Response)) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        extra(&mut response);
        response.extensions_mut().insert(self);
        response
    }
}

/// The one table from problem code to HTTP status.
pub fn status(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::MalformedJson | C::BadRequest => StatusCode::BAD_REQUEST,
        C::InvalidToken => StatusCode::UNAUTHORIZED,
        C::Forbidden | C::ClaimUnusable => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        C::Timeout => StatusCode::REQUEST_TIMEOUT,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::InvalidRequest
        | C::InvalidBatch
        | C::InvalidPath
        | C::InvalidKey
        | C::InvalidTimes
        | C::InvalidPolicyResource
        | C::PolicyResourceMismatch
        | C::InvalidIpAddress
        | C::InvalidQuery
        | C::ReservedQueryParameter
        | C::DistributionRequired => StatusCode::UNPROCESSABLE_ENTITY,
        C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        C::Overloaded | C::NotReady | C::Unavailable | C::AuditUnavailable | C::KeyUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

impl ApiError {
    /// The problem code (its status is [`status`] of it; refusals of
    /// signing requests are audited with it as the reason).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized(_) => ErrorCode::InvalidToken,
            ApiError::Forbidden(Denial::Unfilled(_)) => ErrorCode::ClaimUnusable,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::BadRequest(_) => ErrorCode::MalformedJson,
            ApiError::Invalid { code, .. } => *code,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Overloaded => ErrorCode::Overloaded,
            ApiError::NotReady(_) => ErrorCode::NotReady,
            ApiError::AuditUnavailable(_) => ErrorCode::AuditUnavailable,
            ApiError::KeyUnavailable => ErrorCode::KeyUnavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The problem document for this error (a refused token's detail is
    /// its public description: see [`AuthError::public_description`]).
    /// The cause of a 500 is logged here, once, and never answered.
    pub fn problem(&self) -> Problem {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "internal error");
        }
        let detail = match self {
            ApiError::Unauthorized(e) => e.public_description(),
            other => other.to_string(),
        };
        Problem::new(self.code(), detail)
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Invalid { code, detail } => ApiError::Invalid { code, detail },
            IssueError::Denied(d) => ApiError::Forbidden(d),
            IssueError::Overloaded => ApiError::Overloaded,
            IssueError::AuditUnavailable(e) => ApiError::AuditUnavailable(e),
            IssueError::KeyUnavailable(_) => ApiError::KeyUnavailable,
            IssueError::Signing(cause) => ApiError::Internal(Box::new(cause)),
            IssueError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_response_with(|_| {})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        problem.into_response_with(|r| match &self {
            ApiError::Unauthorized(e) => {
                let value = format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    e.public_description()
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::Overloaded | ApiError::AuditUnavailable(_) | ApiError::KeyUnavailable => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        })
    }
}

/// Writes the problem document of an error answer, with `request_id` in
/// it: the problem an [`ApiError`] left beside the answer, or, for an error
/// answer without one (the timeout layer, framework rejections), the
/// problem of its status. Every 4xx/5xx thus has the same shape. Other
/// answers pass as they are.
pub fn problem_body(mut response: Response, request_id: Option<&str>) -> Response {
    let status = response.status();
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(p) => p,
        None if status.is_client_error() || status.is_server_error() => generic(status),
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    let problem = Problem {
        request_id: request_id.map(str::to_owned),
        ..problem
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.extensions.insert(problem);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// A problem for an error answer that carries none (the timeout layer,
/// framework rejections): the code whose status it is.
fn generic(status: StatusCode) -> Problem {
    let code = match status {
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let mut problem = Problem::new(code, status.canonical_reason().unwrap_or("error"));
    // The status is the answer's own (a 400-class status without a code of
    // its own keeps its number).
    problem.status = status.as_u16();
    problem.title = status.canonical_reason().unwrap_or("Error");
    problem
}
