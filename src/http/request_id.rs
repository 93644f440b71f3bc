//! The request id, read once per use from the extension tower-http's
//! `SetRequestIdLayer` puts on every request (never from the raw header,
//! which a caller may have sent malformed: that one is dropped and replaced).

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::request::Parts;
use tower_http::request_id::RequestId as LayerRequestId;

/// The request id set (or accepted) by the request-id layer.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request id of a request with these extensions, if the layer ran.
pub fn request_id(extensions: &Extensions) -> Option<&str> {
    extensions
        .get::<LayerRequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(request_id(&parts.extensions).unwrap_or("-").to_owned()))
    }
}
