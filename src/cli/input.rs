//! Reading what the command line points at. A key flag takes what
//! `aws cloudfront sign --private-key` takes: the PEM itself (the CI-secret
//! pattern `--private-key "$(cat k.pem)"`), `file://path` (or `fileb://`),
//! and beyond it a plain path or `-` for standard input. Passphrase files,
//! and writing results to standard output, live here too.

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::secret_file;
use crate::signing::{PrivateKey, PublicKey};

use super::error::CliError;

/// Where a key flag's PEM comes from.
#[derive(Debug)]
pub enum KeySource {
    /// The value is the PEM itself (never echoed back).
    Inline,
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl KeySource {
    /// How messages name the source: the path, or where the PEM came from.
    pub fn describe(&self, flag: &str) -> String {
        match self {
            KeySource::Inline => format!("the PEM given to {flag}"),
            KeySource::Stdin => "standard input".to_owned(),
            KeySource::File(path) => format!("{:?}", path.display().to_string()),
        }
    }
}

/// Reads a key flag's value: PEM contents, `-`, `file://path`,
/// `fileb://path` or a plain path (a leading `~/` is expanded).
pub fn read_key(
    flag: &'static str,
    what: &'static str,
    value: &str,
) -> Result<(KeySource, Zeroizing<Vec<u8>>), CliError> {
    // Anywhere, not only first: PEM exported from PKCS#12 starts with "Bag
    // Attributes" lines, and such a value must never be echoed as a path.
    if value.contains("-----BEGIN") {
        return Ok((KeySource::Inline, Zeroizing::new(value.as_bytes().to_vec())));
    }
    if value == "-" {
        let mut pem = Zeroizing::new(Vec::new());
        io::stdin()
            .take(secret_file::MAX_LEN + 1)
            .read_to_end(&mut pem)
            .map_err(|source| CliError::Read {
                what,
                from: "standard input".to_owned(),
                source,
            })?;
        return Ok((KeySource::Stdin, pem));
    }
    let path = key_path(flag, value)?;
    let pem = read_secret(what, &path)?;
    Ok((KeySource::File(path), pem))
}

/// Turns a file flag's value into a path: strips `file://` or `fileb://`
/// and expands a leading `~/`.
pub fn key_path(flag: &'static str, value: &str) -> Result<PathBuf, CliError> {
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
        from: format!("{:?}", path.display().to_string()),
        source,
    })
}

/// Loads the signing key, decrypting it with the passphrase file's
/// passphrase if given, and prints its warning (e.g. RSA-1024) on stderr.
pub fn load_private_key(value: &str, passphrase_file: Option<&str>) -> Result<PrivateKey, CliError> {
    let (source, pem) = read_key("--private-key", "private key file", value)?;
    let passphrase = match passphrase_file {
        Some(file) => Some(read_passphrase(&key_path("--passphrase-file", file)?)?),
        None => None,
    };
    let key = PrivateKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_slice())).map_err(|error| CliError::Key {
        what: "private key",
        from: source.describe("--private-key"),
        source: error,
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
        from: format!("{:?}", path.display().to_string()),
        source,
    })
}

/// Loads a public key (SPKI or PKCS#1 PEM), given as a key flag's value.
pub fn load_public_key(value: &str) -> Result<PublicKey, CliError> {
    let (source, pem) = read_key("--public-key", "public key file", value)?;
    PublicKey::from_pem(&pem).map_err(|error| CliError::Key {
        what: "public key",
        from: source.describe("--public-key"),
        source: error,
    })
}

/// Writes `text` to stdout, reporting a closed pipe instead of panicking.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Stdout)
}

/// Writes one result line as `aws cloudfront sign` does: no line ending
/// when stdout is a pipe or file (scripts get the same bytes), one on a
/// terminal (so the prompt does not follow the URL on the same line).
pub fn emit_line(text: &str) -> Result<(), CliError> {
    if io::stdout().is_terminal() {
        emit(&format!("{text}\n"))
    } else {
        emit(text)
    }
}

/// A `warning: ...` line on stderr (best effort).
pub fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "warning: {message}");
}
