//! Start-up and shutdown: load and check everything once, then serve until
//! SIGTERM/Ctrl-C, draining in-flight requests within the grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::Audit;
use crate::auth::{Authenticator, JwksFetchers, JwksSettings, KeySet};
use crate::config::{Config, ConfigError};
use crate::http::{self, AppState, HttpOptions};
use crate::service::{SigningPool, Snapshot, SystemClock};

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Configuration or key problems (one line each).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener could not be bound or failed.
    #[error("listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Loads keys and JWT keys from `config` into a ready-to-serve state. Fails
/// with every problem at once; fetches every issuer's remote keys once and
/// starts their refreshers.
pub async fn build_state(config: &Config) -> Result<AppState, ConfigError> {
    // The recorder first: the JWKS fetch below counts its result.
    let _ = crate::metrics::handle();
    // Before anything touches jsonwebtoken, which fixes its provider on first use.
    crate::auth::use_openssl_for_tokens();
    let snapshot = Snapshot::load(config)?;
    for warning in &snapshot.warnings {
        tracing::warn!("{warning}");
    }
    let keys = file_keys(config)?;
    log_loaded(config, &snapshot, true);
    let state = assemble(config, snapshot, keys)?.with_restart_only(restart_only(config).into());
    // One per issuer, idle without a remote source: a reload may add one.
    let fetchers = Arc::new(JwksFetchers::new(
        JwksSettings::from_config(&config.auth),
        state.auth.store(),
    ));
    fetchers.start().await;
    let state = state.with_jwks(fetchers);
    warn_about(config, &state);
    Ok(state)
}

/// Logs, once, each setting that loads but cannot do what it seems to.
fn warn_about(config: &Config, state: &AppState) {
    for warning in crate::config::warnings(config) {
        tracing::warn!("{warning}");
    }
    let pending: Vec<String> = state
        .jwks
        .iter()
        .flat_map(|j| j.status())
        .filter(|s| !s.loaded)
        .map(|s| s.issuer)
        .collect();
    for (issuer, missing) in state.auth.algorithms_without_keys() {
        if !pending.contains(&issuer) {
            tracing::warn!(
                issuer,
                "auth.algorithms: no loaded key can verify {missing:?} for issuer {issuer}: its tokens signed with them are always refused"
            );
        }
    }
}

/// The one composition root: the state every entry point serves (`serve`,
/// `dev`, the tests) from configuration, loaded signing keys and JWT keys.
/// Opens the audit sink (an error if its file cannot be opened).
pub fn assemble(config: &Config, snapshot: Snapshot, keys: Vec<KeySet>) -> Result<AppState, ConfigError> {
    let audit = Audit::open(&config.audit).map_err(ConfigError::one)?;
    let auth = Authenticator::new(&config.auth, keys).with_token_cache(config.signing.token_cache_entries);
    let pool = SigningPool::new(config.signing.workers, config.signing.queue_depth);
    Ok(AppState::new(snapshot, auth, pool, Arc::new(SystemClock), audit))
}

/// Serves `state` on `listen` (or the configured address), and `/metrics` on
/// `server.metrics_listen` when set, until a signal.
pub async fn run(state: AppState, options: HttpOptions, listen: Option<SocketAddr>) -> Result<(), RunError> {
    let addr = listen.unwrap_or(options.server.listen);
    let listener = bind(addr).await?;
    let metrics = match options.server.metrics_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let local = listener.local_addr().map_err(|source| RunError::Io { addr, source })?;
    // Handlers first: whoever reads this line may send SIGTERM at once.
    let signal = shutdown_signal();
    if let Some(metrics) = &metrics
        && let Ok(local) = metrics.local_addr()
    {
        tracing::info!(%local, "metrics listening");
    }
    tracing::info!(%local, version = env!("CARGO_PKG_VERSION"), "cfsign listening");
    serve_until(listener, metrics, state, options, signal)
        .await
        .map_err(|source| RunError::Io { addr: local, source })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Io { addr, source })
}

