//! An AWS KMS asymmetric key as a signing key (cargo feature `kms`).
//!
//! The private key never leaves KMS: cfsign asks `kms:Sign` for each new
//! signature (the signature cache and `expiry_granularity` keep those rare)
//! and reads the public half once, with `kms:GetPublicKey`, when the key is
//! opened (at start and on reload). Credentials come from the standard AWS
//! chain only (environment, profile, web identity / IRSA, ECS, IMDS): never
//! from cfsign's configuration.
//!
//! Every KMS call runs on one small runtime of this module's own, on its own
//! thread, so [`open`] can wait for GetPublicKey from any thread (also a
//! worker of the service's runtime) and a signature can be awaited from any
//! runtime; a signature whose caller gave up (the key's `timeout`) is
//! cancelled, so a stalled KMS never holds more calls than `max_concurrency`.

mod client;
mod errors;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::{KmsSource, RemoteKey, RemoteKeyError, SignFuture};
use crate::signing::{HashAlgorithm, KeyAlgorithm, PublicKey};

/// Longest wait for the GetPublicKey of [`open`] (credentials included), so
/// an unreachable KMS is a start-up error, not a hang.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message KMS signs as `RAW`; a longer policy is sent as its digest.
const RAW_LIMIT: usize = 4096;

/// The runtime every KMS call runs on: one worker thread, started on the
/// first [`open`] and kept for the life of the process.
fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cfsign-kms")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the KMS runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A KMS key, opened: its client, its ARN and its public half.
pub struct KmsKey {
    client: Client,
    /// The key ARN GetPublicKey answered (an alias resolved once, at open).
    arn: String,
    algorithm: SigningAlgorithmSpec,
    public: PublicKey,
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey")
            .field("arn", &self.arn)
            .field("algorithm", &self.algorithm.as_str())
            .finish_non_exhaustive()
    }
}

/// Opens `source`: builds its client, reads its public key with
/// GetPublicKey and checks that CloudFront can use it (RSA 2048 or ECDSA
/// P-256, for signing). Waits at most [`OPEN_TIMEOUT`]; blocks the calling
/// thread meanwhile (it is called while a configuration loads).
pub fn open(source: &KmsSource) -> Result<Arc<dyn RemoteKey>, String> {
    let runtime = runtime()?;
    let source = source.clone();
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    let task = runtime.spawn(async move {
        let opened = tokio::time::timeout(OPEN_TIMEOUT, open_key(&source))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer from KMS within {OPEN_TIMEOUT:?} (GetPublicKey; check endpoint, network and credentials)"
                ))
            });
        let _ = answer.send(opened);
    });
    match answered.recv_timeout(OPEN_TIMEOUT + Duration::from_secs(2)) {
        Ok(opened) => opened.map(|key| Arc::new(key) as Arc<dyn RemoteKey>),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            task.abort();
            Err(format!("no answer from KMS within {OPEN_TIMEOUT:?}"))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err("the AWS SDK failed while opening the key (see the log above)".into())
        }
    }
}

