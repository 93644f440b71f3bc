//! Glue between handlers and the audit log / metrics, so every issuance and
//! every refusal is recorded the same way.

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::audit::{self, Who};
use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::service::{Grantee, IssueError};

/// The request id set (or accepted) by the request-id layer.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        Ok(RequestId(id.to_owned()))
    }
}

/// What is known about one signing request, for recording its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// `url` or `cookies`.
    pub kind: &'static str,
    /// The caller.
    pub caller: &'a Caller,
    /// The request id.
    pub request_id: &'a str,
    /// The client address.
    pub client_ip: Option<IpAddr>,
}

impl<'a> Outcome<'a> {
    /// The outcome recorder for one request of `kind` (`url` or `cookies`).
    pub fn new(kind: &'static str, caller: &'a Caller, request_id: &'a str, client_ip: Option<IpAddr>) -> Self {
        Self {
            kind,
            caller,
            request_id,
            client_ip,
        }
    }

    fn who(&self) -> Who<'_> {
        Who {
            caller: Some(self.caller),
            request_id: self.request_id,
            client_ip: self.client_ip,
        }
    }

    /// Records a refusal (audit event + metric) and hands the error back.
    pub fn denied(&self, distribution: Option<&str>, resource: Option<&str>, error: IssueError) -> IssueError {
        let reason = match &error {
            IssueError::Invalid { code, .. } => code,
            IssueError::Denied(_) => "forbidden",
            IssueError::Overloaded => "overloaded",
            IssueError::Signing(_) | IssueError::Internal(_) => "internal",
        };
        crate::metrics::denial(reason);
        audit::denied(self.who(), self.kind, distribution, resource, &error.to_string());
        error
    }

    /// Records a request refused before it could be planned: its body was
    /// not JSON, not of the right shape (a negative or fractional TTL, an
    /// unknown field...), too large, or not `application/json`.
    pub fn rejected(&self, error: ApiError) -> ApiError {
        let (_, code) = error.status_and_code();
        crate::metrics::denial(code);
        audit::denied(self.who(), self.kind, None, None, &error.to_string());
        error
    }

    /// Records an issuance (audit event + metrics).
    pub fn issued(&self, grantee: &Grantee, started: Instant) {
        crate::metrics::signed(
            &grantee.distribution,
            self.kind,
            grantee.policy_type.as_str(),
            grantee.hash_algorithm.as_str(),
            &grantee.key_pair_id,
            started,
        );
        audit::issued(self.who(), self.kind, grantee);
    }
}
