//! What every answer gets on its way out: counted and timed by route
//! template and status (`crate::metrics::http_request`), and, when it is an
//! error, its problem document written with the request id in it
//! ([`super::error::problem_body`]).
//!
//! It sits outside routing, the timeout, the panic catcher and load
//! shedding, so timeouts, sheds and panics are counted and have problem
//! bodies too. The time is until the answer's head: bodies are small and
//! already built.
//!
//! Why a layer of its own rather than two `from_fn` middlewares: each of
//! those cloned the rest of the stack per request and boxed it and its
//! future (four allocations and a measurable share of a cheap request,
//! README Performance); this one keeps the route, the start time and the
//! request id in its future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use tower::{Layer, Service};

use super::routes::RouteNames;

/// The layer of [`Envelope`].
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeLayer {
    names: RouteNames,
}

impl EnvelopeLayer {
    /// Counting requests by the route templates `names` knows.
    pub fn new(names: RouteNames) -> Self {
        Self { names }
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, inner: S) -> Envelope<S> {
        Envelope {
            inner,
            names: self.names,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Envelope<S> {
    inner: S,
    names: RouteNames,
}

impl<S, B, ResBody> Service<Request<B>> for Envelope<S>
where
    S: Service<Request<B>, Response = axum::http::Response<ResBody>>,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = self.names.of(request.uri().path());
        // A clone of the id's shared bytes, not a copy of the text.
        let request_id = request.headers().get(super::request_id::REQUEST_ID).cloned();
        EnvelopeFuture {
            inner: self.inner.call(request),
            route,
            request_id,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the inner service, finished by [`Envelope`].
    pub struct EnvelopeFuture<F> {
        #[pin]
        inner: F,
        route: &'static str,
        request_id: Option<HeaderValue>,
        started: Instant,
    }
}

impl<F, E, ResBody> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<axum::http::Response<ResBody>, E>>,
    ResBody: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?.map(axum::body::Body::new);
        let request_id = this.request_id.as_ref().and_then(|v| v.to_str().ok());
        let response = super::error::problem_body(response, request_id);
        crate::metrics::http_request(this.route, response.status(), this.started.elapsed());
        Poll::Ready(Ok(response))
    }
}