async fn open_key(source: &KmsSource) -> Result<KmsKey, String> {
    let client = client::client(source).await?;
    let answer = client
        .get_public_key()
        .key_id(&source.key_id)
        .send()
        .await
        .map_err(|e| format!("GetPublicKey: {}", errors::classify(&e)))?;
    // KMS answers with the key ARN (an alias resolved); a local KMS may give
    // the bare key id, and then the name configured is kept.
    let arn = answer
        .key_id()
        .filter(|id| id.starts_with("arn:"))
        .unwrap_or(&source.key_id)
        .to_owned();
    if answer.key_usage() != Some(&KeyUsageType::SignVerify) {
        return Err(format!(
            "{arn} is not a signing key (KeyUsage {}; create it with KeyUsage SIGN_VERIFY)",
            answer.key_usage().map_or("unknown", |u| u.as_str())
        ));
    }
    let spec = key_spec(&answer);
    let (algorithm, expected) = match spec {
        Some("RSA_2048") => (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        Some("ECC_NIST_P256") => (SigningAlgorithmSpec::EcdsaSha256, KeyAlgorithm::EcdsaP256),
        other => {
            return Err(format!(
                "{arn} has key spec {}: CloudFront accepts only RSA 2048 and ECDSA P-256 keys \
                 (KMS key specs RSA_2048 and ECC_NIST_P256)",
                other.unwrap_or("unknown")
            ));
        }
    };
    if !answer.signing_algorithms().contains(&algorithm) {
        return Err(format!(
            "{arn} does not offer the signing algorithm {}",
            algorithm.as_str()
        ));
    }
    let der = answer
        .public_key()
        .ok_or_else(|| format!("GetPublicKey gave no public key for {arn}"))?;
    let public = PublicKey::from_pem(spki_pem(der.as_ref()).as_bytes())
        .map_err(|e| format!("the public key KMS gave for {arn}: {e}"))?;
    if public.algorithm() != expected {
        return Err(format!(
            "the public key KMS gave for {arn} is {}, its key spec says {expected}",
            public.algorithm()
        ));
    }
    // Public, and what an operator registers in the CloudFront key group.
    tracing::info!(
        key = %arn,
        algorithm = %expected,
        public_key = %public.to_pem().unwrap_or_default(),
        "KMS key opened"
    );
    Ok(KmsKey {
        client,
        arn,
        algorithm,
        public,
    })
}

/// The key spec GetPublicKey gave: `KeySpec`, or the same value under its
/// deprecated name `CustomerMasterKeySpec` (all a local KMS may send).
#[allow(deprecated)]
fn key_spec(answer: &aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput) -> Option<&str> {
    answer
        .key_spec()
        .map(KeySpec::as_str)
        .or_else(|| answer.customer_master_key_spec().map(|s| s.as_str()))
}

/// DER SubjectPublicKeyInfo as PEM (`-----BEGIN PUBLIC KEY-----`).
fn spki_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// What Sign is sent for `message`: the policy itself up to KMS's 4 KiB
/// `RAW` limit (KMS hashes it with SHA-256), else its SHA-256 digest.
fn sign_input(message: Vec<u8>) -> (MessageType, Vec<u8>) {
    if message.len() <= RAW_LIMIT {
        (MessageType::Raw, message)
    } else {
        (MessageType::Digest, Sha256::digest(&message).to_vec())
    }
}

impl RemoteKey for KmsKey {
    fn kind(&self) -> &'static str {
        "kms"
    }

    fn location(&self) -> String {
        self.arn.clone()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: Vec<u8>, hash: HashAlgorithm) -> SignFuture {
        if hash != HashAlgorithm::Sha256 {
            return Box::pin(std::future::ready(Err(RemoteKeyError::Refused(
                "AWS KMS signs SHA-256 digests only".into(),
            ))));
        }
        let runtime = match runtime() {
            Ok(runtime) => runtime,
            Err(e) => return Box::pin(std::future::ready(Err(RemoteKeyError::Unavailable(e)))),
        };
        let (client, arn, algorithm) = (self.client.clone(), self.arn.clone(), self.algorithm.clone());
        let (message_type, message) = sign_input(message);
        let call = runtime.spawn(async move {
            let answer = client
                .sign()
                .key_id(arn)
                .message(Blob::new(message))
                .message_type(message_type)
                .signing_algorithm(algorithm)
                .send()
                .await
                .map_err(|e| errors::classify(&e))?;
            answer
                .signature()
                .map(|s| s.as_ref().to_vec())
                .ok_or_else(|| RemoteKeyError::Refused("KMS answered Sign without a signature".into()))
        });
        Box::pin(Cancelling(call))
    }
}

/// A call on the KMS runtime that is cancelled when its caller stops
/// waiting (the key's timeout), so abandoned calls do not pile up.
struct Cancelling(JoinHandle<Result<Vec<u8>, RemoteKeyError>>);

impl Future for Cancelling {
    type Output = Result<Vec<u8>, RemoteKeyError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.unwrap_or_else(|e| Err(RemoteKeyError::Unavailable(format!("KMS call ended: {e}")))))
    }
}

impl Drop for Cancelling {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;

    #[test]
    fn a_policy_up_to_4_kib_is_sent_raw_a_longer_one_as_its_sha256_digest() {
        let short = b"{\"Statement\":[]}".to_vec();
        assert_eq!(sign_input(short.clone()), (MessageType::Raw, short));
        let edge = vec![b'a'; RAW_LIMIT];
        assert_eq!(sign_input(edge.clone()), (MessageType::Raw, edge));
        let long = vec![b'a'; RAW_LIMIT + 1];
        let (kind, sent) = sign_input(long.clone());
        assert_eq!(kind, MessageType::Digest);
        assert_eq!(sent, Sha256::digest(&long).to_vec());
        assert_eq!(sent.len(), 32);
    }

    #[test]
    fn a_der_public_key_becomes_the_spki_pem_cfsign_reads() {
        let key = crate::signing::PrivateKey::generate(crate::signing::KeySpec::EcdsaP256).unwrap();
        let pem = key.public_key().unwrap().to_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        assert_eq!(spki_pem(&der), pem);
    }

    #[test]
    fn sha1_is_refused_before_any_call() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let key = KmsKey {
            client: Client::from_conf(config),
            arn: "arn:aws:kms:eu-west-1:111122223333:key/1".into(),
            algorithm: SigningAlgorithmSpec::EcdsaSha256,
            public: crate::signing::PrivateKey::generate(crate::signing::KeySpec::EcdsaP256)
                .unwrap()
                .public_key()
                .unwrap(),
        };
        let outcome = runtime.block_on(key.sign(b"policy".to_vec(), HashAlgorithm::Sha1));
        assert!(matches!(outcome, Err(RemoteKeyError::Refused(m)) if m.contains("SHA-256")));
    }
}
