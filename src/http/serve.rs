//! The accept loop: hyper's HTTP/1.1 + h2c server, with every phase of a
//! connection bounded and the number of open connections capped.
//!
//! - Until a connection's first request has started (protocol detection,
//!   the HTTP/1 head, the HTTP/2 preface and SETTINGS), it has
//!   `header_read_timeout`; then it is dropped. The auto builder's protocol
//!   detection and the HTTP/2 handshake have no timer of their own, so this
//!   watchdog is what closes a silent socket.
//! - Between requests it may idle for `idle_timeout`; then it is closed
//!   gracefully (HTTP/2: GOAWAY). A request in flight is never cut by this
//!   (the request timeout bounds it). An HTTP/1.1 connection waiting for
//!   its next request head has the shorter of `header_read_timeout` and
//!   `idle_timeout`, from the end of its last answer: a head trickled in
//!   slower than that is cut off, as an idle connection is. (An answer ends
//!   for this when hyper has it, not when the client has read it all: a
//!   client that leaves an answer larger than the socket buffers unread for
//!   that long, plus the close grace, is cut off too.)
//!
//!   The same watchdog does this rather than hyper's HTTP/1 header timer,
//!   which armed a timer (an allocation, and an insert into and removal
//!   from the runtime's timer wheel) for every request: one connection
//!   timer, moved only when it fires, bounds the same (README, Performance).
//! - At most `max_connections` are open; beyond that the listener waits
//!   and new connections queue in the kernel's backlog until one closes.
//! - Accept errors (out of file descriptors) back off and are counted; the
//!   log line is rate-limited.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Version;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::{Service, ServiceExt};

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest time from accept to the first request's complete head
    /// (protocol detection, HTTP/1 head, HTTP/2 preface and SETTINGS), and
    /// from an HTTP/1.1 answer to the next request's complete head.
    pub header_read_timeout: Duration,
    /// Longest time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Longest wait for a connection closed for idleness or shutdown to finish
/// its goodbye (GOAWAY, in-flight answers); then it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// File descriptors kept for everything but connections: key files, the
/// JWKS client, log files, the metrics listener.
const RESERVED_FDS: u64 = 64;

/// What `serve` serves: the application (`http::service`) or a router.
pub trait App:
    Service<axum::http::Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> App for S where
    S: Service<axum::http::Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops
/// accepting, asks open connections to close after their requests, and
/// waits for them (the caller bounds that wait). HTTP/1.1 and h2c (prior
/// knowledge) are served.
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let builder = Arc::new(builder(&limits));
    let max = max_connections(limits.max_connections);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    accept_errors.succeeded();
                    pair
                }
                Err(e) => {
                    let pause = accept_errors.failed(&e);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            builder: Arc::clone(&builder),
            app: app.clone(),
            limits,
            stop: stop_rx.clone(),
        };
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::metrics::ConnectionOpen::new();
            connection.run(stream, peer).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends: all back means all done.
    let _ = slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
    Ok(())
}

fn builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // No timer for HTTP/1: the connection's watchdog bounds each head (see
    // the module documentation); without a timer hyper runs none of its own.
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Pings find peers that vanished without a FIN during a request.
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// `configured`, lowered (with a warning) to what the process's file
/// descriptor limit allows, after raising the soft limit to the hard one.
fn max_connections(configured: usize) -> usize {
    let Some(files) = raise_fd_limit() else {
        return configured.max(1);
    };
    let budget = usize::try_from(files.saturating_sub(RESERVED_FDS))
        .unwrap_or(usize::MAX)
        .max(1);
    if configured > budget {
        tracing::warn!(
            configured,
            allowed = budget,
            open_files_limit = files,
            "server.max_connections lowered to fit the open-files limit (RLIMIT_NOFILE)"
        );
        return budget;
    }
    configured.max(1)
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit (as Go's runtime
/// does); returns the soft limit in force, if it could be read.
#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// One accepted connection and what it needs.
struct Connection<A> {
    builder: Arc<Builder<TokioExecutor>>,
    app: A,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
}

impl<A: App> Connection<A> {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let activity = Arc::new(Activity::new());
        let (tracker, protocol) = (Arc::clone(&activity), Arc::clone(&activity));
        let service = self
            .app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                protocol.saw(request.version());
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                request.map(Body::new)
            })
            .map_future(move |response| {
                let request = tracker.begin();
                async move {
                    let response = response.await;
                    drop(request);
                    response
                }
            });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
        tokio::pin!(connection);
        // One timer per connection, moved only when it fires: requests do
        // not wake the watchdog (a wake-up and a new timer per request
        // beginning and ending were a measurable share of a cheap request).
        // When it fires, a request in flight or one that ended since it was
        // set only pushes the deadline on.
        let timer = tokio::time::sleep_until(activity.deadline(&self.limits).into());
        tokio::pin!(timer);
        loop {
            tokio::select! {
                // Client resets and protocol errors end connections; nothing to report.
                _ = connection.as_mut() => return,
                () = timer.as_mut() => {
                    let deadline = activity.deadline(&self.limits);
                    if Instant::now() < deadline {
                        timer.as_mut().reset(deadline.into());
                        continue;
                    }
                    if !activity.served_any() {
                        // Nothing was ever asked: nothing to say goodbye to.
                        crate::metrics::connection_closed("first_request_timeout");
                        return;
                    }
                    crate::metrics::connection_closed("idle");
                    // Idle: nothing left for the watchdog to bound.
                    timer.as_mut().reset((Instant::now() + CLOSE_GRACE).into());
                    break;
                }
                _ = self.stop.wait_for(|stop| *stop) => break,
            }
        }
        connection.as_mut().graceful_shutdown();
        // The goodbye gets CLOSE_GRACE; a head still awaited when the service
        // stops keeps its own bound too (hyper waits for a head it has begun).
        let grace = tokio::time::sleep(CLOSE_GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                () = grace.as_mut() => return,
                () = timer.as_mut() => {
                    let deadline = activity.deadline(&self.limits);
                    if Instant::now() >= deadline {
                        return;
                    }
                    timer.as_mut().reset(deadline.into());
                }
            }
        }
    }
}

