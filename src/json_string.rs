//! JSON strings written exactly as serde_json writes them, without its
//! byte-by-byte escape scan for the strings that need no escape: URLs, ids,
//! times and log fields, nearly all of them. serde_json cannot be told to
//! skip the scan (its `Formatter` sees the string only after it), and for a
//! signed URL answer the scan was a tenth of a signature-cache hit's
//! instructions (README, Performance).

/// Whether `s` holds a byte JSON must escape (a control character, `"` or
/// `\\`). Eight bytes at a time in a `u64` (the bit tricks below); the
/// compiler's vector code for a byte loop cost more than twice as many
/// instructions, serde_json's table lookup about six times as many.
pub fn needs_escape(s: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// The high bit of a byte of the result is set where `x`'s byte is below
    /// `n` (n <= 0x80), and may be set in bytes above one that is: exact for
    /// "is any byte below n", which is all that is asked.
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(ONES * u64::from(n)) & !x
    }
    let mut words = s.as_bytes().chunks_exact(8);
    let mut found = 0;
    for word in &mut words {
        let x = u64::from_ne_bytes(word.try_into().unwrap_or_default());
        found |= below(x, 0x20) | below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1);
    }
    found & HIGHS != 0 || words.remainder().iter().any(|&b| escapes(b))
}

fn escapes(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Appends `s` as a JSON string: between quotes as it is, or escaped by
/// serde_json when it must be.
pub fn push(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if needs_escape(s) {
        return serde_json::to_writer(out, s);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(s: &str) -> String {
        let mut out = Vec::new();
        push(&mut out, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let long = "https://d111111abcdef8.cloudfront.net/reports/2026/cost.csv?Expires=1&Signature=abc~_-";
        for s in [
            "",
            "plain",
            long,
            &format!("{long}\""),
            &format!("\\{long}"),
            &format!("{}\n{}", &long[..16], &long[16..]),
            "0123456789abcde\"",
            "0123456789abcdef\u{1f}",
            "é ✓ \u{7f} ünïcödé that is longer than sixteen bytes",
        ] {
            assert_eq!(pushed(s), serde_json::to_string(s).unwrap(), "{s:?}");
            assert_eq!(needs_escape(s), pushed(s) != format!("\"{s}\""), "{s:?}");
        }
    }

    #[test]
    fn an_escape_is_found_at_every_position_and_only_there() {
        for len in 0..40 {
            assert!(!needs_escape(&"a\u{7f}é".repeat(len)), "{len}");
            for at in 0..len {
                for escape in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                    let mut s: Vec<char> = "b".repeat(len).chars().collect();
                    s[at] = escape;
                    let s: String = s.into_iter().collect();
                    assert!(needs_escape(&s), "{s:?}");
                }
                let mut s = "c".repeat(len);
                s.replace_range(at..=at, " ");
                assert!(!needs_escape(&s), "{s:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "(.|[\"\\\\\n\u{1}])*") {
            proptest::prop_assert_eq!(pushed(&s), serde_json::to_string(&s).unwrap());
        }
    }
}
