//! Everything that decides whether a token is valid, as one swappable
//! value: per trusted issuer, its rules and the keys of each of its sources
//! (files and JWKS). A token's `iss` selects one issuer; no other issuer's
//! keys are ever tried for it (RFC 8725 §3.8–3.10).
//!
//! Each source is replaced whole — the files at start and on every reload,
//! an issuer's JWKS on every successful fetch — and the [`Trust`] is
//! rebuilt from the latest of each, so a reload that removes a secret or a
//! key removes it whatever other sources are configured, and a later JWKS
//! refresh cannot bring it back.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use super::keyset::KeySet;
use crate::config::{AuthConfig, ClaimsConfig, IssuerConfig};

/// The token rules of one issuer.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// The exact `iss`.
    pub issuer: String,
    pub allowed: HashSet<Algorithm>,
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub claims: ClaimsConfig,
}

impl Rules {
    /// The rules of every issuer `auth` trusts, in configured order.
    pub fn from_config(auth: &AuthConfig) -> Vec<Self> {
        auth.trusted()
            .iter()
            .map(|i| Self::of(i, auth.leeway_seconds))
            .collect()
    }

    fn of(issuer: &IssuerConfig, leeway: u64) -> Self {
        Self {
            issuer: issuer.issuer.clone(),
            allowed: issuer
                .algorithms
                .iter()
                .filter_map(|a| a.parse::<crate::config::JwtAlgorithm>().ok())
                .map(|a| a.0)
                .collect(),
            audiences: issuer.audiences.clone(),
            leeway,
            claims: issuer.claims.clone(),
        }
    }
}

/// One issuer's rules and the merged keys they apply with.
#[derive(Debug)]
pub struct IssuerTrust {
    pub(crate) rules: Rules,
    pub(crate) keys: KeySet,
}

/// One consistent view over every trusted issuer.
#[derive(Debug)]
pub struct Trust {
    pub(crate) issuers: Vec<IssuerTrust>,
}

impl Trust {
    /// The issuer whose `iss` is exactly `iss`.
    pub(crate) fn issuer(&self, iss: &str) -> Option<&IssuerTrust> {
        self.issuers.iter().find(|i| i.rules.issuer == iss)
    }
}

#[derive(Debug)]
struct Source {
    rules: Rules,
    files: KeySet,
    remote: KeySet,
}

/// The current [`Trust`], rebuilt whenever one of its sources is replaced.
#[derive(Debug)]
pub struct KeyStore {
    sources: Mutex<Vec<Source>>,
    current: ArcSwap<Trust>,
}

impl KeyStore {
    /// A store over each issuer's rules and file-based keys; no JWKS keys yet.
    pub(crate) fn new(local: Vec<(Rules, KeySet)>) -> Self {
        let sources: Vec<Source> = local
            .into_iter()
            .map(|(rules, files)| Source {
                rules,
                files,
                remote: KeySet::default(),
            })
            .collect();
        let current = ArcSwap::from_pointee(merge(&sources));
        Self {
            sources: Mutex::new(sources),
            current,
        }
    }

    /// The trust every token is checked against now.
    pub fn current(&self) -> Arc<Trust> {
        self.current.load_full()
    }

    /// Replaces every issuer's rules and file-based keys (reload). Issuers
    /// no longer configured go with their JWKS keys; the JWKS keys of the
    /// others stay until their fetcher replaces or drops them.
    pub(crate) fn set_local(&self, local: Vec<(Rules, KeySet)>) {
        self.update(|sources| {
            let mut old = std::mem::take(sources);
            for (rules, files) in local {
                let remote = old
                    .iter()
                    .position(|s| s.rules.issuer == rules.issuer)
                    .map(|i| old.swap_remove(i).remote)
                    .unwrap_or_default();
                sources.push(Source { rules, files, remote });
            }
        });
    }

    /// Replaces `issuer`'s JWKS keys if `still_current()`, evaluated under
    /// the lock that orders every update: a fetch of a URL that a reload
    /// replaced meanwhile must not land. True if stored.
    pub fn set_remote_if(&self, issuer: &str, remote: KeySet, still_current: impl FnOnce() -> bool) -> bool {
        let mut stored = false;
        self.update(|sources| {
            if let Some(s) = sources.iter_mut().find(|s| s.rules.issuer == issuer)
                && still_current()
            {
                s.remote = remote;
                stored = true;
            }
        });
        stored
    }

    /// Drops `issuer`'s JWKS keys, running `invalidate` under the same lock
    /// first (so no fetch begun before can store afterwards).
    pub fn clear_remote(&self, issuer: &str, invalidate: impl FnOnce()) {
        self.update(|sources| {
            invalidate();
            if let Some(s) = sources.iter_mut().find(|s| s.rules.issuer == issuer) {
                s.remote = KeySet::default();
            }
        });
    }

    /// `issuer`'s JWKS keys in use now.
    pub fn remote_count(&self, issuer: &str) -> usize {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.rules.issuer == issuer)
            .map_or(0, |s| s.remote.named_count())
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Source>)) {
        // The lock orders concurrent updates; readers never take it.
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut sources);
        self.current.store(Arc::new(merge(&sources)));
    }
}

fn merge(sources: &[Source]) -> Trust {
    let issuers = sources
        .iter()
        .map(|s| {
            let mut keys = s.files.clone();
            keys.merge(&s.remote);
            IssuerTrust {
                rules: s.rules.clone(),
                keys,
            }
        })
        .collect();
    Trust { issuers }
}
