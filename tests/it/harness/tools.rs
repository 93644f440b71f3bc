//! Outside tools some tests drive (promtool, logrotate, Chromium, the AWS
//! signers): found here, skipped locally when missing, and a failure under
//! CI, which installs them (`.ci/run`).

use std::path::PathBuf;

/// Whether this is a CI run (`CI` set to anything but empty, `0`, `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `name` on `PATH` (or in `/usr/sbin`, where Debian puts some), or `None`
/// after saying why `what` is skipped; under CI a missing tool panics.
pub fn required(name: &str, what: &str, install: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(!in_ci(), "{name} missing; CI must install it first ({install})");
        eprintln!("skipped: {what} (no {name}; {install})");
    }
    found
}
