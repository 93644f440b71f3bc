//! `POST /v1/signed-cookies`: cookies in the body and as `Set-Cookie` headers.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::post;
use axum::{Json, Router};

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ClientAddr};
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
    ApiJson(req): ApiJson<CookieRequest>,
) -> Result<(HeaderMap, Json<CookieAnswer>), ApiError> {
    let snapshot = state.snapshot.load_full();
    let plan = Issuer::new(&snapshot, &caller, state.clock.now(), client).plan_cookies(&req)?;
    let answer = state.pool.run(move || plan.sign_cookies()).await??;
    let mut headers = HeaderMap::new();
    for value in &answer.set_cookie {
        let value = HeaderValue::from_str(value).map_err(|e| ApiError::Internal(format!("cookie header: {e}")))?;
        headers.append(SET_COOKIE, value);
    }
    Ok((headers, Json(answer)))
}
