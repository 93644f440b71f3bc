//! When a configuration file does not deserialise, every problem in it at
//! once. serde stops at the first bad field, so a minimal config with three
//! mistakes took three starts; here each section and each array entry is
//! read on its own (one mistake does not hide the next), every required key
//! that is missing is named, and each problem carries the file and line.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::model::{AuthConfig, CorsConfig, DistributionConfig, GrantConfig, ServerConfig, SigningConfig};

/// The tables that may be left out (every key has a default), and all
/// top-level tables: one list each, so a new section cannot be called an
/// unknown key here while the loader takes it.
const OPTIONAL_TABLES: [&str; 4] = ["server", "signing", "cors", "audit"];
const TABLES: [&str; 7] = ["server", "signing", "auth", "cors", "audit", "distributions", "grants"];

/// Keys without a default, per table.
/// `[auth]` in the single-issuer form (`issuers = ["…"]`); with
/// `[[auth.issuers]]` tables, audiences and algorithms may live there.
const REQUIRED_AUTH: [&str; 3] = ["issuers", "audiences", "algorithms"];
const REQUIRED_AUTH_PER_ISSUER: [&str; 1] = ["issuers"];
const REQUIRED_DISTRIBUTION: [&str; 3] = ["name", "domain", "keys"];
/// A key also needs one source (`private_key_file`, `pkcs11` or `kms`):
/// checked when the entry is read (`config::model::RawSigningKey`).
const REQUIRED_KEY: [&str; 1] = ["key_pair_id"];
const KEY_SOURCES: [&str; 3] = ["private_key_file", "pkcs11", "kms"];
const REQUIRED_GRANT: [&str; 4] = ["name", "distributions", "allow", "max_ttl"];

/// Accepted forms of a duration, for messages about one.
const DURATIONS: &str = "durations are strings like \"30s\", \"5m\", \"1h 30m\", \"7d\"";

/// Every problem found in `text` (the file at `path`), or none when this
/// reading finds nothing (the caller then reports what figment said).
pub fn problems(path: &Path, text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let d = Diagnosis { file: path, text };
    let empty = toml::Value::Table(toml::Table::new());
    for name in OPTIONAL_TABLES {
        d.check(
            &mut out,
            &format!("[{name}]"),
            doc.get(name).unwrap_or(&empty),
            &format!("[{name}]"),
            &[],
            name,
        );
    }
    match doc.get("auth") {
        Some(auth) => {
            let tables = auth
                .get("issuers")
                .and_then(|i| i.as_array())
                .is_some_and(|i| i.iter().any(toml::Value::is_table));
            let required: &[&str] = if tables {
                &REQUIRED_AUTH_PER_ISSUER
            } else {
                &REQUIRED_AUTH
            };
            d.check(&mut out, "[auth]", auth, "[auth]", required, "auth");
        }
        None => out.push(format!("{}: missing required table [auth]", path.display())),
    }
    for (i, dist) in entries(&doc, "distributions").iter().enumerate() {
        let table = format!("distributions[{i}]");
        d.check(
            &mut out,
            &table,
            dist,
            "[[distributions]]",
            &REQUIRED_DISTRIBUTION,
            "distribution",
        );
        for (j, k) in dist
            .get("keys")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{table}.keys[{j}]");
            d.check(&mut out, &at, k, "keys", &REQUIRED_KEY, "key");
            if k.as_table()
                .is_some_and(|t| !KEY_SOURCES.iter().any(|s| t.contains_key(*s)))
            {
                out.push(format!(
                    "{}: {at}: missing required key \"private_key_file\" (or \"pkcs11\" for a key on a token, \
                     \"kms\" for an AWS KMS key)",
                    d.at("keys")
                ));
            }
        }
    }
    for (i, g) in entries(&doc, "grants").iter().enumerate() {
        d.check(
            &mut out,
            &format!("grants[{i}]"),
            g,
            "[[grants]]",
            &REQUIRED_GRANT,
            "grant",
        );
    }
    for key in doc.keys() {
        if !TABLES.contains(&key.as_str()) {
            out.push(format!("{}: unknown table or key {key:?}", d.at(key)));
        }
    }
    out
}

