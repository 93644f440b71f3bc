//! Shared, mostly immutable application state: the issuance service (whose
//! configuration snapshot a reload replaces atomically), token
//! verification, the JWKS refresher and the draining flag. The audit trail
//! is the pipeline's (`signing.audit()`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audit::Audit;
use crate::auth::{Authenticator, JwksFetchers};
use crate::service::{Clock, Signing, SigningPool, Snapshot};

/// What handlers share, behind one `Arc`: axum clones the state for every
/// request (once per route with state, again for each `State` extractor),
/// and one reference count touched by both runtime threads is cheaper than
/// the eight of the fields' own `Arc`s. Fields are read through `Deref`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
#[derive(Clone, Debug)]
pub struct Shared {
    /// The issuance pipeline, with the snapshot, pool and clock it runs on.
    pub signing: Signing,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// The JWKS refreshers, one per issuer (idle while it has no remote
    /// source, so a reload can add one); `None` where nothing reloads
    /// (dev mode, tests).
    pub jwks: Option<Arc<JwksFetchers>>,
    /// Set when shutdown starts: `/readyz` turns 503 at once.
    pub draining: Arc<AtomicBool>,
    /// The settings a reload cannot apply, as the process started with them
    /// (`[server]`, `[signing]`, `[cors]`), so a reload can say which
    /// changes wait for a restart. Empty where nothing reloads.
    pub restart_only: Arc<[(&'static str, String)]>,
}

impl AppState {
    /// State over a loaded snapshot and authenticator.
    pub fn new(
        snapshot: Snapshot,
        auth: Authenticator,
        pool: SigningPool,
        clock: Arc<dyn Clock>,
        audit: Audit,
    ) -> Self {
        Self(Arc::new(Shared {
            signing: Signing::new(snapshot, pool, clock, audit),
            auth: Arc::new(auth),
            jwks: None,
            draining: Arc::new(AtomicBool::new(false)),
            restart_only: Arc::new([]),
        }))
    }

    /// The state with its JWKS refreshers (while it is being assembled, so
    /// nothing else holds it and nothing is copied).
    pub fn with_jwks(mut self, jwks: Arc<JwksFetchers>) -> Self {
        Arc::make_mut(&mut self.0).jwks = Some(jwks);
        self
    }

    /// The state with the settings a reload cannot apply.
    pub fn with_restart_only(mut self, restart_only: Arc<[(&'static str, String)]>) -> Self {
        Arc::make_mut(&mut self.0).restart_only = restart_only;
        self
    }

    /// Each trusted issuer: whether its tokens can be verified now (it has
    /// keys, and its remote keys, if any, were loaded), and why not.
    pub fn issuers(&self) -> Vec<IssuerReadiness> {
        let fetched = self.jwks.as_ref().map(|j| j.status()).unwrap_or_default();
        self.auth
            .key_counts()
            .into_iter()
            .map(|(issuer, keys)| {
                let status = fetched.iter().find(|s| s.issuer == issuer);
                let loaded = status.is_none_or(|s| s.loaded);
                let error = status
                    .and_then(|s| s.error.clone())
                    .or_else(|| (keys == 0 && loaded).then(|| "no verification key loaded".to_owned()));
                IssuerReadiness {
                    ready: loaded && keys > 0,
                    keys,
                    error,
                    issuer,
                }
            })
            .collect()
    }

    /// Why the service is not ready, if it is not. Ready needs at least
    /// one issuer whose tokens can be verified: an outage of one identity
    /// provider must not take the service from the others' callers (their
    /// tokens are refused, 401, until it is back; `/readyz` names it).
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("shutting down");
        }
        if self.signing.snapshot().load().distributions.is_empty() {
            return Some("no signing keys loaded");
        }
        if !self.issuers().iter().any(|i| i.ready) {
            return Some("no issuer has JWT verification keys loaded yet");
        }
        self.signing.audit().not_ready_reason()
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// One issuer as readiness reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuerReadiness {
    /// The issuer (`iss`).
    pub issuer: String,
    /// Whether its tokens can be verified now.
    pub ready: bool,
    /// Verification keys loaded.
    pub keys: usize,
    /// Why its keys are missing or stale (the latest fetch error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
