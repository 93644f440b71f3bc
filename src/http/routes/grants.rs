//! `GET /v1/grants/me`: what the caller may sign, for frontends, with claim
//! templates filled for this caller.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use crate::auth::Caller;
use crate::http::extract::{ApiJson, JsonBody};
use crate::http::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(super::GRANTS_ME, get(my_grants))
}

#[derive(Debug, Serialize)]
struct GrantView {
    name: String,
    distributions: Vec<String>,
    /// The patterns, filled for the caller; a template that cannot be
    /// filled is left out (it matches nothing) and listed in `unfilled`.
    allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unfilled: Vec<String>,
    max_ttl_seconds: u64,
    default_ttl_seconds: u64,
    allow_wildcard_policy: bool,
    allow_cookies: bool,
    allow_ip_binding: bool,
}

#[derive(Debug, Serialize)]
struct MyGrants {
    issuer: String,
    subject: Option<String>,
    grants: Vec<GrantView>,
}

impl JsonBody for MyGrants {}

async fn my_grants(State(state): State<AppState>, caller: Caller) -> ApiJson<MyGrants> {
    let snapshot = state.signing.snapshot().load();
    let grants = snapshot
        .grants
        .for_caller(&caller)
        .map(|g| {
            let (mut allow, mut unfilled) = (Vec::new(), Vec::new());
            for (raw, filled) in g.patterns(&caller) {
                match filled {
                    Ok(p) => allow.push(p),
                    Err(why) => unfilled.push(format!("{raw}: {why}")),
                }
            }
            GrantView {
                name: g.name.clone(),
                distributions: g.distributions.clone(),
                allow,
                unfilled,
                max_ttl_seconds: g.max_ttl.as_secs(),
                default_ttl_seconds: g.default_ttl.as_secs(),
                allow_wildcard_policy: g.allow_wildcard_policy,
                allow_cookies: g.allow_cookies,
                allow_ip_binding: g.allow_ip_binding,
            }
        })
        .collect();
    ApiJson(MyGrants {
        issuer: caller.issuer.clone(),
        subject: caller.subject.clone(),
        grants,
    })
}
