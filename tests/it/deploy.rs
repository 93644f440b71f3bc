//! What `deploy/`, the Dockerfile and the README promise each other, and
//! the real binary on the shipped Kubernetes configuration: the probes'
//! paths and ports, metrics on the annotated port, the image's HEALTHCHECK
//! command with the image's environment, and the drain on SIGTERM.
//!
//! The pod is reproduced with the ConfigMap's `config.toml` as shipped but
//! for what cannot exist here (see `harness::shipped::write_config_map`):
//! listeners on `127.0.0.1:0` (container port `http` = the main listener,
//! `metrics` = the metrics listener), the fixture key for the Secret, and a
//! loopback JWKS endpoint for the identity provider, so the pod turns ready.

#![cfg(unix)]

use std::time::{Duration, Instant};

use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use crate::harness::binary::{Exited, Server, run_cfsign_env};
use crate::harness::fixtures::now;
use crate::harness::jwks::{JwksServer, JwtKey, jwks_doc};
use crate::harness::net::{assert_url_valid, client, post};
use crate::harness::shipped::{
    Dockerfile, config_map, container, container_port, dockerfile, manifest, port_of, repo_file, write_config_map,
};

fn duration(config: &toml::Table, key: &str) -> Duration {
    let text = config["server"][key]
        .as_str()
        .unwrap_or_else(|| panic!("server.{key} set"));
    humantime::parse_duration(text).unwrap()
}

/// The three probes: (kind, path, named port).
fn probes() -> Vec<(&'static str, String, String)> {
    let c = container();
    ["livenessProbe", "readinessProbe", "startupProbe"]
        .into_iter()
        .map(|kind| {
            let get = &c[kind]["httpGet"];
            let path = get["path"].as_str().unwrap_or_else(|| panic!("{kind}: httpGet.path"));
            let port = get["port"].as_str().unwrap_or_else(|| panic!("{kind}: a named port"));
            (kind, path.to_owned(), port.to_owned())
        })
        .collect()
}

#[test]
fn the_image_the_deployment_and_the_config_map_agree() {
    let image = dockerfile();
    let config = config_map();
    let http = container_port("http");
    // The image's CFSIGN_LISTEN beats the file's server.listen (as
    // `--listen` would): both, EXPOSE and the container port must agree.
    let env_listen = image.env_value("CFSIGN_LISTEN").expect("ENV CFSIGN_LISTEN");
    assert_eq!(port_of(env_listen), http, "ENV CFSIGN_LISTEN vs container port http");
    assert_eq!(image.expose, [http], "EXPOSE vs container port http");
    let listen = config["server"]["listen"].as_str().unwrap();
    assert_eq!(port_of(listen), http, "ConfigMap server.listen vs container port http");
    let pod_env = container()["env"].as_sequence().cloned().unwrap_or_default();
    assert!(
        !pod_env.iter().any(|e| e["name"].as_str() == Some("CFSIGN_LISTEN")),
        "the Deployment overrides CFSIGN_LISTEN: update this test"
    );
    // Every probe names a port the container declares.
    for (kind, _, port) in probes() {
        assert!(matches!(port.as_str(), "http" | "metrics"), "{kind} on port {port}");
    }
    // The drain fits in the pod's termination grace period, so the kubelet's
    // SIGKILL never cuts it short.
    let pod = &manifest("deployment.yaml")["spec"]["template"]["spec"];
    let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
    let drain = duration(&config, "drain_delay") + duration(&config, "shutdown_grace");
    assert!(
        drain < grace,
        "drain_delay + shutdown_grace {drain:?} >= terminationGracePeriodSeconds {grace:?}"
    );
}

