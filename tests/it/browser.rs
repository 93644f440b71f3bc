//! Real-browser test: headless Chromium (Debian's, driven by playwright-core
//! through `tests/browser/run.mjs`) loads a page from one loopback origin
//! that asks `cfsign serve` (the real binary) on another for a signed URL and
//! for signed cookies with `credentials: "include"`, then asks a stand-in for
//! the CDN host, which records the cookies the browser sends it.
//!
//! The README's layout (`app.`, `api.` and `cdn.` under one registrable
//! domain, `cookies.domain` = that domain) on loopback: Chromium resolves
//! every `*.localhost` name to the loopback address itself and treats it as a
//! secure context, so `Secure` cookies are stored and sent over plain HTTP,
//! and `cfsign.localhost` is a registrable domain its subdomains can share
//! (`localhost` itself is not: `Domain=localhost` from `api.localhost` is
//! refused as an invalid domain). All servers listen on 127.0.0.1:
//! - API     `http://api.cfsign.localhost:A`: cfsign; cookies configured as
//!   `Domain=cfsign.localhost; Path=/hls; Secure; HttpOnly; SameSite=Lax`.
//! - allowed `http://app.cfsign.localhost:P`: in `[cors] allowed_origins`
//!   and same-site with the API: both answers readable, the cookies stored
//!   with exactly those attributes and sent to `cdn.` under `/hls` only.
//! - refused `http://other.cfsign.localhost:P`: same site, not allowed: the
//!   preflight fails, `fetch` rejects, cfsign never sees the POSTs, nothing
//!   is stored.
//! - cross   `http://127.0.0.1:P`: allowed too, but another site: CORS
//!   succeeds and the body holds the cookies, yet the browser refuses the
//!   `Set-Cookie` headers (third-party cookies; `SameSite=None` does not
//!   change that in the Chromium this was written against).
//! - CDN     `http://cdn.cfsign.localhost:C`: records `Cookie` per request.
//!
//! The tools come from `tests/browser/setup.sh` (Chromium by apt into
//! /usr/bin, playwright-core into `target/browser/node_modules`), or from
//! `$CFSIGN_BROWSER_CHROMIUM`, `$CFSIGN_BROWSER_NODE_MODULES` and
//! `$CFSIGN_BROWSER_NODE` (default: `node` on PATH). Without them the test
//! is skipped, except under CI (`$CI` set), where it fails.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};

use crate::harness::binary::Server;
use crate::harness::config::{Cors, Distribution, Grant, Key};
use crate::harness::fixtures::key_file;
use crate::harness::tokens;

const SETUP: &str = "tests/browser/setup.sh";
const DIST_DOMAIN: &str = "https://d111111abcdef8.cloudfront.net";
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
/// Registrable domain of the loopback layout, and `cookies.domain`.
const SITE: &str = "cfsign.localhost";
const COOKIE_PATH: &str = "/hls";
/// Asked of the CDN stand-in: inside the cookies' Path, then outside it.
const CDN_IN_PATH: &str = "/hls/abc/index.m3u8";
const CDN_OUT_OF_PATH: &str = "/other/index.html";
/// Longest time the browser run may take (run.mjs gives up after 90 s; a
/// normal run takes under 10 s).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(100);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- tools ----

use crate::harness::tools::in_ci;

