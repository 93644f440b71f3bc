//! Reading what the command line points at: key files (as `path`,
//! `file://path` or `fileb://path`, like the AWS CLI), passphrase files, and
//! writing results to standard output.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::secret_file;
use crate::signing::{PrivateKey, PublicKey};

use super::error::CliError;

/// Turns a `--private-key`-style value into a path: strips `file://` or
/// `fileb://`, expands a leading `~/`, and refuses a pasted PEM key.
pub fn key_path(flag: &'static str, value: &str) -> Result<PathBuf, CliError> {
    if value.contains("-----BEGIN") {
        return Err(CliError::InlineKey { flag });
    }
    let path = value
        .strip_prefix("file://")
        .or_else(|| value.strip_prefix("fileb://"))
        .unwrap_or(value);
    if path.is_empty() {
        return Err(CliError::Malformed {
            flag,
            message: "empty file path".to_owned(),
        });
    }
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Ok(PathBuf::from(home).join(rest)),
        _ => Ok(PathBuf::from(path)),
    }
}

/// Reads a whole (small) file into memory that is wiped on drop.
pub fn read_secret(what: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    secret_file::read(path).map_err(|source| CliError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Loads the signing key, decrypting it with the passphrase file's
/// passphrase if given, and prints its warning (e.g. RSA-1024) on stderr.
pub fn load_private_key(value: &str, passphrase_file: Option<&str>) -> Result<PrivateKey, CliError> {
    let path = key_path("--private-key", value)?;
    let pem = read_secret("private key file", &path)?;
    let passphrase = match passphrase_file {
        Some(file) => Some(read_passphrase(&key_path("--passphrase-file", file)?)?),
        None => None,
    };
    let key =
        PrivateKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_slice())).map_err(|source| CliError::Key {
            what: "private key",
            path,
            source,
        })?;
    if let Some(warning) = key.warning() {
        warn(warning);
    }
    Ok(key)
}

/// The passphrase: the file without one trailing `\n` or `\r\n`
/// ([`secret_file::read_passphrase`]).
fn read_passphrase(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    secret_file::read_passphrase(path).map_err(|source| CliError::Read {
        what: "passphrase file",
        path: path.to_path_buf(),
        source,
    })
}

/// Loads a public key (SPKI or PKCS#1 PEM).
pub fn load_public_key(value: &str) -> Result<PublicKey, CliError> {
    let path = key_path("--public-key", value)?;
    let pem = read_secret("public key file", &path)?;
    PublicKey::from_pem(&pem).map_err(|source| CliError::Key {
        what: "public key",
        path,
        source,
    })
}

/// Writes `text` to stdout, reporting a closed pipe instead of panicking.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// A `warning: ...` line on stderr (best effort).
pub fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {message}");
}
