//! `cfsign serve` and `cfsign dev`: the HTTP service.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::error::CliError;
use crate::config;
use crate::dev::{DevClaims, DevOptions, DevSecrets, DevSession};
use crate::server;
use crate::telemetry::{self, LogFormat};

/// The environment `serve` reads, shown under `cfsign serve --help`.
const SERVE_ENV_HELP: &str = "\
Environment:
  CFSIGN_<SECTION>__<KEY>  overrides one setting of the file: `CFSIGN_`, then the setting's path in
                           upper case with `__` between levels, e.g. CFSIGN_SERVER__LISTEN=0.0.0.0:8080
                           ([server] listen), CFSIGN_SIGNING__QUEUE_DEPTH=512 ([signing] queue_depth).
                           One `_` where `__` belongs (CFSIGN_SERVER_LISTEN) is not a setting.
  CFSIGN_CONFIG, CFSIGN_LISTEN, CFSIGN_LOG_FORMAT
                           the flags --config, --listen, --log-format (CFSIGN_LISTEN beats the file's
                           server.listen; `cfsign healthcheck` reads the same variables)
  RUST_LOG                 diagnostic log filter, `info` by default: RUST_LOG=debug,
                           RUST_LOG=info,cfsign::access=off (the audit trail is [audit], not a log level)

SIGHUP reloads the file and keys and reopens the [audit] file (logrotate's postrotate) (the old ones keep serving if anything is wrong); SIGTERM or Ctrl-C:
/readyz turns 503, connections are served for server.drain_delay, in-flight requests get
server.shutdown_grace, then exit 0.";

/// The environment `dev` reads, shown under `cfsign dev --help`.
const DEV_ENV_HELP: &str = "\
Environment:
  CFSIGN_LISTEN, CFSIGN_LOG_FORMAT, CFSIGN_DEV_CORS_ORIGINS, CFSIGN_DEV_STATE_DIR
                           the flags --listen, --log-format, --cors-origin (comma-separated), --state-dir
  RUST_LOG                 diagnostic log filter, `info` by default: RUST_LOG=debug,
                           RUST_LOG=info,cfsign::access=off (audit events go to stdout: CFSIGN_AUDIT__SINK)
  CFSIGN_<SECTION>__<KEY>  override settings of the built-in dev configuration as for `serve`, e.g.
                           CFSIGN_CORS__ALLOWED_ORIGINS='[\"http://localhost:3000\"]'
                           (CFSIGN_SERVER__LISTEN is not used: dev listens on --listen).

Keys, secret and token are generated in memory at every start, unless --state-dir keeps them (then
tokens survive restarts, and `cfsign dev token --state-dir DIR --sub alice --group dev` mints more).
Never use dev mode in production.";

/// `cfsign serve`.
#[derive(Debug, Args)]
#[command(after_help = SERVE_ENV_HELP)]
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
#[command(after_help = DEV_ENV_HELP)]
pub struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "CFSIGN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "CFSIGN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// A browser origin allowed to call the service (CORS), e.g.
    /// http://localhost:5173; repeatable.
    #[arg(long = "cors-origin", env = "CFSIGN_DEV_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Keep the dev key and secret in this directory (created if missing),
    /// so they and minted tokens survive restarts.
    #[arg(long, env = "CFSIGN_DEV_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// `token`: mint a dev token instead of serving.
    #[command(subcommand)]
    pub action: Option<DevAction>,
}

/// What `cfsign dev` can do besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum DevAction {
    /// Print a dev token for any claims, signed with the secret of
    /// `--state-dir` (the one a running `cfsign dev --state-dir` uses).
    Token(DevTokenArgs),
}

/// `cfsign dev token`.
#[derive(Debug, Args)]
pub struct DevTokenArgs {
    /// `sub`.
    #[arg(long, default_value = "dev")]
    pub sub: String,
    /// A group for the `groups` claim (the dev grants allow group `dev`); repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// A scope for the `scope` claim; repeatable.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Lifetime, e.g. 1h, 7d.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
}

/// The async runtime, with `threads` workers (see `ServerConfig::io_threads`).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .on_thread_start(batch_scheduling)
        .enable_all()
        .build()
        .map_err(|e| CliError::Service(format!("tokio runtime: {e}")))
}

