//! OpenSSL backend (the `openssl` crate, vendored OpenSSL 3).

use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use zeroize::Zeroizing;

use super::{PrivateKeyOps, PublicKeyOps};
use crate::hash::HashAlgorithm;
use crate::keys::{KeyAlgorithm, KeyError, KeySpec};

struct OpenSslPrivate {
    key: PKey<Private>,
    algorithm: KeyAlgorithm,
}

struct OpenSslPublic {
    key: PKey<Public>,
    algorithm: KeyAlgorithm,
}

fn digest(hash: HashAlgorithm) -> MessageDigest {
    match hash {
        HashAlgorithm::Sha1 => MessageDigest::sha1(),
        HashAlgorithm::Sha256 => MessageDigest::sha256(),
    }
}

fn invalid(e: openssl::error::ErrorStack) -> KeyError {
    KeyError::Invalid(first_reason(&e))
}

/// OpenSSL's error stack names the failing routine; keep only its reason,
/// which never contains key material.
fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .first()
        .and_then(|err| err.reason())
        .unwrap_or("unrecognised key data")
        .to_owned()
}

fn algorithm_of<T: openssl::pkey::HasPublic>(key: &PKey<T>) -> Result<KeyAlgorithm, KeyError> {
    match key.id() {
        Id::RSA => Ok(KeyAlgorithm::Rsa { bits: key.bits() }),
        Id::EC => {
            let ec = key.ec_key().map_err(invalid)?;
            match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyAlgorithm::EcdsaP256),
                Some(nid) => Err(KeyError::Unsupported(format!("EC curve {}", curve_name(nid)))),
                None => Err(KeyError::Unsupported("EC key without a named curve".to_owned())),
            }
        }
        other => Err(KeyError::Unsupported(format!("key type {}", key_type_name(other)))),
    }
}

/// A curve as people name it (`secp384r1 (P-384)`, as the RustCrypto
/// backend says it), not OpenSSL's debug text.
fn curve_name(nid: Nid) -> String {
    match nid {
        Nid::SECP384R1 => "secp384r1 (P-384)".to_owned(),
        Nid::SECP521R1 => "secp521r1 (P-521)".to_owned(),
        Nid::X9_62_PRIME192V1 => "prime192v1 (P-192)".to_owned(),
        Nid::SECP224R1 => "secp224r1 (P-224)".to_owned(),
        other => other
            .short_name()
            .map_or_else(|_| format!("#{}", other.as_raw()), str::to_owned),
    }
}

/// A key type as people name it (`Ed25519`, `DSA`).
fn key_type_name(id: Id) -> String {
    match id {
        Id::ED25519 => "Ed25519".to_owned(),
        Id::ED448 => "Ed448".to_owned(),
        Id::DSA => "DSA".to_owned(),
        Id::DH => "DH".to_owned(),
        Id::X25519 => "X25519".to_owned(),
        Id::X448 => "X448".to_owned(),
        Id::RSA_PSS => "RSA-PSS".to_owned(),
        other => Nid::from_raw(other.as_raw())
            .long_name()
            .map_or_else(|_| format!("#{}", other.as_raw()), str::to_owned),
    }
}

pub(super) fn load_private(pem: &[u8], passphrase: Option<&[u8]>) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    // Always pass a callback: OpenSSL's default one would prompt on the
    // terminal for an encrypted key, which would hang a service.
    let key = PKey::private_key_from_pem_callback(pem, |buf| {
        let pass = passphrase.unwrap_or_default();
        if pass.len() > buf.len() {
            return Ok(0);
        }
        buf[..pass.len()].copy_from_slice(pass);
        Ok(pass.len())
    })
    .map_err(|e| match passphrase {
        Some(_) if pem_is_encrypted(pem) => KeyError::Invalid("wrong passphrase or corrupt encrypted key".into()),
        _ => invalid(e),
    })?;
    let algorithm = algorithm_of(&key)?;
    Ok(Box::new(OpenSslPrivate { key, algorithm }))
}

fn pem_is_encrypted(pem: &[u8]) -> bool {
    pem.windows(9).any(|w| w == b"ENCRYPTED")
}

pub(super) fn load_public(pem: &[u8]) -> Result<Box<dyn PublicKeyOps>, KeyError> {
    let key = match PKey::public_key_from_pem(pem) {
        Ok(key) => key,
        Err(_) => Rsa::public_key_from_pem_pkcs1(pem)
            .and_then(PKey::from_rsa)
            .map_err(invalid)?,
    };
    let algorithm = algorithm_of(&key)?;
    Ok(Box::new(OpenSslPublic { key, algorithm }))
}

pub(super) fn generate(spec: KeySpec) -> Result<Box<dyn PrivateKeyOps>, KeyError> {
    let key = match spec {
        KeySpec::Rsa2048 => Rsa::generate(2048).and_then(PKey::from_rsa),
        KeySpec::EcdsaP256 => EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
            .and_then(|group| EcKey::generate(&group))
            .and_then(PKey::from_ec_key),
    }
    .map_err(invalid)?;
    let algorithm = algorithm_of(&key)?;
    Ok(Box::new(OpenSslPrivate { key, algorithm }))
}

impl PrivateKeyOps for OpenSslPrivate {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, KeyError> {
        // PKCS#1 v1.5 is the default padding for RSA keys; for EC keys the
        // output is the DER-encoded (r, s) that CloudFront expects.
        let mut signer = Signer::new(digest(hash), &self.key).map_err(|e| KeyError::Sign(first_reason(&e)))?;
        signer
            .sign_oneshot_to_vec(message)
            .map_err(|e| KeyError::Sign(first_reason(&e)))
    }

    fn public_key(&self) -> Result<Box<dyn PublicKeyOps>, KeyError> {
        let der = self.key.public_key_to_der().map_err(invalid)?;
        let key = PKey::public_key_from_der(&der).map_err(invalid)?;
        Ok(Box::new(OpenSslPublic {
            key,
            algorithm: self.algorithm,
        }))
    }

    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let pem = Zeroizing::new(self.key.private_key_to_pem_pkcs8().map_err(invalid)?);
        String::from_utf8(pem.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Invalid("non-UTF-8 PEM".into()))
    }

    fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let rsa = self
            .key
            .rsa()
            .map_err(|_| KeyError::Unsupported("PKCS#1 holds RSA keys only".into()))?;
        let pem = Zeroizing::new(rsa.private_key_to_pem().map_err(invalid)?);
        String::from_utf8(pem.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Invalid("non-UTF-8 PEM".into()))
    }
}

impl PublicKeyOps for OpenSslPublic {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        Verifier::new(digest(hash), &self.key)
            .and_then(|mut v| v.verify_oneshot(signature, message))
            .unwrap_or(false)
    }

    fn to_spki_pem(&self) -> Result<String, KeyError> {
        let pem = self.key.public_key_to_pem().map_err(invalid)?;
        String::from_utf8(pem).map_err(|_| KeyError::Invalid("non-UTF-8 PEM".into()))
    }
}
