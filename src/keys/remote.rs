//! Keys held outside cfsign (a PKCS#11 token, an AWS KMS key): signing is a
//! call that can be slow, throttled or fail for a while. [`RemoteSigner`]
//! bounds how many calls run at once per key, gives each a deadline, and
//! counts every outcome; the pipeline answers any failure 503 +
//! `Retry-After` (`key_unavailable`), never a hang.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

use crate::signing::{HashAlgorithm, KeyAlgorithm, KeyPairId, PublicKey};

/// A signature on its way: `'static`, so implementations clone what they
/// need (an `Arc` of their session or client) into it.
pub type SignFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RemoteKeyError>> + Send>>;

/// A private key cfsign never holds: it asks the vault to sign.
///
/// Opened once (at start and on reload), when its public half is read.
pub trait RemoteKey: Send + Sync + fmt::Debug {
    /// `"pkcs11"` or `"kms"`: for logs.
    fn kind(&self) -> &'static str;
    /// Where the key lives, without any secret (a PKCS#11 URI without its
    /// PIN, a KMS key ARN): for logs.
    fn location(&self) -> String;
    /// The public half, read when the key was opened.
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (the policy bytes) with `hash`, giving the bytes a
    /// file key's `PrivateKey::sign` gives: PKCS#1 v1.5 for RSA, DER
    /// (r, s) for ECDSA. Never blocks the calling thread: blocking calls run
    /// on `spawn_blocking` or a thread of the implementation's own.
    fn sign(&self, message: Vec<u8>, hash: HashAlgorithm) -> SignFuture;
}

/// Why a remote key did not sign. Every kind is answered 503 +
/// `Retry-After`; the kind is the `result` label of
/// `cfsign_key_operations_total` and the reason in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteKeyError {
    /// The vault asked to slow down (KMS `ThrottlingException`, a token out of sessions).
    #[error("throttled: {0}")]
    Throttled(String),
    /// No answer within the key's `timeout`, or no free slot within it.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The vault cannot be reached or lost the session (network, token
    /// removed, logged out): retried by the next request.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The vault refused the operation (permissions, key disabled, wrong
    /// key usage): an operator has to act.
    #[error("refused: {0}")]
    Refused(String),
}

impl RemoteKeyError {
    /// The `result` label value.
    pub fn label(&self) -> &'static str {
        match self {
            RemoteKeyError::Throttled(_) => "throttled",
            RemoteKeyError::Timeout(_) => "timeout",
            RemoteKeyError::Unavailable(_) => "unavailable",
            RemoteKeyError::Refused(_) => "refused",
        }
    }
}

/// How many signatures may be asked of one remote key at once, and how long
/// one may take, queueing for a slot included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteLimits {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Deadline of one call, waiting for a slot included.
    pub timeout: Duration,
}

/// A signature on its way, awaited by every request for the same policy.
type InFlight = Shared<BoxFuture<'static, Result<Vec<u8>, RemoteKeyError>>>;

/// A remote key as the pipeline uses it: bounded, timed and counted, and
/// asked once for a policy however many requests want it at once.
#[derive(Clone)]
pub struct RemoteSigner {
    key: Arc<dyn RemoteKey>,
    id: KeyPairId,
    slots: Arc<Semaphore>,
    timeout: Duration,
    /// Signatures being made, by digest and policy: a burst of requests for
    /// a new resource costs one vault call (for KMS, one billed request
    /// against the account's quota), not one per request.
    in_flight: Arc<Mutex<InFlightMap>>,
}

/// In-flight signatures by digest and policy bytes.
type InFlightMap = HashMap<(HashAlgorithm, Vec<u8>), InFlight>;

