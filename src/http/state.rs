//! Shared, mostly immutable application state: the issuance service (whose
//! configuration snapshot a reload replaces atomically), token
//! verification, the JWKS refresher and the draining flag. The audit trail
//! is the pipeline's (`signing.audit()`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::audit::Audit;
use crate::auth::{Authenticator, JwksFetcher};
use crate::service::{Clock, Signing, SigningPool, Snapshot};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The issuance pipeline, with the snapshot, pool and clock it runs on.
    pub signing: Signing,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// The JWKS refresher (idle while no URL is configured, so a reload
    /// can add one); `None` where nothing reloads (dev mode, tests).
    pub jwks: Option<Arc<JwksFetcher>>,
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
        Self {
            signing: Signing::new(snapshot, pool, clock, audit),
            auth: Arc::new(auth),
            jwks: None,
            draining: Arc::new(AtomicBool::new(false)),
            restart_only: Arc::new([]),
        }
    }

    /// Why the service is not ready, if it is not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("shutting down");
        }
        if self.signing.snapshot().load().distributions.is_empty() {
            return Some("no signing keys loaded");
        }
        if self.jwks.as_ref().is_some_and(|j| !j.loaded()) {
            return Some("JWKS not loaded yet");
        }
        if !self.auth.has_keys() {
            return Some("no JWT verification keys loaded");
        }
        self.signing.audit().not_ready_reason()
    }
}
