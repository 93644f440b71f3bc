//! `POST /v1/signed-urls` and `POST /v1/signed-urls/batch`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, ClientAddr};
use crate::http::record::{Outcome, RequestId};
use crate::http::state::AppState;
use crate::service::{IssueError, Issuer, UrlAnswer, UrlRequest};

/// Most items in one batch.
pub const MAX_BATCH: usize = 1000;

/// Routes of this module. A batch of up to [`MAX_BATCH`] items does not fit
/// the general body limit, so its route has its own (`batch_body_limit_bytes`).
pub fn router(batch_body_limit: usize) -> Router<AppState> {
    Router::new().route("/v1/signed-urls", post(sign_one)).route(
        "/v1/signed-urls/batch",
        post(sign_batch).layer(axum::extract::DefaultBodyLimit::max(batch_body_limit)),
    )
}

async fn sign_one(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<UrlRequest>, ApiError>,
) -> Result<Json<UrlAnswer>, ApiError> {
    let outcome = Outcome::new("url", &caller, &request_id, client);
    let ApiJson(req) = body.map_err(|e| outcome.rejected(e))?;
    let started = Instant::now();
    let snapshot = state.snapshot.load_full();
    let plan = Issuer::new(&snapshot, &caller, state.clock.now(), client)
        .plan_url(&req)
        .map_err(|e| outcome.denied(req.distribution.as_deref(), requested(&req), e))?;
    // A policy signed before costs a lookup, not an RSA operation.
    if let Some(answer) = plan.cached_url() {
        outcome.issued(&plan.grantee, started);
        return Ok(Json(answer));
    }
    let plan = Arc::new(plan);
    let job = Arc::clone(&plan);
    let answer = state
        .pool
        .run(move || job.sign_url())
        .await
        .and_then(|r| r)
        .map_err(|e| outcome.denied(req.distribution.as_deref(), requested(&req), e))?;
    outcome.issued(&plan.grantee, started);
    Ok(Json(answer))
}

/// The resource as the caller named it (key or path), for audit events.
fn requested(req: &UrlRequest) -> Option<&str> {
    req.key.as_deref().or(req.path.as_deref())
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

/// Plans every item (cheap), then signs the valid ones in one chunk per
/// worker so a large batch uses every core. One bad item never fails the others.
async fn sign_batch(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    RequestId(request_id): RequestId,
    body: Result<ApiJson<BatchRequest>, ApiError>,
) -> Result<Json<BatchResponse>, ApiError> {
    let outcome = Outcome::new("url", &caller, &request_id, client);
    let ApiJson(req) = body.map_err(|e| outcome.rejected(e))?;
    let started = Instant::now();
    if req.items.is_empty() || req.items.len() > MAX_BATCH {
        return Err(outcome.rejected(ApiError::Invalid {
            code: "invalid_batch",
            detail: format!("a batch holds 1 to {MAX_BATCH} items"),
        }));
    }
    let snapshot = state.snapshot.load_full();
    let issuer = Issuer::new(&snapshot, &caller, state.clock.now(), client);
    let plans: Vec<_> = req
        .items
        .iter()
        .map(|item| {
            issuer
                .plan_url(item)
                .map_err(|e| outcome.denied(item.distribution.as_deref(), requested(item), e))
        })
        .collect();
    let plans = Arc::new(plans);
    let workers = state.pool.workers().max(1);
    let chunk = plans.len().div_ceil(workers);
    let mut jobs = Vec::new();
    for start in (0..plans.len()).step_by(chunk) {
        let plans = Arc::clone(&plans);
        let end = (start + chunk).min(plans.len());
        let pool = Arc::clone(&state.pool);
        jobs.push(tokio::spawn(async move {
            pool.run(move || {
                plans[start..end]
                    .iter()
                    .map(|p| {
                        p.as_ref()
                            .map_err(clone_err)
                            .and_then(|p| p.cached_url().map_or_else(|| p.sign_url(), Ok))
                    })
                    .collect::<Vec<_>>()
            })
            .await
        }));
    }
    let mut items = Vec::with_capacity(plans.len());
    for job in jobs {
        let results = job.await.map_err(|e| ApiError::Internal(e.to_string()))??;
        items.extend(results.into_iter().map(|r| match r {
            Ok(answer) => BatchItem::Ok(answer),
            Err(e) => BatchItem::Err {
                error: ApiError::from(e).problem(),
            },
        }));
    }
    for (plan, item) in plans.iter().zip(&items) {
        if let (Ok(plan), BatchItem::Ok(_)) = (plan, item) {
            outcome.issued(&plan.grantee, started);
        }
    }
    Ok(Json(BatchResponse { items }))
}

/// Planning errors are re-created per item (errors are not `Clone` because
/// they may carry a key error).
fn clone_err(e: &IssueError) -> IssueError {
    match e {
        IssueError::Invalid { code, detail } => IssueError::Invalid {
            code,
            detail: detail.clone(),
        },
        IssueError::Denied(d) => IssueError::Denied(d.clone()),
        IssueError::Overloaded => IssueError::Overloaded,
        other => IssueError::Internal(other.to_string()),
    }
}
