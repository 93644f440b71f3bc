//! RFC 7512 PKCS#11 URIs (`pkcs11:token=cf;object=reports-2026?module-path=…`),
//! parsed strictly: every attribute cfsign does not act on is refused rather
//! than ignored (an ignored `serial=` could pick the wrong token), values are
//! percent-decoded with bad escapes refused, and a PIN in the URI
//! (`pin-value`) is refused: a PIN in a configuration file is a secret in
//! the wrong place. Compiled without the `pkcs11` feature too, so the
//! configuration is checked (and PINs kept out of messages) in any build.

use std::fmt;
use std::path::PathBuf;

/// A parsed `pkcs11:` URI: which token, which key on it, and which module.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer id.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot, by number.
    pub slot_id: Option<u64>,
    /// `slot-description`.
    pub slot_description: Option<String>,
    /// `slot-manufacturer`.
    pub slot_manufacturer: Option<String>,
    /// `object`: the key's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID`, raw bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: a `file:` URI naming the file with the user PIN.
    pub pin_source: Option<PathBuf>,
}

/// Why a `pkcs11:` URI was refused: one line, never containing a PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UriError {}

fn err(message: impl Into<String>) -> UriError {
    UriError(message.into())
}

/// Characters RFC 7512 allows unescaped in a path attribute value
/// (`pk11-pchar`, besides unreserved and `%XX`).
const PATH_EXTRA: &[u8] = b":[]@!$'()*+,=&";
/// … and in a query attribute value (`pk11-qchar`).
const QUERY_EXTRA: &[u8] = b"/?|:[]@!$'()*+,;=";

impl Pkcs11Uri {
    /// Parses `text`. Refuses unknown or repeated attributes, bad `%`
    /// escapes, characters RFC 7512 wants escaped, `pin-value`, and the
    /// attributes cfsign cannot honour (`type` other than `private`,
    /// `module-name`, the `library-*` ones).
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| err("a PKCS#11 URI starts with \"pkcs11:\" (RFC 7512)"))?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        let mut seen: Vec<String> = Vec::new();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, raw) = attr
                .split_once('=')
                .ok_or_else(|| err(format!("path attribute {:?} has no \"=value\"", shorten(attr))))?;
            once(&mut seen, name)?;
            let value = decode(raw, PATH_EXTRA).map_err(|e| err(format!("{name}: {e}")))?;
            match name {
                "token" => uri.token = Some(utf8(name, value)?),
                "manufacturer" => uri.manufacturer = Some(utf8(name, value)?),
                "model" => uri.model = Some(utf8(name, value)?),
                "serial" => uri.serial = Some(utf8(name, value)?),
                "slot-description" => uri.slot_description = Some(utf8(name, value)?),
                "slot-manufacturer" => uri.slot_manufacturer = Some(utf8(name, value)?),
                "object" => uri.object = Some(utf8(name, value)?),
                "id" => {
                    if value.is_empty() {
                        return Err(err("id: empty (leave it out to match by object label)"));
                    }
                    uri.id = Some(value);
                }
                "slot-id" => {
                    let text = utf8(name, value)?;
                    let id = text
                        .parse::<u64>()
                        .map_err(|_| err(format!("slot-id: {:?} is not a decimal number", shorten(&text))))?;
                    uri.slot_id = Some(id);
                }
                "type" => match utf8(name, value)?.as_str() {
                    "private" => {}
                    other => {
                        return Err(err(format!(
                            "type={}: cfsign signs with a private key; use type=private or leave it out",
                            shorten(other)
                        )));
                    }
                },
                "library-manufacturer" | "library-description" | "library-version" => {
                    return Err(err(format!(
                        "{name} is not supported: name the module with ?module-path=…"
                    )));
                }
                other => {
                    return Err(err(format!(
                        "unknown path attribute {:?} (cfsign knows token, manufacturer, model, serial, \
                         slot-id, slot-description, slot-manufacturer, object, id, type)",
                        shorten(other)
                    )));
                }
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty()) {
            let (name, raw) = attr.split_once('=').unwrap_or((attr, ""));
            if name == "pin-value" {
                // Before anything else, and without echoing the value.
                return Err(err(
                    "pin-value is refused: a PIN in the configuration is a secret in the wrong place; \
                     put it in a file readable only by cfsign and name it with pin_file (or --pin-file)",
                ));
            }
            once(&mut seen, name)?;
            let value = decode(raw, QUERY_EXTRA).map_err(|e| err(format!("{name}: {e}")))?;
            match name {
                "module-path" => {
                    let path = PathBuf::from(utf8(name, value)?);
                    if !path.is_absolute() {
                        return Err(err(format!(
                            "module-path must be an absolute path, got {:?}",
                            shorten(&path.display().to_string())
                        )));
                    }
                    uri.module_path = Some(path);
                }
                "pin-source" => uri.pin_source = Some(pin_source(&utf8(name, value)?)?),
                "module-name" => {
                    return Err(err(
                        "module-name is not supported: give the module's file with ?module-path=/path/to/module.so",
                    ));
                }
                other => {
                    return Err(err(format!(
                        "unknown query attribute {:?} (cfsign knows module-path and pin-source)",
                        shorten(other)
                    )));
                }
            }
        }
        Ok(uri)
    }
}

