//! Shared, mostly immutable application state. The configuration snapshot
//! sits behind an `ArcSwap` so a reload replaces it atomically.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use crate::auth::{Authenticator, JwksFetcher};
use crate::service::{Clock, SigningPool, Snapshot};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Distributions, keys and grants; swapped whole on reload.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// The JWKS refresher (idle while no URL is configured, so a reload
    /// can add one); `None` where nothing reloads (dev mode, tests).
    pub jwks: Option<Arc<JwksFetcher>>,
    /// Where signing runs.
    pub pool: Arc<SigningPool>,
    /// "Now".
    pub clock: Arc<dyn Clock>,
    /// Set when shutdown starts: `/readyz` turns 503 at once.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// State over a loaded snapshot and authenticator.
    pub fn new(snapshot: Snapshot, auth: Authenticator, pool: SigningPool, clock: Arc<dyn Clock>) -> Self {
        Self {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            auth: Arc::new(auth),
            jwks: None,
            pool: Arc::new(pool),
            clock,
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Why the service is not ready, if it is not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("shutting down");
        }
        if self.snapshot.load().distributions.is_empty() {
            return Some("no signing keys loaded");
        }
        if self.jwks.as_ref().is_some_and(|j| !j.loaded()) {
            return Some("JWKS not loaded yet");
        }
        if !self.auth.has_keys() {
            return Some("no JWT verification keys loaded");
        }
        None
    }
}