/// The file being diagnosed.
struct Diagnosis<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Diagnosis<'_> {
    /// `file:line` of where `key` is first set, or the file alone.
    fn at(&self, key: &str) -> String {
        match line_of(self.text, key) {
            Some(n) => format!("{}:{n}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }

    /// Missing required keys of `value`, then its first type problem.
    fn check(
        &self,
        out: &mut Vec<String>,
        table: &str,
        value: &toml::Value,
        header: &str,
        required: &[&str],
        what: &str,
    ) {
        if let Some(t) = value.as_table() {
            for key in required.iter().filter(|k| !t.contains_key(**k)) {
                out.push(format!("{}: {table}: missing required key {key:?}", self.at(header)));
            }
        }
        if let Some(e) = type_error(what, value) {
            let hint = if e.contains("duration") {
                format!(" ({DURATIONS})")
            } else {
                String::new()
            };
            out.push(format!("{}: {table}: {e}{hint}", self.at(header)));
        }
    }
}

fn entries<'d>(doc: &'d toml::Table, name: &str) -> &'d [toml::Value] {
    doc.get(name).and_then(|v| v.as_array()).map_or(&[], Vec::as_slice)
}

/// The first problem serde finds in `value` read as the table `what` is,
/// with the missing-key ones left out (listed all at once by the caller).
fn type_error(what: &str, value: &toml::Value) -> Option<String> {
    fn first<T: DeserializeOwned>(value: &toml::Value) -> Option<String> {
        T::deserialize(value.clone())
            .err()
            .map(|e| e.message().trim().to_owned())
    }
    let e = match what {
        "server" => first::<ServerConfig>(value),
        "signing" => first::<SigningConfig>(value),
        "cors" => first::<CorsConfig>(value),
        "audit" => first::<super::AuditConfig>(value),
        "auth" => first::<AuthConfig>(value),
        // Its keys are read one by one ("key"), each problem at its line.
        "distribution" => {
            let mut value = value.clone();
            if let Some(t) = value.as_table_mut() {
                t.remove("keys");
            }
            first::<DistributionConfig>(&value)
        }
        "key" => first::<super::SigningKeyConfig>(value),
        "grant" => first::<GrantConfig>(value),
        _ => None,
    }?;
    (!e.starts_with("missing field")).then_some(e)
}

/// The 1-based line where `key` is first set (`key =`, or a table header).
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && (key.starts_with('[') || l[key.len()..].trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_has_no_problem_and_every_table_it_documents_is_known() {
        let text = include_str!("../../config/example.toml");
        assert_eq!(problems(Path::new("example.toml"), text), Vec::<String>::new());
        let doc: toml::Table = text.parse().unwrap();
        for key in doc.keys() {
            assert!(TABLES.contains(&key.as_str()), "{key}");
        }
        assert!(doc.contains_key("audit"));
    }

    #[test]
    fn a_bad_audit_table_is_diagnosed_with_its_line() {
        let text =
            "[auth]\nissuers = [\"i\"]\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\n\n[audit]\nsink = \"syslog\"\n";
        let p = problems(Path::new("c.toml"), text).join("\n");
        assert!(p.contains("c.toml:6: [audit]") && p.contains("syslog"), "{p}");
    }

    #[test]
    fn a_minimal_config_with_three_mistakes_gets_three_problems_in_one_reading() {
        let text = "[server]\nrequest_timeout = 10\n\n[auth]\nissuers = [\"i\"]\n\n[[distributions]]\nname = \"d\"\n";
        let p = problems(Path::new("c.toml"), text);
        let all = p.join("\n");
        assert!(all.contains("c.toml:1: [server]") && all.contains("\"30s\""), "{all}");
        assert!(
            all.contains("c.toml:4: [auth]: missing required key \"audiences\""),
            "{all}"
        );
        assert!(all.contains("[auth]: missing required key \"algorithms\""), "{all}");
        assert!(
            all.contains("distributions[0]: missing required key \"domain\""),
            "{all}"
        );
        assert!(all.contains("distributions[0]: missing required key \"keys\""), "{all}");
    }

    #[test]
    fn unknown_keys_and_missing_tables_are_named_with_their_line() {
        let p = problems(Path::new("c.toml"), "listen_port = 8080\n").join("\n");
        assert!(p.contains("c.toml:1: unknown table or key \"listen_port\""), "{p}");
        assert!(p.contains("missing required table [auth]"), "{p}");
        assert!(problems(Path::new("c.toml"), "not toml [").is_empty());
    }
}
