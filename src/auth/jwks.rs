//! A JWKS URL, fetched at start and refreshed in the background. The last
//! good key set is kept when a refresh fails; an unknown `kid` triggers an
//! early refresh, at most once per `jwks_min_refetch` (30 s by default).
//!
//! The fetched keys are one source of the [`KeyStore`]: a refresh replaces
//! them and nothing else, so file-based keys removed by a reload stay
//! removed. A reload can change the URL and the periods; a new URL drops
//! the old URL's keys at once and fetches the new one.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::keyset::KeySet;
use super::store::KeyStore;

/// Timeout of one JWKS request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where and how often to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// The JWKS URL; `None`: no JWKS (the fetcher idles).
    pub url: Option<String>,
    /// Period of background refreshes.
    pub refresh: Duration,
    /// Shortest time between two early refetches caused by an unknown `kid`.
    pub min_refetch: Duration,
}

impl JwksSettings {
    /// The JWKS part of `[auth]`.
    pub fn from_config(auth: &crate::config::AuthConfig) -> Self {
        Self {
            url: auth.jwks_url.clone(),
            refresh: auth.jwks_refresh,
            min_refetch: auth.jwks_min_refetch,
        }
    }
}

/// Fetches a JWKS URL into the key store.
#[derive(Debug)]
pub struct JwksFetcher {
    settings: Mutex<JwksSettings>,
    /// Bumped when the URL changes, so a fetch of the old URL still in
    /// flight cannot store its keys afterwards.
    generation: AtomicU64,
    store: Arc<KeyStore>,
    client: reqwest::Client,
    /// Epoch seconds of the last successful fetch (0 = never).
    last_success: AtomicI64,
    /// Epoch seconds of the last attempt, for rate-limiting early refetches.
    last_attempt: AtomicI64,
    wake: Notify,
}

impl JwksFetcher {
    /// A fetcher that writes the keys of `settings.url` into `store`.
    pub fn new(settings: JwksSettings, store: Arc<KeyStore>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings: Mutex::new(settings),
            generation: AtomicU64::new(0),
            store,
            client,
            last_success: AtomicI64::new(0),
            last_attempt: AtomicI64::new(0),
            wake: Notify::new(),
        }
    }

    fn settings(&self) -> JwksSettings {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether a JWKS URL is configured.
    pub fn configured(&self) -> bool {
        self.settings().url.is_some()
    }

    /// Whether the configured JWKS (if any) has been loaded at least once.
    pub fn loaded(&self) -> bool {
        !self.configured() || self.last_success.load(Ordering::Relaxed) > 0
    }

    /// Epoch seconds of the last successful fetch (0 = never).
    pub fn last_success(&self) -> i64 {
        self.last_success.load(Ordering::Relaxed)
    }

    /// Applies reloaded settings. A changed URL (or none) drops the keys
    /// fetched so far at once and, if there is a new URL, fetches it now.
    pub fn reconfigure(&self, settings: JwksSettings) {
        let mut current = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let url_changed = current.url != settings.url;
        *current = settings;
        drop(current);
        if url_changed {
            self.store.clear_remote(|| {
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.last_success.store(0, Ordering::Relaxed);
            });
            self.wake.notify_one();
        }
    }

    /// Fetches once; on success replaces the JWKS keys, on failure keeps the
    /// old ones. `Ok(None)` when no URL is configured.
    pub async fn refresh(&self) -> Result<Option<usize>, String> {
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(url) = self.settings().url else {
            return Ok(None);
        };
        self.last_attempt.store(now(), Ordering::Relaxed);
        let keys = self
            .fetch(&url)
            .await
            .inspect_err(|_| crate::metrics::jwks_refresh(false, self.last_success()))?;
        let count = keys.named_count();
        if count == 0 {
            tracing::warn!(%url, "the JWKS has no key that can verify token signatures");
        }
        let current = || {
            let same = self.generation.load(Ordering::SeqCst) == generation;
            if same {
                self.last_success.store(now(), Ordering::Relaxed);
            }
            same
        };
        if !self.store.set_remote_if(keys, current) {
            return Err(format!("{url}: the JWKS URL changed during the fetch; result dropped"));
        }
        crate::metrics::jwks_refresh(true, self.last_success());
        Ok(Some(count))
    }

    async fn fetch(&self, url: &str) -> Result<KeySet, String> {
        let response = self
            .client
            .get(url)
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
        KeySet::from_jwks(&body, url).map_err(|e| e.to_string())
    }

    /// Asks for an early refresh (an unknown `kid` was seen); rate-limited.
    pub fn request_refresh(&self) {
        let since = now() - self.last_attempt.load(Ordering::Relaxed);
        if since >= self.settings().min_refetch.as_secs() as i64 {
            self.wake.notify_one();
        }
    }

    /// Refreshes every `jwks_refresh`, or earlier when asked or reconfigured,
    /// until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let period = self.settings().refresh;
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.wake.notified() => {}
            }
            match self.refresh().await {
                Ok(Some(n)) => tracing::debug!(keys = n, "JWKS refreshed"),
                Ok(None) => {}
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