#[test]
fn the_readme_builds_the_image_tag_the_deployment_runs() {
    let image = container()["image"].as_str().unwrap().to_owned();
    assert_eq!(
        image,
        format!("cfsign:{}", env!("CARGO_PKG_VERSION")),
        "the image tag is the crate's version"
    );
    let readme = repo_file("README.md");
    let built: Vec<&str> = readme
        .match_indices("docker build -t ")
        .map(|(at, m)| readme[at + m.len()..].split_whitespace().next().unwrap())
        .collect();
    assert!(!built.is_empty(), "the README shows no `docker build -t`");
    assert!(
        built.iter().all(|tag| *tag == image),
        "README builds {built:?}, the Deployment runs {image}"
    );
    let dockerfile = repo_file("Dockerfile");
    assert!(
        dockerfile.contains(&format!("docker build -t {image} .")),
        "the Dockerfile's header builds another tag"
    );
}

#[test]
fn the_systemd_unit_waits_longer_than_the_drain() {
    let unit = repo_file("deploy/systemd/cfsign.service");
    let setting = |name: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name}= in the unit"))
            .to_owned()
    };
    let example: toml::Table = toml::from_str(&repo_file("config/example.toml")).unwrap();
    let drain = duration(&example, "drain_delay") + duration(&example, "shutdown_grace");
    let stop = humantime::parse_duration(&setting("TimeoutStopSec")).unwrap();
    assert!(
        stop > drain,
        "TimeoutStopSec {stop:?} <= drain_delay + shutdown_grace {drain:?}"
    );
    assert_eq!(setting("KillSignal"), "SIGTERM");
    assert_eq!(setting("ExecReload"), "/bin/kill -HUP $MAINPID");
    let exec = setting("ExecStart");
    assert!(exec.starts_with("/usr/local/bin/cfsign serve --config "), "{exec}");
}

/// The image's HEALTHCHECK, run as the container runs it: its argv with the
/// image's `ENV`, the container port `http` mapped to `port`.
async fn docker_healthcheck(image: &Dockerfile, port: u16) -> Exited {
    let (program, args) = image.healthcheck.split_first().expect("HEALTHCHECK CMD");
    assert_eq!(program, "/usr/local/bin/cfsign", "the HEALTHCHECK runs another program");
    let http = container_port("http");
    let env: Vec<(String, String)> = image
        .env
        .iter()
        .map(|(name, value)| {
            let mapped = value.replace(&format!(":{http}"), &format!(":{port}"));
            (name.clone(), mapped)
        })
        .collect();
    let args: Vec<String> = args.to_vec();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        run_cfsign_env(&args, &env, Duration::from_secs(10))
    })
    .await
    .unwrap()
}

