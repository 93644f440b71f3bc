//! Logging: `tracing` with JSON lines when stdout is not a terminal (or when
//! asked), human-readable otherwise. Level from `RUST_LOG` (default `info`,
//! [`filter`]).
//! The audit trail is not a log: it has its own sink (`crate::audit`).
//! Text is coloured only on a terminal, and never when `NO_COLOR` is set
//! (<https://no-color.org>): pipes and files get plain text.

mod batch;
mod filter;
mod json;
mod request;

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use filter::LogFilter;

pub use batch::{BatchGuard, BatchWriter};
pub use json::latency_ms;
pub use request::{Entered, RequestContext, enter};

/// The writer of the installed subscriber, when requests are logged without
/// a span ([`direct`]).
static DIRECT: OnceLock<BatchWriter> = OnceLock::new();

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Keeps the background log writer alive; dropping it writes what is queued.
pub type LogGuard = BatchGuard;

/// Installs the global subscriber and returns the guard to hold until exit.
/// Safe to call more than once (later calls are ignored).
///
/// Logs go through a bounded in-memory buffer to a writer thread that writes
/// them in batches ([`BatchWriter`]): a slow or blocked stdout (a full pipe,
/// a stalled log driver) must never block the threads that answer requests.
/// When the buffer is full, lines are dropped rather than stalling the service.
pub fn init(format: LogFormat) -> LogGuard {
    let (writer, guard) = BatchWriter::new(std::io::stdout());
    let json = is_json(format);
    let ansi = colour(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR"));
    match LogFilter::new(std::env::var("RUST_LOG").ok().as_deref()) {
        LogFilter::Targets(filter) => {
            if install(filter, writer.clone(), json, ansi) && json {
                let _ = DIRECT.set(writer);
            }
        }
        LogFilter::Env(filter) => {
            install(filter, writer, json, ansi);
        }
    }
    guard
}

/// The log of requests without a `tracing` span ([`request`]): there when
/// [`init`] installed JSON lines filtered by target and level only (no span
/// or field directives, which need the span). `None` otherwise, and in
/// tests and tools that log through a subscriber of their own.
pub fn direct() -> Option<DirectLog> {
    DIRECT.get().map(DirectLog)
}

/// See [`direct`].
#[derive(Debug, Clone, Copy)]
pub struct DirectLog(&'static BatchWriter);

impl DirectLog {
    /// The access line of `request` (`None`: one naming no request), written
    /// as the `tracing` event of `crate::http::front` would be (whether to
    /// write it at all is the caller's to ask: `tracing::enabled!`).
    pub fn access_line(self, request: Option<&RequestContext>, status: u16, latency: Duration) {
        // A full buffer drops the line and counts it, as for any other line.
        let _ = json::write_access_line(&mut self.0.make_writer(), request, status, latency);
    }
}

/// Sets the global subscriber: `filter`, then lines formatted as JSON
/// ([`json`]) or text into `writer`. Ignored (`false`) when one is already
/// set.
fn install<F>(filter: F, writer: BatchWriter, json: bool, ansi: bool) -> bool
where
    F: Layer<Registry> + Send + Sync + 'static,
{
    // No fallback report of failed log writes: tracing-subscriber would
    // `eprintln!` it, which panics when stderr fails too (both on a full
    // disk): the service then died at its first log line (exit 101).
    let lines = tracing_subscriber::fmt::layer()
        .with_target(true)
        .with_ansi(ansi)
        .with_writer(writer)
        .log_internal_errors(false);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if json {
        registry
            .with(lines.json().fmt_fields(json::JsonMembers).event_format(json::JsonLines))
            .try_init()
    } else {
        registry.with(lines).try_init()
    };
    installed.is_ok()
}

/// Whether `format` writes JSON lines here (`auto`: when stdout is not a terminal).
pub fn is_json(format: LogFormat) -> bool {
    match format {
        LogFormat::Auto => !std::io::stdout().is_terminal(),
        LogFormat::Json => true,
        LogFormat::Text => false,
    }
}

/// Whether text logs may carry ANSI colours: on a terminal, unless
/// `NO_COLOR` is set to anything non-empty.
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None), "pipes and files get plain text");
    }
}
