//! Route modules; each owns its `router()`.

pub mod cookies;
pub mod grants;
pub mod meta;
pub mod urls;
pub mod verify;
