//! `cfsign keygen --pkcs11`: a key pair made on the token itself. The
//! private key is sensitive and never extractable, so it exists nowhere
//! else; its public half is read back for the CloudFront key group.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};

use super::token::{Failure, describe};
use super::{der, login_message, prepare};
use crate::keys::Pkcs11Source;
use crate::signing::KeySpec;

/// What `generate` made: the public key (SPKI PEM) and the object's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// `-----BEGIN PUBLIC KEY-----`, for the key group.
    pub public_key_pem: String,
    /// `CKA_ID` of both objects (the URI's `id`, or a random one), hex.
    pub id_hex: String,
}

/// Generates a `spec` key pair on the token `source` names, labelled with
/// the URI's `object` (required) and identified by its `id` (random when
/// absent). Refuses when a key with that label or id is already there:
/// keys on a token are never replaced.
pub fn generate(source: &Pkcs11Source, spec: KeySpec) -> Result<Generated, String> {
    let (token, _) = prepare(source)?;
    let label = token
        .uri
        .object
        .clone()
        .ok_or("keygen needs object= in the URI: the new key's label")?;
    let id = token
        .uri
        .id
        .clone()
        .unwrap_or_else(|| rand::random::<[u8; 16]>().to_vec());
    let slot = token.slot().map_err(|e| e.to_string())?;
    let session = token.session(slot, true).map_err(|e| login_message(&e))?;
    for taken in [Attribute::Label(label.as_bytes().to_vec()), Attribute::Id(id.clone())] {
        let existing = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), taken])
            .map_err(|e| describe(&e))?;
        if !existing.is_empty() {
            return Err(format!(
                "a private key with this label or id is already on the token ({}); keys are never replaced: \
                 pick another object= (and id=)",
                token.names()
            ));
        }
    }
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ]
    };
    let mut public = common(false);
    public.push(Attribute::Verify(true));
    let mut private = common(true);
    private.extend([
        Attribute::Sign(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
    ]);
    let mechanism = match spec {
        KeySpec::Rsa2048 => {
            public.extend([
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]);
            Mechanism::RsaPkcsKeyPairGen
        }
        KeySpec::EcdsaP256 => {
            public.push(Attribute::EcParams(der::p256_params()));
            Mechanism::EccKeyPairGen
        }
    };
    let (public_handle, _) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| format!("the token did not generate the key pair: {}", describe(&e)))?;
    let attrs = session
        .get_attributes(
            public_handle,
            &[
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| describe(&e))?;
    let (mut modulus, mut exponent, mut point) = (None, None, None);
    for attr in attrs {
        match attr {
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => exponent = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            _ => {}
        }
    }
    let pem = match (spec, modulus, exponent, point) {
        (KeySpec::Rsa2048, Some(n), Some(e), _) => der::rsa_spki_pem(&n, &e),
        (KeySpec::EcdsaP256, _, _, Some(p)) => der::ec_spki_pem(&p),
        _ => Err("the token did not show the new public key".to_owned()),
    }
    .map_err(|e| Failure::Unusable(e).to_string())?;
    Ok(Generated {
        public_key_pem: pem,
        id_hex: hex::encode(&id),
    })
}