struct Tools {
    node: PathBuf,
    chromium: PathBuf,
    node_modules: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_tools() -> Result<Tools, String> {
    let chromium =
        std::env::var_os("CFSIGN_BROWSER_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() {
        return Err(format!("no Chromium at {}", chromium.display()));
    }
    let node = match std::env::var_os("CFSIGN_BROWSER_NODE") {
        Some(p) => PathBuf::from(p),
        None => on_path("node").ok_or("no node on PATH")?,
    };
    let node_modules = std::env::var_os("CFSIGN_BROWSER_NODE_MODULES")
        .map_or_else(|| manifest_dir().join("target/browser/node_modules"), PathBuf::from);
    if !node_modules.join("playwright-core/package.json").is_file() {
        return Err(format!("no playwright-core in {}", node_modules.display()));
    }
    Ok(Tools {
        node,
        chromium,
        node_modules,
    })
}

// --------------------------------------------------------------- cfsign ----

/// `cfsign serve` on the test configuration; `request_timeout` as humantime
/// text ("10s").
fn start_cfsign(allowed_origins: &[String], request_timeout: &str) -> Server {
    Server::start_with(&[("RUST_LOG", "info")], |c| {
        c.server.listen = None;
        c.server.metrics_listen = None;
        c.server.shutdown_grace = Some("1s".into());
        c.server.request_timeout = Some(request_timeout.into());
        c.signing.insert("workers".into(), 1.into());
        let mut cors = toml::Table::new();
        cors.insert("max_age".into(), "1m".into());
        c.cors = Some(Cors {
            allowed_origins: allowed_origins.to_vec(),
            other: cors,
        });
        let mut videos = Distribution::new(
            "videos",
            DIST_DOMAIN,
            vec![Key::new(KEY_PAIR_ID, key_file("rsa2048.pem"))],
        );
        let mut cookies = toml::Table::new();
        cookies.insert("domain".into(), SITE.into());
        cookies.insert("path".into(), COOKIE_PATH.into());
        cookies.insert("secure".into(), true.into());
        cookies.insert("http_only".into(), true.into());
        cookies.insert("same_site".into(), "Lax".into());
        videos.cookies = Some(cookies);
        c.distributions = vec![videos];
        c.grants = vec![Grant {
            default_ttl: Some("10m".into()),
            allow_wildcard_policy: Some(true),
            allow_cookies: Some(true),
            ..Grant::subject("player", "browser-user", "videos", "/hls/*", "1h")
        }];
    })
}

fn token() -> String {
    tokens::token(json!({ "sub": "browser-user" }))
}

// ----------------------------------------------------------------- page ----

/// Serves tests/browser/page.html, its configuration filled in, at `/`.
async fn serve_page(listener: tokio::net::TcpListener, html: Arc<String>) {
    let app = Router::new()
        .route(
            "/",
            get(|State(html): State<Arc<String>>| async move { Html(html.as_str().to_owned()) }),
        )
        .with_state(html);
    axum::serve(listener, app).await.unwrap();
}

/// One request seen by the CDN stand-in.
#[derive(Debug, Clone)]
struct CdnHit {
    /// `location.host` of the page that asked.
    from: String,
    path: String,
    /// The `CloudFront-*` cookies sent, by name.
    cookies: BTreeMap<String, String>,
}

/// Records every request with the cookies it carried; answers 204.
async fn serve_cdn(listener: tokio::net::TcpListener, hits: Arc<Mutex<Vec<CdnHit>>>) {
    let app = Router::new()
        .fallback(
            |State(hits): State<Arc<Mutex<Vec<CdnHit>>>>, request: axum::extract::Request| async move {
                let from = request
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("from="))
                    .map(|h| h.replace("%3A", ":"))
                    .unwrap_or_default();
                let cookies = request
                    .headers()
                    .get_all(axum::http::header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|pair| pair.trim().split_once('='))
                    .filter(|(name, _)| name.starts_with("CloudFront-"))
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                hits.lock().unwrap().push(CdnHit {
                    from,
                    path: request.uri().path().to_owned(),
                    cookies,
                });
                axum::http::StatusCode::NO_CONTENT
            },
        )
        .with_state(hits);
    axum::serve(listener, app).await.unwrap();
}

async fn bind_loopback() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

// -------------------------------------------------------------- browser ----

