//! A real local KMS: moto's server (`tests/kms/setup.sh` installs it into
//! `target/kms-venv`, or `$CFSIGN_KMS_VENV`), started on loopback on an
//! ephemeral port and stopped on drop; keys made through the real KMS API
//! with boto3 (`tests/kms/keys.py`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::tools::in_ci;

/// The region the keys are made in (moto's keys live per region).
pub const REGION: &str = "us-east-1";

/// What every AWS client here (cfsign, boto3) gets: moto's fake credentials
/// in the environment (the standard chain's first source), no profile
/// files, no instance metadata lookups.
pub const AWS_ENV: [(&str, &str); 7] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_SESSION_TOKEN", "testing"),
    ("AWS_DEFAULT_REGION", REGION),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
];

/// A key made in the local KMS.
pub struct MotoKey {
    pub arn: String,
    /// SPKI PEM from GetPublicKey (empty for a key that does not sign).
    pub public_key_pem: String,
}

/// A running moto server.
pub struct Moto {
    child: Child,
    pub url: String,
    python: PathBuf,
}

fn venv() -> PathBuf {
    std::env::var_os("CFSIGN_KMS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/kms-venv"))
}

/// A free loopback port (bound and released: moto binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts connections on `addr`.
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Moto {
    /// Starts moto, or `None` after saying why the test is skipped (a
    /// failure under CI, which runs the setup script).
    pub fn start(what: &str) -> Option<Self> {
        let venv = venv();
        let server = venv.join("bin/moto_server");
        if !server.is_file() {
            assert!(
                !in_ci(),
                "{} missing; CI must run tests/kms/setup.sh first",
                server.display()
            );
            eprintln!("skipped: {what} (no moto_server; run tests/kms/setup.sh)");
            return None;
        }
        let port = free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            python: venv.join("bin/python"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !wait_listening(addr, Duration::from_secs(30)) {
            let _ = moto.child.kill();
            panic!("moto_server did not listen on {addr} within 30 s");
        }
        Some(moto)
    }

    fn keys(&self, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kms/keys.py");
        let out = Command::new(&self.python)
            .arg(script)
            .arg(&self.url)
            .args(args)
            .envs(AWS_ENV)
            .stdin(Stdio::null())
            .output()
            .expect("run tests/kms/keys.py");
        assert!(
            out.status.success(),
            "keys.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("keys.py prints JSON")
    }

    /// A new key of `spec` (`RSA_2048`, `ECC_NIST_P256`, ...) for `usage`.
    pub fn create_key_for(&self, spec: &str, usage: &str) -> MotoKey {
        let made = self.keys(&["create", spec, usage]);
        MotoKey {
            arn: made["arn"].as_str().unwrap().to_owned(),
            public_key_pem: made["public_key_pem"].as_str().unwrap().to_owned(),
        }
    }

    /// A new signing key of `spec`.
    pub fn create_key(&self, spec: &str) -> MotoKey {
        self.create_key_for(spec, "SIGN_VERIFY")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
