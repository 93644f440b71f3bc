//! `POST /v1/signed-cookies`: cookies in the body and as `Set-Cookie` headers.

use std::time::Instant;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::post;
use axum::{Json, Router};

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ClientAddr};
use crate::http::record::{Outcome, RequestId};
use crate::http::state::AppState;
use crate::service::{CookieAnswer, CookieRequest, Issuer};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/signed-cookies", post(sign_cookies))
}

async fn sign_cookies(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<CookieRequest>, ApiError>,
) -> Result<(HeaderMap, Json<CookieAnswer>), ApiError> {
    let outcome = Outcome::new("cookies", &caller, &request_id, client);
    let ApiJson(req) = body.map_err(|e| outcome.rejected(e))?;
    let started = Instant::now();
    let deny = |e| outcome.denied(req.distribution.as_deref(), Some(&req.resource), e);
    let snapshot = state.snapshot.load_full();
    let plan = Issuer::new(&snapshot, &caller, state.clock.now(), client)
        .plan_cookies(&req)
        .map_err(deny)?;
    if let Some(answer) = plan.cached_cookies() {
        outcome.issued(&plan.grantee, started);
        return cookie_response(answer);
    }
    let plan = std::sync::Arc::new(plan);
    let job = std::sync::Arc::clone(&plan);
    let answer = state
        .pool
        .run(move || job.sign_cookies())
        .await
        .and_then(|r| r)
        .map_err(deny)?;
    outcome.issued(&plan.grantee, started);
    cookie_response(answer)
}

/// The JSON answer plus one `Set-Cookie` header per cookie.
fn cookie_response(answer: CookieAnswer) -> Result<(HeaderMap, Json<CookieAnswer>), ApiError> {
    let mut headers = HeaderMap::new();
    for value in &answer.set_cookie {
        let value = HeaderValue::from_str(value).map_err(|e| ApiError::Internal(format!("cookie header: {e}")))?;
        headers.append(SET_COOKIE, value);
    }
    Ok((headers, Json(answer)))
}
