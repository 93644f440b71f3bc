//! The outermost layer: what every request gets on its way in and every
//! answer on its way out, in one service and one future.
//!
//! In: a request id ([`request_id`]: the caller's if every value it sent is
//! plain, otherwise a fresh UUID), `Authorization` and cookies marked
//! sensitive (a `Debug` of the headers shows neither), and the request's
//! name in the lines logged while it runs (method, route template and
//! request id, as the `"span"` of each line): a `tracing` span, or, where
//! the installed logging allows it, the request lent to the thread at each
//! poll (`telemetry::direct`: a `tracing` span and its access line event
//! were two fifths of a `/healthz`'s instructions). Out: the request id on
//! the answer, one access line, and an ERROR line for a server error.
//!
//! Why not tower-http's request-id, sensitive-headers and trace layers:
//! four layers, four futures and a body wrapper that enters the span again
//! for every frame of the answer, for what is here one header check, one
//! scope and one line.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use super::routes::RouteNames;
use crate::http::request_id::REQUEST_ID;
use crate::telemetry::{DirectLog, RequestContext};

/// The layer of [`Front`].
#[derive(Debug, Clone, Copy)]
pub struct FrontLayer {
    names: RouteNames,
    access_log: bool,
    direct: Option<DirectLog>,
}

impl FrontLayer {
    /// Requests named by the route templates `names` knows; an access line
    /// per answer when `access_log` (`server.access_log`). Requests are
    /// logged without a `tracing` span when the installed logging allows it
    /// (`telemetry::direct`, read now: logging is installed before the
    /// service is built).
    pub fn new(names: RouteNames, access_log: bool) -> Self {
        Self {
            names,
            access_log,
            direct: crate::telemetry::direct(),
        }
    }
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front { inner, layer: *self }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Front<S> {
    inner: S,
    layer: FrontLayer,
}

impl<S, B, ResBody> Service<Request<B>> for Front<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = FrontFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let request_id = request_id(request.headers_mut());
        mark_sensitive(request.headers_mut(), header::AUTHORIZATION);
        mark_sensitive(request.headers_mut(), header::COOKIE);
        let named = RequestContext {
            method: request.method().clone(),
            route: self.layer.names.of(request.uri().path()),
            request_id: request_id.clone(),
        };
        let mut scope = Scope::new(self.layer.direct, named);
        let inner = scope.run(|| {
            tracing::debug!(target: "cfsign::access", "started processing request");
            self.inner.call(request)
        });
        FrontFuture {
            inner,
            scope,
            request_id,
            started,
            access_log: self.layer.access_log,
        }
    }
}

/// How a request is named in the lines logged while it runs, and how its
/// access line is written.
#[derive(Debug)]
enum Scope {
    /// A `tracing` span (`request`: method, route template, request id)
    /// entered at each poll; the access line a `tracing` event in it.
    Span(tracing::Span),
    /// The request lent to the thread at each poll (`telemetry::enter`),
    /// and the access line written by `log` (`None`: INFO spans are
    /// filtered out, so lines name no request, the access line included,
    /// as with a disabled span).
    Direct {
        log: DirectLog,
        request: Option<RequestContext>,
    },
}

impl Scope {
    fn new(direct: Option<DirectLog>, named: RequestContext) -> Self {
        match direct {
            Some(log) => Self::Direct {
                log,
                request: tracing::span_enabled!(tracing::Level::INFO).then_some(named),
            },
            None => Self::Span(tracing::info_span!(
                "request",
                method = named.method.as_str(),
                route = named.route,
                request_id = named.request_id()
            )),
        }
    }

