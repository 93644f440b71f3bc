//! `POST /v1/signed-urls` and `POST /v1/signed-urls/batch`: extract, ask
//! the issuance service, answer.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::asked;
use crate::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ClientAddr, JsonBody};
use crate::http::request_id::RequestId;
use crate::http::state::AppState;
use crate::service::{Kind, UrlAnswer, UrlRequest};

pub use crate::service::MAX_BATCH;

/// Routes of this module. A batch of up to [`MAX_BATCH`] items does not fit
/// the general body limit, so its route has its own (`batch_body_limit_bytes`).
pub fn router(batch_body_limit: usize) -> Router<AppState> {
    Router::new().route(super::SIGNED_URLS, post(sign_one)).route(
        super::SIGNED_URLS_BATCH,
        post(sign_batch).layer(axum::extract::DefaultBodyLimit::max(batch_body_limit)),
    )
}

async fn sign_one(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client_ip): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<UrlRequest>, ApiError>,
) -> Result<ApiJson<UrlAnswer>, ApiError> {
    let ctx = asked(&caller, &request_id, client_ip);
    let req = super::body(&state, &ctx, Kind::Url, body).await?;
    Ok(ApiJson(state.signing.url(&ctx, &req).await?))
}

/// Batch request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    items: Vec<UrlRequest>,
}

/// One result: the signed URL or a problem.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum BatchItem {
    Ok(UrlAnswer),
    Err { error: Problem },
}

#[derive(Debug, Serialize)]
struct BatchResponse {
    items: Vec<BatchItem>,
}

impl JsonBody for BatchResponse {}

/// Every item answered in place: one bad item never fails the others.
async fn sign_batch(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client_ip): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<BatchRequest>, ApiError>,
) -> Result<ApiJson<BatchResponse>, ApiError> {
    let ctx = asked(&caller, &request_id, client_ip);
    let req = super::body(&state, &ctx, Kind::Url, body).await?;
    let results = state.signing.urls(&ctx, &req.items).await?;
    let items = results
        .into_iter()
        .map(|r| match r {
            Ok(answer) => BatchItem::Ok(answer),
            Err(e) => BatchItem::Err {
                error: ApiError::from(e).problem(),
            },
        })
        .collect();
    Ok(ApiJson(BatchResponse { items }))
}
