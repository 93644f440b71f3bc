//! RustCrypto backend: `rsa` 0.10 (PKCS#1 v1.5, blinded), `p256` 0.14
//! (ECDSA, RFC 6979 nonces), `sha1` / `sha2` 0.11. Pure Rust, no C toolchain.
//!
//! Keys are parsed once, at load time: the PEM block is located and decoded,
//! its algorithm identified from the DER (so unsupported keys are reported as
//! such, as the OpenSSL backend does), and the signing keys for both digests
//! are built then, so [`PrivateKeyOps::sign`] only hashes and signs.
//!
//! Error messages name formats, algorithms and OIDs, never key bytes.

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{DerSignature, SigningKey as EcSigningKey, VerifyingKey as EcVerifyingKey};
use p256::elliptic_curve::common::getrandom::SysRng;
use p256::pkcs8::der::asn1::AnyRef;
use p256::pkcs8::der::{Decode, Reader, SecretDocument, SliceReader, Tag, TagNumber, Tagged};
use p256::pkcs8::{
    EncodePrivateKey, EncodePublicKey, EncryptedPrivateKeyInfoRef, LineEnding, ObjectIdentifier, PrivateKeyInfoRef,
    SubjectPublicKeyInfoRef,
};
use rsa::pkcs1::{RsaPrivateKeyRef, RsaPublicKeyRef, UintRef};
use rsa::pkcs1v15::{Signature as RsaSignature, SigningKey as RsaSigningKey, VerifyingKey as RsaVerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use sha1_rc::Sha1;
use sha2_rc::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{PrivateKeyOps, PublicKeyOps};
use crate::hash::HashAlgorithm;
use crate::keys::{KeyAlgorithm, KeyError, KeySpec};
use crate::pem;

/// `rsaEncryption` (PKCS#1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` / `secp256r1` / NIST P-256.
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// What `generate` makes for [`KeySpec::Rsa2048`].
const RSA_GENERATE_BITS: usize = 2048;

#[expect(
    clippy::large_enum_variant,
    reason = "only ever lives boxed, as a `dyn PrivateKeyOps`"
)]
enum RustCryptoPrivate {
    /// One signing key per digest: each holds the DigestInfo prefix, so
    /// signing allocates nothing but the signature. Both zeroise on drop.
    Rsa {
        sha1: RsaSigningKey<Sha1>,
        sha256: RsaSigningKey<Sha256>,
        bits: u32,
    },
    /// `p256::ecdsa::SigningKey` zeroises on drop.
    Ecdsa(EcSigningKey),
}

enum RustCryptoPublic {
    Rsa {
        sha1: RsaVerifyingKey<Sha1>,
        sha256: RsaVerifyingKey<Sha256>,
        bits: u32,
    },
    Ecdsa(EcVerifyingKey),
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// The labels of the PEM blocks a private key may come in.
const PRIVATE_LABELS: [&str; 4] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
];
/// The labels of the PEM blocks a public key may come in.
const PUBLIC_LABELS: [&str; 2] = ["PUBLIC KEY", "RSA PUBLIC KEY"];

pub(super) fn load_private(pem: &[u8], passphrase: Option<&[u8]>) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    let (label, der) = decode_pem(pem, &PRIVATE_LABELS, "private")?;
    // A PKCS#8 body of the same key type under a PKCS#1 or SEC1 label is
    // accepted, as OpenSSL does.
    let bytes = der.as_bytes();
    let or_pkcs8 = |rsa: bool| {
        move |e: KeyError| match e {
            KeyError::Invalid(_) => match private_from_pkcs8(bytes) {
                Ok(key) if matches!(key, RustCryptoPrivate::Rsa { .. }) == rsa => Ok(key),
                _ => Err(e),
            },
            other => Err(other),
        }
    };
    let key = match label {
        "RSA PRIVATE KEY" => rsa_private_from_pkcs1(bytes).or_else(or_pkcs8(true))?,
        "EC PRIVATE KEY" => ec_private_from_sec1(bytes).or_else(or_pkcs8(false))?,
        "PRIVATE KEY" => private_from_pkcs8(bytes)?,
        // "ENCRYPTED PRIVATE KEY", the only label left.
        _ => {
            let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
            let decrypted = decrypt_pkcs8(bytes, passphrase)?;
            private_from_pkcs8(decrypted.as_bytes())?
        }
    };
    Ok(Box::new(key))
}