/// Puts the calling runtime thread under `SCHED_BATCH` (Linux).
///
/// Why: the runtime threads wake thousands of times a second (a request
/// read, a signature handed back, a response written). As normal threads,
/// each wake-up preempted an RSA signer on a busy machine: a context switch
/// and the signer's caches lost, thousands of times a second. A batch
/// thread never preempts on waking; it runs on an idle core at once, or
/// when the running signer's time slice ends (a few milliseconds), and then
/// handles everything that arrived meanwhile. Measured on 2 vCPUs (4
/// alternating pairs, README Performance): +18 % signed URLs/s at
/// saturation, the same cache-hit rate, 503s under overload answered in
/// ~8 ms at p99 instead of ~5 ms. Switching a thread to `SCHED_BATCH`
/// needs no privilege; if it fails, the thread simply stays normal.
fn batch_scheduling() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler(0, ..) changes only the calling thread's
    // policy; the parameter is a valid, initialised struct.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

/// A write past `RLIMIT_FSIZE` (a quota on the audit file) raises SIGXFSZ,
/// whose default action kills the process; ignored, the write fails with
/// `EFBIG` instead, which the audit trail answers by refusing requests
/// until the file can grow again.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN has no handler to run.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Loads everything, then serves until SIGTERM/Ctrl-C; SIGHUP reloads.
pub fn serve(args: ServeArgs) -> Result<(), CliError> {
    let _logs = telemetry::init(args.log_format);
    ignore_file_size_signal();
    let refused = |e: config::ConfigError| log_refusal(args.log_format, e);
    let config = config::load(&args.config).map_err(refused)?;
    runtime(config.server.io_threads())?.block_on(async {
        let state = server::build_state(&config).await.map_err(refused)?;
        server::spawn_reload_on_sighup(state.clone(), args.config.clone());
        server::run(state, server::http_options(&config), args.listen)
            .await
            .map_err(|e| CliError::Service(e.to_string()))
    })
}

/// A configuration that stops the start: with JSON logs, each problem is
/// also an ERROR event in the log stream (a log shipper sees why the pod
/// never became ready); stderr gets the plain `error:` lines either way.
fn log_refusal(format: LogFormat, error: config::ConfigError) -> CliError {
    if telemetry::is_json(format) {
        for problem in &error.problems {
            tracing::error!(problem = problem.as_str(), "configuration refused; not starting");
        }
    }
    CliError::Config(error)
}

/// Dev mode: in-memory key pair, secret and token; prints how to call it.
pub fn dev(args: DevArgs) -> Result<(), CliError> {
    if let Some(DevAction::Token(token)) = &args.action {
        return dev_token(args.state_dir.as_deref(), token);
    }
    let _logs = telemetry::init(args.log_format);
    tracing::warn!("DEV MODE: generated keys and secrets, not for production");
    let options = DevOptions {
        cors_origins: args.cors_origins.clone(),
        state_dir: args.state_dir.clone(),
    };
    let session = DevSession::with(&options).map_err(CliError::Service)?;
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

/// `cfsign dev token`: one line, the token (no trailing text to strip).
fn dev_token(state_dir: Option<&std::path::Path>, args: &DevTokenArgs) -> Result<(), CliError> {
    let dir = state_dir.ok_or_else(|| CliError::Malformed {
        flag: "--state-dir",
        message: "dev token needs the state directory a `cfsign dev --state-dir DIR` uses".into(),
    })?;
    let secrets = DevSecrets::read(dir).map_err(|message| CliError::Malformed {
        flag: "--state-dir",
        message,
    })?;
    let claims = DevClaims {
        subject: args.sub.clone(),
        groups: args.groups.clone(),
        scopes: args.scopes.clone(),
        ttl: i64::try_from(args.ttl.as_secs()).unwrap_or(i64::MAX / 2),
    };
    let token = crate::dev::mint(&secrets.secret, &claims, super::time::now()).map_err(CliError::Service)?;
    println!("{}", token.as_str());
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn runtime_threads_run_under_sched_batch() {
        // SAFETY: reads the calling thread's policy only (here and below).
        let before = unsafe { libc::sched_getscheduler(0) };
        let rt = runtime(2).unwrap();
        let policies = rt.block_on(async {
            let mut seen = Vec::new();
            for _ in 0..4 {
                let task = tokio::spawn(async { unsafe { libc::sched_getscheduler(0) } });
                seen.push(task.await.unwrap());
            }
            seen
        });
        assert!(policies.iter().all(|&p| p == libc::SCHED_BATCH), "{policies:?}");
        // The thread that built the runtime is left as it was.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, before);
    }
}