/// Runs `node tests/browser/run.mjs <page> <api origin> [<page>...]`.
async fn run_browser(tools: &Tools, api_origin: &str, pages: &[&str]) -> Value {
    let mut command = tokio::process::Command::new(&tools.node);
    command
        .arg(manifest_dir().join("tests/browser/run.mjs"))
        .arg(pages[0])
        .arg(api_origin)
        .args(&pages[1..])
        .env("CFSIGN_BROWSER_CHROMIUM", &tools.chromium)
        .env("CFSIGN_BROWSER_NODE_MODULES", &tools.node_modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("spawn node");
    let out = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the browser run took more than {BROWSER_TIMEOUT:?}"))
        .expect("node run.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run.mjs failed ({}):\nstderr:\n{stderr}\nstdout:\n{stdout}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("run.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// Cookies in the body of a signed-cookies answer, by name.
fn body_cookies(call: &Value) -> BTreeMap<String, String> {
    call["body"]["cookies"]
        .as_object()
        .unwrap_or_else(|| panic!("no cookies in the body: {call}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

#[track_caller]
fn assert_refused_by_cors(page: &Value, call: &str, ctx: &str) {
    let c = &page["results"][call];
    assert!(
        c["status"].is_null(),
        "{call}: a refused origin must not read the response: {ctx}"
    );
    assert!(
        c["error"].as_str().is_some_and(|e| e.contains("TypeError")),
        "{call}: fetch must reject: {ctx}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_gets_a_signed_url_and_stores_signed_cookies_across_origins() {
    let tools = match find_tools() {
        Ok(t) => t,
        Err(why) => {
            if in_ci() {
                panic!("browser tools missing ({why}); CI must run `bash {SETUP}` first");
            }
            let _ = writeln!(std::io::stderr(), "skipped: run {SETUP} ({why})");
            return;
        }
    };
    let started = Instant::now();

    // One page server answers for three origins (the host names differ).
    let (page_listener, page_port) = bind_loopback().await;
    let (cdn_listener, cdn_port) = bind_loopback().await;
    let allowed = format!("http://app.{SITE}:{page_port}");
    let refused = format!("http://other.{SITE}:{page_port}");
    let cross = format!("http://127.0.0.1:{page_port}");
    let cdn = format!("http://cdn.{SITE}:{cdn_port}");

    let cfsign = start_cfsign(&[allowed.clone(), cross.clone()], "10s");
    let api = format!("http://api.{SITE}:{}", cfsign.addr.port());

    let page_config = json!({
        "api": api,
        "token": token(),
        "url": { "path": "/hls/abc/index.m3u8", "ttl_seconds": 600 },
        "cookies": { "resource": "/hls/abc/*", "ttl_seconds": 600 },
        "cdn": cdn,
        "cdn_paths": [CDN_IN_PATH, CDN_OUT_OF_PATH],
    });
    let html = std::fs::read_to_string(manifest_dir().join("tests/browser/page.html"))
        .unwrap()
        .replace("/*CFSIGN_CONFIG*/null", &page_config.to_string());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let servers = [
        tokio::spawn(serve_page(page_listener, Arc::new(html))),
        tokio::spawn(serve_cdn(cdn_listener, Arc::clone(&hits))),
    ];

    let pages = [format!("{allowed}/"), format!("{refused}/"), format!("{cross}/")];
    let report = run_browser(&tools, &api, &pages.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for s in servers {
        s.abort();
    }
    let hits = hits.lock().unwrap().clone();
    let context = format!(
        "browser report:\n{}\nCDN hits: {hits:#?}\n{}",
        serde_json::to_string_pretty(&report).unwrap(),
        cfsign.all_logs()
    );
    let ctx = context.as_str();
    let [ok, no, xs] = [0, 1, 2].map(|i| &report["pages"][i]);
    let cdn_hit = |origin: &str, path: &str| -> BTreeMap<String, String> {
        let host = origin.trim_start_matches("http://");
        let seen: Vec<&CdnHit> = hits.iter().filter(|h| h.from == host && h.path == path).collect();
        assert_eq!(seen.len(), 1, "one request from {host} for {path}: {ctx}");
        seen[0].cookies.clone()
    };

    // 1. The allowed origin: both answers readable, the cookies stored.
    let r = &ok["results"];
    assert_eq!(r["origin"], allowed.as_str(), "{ctx}");
    for call in ["url", "cookies"] {
        assert_eq!(r[call]["status"], 200, "{call}: {ctx}");
        assert!(r[call]["error"].is_null(), "{call}: {ctx}");
        assert!(
            r[call]["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{call}: x-request-id must be exposed to the page: {ctx}"
        );
        assert!(r[call]["set_cookie_header"].is_null(), "{ctx}");
    }
    let url = r["url"]["body"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url: {ctx}"));
    assert!(
        url.starts_with(&format!("{DIST_DOMAIN}/hls/abc/index.m3u8?Expires=")),
        "{url}"
    );
    assert!(
        url.contains("&Signature=") && url.ends_with(&format!("&Key-Pair-Id={KEY_PAIR_ID}")),
        "{url}"
    );

    let sent = body_cookies(&r["cookies"]);
    for name in ["CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"] {
        assert!(sent.contains_key(name), "{name} missing from the body: {ctx}");
    }
    assert_eq!(sent["CloudFront-Key-Pair-Id"], KEY_PAIR_ID);
    assert_eq!(ok["blocked_set_cookies"], json!([]), "{ctx}");
    let jar = ok["cookies"].as_array().unwrap_or_else(|| panic!("no jar: {ctx}"));
    let stored: BTreeMap<String, String> = jar
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(stored, sent, "the jar must hold exactly the cookies of the body: {ctx}");
    for c in jar {
        let name = &c["name"];
        // A domain cookie (leading dot): api., app. and cdn. all match it.
        assert_eq!(c["domain"], format!(".{SITE}"), "{name}: {ctx}");
        assert_eq!(c["path"], COOKIE_PATH, "{name}: {ctx}");
        assert_eq!(c["secure"], true, "{name}: {ctx}");
        assert_eq!(c["httpOnly"], true, "{name}: {ctx}");
        assert_eq!(c["sameSite"], "Lax", "{name}: {ctx}");
        // A session cookie: no Expires/Max-Age; the policy carries the expiry.
        assert_eq!(c["expires"], -1, "{name}: {ctx}");
    }
    // An error answer is readable as well: status, problem body, request id.
    let e = &r["unauthorized"];
    assert_eq!(e["status"], 401, "{ctx}");
    assert_eq!(e["content_type"], "application/problem+json", "{ctx}");
    assert_eq!(e["body"]["code"], "invalid_token", "{ctx}");
    assert_eq!(e["body"]["request_id"], e["request_id"], "{ctx}");
    // Path=/hls: never sent back to the API's own routes.
    assert_eq!(ok["cookies_for_api"], json!([]), "{ctx}");
    // HttpOnly: invisible to the page's script.
    assert!(
        !r["document_cookie"].as_str().unwrap_or("").contains("CloudFront-"),
        "{ctx}"
    );
    // What CloudFront would receive: all of them under /hls, none elsewhere.
    assert_eq!(cdn_hit(&allowed, CDN_IN_PATH), sent, "{ctx}");
    assert!(cdn_hit(&allowed, CDN_OUT_OF_PATH).is_empty(), "{ctx}");

    // 2. The refused origin: preflight refused, fetch rejects, no cookies.
    assert_eq!(no["results"]["origin"], refused.as_str(), "{ctx}");
    assert_refused_by_cors(no, "url", ctx);
    assert_refused_by_cors(no, "cookies", ctx);
    assert!(
        no["console"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("blocked by CORS policy")),
        "the browser must say why: {ctx}"
    );
    assert_eq!(no["cookies"], json!([]), "{ctx}");
    assert!(cdn_hit(&refused, CDN_IN_PATH).is_empty(), "{ctx}");

    // 3. Allowed but cross-site: CORS succeeds, the cookies are refused.
    let x = &xs["results"];
    assert_eq!(x["origin"], cross.as_str(), "{ctx}");
    assert_eq!(x["url"]["status"], 200, "{ctx}");
    assert_eq!(x["cookies"]["status"], 200, "{ctx}");
    let refused_cookies: Vec<&str> = xs["blocked_set_cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["reasons"].as_array().is_some_and(|r| !r.is_empty()))
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(
        refused_cookies.len(),
        body_cookies(&x["cookies"]).len(),
        "every Set-Cookie of a cross-site answer is refused, with a reason: {ctx}"
    );
    assert_eq!(xs["cookies"], json!([]), "{ctx}");
    assert!(cdn_hit(&cross, CDN_IN_PATH).is_empty(), "{ctx}");

    // cfsign saw the POSTs of the two allowed pages only (the refused
    // origin's preflight stopped them), with the ids the pages read.
    let audit = |event: &str| -> Vec<String> {
        let mut ids: Vec<String> = cfsign
            .audit_events()
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| e["request_id"].as_str().unwrap_or("").to_owned())
            .collect();
        ids.sort();
        ids
    };
    let read = |calls: &[&str]| -> Vec<String> {
        let mut ids: Vec<String> = [r, x]
            .iter()
            .flat_map(|r| {
                calls
                    .iter()
                    .map(|call| r[*call]["request_id"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(audit("issued"), read(&["url", "cookies"]), "{ctx}");
    assert_eq!(audit("denied"), read(&["unauthorized"]), "{ctx}");

    // Shown with --nocapture.
    eprintln!("{ctx}\nbrowser test took {:?}", started.elapsed());
}

/// Needs no browser: a request that times out (its body never comes) is
/// answered 408 with the CORS headers, so that a page reads the problem and
/// its request id instead of seeing a CORS refusal.
#[test]
fn a_timed_out_request_still_carries_the_cors_headers() {
    let origin = format!("http://app.{SITE}:8443");
    let cfsign = start_cfsign(std::slice::from_ref(&origin), "300ms");

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", cfsign.addr.port())).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Headers only: the token is checked, then the body is awaited in vain.
    write!(
        stream,
        "POST /v1/signed-urls HTTP/1.1\r\nHost: api.{SITE}\r\nOrigin: {origin}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n",
        token()
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer ({e}); {}", cfsign.all_logs()),
        }
    }
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 408"), "{head}");
    assert!(
        head.contains(&format!("\r\naccess-control-allow-origin: {origin}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("\r\naccess-control-allow-credentials: true\r\n"),
        "{head}"
    );
    let exposed = head
        .split("\r\naccess-control-expose-headers: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next());
    let exposed: Vec<&str> = exposed.unwrap_or_default().split(',').map(str::trim).collect();
    for name in ["x-request-id", "www-authenticate", "retry-after"] {
        assert!(exposed.contains(&name), "{name} not exposed: {head}");
    }
}
