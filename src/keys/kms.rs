//! Placeholder until the kms key source lands (issue 18): refuses to open.

use std::sync::Arc;

use super::RemoteKey;

/// Refuses: not built yet.
pub fn open(_source: &super::KmsSource) -> Result<Arc<dyn RemoteKey>, String> {
    Err("kms keys are not supported yet".into())
}