/// `text` with the value of every `pin-value` attribute replaced, in the
/// path as in the query, whatever the name's case or percent-escapes: for
/// messages, since a URI with a PIN in it is refused and the refusal must
/// not print the PIN.
pub fn redact(text: &str) -> String {
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let path = redact_attributes(path, ';');
    match query {
        Some(query) => format!("{path}?{}", redact_attributes(query, '&')),
        None => path,
    }
}

/// `attributes` (joined by `separator`) with any `pin-value`'s value replaced.
fn redact_attributes(attributes: &str, separator: char) -> String {
    let pieces: Vec<String> = attributes
        .split(separator)
        .map(|a| {
            let name = a.split_once('=').map_or(a, |(n, _)| n);
            let name = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            if name.trim_start_matches("pkcs11:").trim() == "pin-value" {
                let prefix = if a.starts_with("pkcs11:") { "pkcs11:" } else { "" };
                format!("{prefix}pin-value=(redacted)")
            } else {
                a.to_owned()
            }
        })
        .collect();
    pieces.join(&separator.to_string())
}

fn once(seen: &mut Vec<String>, name: &str) -> Result<(), UriError> {
    if seen.iter().any(|s| s == name) {
        return Err(err(format!("attribute {:?} is given twice", shorten(name))));
    }
    seen.push(name.to_owned());
    Ok(())
}

fn utf8(name: &str, value: Vec<u8>) -> Result<String, UriError> {
    String::from_utf8(value).map_err(|_| err(format!("{name}: not UTF-8 once percent-decoded")))
}

/// `file:` URIs only (`file:/p`, `file:///p`, `file://localhost/p`).
fn pin_source(value: &str) -> Result<PathBuf, UriError> {
    let path = value
        .strip_prefix("file://localhost")
        .or_else(|| value.strip_prefix("file://"))
        .or_else(|| value.strip_prefix("file:"))
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| err("pin-source must be a file: URI with an absolute path (file:/run/secrets/pin)"))?;
    Ok(PathBuf::from(path))
}

/// Percent-decodes `raw`, refusing `%` not followed by two hex digits and
/// characters outside unreserved, `%XX` and `extra`.
fn decode(raw: &str, extra: &[u8]) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                let h = std::str::from_utf8(h).ok()?;
                u8::from_str_radix(h, 16)
                    .ok()
                    .filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
            });
            out.push(hex.ok_or_else(|| format!("bad percent escape at byte {i} (want %XX with two hex digits)"))?);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b) {
            out.push(b);
            i += 1;
        } else {
            let shown = raw[i..].chars().next().unwrap_or('?');
            return Err(format!(
                "character {shown:?} must be percent-encoded (RFC 7512), e.g. a space as %20"
            ));
        }
    }
    Ok(out)
}