pub(super) fn load_public(pem: &[u8]) -> Result<Box<dyn PublicKeyOps>, KeyError> {
    let (label, der) = decode_pem(pem, &PUBLIC_LABELS, "public")?;
    let key = match label {
        "RSA PUBLIC KEY" => {
            let pkcs1 = RsaPublicKeyRef::from_der(der.as_bytes()).map_err(|e| invalid("PKCS#1 RSA public key", e))?;
            rsa_public_from_pkcs1(pkcs1)?
        }
        _ => public_from_spki(der.as_bytes())?,
    };
    Ok(Box::new(key))
}

pub(super) fn generate(spec: KeySpec) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    let rng_failed = || KeyError::Invalid("the system random number generator failed".into());
    let key = match spec {
        KeySpec::Rsa2048 => {
            let key = rsa::PrivateKey::new(&mut SysRng, RSA_GENERATE_BITS).map_err(|e| match e {
                rsa::Error::Rng => rng_failed(),
                other => KeyError::Invalid(format!("RSA key generation failed: {other}")),
            })?;
            rsa_private(key)?
        }
        KeySpec::EcdsaP256 => {
            use p256::elliptic_curve::Generate;
            RustCryptoPrivate::Ecdsa(EcSigningKey::try_generate_from_rng(&mut SysRng).map_err(|_| rng_failed())?)
        }
    };
    Ok(Box::new(key))
}

/// Finds the first PEM block whose label is in `labels` (skipping others,
/// such as the `EC PARAMETERS` block `openssl ecparam -genkey` writes first;
/// the scan is [`pem::blocks`], the one [`PrivateKey`](crate::PrivateKey)
/// checked the label with) and decodes it. The DER is kept in a zeroising [`SecretDocument`].
fn decode_pem<'l>(
    pem: &[u8],
    labels: &[&'l str],
    expected: &'static str,
) -> Result<(&'l str, SecretDocument), KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::NotPem)?;
    let mut first_label = None;
    for (found, block) in pem::blocks(text) {
        first_label.get_or_insert(found);
        if let Some(label) = labels.iter().find(|l| **l == found) {
            let end_marker = format!("-----END {label}-----");
            let end = block
                .find(&end_marker)
                .ok_or_else(|| KeyError::Invalid(format!("PEM block {label:?} has no END line")))?;
            let block = &block[..end + end_marker.len()];
            if block.contains("Proc-Type:") {
                return Err(KeyError::Invalid(format!(
                    "legacy OpenSSL-encrypted PEM (Proc-Type/DEK-Info headers) is not supported by this backend; {REENCRYPT}"
                )));
            }
            let (_, der) = SecretDocument::from_pem(block).map_err(|e| invalid("PEM block", e))?;
            return Ok((label, der));
        }
    }
    match first_label {
        None => Err(KeyError::NotPem),
        Some(found) => Err(KeyError::WrongPem {
            expected,
            found: found.to_owned(),
        }),
    }
}

/// A parse error; `what` names the structure. The crates' errors carry ASN.1
/// tags, positions and OIDs, never key bytes.
fn invalid(what: &str, e: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid(format!("malformed {what}: {e}"))
}

/// How to turn any encrypted key into one this backend reads.
const REENCRYPT: &str = "re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc` (PBES2, PBKDF2-HMAC-SHA-256)";

/// Decrypts an `ENCRYPTED PRIVATE KEY`. Supported: PBES2 with PBKDF2-HMAC-SHA-256
/// (OpenSSL 1.1+ default) or scrypt, and AES-CBC/GCM. Legacy schemes (PBES1,
/// PBKDF2-HMAC-SHA-1, 3DES) would need `pkcs8` features `rsa` does not expose.
fn decrypt_pkcs8(der: &[u8], passphrase: &[u8]) -> Result<SecretDocument, KeyError> {
    use p256::pkcs8::{Error, pkcs5};
    let unsupported = |what: String| {
        KeyError::Invalid(format!(
            "the key is encrypted with {what}, which this backend does not support; {REENCRYPT}"
        ))
    };
    // Unknown schemes already fail here, when their parameters are parsed.
    let info = EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| unsupported(format!("an unknown or malformed scheme ({e})")))?;
    info.decrypt(passphrase).map_err(|e| match e {
        Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm { oid }) => unsupported(oid_name(oid)),
        Error::EncryptedPrivateKey(pkcs5::Error::NoPbes1CryptSupport) => unsupported("legacy PBES1".into()),
        _ => KeyError::Invalid("wrong passphrase or corrupt encrypted key".into()),
    })
}

