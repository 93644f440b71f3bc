//! Talking to a real server over the network, and checking what it signed
//! as CloudFront would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cfsign::signing::{RequestContext, verify_cookies, verify_url};
use serde_json::Value;

use super::fixtures::{now, public};

/// An HTTP client with a timeout and no connection reuse (each request is
/// a new connection, so shutdown behaviour is seen as a new caller sees it).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// POSTs JSON with a bearer token and an `x-request-id`; returns status,
/// headers and body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    request_id: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client
        .post(url)
        .bearer_auth(token)
        .header("x-request-id", request_id)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, json)
}

/// `Key-Pair-Id` of a signed URL.
pub fn key_pair_id_of(url: &str) -> String {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("Key-Pair-Id="))
        .unwrap_or_default()
        .to_owned()
}

/// `Signature` of a signed URL.
pub fn signature_of(url: &str) -> String {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("Signature="))
        .unwrap_or_default()
        .to_owned()
}

/// Would CloudFront serve `url` now, with `key_pair_id` → `public_key_file`?
#[track_caller]
pub fn assert_url_valid(url: &str, key_pair_id: &str, public_key_file: &str) {
    let pk = public(public_key_file);
    let v = verify_url(
        url,
        &(key_pair_id, &pk),
        RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    assert!(v.failure.is_none(), "{url}: {:?}", v.failure);
}

/// Would CloudFront serve `request_url` with `cookies`?
#[track_caller]
pub fn assert_cookies_valid(request_url: &str, cookies: &[(String, String)], key_pair_id: &str, public_key_file: &str) {
    let pk = public(public_key_file);
    let v = verify_cookies(
        request_url,
        cookies,
        &(key_pair_id, &pk),
        RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    assert!(v.failure.is_none(), "{request_url}: {:?}", v.failure);
}

/// A raw HTTP/1.1 request written in two parts, for in-flight tests.
pub struct RawRequest {
    pub stream: TcpStream,
    rest: Vec<u8>,
}

impl RawRequest {
    /// Connects and sends the headers of `POST path` plus the first
    /// `first_body_bytes` bytes of `body`.
    pub fn start(
        addr: SocketAddr,
        path: &str,
        token: &str,
        request_id: &str,
        body: &str,
        first_body_bytes: usize,
    ) -> Self {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nx-request-id: {request_id}\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.as_bytes().split_at(first_body_bytes);
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(first).unwrap();
        stream.flush().unwrap();
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body and reads the response until the server
    /// closes the connection (it does, while shutting down) or the whole
    /// `Content-Length` body has arrived. Returns status, head and body.
    pub fn finish(mut self) -> (u16, String, String) {
        self.stream.write_all(&self.rest).unwrap();
        self.stream.flush().unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(parsed) = parse_response(&data) {
                return parsed;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "reading the in-flight response: {e}; got so far: {}",
                    String::from_utf8_lossy(&data)
                ),
            }
        }
        parse_response(&data).unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(&data)))
    }
}

/// Status, head and body of an HTTP/1.1 response with a Content-Length, once
/// the whole body has arrived.
pub fn parse_response(data: &[u8]) -> Option<(u16, String, String)> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })?;
    (body.len() >= length).then(|| (status, head.to_owned(), body[..length].to_owned()))
}

/// Sum of the Prometheus samples of `name` whose line contains `label`
/// (0 when there are none).
pub fn metric(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
