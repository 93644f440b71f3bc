//! The one issuance pipeline: plan → signature cache → signing pool → sign
//! → record (audit event accepted by the trail, then metrics; the answer
//! waits for it). Every signed URL and cookie set the
//! service hands out comes through [`Signing`]; handlers only extract,
//! call and answer.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::answer::{CookieAnswer, IssuanceRecord, UrlAnswer};
use super::clock::Clock;
use super::error::IssueError;
use super::plan::{CookiePlan, Issuer, UrlPlan};
use super::pool::SigningPool;
use super::record::{Kind, Recorder};
use super::requests::{CookieRequest, UrlRequest};
use super::snapshot::Snapshot;
use crate::audit::{Audit, Event, Who};
use crate::auth::Caller;
use crate::error_code::ErrorCode;
use crate::keys::RemoteSigner;

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

/// The issuance service: the configuration snapshot, the signing pool, the
/// clock and the audit trail. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Signing {
    snapshot: Arc<ArcSwap<Snapshot>>,
    pool: Arc<SigningPool>,
    clock: Arc<dyn Clock>,
    audit: Audit,
}

/// A plan of either kind, as the pipeline sees it.
trait Plan: Send + Sync + 'static {
    type Answer: Send + 'static;
    fn cached(&self) -> Option<Self::Answer>;
    /// The vault-held key that signs this plan, if not a file key.
    fn remote(&self) -> Option<&RemoteSigner>;
    fn sign(&self) -> Result<Self::Answer, IssueError>;
    fn sign_remote(
        &self,
        remote: &RemoteSigner,
    ) -> impl std::future::Future<Output = Result<Self::Answer, IssueError>> + Send;
    fn record(&self, answer: &Self::Answer) -> IssuanceRecord;
}

impl Plan for UrlPlan {
    type Answer = UrlAnswer;
    fn cached(&self) -> Option<UrlAnswer> {
        UrlPlan::cached(self)
    }
    fn remote(&self) -> Option<&RemoteSigner> {
        self.signable.remote()
    }
    fn sign(&self) -> Result<UrlAnswer, IssueError> {
        UrlPlan::sign(self)
    }
    async fn sign_remote(&self, remote: &RemoteSigner) -> Result<UrlAnswer, IssueError> {
        UrlPlan::sign_remote(self, remote).await
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
    fn remote(&self) -> Option<&RemoteSigner> {
        self.signable.remote()
    }
    fn sign(&self) -> Result<CookieAnswer, IssueError> {
        CookiePlan::sign(self)
    }
    async fn sign_remote(&self, remote: &RemoteSigner) -> Result<CookieAnswer, IssueError> {
        CookiePlan::sign_remote(self, remote).await
    }
    fn record(&self, answer: &CookieAnswer) -> IssuanceRecord {
        CookiePlan::record(self, answer)
    }
}

impl Signing {
    /// The service over a loaded snapshot, recording to `audit`.
    pub fn new(snapshot: Snapshot, pool: SigningPool, clock: Arc<dyn Clock>, audit: Audit) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            pool: Arc::new(pool),
            clock,
            audit,
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

    /// The audit trail every outcome is recorded in.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// "Now", epoch seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Issues one signed URL.
    pub async fn url(&self, ctx: &Context<'_>, req: &UrlRequest) -> Result<UrlAnswer, IssueError> {
        let recorder = Recorder::admit(Kind::Url, ctx, &self.audit)?;
        let snapshot = self.snapshot.load_full();
        let outcome = match self.issuer(&snapshot, ctx).plan_url(req) {
            Ok(plan) => self.issue(plan).await,
            Err(e) => Err(e),
        };
        recorder.one(outcome.map_err(|e| asked(e, req))).await
    }

    /// Issues signed cookies.
    pub async fn cookies(&self, ctx: &Context<'_>, req: &CookieRequest) -> Result<CookieAnswer, IssueError> {
        let recorder = Recorder::admit(Kind::Cookies, ctx, &self.audit)?;
        let snapshot = self.snapshot.load_full();
        let outcome = match self.issuer(&snapshot, ctx).plan_cookies(req) {
            Ok(plan) => self.issue(plan).await,
            Err(e) => Err(e),
        };
        let asked = |e| (e, req.distribution.clone(), Some(req.resource.clone()));
        recorder.one(outcome.map_err(asked)).await
    }

