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
mod token;

use std::sync::{Arc, Mutex, PoisonError};

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::session::Session;
use sha2::Digest;

pub use keygen::generate;

use self::token::{Failure, Found, Kind, Token, describe};
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

/// The token, the key's kind and public half, and the session pool.
#[derive(Debug)]
struct Inner {
    token: Token,
    kind: Kind,
    /// The public half found at open: a key found again after a loss must be it.
    pem: String,
    state: Mutex<State>,
}

/// Idle sessions and the key's handle; both dropped when the token is lost.
#[derive(Debug, Default)]
struct State {
    sessions: Vec<Session>,
    key: Option<Found>,
    /// Bumped at every loss: a session taken before it is not put back.
    generation: u64,
    /// The module's epoch the sessions were opened in.
    epoch: u64,
    /// The token refused the PIN: not tried again until a reload.
    pin_refused: bool,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signs on an idle session (or a new one), recovering the token first
    /// when it was lost; when no token matches any more, the module is
    /// initialised anew (rate-limited) and the token looked for once more.
    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, RemoteKeyError> {
        match self.sign_once(message, hash) {
            Err((_, true)) if self.token.module.rescan() => {
                tracing::info!(key = %self.token.names(), "no token matched: the PKCS#11 module was initialised anew");
                self.sign_once(message, hash).map_err(|(e, _)| e)
            }
            outcome => outcome.map_err(|(e, _)| e),
        }
    }

