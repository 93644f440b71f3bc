//! The files users deploy, read as the tests need them: the Kubernetes
//! manifests in `deploy/kubernetes/`, the ConfigMap's `config.toml` made
//! runnable here, and the Dockerfile's `ENV`, `EXPOSE` and `HEALTHCHECK`.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value as Yaml;

use super::fixtures::{key_file, write_atomic};

/// A file of the repository, as text.
pub fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// `deploy/kubernetes/{name}`, parsed.
pub fn manifest(name: &str) -> Yaml {
    serde_yaml_ng::from_str(&repo_file(&format!("deploy/kubernetes/{name}"))).unwrap()
}

/// The ConfigMap's `config.toml`, parsed as shipped.
pub fn config_map() -> toml::Table {
    let text = manifest("configmap.yaml")["data"]["config.toml"]
        .as_str()
        .expect("config.toml in the ConfigMap")
        .to_owned();
    toml::from_str(&text).expect("the ConfigMap's config.toml is TOML")
}

/// The ConfigMap's `config.toml` made runnable here, written to
/// `dir/config.toml`: both listeners on `127.0.0.1:0`, every CloudFront key
/// the fixture `rsa2048.pem`, `auth.jwks_url` = `jwks_url`. Everything else
/// is as shipped.
pub fn write_config_map(dir: &Path, jwks_url: &str) -> PathBuf {
    let mut config = config_map();
    let server = config["server"].as_table_mut().expect("[server]");
    for listener in ["listen", "metrics_listen"] {
        assert!(server.contains_key(listener), "the ConfigMap sets no server.{listener}");
        server.insert(listener.into(), "127.0.0.1:0".into());
    }
    let auth = config["auth"].as_table_mut().expect("[auth]");
    assert!(
        auth.contains_key("jwks_url"),
        "the ConfigMap's JWT keys no longer come from jwks_url"
    );
    auth.insert("jwks_url".into(), jwks_url.into());
    let key = key_file("rsa2048.pem").display().to_string();
    let distributions = config["distributions"].as_array_mut().expect("[[distributions]]");
    for distribution in distributions {
        for k in distribution["keys"].as_array_mut().expect("keys").iter_mut() {
            k.as_table_mut()
                .unwrap()
                .insert("private_key_file".into(), key.clone().into());
        }
    }
    let path = dir.join("config.toml");
    write_atomic(&path, &toml::to_string(&config).unwrap());
    path
}

/// The Deployment's first (only) container.
pub fn container() -> Yaml {
    manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The container port named `name`.
pub fn container_port(name: &str) -> u16 {
    let ports = container()["ports"].as_sequence().expect("ports").clone();
    let port = ports.iter().find(|p| p["name"].as_str() == Some(name));
    let port = port.unwrap_or_else(|| panic!("no container port named {name:?}"));
    port["containerPort"].as_u64().unwrap() as u16
}

/// The port of a `host:port` socket address.
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// What the Dockerfile's final stage declares.
pub struct Dockerfile {
    /// `ENV` name/value pairs, in order.
    pub env: Vec<(String, String)>,
    /// `EXPOSE`d ports.
    pub expose: Vec<u16>,
    /// The `HEALTHCHECK ... CMD [...]` argument vector.
    pub healthcheck: Vec<String>,
}

/// Reads the Dockerfile's runtime stage (everything after the last `FROM`),
/// with line continuations joined.
pub fn dockerfile() -> Dockerfile {
    let text = repo_file("Dockerfile").replace("\\\n", " ");
    let last_stage = text.rsplit_once("\nFROM ").expect("a FROM line").1;
    let mut file = Dockerfile {
        env: Vec::new(),
        expose: Vec::new(),
        healthcheck: Vec::new(),
    };
    for line in last_stage.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (name, value) = pair.split_once('=').expect("ENV NAME=value");
                file.env.push((name.into(), value.into()));
            }
        } else if let Some(rest) = line.strip_prefix("EXPOSE ") {
            file.expose = rest.split_whitespace().map(|p| p.parse().unwrap()).collect();
        } else if let Some(rest) = line.strip_prefix("HEALTHCHECK ") {
            let cmd = rest.split_once("CMD ").expect("HEALTHCHECK ... CMD").1;
            file.healthcheck = serde_json::from_str(cmd.trim()).expect("HEALTHCHECK CMD in exec form");
        }
    }
    file
}

impl Dockerfile {
    /// The value `ENV` gives `name`.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}
