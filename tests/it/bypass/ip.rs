//! IP binding: IPv4 only, and only with the IP grant.

use axum::extract::connect_info::MockConnectInfo;
use serde_json::{Value, json};

use super::{URLS, Who, expect_refused, r, run_refused};
use crate::harness::app::TestApp;

#[tokio::test]
async fn ip_ranges_must_be_ipv4_and_granted() {
    use Who::{Mailer as M, Player as P};
    let app = TestApp::new().await;
    let ip = |name, who, value: Value, status, code| {
        let body = match who {
            Who::Player => json!({ "path": "/hls/a.ts", "ip_address": value }),
            _ => json!({ "key": "uploads/a.pdf", "ip_address": value }),
        };
        r(name, who, URLS, body, status, code)
    };
    let cases = [
        ip("IPv4 without the IP grant", M, json!("192.0.2.1"), 403, "forbidden"),
        ip(
            "everything without the IP grant",
            M,
            json!("0.0.0.0/0"),
            403,
            "forbidden",
        ),
        ip("client without the IP grant", M, json!("client"), 403, "forbidden"),
        ip("IPv6 range", P, json!("2001:db8::/32"), 422, "invalid_ip_address"),
        ip("IPv6 loopback", P, json!("::1"), 422, "invalid_ip_address"),
        ip(
            "IPv4-mapped IPv6",
            P,
            json!("::ffff:192.0.2.1"),
            422,
            "invalid_ip_address",
        ),
        ip("prefix 33", P, json!("192.0.2.1/33"), 422, "invalid_ip_address"),
        ip("empty prefix", P, json!("192.0.2.1/"), 422, "invalid_ip_address"),
        ip("negative prefix", P, json!("192.0.2.1/-1"), 422, "invalid_ip_address"),
        ip("two prefixes", P, json!("192.0.2.0/24/8"), 422, "invalid_ip_address"),
        ip("octet 256", P, json!("192.0.2.256"), 422, "invalid_ip_address"),
        ip("leading zero", P, json!("01.2.3.4"), 422, "invalid_ip_address"),
        ip("short form", P, json!("127.1"), 422, "invalid_ip_address"),
        ip("spaces", P, json!(" 192.0.2.1"), 422, "invalid_ip_address"),
        ip("newline", P, json!("192.0.2.1\n"), 422, "invalid_ip_address"),
        ip("star", P, json!("*"), 422, "invalid_ip_address"),
        ip("empty", P, json!(""), 422, "invalid_ip_address"),
        ip("Client in capitals", P, json!("Client"), 422, "invalid_ip_address"),
        ip("a number", P, json!(3221225985u32), 422, "invalid_request"),
        ip(
            "a list",
            P,
            json!(["192.0.2.1", "198.51.100.1"]),
            422,
            "invalid_request",
        ),
    ];
    run_refused(&app, &cases).await;
}

#[tokio::test]
async fn client_binding_from_an_ipv6_peer_is_refused() {
    let app = TestApp::new().await;
    let v6: std::net::SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
    let options = cfsign::server::http_options(&app.config);
    let router = cfsign::http::router(app.state.clone(), &options).layer(MockConnectInfo(v6));
    let case = r(
        "client is IPv6",
        Who::Player,
        URLS,
        json!({ "path": "/hls/a.ts", "ip_address": "client" }),
        422,
        "invalid_ip_address",
    );
    expect_refused(&app, &router, &case).await;
}
