//! The answers to what the timeout and load-shedding layers refuse with an
//! error: a request past `request_timeout` gets 408 (its problem body is the
//! envelope's), one shed because `max_concurrent_requests` are in flight
//! 503.
//!
//! Why not axum's `HandleErrorLayer`: for every request, refused or not, it
//! clones the rest of the stack (timeout, shedding, concurrency limit,
//! router) and boxes the future. Here the stack is called as it is and the
//! answer mapped when it comes.

use std::convert::Infallible;
use std::task::{Context, Poll, ready};

use axum::BoxError;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, FutureExt, Map, Ready};
use tower::{Layer, Service};

use super::ApiError;

/// The layer of [`Refusals`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RefusalsLayer;

impl<S> Layer<S> for RefusalsLayer {
    type Service = Refusals<S>;

    fn layer(&self, inner: S) -> Refusals<S> {
        Refusals { inner, failed: None }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Refusals<S> {
    inner: S,
    /// An error of the stack's readiness (none of its layers has one in
    /// practice: the router cannot fail), answered to the next request.
    failed: Option<BoxError>,
}

impl<S: Clone> Clone for Refusals<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            failed: None,
        }
    }
}

/// What maps the stack's answer.
type Answer = fn(Result<Response, BoxError>) -> Result<Response, Infallible>;

impl<S, B> Service<Request<B>> for Refusals<S>
where
    S: Service<Request<B>, Response = Response, Error = BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Map<S::Future, Answer>, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if let Err(error) = ready!(self.inner.poll_ready(cx)) {
            self.failed = Some(error);
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.failed.take() {
            Some(error) => Either::Right(futures_util::future::ready(Ok(refusal(error)))),
            None => Either::Left(self.inner.call(request).map(answer as Answer)),
        }
    }
}

fn answer(result: Result<Response, BoxError>) -> Result<Response, Infallible> {
    Ok(result.unwrap_or_else(refusal))
}

/// The answer to `error`: 408 for a timeout, otherwise 503.
fn refusal(error: BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        StatusCode::REQUEST_TIMEOUT.into_response()
    } else {
        ApiError::Overloaded.into_response()
    }
}
