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
/// (audit event, metric) like every other, then answered.
fn rejected(state: &AppState, ctx: &Context<'_>, kind: Kind, error: ApiError) -> ApiError {
    state.signing.rejected(ctx, kind, error.code(), &error.to_string());
    error
}
