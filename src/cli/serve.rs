//! `cfsign serve`, `cfsign dev` and `cfsign healthcheck`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use crate::config;
use crate::dev::DevSession;
use crate::server;
use crate::telemetry::{self, LogFormat};

/// `cfsign serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; see config/example.toml).
    #[arg(long, short, env = "CFSIGN_CONFIG")]
    pub config: PathBuf,
    /// Address to listen on, overriding the file's `server.listen`.
    #[arg(long, env = "CFSIGN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log format: JSON when stdout is not a terminal, by default.
    #[arg(long, value_enum, default_value_t, env = "CFSIGN_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// `cfsign dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "CFSIGN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "CFSIGN_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// `cfsign healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Base URL of the service.
    #[arg(long, env = "CFSIGN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Give up after this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// The async runtime, with `threads` workers (see `ServerConfig::io_threads`).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| CliError::Service(format!("tokio runtime: {e}")))
}

/// Loads everything, then serves until SIGTERM/Ctrl-C; SIGHUP reloads.
pub fn serve(args: ServeArgs) -> Result<(), CliError> {
    let _logs = telemetry::init(args.log_format);
    let config = config::load(&args.config).map_err(CliError::Config)?;
    runtime(config.server.io_threads())?.block_on(async {
        let state = server::build_state(&config).await.map_err(CliError::Config)?;
        server::spawn_reload_on_sighup(state.clone(), args.config.clone());
        server::run(state, server::http_options(&config), args.listen)
            .await
            .map_err(|e| CliError::Service(e.to_string()))
    })
}

/// Dev mode: in-memory key pair, secret and token; prints how to call it.
pub fn dev(args: DevArgs) -> Result<(), CliError> {
    let _logs = telemetry::init(args.log_format);
    tracing::warn!("DEV MODE: generated keys and secrets, not for production");
    let session = DevSession::new().map_err(CliError::Service)?;
    runtime(session.config.server.io_threads())?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::Service(format!("listen on {}: {e}", args.listen)))?;
        let local = listener.local_addr().map_err(|e| CliError::Service(e.to_string()))?;
        println!("{}", session.banner(&format!("http://{local}")));
        tracing::info!(%local, "cfsign dev listening");
        server::serve_until_signal(listener, session.state.clone(), session.options.clone())
            .await
            .map_err(|e| CliError::Service(e.to_string()))
    })
}

/// Exit 0 when `/readyz` answers 200 (container HEALTHCHECK without curl).
pub fn healthcheck(args: HealthcheckArgs) -> Result<(), CliError> {
    let url = format!("{}/readyz", args.url.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Service(e.to_string()))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(args.timeout)
            .build()
            .map_err(|e| CliError::Service(e.to_string()))?;
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| CliError::Unhealthy(format!("{url}: {e}")))?;
        if response.status().is_success() {
            println!("ready");
            Ok(())
        } else {
            Err(CliError::Unhealthy(format!("{url} answered {}", response.status())))
        }
    })
}
