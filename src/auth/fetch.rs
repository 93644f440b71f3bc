//! One issuer's keys over HTTP: its OIDC discovery document (to find the
//! JWKS URL) and the JWKS itself. Errors say what failed — DNS, connection
//! refused, timeout, TLS, an HTTP status, a document that is not what it
//! should be — and never contain a key.

use std::error::Error as _;
use std::time::Duration;

use serde::Deserialize;

use super::keyset::KeySet;
use crate::config::JwksUrl;

/// Timeout of one request.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest discovery or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Where an issuer's keys are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKeys {
    /// A JWKS URL.
    Jwks(String),
    /// OIDC discovery under this issuer URL.
    Discovery(String),
}

impl RemoteKeys {
    /// What to name in logs: the URL fetched first.
    pub fn url(&self) -> String {
        match self {
            RemoteKeys::Jwks(url) => url.clone(),
            RemoteKeys::Discovery(issuer) => discovery_url(issuer),
        }
    }
}

/// `<issuer>/.well-known/openid-configuration` (OIDC Discovery 1.0 §4.1:
/// a trailing `/` of the issuer is dropped first).
pub fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// The HTTP client for key fetches: a timeout, no redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Why keys could not be fetched: a `summary` without URLs or causes (for
/// the unauthenticated `/readyz`), and the full `detail` (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    /// `JWKS: connection refused`, `discovery: answered HTTP 503 Service Unavailable`.
    pub summary: String,
    /// The same with the URL and the cause chain.
    pub detail: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// A failure of the `what` document at `url`.
fn failed(what: &str, url: &str, summary: impl Into<String>, cause: Option<String>) -> FetchError {
    let summary = summary.into();
    let detail = match cause {
        Some(cause) => format!("{what} {url}: {summary} ({cause})"),
        None => format!("{what} {url}: {summary}"),
    };
    FetchError {
        summary: format!("{what}: {summary}"),
        detail,
    }
}

/// Fetches the keys of `source`.
pub(crate) async fn keys(client: &reqwest::Client, source: &RemoteKeys) -> Result<KeySet, FetchError> {
    let jwks_url = match source {
        RemoteKeys::Jwks(url) => url.clone(),
        RemoteKeys::Discovery(issuer) => jwks_uri(client, issuer).await?,
    };
    let body = get(client, &jwks_url, "JWKS").await?;
    KeySet::from_jwks(&body, &jwks_url).map_err(|e| match e {
        super::keyset::KeySetError::Parse { why, .. } => failed("JWKS", &jwks_url, why, None),
        other => failed("JWKS", &jwks_url, other.to_string(), None),
    })
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The `jwks_uri` of `issuer`'s discovery document, which must name this
/// very issuer (OIDC Discovery 1.0 §4.3) and a JWKS URL we may fetch.
async fn jwks_uri(client: &reqwest::Client, issuer: &str) -> Result<String, FetchError> {
    let url = discovery_url(issuer);
    let body = get(client, &url, "discovery").await?;
    let doc: Discovery = serde_json::from_slice(&body).map_err(|e| {
        let summary = "not a discovery document with issuer and jwks_uri (bad JSON)";
        failed("discovery", &url, summary, Some(e.to_string()))
    })?;
    if doc.issuer != issuer {
        let cause = format!("it says {:?}, not {issuer:?}", doc.issuer);
        return Err(failed(
            "discovery",
            &url,
            "the document is for another issuer",
            Some(cause),
        ));
    }
    JwksUrl::try_from(doc.jwks_uri.clone())
        .map_err(|why| failed("discovery", &url, "its jwks_uri may not be fetched", Some(why)))?;
    Ok(doc.jwks_uri)
}

/// The body of a successful GET of `url`, at most 1 MiB.
async fn get(client: &reqwest::Client, url: &str, what: &str) -> Result<Vec<u8>, FetchError> {
    let response = client.get(url).send().await.map_err(|e| {
        let (kind, cause) = describe(&e);
        failed(what, url, kind, Some(cause))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(what, url, format!("answered HTTP {status}"), None));
    }
    let too_large = || failed(what, url, "document too large", None);
    if response.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(too_large());
    }
    let body = response.bytes().await.map_err(|e| {
        let (kind, cause) = describe(&e);
        failed(what, url, format!("reading the body: {kind}"), Some(cause))
    })?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(too_large());
    }
    Ok(body.to_vec())
}

/// What went wrong with a request, in the words an operator searches
/// for, and the cause chain.
fn describe(e: &reqwest::Error) -> (String, String) {
    let chain = chain(e);
    let lower = chain.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        format!("timed out after {}s", FETCH_TIMEOUT.as_secs())
    } else if io_kind(e) == Some(std::io::ErrorKind::ConnectionRefused) || lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "DNS lookup failed".to_owned()
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("ssl")
        || lower.contains("handshake")
    {
        "TLS failed".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    (kind, chain)
}

/// The error and its causes, joined.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_under_the_issuer() {
        assert_eq!(
            discovery_url("https://idp.example.com/realms/x/"),
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example.com"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
    }

    #[tokio::test]
    async fn a_closed_port_says_connection_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let source = RemoteKeys::Jwks(format!("http://127.0.0.1:{port}/jwks"));
        let e = keys(&client(), &source).await.unwrap_err();
        assert_eq!(e.summary, "JWKS: connection refused", "{e}");
        assert!(
            e.detail.contains(&format!("127.0.0.1:{port}")),
            "the log names the URL: {e}"
        );
    }

    /// A loopback server answering every request with 200 and `body`; its port.
    async fn answering(body: String) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_discovery_document_of_another_issuer_is_refused() {
        let port = answering(r#"{"issuer":"http://127.0.0.1:1","jwks_uri":"http://127.0.0.1:1/jwks"}"#.into()).await;
        let issuer = format!("http://127.0.0.1:{port}");
        let e = keys(&client(), &RemoteKeys::Discovery(issuer)).await.unwrap_err();
        assert_eq!(e.summary, "discovery: the document is for another issuer", "{e}");
        assert!(e.detail.contains("it says \"http://127.0.0.1:1\""), "{e}");
        let port = answering("<html>".into()).await;
        let e = keys(&client(), &RemoteKeys::Discovery(format!("http://127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert!(e.summary.contains("bad JSON"), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_speaks_no_tls_says_tls() {
        let port = answering("{}".into()).await;
        let source = RemoteKeys::Jwks(format!("https://127.0.0.1:{port}/jwks"));
        let e = keys(&client(), &source).await.unwrap_err();
        assert_eq!(e.summary, "JWKS: TLS failed", "{e}");
    }

    #[tokio::test]
    async fn an_unknown_name_says_dns() {
        let source = RemoteKeys::Jwks("https://cfsign-test.invalid/jwks".into());
        let e = keys(&client(), &source).await.unwrap_err();
        assert_eq!(e.summary, "JWKS: DNS lookup failed", "{e}");
    }
}
