//! A distribution with its keys loaded: the active signing key and every
//! configured key's public half (for verification during rotation).

use std::sync::Arc;
use std::time::Duration;

use super::sigcache::SignatureCache;
use crate::config::{CookieConfig, DistributionConfig, SigningKeyConfig};
use crate::signing::{HashAlgorithm, KeyPairId, PrivateKey, PublicKey};

/// The key new signatures are made with.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    /// Its CloudFront public key id.
    pub id: KeyPairId,
    /// The private key, loaded once.
    pub key: Arc<PrivateKey>,
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
    /// Loads every key file of `config`; returns one line per problem, and
    /// key warnings (e.g. RSA-1024) in `warnings`.
    pub fn load(config: &DistributionConfig, warnings: &mut Vec<String>) -> Result<Self, Vec<String>> {
        let at = format!("distributions[{}]", config.name);
        let mut problems = Vec::new();
        let mut loaded = Vec::new();
        for key in &config.keys {
            match load_key(key) {
                Ok((id, private)) => {
                    if let Some(w) = private.warning() {
                        warnings.push(format!("{at}: key {id}: {w}"));
                    }
                    if let Some(w) = crate::secret_file::readable_by_others(&key.private_key_file) {
                        warnings.push(format!("{at}: key {id}: {w}"));
                    }
                    loaded.push((id, key.active || config.keys.len() == 1, private));
                }
                Err(e) => problems.push(format!("{at}: key {}: {e}", key.key_pair_id)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Self::from_keys(config, loaded).map_err(|e| vec![format!("{at}: {e}")])
    }

    /// Builds a distribution from keys already in memory (dev mode, tests):
    /// `(id, active, key)` triples.
    pub fn from_keys(config: &DistributionConfig, keys: Vec<(KeyPairId, bool, PrivateKey)>) -> Result<Self, String> {
        let mut public_keys = Vec::with_capacity(keys.len());
        let mut active = None;
        for (id, is_active, key) in keys {
            public_keys.push((id.clone(), key.public_key().map_err(|e| e.to_string())?));
            if is_active {
                active = Some(ActiveKey { id, key: Arc::new(key) });
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

fn load_key(config: &SigningKeyConfig) -> Result<(KeyPairId, PrivateKey), String> {
    let id: KeyPairId = config.key_pair_id.parse().map_err(|e| format!("{e}"))?;
    let path = &config.private_key_file;
    let pem = crate::secret_file::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let passphrase = match &config.passphrase_file {
        Some(p) => Some(crate::secret_file::read_passphrase(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let key = PrivateKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_slice()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((id, key))
}