impl fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("key", &self.key)
            .field("id", &self.id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RemoteSigner {
    /// `key`, registered in CloudFront as `id`, within `limits`.
    pub fn new(key: Arc<dyn RemoteKey>, id: KeyPairId, limits: RemoteLimits) -> Self {
        Self {
            key,
            id,
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            timeout: limits.timeout,
            in_flight: Arc::default(),
        }
    }

    /// The key behind this signer.
    pub fn key(&self) -> &Arc<dyn RemoteKey> {
        &self.key
    }

    /// The key's algorithm (from its public half).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.public_key().algorithm()
    }

    /// Signs `message`, waiting at most the key's timeout for a slot and
    /// the answer together. A request for a policy already being signed
    /// waits for that signature instead of asking the vault again.
    pub async fn sign(&self, message: Vec<u8>, hash: HashAlgorithm) -> Result<Vec<u8>, RemoteKeyError> {
        let asked = (hash, message);
        let signing = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match in_flight.get(&asked) {
                Some(signing) => signing.clone(),
                None => {
                    let this = self.clone();
                    let message = asked.1.clone();
                    let signing = async move { this.call(message, hash).await }.boxed().shared();
                    in_flight.insert(asked.clone(), signing.clone());
                    signing
                }
            }
        };
        let outcome = signing.await;
        // The first to get the answer clears the entry: later requests find
        // the signature in the cache (or, after a failure, ask again).
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&asked);
        outcome
    }

    /// One call to the vault; every outcome is counted and timed.
    async fn call(&self, message: Vec<u8>, hash: HashAlgorithm) -> Result<Vec<u8>, RemoteKeyError> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| RemoteKeyError::Unavailable("key closed".into()))?;
            self.key.sign(message, hash).await
        })
        .await
        .unwrap_or(Err(RemoteKeyError::Timeout(self.timeout)))
        .and_then(|signature| {
            if signature.is_empty() {
                Err(RemoteKeyError::Refused("empty signature".into()))
            } else {
                Ok(signature)
            }
        });
        let result = match &outcome {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        crate::metrics::key_operation(self.id.as_str(), result, started.elapsed());
        if let Err(e) = &outcome {
            tracing::warn!(
                key_pair_id = %self.id,
                kind = self.key.kind(),
                result,
                "remote key did not sign: {e}"
            );
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{KeySpec, PrivateKey};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file key behind the trait, with a delay and a running-call count:
    /// tests the bounds around the trait, not any vault.
    #[derive(Debug)]
    struct Delayed {
        key: Arc<PrivateKey>,
        public: PublicKey,
        delay: Duration,
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl RemoteKey for Delayed {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn location(&self) -> String {
            "memory".into()
        }
        fn public_key(&self) -> &PublicKey {
            &self.public
        }
        fn sign(&self, message: Vec<u8>, hash: HashAlgorithm) -> SignFuture {
            let (key, delay) = (Arc::clone(&self.key), self.delay);
            let (running, most) = (Arc::clone(&self.running), Arc::clone(&self.most));
            Box::pin(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                running.fetch_sub(1, Ordering::SeqCst);
                key.sign(&message, hash)
                    .map_err(|e| RemoteKeyError::Refused(e.to_string()))
            })
        }
    }

    fn signer(delay: Duration, limits: RemoteLimits) -> (RemoteSigner, Arc<AtomicUsize>) {
        let key = PrivateKey::generate(KeySpec::EcdsaP256).unwrap();
        let most = Arc::new(AtomicUsize::new(0));
        let remote = Delayed {
            public: key.public_key().unwrap(),
            key: Arc::new(key),
            delay,
            running: Arc::new(AtomicUsize::new(0)),
            most: Arc::clone(&most),
        };
        let id = "K2TESTREMOTE".parse().unwrap();
        (RemoteSigner::new(Arc::new(remote), id, limits), most)
    }

    #[tokio::test]
    async fn signs_within_its_concurrency_and_the_signature_verifies() {
        let limits = RemoteLimits {
            concurrency: 2,
            timeout: Duration::from_secs(5),
        };
        let (signer, most) = signer(Duration::from_millis(20), limits);
        let policies: Vec<Vec<u8>> = (0..8).map(|i| format!("policy {i}").into_bytes()).collect();
        let calls = policies.iter().map(|p| signer.sign(p.clone(), HashAlgorithm::Sha256));
        let signatures = futures_util::future::join_all(calls).await;
        for (signature, policy) in signatures.into_iter().zip(&policies) {
            let public = signer.key().public_key();
            assert!(public.verify(policy, &signature.unwrap(), HashAlgorithm::Sha256));
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most `concurrency` calls at once");
    }

    #[tokio::test]
    async fn requests_for_one_policy_at_once_cost_one_call() {
        let limits = RemoteLimits {
            concurrency: 8,
            timeout: Duration::from_secs(5),
        };
        let (signer, most) = signer(Duration::from_millis(50), limits);
        let same = (0..6).map(|_| signer.sign(b"one policy".to_vec(), HashAlgorithm::Sha256));
        let other = signer.sign(b"another".to_vec(), HashAlgorithm::Sha256);
        let (same, other) = tokio::join!(futures_util::future::join_all(same), other);
        let first = same[0].clone().unwrap();
        assert!(
            same.iter().all(|s| s.as_ref() == Ok(&first)),
            "one signature for all six"
        );
        assert!(other.is_ok());
        assert_eq!(most.load(Ordering::SeqCst), 2, "one call per policy, the two at once");
        assert!(signer.in_flight.lock().unwrap().is_empty(), "nothing left in flight");
    }

    #[tokio::test]
    async fn a_slow_key_is_a_timeout_not_a_hang() {
        let limits = RemoteLimits {
            concurrency: 1,
            timeout: Duration::from_millis(50),
        };
        let (signer, _) = signer(Duration::from_secs(30), limits);
        let started = Instant::now();
        let outcome = signer.sign(b"policy".to_vec(), HashAlgorithm::Sha256).await;
        assert_eq!(outcome, Err(RemoteKeyError::Timeout(Duration::from_millis(50))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
