//! The dev key and HMAC secret: generated in memory, or kept in a state
//! directory so they (and the tokens minted with them) survive restarts.
//! Files are written owner-only (0600) and never printed.

use std::path::Path;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::signing::{KeySpec, PrivateKey};

/// File of the dev signing key (PKCS#8 PEM) in a state directory.
pub const KEY_FILE: &str = "dev-key.pem";
/// File of the dev HMAC secret (32 raw bytes) in a state directory.
pub const SECRET_FILE: &str = "dev-hmac.secret";

/// The dev signing key and token secret.
pub struct DevSecrets {
    /// Signs CloudFront policies.
    pub key: PrivateKey,
    /// Signs and verifies dev tokens (HS256).
    pub secret: Zeroizing<Vec<u8>>,
}

impl DevSecrets {
    /// Fresh ones, in memory only.
    pub fn generate() -> Result<Self, String> {
        let key = PrivateKey::generate(KeySpec::Rsa2048).map_err(|e| e.to_string())?;
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        rand::rng().fill_bytes(&mut secret);
        Ok(Self { key, secret })
    }

    /// The ones kept in `dir`, created (with the directory) on first use.
    pub fn in_dir(dir: &Path) -> Result<Self, String> {
        let (key_path, secret_path) = (dir.join(KEY_FILE), dir.join(SECRET_FILE));
        if key_path.exists() || secret_path.exists() {
            return Self::read(dir);
        }
        let fresh = Self::generate()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let pem = fresh.key.to_pkcs8_pem().map_err(|e| e.to_string())?;
        write_private(&key_path, pem.as_bytes())?;
        write_private(&secret_path, &fresh.secret)?;
        Ok(fresh)
    }

    /// The ones kept in `dir`; an error if there are none (`dev token`
    /// needs the running service's secret, never a new one).
    pub fn read(dir: &Path) -> Result<Self, String> {
        let read = |p: &Path| crate::secret_file::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let pem = read(&dir.join(KEY_FILE))?;
        let key = PrivateKey::from_pem(&pem, None).map_err(|e| format!("{}: {e}", dir.join(KEY_FILE).display()))?;
        let secret = read(&dir.join(SECRET_FILE))?;
        if secret.len() < 32 {
            return Err(format!("{}: shorter than 32 bytes", dir.join(SECRET_FILE).display()));
        }
        Ok(Self { key, secret })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_directory_keeps_the_same_key_and_secret() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = DevSecrets::in_dir(&state).unwrap();
        let again = DevSecrets::in_dir(&state).unwrap();
        assert_eq!(first.secret, again.secret);
        assert_eq!(
            first.key.public_key().unwrap().to_pem().unwrap(),
            again.key.public_key().unwrap().to_pem().unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(state.join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
        assert!(DevSecrets::read(dir.path()).is_err(), "no state there");
    }
}