/// Serves on an already bound listener until SIGTERM/Ctrl-C, then drains.
/// `/metrics` is on it only with `server.public_metrics`.
pub async fn serve_until_signal(listener: TcpListener, state: AppState, options: HttpOptions) -> std::io::Result<()> {
    serve_until(listener, None, state, options, shutdown_signal()).await
}

async fn serve_until(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    state: AppState,
    options: HttpOptions,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = options.server.shutdown_grace;
    let drain_delay = options.server.drain_delay;
    let app = http::service(state.clone(), &options);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let draining = Arc::clone(&state.draining);
    tokio::spawn(async move {
        signal.await;
        draining.store(true, Ordering::Relaxed);
        tracing::info!(
            drain_delay_ms = drain_delay.as_millis() as u64,
            grace_seconds = grace.as_secs(),
            "shutdown requested; /readyz now answers 503"
        );
        // Keep accepting while load balancers notice the failing readiness
        // probe; only then stop accepting and drain what is in flight.
        tokio::time::sleep(drain_delay).await;
        tracing::info!("no longer accepting connections; draining in-flight requests");
        let _ = stop_tx.send(true);
    });
    let limits = http::ConnectionLimits {
        header_read_timeout: options.server.header_read_timeout,
        idle_timeout: options.server.idle_timeout,
        max_connections: options.server.max_connections,
    };
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    if let Some(metrics) = metrics {
        let router = http::routes::meta::metrics_router(state.clone());
        let limits = http::ConnectionLimits {
            max_connections: 64,
            ..limits
        };
        tokio::spawn(http::serve(metrics, router, limits, stopped(stop_rx.clone())));
    }
    let server = http::serve(listener, app, limits, stopped(stop_rx.clone()));
    let deadline = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("grace period over; abandoning remaining requests");
            Ok(())
        }
    };
    // Every answered issuance is already written; this flushes best-effort
    // events still queued and syncs the file.
    state.signing.audit().close(std::time::Duration::from_secs(2)).await;
    result
}

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed by this
/// call, not when the future is first polled: until then SIGTERM's default
/// action would kill the process, skipping the drain.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {}
            () = term => {}
        }
    }
}

/// Options for the router taken from the configuration.
pub fn http_options(config: &Config) -> HttpOptions {
    HttpOptions {
        server: config.server.clone(),
        cors: config.cors.clone(),
    }
}

/// Re-reads `path` and swaps in the new distributions, keys, grants, token
/// rules (issuers, audiences, algorithms, leeway, claims) and every JWT key
/// source of every issuer at once: file-based keys are replaced whole,
/// whatever else is configured, a changed `jwks_url` or discovery drops
/// that issuer's old keys, and a removed issuer goes with its keys. On any
/// problem the running set is kept. The listener, limits, pool and CORS
/// need a restart: a change there is one WARN line per section, and the
/// "configuration reloaded" line says `restart_required`.
pub fn reload(state: &AppState, path: &std::path::Path) -> Result<(), ConfigError> {
    let config = crate::config::load(path)?;
    let snapshot = Snapshot::load(&config)?;
    let keys = file_keys(&config)?;
    for warning in snapshot.warnings.iter().chain(&crate::config::warnings(&config)) {
        tracing::warn!("{warning}");
    }
    log_loaded(&config, &snapshot, false);
    state.signing.snapshot().store(Arc::new(snapshot));
    state.auth.reload(&config.auth, keys);
    if let Some(jwks) = &state.jwks {
        jwks.reconfigure(JwksSettings::from_config(&config.auth));
    }
    let waiting: Vec<&str> = restart_only(&config)
        .into_iter()
        .zip(state.restart_only.iter())
        .filter(|(new, running)| new != *running)
        .map(|(new, _)| new.0)
        .collect();
    for section in &waiting {
        tracing::warn!(
            section = *section,
            "reload: [{section}] changed; these settings take effect at the next restart, the running ones stay"
        );
    }
    tracing::info!(
        distributions = config.distributions.len(),
        grants = config.grants.len(),
        restart_required = !waiting.is_empty(),
        "configuration reloaded"
    );
    Ok(())
}