/// What a connection's watchdog needs to know about its requests.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Requests started so far.
    started: AtomicU64,
    /// Milliseconds after `opened` when the last request ended.
    last_end_ms: AtomicU64,
    /// Its requests are HTTP/2 (the next head's bound is HTTP/1's only).
    http2: AtomicBool,
}

/// Marks a request in flight until dropped (also when the client leaves).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let since = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end_ms.store(since, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            last_end_ms: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }
    }

    /// Notes the protocol of a request (the same on every request of a connection).
    fn saw(&self, version: Version) {
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Acquire);
        self.started.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn served_any(&self) -> bool {
        self.started.load(Ordering::Relaxed) > 0
    }

    /// When the connection may be closed if nothing happens until then.
    /// With a request in flight, check again after `idle_timeout`. Between
    /// HTTP/1.1 requests the next head must come within `header_read_timeout`
    /// too: nothing tells a slow head from silence before hyper has it whole.
    fn deadline(&self, limits: &ConnectionLimits) -> Instant {
        if self.in_flight() > 0 {
            return Instant::now() + limits.idle_timeout;
        }
        if !self.served_any() {
            return self.opened + limits.header_read_timeout;
        }
        let last = Duration::from_millis(self.last_end_ms.load(Ordering::Relaxed));
        let wait = if self.http2.load(Ordering::Relaxed) {
            limits.idle_timeout
        } else {
            limits.idle_timeout.min(limits.header_read_timeout)
        };
        self.opened + last + wait
    }
}

/// Accept failures: a growing pause, a counter, and at most one log line
/// per [`AcceptErrors::LOG_EVERY`] saying how many happened.
#[derive(Default)]
struct AcceptErrors {
    consecutive: u32,
    unlogged: u64,
    last_log: Option<Instant>,
}

impl AcceptErrors {
    const LOG_EVERY: Duration = Duration::from_secs(10);

    fn succeeded(&mut self) {
        self.consecutive = 0;
    }

    /// Counts `error` and returns how long to pause before accepting again
    /// (10 ms doubling to 1 s: out of descriptors clears when connections close).
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        crate::metrics::accept_error();
        self.consecutive = self.consecutive.saturating_add(1);
        self.unlogged += 1;
        if self.last_log.is_none_or(|t| t.elapsed() >= Self::LOG_EVERY) {
            tracing::warn!(
                error = %error,
                failures = self.unlogged,
                "accepting connections failed; backing off (see cfsign_accept_errors_total)"
            );
            self.unlogged = 0;
            self.last_log = Some(Instant::now());
        }
        let exp = self.consecutive.saturating_sub(1).min(7);
        Duration::from_millis(10 << exp).min(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            max_connections: 10,
        }
    }

    #[test]
    fn a_new_connection_gets_the_head_timeout_then_the_idle_timeout() {
        let activity = Arc::new(Activity::new());
        assert_eq!(activity.deadline(&limits()), activity.opened + Duration::from_secs(1));
        let request = activity.begin();
        assert!(activity.deadline(&limits()) > activity.opened + Duration::from_secs(4));
        drop(request);
        assert_eq!(activity.in_flight(), 0);
        assert!(activity.served_any());
        // HTTP/1.1: the next head within header_read_timeout of the answer.
        let after = activity.opened + Duration::from_millis(activity.last_end_ms.load(Ordering::Relaxed));
        assert_eq!(activity.deadline(&limits()), after + Duration::from_secs(1));
        // HTTP/2: idle_timeout, as before (hyper's HTTP/1 head timer never applied to it).
        activity.saw(Version::HTTP_2);
        assert_eq!(activity.deadline(&limits()), after + Duration::from_secs(5));
    }

    #[test]
    fn accept_back_off_grows_and_is_capped() {
        let mut errors = AcceptErrors::default();
        let e = std::io::Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<Duration> = (0..10).map(|_| errors.failed(&e)).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(*pauses.last().unwrap(), Duration::from_secs(1));
        errors.succeeded();
        assert_eq!(errors.failed(&e), Duration::from_millis(10));
    }
}