async fn status(url: &str) -> Option<u16> {
    client().get(url).send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_pod_is_probed_scraped_healthchecked_and_drained_as_the_manifests_expect() {
    let config = config_map();
    let drain_delay = duration(&config, "drain_delay");
    let shutdown_grace = duration(&config, "shutdown_grace");
    assert!(
        !drain_delay.is_zero(),
        "the ConfigMap no longer drains: update this test"
    );

    let idp = JwtKey::fixture("rsa2048.pem", "k8s-idp");
    let jwks = JwksServer::serving(jwks_doc([&idp.jwk])).await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config_map(dir.path(), &jwks.url);
    // The container's env from the Deployment (RUST_LOG, log format).
    let pod_env: Vec<(String, String)> = container()["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|e: &Yaml| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let envs: Vec<(&str, &str)> = pod_env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut server = Server::start_in(dir, config_path, &envs);
    let metrics_base = server.metrics_base.clone().expect("the ConfigMap's metrics listener");
    let base_of = |port: &str| match port {
        "http" => server.base.clone(),
        "metrics" => metrics_base.clone(),
        other => panic!("no mapping for port {other}"),
    };

    // Readiness comes once the JWKS is fetched.
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&server.url("/readyz")).await != Some(200) {
        assert!(
            Instant::now() < deadline,
            "not ready 10 s after start:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (kind, path, port) in probes() {
        let url = format!("{}{path}", base_of(&port));
        assert_eq!(status(&url).await, Some(200), "{kind}: GET {url} (port {port})");
    }

    // Prometheus scrapes the annotated port at the default path.
    let pod = &manifest("deployment.yaml")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(pod["prometheus.io/scrape"].as_str(), Some("true"));
    let annotated: u16 = pod["prometheus.io/port"].as_str().unwrap().parse().unwrap();
    let scraped = [("http", container_port("http")), ("metrics", container_port("metrics"))]
        .into_iter()
        .find(|(_, p)| *p == annotated)
        .map(|(name, _)| name)
        .expect("the annotated port is a container port");
    let path = pod["prometheus.io/path"].as_str().unwrap_or("/metrics");
    let scrape = client()
        .get(format!("{}{path}", base_of(scraped)))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("cfsign_signing_key_active"), "{text}");

    // The grant the ConfigMap ships works with a token from the identity
    // provider's JWKS.
    let auth = &config["auth"];
    let token = idp.token(
        Some("k8s-idp"),
        &json!({
            "iss": auth["issuers"][0].as_str().unwrap(),
            "aud": auth["audiences"][0].as_str().unwrap(),
            "sub": "svc-mailer", "iat": now(), "exp": now() + 600,
        }),
    );
    let body = json!({ "key": "uploads/report.pdf", "ttl_seconds": 3600 });
    let (code, _, answer) = post(&client(), &server.url("/v1/signed-urls"), &token, "k8s-1", &body).await;
    assert_eq!(code, 200, "{answer}");
    let key_pair_id = config["distributions"][0]["keys"][0]["key_pair_id"].as_str().unwrap();
    assert_url_valid(answer["url"].as_str().unwrap(), key_pair_id, "rsa2048.pub.pem");

    // The container HEALTHCHECK, with the image's env.
    let image = dockerfile();
    let ok = docker_healthcheck(&image, server.addr.port()).await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "stdout {:?} stderr {:?}",
        ok.stdout,
        ok.stderr
    );
    assert_eq!(ok.stdout, ["ready"]);

    // SIGTERM: readiness 503 at once, while new connections are still served
    // for drain_delay (liveness stays 200; the HEALTHCHECK fails), then exit
    // 0 within shutdown_grace.
    let sigterm = Instant::now();
    server.signal("TERM");
    let deadline = sigterm + Duration::from_secs(1);
    while status(&server.url("/readyz")).await != Some(503) {
        assert!(Instant::now() < deadline, "/readyz not 503 1 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unhealthy = docker_healthcheck(&image, server.addr.port()).await;
    assert_eq!(unhealthy.status.code(), Some(1), "{:?}", unhealthy.stderr);
    assert_eq!(unhealthy.stderr.len(), 1, "{:?}", unhealthy.stderr);
    assert!(
        unhealthy.stderr[0].starts_with("error: not ready: ") && unhealthy.stderr[0].contains("503"),
        "{:?}",
        unhealthy.stderr
    );
    assert_eq!(
        status(&server.url("/healthz")).await,
        Some(200),
        "liveness during the drain"
    );
    // Still answering (503) a second before drain_delay ends.
    tokio::time::sleep((sigterm + drain_delay - Duration::from_secs(1)).saturating_duration_since(Instant::now()))
        .await;
    assert_eq!(
        status(&server.url("/readyz")).await,
        Some(503),
        "new connections refused before drain_delay"
    );
    let exit = server.wait_exit(drain_delay + shutdown_grace).unwrap_or_else(|| {
        panic!(
            "still running after drain_delay + shutdown_grace:\n{}",
            server.all_logs()
        )
    });
    let took = sigterm.elapsed();
    assert!(exit.success(), "exit {exit}:\n{}", server.all_logs());
    assert!(
        took >= drain_delay,
        "exited {took:?} after SIGTERM, before drain_delay {drain_delay:?}"
    );
}
