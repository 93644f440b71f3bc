//! CORS request headers: the three the API reads always allowed, more by
//! `[cors] allowed_headers`, and a name that is no header name refused at load.

use axum::http::Method;

use crate::harness::app::TestApp;
use crate::harness::config::Cors;

#[tokio::test]
async fn cors_request_headers_are_configurable() {
    let preflight = async |app: &TestApp| {
        let headers = [
            ("origin", "http://app.test"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,traceparent",
            ),
        ];
        let r = app
            .request(Method::OPTIONS, "/v1/signed-urls", None, None, &headers)
            .await;
        r.headers
            .get("access-control-allow-headers")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let default = preflight(&TestApp::new().await).await;
    assert!(
        default.contains("authorization") && !default.contains("traceparent"),
        "{default}"
    );
    let configured = TestApp::with_config(|c| {
        let mut other = toml::Table::new();
        other.insert("allowed_headers".into(), toml::Value::Array(vec!["Traceparent".into()]));
        c.cors = Some(Cors {
            allowed_origins: vec!["http://app.test".into()],
            other,
        });
    })
    .await;
    let allowed = preflight(&configured).await;
    for name in ["authorization", "content-type", "x-request-id", "traceparent"] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
}

#[test]
fn a_cors_header_that_is_no_header_name_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::harness::config::TestConfig::in_process(dir.path());
    std::fs::write(dir.path().join("hmac.secret"), crate::harness::tokens::HMAC_SECRET).unwrap();
    let mut other = toml::Table::new();
    other.insert(
        "allowed_headers".into(),
        toml::Value::Array(vec!["trace parent".into()]),
    );
    c.cors = Some(Cors {
        allowed_origins: vec![],
        other,
    });
    let error = c.load().unwrap_err();
    assert!(
        error
            .problems
            .iter()
            .any(|p| p.starts_with("cors.allowed_headers: \"trace parent\"")),
        "{:?}",
        error.problems
    );
}

#[tokio::test]
async fn every_answer_varies_with_origin_and_only_cors_requests_get_cors_headers() {
    let app = TestApp::new().await;
    const VARY: &str = "origin, access-control-request-method, access-control-request-headers";
    let backend = app.request(Method::GET, "/healthz", None, None, &[]).await;
    let vary: Vec<_> = backend.headers.get_all("vary").iter().collect();
    assert_eq!(vary, [VARY], "one Vary header on an answer without Origin");
    let cors_headers: Vec<_> = backend
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .collect();
    assert!(
        cors_headers.is_empty(),
        "no CORS headers without Origin: {cors_headers:?}"
    );

    for (origin, allowed) in [("http://app.test", true), ("http://evil.test", false)] {
        let browser = app
            .request(Method::GET, "/healthz", None, None, &[("origin", origin)])
            .await;
        let vary: Vec<_> = browser.headers.get_all("vary").iter().collect();
        assert_eq!(vary, [VARY], "one Vary header for {origin}");
        assert_eq!(
            browser
                .headers
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            allowed.then_some(origin),
            "{origin}"
        );
        assert_eq!(
            browser
                .headers
                .get("access-control-allow-credentials")
                .map(|v| v.to_str().unwrap()),
            Some("true"),
            "{origin}"
        );
        let exposed = browser.headers["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("x-request-id"), "{exposed}");
    }

    let preflight = app
        .request(
            Method::OPTIONS,
            "/v1/signed-urls",
            None,
            None,
            &[("origin", "http://app.test"), ("access-control-request-method", "POST")],
        )
        .await;
    let vary: Vec<_> = preflight.headers.get_all("vary").iter().collect();
    assert_eq!(vary, [VARY], "one Vary header on a preflight");
}
