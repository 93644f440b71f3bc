//! `POST /v1/verify`: would CloudFront accept this URL (or these cookies)?
//! The "why does CloudFront say 403" tool, using the configured public keys.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Caller;
use crate::error_code::ErrorCode;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::signing::{FailureCode, HashAlgorithm, PolicyType, RequestContext, verify_cookies, verify_url};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/verify", post(verify))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    url: String,
    cookies: Option<BTreeMap<String, String>>,
    at: Option<String>,
    client_ip: Option<String>,
}

#[derive(Debug, Serialize)]
struct VerifyResponse {
    valid: bool,
    reason: Option<FailureCode>,
    detail: Option<String>,
    policy_type: Option<PolicyType>,
    key_pair_id: Option<String>,
    hash_algorithm: Option<HashAlgorithm>,
    policy: Option<serde_json::Value>,
}

async fn verify(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let invalid = |detail: &str| ApiError::Invalid {
        code: ErrorCode::InvalidRequest,
        detail: detail.to_owned(),
    };
    let at = match &req.at {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| invalid("at must be an RFC 3339 date-time"))?
            .unix_timestamp(),
        None => state.signing.now(),
    };
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
    Ok(Json(VerifyResponse {
        valid: verdict.is_valid(),
        reason: verdict.failure.as_ref().map(|f| f.code),
        detail: verdict.failure.as_ref().map(|f| f.detail.clone()),
        policy_type: verdict.policy_type,
        key_pair_id: verdict.key_pair_id,
        hash_algorithm: verdict.hash_algorithm,
        policy: verdict.policy_json.and_then(|j| serde_json::from_str(&j).ok()),
    }))
}