    /// Runs `f` in the request's scope.
    fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        match self {
            Self::Span(span) => span.in_scope(f),
            Self::Direct { request, .. } => {
                let _entered = crate::telemetry::enter(request);
                f()
            }
        }
    }

    /// The access line of the answer (`access_log`: `server.access_log`),
    /// and the ERROR line of a server error, in the request's scope.
    fn log_answer(&mut self, status: StatusCode, latency: Duration, access_log: bool) {
        let access = access_log && tracing::enabled!(target: "cfsign::access", tracing::Level::INFO);
        match self {
            Self::Direct { log, request } => {
                if access {
                    log.access_line(request.as_ref(), status.as_u16(), latency);
                }
                if status.is_server_error() {
                    self.run(|| log_server_error(status, latency));
                }
            }
            Self::Span(span) => span.in_scope(|| {
                if access {
                    tracing::info!(
                        target: "cfsign::access",
                        status = status.as_u16(),
                        latency_ms = crate::telemetry::latency_ms(latency),
                        "request"
                    );
                }
                log_server_error(status, latency);
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the inner service, finished by [`Front`].
    pub struct FrontFuture<F> {
        #[pin]
        inner: F,
        scope: Scope,
        request_id: HeaderValue,
        started: Instant,
        access_log: bool,
    }
}

impl<F, E, ResBody> Future for FrontFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let mut response = ready!(this.scope.run(|| inner.poll(cx)))?;
        let headers = response.headers_mut();
        if !headers.contains_key(REQUEST_ID) {
            headers.insert(REQUEST_ID, this.request_id.clone());
        }
        this.scope
            .log_answer(response.status(), this.started.elapsed(), *this.access_log);
        Poll::Ready(Ok(response))
    }
}

/// The request's id, left in its headers: the caller's `x-request-id` if
/// every value sent is 1–128 letters, digits or `-_.:` (the first of them,
/// then), otherwise a fresh one in their place. Nothing else reaches the
/// logs through it (no log injection), and of several ids a bad one
/// anywhere drops them all.
fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    let mut sent = headers.get_all(REQUEST_ID).iter();
    match sent.next() {
        Some(first) if std::iter::once(first).chain(sent).all(plain) => first.clone(),
        _ => {
            let fresh = fresh_request_id();
            headers.insert(REQUEST_ID, fresh.clone());
            fresh
        }
    }
}

/// Whether a caller's request id may be used as it is.
fn plain(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    (1..=128).contains(&b.len()) && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// A random UUID (v4) from the thread's CSPRNG rather than one `getrandom`
/// system call per request.
fn fresh_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).expect("a UUID is a valid header value")
}

/// Marks every value of `name` sensitive.
fn mark_sensitive(headers: &mut HeaderMap, name: HeaderName) {
    if let axum::http::header::Entry::Occupied(mut entry) = headers.entry(name) {
        entry.iter_mut().for_each(|v| v.set_sensitive(true));
    }
}

/// The ERROR line of a server error, except 503: load shedding and "not
/// ready" are expected answers, counted in metrics
/// (`cfsign_signing_rejected_total`, `cfsign_http_requests_total`). One
/// ERROR line per refusal would flood the log, and cost CPU, exactly when
/// the service is overloaded; they stay visible at DEBUG.
///
/// (The access line, [`Scope::log_answer`]: one INFO line per answered
/// request, target `cfsign::access` (where a DEBUG line says when each
/// request started): status and latency in milliseconds (a number); method,
/// route template and request id from the request's scope. Never the query
/// or a header value. `server.access_log = false` (or
/// `RUST_LOG=info,cfsign::access=off`) switches it off.)
fn log_server_error(status: StatusCode, latency: Duration) {
    if !status.is_server_error() {
        return;
    }
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    let classification = format_args!("Status code: {status}");
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::debug!(classification = %classification, latency_ms, "response failed");
    } else {
        tracing::error!(classification = %classification, latency_ms, "response failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ids: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for id in ids {
            headers.append(REQUEST_ID, HeaderValue::from_str(id).unwrap());
        }
        headers
    }

    #[test]
    fn a_plain_id_is_kept_and_anything_else_replaced() {
        let mut kept = headers(&["abc-123_.:X", "second"]);
        assert_eq!(request_id(&mut kept), "abc-123_.:X");
        assert_eq!(kept.get_all(REQUEST_ID).iter().count(), 2, "left as sent");
        let long = "a".repeat(129);
        for sent in [
            &[][..],
            &[""],
            &["a b"],
            &["ok", "bad\"quote"],
            &[long.as_str()],
            &["é"],
        ] {
            let mut h = HeaderMap::new();
            for id in sent {
                h.append(REQUEST_ID, HeaderValue::from_bytes(id.as_bytes()).unwrap());
            }
            let id = request_id(&mut h);
            assert_eq!(id.len(), 36, "{sent:?}: a fresh UUID");
            assert_eq!(
                h.get_all(REQUEST_ID).iter().collect::<Vec<_>>(),
                [&id],
                "{sent:?}: one id"
            );
        }
        assert_ne!(fresh_request_id(), fresh_request_id());
    }

    #[test]
    fn credentials_are_marked_sensitive() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        mark_sensitive(&mut h, header::COOKIE);
        mark_sensitive(&mut h, header::AUTHORIZATION);
        assert!(h.get_all(header::COOKIE).iter().all(HeaderValue::is_sensitive));
        assert!(!format!("{h:?}").contains("a=1"));
    }
}
