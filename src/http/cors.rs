//! CORS: tower-http's [`Cors`] for requests that carry an `Origin`, and for
//! every answer one `Vary` header, built once.
//!
//! A request without `Origin` is no CORS request (Fetch: browsers send it on
//! every cross-origin request and every preflight), so CORS headers on its
//! answer change nothing; the backend callers (the mailer) and probes never
//! send one. tower-http's layer would still build a header map per request
//! and join its `Vary` value anew each time: about a sixth of a `/healthz`
//! in instructions (README Performance). `Vary` is on every answer either
//! way, so that a shared cache keeps a browser's answer apart from a
//! backend's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use futures_util::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsConfig;

use super::request_id::REQUEST_ID;

/// The request headers an answer varies with: those CORS reads.
const VARY_ON: [HeaderName; 3] = [
    header::ORIGIN,
    header::ACCESS_CONTROL_REQUEST_METHOD,
    header::ACCESS_CONTROL_REQUEST_HEADERS,
];

/// The layer of [`OriginCors`], from `[cors]`.
#[derive(Debug, Clone)]
pub struct OriginCorsLayer {
    cors: CorsLayer,
    vary: HeaderValue,
}

impl OriginCorsLayer {
    /// Exactly the configured origins, with credentials (so the
    /// signed-cookies answer can set cookies); an empty list allows none.
    pub fn new(config: &CorsConfig) -> Self {
        let origins: Vec<HeaderValue> = config
            .allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        // Names are checked at load (config::validate); the three the API
        // reads are always allowed.
        let mut headers = vec![header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID];
        headers.extend(
            config
                .allowed_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.trim().as_bytes()).ok()),
        );
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(headers)
            .expose_headers([REQUEST_ID, header::WWW_AUTHENTICATE, header::RETRY_AFTER])
            .allow_credentials(true)
            .max_age(config.max_age.unwrap_or(Duration::from_secs(600)))
            // Added by OriginCors, to every answer.
            .vary([]);
        let joined = VARY_ON.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ");
        let vary = HeaderValue::from_str(&joined).expect("header names are header-value text");
        Self { cors, vary }
    }
}

impl<S> Layer<S> for OriginCorsLayer {
    type Service = OriginCors<S>;

    fn layer(&self, inner: S) -> OriginCors<S> {
        OriginCors {
            inner,
            cors: Arc::new(self.cors.clone()),
            vary: self.vary.clone(),
        }
    }
}

/// See the module documentation.
///
/// The CORS rules are shared, not held by value: hyper clones the whole
/// stack for every request, and a `CorsLayer` clones two `Vec`s (two
/// allocations and two frees per request, for the requests that never use
/// them). A CORS request builds its `Cors` from them.
#[derive(Debug, Clone)]
pub struct OriginCors<S> {
    inner: S,
    cors: Arc<CorsLayer>,
    vary: HeaderValue,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OriginCors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = VaryFuture<Either<tower_http::cors::ResponseFuture<S::Future>, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let inner = if request.headers().contains_key(header::ORIGIN) {
            // The service made ready goes into the `Cors`, a clone stays
            // (tower's way of handing a ready service on).
            let fresh = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, fresh);
            Either::Left(self.cors.layer(ready).call(request))
        } else {
            Either::Right(self.inner.call(request))
        };
        VaryFuture {
            inner,
            vary: Some(self.vary.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer, with the `Vary` header added.
    pub struct VaryFuture<F> {
        #[pin]
        inner: F,
        vary: Option<HeaderValue>,
    }
}

impl<F, B, E> Future for VaryFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(vary) = this.vary.take() {
            response.headers_mut().append(header::VARY, vary);
        }
        Poll::Ready(Ok(response))
    }
}
