//! An HTTP proxy between cfsign and the local KMS, on a runtime of its own
//! (so a test thread blocked waiting for cfsign to start does not stall
//! it), that passes requests through, answers them as a throttling KMS
//! does, refuses them as KMS does without `kms:Sign`, or stalls them;
//! switched per request.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the proxy does with the next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward it to the KMS and its answer back.
    Pass,
    /// Answer 400 `ThrottlingException`, as KMS does over its request quota.
    Throttle,
    /// Never answer (until the connection is dropped).
    Stall,
    /// Answer 400 `AccessDeniedException`, as KMS does to a role without `kms:Sign`.
    Deny,
}

struct State {
    mode: Mutex<Mode>,
    upstream: String,
    client: reqwest::Client,
    /// Requests seen in each mode: Pass, Throttle, Stall, Deny.
    seen: [AtomicUsize; 4],
    /// When each request arrived, and in which mode.
    arrivals: Mutex<Vec<(Mode, Instant)>>,
}

/// A running proxy; stops on drop.
pub struct Proxy {
    pub url: String,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // Bound here, served there: a test may already be inside a runtime.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Pass),
            upstream: upstream.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            seen: Default::default(),
            arrivals: Mutex::default(),
        });
        let accepting = Arc::clone(&state);
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&accepting);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&state), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            state,
            runtime: Some(runtime),
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// How many requests were handled in `mode`.
    pub fn seen(&self, mode: Mode) -> usize {
        self.state.seen[mode as usize].load(Ordering::SeqCst)
    }

    /// How many requests arrived in `mode` between `from` and `from + within`.
    pub fn arrived(&self, mode: Mode, from: Instant, within: Duration) -> usize {
        let arrivals = self.state.arrivals.lock().unwrap();
        arrivals
            .iter()
            .filter(|(m, at)| *m == mode && *at >= from && *at < from + within)
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mode = *state.mode.lock().unwrap();
    state.seen[mode as usize].fetch_add(1, Ordering::SeqCst);
    state.arrivals.lock().unwrap().push((mode, Instant::now()));
    Ok(match mode {
        Mode::Throttle => Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-ErrorType", "ThrottlingException")
            .body(Full::new(Bytes::from_static(
                br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            )))
            .unwrap(),
        Mode::Deny => Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-ErrorType", "AccessDeniedException")
            .body(Full::new(Bytes::from_static(
                br#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/cfsign/pod is not authorized to perform: kms:Sign"}"#,
            )))
            .unwrap(),
        Mode::Stall => {
            tokio::time::sleep(Duration::from_secs(300)).await;
            Response::builder().status(504).body(Full::default()).unwrap()
        }
        Mode::Pass => forward(&state, request).await,
    })
}

async fn forward(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = state
        .client
        .request(parts.method, format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if !matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding") {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Full::new(bytes)).unwrap()
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(e.to_string())))
            .unwrap(),
    }
}
