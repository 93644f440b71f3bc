//! Who can read `/metrics` (security review, round 2). The exposition names
//! every distribution and key pair id, inactive rotation keys included, so
//! by default the public listener does not serve it; `server.metrics_listen`
//! binds a listener of its own, as the shipped Kubernetes manifests expect
//! (pod annotation `prometheus.io/port`, container port `metrics`).

use crate::harness::binary::{Server, config_dir};
use crate::harness::net::client;
use crate::harness::shipped::{config_map, container_port, manifest, port_of, write_config_map};

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn the_manifests_scrape_the_port_the_config_map_listens_on() {
    let listen = config_map()["server"]["metrics_listen"]
        .as_str()
        .expect("metrics_listen set")
        .to_owned();
    let port = port_of(&listen);
    let pod = &manifest("deployment.yaml")["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    assert_eq!(container_port("metrics"), port, "container port `metrics`");
}

#[tokio::test]
async fn the_shipped_config_map_serves_metrics_on_its_own_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    // A JWKS URL on a closed loopback port: the service stays not ready;
    // metrics must be served regardless.
    let config = write_config_map(dir.path(), "http://127.0.0.1:9/jwks.json");
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
