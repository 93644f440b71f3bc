//! Reading what the command line points at: key files (as `path`,
//! `file://path` or `fileb://path`, like the AWS CLI), passphrase files, and
//! writing results to standard output.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::signing::{PrivateKey, PublicKey};

use super::error::CliError;

/// Key and passphrase files are small; refuse to slurp anything bigger.
const MAX_FILE: u64 = 1 << 20;

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
pub fn read_secret(what: &'static str, path: &PathBuf) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let read_err = |source| CliError::Read {
        what,
        path: path.clone(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(read_err(io::Error::new(
            io::ErrorKind::InvalidData,
            "file is larger than 1 MiB",
        )));
    }
    Ok(bytes)
}

/// Loads the signing key, decrypting it with the passphrase file's first
/// line if given, and prints its warning (e.g. RSA-1024) on stderr.
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

/// The passphrase: the file's content without its trailing newline.
fn read_passphrase(path: &PathBuf) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut bytes = read_secret("passphrase file", path)?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
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
