//! The session pool of one token key: signing on an idle session (or a new
//! one), and the recovery when the token or its session is lost.

use std::sync::{Mutex, PoisonError};

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::session::Session;
use sha2::Digest;

use super::der;
use super::login_message;
use super::token::{Failure, Found, Kind, Token, describe};
use crate::keys::RemoteKeyError;
use crate::signing::HashAlgorithm;

/// The token, the key's kind and public half, and the session pool.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) token: Token,
    pub(super) kind: Kind,
    /// The public half found at open: a key found again after a loss must be it.
    pub(super) pem: String,
    pub(super) state: Mutex<State>,
}

/// Idle sessions and the key's handle; both dropped when the token is lost.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) sessions: Vec<Session>,
    pub(super) key: Option<Found>,
    /// Bumped at every loss: a session taken before it is not put back.
    pub(super) generation: u64,
    /// The module's epoch the sessions were opened in.
    pub(super) epoch: u64,
    /// The token refused the PIN: not tried again until a reload.
    pub(super) pin_refused: bool,
}

impl Drop for Inner {
    /// A key dropped by a reload closes its sessions, unless a rescan since
    /// made them stale (closing those could close another key's sessions).
    fn drop(&mut self) {
        let epoch = self.token.module.epoch();
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if state.epoch != epoch {
            for session in std::mem::take(&mut state.sessions) {
                std::mem::forget(session);
            }
        }
    }
}

impl Inner {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signs on an idle session (or a new one), recovering the token first
    /// when it was lost; when no token matches any more, the module is
    /// initialised anew (rate-limited) and the token looked for once more.
    pub(super) fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, RemoteKeyError> {
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
    pub(super) fn sign_with(
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
}
