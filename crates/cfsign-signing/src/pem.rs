//! The one scan over PEM text: where each `-----BEGIN <label>-----` block
//! starts and what its label is. [`keys`](super::keys) uses it to refuse the
//! wrong kind of PEM before any parsing; the RustCrypto backend uses it to find
//! the block it decodes.

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// The blocks of `text`, in order, as `(label, block)`: `block` runs from its
/// `-----BEGIN` line to the end of `text`. The scan stops at a `-----BEGIN `
/// with no closing dashes.
pub(crate) fn blocks(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(BEGIN)?;
        let block = &rest[start..];
        let after = &block[BEGIN.len()..];
        let label_len = after.find(DASHES)?;
        rest = &after[label_len..];
        Some((&after[..label_len], block))
    })
}

/// The label of the first block that holds a key (`PRIVATE KEY`,
/// `EC PRIVATE KEY`, ...), else of the first block. Blocks such as
/// `EC PARAMETERS`, which `openssl ecparam -genkey` writes before the key, are
/// skipped. `None` when `pem` is not UTF-8 or has no block.
pub(crate) fn key_label(pem: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(pem).ok()?;
    let mut first = None;
    for (label, _) in blocks(text) {
        if label.ends_with("KEY") {
            return Some(label);
        }
        first.get_or_insert(label);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pem_labels() {
        assert_eq!(
            key_label(b"-----BEGIN EC PRIVATE KEY-----\nAAA\n"),
            Some("EC PRIVATE KEY")
        );
        assert_eq!(key_label(b"garbage"), None);
        let ecparam = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nAA\n";
        assert_eq!(key_label(ecparam), Some("EC PRIVATE KEY"));
        let cert = b"-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n";
        assert_eq!(key_label(cert), Some("CERTIFICATE"));
    }

    #[test]
    fn blocks_start_at_their_begin_line() {
        let text = "x\n-----BEGIN A-----\n1\n-----END A-----\n-----BEGIN B KEY-----\n2\n";
        let found: Vec<_> = blocks(text).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "A");
        assert!(found[0].1.starts_with("-----BEGIN A-----\n1\n"));
        assert_eq!(found[1], ("B KEY", "-----BEGIN B KEY-----\n2\n"));
        assert_eq!(blocks("-----BEGIN unterminated").count(), 0);
    }
}
