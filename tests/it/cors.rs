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
