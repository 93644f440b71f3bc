//! Keys on a PKCS#11 token (an HSM, a YubiHSM, CloudHSM, SoftHSM): cfsign
//! holds a logged-in session, never the key. Opened once (start, reload):
//! the module is loaded, the token found by the URI, the user logged in with
//! the PIN file's PIN, the key and its public half found, and one signature
//! made and verified, so a wrong PIN, a missing key or a public object that
//! belongs to another key is a start-up error.
//!
//! Signing runs on `spawn_blocking` with a session from a small pool. A
//! session or token that is gone (`CKR_SESSION_HANDLE_INVALID`,
//! `CKR_DEVICE_REMOVED`, `CKR_TOKEN_NOT_PRESENT`, …) fails that signature as
//! `Unavailable` and empties the pool; the next call finds the token and the
//! key again and logs in anew. A PIN the token refuses is not tried again
//! until a reload (retrying would lock the token).

mod der;
mod keygen;
mod pool;
mod token;

use std::sync::{Arc, Mutex};

use cryptoki::error::{Error, RvError};

pub use keygen::generate;

use self::pool::{Inner, State};
use self::token::{Token, describe};
use super::pkcs11_uri::{Pkcs11Uri, redact};
use super::{Pkcs11Source, RemoteKey, RemoteKeyError, SignFuture};
use crate::signing::{HashAlgorithm, PublicKey};

/// What every token key signs once when opened, to prove that the private
/// key signs and that the public half found beside it verifies.
const PROBE: &[u8] = b"cfsign: checking the token key at start";

/// Opens the key `source` names (see the module header).
pub fn open(source: &Pkcs11Source) -> Result<Arc<dyn RemoteKey>, String> {
    let (token, location) = prepare(source)?;
    let module = Arc::clone(&token.module);
    let _calls = module.calls();
    let slot = token.slot().map_err(|e| e.to_string())?;
    let session = token.session(slot, false).map_err(|e| login_message(&e))?;
    let (found, pem) = token.find_key(&session).map_err(|e| e.to_string())?;
    let public = PublicKey::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let inner = Inner {
        token,
        kind: found.kind,
        pem: pem.clone(),
        state: Mutex::new(State::default()),
    };
    let signature = inner
        .sign_with(&session, found, PROBE, HashAlgorithm::Sha256)
        .map_err(|e| format!("the key does not sign: {e}"))?;
    if !public.verify(PROBE, &signature, HashAlgorithm::Sha256) {
        return Err(format!(
            "the public key found beside {} does not verify its signature: they are not one key pair",
            inner.token.names()
        ));
    }
    if let Err(e) = inner.sign_with(&session, found, PROBE, HashAlgorithm::Sha1) {
        tracing::warn!(key = %location, "the token key cannot sign SHA-1 ({e}): a SHA1 distribution gets 503 from it");
    }
    *inner.lock() = State {
        sessions: vec![session],
        key: Some(found),
        generation: 0,
        epoch: module.epoch(),
        pin_refused: false,
    };
    tracing::info!(
        key = %location,
        algorithm = %public.algorithm(),
        public_key = %pem.trim_end(),
        "PKCS#11 key opened: register this public key in the CloudFront key group"
    );
    Ok(Arc::new(Pkcs11Key {
        location,
        public,
        inner: Arc::new(inner),
    }))
}

/// Parses the URI, reads the PIN and loads the module: what opening a key
/// and generating one share.
fn prepare(source: &Pkcs11Source) -> Result<(Token, String), String> {
    let location = redact(&source.uri);
    let uri = Pkcs11Uri::parse(&source.uri).map_err(|e| e.to_string())?;
    let module = uri
        .module_path
        .clone()
        .ok_or("no module: add ?module-path=/path/to/the/pkcs11-module.so to the URI")?;
    if uri.object.is_none() && uri.id.is_none() {
        return Err("name the key with object= (its label) and/or id= in the URI".into());
    }
    let pin_file = match (&source.pin_file, &uri.pin_source) {
        (Some(file), Some(other)) if file != other => {
            return Err("the PIN file and the URI's pin-source name different files: give one".into());
        }
        (Some(file), _) | (None, Some(file)) => file.clone(),
        (None, None) => {
            return Err("no PIN: name a file holding the token's user PIN with pin_file (or --pin-file)".into());
        }
    };
    if let Some(warning) = crate::secret_file::readable_by_others(&pin_file) {
        tracing::warn!(key = %location, "{warning}");
    }
    let pin = crate::secret_file::read_passphrase(&pin_file).map_err(|e| format!("{}: {e}", pin_file.display()))?;
    if pin.is_empty() {
        return Err(format!("{}: the PIN file is empty", pin_file.display()));
    }
    let module = token::module(&module)?;
    Ok((Token::new(module, uri, pin), location))
}

/// A failed login, without the PIN.
fn login_message(error: &Error) -> String {
    match error {
        Error::Pkcs11(RvError::PinIncorrect, _) => {
            "the token refused the PIN (CKR_PIN_INCORRECT): check the PIN file".into()
        }
        Error::Pkcs11(RvError::PinLocked, _) => "the token's user PIN is locked (CKR_PIN_LOCKED)".into(),
        other => describe(other),
    }
}

/// A key on a token.
#[derive(Debug)]
struct Pkcs11Key {
    location: String,
    public: PublicKey,
    inner: Arc<Inner>,
}

impl RemoteKey for Pkcs11Key {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: Vec<u8>, hash: HashAlgorithm) -> SignFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || inner.sign(&message, hash))
                .await
                .unwrap_or_else(|e| Err(RemoteKeyError::Unavailable(format!("the signing thread failed: {e}"))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_before_the_module_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, "1234\n").unwrap();
        let open = |uri: &str, pin_file: Option<&std::path::Path>| {
            let source = Pkcs11Source {
                uri: uri.to_owned(),
                pin_file: pin_file.map(Into::into),
            };
            open(&source).unwrap_err()
        };
        let cases = [
            (open("pkcs11:object=k", Some(&pin)), "module-path"),
            (open("pkcs11:token=t?module-path=/m.so", Some(&pin)), "object="),
            (open("pkcs11:object=k?module-path=/m.so", None), "pin_file"),
            (
                open("pkcs11:object=k?module-path=/m.so&pin-source=file:/other", Some(&pin)),
                "different files",
            ),
            (
                open("pkcs11:object=k?module-path=/nonexistent/module.so", Some(&pin)),
                "/nonexistent/module.so",
            ),
            (open("pkcs11:object=k?pin-value=1234", Some(&pin)), "wrong place"),
        ];
        for (error, expected) in cases {
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("1234"), "{error}");
        }
        std::fs::write(&pin, "\n").unwrap();
        let e = open("pkcs11:object=k?module-path=/m.so", Some(&pin));
        assert!(e.contains("empty"), "{e}");
    }
}
