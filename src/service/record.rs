//! Recording outcomes: every issuance and every refusal of a signing
//! request becomes one audit event and its metrics, here and only here.

use std::time::Instant;

use super::answer::IssuanceRecord;
use super::error::IssueError;
use super::signing::Context;
use crate::audit::{self, Who};
use crate::error_code::ErrorCode;

/// What was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Signed URLs (single or batch).
    Url,
    /// Signed cookies.
    Cookies,
}

impl Kind {
    /// `url` or `cookies`, as audit events and metrics say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Url => "url",
            Kind::Cookies => "cookies",
        }
    }
}

/// Records the outcomes of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorder<'a> {
    kind: Kind,
    ctx: &'a Context<'a>,
}

impl<'a> Recorder<'a> {
    pub fn new(kind: Kind, ctx: &'a Context<'a>) -> Self {
        Self { kind, ctx }
    }

    fn who(&self) -> Who<'_> {
        Who {
            caller: Some(self.ctx.caller),
            request_id: self.ctx.request_id,
            client_ip: self.ctx.client_ip,
        }
    }

    /// Records a refusal (audit event + metric) and hands the error back.
    pub fn denied(&self, distribution: Option<&str>, resource: Option<&str>, error: IssueError) -> IssueError {
        crate::metrics::denial(error.code().as_str());
        audit::denied(
            self.who(),
            self.kind.as_str(),
            distribution,
            resource,
            &error.to_string(),
        );
        error
    }

    /// Records a request whose body could not be read as a request.
    pub fn rejected(&self, code: ErrorCode, detail: &str) {
        crate::metrics::denial(code.as_str());
        audit::denied(self.who(), self.kind.as_str(), None, None, detail);
    }

    /// Records an issuance (audit event + metrics).
    pub fn issued(&self, record: &IssuanceRecord, started: Instant) {
        let g = &record.granted;
        crate::metrics::signed(
            &g.distribution,
            self.kind.as_str(),
            record.policy_type.as_str(),
            g.hash_algorithm.as_str(),
            &g.key_pair_id,
            started,
        );
        audit::issued(self.who(), self.kind.as_str(), record);
    }
}