fn private_from_pkcs8(der: &[u8]) -> Result<RustCryptoPrivate, KeyError> {
    let info = PrivateKeyInfoRef::try_from(der).map_err(|e| invalid("PKCS#8 private key", e))?;
    match key_type(info.algorithm.oid, info.algorithm.parameters)? {
        KeyType::Rsa => rsa_private_from_pkcs1(info.private_key.as_bytes()),
        KeyType::EcdsaP256 => {
            let key = EcSigningKey::try_from(info).map_err(|e| invalid("PKCS#8 P-256 private key", e))?;
            Ok(RustCryptoPrivate::Ecdsa(key))
        }
    }
}

fn public_from_spki(der: &[u8]) -> Result<RustCryptoPublic, KeyError> {
    let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(|e| invalid("SubjectPublicKeyInfo", e))?;
    match key_type(spki.algorithm.oid, spki.algorithm.parameters)? {
        KeyType::Rsa => {
            let bits = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| KeyError::Invalid("malformed SubjectPublicKeyInfo: unaligned key bits".into()))?;
            let pkcs1 = RsaPublicKeyRef::from_der(bits).map_err(|e| invalid("RSA public key", e))?;
            rsa_public_from_pkcs1(pkcs1)
        }
        KeyType::EcdsaP256 => {
            let key = EcVerifyingKey::try_from(spki).map_err(|e| invalid("P-256 public key", e))?;
            Ok(RustCryptoPublic::Ecdsa(key))
        }
    }
}

enum KeyType {
    Rsa,
    EcdsaP256,
}

/// The key type named by a PKCS#8 / SPKI `AlgorithmIdentifier`.
fn key_type(oid: ObjectIdentifier, parameters: Option<AnyRef<'_>>) -> Result<KeyType, KeyError> {
    match oid {
        RSA_ENCRYPTION => Ok(KeyType::Rsa),
        EC_PUBLIC_KEY => {
            let curve = parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| KeyError::Unsupported("EC key without a named curve".into()))?;
            check_curve(curve)?;
            Ok(KeyType::EcdsaP256)
        }
        other => Err(KeyError::Unsupported(format!("key type {}", oid_name(other)))),
    }
}

fn check_curve(curve: ObjectIdentifier) -> Result<(), KeyError> {
    if curve == PRIME256V1 {
        Ok(())
    } else {
        Err(KeyError::Unsupported(format!("EC curve {}", oid_name(curve))))
    }
}

/// Readable names for the OIDs people actually meet.
fn oid_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.34" => "secp384r1 (P-384)",
        "1.3.132.0.35" => "secp521r1 (P-521)",
        "1.2.840.10045.3.1.1" => "prime192v1 (P-192)",
        "1.3.132.0.33" => "secp224r1 (P-224)",
        "1.2.840.113549.2.7" => "PBKDF2-HMAC-SHA-1",
        "1.2.840.113549.3.7" => "3DES-CBC",
        "1.3.14.3.2.7" => "DES-CBC",
        _ => return oid.to_string(),
    };
    name.to_owned()
}

/// Bit length of a DER unsigned integer (leading zero octets already stripped).
fn uint_bits(n: UintRef<'_>) -> u32 {
    let bytes = n.as_bytes();
    let Some(first) = bytes.first() else { return 0 };
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX / 8);
    len.saturating_mul(8) - first.leading_zeros()
}

/// The sizes the `rsa` crate can hold (1024 to 8192 bits); `keys` decides
/// what is acceptable within them, and words its refusal the same way.
fn check_rsa_size(bits: u32) -> Result<(), KeyError> {
    let bits_usize = bits as usize;
    if (rsa::PublicKey::MIN_SIZE..=rsa::PublicKey::MAX_SIZE).contains(&bits_usize) {
        Ok(())
    } else {
        Err(KeyError::Unsupported(format!("RSA-{bits}")))
    }
}

fn rsa_private_from_pkcs1(der: &[u8]) -> Result<RustCryptoPrivate, KeyError> {
    let pkcs1 = RsaPrivateKeyRef::from_der(der).map_err(|e| invalid("PKCS#1 RSA private key", e))?;
    check_rsa_size(uint_bits(pkcs1.modulus))?;
    if pkcs1.other_prime_infos.is_some() {
        return Err(KeyError::Unsupported("multi-prime RSA".into()));
    }
    let key = rsa::PrivateKey::try_from(pkcs1).map_err(|e| invalid("RSA private key", e))?;
    rsa_private(key)
}

