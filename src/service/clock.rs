//! The service's clock, swappable in tests. The signing core never reads it:
//! times are computed here and passed in.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now", in epoch seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current epoch seconds.
    fn now(&self) -> i64;
}

/// The system clock, read afresh on every call (so a clock jump is honoured).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A fixed clock for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}
