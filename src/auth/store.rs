//! Everything that decides whether a token is valid, as one swappable value:
//! the rules of `[auth]` and the keys of every source (files and JWKS).
//!
//! Each source is replaced whole — the configuration at start and on every
//! reload, the JWKS on every successful fetch — and the merged [`Trust`] is
//! rebuilt from the latest of each, so a reload that removes a secret or a
//! key removes it whatever other sources are configured, and a later JWKS
//! refresh cannot bring it back.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use super::keyset::KeySet;
use crate::config::AuthConfig;

/// The token rules of `[auth]`.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub allowed: HashSet<Algorithm>,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub group_claim: String,
}

impl Rules {
    pub fn from_config(auth: &AuthConfig) -> Self {
        Self {
            allowed: auth
                .algorithms
                .iter()
                .filter_map(|a| a.parse::<crate::config::JwtAlgorithm>().ok())
                .map(|a| a.0)
                .collect(),
            issuers: auth.issuers.clone(),
            audiences: auth.audiences.clone(),
            leeway: auth.leeway_seconds,
            group_claim: auth.group_claim.clone(),
        }
    }
}

/// One consistent view: rules and the merged keys they apply with.
#[derive(Debug)]
pub struct Trust {
    pub(crate) rules: Rules,
    pub(crate) keys: KeySet,
}

#[derive(Debug)]
struct Sources {
    rules: Rules,
    files: KeySet,
    remote: KeySet,
}

/// The current [`Trust`], rebuilt whenever one of its sources is replaced.
#[derive(Debug)]
pub struct KeyStore {
    sources: Mutex<Sources>,
    current: ArcSwap<Trust>,
}

impl KeyStore {
    /// A store over `[auth]`'s rules and its file-based keys; no JWKS keys yet.
    pub(crate) fn new(rules: Rules, files: KeySet) -> Self {
        let sources = Sources {
            rules,
            files,
            remote: KeySet::default(),
        };
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

    /// Replaces the rules and the file-based keys (reload).
    pub(crate) fn set_local(&self, rules: Rules, files: KeySet) {
        self.update(|s| {
            s.rules = rules;
            s.files = files;
        });
    }

    /// Replaces the keys fetched from the JWKS URL if `still_current()`,
    /// evaluated under the lock that orders every update: a fetch of a URL
    /// that a reload replaced meanwhile must not land. True if stored.
    pub fn set_remote_if(&self, remote: KeySet, still_current: impl FnOnce() -> bool) -> bool {
        let mut stored = false;
        self.update(|s| {
            if still_current() {
                s.remote = remote;
                stored = true;
            }
        });
        stored
    }

    /// Drops the keys fetched from the JWKS URL, running `invalidate` under
    /// the same lock first (so no fetch begun before can store afterwards).
    pub fn clear_remote(&self, invalidate: impl FnOnce()) {
        self.update(|s| {
            invalidate();
            s.remote = KeySet::default();
        });
    }

    /// Keys fetched from the JWKS URL that are in use now.
    pub fn remote_count(&self) -> usize {
        self.sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remote
            .named_count()
    }

    fn update(&self, change: impl FnOnce(&mut Sources)) {
        // The lock orders concurrent updates; readers never take it.
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut sources);
        self.current.store(Arc::new(merge(&sources)));
    }
}

fn merge(sources: &Sources) -> Trust {
    let mut keys = sources.files.clone();
    keys.merge(&sources.remote);
    Trust {
        rules: sources.rules.clone(),
        keys,
    }
}
