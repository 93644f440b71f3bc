//! The one issuance pipeline: plan → signature cache → signing pool → sign
//! → record (audit event and metrics). Every signed URL and cookie set the
//! service hands out comes through [`Signing`]; handlers only extract,
//! call and answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use super::answer::{CookieAnswer, IssuanceRecord, UrlAnswer};
use super::clock::Clock;
use super::error::IssueError;
use super::plan::{CookiePlan, Issuer, UrlPlan};
use super::pool::SigningPool;
use super::record::{Kind, Recorder};
use super::requests::{CookieRequest, UrlRequest};
use super::snapshot::Snapshot;
use crate::auth::Caller;
use crate::error_code::ErrorCode;

/// Most items in one batch.
pub const MAX_BATCH: usize = 1000;

/// Who asks, in one request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The request id (for the audit event).
    pub request_id: &'a str,
    /// The caller's address through trusted proxies.
    pub client_ip: Option<IpAddr>,
}

/// The issuance service: the configuration snapshot, the signing pool and
/// the clock. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Signing {
    snapshot: Arc<ArcSwap<Snapshot>>,
    pool: Arc<SigningPool>,
    clock: Arc<dyn Clock>,
}

/// A plan of either kind, as the pipeline sees it.
trait Plan: Send + Sync + 'static {
    type Answer: Send + 'static;
    fn cached(&self) -> Option<Self::Answer>;
    fn sign(&self) -> Result<Self::Answer, IssueError>;
    fn record(&self, answer: &Self::Answer) -> IssuanceRecord;
}

impl Plan for UrlPlan {
    type Answer = UrlAnswer;
    fn cached(&self) -> Option<UrlAnswer> {
        UrlPlan::cached(self)
    }
    fn sign(&self) -> Result<UrlAnswer, IssueError> {
        UrlPlan::sign(self)
    }
    fn record(&self, answer: &UrlAnswer) -> IssuanceRecord {
        UrlPlan::record(self, answer)
    }
}

impl Plan for CookiePlan {
    type Answer = CookieAnswer;
    fn cached(&self) -> Option<CookieAnswer> {
        CookiePlan::cached(self)
    }
    fn sign(&self) -> Result<CookieAnswer, IssueError> {
        CookiePlan::sign(self)
    }
    fn record(&self, answer: &CookieAnswer) -> IssuanceRecord {
        CookiePlan::record(self, answer)
    }
}

