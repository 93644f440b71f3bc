//! Which log lines are written: `RUST_LOG`, in `EnvFilter`'s syntax.
//!
//! Why not `EnvFilter` always: it keeps a map of the spans it filters on
//! behind one lock for the whole process, and takes that lock when each
//! span is made, entered, left and closed — several times per request
//! (one span per request, entered at every poll), on a lock both runtime
//! threads share. A spec of targets and levels only (`info`,
//! `info,cfsign::access=off`, `warn,cfsign=debug`: all that the README and
//! the shipped deployments use) filters by callsite alone, which `Targets`
//! does with no per-span work; `tests` holds the two to the same lines.
//! A spec that filters on spans or fields (`[...]`) still gets `EnvFilter`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;

/// The parsed `RUST_LOG`.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "made once, at start-up")]
pub(super) enum LogFilter {
    /// Targets and levels only.
    Targets(Targets),
    /// Directives on spans or fields.
    Env(EnvFilter),
}

impl LogFilter {
    /// `spec` parsed (`None`: not set) as `EnvFilter` parses it; `info`
    /// when it is not set, empty, or does not parse. (An empty `RUST_LOG`
    /// made `EnvFilter` write nothing at all, not even errors: a service
    /// silenced by `RUST_LOG=` in a unit file.)
    pub(super) fn new(spec: Option<&str>) -> Self {
        let spec = spec.unwrap_or_default();
        let pieces: Vec<&str> = spec.split(',').filter(|p| !p.is_empty()).collect();
        let Some(env) = Some(spec)
            .filter(|_| !pieces.is_empty())
            .and_then(|s| EnvFilter::try_new(s).ok())
        else {
            return Self::Targets(Targets::new().with_default(tracing::Level::INFO));
        };
        if spec.contains('[') {
            return Self::Env(env);
        }
        // `Targets` parses each piece as `EnvFilter` does a piece without
        // `[`, but an empty one would be a target that matches everything.
        match pieces.join(",").parse::<Targets>() {
            Ok(targets) => Self::Targets(targets),
            Err(_) => Self::Env(env),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The lines written by a fixed set of events (targets and levels),
    /// through `filter`.
    fn written(filter: LogFilter) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        fn emit<F>(filter: F, out: &Lines)
        where
            F: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
        {
            let out = out.clone();
            let fmt = tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(false)
                .with_writer(move || out.clone());
            let subscriber = tracing_subscriber::registry().with(filter).with(fmt);
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("request", route = "/v1/urls");
                let _in = span.enter();
                macro_rules! each_level {
                    ($target:literal) => {
                        tracing::error!(target: $target, "e");
                        tracing::warn!(target: $target, "w");
                        tracing::info!(target: $target, "i");
                        tracing::debug!(target: $target, "d");
                        tracing::trace!(target: $target, "t");
                    };
                }
                each_level!("cfsign::access");
                each_level!("cfsign::server");
                each_level!("cfsign");
                each_level!("cfsignx");
                each_level!("hyper::proto");
            });
        }
        let out = Lines::default();
        match filter {
            LogFilter::Targets(f) => emit(f, &out),
            LogFilter::Env(f) => emit(f, &out),
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn targets_write_the_lines_env_filter_writes() {
        for spec in [
            "info",
            "warn",
            "trace",
            "off",
            "info,cfsign::access=off",
            "warn,cfsign=debug",
            "cfsign=trace,hyper=error",
            "cfsign",
            ",info,,cfsign::access=warn,",
            "error,cfsign::server=info,cfsign=warn",
            "INFO,Cfsign=debug",
        ] {
            let filter = LogFilter::new(Some(spec));
            assert!(matches!(filter, LogFilter::Targets(_)), "{spec}: by target");
            let lines = written(filter);
            assert!(!lines.is_empty() || spec == "off", "{spec}: the events ran");
            assert_eq!(lines, written(LogFilter::Env(EnvFilter::new(spec))), "{spec}");
        }
    }

    #[test]
    fn span_and_field_directives_keep_env_filter() {
        let filter = LogFilter::new(Some("warn,[request{route=/v1/urls}]=debug"));
        assert!(matches!(filter, LogFilter::Env(_)));
        let lines = written(filter);
        assert!(
            lines.iter().any(|l| l.contains("DEBUG")),
            "the span's directive applies: {lines:?}"
        );
        assert!(!lines.iter().any(|l| l.contains("TRACE")));
    }

    #[test]
    fn unset_empty_or_unparsable_is_info() {
        for spec in [None, Some(""), Some(",,"), Some("cfsign=loud"), Some("a=b=c")] {
            let lines = written(LogFilter::new(spec));
            assert!(lines.iter().any(|l| l.contains("INFO")), "{spec:?}: {lines:?}");
            assert!(!lines.iter().any(|l| l.contains("DEBUG")), "{spec:?}");
        }
    }
}
