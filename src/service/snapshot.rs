//! Everything loaded from configuration that requests read: distributions
//! with their keys, grants, proxies. Immutable; replaced whole on reload.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::auth::GrantSet;
use crate::config::{Config, ConfigError};
use crate::signing::{CidrV4, KeyResolver, PublicKey};

use super::distribution::Distribution;
use super::sigcache::SignatureCache;

/// A consistent view of the configuration, keys loaded.
#[derive(Debug)]
pub struct Snapshot {
    /// Distributions by name.
    pub distributions: BTreeMap<String, Arc<Distribution>>,
    /// The grants.
    pub grants: GrantSet,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<CidrV4>,
    /// Key warnings found while loading, for the caller to log once.
    pub warnings: Vec<String>,
    key_index: HashMap<String, (String, usize)>,
}

impl Snapshot {
    /// Loads every key named by `config`; all problems are reported at once.
    pub fn load(config: &Config) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let mut distributions = Vec::new();
        for d in &config.distributions {
            match Distribution::load(d, &mut warnings) {
                Ok(dist) => distributions.push(dist),
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let mut snapshot = Self::from_parts(distributions, config);
        snapshot.warnings = warnings;
        Ok(snapshot)
    }

    /// Assembles a snapshot from distributions already loaded.
    pub fn from_parts(distributions: Vec<Distribution>, config: &Config) -> Self {
        let mut key_index = HashMap::new();
        for d in &distributions {
            for (i, (id, _)) in d.public_keys.iter().enumerate() {
                key_index.insert(id.to_string(), (d.name.clone(), i));
            }
        }
        Self {
            distributions: distributions
                .into_iter()
                .map(|mut d| {
                    let entries = config.signing.cache_entries;
                    d.signatures = (entries > 0).then(|| SignatureCache::new(entries));
                    (d.name.clone(), Arc::new(d))
                })
                .collect(),
            grants: GrantSet::new(&config.grants),
            trusted_proxies: config
                .server
                .trusted_proxies
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            warnings: Vec::new(),
            key_index,
        }
    }

    /// The distribution named `name`, or the only one when `name` is absent.
    pub fn distribution(&self, name: Option<&str>) -> Option<&Arc<Distribution>> {
        match name {
            Some(n) => self.distributions.get(n),
            None if self.distributions.len() == 1 => self.distributions.values().next(),
            None => None,
        }
    }
}

impl KeyResolver for Snapshot {
    fn resolve(&self, key_pair_id: &str) -> Option<&PublicKey> {
        let (dist, i) = self.key_index.get(key_pair_id)?;
        self.distributions.get(dist).map(|d| &d.public_keys[*i].1)
    }
}