fn rsa_private(key: rsa::PrivateKey) -> Result<RustCryptoPrivate, KeyError> {
    use rsa::traits::PublicKeyParts;
    let bits = key.n().bit_width();
    check_rsa_size(bits)?;
    Ok(RustCryptoPrivate::Rsa {
        sha1: RsaSigningKey::new(key.clone()),
        sha256: RsaSigningKey::new(key),
        bits,
    })
}

fn rsa_public_from_pkcs1(pkcs1: RsaPublicKeyRef<'_>) -> Result<RustCryptoPublic, KeyError> {
    check_rsa_size(uint_bits(pkcs1.modulus))?;
    let key = rsa::PublicKey::try_from(pkcs1).map_err(|e| invalid("RSA public key", e))?;
    Ok(rsa_public(key))
}

fn rsa_public(key: rsa::PublicKey) -> RustCryptoPublic {
    use rsa::traits::PublicKeyParts;
    let bits = key.n().bit_width();
    RustCryptoPublic::Rsa {
        sha1: RsaVerifyingKey::new(key.clone()),
        sha256: RsaVerifyingKey::new(key),
        bits,
    }
}

fn ec_private_from_sec1(der: &[u8]) -> Result<RustCryptoPrivate, KeyError> {
    // `from_sec1_der` refuses another curve with a bare ASN.1 error; look at
    // the named curve first to report it as unsupported instead.
    if let Some(curve) = sec1_named_curve(der) {
        check_curve(curve)?;
    }
    let secret = p256::SecretKey::from_sec1_der(der).map_err(|e| invalid("SEC1 P-256 private key", e))?;
    Ok(RustCryptoPrivate::Ecdsa(EcSigningKey::from(secret)))
}

