//! Extractors: JSON bodies whose rejections are problem documents (and JSON
//! answers written in one buffer), the authenticated [`Caller`], and the
//! client address through trusted proxies.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{AuthError, Caller};
use crate::error_code::ErrorCode;
use crate::service::{UrlAnswer, Verdict};

/// `Json<T>` with problem+json rejections: 415 wrong content type, 400 bad
/// syntax, 422 wrong shape (unknown fields, bad types), 413 too large.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    /// axum's `Json` decides: what it accepts is accepted, what it refuses is
    /// refused with its rejection. The one shortcut: a body declared exactly
    /// `application/json` (which axum accepts) is parsed by plain serde_json,
    /// which accepts exactly the documents axum's `Json::from_bytes` does;
    /// only a body that fails goes through `from_bytes` again, for the
    /// rejection naming the failing field (serde_path_to_error, whose
    /// tracking was a third of parsing a signing request).
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let plain_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/json");
        if !plain_json {
            return match axum::Json::<T>::from_request(req, state).await {
                Ok(axum::Json(v)) => Ok(ApiJson(v)),
                Err(rejection) => Err(map_rejection(rejection)),
            };
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| map_rejection(e.into()))?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(ApiJson(v)),
            Err(_) => match axum::Json::<T>::from_bytes(&bytes) {
                Ok(axum::Json(v)) => Ok(ApiJson(v)),
                Err(rejection) => Err(map_rejection(rejection)),
            },
        }
    }
}

/// Room for a signed URL answer (a URL with a 172-character signature, or a
/// custom policy's longer one, and its fields) in one allocation. axum's
/// `Json` starts at 128 bytes and grew its buffer three or four times per
/// answer: a measurable share of a signature-cache hit.
const ANSWER_CAPACITY: usize = 1024;

/// How an answer becomes its JSON body: serde_json, unless the answer has a
/// faster writer of the same bytes (the signed URL's, which is most of the
/// traffic: [`UrlAnswer::write_json`]).
pub trait JsonBody: Serialize {
    /// Appends the body to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }
}

impl JsonBody for UrlAnswer {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        UrlAnswer::write_json(self, out)
    }
}

impl JsonBody for Verdict {}
impl JsonBody for serde_json::Value {}

/// An answer as `application/json`. Writing our answers cannot fail (no
/// maps with non-string keys); if it did, the answer is a bare 500, which
/// `http::envelope` turns into a problem document.
impl<T: JsonBody> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(ANSWER_CAPACITY);
        match self.0.write_json(&mut body) {
            Ok(()) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

fn map_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("invalid JSON: {}", e.body_text())),
        JsonRejection::JsonDataError(e) => ApiError::Invalid {
            code: ErrorCode::InvalidRequest,
            // axum's prefix says nothing the code does not; serde's text
            // names the field and what it must be.
            detail: e
                .body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_owned(),
        },
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Parses `Authorization: Bearer <token>`; the token is never logged. More
/// than one `Authorization` header is refused: behind a proxy that appends
/// its own, the caller would otherwise pick which identity counts.
fn bearer(parts: &Parts) -> Result<&str, AuthError> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::AmbiguousCredentials);
    }
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::NotBearer);
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A missing or malformed header is a refused token too: counted and audited.
        let result = bearer(parts).and_then(|token| {
            let result = state.auth.authenticate(token, state.signing.now());
            if let (Err(AuthError::UnknownKey), Some(jwks)) = (&result, &state.jwks)
                && let Some(issuer) = state.auth.unknown_kid(token)
            {
                jwks.request_refresh(&issuer);
            }
            result
        });
        let client_ip = match &result {
            Err(_) => {
                let Ok(ClientAddr(ip)) = ClientAddr::from_request_parts(parts, state).await;
                ip
            }
            Ok(_) => None,
        };
        let e = match result {
            Ok(caller) => return Ok(caller),
            Err(e) => e,
        };
        crate::metrics::jwt_failure(e.reason());
        let request_id = super::request_id::request_id(&parts.headers).unwrap_or("-");
        // Recorded before it is answered, like every refusal; 503 when the
        // audit trail cannot record it.
        match state.signing.refused_token(request_id, client_ip, e.reason()).await {
            Ok(()) => Err(ApiError::Unauthorized(e)),
            Err(unrecorded) => Err(unrecorded.into()),
        }
    }
}

/// The caller's address: the peer, or — when the peer is a trusted proxy —
/// the right-most untrusted address of `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|c| c.0.ip());
        let snapshot = state.signing.snapshot().load();
        let trusted = |ip: &IpAddr| match ip {
            IpAddr::V4(v4) => snapshot.trusted_proxies.iter().any(|c| c.contains(*v4)),
            IpAddr::V6(_) => false,
        };
        let Some(peer) = peer else { return Ok(ClientAddr(None)) };
        if !trusted(&peer) {
            return Ok(ClientAddr(Some(peer)));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let client = forwarded
            .iter()
            .rev()
            .map_while(|s| s.parse::<IpAddr>().ok())
            .find(|ip| !trusted(ip));
        Ok(ClientAddr(Some(client.unwrap_or(peer))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::UrlRequest;

    /// What the extractor made of `body` under `content_type`: the request's
    /// key, or the refusal's code and detail.
    async fn extract(content_type: &str, body: &'static str) -> Result<Option<String>, (ErrorCode, String)> {
        let request = Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        match ApiJson::<UrlRequest>::from_request(request, &()).await {
            Ok(ApiJson(asked)) => Ok(asked.key),
            Err(e) => Err((e.code(), e.to_string())),
        }
    }

    /// The shortcut for `application/json` and axum's own path (taken for any
    /// other JSON content type) accept and refuse the same bodies, in the same words.
    #[tokio::test]
    async fn plain_json_and_axums_path_agree_on_every_body() {
        let bodies = [
            r#"{"key":"a.pdf","ttl_seconds":60}"#,
            r#"  {"key":"a.pdf"}  "#,
            r#"{"key":"a.pdf"} trailing"#,
            r#"{"key":"a.pdf""#,
            r#"{"key":7}"#,
            r#"{"key":"a.pdf","ttl_seconds":-1}"#,
            r#"{"key":"a.pdf","unknown":1}"#,
            r#"{"key":"a.pdf","key":"b.pdf"}"#,
            r#"[]"#,
            "",
            "\u{feff}{}",
        ];
        for body in bodies {
            let plain = extract("application/json", body).await;
            let axums = extract("application/json; charset=utf-8", body).await;
            assert_eq!(plain, axums, "{body:?}");
        }
        assert_eq!(
            extract("application/json", r#"{"key":"a.pdf"}"#).await,
            Ok(Some("a.pdf".into()))
        );
        let refused = extract("application/json", r#"{"key":7}"#).await.unwrap_err();
        assert_eq!(refused.0, ErrorCode::InvalidRequest);
        assert!(refused.1.contains("key"), "{refused:?}");
        assert_eq!(
            extract("text/plain", r#"{"key":"a.pdf"}"#).await.unwrap_err().0,
            ErrorCode::UnsupportedMediaType
        );
    }
}
