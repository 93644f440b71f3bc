//! RS256/RS384/RS512 and ES256/ES384 token signatures checked with OpenSSL.
//!
//! jsonwebtoken's `rust_crypto` provider verifies an RS256 token in ~310 µs
//! on the benchmark machine (pure-Rust `rsa` 0.9), and tokens that fail are
//! never cached: anyone could spend that much of the runtime thread per
//! request with made-up tokens. OpenSSL verifies the same signature in
//! tens of microseconds. Only the signature check moves here; parsing,
//! claims, algorithm/key-family matching stay jsonwebtoken's, and every
//! other algorithm (HMAC, PS*, EdDSA), signing and JWK helpers are
//! delegated to the `rust_crypto` provider unchanged.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::signature::Error as SignatureError;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;

/// Makes this provider jsonwebtoken's process default, and says whether it
/// is. Idempotent; if jsonwebtoken already settled on its own default (a
/// token was signed or checked before), that one stays: slower, equally correct.
pub fn install() -> bool {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        verifier_factory: new_verifier,
        ..rust_crypto::DEFAULT_PROVIDER.clone()
    });
    match provider.install_default() {
        Ok(()) => true,
        Err(current) => std::ptr::eq(current, provider),
    }
}

/// OpenSSL for RSA PKCS#1 v1.5 and ECDSA; the `rust_crypto` provider otherwise.
fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let (digest, kind) = match algorithm {
        Algorithm::RS256 => (MessageDigest::sha256(), Kind::Rsa),
        Algorithm::RS384 => (MessageDigest::sha384(), Kind::Rsa),
        Algorithm::RS512 => (MessageDigest::sha512(), Kind::Rsa),
        Algorithm::ES256 => (MessageDigest::sha256(), Kind::Ec(Nid::X9_62_PRIME256V1, 32)),
        Algorithm::ES384 => (MessageDigest::sha384(), Kind::Ec(Nid::SECP384R1, 48)),
        _ => return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key),
    };
    let public = match kind {
        Kind::Rsa => rsa_key(key),
        Kind::Ec(curve, _) => ec_key(key, curve),
    }
    .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    Ok(Box::new(OpenSslVerifier {
        algorithm: *algorithm,
        digest,
        kind,
        public,
    }))
}

/// What the signature bytes are: an RSA signature, or JWS's fixed-width
/// `r || s` for a curve whose scalars take the given number of bytes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Rsa,
    Ec(Nid, usize),
}

struct OpenSslVerifier {
    algorithm: Algorithm,
    digest: MessageDigest,
    kind: Kind,
    public: PKey<Public>,
}

fn rsa_key(key: &DecodingKey) -> Result<PKey<Public>, openssl::error::ErrorStack> {
    let rsa = match key.kind() {
        // jsonwebtoken keeps RSA public keys as PKCS#1 DER.
        DecodingKeyKind::SecretOrDer(der) => Rsa::public_key_from_der_pkcs1(der)?,
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            Rsa::from_public_components(BigNum::from_slice(n)?, BigNum::from_slice(e)?)?
        }
    };
    PKey::from_rsa(rsa)
}

fn ec_key(key: &DecodingKey, curve: Nid) -> Result<PKey<Public>, openssl::error::ErrorStack> {
    // jsonwebtoken keeps EC public keys as a SEC1 point (0x04 || x || y).
    let point = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => bytes.as_slice(),
        DecodingKeyKind::RsaModulusExponent { .. } => &[],
    };
    let group = curve_group(curve)?;
    let mut ctx = BigNumContext::new()?;
    let point = EcPoint::from_bytes(group, point, &mut ctx)?;
    PKey::from_ec_key(EcKey::from_public_key(group, &point)?)
}

/// Curve groups are built once: making one costs more than a verification.
fn curve_group(curve: Nid) -> Result<&'static EcGroup, openssl::error::ErrorStack> {
    static P256: OnceLock<EcGroup> = OnceLock::new();
    static P384: OnceLock<EcGroup> = OnceLock::new();
    let cell = if curve == Nid::SECP384R1 { &P384 } else { &P256 };
    if let Some(group) = cell.get() {
        return Ok(group);
    }
    let group = EcGroup::from_curve_name(curve)?;
    Ok(cell.get_or_init(|| group))
}