/// The sections a reload cannot apply (listener, limits, pool, CORS, the
/// audit sink: a reload only reopens its file), each
/// as text to compare: what the process runs with vs what the file says now.
fn restart_only(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("server", format!("{:?}", config.server)),
        ("signing", format!("{:?}", config.signing)),
        ("cors", format!("{:?}", config.cors)),
        ("audit", format!("{:?}", config.audit)),
    ]
}

/// What a start or a reload loaded, once, for whoever reads the log: one
/// line per distribution (its keys with their algorithms, the active one),
/// then one for the token rules, grants and sizes. Never key material.
fn log_loaded(config: &Config, snapshot: &Snapshot, at_start: bool) {
    let what = if at_start {
        "distribution loaded"
    } else {
        "distribution reloaded"
    };
    for d in snapshot.distributions.values() {
        let keys: Vec<String> = d
            .public_keys
            .iter()
            .map(|(id, key)| format!("{id} ({})", key.algorithm()))
            .collect();
        tracing::info!(
            distribution = d.name.as_str(),
            domain = d.domain.as_str(),
            active_key = %d.active.id,
            keys = keys.join(", "),
            "{what}"
        );
    }
    if at_start {
        let algorithms: Vec<&str> = config.auth.algorithms.iter().map(String::as_str).collect();
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            issuers = config.auth.issuer_names().join(", "),
            algorithms = algorithms.join(", "),
            jwks_url = config.auth.jwks_url.as_deref().unwrap_or("-"),
            grants = config.grants.len(),
            signature_cache_entries = config.signing.cache_entries,
            token_cache_entries = config.signing.token_cache_entries,
            signing_workers = config.signing.workers,
            signing_queue_depth = config.signing.queue_depth,
            "configuration loaded"
        );
    }
}

/// Each issuer's JWT keys from files (HMAC secrets, PEM keys, JWKS file),
/// in the order of `AuthConfig::trusted`; every problem at once.
fn file_keys(config: &Config) -> Result<Vec<KeySet>, ConfigError> {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for issuer in config.auth.trusted() {
        match KeySet::from_files(&issuer) {
            Ok(set) => keys.push(set),
            Err(errors) => problems.extend(errors.iter().map(|e| format!("auth.issuers[{}]: {e}", issuer.issuer))),
        }
    }
    if problems.is_empty() {
        Ok(keys)
    } else {
        Err(ConfigError { problems })
    }
}

/// Reloads on every SIGHUP (Unix); failures are logged and counted.
pub fn spawn_reload_on_sighup(state: AppState, path: std::path::PathBuf) {
    // Installed here, not in the task: SIGHUP's default action is to terminate.
    #[cfg(unix)]
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("SIGHUP handler unavailable: reload needs a restart");
        return;
    };
    #[cfg(unix)]
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            // Reading files and parsing keys blocks: keep it off the reactor.
            let (job_state, job_path) = (state.clone(), path.clone());
            let result = tokio::task::spawn_blocking(move || reload(&job_state, &job_path))
                .await
                .unwrap_or_else(|e| Err(ConfigError::one(format!("reload task failed: {e}"))));
            // logrotate's postrotate sends SIGHUP: the audit file is reopened
            // by name whatever the configuration's fate.
            if let Err(e) = state.signing.audit().reopen().await {
                tracing::error!(error = %e, "audit file could not be reopened; still writing to the previous one");
            }
            match result {
                Ok(()) => crate::metrics::reload(true),
                Err(e) => {
                    crate::metrics::reload(false);
                    for problem in &e.problems {
                        tracing::error!(problem = %problem, "reload refused; still serving the previous configuration");
                    }
                }
            }
        }
    });
}