/// The `[0] parameters` named curve of a SEC1 `ECPrivateKey`, if present.
fn sec1_named_curve(der: &[u8]) -> Option<ObjectIdentifier> {
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    while !reader.is_finished() {
        let field = AnyRef::decode(&mut reader).ok()?;
        if let Tag::ContextSpecific {
            number: TagNumber(0), ..
        } = field.tag()
        {
            return ObjectIdentifier::from_der(field.value()).ok();
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

fn sign_failed(e: impl std::fmt::Display) -> KeyError {
    KeyError::Sign(e.to_string())
}

/// The message digest for ECDSA: 20 bytes (SHA-1) or 32 bytes (SHA-256).
/// ECDSA uses the leftmost min(len, 256) bits as an integer, so a 20-byte
/// SHA-1 prehash is used as is, exactly as OpenSSL (and CloudFront) do.
fn prehash(message: &[u8], hash: HashAlgorithm) -> Vec<u8> {
    match hash {
        HashAlgorithm::Sha1 => Sha1::digest(message).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(message).to_vec(),
    }
}

impl PrivateKeyOps for RustCryptoPrivate {
    fn algorithm(&self) -> KeyAlgorithm {
        match self {
            RustCryptoPrivate::Rsa { bits, .. } => KeyAlgorithm::Rsa { bits: *bits },
            RustCryptoPrivate::Ecdsa(_) => KeyAlgorithm::EcdsaP256,
        }
    }

    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, KeyError> {
        match (self, hash) {
            // PKCS#1 v1.5, with RSA blinding (OS RNG); the value is deterministic.
            (RustCryptoPrivate::Rsa { sha1, .. }, HashAlgorithm::Sha1) => sha1.try_sign(message).map(|s| s.to_vec()),
            (RustCryptoPrivate::Rsa { sha256, .. }, HashAlgorithm::Sha256) => {
                sha256.try_sign(message).map(|s| s.to_vec())
            }
            // RFC 6979 deterministic nonce; DER-encoded (r, s).
            (RustCryptoPrivate::Ecdsa(key), hash) => {
                PrehashSigner::<DerSignature>::sign_prehash(key, &prehash(message, hash)).map(|s| s.to_vec())
            }
        }
        .map_err(sign_failed)
    }

    fn public_key(&self) -> Result<Box<dyn PublicKeyOps>, KeyError> {
        Ok(Box::new(match self {
            RustCryptoPrivate::Rsa { sha1, .. } => rsa_public(sha1.as_ref().to_public_key()),
            RustCryptoPrivate::Ecdsa(key) => RustCryptoPublic::Ecdsa(*key.verifying_key()),
        }))
    }

    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        match self {
            RustCryptoPrivate::Rsa { sha1, .. } => sha1.as_ref().to_pkcs8_pem(LineEnding::LF),
            RustCryptoPrivate::Ecdsa(key) => key.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| KeyError::Invalid(format!("could not encode the key as PKCS#8: {e}")))
    }

    fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        match self {
            RustCryptoPrivate::Rsa { sha1, .. } => sha1
                .as_ref()
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(|e| KeyError::Invalid(format!("could not encode the key as PKCS#1: {e}"))),
            RustCryptoPrivate::Ecdsa(_) => Err(KeyError::Unsupported("PKCS#1 holds RSA keys only".into())),
        }
    }
}

impl PublicKeyOps for RustCryptoPublic {
    fn algorithm(&self) -> KeyAlgorithm {
        match self {
            RustCryptoPublic::Rsa { bits, .. } => KeyAlgorithm::Rsa { bits: *bits },
            RustCryptoPublic::Ecdsa(_) => KeyAlgorithm::EcdsaP256,
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        match self {
            RustCryptoPublic::Rsa { sha1, sha256, .. } => {
                let Ok(signature) = RsaSignature::try_from(signature) else {
                    return false;
                };
                match hash {
                    HashAlgorithm::Sha1 => sha1.verify(message, &signature).is_ok(),
                    HashAlgorithm::Sha256 => sha256.verify(message, &signature).is_ok(),
                }
            }
            RustCryptoPublic::Ecdsa(key) => {
                let Ok(signature) = DerSignature::try_from(signature) else {
                    return false;
                };
                PrehashVerifier::<DerSignature>::verify_prehash(key, &prehash(message, hash), &signature).is_ok()
            }
        }
    }

    fn to_spki_pem(&self) -> Result<String, KeyError> {
        match self {
            RustCryptoPublic::Rsa { sha1, .. } => sha1.as_ref().to_public_key_pem(LineEnding::LF),
            RustCryptoPublic::Ecdsa(key) => key.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| KeyError::Invalid(format!("could not encode the public key: {e}")))
    }
}

/// Interoperability with the OpenSSL backend: what one signs the other
/// verifies, keys in every PEM flavour load in both, and exports agree.
#[cfg(all(test, feature = "openssl-backend"))]
mod tests {
    use ::openssl::ec::{EcGroup, EcKey};
    use ::openssl::nid::Nid;
    use ::openssl::pkey::PKey;
    use ::openssl::rsa::Rsa;
    use ::openssl::symm::Cipher;

    use super::*;
    use crate::keys::{Backend, PrivateKey, PublicKey};

    const RSA_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/keys/rsa2048.pem");
    const RSA_PUB_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/keys/rsa2048.pub.pem");
    const EC_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/keys/ec-p256.pem");
    const EC_PUB_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/keys/ec-p256.pub.pem");
    const HASHES: [HashAlgorithm; 2] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256];
    const POLICY: &[u8] = br#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#;

    fn private(backend: Backend, pem: &[u8], pass: Option<&[u8]>) -> PrivateKey {
        PrivateKey::from_pem_with(backend, pem, pass).unwrap()
    }

    fn public(backend: Backend, pem: &[u8]) -> PublicKey {
        PublicKey::from_pem_with(backend, pem).unwrap()
    }

    /// Signs with `signer` and checks that every backend, given `public_pem`,
    /// accepts the signature for the message and refuses it for another one.
    fn assert_cross_verifies(signer: &PrivateKey, public_pem: &[u8]) {
        for hash in HASHES {
            for message in [POLICY, b"" as &[u8], b"x"] {
                let sig = signer.sign(message, hash).unwrap();
                for backend in [Backend::OpenSsl, Backend::RustCrypto] {
                    let key = public(backend, public_pem);
                    assert!(key.verify(message, &sig, hash), "{backend:?} {hash} {message:?}");
                    assert!(!key.verify(b"other", &sig, hash), "{backend:?} {hash}");
                    let other = if hash == HashAlgorithm::Sha1 {
                        HashAlgorithm::Sha256
                    } else {
                        HashAlgorithm::Sha1
                    };
                    assert!(
                        !key.verify(message, &sig, other),
                        "{backend:?}: {hash} signature accepted as {other}"
                    );
                }
            }
        }
    }

    #[test]
    fn rsa_signatures_are_byte_identical_to_openssl_and_cross_verify() {
        let rc = private(Backend::RustCrypto, RSA_PEM, None);
        let ossl = private(Backend::OpenSsl, RSA_PEM, None);
        assert_eq!(rc.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
        for hash in HASHES {
            assert_eq!(
                rc.sign(POLICY, hash).unwrap(),
                ossl.sign(POLICY, hash).unwrap(),
                "{hash}"
            );
        }
        assert_cross_verifies(&rc, RSA_PUB_PEM);
        assert_cross_verifies(&ossl, RSA_PUB_PEM);
    }

    #[test]
    fn ecdsa_signatures_cross_verify_both_ways_with_sha1_and_sha256() {
        let rc = private(Backend::RustCrypto, EC_PEM, None);
        let ossl = private(Backend::OpenSsl, EC_PEM, None);
        assert_eq!(rc.algorithm(), KeyAlgorithm::EcdsaP256);
        assert_cross_verifies(&rc, EC_PUB_PEM);
        assert_cross_verifies(&ossl, EC_PUB_PEM);
        // Many messages: covers high-S signatures from OpenSSL (p256 does not
        // normalise S, as OpenSSL and CloudFront don't) and short DER integers.
        let rc_pub = public(Backend::RustCrypto, EC_PUB_PEM);
        let ossl_pub = public(Backend::OpenSsl, EC_PUB_PEM);
        for i in 0..200u32 {
            let message = format!("policy {i}");
            for hash in HASHES {
                let from_ossl = ossl.sign(message.as_bytes(), hash).unwrap();
                assert!(rc_pub.verify(message.as_bytes(), &from_ossl, hash), "{i} {hash}");
                let from_rc = rc.sign(message.as_bytes(), hash).unwrap();
                assert!(ossl_pub.verify(message.as_bytes(), &from_rc, hash), "{i} {hash}");
                assert!(
                    (68..=72).contains(&from_rc.len()),
                    "DER (r, s) length {}",
                    from_rc.len()
                );
            }
        }
    }

    #[test]
    fn ecdsa_accepts_a_20_byte_sha1_prehash_as_openssl_does() {
        // The digest is used unpadded and untruncated: a SHA-1 signature must
        // not verify as a signature over the digest zero-extended to 32 bytes.
        let key = EcSigningKey::from_slice(&[7u8; 32]).unwrap();
        let digest = Sha1::digest(POLICY);
        let sig: DerSignature = key.sign_prehash(&digest).unwrap();
        let vk = key.verifying_key();
        assert!(vk.verify_prehash(&digest, &sig).is_ok());
        let mut padded = digest.to_vec();
        padded.resize(32, 0);
        assert!(vk.verify_prehash(&padded, &sig).is_err());
    }

    #[test]
    fn exports_match_openssl() {
        for (pem, pub_pem) in [(RSA_PEM, RSA_PUB_PEM), (EC_PEM, EC_PUB_PEM)] {
            let rc = private(Backend::RustCrypto, pem, None);
            let ossl = private(Backend::OpenSsl, pem, None);
            let rc_spki = rc.public_key().unwrap().to_pem().unwrap();
            assert_eq!(rc_spki, ossl.public_key().unwrap().to_pem().unwrap());
            assert_eq!(rc_spki.as_bytes(), pub_pem);
            assert_eq!(public(Backend::RustCrypto, pub_pem).to_pem().unwrap(), rc_spki);
            // PKCS#8 export: OpenSSL reads ours, we read OpenSSL's, same key.
            let rc_pkcs8 = rc.to_pkcs8_pem().unwrap();
            let ossl_pkcs8 = ossl.to_pkcs8_pem().unwrap();
            assert_eq!(*rc_pkcs8, *ossl_pkcs8);
            let reloaded = private(Backend::OpenSsl, rc_pkcs8.as_bytes(), None);
            assert_cross_verifies(&reloaded, pub_pem);
        }
        // PKCS#1 export (keygen --format pkcs1): the same bytes from both
        // backends, read back by the other; RSA only.
        let (rc, ossl) = (
            private(Backend::RustCrypto, RSA_PEM, None),
            private(Backend::OpenSsl, RSA_PEM, None),
        );
        let rc_pkcs1 = rc.to_pkcs1_pem().unwrap();
        assert!(rc_pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(*rc_pkcs1, *ossl.to_pkcs1_pem().unwrap());
        assert_cross_verifies(&private(Backend::OpenSsl, rc_pkcs1.as_bytes(), None), RSA_PUB_PEM);
        for backend in [Backend::RustCrypto, Backend::OpenSsl] {
            let ec = private(backend, EC_PEM, None);
            assert!(
                matches!(ec.to_pkcs1_pem(), Err(KeyError::Unsupported(_))),
                "{backend:?}"
            );
        }
    }

    fn relabel(pem: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(pem.to_vec()).unwrap().replace(from, to).into_bytes()
    }

    /// Every PEM flavour OpenSSL writes, loaded by this backend.
    #[test]
    fn loads_every_pem_flavour() {
        let rsa = Rsa::private_key_from_pem(RSA_PEM).unwrap();
        let ec = EcKey::private_key_from_pem(EC_PEM).unwrap();
        let rsa_pkey = PKey::from_rsa(rsa.clone()).unwrap();
        let ec_pkey = PKey::from_ec_key(ec.clone()).unwrap();
        let pass = b"correct horse";
        // (name, private PEM, passphrase, matching public PEM)
        type Case<'a> = (&'a str, Vec<u8>, Option<&'a [u8]>, &'a [u8]);
        let cases: Vec<Case<'_>> = vec![
            ("PKCS#1", rsa.private_key_to_pem().unwrap(), None, RSA_PUB_PEM),
            (
                "PKCS#8 RSA",
                rsa_pkey.private_key_to_pem_pkcs8().unwrap(),
                None,
                RSA_PUB_PEM,
            ),
            ("SEC1", ec.private_key_to_pem().unwrap(), None, EC_PUB_PEM),
            (
                "PKCS#8 EC",
                ec_pkey.private_key_to_pem_pkcs8().unwrap(),
                None,
                EC_PUB_PEM,
            ),
            (
                "encrypted PKCS#8 RSA",
                rsa_pkey
                    .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pass)
                    .unwrap(),
                Some(pass),
                RSA_PUB_PEM,
            ),
            (
                "encrypted PKCS#8 EC",
                ec_pkey
                    .private_key_to_pem_pkcs8_passphrase(Cipher::aes_128_cbc(), pass)
                    .unwrap(),
                Some(pass),
                EC_PUB_PEM,
            ),
            // `openssl ecparam -genkey` writes the curve parameters first.
            (
                "SEC1 after EC PARAMETERS",
                [
                    b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" as &[u8],
                    EC_PEM,
                ]
                .concat(),
                None,
                EC_PUB_PEM,
            ),
            // OpenSSL reads a PKCS#8 body under the PKCS#1 label; so do we.
            (
                "PKCS#8 under RSA PRIVATE KEY",
                relabel(RSA_PEM, "PRIVATE KEY", "RSA PRIVATE KEY"),
                None,
                RSA_PUB_PEM,
            ),
            ("CRLF line endings", relabel(RSA_PEM, "\n", "\r\n"), None, RSA_PUB_PEM),
        ];
        for (name, pem, pass, pub_pem) in cases {
            let key = load_private(&pem, pass).unwrap_or_else(|e| panic!("{name}: {e}"));
            let sig = key.sign(POLICY, HashAlgorithm::Sha1).unwrap();
            assert!(
                public(Backend::OpenSsl, pub_pem).verify(POLICY, &sig, HashAlgorithm::Sha1),
                "{name}"
            );
        }
        // Public keys: SPKI and PKCS#1.
        let pkcs1_pub = rsa.public_key_to_pem_pkcs1().unwrap();
        assert!(String::from_utf8_lossy(&pkcs1_pub).contains("BEGIN RSA PUBLIC KEY"));
        let sig = private(Backend::OpenSsl, RSA_PEM, None)
            .sign(POLICY, HashAlgorithm::Sha256)
            .unwrap();
        for pem in [pkcs1_pub, RSA_PUB_PEM.to_vec()] {
            let key = load_public(&pem).unwrap();
            assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
            assert!(key.verify(POLICY, &sig, HashAlgorithm::Sha256));
        }
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let pkey = PKey::private_key_from_pem(EC_PEM).unwrap();
        let pem = pkey
            .private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), b"right")
            .unwrap();
        assert_eq!(
            load_private(&pem, Some(b"wrong")).err().unwrap(),
            KeyError::Invalid("wrong passphrase or corrupt encrypted key".into())
        );
        assert_eq!(load_private(&pem, None).err().unwrap(), KeyError::PassphraseRequired);
        assert!(load_private(&pem, Some(b"right")).is_ok());
        // A legacy OpenSSL-encrypted PEM is named, not misreported.
        let rsa = Rsa::private_key_from_pem(RSA_PEM).unwrap();
        let legacy = rsa
            .private_key_to_pem_passphrase(Cipher::aes_128_cbc(), b"right")
            .unwrap();
        let err = load_private(&legacy, Some(b"right")).err().unwrap();
        assert!(
            matches!(&err, KeyError::Invalid(why) if why.contains("legacy")),
            "{err}"
        );
    }

    #[test]
    fn refuses_keys_cloudfront_does_not_accept() {
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        let p384_pkey = PKey::from_ec_key(p384.clone()).unwrap();
        let rsa512 = Rsa::generate(512).unwrap();
        let ed25519 = PKey::generate_ed25519().unwrap();
        let unsupported = |r: Result<KeyAlgorithm, KeyError>, want: &str| match r {
            Err(KeyError::Unsupported(why)) => assert!(why.contains(want), "{why}"),
            other => panic!("expected Unsupported({want}), got {other:?}"),
        };
        let private = |pem: Vec<u8>| load_private(&pem, None).map(|k| k.algorithm());
        let public = |pem: Vec<u8>| load_public(&pem).map(|k| k.algorithm());
        unsupported(private(p384.private_key_to_pem().unwrap()), "secp384r1");
        unsupported(private(p384_pkey.private_key_to_pem_pkcs8().unwrap()), "secp384r1");
        unsupported(public(p384_pkey.public_key_to_pem().unwrap()), "secp384r1");
        unsupported(private(rsa512.private_key_to_pem().unwrap()), "RSA-512");
        unsupported(public(rsa512.public_key_to_pem().unwrap()), "RSA-512");
        unsupported(private(ed25519.private_key_to_pem_pkcs8().unwrap()), "Ed25519");
        unsupported(public(ed25519.public_key_to_pem().unwrap()), "Ed25519");
        // Through the public API the refusal is the same as OpenSSL's.
        let pem = rsa512.private_key_to_pem().unwrap();
        for backend in [Backend::OpenSsl, Backend::RustCrypto] {
            assert_eq!(
                PrivateKey::from_pem_with(backend, &pem, None).unwrap_err(),
                KeyError::Unsupported("RSA-512".into()),
                "{backend:?}"
            );
        }
    }

    #[test]
    fn errors_never_echo_key_material() {
        let text = String::from_utf8(RSA_PEM.to_vec()).unwrap();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("-----")).collect();
        // Corrupt the middle of the key so the DER parser fails deep inside.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mid = lines.len() / 2;
        lines[mid] = "A".repeat(lines[mid].len());
        let corrupt = lines.join("\n");
        let truncated = text
            .lines()
            .take(5)
            .chain(text.lines().last())
            .collect::<Vec<_>>()
            .join("\n");
        for pem in [corrupt, truncated, text.replace("PRIVATE KEY", "EC PRIVATE KEY")] {
            let err = load_private(pem.as_bytes(), None).err().expect("must fail");
            let shown = format!("{err} {err:?}");
            for line in &body {
                for chunk in line.as_bytes().chunks(8) {
                    let chunk = std::str::from_utf8(chunk).unwrap();
                    assert!(
                        chunk.len() < 8 || !shown.contains(chunk),
                        "error echoes key text: {shown}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_non_keys() {
        assert_eq!(load_private(b"no pem here", None).err().unwrap(), KeyError::NotPem);
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(load_private(cert, None), Err(KeyError::WrongPem { .. })));
        assert!(matches!(load_public(EC_PEM), Err(KeyError::WrongPem { .. })));
        let garbage = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(load_private(garbage, None), Err(KeyError::Invalid(_))));
        // Signatures of the wrong shape are refused, not panicked on.
        let rsa = load_public(RSA_PUB_PEM).unwrap();
        let ec = load_public(EC_PUB_PEM).unwrap();
        for sig in [
            &[][..],
            &[0u8; 1][..],
            &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00][..],
            &[0xff; 256][..],
            &[0; 2000][..],
        ] {
            for hash in HASHES {
                assert!(!rsa.verify(POLICY, sig, hash));
                assert!(!ec.verify(POLICY, sig, hash));
            }
        }
    }

    #[test]
    fn generated_keys_interoperate() {
        for spec in [KeySpec::EcdsaP256, KeySpec::Rsa2048] {
            let key = PrivateKey::generate_with(Backend::RustCrypto, spec).unwrap();
            let pub_pem = key.public_key().unwrap().to_pem().unwrap();
            assert_cross_verifies(&key, pub_pem.as_bytes());
            let pkcs8 = key.to_pkcs8_pem().unwrap();
            assert_eq!(
                private(Backend::OpenSsl, pkcs8.as_bytes(), None).algorithm(),
                key.algorithm()
            );
        }
    }
}
