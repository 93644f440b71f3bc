//! Recording outcomes: every issuance and every refusal of a signing
//! request becomes one audit event and its metrics, here and only here.
//! The answer is released only once the audit trail has accepted its
//! event (`on_failure = "refuse"`); when it cannot, the request is
//! answered 503 `audit_unavailable` and nothing it asked for is returned.

use std::time::Instant;

use super::answer::IssuanceRecord;
use super::error::IssueError;
use super::signing::Context;
use crate::audit::{Audit, Event, Who};
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

/// One request's outcome for one item: the answer with what it granted, or
/// the refusal with what was asked for (distribution, resource).
pub(crate) type Outcome<A> = Result<(A, IssuanceRecord), (IssueError, Option<String>, Option<String>)>;

/// Records the outcomes of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorder<'a> {
    kind: Kind,
    ctx: &'a Context<'a>,
    audit: &'a Audit,
    started: Instant,
}

impl<'a> Recorder<'a> {
    /// A recorder for a request the trail can take now; refused at once
    /// (before anything is planned or signed) while it cannot.
    pub fn admit(kind: Kind, ctx: &'a Context<'a>, audit: &'a Audit) -> Result<Self, IssueError> {
        audit.admit()?;
        Ok(Self {
            kind,
            ctx,
            audit,
            started: Instant::now(),
        })
    }

    fn who(&self) -> Who<'_> {
        Who {
            caller: Some(self.ctx.caller),
            request_id: self.ctx.request_id,
            client_ip: self.ctx.client_ip,
        }
    }

    fn event<A>(&self, outcome: &Outcome<A>) -> Event {
        match outcome {
            Ok((_, record)) => Event::issued(self.who(), self.kind.as_str(), record),
            Err((error, distribution, resource)) => Event::denied(
                self.who(),
                self.kind.as_str(),
                (distribution.as_deref(), resource.as_deref()),
                error.code(),
                &error.to_string(),
            ),
        }
    }

    fn count<A>(&self, outcome: Outcome<A>) -> Result<A, IssueError> {
        match outcome {
            Ok((answer, record)) => {
                let g = &record.granted;
                crate::metrics::signed(
                    &g.distribution,
                    self.kind.as_str(),
                    record.policy_type.as_str(),
                    g.hash_algorithm.as_str(),
                    &g.key_pair_id,
                    self.started,
                );
                Ok(answer)
            }
            Err((error, _, _)) => {
                crate::metrics::denial(error.code().as_str());
                Err(error)
            }
        }
    }

    /// Records one outcome; hands it back once its event is accepted.
    pub async fn one<A>(&self, outcome: Outcome<A>) -> Result<A, IssueError> {
        self.audit.record(vec![self.event(&outcome)]).await?;
        self.count(outcome)
    }

    /// Records every item's outcome as one group (all are accepted by the
    /// trail or none: then the whole request is refused).
    pub async fn all<A>(&self, outcomes: Vec<Outcome<A>>) -> Result<Vec<Result<A, IssueError>>, IssueError> {
        let events = outcomes.iter().map(|o| self.event(o)).collect();
        self.audit.record(events).await?;
        Ok(outcomes.into_iter().map(|o| self.count(o)).collect())
    }

    /// Records a request whose body could not be read as a request.
    pub async fn rejected(&self, code: ErrorCode, detail: &str) -> Result<(), IssueError> {
        let event = Event::denied(self.who(), self.kind.as_str(), (None, None), code, detail);
        self.audit.record(vec![event]).await?;
        crate::metrics::denial(code.as_str());
        Ok(())
    }
}
