//! A distribution with its keys loaded: the active signing key (a file key
//! in memory, or a vault-held one opened once) and every configured key's
//! public half (for verification during rotation).

use std::sync::Arc;
use std::time::Duration;

use super::sigcache::SignatureCache;
use crate::config::{CookieConfig, DistributionConfig, SigningKeyConfig};
use crate::keys::{KeySource, RemoteSigner, SigningKey};
use crate::signing::{HashAlgorithm, KeyPairId, PrivateKey, PublicKey};

/// The key new signatures are made with.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    /// Its CloudFront public key id.
    pub id: KeyPairId,
    /// The private key, loaded (or opened in its vault) once.
    pub key: SigningKey,
}

/// A distribution ready to sign for.
#[derive(Debug)]
pub struct Distribution {
    /// Name callers use.
    pub name: String,
    /// Viewer-facing base URL, without trailing `/`.
    pub domain: String,
    /// Only paths under this prefix may be signed.
    pub path_prefix: Option<String>,
    /// Default digest.
    pub hash_algorithm: HashAlgorithm,
    /// Cookie attributes.
    pub cookies: CookieConfig,
    /// The active signing key.
    pub active: ActiveKey,
    /// Every configured key's id and public key.
    pub public_keys: Vec<(KeyPairId, PublicKey)>,
    /// Relative expiries are rounded up to a multiple of this.
    pub expiry_granularity: Option<Duration>,
    /// Signatures already made with the active key (absent when disabled).
    pub signatures: Option<SignatureCache>,
}

impl Distribution {
    /// Loads every key of `config` (reads each file, opens each vault key);
    /// returns one line per problem, and key warnings (e.g. RSA-1024) in
    /// `warnings`.
    pub fn load(config: &DistributionConfig, warnings: &mut Vec<String>) -> Result<Self, Vec<String>> {
        let at = format!("distributions[{}]", config.name);
        let mut problems = Vec::new();
        let mut loaded = Vec::new();
        for key in &config.keys {
            let mut cautions = Vec::new();
            let outcome = load_key(key, config.hash_algorithm, &mut cautions);
            warnings.extend(cautions.into_iter().map(|w| format!("{at}: {w}")));
            match outcome {
                Ok((id, signing, public)) => {
                    let active = key.active || config.keys.len() == 1;
                    loaded.push((id, active, signing, public));
                }
                Err(e) => problems.push(format!("{at}: key {}: {e}", key.key_pair_id)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Self::assemble(config, loaded).map_err(|e| vec![format!("{at}: {e}")])
    }

    /// Builds a distribution from keys already in memory (dev mode, tests):
    /// `(id, active, key)` triples.
    pub fn from_keys(config: &DistributionConfig, keys: Vec<(KeyPairId, bool, PrivateKey)>) -> Result<Self, String> {
        let mut loaded = Vec::with_capacity(keys.len());
        for (id, active, key) in keys {
            let public = key.public_key().map_err(|e| e.to_string())?;
            loaded.push((id, active, SigningKey::File(Arc::new(key)), public));
        }
        Self::assemble(config, loaded)
    }

    fn assemble(
        config: &DistributionConfig,
        keys: Vec<(KeyPairId, bool, SigningKey, PublicKey)>,
    ) -> Result<Self, String> {
        let mut public_keys = Vec::with_capacity(keys.len());
        let mut active = None;
        for (id, is_active, key, public) in keys {
            public_keys.push((id.clone(), public));
            if is_active {
                active = Some(ActiveKey { id, key });
            }
        }
        let active = active.ok_or("no active key")?;
        Ok(Self {
            name: config.name.clone(),
            domain: config.domain.trim_end_matches('/').to_owned(),
            path_prefix: config.path_prefix.clone(),
            hash_algorithm: config.hash_algorithm,
            cookies: config.cookies.clone(),
            active,
            public_keys,
            expiry_granularity: config.expiry_granularity.filter(|g| !g.is_zero()),
            signatures: None,
        })
    }
}

/// Reads or opens one key, with its public half (checked against the
/// configured `public_key_file`, if any).
fn load_key(
    config: &SigningKeyConfig,
    hash: HashAlgorithm,
    warnings: &mut Vec<String>,
) -> Result<(KeyPairId, SigningKey, PublicKey), String> {
    let id: KeyPairId = config.key_pair_id.parse().map_err(|e| format!("{e}"))?;
    let (signing, public) = match &config.source {
        KeySource::File { path, passphrase_file } => {
            let key = load_file_key(path, passphrase_file.as_deref())?;
            if let Some(w) = key.warning() {
                warnings.push(format!("key {id}: {w}"));
            }
            if let Some(w) = crate::secret_file::readable_by_others(path) {
                warnings.push(format!("key {id}: {w}"));
            }
            let public = key.public_key().map_err(|e| e.to_string())?;
            (SigningKey::File(Arc::new(key)), public)
        }
        source => {
            if hash == HashAlgorithm::Sha1 && !source.signs_sha1() {
                return Err(format!(
                    "{}: AWS KMS signs SHA-256 digests only; set hash_algorithm = \"SHA256\" on this distribution \
                     (CloudFront accepts Hash-Algorithm=SHA256)",
                    source.location()
                ));
            }
            let remote = crate::keys::open_remote(source).map_err(|e| format!("{}: {e}", source.location()))?;
            let public = PublicKey::from_pem(remote.public_key().to_pem().map_err(|e| e.to_string())?.as_bytes())
                .map_err(|e| e.to_string())?;
            (
                SigningKey::Remote(RemoteSigner::new(remote, id.clone(), config.limits)),
                public,
            )
        }
    };
    if let Some(path) = &config.public_key_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let expected = PublicKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        if !crate::keys::same_public_key(&expected, &public) {
            return Err(format!(
                "{}: this is not the public half of {} (the key CloudFront has would not verify its signatures)",
                path.display(),
                config.source.location()
            ));
        }
    }
    Ok((id, signing, public))
}

fn load_file_key(path: &std::path::Path, passphrase_file: Option<&std::path::Path>) -> Result<PrivateKey, String> {
    let pem = crate::secret_file::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let passphrase = match passphrase_file {
        Some(p) => Some(crate::secret_file::read_passphrase(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    PrivateKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_slice()))
        .map_err(|e| format!("{}: {e}", path.display()))
}
