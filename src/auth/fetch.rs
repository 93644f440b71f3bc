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

/// Fetches the keys of `source`.
pub(crate) async fn keys(client: &reqwest::Client, source: &RemoteKeys) -> Result<KeySet, String> {
    let jwks_url = match source {
        RemoteKeys::Jwks(url) => url.clone(),
        RemoteKeys::Discovery(issuer) => jwks_uri(client, issuer).await?,
    };
    let body = get(client, &jwks_url, "JWKS").await?;
    KeySet::from_jwks(&body, &jwks_url).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// The `jwks_uri` of `issuer`'s discovery document, which must name this
/// very issuer (OIDC Discovery 1.0 §4.3) and a JWKS URL we may fetch.
async fn jwks_uri(client: &reqwest::Client, issuer: &str) -> Result<String, String> {
    let url = discovery_url(issuer);
    let body = get(client, &url, "discovery").await?;
    let doc: Discovery = serde_json::from_slice(&body)
        .map_err(|e| format!("discovery {url}: not a discovery document with issuer and jwks_uri (bad JSON: {e})"))?;
    if doc.issuer != issuer {
        return Err(format!(
            "discovery {url}: the document is for issuer {:?}, not {issuer:?}",
            doc.issuer
        ));
    }
    JwksUrl::try_from(doc.jwks_uri.clone()).map_err(|why| format!("discovery {url}: jwks_uri {why}"))?;
    Ok(doc.jwks_uri)
}

/// The body of a successful GET of `url`, at most 1 MiB.
async fn get(client: &reqwest::Client, url: &str, what: &str) -> Result<Vec<u8>, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{what} {url}: {}", describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{what} {url}: answered HTTP {status}"));
    }
    if response.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(format!("{what} {url}: document too large"));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{what} {url}: reading the body: {}", describe(&e)))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("{what} {url}: document too large"));
    }
    Ok(body.to_vec())
}

/// What went wrong with a request, in the words an operator searches for.
fn describe(e: &reqwest::Error) -> String {
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
    format!("{kind} ({chain})")
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
        assert!(e.contains("connection refused"), "{e}");
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
        assert!(e.contains("the document is for issuer \"http://127.0.0.1:1\""), "{e}");
        let port = answering("<html>".into()).await;
        let e = keys(&client(), &RemoteKeys::Discovery(format!("http://127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert!(e.contains("bad JSON"), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_speaks_no_tls_says_tls() {
        let port = answering("{}".into()).await;
        let source = RemoteKeys::Jwks(format!("https://127.0.0.1:{port}/jwks"));
        let e = keys(&client(), &source).await.unwrap_err();
        assert!(e.contains("TLS failed"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_name_says_dns() {
        let source = RemoteKeys::Jwks("https://cfsign-test.invalid/jwks".into());
        let e = keys(&client(), &source).await.unwrap_err();
        assert!(e.contains("DNS lookup failed"), "{e}");
    }
}
