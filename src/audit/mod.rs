//! The audit trail: one JSON line per issuance, per denial and per outage
//! of the trail itself, on its own sink (`[audit]`), apart from the
//! diagnostic log. Under `on_failure = "refuse"` (the default) nothing is
//! answered before its event is accepted by the sink: a request whose
//! event cannot be written within `max_wait` is answered 503
//! `audit_unavailable` and `/readyz` is 503 until the sink accepts again.
//! Lines form a hash chain (`chain`), checked by `cfsign audit verify`
//! (`verify`). Events name the resource and expiry, never the signature,
//! policy or URL query that would let a reader reuse the link.

mod chain;
mod event;
mod queue;
mod sink;
pub mod verify;
mod writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

pub use chain::{Hasher, SCHEMA_VERSION};
pub use event::{Event, Who};

use self::chain::Link;
use self::queue::Queue;
use self::sink::Output;
use self::writer::{Health, Message, Writer};
use crate::config::{AuditConfig, AuditSink, OnFailure};

/// The event could not be recorded: the request is refused (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit trail cannot record this request now; retry shortly")]
pub struct Unavailable;

/// The audit trail's handle; cheap to clone. The writer thread stops when
/// [`Audit::close`] is called or the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Arc<Queue>,
    on_failure: OnFailure,
    max_wait: Duration,
    health: Arc<Health>,
    sink: AuditSink,
}

impl Drop for Inner {
    /// The last handle is gone: the writer drains the queue and stops.
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Message")
    }
}

impl Audit {
    /// Opens the sink (a file: created `0600` or continued, its chain read
    /// back) and starts the writer thread.
    pub fn open(config: &AuditConfig) -> Result<Audit, String> {
        let hasher = match &config.hmac_key_file {
            None => Hasher::sha256(),
            Some(path) => Hasher::keyed(read_key(path)?),
        };
        let (output, link) = match (config.sink, &config.path) {
            (AuditSink::File, Some(path)) => Output::open_file(path, &hasher)
                .map_err(|e| format!("audit.path: cannot open {} for appending: {e}", path.display()))?,
            (AuditSink::File, None) => return Err("audit.path: required with sink = \"file\"".into()),
            (AuditSink::Stdout, _) => (Output::Stdout, None),
            (AuditSink::Stderr, _) => (Output::Stderr, None),
        };
        let link = link.unwrap_or(Link::GENESIS);
        let health = Arc::new(Health::new(config.max_wait, link));
        let writer = Writer::new(
            output,
            link,
            hasher,
            config.fsync,
            config.fsync_interval,
            Arc::clone(&health),
        );
        let queue = Arc::new(Queue::new(config.queue_depth));
        let for_writer = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("cfsign-audit".into())
            .spawn(move || writer.run(for_writer))
            .map_err(|e| format!("audit: cannot start the writer thread: {e}"))?;
        crate::metrics::audit_sequence(link.seq);
        Ok(Audit {
            inner: Arc::new(Inner {
                queue,
                on_failure: config.on_failure,
                max_wait: config.max_wait,
                health,
                sink: config.sink,
            }),
        })
    }

    /// Whether a request may go ahead: under `refuse`, not while the sink
    /// is failed or blocked (the request is then refused before anything
    /// is signed, and counted).
    pub fn admit(&self) -> Result<(), Unavailable> {
        if self.inner.on_failure == OnFailure::BestEffort || self.inner.health.accepting() {
            Ok(())
        } else {
            Err(self.refused())
        }
    }

    /// Records `events` (one request's, written together). Under `refuse`
    /// this returns once they are accepted by the sink, or `Unavailable`
    /// after `max_wait` or at once on a write error; under `best_effort`
    /// at once, counting them as dropped when the queue is full.
    pub async fn record(&self, events: Vec<Event>) -> Result<(), Unavailable> {
        if events.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        if inner.on_failure == OnFailure::BestEffort {
            let n = events.len() as u64;
            if inner.queue.push(Message::Events(events, None)).is_err() {
                inner.health.dropped.fetch_add(n, Ordering::Relaxed);
                crate::metrics::audit_dropped(n);
            }
            return Ok(());
        }
        let (ack, accepted) = oneshot::channel();
        let wake = match inner.queue.push_deferred(Message::Events(events, Some(ack))) {
            Ok(wake) => wake,
            Err(_) => return Err(self.refused()),
        };
        let answer = async {
            if let Some(wake) = wake {
                // Let the other requests ready in this round of the runtime
                // add their events first: one group, one write, one wake-up.
                tokio::task::yield_now().await;
                wake.wake();
            }
            accepted.await
        };
        match tokio::time::timeout(inner.max_wait, answer).await {
            Ok(Ok(true)) => Ok(()),
            // Timed out (dropping `accepted` tells the writer not to write
            // them if it has not taken them yet), or refused by the writer.
            _ => Err(self.refused()),
        }
    }

    fn refused(&self) -> Unavailable {
        self.inner.health.refused.fetch_add(1, Ordering::Relaxed);
        crate::metrics::audit_refused();
        Unavailable
    }

    /// Why the service is not ready because of the trail, if it is not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        let inner = &self.inner;
        (inner.on_failure == OnFailure::Refuse && !inner.health.accepting())
            .then_some("the audit sink is not accepting events")
    }

    /// Publishes the queue depth and last sequence number (at each scrape).
    pub fn publish(&self) {
        crate::metrics::audit_queue_depth(self.inner.queue.len());
        crate::metrics::audit_sequence(self.inner.health.last_seq.load(Ordering::Relaxed));
    }

    /// Reopens the file by name (SIGHUP, after logrotate moved it); events
    /// before this call go to the old file, events after to the new one.
    pub async fn reopen(&self) -> std::io::Result<()> {
        if self.inner.sink != AuditSink::File {
            return Ok(());
        }
        let (done, reopened) = oneshot::channel();
        if self.inner.queue.push(Message::Reopen(done)).is_err() {
            return Err(std::io::Error::other(
                "the audit writer did not take the reopen request",
            ));
        }
        reopened
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the audit writer stopped")))
    }

    /// Flushes what is queued (and syncs a file), waiting up to `timeout`.
    pub async fn close(&self, timeout: Duration) {
        let (done, closed) = oneshot::channel();
        if self.inner.queue.push(Message::Close(done)).is_ok() {
            let _ = tokio::time::timeout(timeout, closed).await;
        }
    }
}

/// Reads the chain key: 32 bytes or more, never printed.
pub fn read_key(path: &std::path::Path) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let key = crate::secret_file::read(path).map_err(|e| format!("audit.hmac_key_file: {e}"))?;
    if key.len() < 32 {
        return Err(format!(
            "audit.hmac_key_file: {} holds {} bytes; use 32 or more (e.g. `openssl rand -out {} 32`)",
            path.display(),
            key.len(),
            path.display()
        ));
    }
    Ok(key)
}
