//! The JWKS fetchers of every trusted issuer, one task each: started with
//! the service, matched by issuer on reload (kept, reconfigured, started or
//! stopped), asked for an early refresh when a token names an unknown `kid`.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;

use super::jwks::{JwksFetcher, JwksSettings};
use super::store::KeyStore;

/// One issuer's fetcher and its background task.
#[derive(Debug)]
struct Running {
    fetcher: Arc<JwksFetcher>,
    task: Option<AbortHandle>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Every issuer's fetcher (issuers with file keys only have an idle one).
#[derive(Debug)]
pub struct JwksFetchers {
    store: Arc<KeyStore>,
    running: Mutex<Vec<Running>>,
}

/// What readiness reports of one issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerStatus {
    /// The issuer.
    pub issuer: String,
    /// Whether its remote keys (if any) were loaded at least once.
    pub loaded: bool,
    /// Why the latest fetch failed, if it did.
    pub error: Option<String>,
}

impl JwksFetchers {
    /// Fetchers for `settings`, not started.
    pub fn new(settings: Vec<JwksSettings>, store: Arc<KeyStore>) -> Self {
        let running = settings
            .into_iter()
            .map(|s| Running {
                fetcher: Arc::new(JwksFetcher::new(s, Arc::clone(&store))),
                task: None,
            })
            .collect();
        Self {
            store,
            running: Mutex::new(running),
        }
    }

    fn fetchers(&self) -> Vec<Arc<JwksFetcher>> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.iter().map(|r| Arc::clone(&r.fetcher)).collect()
    }

    /// Fetches every issuer's keys once, all at once, logging each result;
    /// then starts the background tasks.
    pub async fn start(&self) {
        let mut first = tokio::task::JoinSet::new();
        for f in self.fetchers() {
            first.spawn(async move {
                match f.refresh().await {
                    Ok(Some(n)) => tracing::info!(issuer = f.issuer(), keys = n, "JWKS loaded"),
                    Ok(None) => {}
                    Err(e) => tracing::error!(
                        issuer = f.issuer(),
                        error = %e,
                        "JWKS could not be loaded; retrying with back-off, this issuer's tokens are refused until it is"
                    ),
                }
            });
        }
        while first.join_next().await.is_some() {}
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for r in running.iter_mut().filter(|r| r.task.is_none()) {
            r.task = Some(tokio::spawn(Arc::clone(&r.fetcher).run()).abort_handle());
        }
    }

    /// Applies reloaded settings: an issuer kept keeps its fetcher (which
    /// refetches if its source changed), a new one gets a started fetcher,
    /// a removed one's task stops.
    pub fn reconfigure(&self, settings: Vec<JwksSettings>) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let mut old = std::mem::take(&mut *running);
        for s in settings {
            match old.iter().position(|r| r.fetcher.issuer() == s.issuer) {
                Some(i) => {
                    let r = old.swap_remove(i);
                    r.fetcher.reconfigure(s);
                    running.push(r);
                }
                None => {
                    let fetcher = Arc::new(JwksFetcher::new(s, Arc::clone(&self.store)));
                    let task = tokio::spawn(Arc::clone(&fetcher).run()).abort_handle();
                    fetcher.request_refresh();
                    running.push(Running {
                        fetcher,
                        task: Some(task),
                    });
                }
            }
        }
        // `old` now holds the removed issuers: dropping aborts their tasks.
    }

    /// Asks `issuer`'s fetcher for an early refresh (rate-limited).
    pub fn request_refresh(&self, issuer: &str) {
        if let Some(f) = self.fetchers().iter().find(|f| f.issuer() == issuer) {
            f.request_refresh();
        }
    }

    /// Each issuer's fetch state, in configured order.
    pub fn status(&self) -> Vec<IssuerStatus> {
        self.fetchers()
            .iter()
            .map(|f| IssuerStatus {
                issuer: f.issuer(),
                loaded: f.loaded(),
                error: f.last_error(),
            })
            .collect()
    }
}
