//! Each issuer's remote keys (a JWKS URL, or the one its discovery document
//! names), fetched at start and refreshed in the background. The last good
//! key set is kept when a refresh fails; an unknown `kid` triggers an early
//! refresh, at most once per `jwks_min_refetch` (30 s by default). Until
//! the first success, fetches are retried with a capped exponential
//! back-off (1 s, 2 s, 4 s … 30 s) rather than once per `jwks_refresh`,
//! and the recovery is logged.
//!
//! The fetched keys are one source of their issuer in the [`KeyStore`]: a
//! refresh replaces them and nothing else. A reload can change the source
//! and the periods; a new source drops the old one's keys at once and
//! fetches the new one.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::fetch::{self, RemoteKeys};
use super::store::KeyStore;

/// Longest wait between two attempts before an issuer's first success.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where and how often to fetch one issuer's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    /// The issuer (`iss`) the keys belong to.
    pub issuer: String,
    /// Where they come from; `None`: files only (the fetcher idles).
    pub source: Option<RemoteKeys>,
    /// Period of background refreshes.
    pub refresh: Duration,
    /// Shortest time between two early refetches caused by an unknown `kid`.
    pub min_refetch: Duration,
}

impl JwksSettings {
    /// The settings of every issuer `auth` trusts.
    pub fn from_config(auth: &crate::config::AuthConfig) -> Vec<Self> {
        auth.trusted()
            .into_iter()
            .map(|i| Self {
                source: match (&i.jwks_url, i.discovery) {
                    (Some(url), _) => Some(RemoteKeys::Jwks(url.clone())),
                    (None, true) => Some(RemoteKeys::Discovery(i.issuer.clone())),
                    (None, false) => None,
                },
                issuer: i.issuer,
                refresh: auth.jwks_refresh,
                min_refetch: auth.jwks_min_refetch,
            })
            .collect()
    }
}

/// The wait before the next attempt after `failures` failed ones in a row.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(MAX_BACKOFF)
}

/// Fetches one issuer's remote keys into the key store.
#[derive(Debug)]
pub struct JwksFetcher {
    settings: Mutex<JwksSettings>,
    /// Bumped when the source changes, so a fetch of the old source still
    /// in flight cannot store its keys afterwards.
    generation: AtomicU64,
    store: Arc<KeyStore>,
    /// Built at the first fetch: an issuer without a remote source (a
    /// static key, an HMAC secret) never needs one, and building one loads
    /// and parses the system's CA bundle (most of a start-up's
    /// instructions, and megabytes of memory).
    client: OnceLock<reqwest::Client>,
    /// Epoch seconds of the last successful fetch (0 = never).
    last_success: AtomicI64,
    /// Epoch seconds of the last attempt, for rate-limiting early refetches.
    last_attempt: AtomicI64,
    /// Failed attempts since the last success.
    failures: AtomicU32,
    /// Why the last attempt failed, while it is the latest news: the
    /// summary without URL or causes (the log has those).
    last_error: Mutex<Option<String>>,
    wake: Notify,
}

impl JwksFetcher {
    /// A fetcher that writes the keys of `settings.source` into `store`.
    pub fn new(settings: JwksSettings, store: Arc<KeyStore>) -> Self {
        Self {
            settings: Mutex::new(settings),
            generation: AtomicU64::new(0),
            store,
            client: OnceLock::new(),
            last_success: AtomicI64::new(0),
            last_attempt: AtomicI64::new(0),
            failures: AtomicU32::new(0),
            last_error: Mutex::new(None),
            wake: Notify::new(),
        }
    }

    fn settings(&self) -> JwksSettings {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The issuer this fetcher serves.
    pub fn issuer(&self) -> String {
        self.settings().issuer
    }

    /// Whether a remote source is configured.
    pub fn configured(&self) -> bool {
        self.settings().source.is_some()
    }

    /// Whether the configured source (if any) has been loaded at least once.
    pub fn loaded(&self) -> bool {
        !self.configured() || self.last_success.load(Ordering::Relaxed) > 0
    }

    /// Epoch seconds of the last successful fetch (0 = never).
    pub fn last_success(&self) -> i64 {
        self.last_success.load(Ordering::Relaxed)
    }

    /// Why the latest attempt failed, if it did (no URL or causes: this
    /// is what the unauthenticated `/readyz` shows).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Applies reloaded settings. A changed source (or none) drops the keys
    /// fetched so far at once and, if there is a new one, fetches it now.
    pub fn reconfigure(&self, settings: JwksSettings) {
        let mut current = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = current.source != settings.source;
        let issuer = settings.issuer.clone();
        *current = settings;
        drop(current);
        if changed {
            self.store.clear_remote(&issuer, || {
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.last_success.store(0, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
            });
            self.wake.notify_one();
        }
    }

    /// Fetches once; on success replaces the issuer's remote keys, on
    /// failure keeps the old ones. `Ok(None)` when no source is configured.
    pub async fn refresh(&self) -> Result<Option<usize>, String> {
        let generation = self.generation.load(Ordering::SeqCst);
        let settings = self.settings();
        let Some(source) = settings.source else {
            return Ok(None);
        };
        let issuer = settings.issuer;
        self.last_attempt.store(now(), Ordering::Relaxed);
        let keys = match fetch::keys(self.client.get_or_init(fetch::client), &source).await {
            Ok(keys) => keys,
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.summary);
                crate::metrics::jwks_refresh(false, self.last_success());
                return Err(e.detail);
            }
        };
        let count = keys.named_count();
        if count == 0 {
            tracing::warn!(
                issuer,
                url = source.url(),
                "the JWKS has no key that can verify token signatures"
            );
        }
        let current = || {
            let same = self.generation.load(Ordering::SeqCst) == generation;
            if same {
                self.last_success.store(now(), Ordering::Relaxed);
            }
            same
        };
        if !self.store.set_remote_if(&issuer, keys, current) {
            return Err(format!(
                "{}: the key source changed during the fetch; result dropped",
                source.url()
            ));
        }
        let failed = self.failures.swap(0, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if failed > 0 {
            tracing::info!(issuer, keys = count, failed_attempts = failed, "JWKS recovered");
        }
        crate::metrics::jwks_refresh(true, self.last_success());
        Ok(Some(count))
    }

    /// Asks for an early refresh (an unknown `kid` was seen); rate-limited.
    pub fn request_refresh(&self) {
        let since = now() - self.last_attempt.load(Ordering::Relaxed);
        if since >= self.settings().min_refetch.as_secs() as i64 {
            self.wake.notify_one();
        }
    }

    /// Refreshes every `jwks_refresh` — before the first success after a
    /// back-off instead — or earlier when asked or reconfigured, until the
    /// task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let settings = self.settings();
            let period = if self.loaded() {
                settings.refresh
            } else {
                backoff(self.failures.load(Ordering::Relaxed)).min(settings.refresh)
            };
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.wake.notified() => {}
            }
            match self.refresh().await {
                Ok(Some(n)) => tracing::debug!(issuer = settings.issuer, keys = n, "JWKS refreshed"),
                Ok(None) => {}
                Err(e) if self.loaded() => tracing::warn!(
                    issuer = settings.issuer, error = %e, "JWKS refresh failed; keeping the last good keys"
                ),
                Err(e) => tracing::warn!(
                    issuer = settings.issuer,
                    error = %e,
                    retry_in_seconds = backoff(self.failures.load(Ordering::Relaxed)).as_secs(),
                    "JWKS still not loaded; this issuer's tokens are refused until it is"
                ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_the_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
