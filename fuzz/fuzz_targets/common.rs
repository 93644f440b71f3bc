//! A fixed, in-memory service set-up shared by the request and policy
//! targets: two distributions signed with the fixture ECDSA P-256 key (fast
//! enough to sign on every accepted input), and two callers.

#![allow(dead_code)]

use std::sync::OnceLock;

use cfsign::auth::Caller;
use cfsign::config;
use cfsign::service::{Distribution, Snapshot};
use cfsign::signing::{KeyPairId, PrivateKey, PublicKey};

/// The fixed "now" of every run: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;
pub const KEY_PAIR_ID: &str = "KFUZZ000000001";

const EC_PEM: &[u8] = include_bytes!("../../tests/fixtures/keys/ec-p256.pem");

const CONFIG: &str = concat!(
    r#"
[auth]
issuers = ["fuzz"]
audiences = ["cfsign"]
algorithms = ["HS256"]

[[distributions]]
name = "reports"
domain = "https://cdn.example.com"
path_prefix = "/uploads"
expiry_granularity = "5m"
keys = [{ key_pair_id = "KFUZZ000000001", private_key_file = "(in memory)" }]

[[distributions]]
name = "videos"
domain = "https://d111111abcdef8.cloudfront.net"
hash_algorithm = "SHA256"
keys = [{ key_pair_id = "KFUZZ000000001", private_key_file = "(in memory)" }]

"#,
    include_str!("../../tests/fixtures/grants.toml")
);

pub struct Fixture {
    pub snapshot: Snapshot,
    pub key: PrivateKey,
    pub public: PublicKey,
    pub mailer: Caller,
    pub player: Caller,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = config::from_toml_unchecked(CONFIG).expect("fuzz config");
        let id: KeyPairId = KEY_PAIR_ID.parse().unwrap();
        let dists = config
            .distributions
            .iter()
            .map(|d| {
                let key = PrivateKey::from_pem(EC_PEM, None).unwrap();
                Distribution::from_keys(d, vec![(id.clone(), true, key)]).unwrap()
            })
            .collect();
        let snapshot = Snapshot::from_parts(dists, &config);
        let key = PrivateKey::from_pem(EC_PEM, None).unwrap();
        let public = key.public_key().unwrap();
        let caller = |sub: &str, scopes: &[&str]| Caller {
            subject: Some(sub.to_owned()),
            client: None,
            issuer: "fuzz".to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            groups: Vec::new(),
            expires_at: NOW + 600,
            claims: Default::default(),
        };
        Fixture {
            snapshot,
            key,
            public,
            mailer: caller("mailer", &[]),
            player: caller("web", &["video:read"]),
        }
    })
}
