//! A JWKS URL, fetched at start and refreshed in the background. The last
//! good key set is kept when a refresh fails; an unknown `kid` triggers an
//! early refresh, at most once per `jwks_min_refetch` (30 s by default).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use super::keyset::KeySet;

/// Timeout of one JWKS request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Fetches a JWKS URL into a shared key set (merged over the file-based keys).
#[derive(Debug)]
pub struct JwksFetcher {
    url: String,
    base: KeySet,
    target: Arc<ArcSwap<KeySet>>,
    client: reqwest::Client,
    min_refetch: Duration,
    /// Epoch seconds of the last successful fetch (0 = never).
    last_success: AtomicI64,
    /// Epoch seconds of the last attempt, for rate-limiting early refetches.
    last_attempt: AtomicI64,
    wake: Notify,
}

impl JwksFetcher {
    /// A fetcher that writes `base` + the URL's keys into `target`.
    pub fn new(url: String, base: KeySet, target: Arc<ArcSwap<KeySet>>, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            url,
            base,
            target,
            client,
            min_refetch,
            last_success: AtomicI64::new(0),
            last_attempt: AtomicI64::new(0),
            wake: Notify::new(),
        }
    }

    /// Whether the JWKS has been loaded at least once.
    pub fn loaded(&self) -> bool {
        self.last_success.load(Ordering::Relaxed) > 0
    }

    /// Epoch seconds of the last successful fetch (0 = never).
    pub fn last_success(&self) -> i64 {
        self.last_success.load(Ordering::Relaxed)
    }

    /// Fetches once; on success swaps the key set, on failure keeps the old one.
    pub async fn refresh(&self) -> Result<usize, String> {
        self.last_attempt.store(now(), Ordering::Relaxed);
        let keys = self
            .fetch()
            .await
            .inspect_err(|_| crate::metrics::jwks_refresh(false, self.last_success()))?;
        let count = keys.by_kid.len();
        let mut merged = self.base.clone();
        merged.merge(keys);
        self.target.store(Arc::new(merged));
        self.last_success.store(now(), Ordering::Relaxed);
        crate::metrics::jwks_refresh(true, self.last_success());
        Ok(count)
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("JWKS request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("JWKS answered HTTP {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err("JWKS document too large".into());
        }
        let body = response.bytes().await.map_err(|e| format!("JWKS body: {e}"))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("JWKS document too large".into());
        }
        KeySet::from_jwks(&body, &self.url).map_err(|e| e.to_string())
    }

    /// Asks for an early refresh (an unknown `kid` was seen); rate-limited.
    pub fn request_refresh(&self) {
        let since = now() - self.last_attempt.load(Ordering::Relaxed);
        if since >= self.min_refetch.as_secs() as i64 {
            self.wake.notify_one();
        }
    }

    /// Refreshes every `period`, or earlier when asked, until the task is dropped.
    pub async fn run(self: Arc<Self>, period: Duration) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.wake.notified() => {}
            }
            match self.refresh().await {
                Ok(n) => tracing::debug!(keys = n, "JWKS refreshed"),
                Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the last good keys"),
            }
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