/// At most 40 characters of hostile input in a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let uri = Pkcs11Uri::parse("pkcs11:token=cf;object=reports-2026?module-path=/usr/lib/softhsm/libsofthsm2.so")
            .unwrap();
        assert_eq!(uri.token.as_deref(), Some("cf"));
        assert_eq!(uri.object.as_deref(), Some("reports-2026"));
        assert_eq!(uri.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(uri.id, None);
    }

    #[test]
    fn decodes_percent_escapes_ids_and_every_supported_attribute() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0123abcd;\
             slot-id=7;slot-description=a%3Bb;slot-manufacturer=x;object=k%C3%A9y;id=%01%FF%a0;type=private\
             ?module-path=/opt/my%20hsm/lib.so&pin-source=file:///run/secrets/pin",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.manufacturer.as_deref(), Some("SoftHSM project"));
        assert_eq!(uri.model.as_deref(), Some("SoftHSM v2"));
        assert_eq!(uri.serial.as_deref(), Some("0123abcd"));
        assert_eq!(uri.slot_id, Some(7));
        assert_eq!(uri.slot_description.as_deref(), Some("a;b"));
        assert_eq!(uri.object.as_deref(), Some("kéy"));
        assert_eq!(uri.id, Some(vec![0x01, 0xff, 0xa0]));
        assert_eq!(uri.module_path, Some(PathBuf::from("/opt/my hsm/lib.so")));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/run/secrets/pin")));
        for source in ["file:/p/pin", "file://localhost/p/pin", "file:///p/pin"] {
            let uri = Pkcs11Uri::parse(&format!("pkcs11:object=k?pin-source={source}")).unwrap();
            assert_eq!(uri.pin_source, Some(PathBuf::from("/p/pin")), "{source}");
        }
        assert_eq!(Pkcs11Uri::parse("pkcs11:").unwrap(), Pkcs11Uri::default());
    }

    #[test]
    fn refuses_hostile_and_unsupported_input_with_one_clear_line() {
        let cases = [
            ("token=cf", "starts with \"pkcs11:\""),
            ("pkcs11:tokn=cf", "unknown path attribute \"tokn\""),
            ("pkcs11:x-vendor=1", "unknown path attribute"),
            ("pkcs11:token=cf;token=other", "given twice"),
            ("pkcs11:token", "no \"=value\""),
            ("pkcs11:token=a%zzb", "bad percent escape"),
            ("pkcs11:token=a%4", "bad percent escape"),
            ("pkcs11:token=a%", "bad percent escape"),
            ("pkcs11:token=a%+1", "bad percent escape"),
            ("pkcs11:token=a b", "must be percent-encoded"),
            ("pkcs11:token=é", "must be percent-encoded"),
            ("pkcs11:object=a/b", "must be percent-encoded"),
            ("pkcs11:object=%FF%FE", "not UTF-8"),
            ("pkcs11:id=", "id: empty"),
            ("pkcs11:slot-id=-1", "not a decimal number"),
            ("pkcs11:slot-id=99999999999999999999999", "not a decimal number"),
            ("pkcs11:type=cert", "type=cert"),
            ("pkcs11:library-version=1", "not supported"),
            ("pkcs11:object=k?module-name=softhsm2", "module-name is not supported"),
            ("pkcs11:object=k?module-path=lib.so", "absolute path"),
            ("pkcs11:object=k?pin-source=https://x/pin", "file: URI"),
            ("pkcs11:object=k?pin-source=file:relative", "file: URI"),
            ("pkcs11:object=k?bogus=1", "unknown query attribute \"bogus\""),
            ("pkcs11:object=k?module-path=/a&module-path=/b", "given twice"),
        ];
        for (text, expected) in cases {
            let e = Pkcs11Uri::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains('\n'), "{text}: one line: {e}");
        }
        let long = format!("pkcs11:{}=1", "a".repeat(5000));
        assert!(Pkcs11Uri::parse(&long).unwrap_err().to_string().len() < 300);
    }

    #[test]
    fn a_pin_value_is_refused_and_never_echoed() {
        for text in [
            "pkcs11:object=k?pin-value=hunter2",
            "pkcs11:object=k?module-path=/m.so&pin-value=hunter2",
            "pkcs11:object=k?pin-value=hunter2&pin-value=hunter2",
        ] {
            let e = Pkcs11Uri::parse(text).unwrap_err().to_string();
            assert!(e.contains("secret in the wrong place") && e.contains("pin_file"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
            assert!(!redact(text).contains("hunter2"), "{}", redact(text));
        }
        assert_eq!(
            redact("pkcs11:token=a?module-path=/m.so"),
            "pkcs11:token=a?module-path=/m.so"
        );
        assert_eq!(redact("pkcs11:token=a"), "pkcs11:token=a");
        // In the path too, in any case or escaped: the PIN is never echoed.
        for text in [
            "pkcs11:object=k;pin-value=hunter2?module-path=/m.so",
            "pkcs11:pin-value=hunter2;object=k",
            "pkcs11:object=k;PIN-Value=hunter2",
            "pkcs11:object=k;pin%2Dvalue=hunter2",
            "pkcs11:object=k?PIN-VALUE=hunter2",
        ] {
            assert!(!redact(text).contains("hunter2"), "{}", redact(text));
            if let Err(e) = Pkcs11Uri::parse(text) {
                assert!(!e.to_string().contains("hunter2"), "{e}");
            }
        }
        assert_eq!(redact("pkcs11:object=k;token=t"), "pkcs11:object=k;token=t");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(text in "pkcs11:[%=;?&a-fz0-9é ./\\-]{0,48}") {
            if let Err(e) = Pkcs11Uri::parse(&text) {
                proptest::prop_assert!(!e.to_string().is_empty());
            }
            let _ = redact(&text);
        }
    }
}
