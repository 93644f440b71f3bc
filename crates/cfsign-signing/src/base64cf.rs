//! CloudFront's base64 flavour: standard base64 *with* padding, then
//! `+` → `-`, `=` → `_`, `/` → `~`. It is not RFC 4648 base64url.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Encodes bytes the way CloudFront expects `Policy` and `Signature` values.
pub fn encode(bytes: &[u8]) -> String {
    // Replaced in place, byte for byte: every byte of base64 is ASCII, and
    // so is every replacement.
    let mut text = STANDARD.encode(bytes).into_bytes();
    for b in &mut text {
        *b = match *b {
            b'+' => b'-',
            b'=' => b'_',
            b'/' => b'~',
            other => other,
        };
    }
    String::from_utf8(text).expect("base64 with ASCII replacements is ASCII")
}

/// Decodes a CloudFront-base64 value. Returns `None` for anything that is not
/// exactly CloudFront base64 (standard alphabet characters are refused too, so
/// a value that went through an unrelated encoder is reported, not guessed at).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if text.bytes().any(|b| matches!(b, b'+' | b'=' | b'/')) {
        return None;
    }
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    STANDARD.decode(standard).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_all_three_characters_and_keeps_padding() {
        // 0xfb 0xff encodes to "+/8=" in standard base64.
        assert_eq!(encode(&[0xfb, 0xff]), "-~8_");
        assert_eq!(decode("-~8_"), Some(vec![0xfb, 0xff]));
    }

    #[test]
    fn refuses_standard_alphabet_specials() {
        assert_eq!(decode("+/8="), None);
        assert_eq!(decode("not base64!"), None);
    }
}
