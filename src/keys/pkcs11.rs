//! Placeholder until the pkcs11 key source lands (issue 18): refuses to open.

use std::sync::Arc;

use super::RemoteKey;

/// Refuses: not built yet.
pub fn open(_source: &super::Pkcs11Source) -> Result<Arc<dyn RemoteKey>, String> {
    Err("pkcs11 keys are not supported yet".into())
}