    /// One try; on failure, whether no token matched.
    fn sign_once(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, (RemoteKeyError, bool)> {
        let _calls = self.token.module.calls();
        self.forget_stale();
        let (session, found, generation) = self.checkout()?;
        match self.sign_with(&session, found, message, hash) {
            Ok(signature) => {
                self.checkin(session, generation);
                Ok(signature)
            }
            Err(e) => {
                let (error, lost) = classify(&e);
                if lost {
                    self.lose(generation);
                } else {
                    self.checkin(session, generation);
                }
                Err((error, false))
            }
        }
    }

    fn checkin(&self, session: Session, generation: u64) {
        let mut state = self.lock();
        if state.generation == generation {
            state.sessions.push(session);
        }
    }

    /// After a rescan the sessions are gone with the old initialisation:
    /// forgotten, not closed (their handles may name new sessions now).
    fn forget_stale(&self) {
        let epoch = self.token.module.epoch();
        let mut state = self.lock();
        if state.epoch != epoch {
            for session in std::mem::take(&mut state.sessions) {
                std::mem::forget(session);
            }
            state.key = None;
            state.generation += 1;
            state.epoch = epoch;
        }
    }

    /// An idle session and the key, or after a loss a new session, a new
    /// login and the key found again (and checked to be the same key).
    fn checkout(&self) -> Result<(Session, Found, u64), (RemoteKeyError, bool)> {
        let (idle, key, generation) = {
            let mut state = self.lock();
            if state.pin_refused {
                let refused =
                    "the token refused the PIN; fix the PIN file and reload (not retried: retries lock the token)";
                return Err((RemoteKeyError::Refused(refused.into()), false));
            }
            (state.sessions.pop(), state.key, state.generation)
        };
        if let (Some(session), Some(key)) = (idle, key) {
            return Ok((session, key, generation));
        }
        let slot = self.token.slot().map_err(|e| {
            let no_token = matches!(e, Failure::NoToken(_));
            (self.failure(e, generation), no_token)
        })?;
        let session = self.token.session(slot, false).map_err(|e| {
            if matches!(e, Error::Pkcs11(RvError::PinIncorrect | RvError::PinLocked, _)) {
                self.lock().pin_refused = true;
                return (RemoteKeyError::Refused(login_message(&e)), false);
            }
            (self.failure(Failure::Call(e), generation), false)
        })?;
        let found = match key {
            Some(found) => found,
            None => {
                let (found, pem) = self
                    .token
                    .find_key(&session)
                    .map_err(|e| (self.failure(e, generation), false))?;
                if pem != self.pem {
                    let changed = format!(
                        "the key now at {} is not the one opened at start (another public key): reload cfsign",
                        self.token.names()
                    );
                    return Err((RemoteKeyError::Refused(changed), false));
                }
                self.lock().key = Some(found);
                found
            }
        };
        Ok((session, found, generation))
    }

    /// The error a failed recovery step is, forgetting the token when lost.
    fn failure(&self, failure: Failure, generation: u64) -> RemoteKeyError {
        match failure {
            Failure::Call(e) => {
                let (error, lost) = classify(&e);
                if lost {
                    self.lose(generation);
                }
                error
            }
            Failure::NoToken(m) | Failure::Missing(m) => RemoteKeyError::Unavailable(m),
            Failure::Unusable(m) => RemoteKeyError::Refused(m),
        }
    }

    /// Forgets every session and the key handle (unless someone already did
    /// since `generation`): the next call starts over.
    fn lose(&self, generation: u64) {
        let dropped = {
            let mut state = self.lock();
            if state.generation != generation {
                return;
            }
            state.generation += 1;
            state.key = None;
            std::mem::take(&mut state.sessions)
        };
        // Closing a session of a removed token fails; cryptoki logs and moves on.
        drop(dropped);
    }

    /// One signature with `found` on `session`, in the bytes a file key gives.
    fn sign_with(
        &self,
        session: &Session,
        found: Found,
        message: &[u8],
        hash: HashAlgorithm,
    ) -> Result<Vec<u8>, Error> {
        match (self.kind, hash) {
            (Kind::Rsa, HashAlgorithm::Sha1) => session.sign(&Mechanism::Sha1RsaPkcs, found.handle, message),
            (Kind::Rsa, HashAlgorithm::Sha256) => session.sign(&Mechanism::Sha256RsaPkcs, found.handle, message),
            (Kind::Ecdsa, hash) => {
                let digest = match hash {
                    HashAlgorithm::Sha1 => sha1::Sha1::digest(message).to_vec(),
                    HashAlgorithm::Sha256 => sha2::Sha256::digest(message).to_vec(),
                };
                let raw = session.sign(&Mechanism::Ecdsa, found.handle, &digest)?;
                der::ecdsa_der(&raw).map_err(|_| Error::InvalidValue)
            }
        }
    }
}

/// The `RemoteKeyError` a failed call is, and whether the session (and
/// with it the token) is lost and must be reopened.
fn classify(error: &Error) -> (RemoteKeyError, bool) {
    let message = describe(error);
    let Error::Pkcs11(rv, _) = error else {
        return (RemoteKeyError::Refused(message), false);
    };
    match rv {
        RvError::SessionCount | RvError::DeviceMemory | RvError::HostMemory => {
            (RemoteKeyError::Throttled(message), false)
        }
        RvError::KeyFunctionNotPermitted
        | RvError::KeyTypeInconsistent
        | RvError::MechanismInvalid
        | RvError::MechanismParamInvalid
        | RvError::DataLenRange
        | RvError::DataInvalid
        | RvError::PinExpired => (RemoteKeyError::Refused(message), false),
        // Anything else may be the token going away (session handle
        // invalid or closed, device removed or in error, token absent or
        // not recognised, user logged out, object handle stale): start over.
        _ => (RemoteKeyError::Unavailable(message), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_and_token_losses_are_unavailable_and_recovered() {
        use cryptoki::context::Function;
        for rv in [
            RvError::SessionHandleInvalid,
            RvError::SessionClosed,
            RvError::DeviceRemoved,
            RvError::TokenNotPresent,
            RvError::UserNotLoggedIn,
            RvError::DeviceError,
            RvError::KeyHandleInvalid,
        ] {
            let (error, lost) = classify(&Error::Pkcs11(rv, Function::Sign));
            assert!(
                matches!(error, RemoteKeyError::Unavailable(_)) && lost,
                "{rv:?}: {error}"
            );
        }
        let (error, lost) = classify(&Error::Pkcs11(RvError::KeyFunctionNotPermitted, Function::SignInit));
        assert_eq!(
            error,
            RemoteKeyError::Refused("C_SignInit: CKR_KEY_FUNCTION_NOT_PERMITTED".into())
        );
        assert!(!lost);
        let (error, _) = classify(&Error::Pkcs11(RvError::SessionCount, Function::OpenSession));
        assert_eq!(
            error,
            RemoteKeyError::Throttled("C_OpenSession: CKR_SESSION_COUNT".into())
        );
        assert_eq!(
            describe(&Error::Pkcs11(RvError::DeviceRemoved, Function::Sign)),
            "C_Sign: CKR_DEVICE_REMOVED"
        );
    }

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
