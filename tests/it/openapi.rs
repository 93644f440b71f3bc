//! `openapi.yaml` against the real router: every documented operation is
//! routed, every route in the source is documented, undocumented methods are
//! 405, and every status the router produces for an operation is documented.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::Method;
use serde_json::json;

use crate::harness::app::TestApp;

type Spec = BTreeMap<String, BTreeMap<String, BTreeSet<u16>>>;

fn spec() -> Spec {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut out = Spec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            out.entry(path.clone())
                .or_default()
                .insert(method.to_uppercase(), statuses);
        }
    }
    out
}

/// The route templates: every `.route(` in the route modules names one of
/// `routes`'s constants (no literal path), and `RouteNames` lists them all.
fn routed_paths() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes");
    let mut routes = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for piece in text.split(".route(").skip(1) {
            let piece = piece.trim_start();
            assert!(
                piece.starts_with("super::") && piece.as_bytes()[7].is_ascii_uppercase(),
                "{}: a route is registered without its constant in routes/mod.rs: .route({}",
                path.display(),
                piece.lines().next().unwrap_or("")
            );
            routes += 1;
        }
    }
    let templates: BTreeSet<String> = cfsign::http::routes::RouteNames::new(true)
        .templates()
        .map(str::to_owned)
        .collect();
    // /metrics is routed twice: the main listener's and the metrics listener's.
    assert_eq!(routes, templates.len() + 1, "routes registered vs templates named");
    templates
}

#[test]
fn every_route_in_the_source_is_documented() {
    let spec = spec();
    let routed = routed_paths();
    assert!(routed.len() >= 8, "{routed:?}");
    let documented: BTreeSet<String> = spec.keys().cloned().collect();
    assert_eq!(routed, documented, "routes in src/http/routes vs paths in openapi.yaml");
}

#[tokio::test]
async fn documented_methods_are_routed_and_others_are_405() {
    let app = TestApp::new().await;
    let token = app.mailer();
    for (path, ops) in spec() {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != "GET").then(|| "{}".to_owned());
            let r = app.request(m, &path, Some(&token), body, &[]).await;
            match ops.get(method) {
                Some(statuses) => {
                    assert!(r.status != 404 && r.status != 405, "{method} {path}: {}", r.status);
                    assert!(
                        statuses.contains(&r.status.as_u16()),
                        "{method} {path}: {} undocumented",
                        r.status
                    );
                }
                None => assert_eq!(r.status, 405, "{method} {path} is not documented"),
            }
        }
    }
}

#[tokio::test]
async fn every_status_the_router_produces_is_documented() {
    let app = TestApp::new().await;
    let mailer = app.mailer();
    let player = app.player();
    let big = format!("{{\"key\":\"{}\"}}", "a".repeat(70 * 1024));
    for (path, ops) in spec() {
        for (method, statuses) in ops {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let mut seen = BTreeSet::new();
            let bodies: Vec<Option<String>> = if method == "POST" {
                vec![
                    Some("{}".into()),
                    Some("{not json".into()),
                    Some(big.clone()),
                    Some(json!({ "key": "uploads/a.pdf", "ttl_seconds": 60 }).to_string()),
                    Some(json!({ "key": "secret/a.pdf" }).to_string()),
                    Some(json!({ "distribution": "videos", "resource": "/hls/a/*", "ttl_seconds": 60 }).to_string()),
                    Some(json!({ "items": [{ "key": "uploads/a.pdf" }] }).to_string()),
                    Some(json!({ "url": "https://cdn.example.com/uploads/a.pdf" }).to_string()),
                ]
            } else {
                vec![None]
            };
            for token in [None, Some(mailer.as_str()), Some(player.as_str()), Some("garbage")] {
                for body in &bodies {
                    let r = app.request(m.clone(), &path, token, body.clone(), &[]).await;
                    seen.insert(r.status.as_u16());
                }
            }
            if method == "POST" {
                let r = app
                    .request(
                        m.clone(),
                        &path,
                        Some(&mailer),
                        Some("{}".into()),
                        &[("content-type", "text/plain")],
                    )
                    .await;
                seen.insert(r.status.as_u16());
            }
            let missing: Vec<_> = seen.difference(&statuses).collect();
            assert!(
                missing.is_empty(),
                "{method} {path}: statuses {missing:?} are produced but not documented"
            );
            assert!(
                seen.contains(&200),
                "{method} {path}: never succeeded in this test ({seen:?})"
            );
        }
    }
}
