//! The request id: set (or accepted) by the front layer
//! ([`super::front`]), which leaves it in the request's `x-request-id`
//! header. A caller's malformed id never gets this far: the front layer
//! replaced it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};

/// The header that carries it, in requests and answers.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id set (or accepted) by the front layer.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request id of a request with these headers, once the front layer ran.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(|id| id.to_str().ok())
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(request_id(&parts.headers).unwrap_or("-").to_owned()))
    }
}