    /// Issues up to [`MAX_BATCH`] signed URLs: every item is planned, then
    /// the valid ones are signed in one chunk per worker so a large batch
    /// uses every core. One bad item never fails the others; every item's
    /// outcome is recorded, all in one group. `Err` only for the batch as a
    /// whole (then nothing in it is returned).
    pub async fn urls(
        &self,
        ctx: &Context<'_>,
        items: &[UrlRequest],
    ) -> Result<Vec<Result<UrlAnswer, IssueError>>, IssueError> {
        let recorder = Recorder::admit(Kind::Url, ctx, &self.audit)?;
        if items.is_empty() || items.len() > MAX_BATCH {
            let e = IssueError::invalid(ErrorCode::InvalidBatch, format!("a batch holds 1 to {MAX_BATCH} items"));
            return recorder.one::<()>(Err((e, None, None))).await.map(|()| Vec::new());
        }
        let snapshot = self.snapshot.load_full();
        let issuer = self.issuer(&snapshot, ctx);
        let plans: Arc<Vec<_>> = Arc::new(items.iter().map(|item| issuer.plan_url(item)).collect());
        let answers = match self.sign_batch(&plans).await {
            Ok(answers) => answers,
            Err(e) => return recorder.one::<()>(Err((e, None, None))).await.map(|()| Vec::new()),
        };
        let outcomes = answers
            .into_iter()
            .zip(plans.iter().zip(items))
            .map(|(answer, (plan, item))| match (answer, plan) {
                (Ok(answer), Ok(plan)) => {
                    let record = plan.record(&answer);
                    Ok((answer, record))
                }
                (Err(e), _) => Err(asked(e, item)),
                (Ok(_), Err(e)) => Err(asked(e.duplicate(), item)),
            })
            .collect();
        recorder.all(outcomes).await
    }

    /// Signs every planned item: file-keyed items on the pool, one chunk
    /// per worker; items whose key is vault-held by awaiting their vault,
    /// all at once (each key bounds its own calls). Items that failed
    /// planning come back as copies of their error.
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
                    // `None`: left for its vault, below.
                    let answer = |p: &UrlPlan| match p.cached() {
                        Some(answer) => Some(Ok(answer)),
                        None if p.remote().is_some() => None,
                        None => Some(p.sign()),
                    };
                    plans[start..end]
                        .iter()
                        .map(|p| p.as_ref().map_or_else(|e| Some(Err(e.duplicate())), answer))
                        .collect::<Vec<_>>()
                })
                .await
            }));
        }
        let mut answers = Vec::with_capacity(plans.len());
        for job in jobs {
            answers.extend(job.await.map_err(|e| IssueError::Internal(Box::new(e)))??);
        }
        let remote = answers.iter().zip(plans.iter()).map(|(answer, plan)| async move {
            match (answer, plan) {
                (Some(_), _) => None,
                (None, Ok(plan)) => {
                    let remote = plan.remote()?;
                    Some(plan.sign_remote(remote).await)
                }
                (None, Err(e)) => Some(Err(e.duplicate())),
            }
        });
        let signed = futures_util::future::join_all(remote).await;
        Ok(answers
            .into_iter()
            .zip(signed)
            .map(|(answer, signed)| {
                answer
                    .or(signed)
                    .unwrap_or_else(|| Err(IssueError::Internal("a batch item was not signed".into())))
            })
            .collect())
    }

    /// Records a request refused before it could be planned: its body was
    /// not JSON, not of the right shape, too large, or not `application/json`.
    /// `Err` when the trail cannot record it (then it is answered 503).
    pub async fn rejected(
        &self,
        ctx: &Context<'_>,
        kind: Kind,
        code: ErrorCode,
        detail: &str,
    ) -> Result<(), IssueError> {
        Recorder::admit(kind, ctx, &self.audit)?.rejected(code, detail).await
    }

    /// Records a refused bearer token (kind `auth`; the metric is the
    /// extractor's). `Err` when the trail cannot record it.
    pub async fn refused_token(
        &self,
        request_id: &str,
        client_ip: Option<IpAddr>,
        reason: &str,
    ) -> Result<(), IssueError> {
        self.audit.admit()?;
        let who = Who {
            caller: None,
            request_id,
            client_ip,
        };
        let event = Event::denied(who, "auth", (None, None), ErrorCode::InvalidToken, reason);
        Ok(self.audit.record(vec![event]).await?)
    }

    fn issuer<'s>(&self, snapshot: &'s Snapshot, ctx: &Context<'s>) -> Issuer<'s> {
        Issuer::new(snapshot, ctx.caller, self.now(), ctx.client_ip)
    }

    /// Cache, else the key: the pool for a file key, the vault for a
    /// vault-held one; with the record of what was issued. A policy signed
    /// before costs a lookup on the reactor, not a trip to the pool.
    async fn issue<P: Plan>(&self, plan: P) -> Result<(P::Answer, IssuanceRecord), IssueError> {
        if let Some(answer) = plan.cached() {
            let record = plan.record(&answer);
            return Ok((answer, record));
        }
        if let Some(remote) = plan.remote() {
            let answer = plan.sign_remote(remote).await?;
            let record = plan.record(&answer);
            return Ok((answer, record));
        }
        let plan = Arc::new(plan);
        let job = Arc::clone(&plan);
        let answer = self.pool.run(move || job.sign()).await.and_then(|r| r)?;
        let record = plan.record(&answer);
        Ok((answer, record))
    }
}

/// A refusal of `req`, with what it asked for, for its audit event.
fn asked(error: IssueError, req: &UrlRequest) -> (IssueError, Option<String>, Option<String>) {
    (error, req.distribution.clone(), requested(req).map(str::to_owned))
}

/// The resource as the caller named it (key or path), for audit events.
fn requested(req: &UrlRequest) -> Option<&str> {
    req.key.as_deref().or(req.path.as_deref())
}
