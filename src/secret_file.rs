//! Reading secret files (private keys, passphrases): whole, at most 1 MiB,
//! into memory that is wiped on drop. [`read_passphrase`] holds the one rule
//! for passphrase files (one trailing line ending dropped).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use zeroize::Zeroizing;

/// Key and passphrase files are small; anything bigger is refused.
pub const MAX_LEN: u64 = 1 << 20;

/// The whole file, refused (`InvalidData`) when larger than [`MAX_LEN`].
pub fn read(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = File::open(path)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "file is larger than 1 MiB"));
    }
    Ok(bytes)
}

/// A passphrase file's passphrase: the file as [`read`] gives it, without one
/// trailing line ending (`\n` or `\r\n`, as editors and `echo` add). Anything
/// else, further newlines and spaces included, is part of the passphrase.
pub fn read_passphrase(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = read(path)?;
    strip_line_ending(&mut bytes);
    Ok(bytes)
}

/// A warning when a private key file can be read by its group or by others
/// (`chmod 600` it; in Kubernetes, `defaultMode: 0400` on the secret volume).
/// The service warns at load, the CLI before signing.
pub fn readable_by_others(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} is readable by group or others (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Drops one trailing `\n` or `\r\n`.
fn strip_line_ending(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(text: &[u8]) -> Vec<u8> {
        let mut bytes = text.to_vec();
        strip_line_ending(&mut bytes);
        bytes
    }

    #[test]
    fn one_line_ending_is_dropped() {
        assert_eq!(stripped(b"secret"), b"secret");
        assert_eq!(stripped(b"secret\n"), b"secret");
        assert_eq!(stripped(b"secret\r\n"), b"secret");
        assert_eq!(stripped(b"secret\n\n"), b"secret\n");
        assert_eq!(stripped(b"secret\r"), b"secret\r");
        assert_eq!(stripped(b"secret \n"), b"secret ");
        assert_eq!(stripped(b"\n"), b"");
    }

    #[test]
    fn reads_a_passphrase_file_and_refuses_big_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "correct horse\r\n").unwrap();
        assert_eq!(read_passphrase(&path).unwrap().as_slice(), b"correct horse");
        std::fs::write(&path, vec![b'a'; MAX_LEN as usize + 1]).unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(read(&dir.path().join("missing")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(readable_by_others(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let warning = readable_by_others(&path).unwrap();
        assert!(
            warning.contains("mode 640") && warning.contains("chmod 600"),
            "{warning}"
        );
    }
}
