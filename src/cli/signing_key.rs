//! The key `cfsign sign` / `sign-cookies` sign with: a PEM (as
//! `aws cloudfront sign` takes it), or a vault-held key named by a
//! `pkcs11:` URI or `kms:` key id, opened once for the one signature.

use std::sync::Arc;
use std::time::Duration;

use crate::keys::{KeySource, KmsSource, Pkcs11Source, RemoteKey};
use crate::signing::{HashAlgorithm, PrivateKey, base64cf};

use super::error::CliError;
use super::input::{key_path, load_private_key};

/// How long one vault signature may take before the command gives up.
const VAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where `--private-key` points beyond a PEM, with the flags that go with it.
#[derive(Debug, Default)]
pub struct VaultFlags<'a> {
    /// `--pin-file` (PKCS#11).
    pub pin_file: Option<&'a str>,
    /// `--region` (KMS).
    pub region: Option<&'a str>,
    /// `--endpoint-url` (KMS).
    pub endpoint_url: Option<&'a str>,
}

/// A key ready to sign one policy.
#[derive(Debug)]
pub enum CliKey {
    /// A PEM key in memory.
    File(PrivateKey),
    /// A key on a token or in KMS.
    Remote(Arc<dyn RemoteKey>),
}

impl CliKey {
    /// Opens `--private-key`: `pkcs11:…` and `kms:…` name vault-held keys,
    /// anything else is a PEM (inline, `file://`, a path or `-`).
    pub fn open(value: &str, passphrase_file: Option<&str>, vault: &VaultFlags<'_>) -> Result<Self, CliError> {
        let source = if value.starts_with("pkcs11:") {
            let pin_file = vault.pin_file.map(|f| key_path("--pin-file", f)).transpose()?;
            if let Some(warning) = pin_file.as_deref().and_then(crate::secret_file::readable_by_others) {
                super::input::warn(&warning);
            }
            KeySource::Pkcs11(Pkcs11Source {
                uri: value.to_owned(),
                pin_file,
            })
        } else if let Some(key_id) = value.strip_prefix("kms:") {
            KeySource::Kms(KmsSource {
                key_id: key_id.to_owned(),
                region: vault.region.map(str::to_owned),
                endpoint_url: vault.endpoint_url.map(str::to_owned),
            })
        } else {
            return Ok(CliKey::File(load_private_key(value, passphrase_file)?));
        };
        crate::keys::open_remote(&source)
            .map(CliKey::Remote)
            .map_err(|message| CliError::Malformed {
                flag: "--private-key",
                message: format!("{}: {message}", source.location()),
            })
    }

    /// Refuses SHA-1 for a KMS key before anything is signed: KMS signs
    /// SHA-256 digests only.
    pub fn check_hash(&self, hash: HashAlgorithm) -> Result<(), CliError> {
        match self {
            CliKey::Remote(key) if key.kind() == "kms" && hash == HashAlgorithm::Sha1 => Err(CliError::Malformed {
                flag: "--hash-algorithm",
                message: "AWS KMS signs SHA-256 digests only: pass --hash-algorithm SHA256".into(),
            }),
            _ => Ok(()),
        }
    }

    /// The CloudFront-base64 signature of `policy_json`.
    pub fn signature(&self, policy_json: &str, hash: HashAlgorithm) -> Result<String, CliError> {
        match self {
            CliKey::File(key) => Ok(base64cf::encode(
                &key.sign(policy_json.as_bytes(), hash).map_err(CliError::Crypto)?,
            )),
            CliKey::Remote(key) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| CliError::Service(format!("cannot start the runtime: {e}")))?;
                let asked = key.sign(policy_json.as_bytes().to_vec(), hash);
                let signed = runtime
                    .block_on(async { tokio::time::timeout(VAULT_TIMEOUT, asked).await })
                    .map_err(|_| format!("no answer within {VAULT_TIMEOUT:?}"))
                    .and_then(|r| r.map_err(|e| e.to_string()))
                    .map_err(|message| CliError::Malformed {
                        flag: "--private-key",
                        message: format!("{}: {message}", key.location()),
                    })?;
                Ok(base64cf::encode(&signed))
            }
        }
    }
}
