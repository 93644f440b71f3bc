//! The fixture files (`tests/fixtures/`), the clock, and file helpers.

use std::path::{Path, PathBuf};

use cfsign::signing::PublicKey;

/// `tests/fixtures` (stays there: benches, fuzz targets and unit tests read it).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A key in `tests/fixtures/keys`.
pub fn key_file(name: &str) -> PathBuf {
    fixtures().join("keys").join(name)
}

/// A public key of `tests/fixtures/keys`, parsed.
pub fn public(name: &str) -> PublicKey {
    PublicKey::from_pem(&std::fs::read(key_file(name)).unwrap()).unwrap()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Writes `text` to `path` atomically (write + rename), so a reload never
/// reads a half-written file.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