impl Signing {
    /// The service over a loaded snapshot.
    pub fn new(snapshot: Snapshot, pool: SigningPool, clock: Arc<dyn Clock>) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            pool: Arc::new(pool),
            clock,
        }
    }

    /// Distributions, keys and grants; swapped whole on reload.
    pub fn snapshot(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.snapshot
    }

    /// Where signing runs.
    pub fn pool(&self) -> &Arc<SigningPool> {
        &self.pool
    }

    /// "Now", epoch seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Issues one signed URL.
    pub async fn url(&self, ctx: &Context<'_>, req: &UrlRequest) -> Result<UrlAnswer, IssueError> {
        let recorder = Recorder::new(Kind::Url, ctx);
        let deny = |e| recorder.denied(req.distribution.as_deref(), requested(req), e);
        let snapshot = self.snapshot.load_full();
        let plan = self.issuer(&snapshot, ctx).plan_url(req).map_err(deny)?;
        self.issue(plan, &recorder).await.map_err(deny)
    }

    /// Issues signed cookies.
    pub async fn cookies(&self, ctx: &Context<'_>, req: &CookieRequest) -> Result<CookieAnswer, IssueError> {
        let recorder = Recorder::new(Kind::Cookies, ctx);
        let deny = |e| recorder.denied(req.distribution.as_deref(), Some(&req.resource), e);
        let snapshot = self.snapshot.load_full();
        let plan = self.issuer(&snapshot, ctx).plan_cookies(req).map_err(deny)?;
        self.issue(plan, &recorder).await.map_err(deny)
    }

    /// Issues up to [`MAX_BATCH`] signed URLs: every item is planned, then
    /// the valid ones are signed in one chunk per worker so a large batch
    /// uses every core. One bad item never fails the others; each item is
    /// recorded like a single request. `Err` only for the batch as a whole.
    pub async fn urls(
        &self,
        ctx: &Context<'_>,
        items: &[UrlRequest],
    ) -> Result<Vec<Result<UrlAnswer, IssueError>>, IssueError> {
        let started = Instant::now();
        let recorder = Recorder::new(Kind::Url, ctx);
        if items.is_empty() || items.len() > MAX_BATCH {
            let e = IssueError::invalid(ErrorCode::InvalidBatch, format!("a batch holds 1 to {MAX_BATCH} items"));
            return Err(recorder.denied(None, None, e));
        }
        let snapshot = self.snapshot.load_full();
        let issuer = self.issuer(&snapshot, ctx);
        let deny = |item: &UrlRequest, e| recorder.denied(item.distribution.as_deref(), requested(item), e);
        let plans: Arc<Vec<_>> = Arc::new(
            items
                .iter()
                .map(|item| issuer.plan_url(item).map_err(|e| deny(item, e)))
                .collect(),
        );
        let answers = self
            .sign_batch(&plans)
            .await
            .map_err(|e| recorder.denied(None, None, e))?;
        let results = answers.into_iter().zip(plans.iter().zip(items));
        Ok(results
            .map(|(answer, (plan, item))| match (answer, plan) {
                (Ok(answer), Ok(plan)) => {
                    recorder.issued(&plan.record(&answer), started);
                    Ok(answer)
                }
                // Planned, then signing failed: recorded like a single request.
                (Err(e), Ok(_)) => Err(deny(item, e)),
                // Recorded when planning refused it.
                (Err(e), Err(_)) => Err(e),
                (Ok(_), Err(e)) => Err(e.duplicate()),
            })
            .collect())
    }

    /// Signs every planned item on the pool, one chunk per worker; items
    /// that failed planning come back as copies of their error.
    async fn sign_batch(
        &self,
        plans: &Arc<Vec<Result<UrlPlan, IssueError>>>,
    ) -> Result<Vec<Result<UrlAnswer, IssueError>>, IssueError> {
        let chunk = plans.len().div_ceil(self.pool.workers().max(1));
        let mut jobs = Vec::new();
        for start in (0..plans.len()).step_by(chunk) {
            let (plans, pool) = (Arc::clone(plans), Arc::clone(&self.pool));
            let end = (start + chunk).min(plans.len());
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let answer = |p: &UrlPlan| p.cached().map_or_else(|| p.sign(), Ok);
                    plans[start..end]
                        .iter()
                        .map(|p| p.as_ref().map_err(IssueError::duplicate).and_then(answer))
                        .collect::<Vec<_>>()
                })
                .await
            }));
        }
        let mut answers = Vec::with_capacity(plans.len());
        for job in jobs {
            answers.extend(job.await.map_err(|e| IssueError::Internal(Box::new(e)))??);
        }
        Ok(answers)
    }

    /// Records a request refused before it could be planned: its body was
    /// not JSON, not of the right shape, too large, or not `application/json`.
    pub fn rejected(&self, ctx: &Context<'_>, kind: Kind, code: ErrorCode, detail: &str) {
        Recorder::new(kind, ctx).rejected(code, detail);
    }

    fn issuer<'s>(&self, snapshot: &'s Snapshot, ctx: &Context<'s>) -> Issuer<'s> {
        Issuer::new(snapshot, ctx.caller, self.now(), ctx.client_ip)
    }

    /// Cache, else pool; then the record. A policy signed before costs a
    /// lookup on the reactor, not a trip to the pool.
    async fn issue<P: Plan>(&self, plan: P, recorder: &Recorder<'_>) -> Result<P::Answer, IssueError> {
        let started = Instant::now();
        if let Some(answer) = plan.cached() {
            recorder.issued(&plan.record(&answer), started);
            return Ok(answer);
        }
        let plan = Arc::new(plan);
        let job = Arc::clone(&plan);
        let answer = self.pool.run(move || job.sign()).await.and_then(|r| r)?;
        recorder.issued(&plan.record(&answer), started);
        Ok(answer)
    }
}

/// The resource as the caller named it (key or path), for audit events.
fn requested(req: &UrlRequest) -> Option<&str> {
    req.key.as_deref().or(req.path.as_deref())
}
