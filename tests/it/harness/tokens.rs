//! Token minting: the one issuer, audience and HMAC secret every test
//! configuration trusts, and JWTs with valid defaults that a test overrides.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::fixtures::now;

pub const ISSUER: &str = "https://auth.test/";
pub const AUDIENCE: &str = "cfsign";
pub const HMAC_SECRET: &[u8] = b"test-secret-with-enough-entropy-0123456789";

/// Valid claims (`iss`, `aud`, `exp` in ten minutes, `iat`) with `claims`
/// merged over them; a `null` removes a claim.
pub fn claims(claims: Value) -> Value {
    let mut base = json!({ "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now() });
    if let (Some(b), Some(c)) = (base.as_object_mut(), claims.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// An HS256 token over [`claims`] with [`HMAC_SECRET`].
pub fn token(claims: Value) -> String {
    token_with_secret(claims, HMAC_SECRET)
}

/// An HS256 token over [`claims`] with another secret.
pub fn token_with_secret(c: Value, secret: &[u8]) -> String {
    signed(Algorithm::HS256, None, &EncodingKey::from_secret(secret), &claims(c))
}

/// A token with `alg`, optional `kid` and exactly `claims`.
pub fn signed(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

/// Subject `mailer`: may sign `/uploads/*` on `reports`.
pub fn mailer() -> String {
    token(json!({ "sub": "mailer" }))
}

/// A hand-made HS256 token, so headers and payloads can be anything
/// (duplicate members, odd types) that an encoder would not write.
pub fn raw_hs256(header: &str, payload: &str, secret: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret);
    format!("{signing_input}.{}", B64.encode(sig))
}
