//! Who can read `/metrics` (security review, round 2). The exposition names
//! every distribution and key pair id, inactive rotation keys included, so
//! by default the public listener does not serve it; `server.metrics_listen`
//! binds a listener of its own, as the shipped Kubernetes manifests expect
//! (pod annotation `prometheus.io/port`, container port `metrics`).

use std::path::Path;

use serde_yaml_ng::Value as Yaml;

use crate::harness::binary::{Server, config_dir};
use crate::harness::fixtures::{key_file, write_atomic};
use crate::harness::net::client;
use crate::harness::tokens::HMAC_SECRET;

fn manifest(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(name);
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The ConfigMap's `config.toml`, made runnable here: loopback ports chosen
/// by the kernel, the fixture key, a JWKS URL on a closed loopback port
/// (the service stays not ready; metrics must be served regardless).
fn shipped_config(dir: &Path) -> String {
    let text = manifest("configmap.yaml")["data"]["config.toml"]
        .as_str()
        .expect("config.toml in the ConfigMap")
        .to_owned();
    for needle in [
        r#"listen = "0.0.0.0:8080""#,
        r#"metrics_listen = "0.0.0.0:9090""#,
        "/run/secrets/cloudfront/reports.pem",
        "https://auth.example.com/.well-known/jwks.json",
    ] {
        assert!(
            text.contains(needle),
            "the ConfigMap no longer has {needle}; update this test"
        );
    }
    std::fs::write(dir.join("hmac.secret"), HMAC_SECRET).unwrap();
    // The key's path goes into a TOML basic string.
    let key = key_file("rsa2048.pem")
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    text.replace(r#"listen = "0.0.0.0:8080""#, r#"listen = "127.0.0.1:0""#)
        .replace(
            r#"metrics_listen = "0.0.0.0:9090""#,
            r#"metrics_listen = "127.0.0.1:0""#,
        )
        .replace("/run/secrets/cloudfront/reports.pem", &key)
        .replace(
            "https://auth.example.com/.well-known/jwks.json",
            "http://127.0.0.1:9/jwks.json",
        )
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn the_manifests_scrape_the_port_the_config_map_listens_on() {
    let config = manifest("configmap.yaml")["data"]["config.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed: toml::Value = toml::from_str(&config).unwrap();
    let listen = parsed["server"]["metrics_listen"].as_str().expect("metrics_listen set");
    let port = listen.rsplit(':').next().unwrap();
    let pod = &manifest("deployment.yaml")["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some(port)
    );
    let ports = pod["spec"]["containers"][0]["ports"].as_sequence().unwrap();
    assert!(
        ports.iter().any(|p| p["name"].as_str() == Some("metrics")
            && p["containerPort"].as_u64().map(|n| n.to_string()).as_deref() == Some(port)),
        "container port `metrics` = {port}"
    );
}

#[tokio::test]
async fn the_shipped_config_map_serves_metrics_on_its_own_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_atomic(&config, &shipped_config(dir.path()));
    let server = Server::start_in(dir, config, &[]);
    let (status, body) = get(&server.metrics_url()).await;
    assert_eq!(status, 200);
    assert!(body.contains("cfsign_jwks_refresh_total"), "{body}");
    assert!(body.contains("process_resident_memory_bytes"), "{body}");
    // The public listener: no exposition, the same 404 as any unknown path.
    let (status, body) = get(&server.url("/metrics")).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("K2JCJMDEHXQW5F"), "{body}");
    // The metrics listener serves metrics, nothing else.
    let api = server.metrics_url().replace("/metrics", "/v1/signed-urls");
    assert_eq!(get(&api).await.0, 404);
}

#[tokio::test]
async fn by_default_no_listener_serves_metrics_and_public_metrics_opts_in() {
    for (server_extra, main_status) in [("", 404), ("public_metrics = true\n", 200)] {
        let (dir, config) = config_dir(|c| {
            c.add_reports();
            c.server.metrics_listen = None;
            c.server.public_metrics = (!server_extra.is_empty()).then_some(true);
        });
        let server = Server::start_in(dir, config, &[]);
        assert!(
            server.metrics_base.is_none(),
            "no metrics listener without metrics_listen"
        );
        let (status, body) = get(&server.url("/metrics")).await;
        assert_eq!(status, main_status, "{server_extra:?}: {body}");
        if main_status == 200 {
            assert!(body.contains("cfsign_signing_key_active"), "{body}");
        }
    }
}