impl OpenSslVerifier {
    fn check(&self, message: &[u8], signature: &[u8]) -> Result<bool, openssl::error::ErrorStack> {
        let der;
        let signature = match self.kind {
            Kind::Rsa => signature,
            Kind::Ec(_, width) => {
                // JWS (RFC 7518 §3.4) fixes the width; anything else is forged or broken.
                if signature.len() != 2 * width {
                    return Ok(false);
                }
                let (r, s) = signature.split_at(width);
                der = EcdsaSig::from_private_components(BigNum::from_slice(r)?, BigNum::from_slice(s)?)?.to_der()?;
                &der
            }
        };
        let mut verifier = Verifier::new(self.digest, &self.public)?;
        verifier.verify_oneshot(signature, message)
    }
}

impl jsonwebtoken::signature::Verifier<Vec<u8>> for OpenSslVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        match self.check(message, signature) {
            Ok(true) => Ok(()),
            _ => Err(SignatureError::new()),
        }
    }
}

impl JwtVerifier for OpenSslVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;
    use jsonwebtoken::crypto::sign;

    fn keys(alg: Algorithm) -> (EncodingKey, DecodingKey) {
        let pem =
            |k: &PKey<openssl::pkey::Private>| (k.private_key_to_pem_pkcs8().unwrap(), k.public_key_to_pem().unwrap());
        match alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                let nid = if alg == Algorithm::ES256 {
                    Nid::X9_62_PRIME256V1
                } else {
                    Nid::SECP384R1
                };
                let group = EcGroup::from_curve_name(nid).unwrap();
                let (private, public) = pem(&PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap());
                (
                    EncodingKey::from_ec_pem(&private).unwrap(),
                    DecodingKey::from_ec_pem(&public).unwrap(),
                )
            }
            _ => {
                let (private, public) = pem(&PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap());
                (
                    EncodingKey::from_rsa_pem(&private).unwrap(),
                    DecodingKey::from_rsa_pem(&public).unwrap(),
                )
            }
        }
    }

    /// Both providers must agree on every input: OpenSSL replaces only the speed.
    fn both_verify(alg: Algorithm, key: &DecodingKey, message: &[u8], signature: &[u8]) -> bool {
        let signature = signature.to_vec();
        let ours = new_verifier(&alg, key).unwrap().verify(message, &signature).is_ok();
        let reference = (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&alg, key)
            .unwrap()
            .verify(message, &signature)
            .is_ok();
        assert_eq!(ours, reference, "{alg:?} providers disagree");
        ours
    }

    #[test]
    fn agrees_with_rust_crypto_on_good_and_tampered_signatures() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for alg in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::ES256,
            Algorithm::ES384,
        ] {
            let (private, public) = keys(alg);
            let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWlsZXIifQ";
            let signature = b64.decode(sign(message, &private, alg).unwrap()).unwrap();
            assert!(both_verify(alg, &public, message, &signature), "{alg:?}");
            assert!(!both_verify(
                alg,
                &public,
                b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb290In0",
                &signature
            ));
            for i in [0, signature.len() / 2, signature.len() - 1] {
                let mut bad = signature.clone();
                bad[i] ^= 1;
                assert!(!both_verify(alg, &public, message, &bad), "{alg:?} byte {i}");
            }
            assert!(!both_verify(alg, &public, message, &signature[1..]), "{alg:?} short");
            assert!(!both_verify(alg, &public, message, &[]), "{alg:?} empty");
            let (_, other) = keys(alg);
            assert!(!both_verify(alg, &other, message, &signature), "{alg:?} other key");
        }
    }

    #[test]
    fn rsa_keys_from_jwk_components_work_too() {
        let rsa = Rsa::generate(2048).unwrap();
        let public = DecodingKey::from_rsa_raw_components(&rsa.n().to_vec(), &rsa.e().to_vec());
        let private = EncodingKey::from_rsa_pem(&rsa.private_key_to_pem().unwrap()).unwrap();
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sign(b"a.b", &private, Algorithm::RS256).unwrap())
            .unwrap();
        assert!(both_verify(Algorithm::RS256, &public, b"a.b", &signature));
    }

    #[test]
    fn a_broken_key_is_an_error_not_a_panic() {
        let garbage = DecodingKey::from_rsa_der(b"not a key");
        assert!(new_verifier(&Algorithm::RS256, &garbage).is_err());
        let garbage = DecodingKey::from_ec_der(&[4, 1, 2, 3]);
        assert!(new_verifier(&Algorithm::ES256, &garbage).is_err());
    }
}
