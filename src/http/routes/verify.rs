//! `POST /v1/verify`: would CloudFront accept this URL (or these cookies)?
//! The "why does CloudFront say 403" tool, using the configured public keys.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error_code::ErrorCode;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::service::{LAST_EXPIRY, Verdict};
use crate::signing::{RequestContext, verify_cookies, verify_url};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(super::VERIFY, post(verify))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    url: String,
    cookies: Option<BTreeMap<String, String>>,
    at: Option<String>,
    client_ip: Option<String>,
}

async fn verify(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<ApiJson<Verdict>, ApiError> {
    let invalid = |detail: &str| ApiError::Invalid {
        code: ErrorCode::InvalidRequest,
        detail: detail.to_owned(),
    };
    let at = match &req.at {
        Some(text) => crate::dates::parse_date(text)
            .map_err(|_| invalid(&format!("at must be a date: {}", crate::dates::FORMATS)))?,
        None => state.signing.now(),
    };
    // The verdict says its moment as an RFC 3339 date-time.
    if at > LAST_EXPIRY {
        return Err(ApiError::Invalid {
            code: ErrorCode::InvalidTimes,
            detail: "at must be at or before 9999-12-31T23:59:59Z".to_owned(),
        });
    }
    let client_ip = match &req.client_ip {
        Some(ip) => Some(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| invalid("client_ip must be an IPv4 address"))?,
        ),
        None => None,
    };
    let ctx = RequestContext { at, client_ip };
    let snapshot = state.signing.snapshot().load_full();
    // Verification is one public-key operation: cheap enough for the reactor.
    let verdict = match &req.cookies {
        Some(cookies) => {
            let pairs: Vec<(String, String)> = cookies.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            verify_cookies(&req.url, &pairs, snapshot.as_ref(), ctx)
        }
        None => verify_url(&req.url, snapshot.as_ref(), ctx),
    };
    Ok(ApiJson(Verdict::new(verdict, at, "\"client_ip\"")))
}
