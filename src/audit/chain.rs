//! The hash chain that makes the trail tamper-evident, and the line format.
//!
//! Every line is one JSON object: `{"audit":1,"seq":N,"time":…,<event
//! fields>,"prev":"<hex>"}`. `audit` is the schema version, `seq` counts
//! events from 1 without gaps (across files and restarts), `prev` is the
//! SHA-256 — or, with a key, the HMAC-SHA256 — of the previous line's bytes
//! (without its newline); the first line ever links to 64 zeros. An edit,
//! a deleted or reordered line breaks `seq` or `prev` at the next line.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use super::event::Event;

/// The schema version written as `"audit"` in every line.
pub const SCHEMA_VERSION: u32 = 1;

/// A 32-byte chain hash.
pub type Hash = [u8; 32];

/// What links the next line: the last line's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The last line's `seq` (0 before the first line ever).
    pub seq: u64,
    /// The last line's hash (zeros before the first line ever).
    pub hash: Hash,
}

impl Link {
    /// Before the first event of a new trail.
    pub const GENESIS: Link = Link { seq: 0, hash: [0; 32] };
}

/// How lines are hashed: SHA-256, or HMAC-SHA256 under a secret key.
#[derive(Clone)]
pub struct Hasher {
    key: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("keyed", &self.key.is_some()).finish()
    }
}

impl Hasher {
    /// Plain SHA-256.
    pub fn sha256() -> Self {
        Self { key: None }
    }

    /// HMAC-SHA256 under `key`.
    pub fn keyed(key: zeroize::Zeroizing<Vec<u8>>) -> Self {
        Self { key: Some(key) }
    }

    /// The hash of one line's bytes (without the newline).
    pub fn hash(&self, line: &[u8]) -> Hash {
        match &self.key {
            None => Sha256::digest(line).into(),
            Some(key) => {
                // A key of any length is valid for HMAC.
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
                mac.update(line);
                mac.finalize().into_bytes().into()
            }
        }
    }
}

/// Appends `event` as the line after `link` (newline included) and returns
/// the new link.
pub fn append(out: &mut Vec<u8>, link: Link, event: &Event, hasher: &Hasher) -> Link {
    let start = out.len();
    let seq = link.seq + 1;
    out.extend_from_slice(b"{\"audit\":");
    out.extend_from_slice(itoa::Buffer::new().format(SCHEMA_VERSION).as_bytes());
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"time\":\"");
    out.extend_from_slice(rfc3339_ms(event.at_ms).as_bytes());
    out.extend_from_slice(b"\",");
    // An `Event` always serialises as an object with at least `event`:
    // its fields go between the trail's own, without its braces.
    let fields_at = out.len();
    serde_json::to_writer(&mut *out, event).expect("an event always serialises");
    out.remove(fields_at);
    out.pop();
    out.extend_from_slice(b",\"prev\":\"");
    let mut prev = [0u8; 64];
    hex::encode_to_slice(link.hash, &mut prev).expect("32 bytes are 64 hex digits");
    out.extend_from_slice(&prev);
    out.extend_from_slice(b"\"}");
    let hash = hasher.hash(&out[start..]);
    out.push(b'\n');
    Link { seq, hash }
}

/// `2026-12-01T23:00:00.123Z` for epoch milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// The chain fields of one line, if it is an audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `seq`.
    pub seq: u64,
    /// `prev`, decoded.
    pub prev: Hash,
}

/// Reads the chain fields of `line`: `None` when it is not a JSON object
/// with `"audit"`, and `Err` with the reason when it claims to be an audit
/// line but its chain fields are unreadable.
pub fn parse(line: &[u8]) -> Option<Result<Parsed, String>> {
    #[derive(serde::Deserialize)]
    struct Fields {
        audit: Option<u64>,
        seq: Option<u64>,
        prev: Option<String>,
    }
    let fields: Fields = serde_json::from_slice(line).ok()?;
    let version = fields.audit?;
    Some(check_fields(version, fields.seq, fields.prev.as_deref()))
}

fn check_fields(version: u64, seq: Option<u64>, prev: Option<&str>) -> Result<Parsed, String> {
    if version != u64::from(SCHEMA_VERSION) {
        return Err(format!("schema version {version} is not {SCHEMA_VERSION}"));
    }
    let seq = seq.ok_or("no \"seq\"")?;
    let prev = prev.ok_or("no \"prev\"")?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(prev, &mut hash).map_err(|_| "\"prev\" is not 64 hex digits".to_owned())?;
    Ok(Parsed { seq, prev: hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::outage(1_764_630_000_123, "disk full", 3)
    }

    #[test]
    fn lines_carry_version_seq_time_and_the_previous_hash() {
        let hasher = Hasher::sha256();
        let mut out = Vec::new();
        let first = append(&mut out, Link::GENESIS, &event(), &hasher);
        let second = append(&mut out, first, &event(), &hasher);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["audit"], 1);
        assert_eq!(v["seq"], 1);
        assert_eq!(v["since"], "2025-12-01T23:00:00.123Z");
        let time = v["time"].as_str().unwrap();
        assert_eq!(
            (time.len(), &time[10..11], &time[19..20], &time[23..]),
            (24, "T", ".", "Z")
        );
        assert_eq!(v["event"], "audit_outage");
        assert_eq!(v["prev"], "0".repeat(64));
        let parsed = parse(lines[1].as_bytes()).unwrap().unwrap();
        assert_eq!(parsed.seq, 2);
        assert_eq!(parsed.prev, first.hash);
        assert_eq!(first.hash, hasher.hash(lines[0].as_bytes()));
        assert_eq!(second.seq, 2);
    }

    #[test]
    fn a_key_changes_every_hash() {
        let line = b"{\"audit\":1}";
        assert_ne!(
            Hasher::sha256().hash(line),
            Hasher::keyed(vec![7; 32].into()).hash(line)
        );
        assert_ne!(
            Hasher::keyed(vec![7; 32].into()).hash(line),
            Hasher::keyed(vec![8; 32].into()).hash(line)
        );
    }

    #[test]
    fn non_audit_lines_are_skipped_and_broken_ones_named() {
        assert_eq!(parse(b"{\"level\":\"INFO\"}"), None);
        assert_eq!(parse(b"not json"), None);
        assert!(parse(b"{\"audit\":2,\"seq\":1,\"prev\":\"00\"}").unwrap().is_err());
        assert!(parse(b"{\"audit\":1,\"seq\":1,\"prev\":\"zz\"}").unwrap().is_err());
    }
}
