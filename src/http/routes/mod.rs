//! Route modules; each owns its `router()`. Handlers extract, call the
//! service, answer; the two helpers below are what the signing routes share.

pub mod cookies;
pub mod grants;
pub mod meta;
pub mod urls;
pub mod verify;

use std::net::IpAddr;

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::{Context, Kind};

/// The issuance context of one request.
fn asked<'a>(caller: &'a Caller, request_id: &'a str, client_ip: Option<IpAddr>) -> Context<'a> {
    Context {
        caller,
        request_id,
        client_ip,
    }
}

/// A body that could not be read as a request is a refusal too: recorded
/// (audit event, metric) like every other, then answered (503 instead when
/// the audit trail cannot record it).
async fn rejected(state: &AppState, ctx: &Context<'_>, kind: Kind, error: ApiError) -> ApiError {
    match state
        .signing
        .rejected(ctx, kind, error.code(), &error.to_string())
        .await
    {
        Ok(()) => error,
        Err(unrecorded) => unrecorded.into(),
    }
}

/// The request body, or its refusal, recorded.
async fn body<T>(
    state: &AppState,
    ctx: &Context<'_>,
    kind: Kind,
    body: Result<crate::http::extract::ApiJson<T>, ApiError>,
) -> Result<T, ApiError> {
    match body {
        Ok(crate::http::extract::ApiJson(value)) => Ok(value),
        Err(e) => Err(rejected(state, ctx, kind, e).await),
    }
}
