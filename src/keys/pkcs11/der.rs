//! The DER a token's key needs on the way out: its public half as an SPKI
//! PEM (what CloudFront's key group and the core's `PublicKey` take), built
//! from `CKA_MODULUS`/`CKA_PUBLIC_EXPONENT` or `CKA_EC_POINT`, and an ECDSA
//! signature turned from PKCS#11's raw `r || s` into DER `SEQUENCE { r, s }`,
//! the form OpenSSL emits and CloudFront verifies.

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::pem::LineEnding;
use der::{Decode, Encode, Header, Tag};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// `CKA_EC_PARAMS` of a P-256 key: the curve's OID, DER-encoded.
pub fn p256_params() -> Vec<u8> {
    PRIME256V1.to_der().expect("a constant OID encodes")
}

/// Checks that `CKA_EC_PARAMS` names P-256, the one curve CloudFront takes.
pub fn check_curve(ec_params: &[u8]) -> Result<(), String> {
    let oid = ObjectIdentifier::from_der(ec_params)
        .map_err(|_| "CKA_EC_PARAMS is not a named curve (explicit curve parameters are not supported)".to_owned())?;
    let name = match oid {
        PRIME256V1 => return Ok(()),
        SECP384R1 => "P-384".to_owned(),
        SECP521R1 => "P-521".to_owned(),
        other => format!("curve {other}"),
    };
    Err(format!(
        "an ECDSA {name} key: CloudFront accepts ECDSA P-256 only (or RSA-2048)"
    ))
}

/// SPKI PEM of an RSA public key from its big-endian modulus and exponent.
pub fn rsa_spki_pem(modulus: &[u8], exponent: &[u8]) -> Result<String, String> {
    let encode = || -> der::Result<String> {
        let rsa = pkcs1::RsaPublicKey {
            modulus: UintRef::new(modulus)?,
            public_exponent: UintRef::new(exponent)?,
        }
        .to_der()?;
        let spki = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            subject_public_key: BitStringRef::from_bytes(&rsa)?,
        };
        Ok(der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &spki.to_der()?)?)
    };
    encode().map_err(|e| format!("cannot encode the RSA public key: {e}"))
}

/// SPKI PEM of a P-256 public key from `CKA_EC_POINT`: the spec wants the
/// point DER-wrapped in an OCTET STRING; some tokens give it bare.
pub fn ec_spki_pem(ec_point: &[u8]) -> Result<String, String> {
    let point = match OctetStringRef::from_der(ec_point) {
        Ok(octets) => octets.as_bytes(),
        Err(_) => ec_point,
    };
    if point.len() != 65 || point[0] != 0x04 {
        return Err(format!(
            "CKA_EC_POINT is not an uncompressed P-256 point ({} bytes)",
            point.len()
        ));
    }
    let encode = || -> der::Result<String> {
        let curve = PRIME256V1.to_der()?;
        let spki = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: EC_PUBLIC_KEY,
                parameters: Some(AnyRef::from_der(&curve)?),
            },
            subject_public_key: BitStringRef::from_bytes(point)?,
        };
        Ok(der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &spki.to_der()?)?)
    };
    encode().map_err(|e| format!("cannot encode the EC public key: {e}"))
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from CKM_ECDSA's `r || s`
/// (two 32-byte halves for P-256).
pub fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.len() != 64 {
        return Err(format!(
            "CKM_ECDSA gave {} bytes, not the 64 of a P-256 r || s",
            raw.len()
        ));
    }
    let encode = || -> der::Result<Vec<u8>> {
        let (r, s) = (UintRef::new(&raw[..32])?, UintRef::new(&raw[32..])?);
        let mut out = Vec::with_capacity(72);
        Header::new(Tag::Sequence, (r.encoded_len()? + s.encoded_len()?)?)?.encode_to_vec(&mut out)?;
        r.encode_to_vec(&mut out)?;
        s.encode_to_vec(&mut out)?;
        Ok(out)
    };
    encode().map_err(|e| format!("cannot encode the ECDSA signature: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{HashAlgorithm, KeySpec, PrivateKey, PublicKey};
    use der::Reader;

    #[test]
    fn p256_params_are_the_named_curve_and_others_are_refused() {
        assert_eq!(
            p256_params(),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
        );
        assert_eq!(check_curve(&p256_params()), Ok(()));
        let p384 = SECP384R1.to_der().unwrap();
        let e = check_curve(&p384).unwrap_err();
        assert!(e.contains("P-384") && e.contains("P-256 only"), "{e}");
        assert!(check_curve(b"\x30\x00").unwrap_err().contains("named curve"));
        assert!(check_curve(b"").is_err());
    }

    /// The fixture keys' public halves, rebuilt from their components,
    /// are byte-identical to OpenSSL's SPKI.
    #[test]
    fn rebuilds_the_fixture_public_keys() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
        let rsa_pem = std::fs::read_to_string(dir.join("rsa2048.pub.pem")).unwrap();
        let rsa_der = der::pem::decode_vec(rsa_pem.as_bytes()).unwrap().1;
        let spki = SubjectPublicKeyInfoRef::from_der(&rsa_der).unwrap();
        let rsa = pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes()).unwrap();
        let rebuilt = rsa_spki_pem(rsa.modulus.as_bytes(), rsa.public_exponent.as_bytes()).unwrap();
        assert_eq!(rebuilt.trim(), rsa_pem.trim());

        let ec_pem = std::fs::read_to_string(dir.join("ec-p256.pub.pem")).unwrap();
        let ec_der = der::pem::decode_vec(ec_pem.as_bytes()).unwrap().1;
        let point = SubjectPublicKeyInfoRef::from_der(&ec_der)
            .unwrap()
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let wrapped = OctetStringRef::new(&point).unwrap().to_der().unwrap();
        assert_eq!(ec_spki_pem(&wrapped).unwrap().trim(), ec_pem.trim());
        assert_eq!(ec_spki_pem(&point).unwrap().trim(), ec_pem.trim(), "a bare point too");
        assert!(ec_spki_pem(&point[1..]).is_err());
    }

    /// A DER signature taken apart into `r || s` and put back together
    /// is the same bytes and verifies, whatever leading zeros r and s have.
    #[test]
    fn raw_ecdsa_becomes_the_der_openssl_emits() {
        let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let public: PublicKey = key.public_key().unwrap();
        for i in 0..64 {
            let message = format!("policy {i}");
            let der_sig = key.sign(message.as_bytes(), HashAlgorithm::Sha1).unwrap();
            let mut reader = der::SliceReader::new(&der_sig).unwrap();
            let (r, s) = reader
                .sequence(|seq| Ok((UintRef::decode(seq)?, UintRef::decode(seq)?)))
                .unwrap();
            let mut raw = vec![0u8; 64];
            raw[32 - r.as_bytes().len()..32].copy_from_slice(r.as_bytes());
            raw[64 - s.as_bytes().len()..].copy_from_slice(s.as_bytes());
            let rebuilt = ecdsa_der(&raw).unwrap();
            assert_eq!(rebuilt, der_sig);
            assert!(public.verify(message.as_bytes(), &rebuilt, HashAlgorithm::Sha1));
        }
        assert!(ecdsa_der(&[0u8; 63]).is_err());
        // r and s of all zeros still encode (INTEGER 0), rather than panic.
        assert_eq!(
            ecdsa_der(&[0u8; 64]).unwrap(),
            [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
        );
    }
}
