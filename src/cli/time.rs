//! Dates and durations on the command line, read the way `aws cloudfront sign`
//! reads them, and the system clock (the signing core never reads one).

use std::time::{SystemTime, UNIX_EPOCH};

/// Why a date or duration argument could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not a date ([`crate::dates::FORMATS`]).
    #[error(transparent)]
    Date(#[from] crate::dates::DateError),
    /// Not a humantime duration.
    #[error("{0:?} is not a duration: use e.g. 90s, 15m, 12h, 7d or \"1h 30m\"")]
    Duration(String),
    /// A zero duration, or one that overflows the calendar.
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// The system clock, in epoch seconds.
pub fn now() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
}

/// Parses a date as `aws cloudfront sign` reads `--date-less-than`
/// ([`crate::dates::parse_date`]), to epoch seconds.
pub fn parse_date(input: &str) -> Result<i64, TimeError> {
    Ok(crate::dates::parse_date(input)?)
}

/// Parses a humantime duration (`90s`, `15m`, `12h`, `7d`, `1h 30m`) into
/// whole seconds; zero is refused (the URL would be born expired).
pub fn parse_duration(input: &str) -> Result<i64, TimeError> {
    let duration = humantime::parse_duration(input.trim()).map_err(|_| TimeError::Duration(input.to_owned()))?;
    match i64::try_from(duration.as_secs()) {
        Ok(secs) if secs > 0 => Ok(secs),
        _ => Err(TimeError::OutOfRange(input.to_owned())),
    }
}

/// `now + duration`, refusing to overflow.
pub fn after(now: i64, secs: i64, input: &str) -> Result<i64, TimeError> {
    now.checked_add(secs)
        .ok_or_else(|| TimeError::OutOfRange(input.to_owned()))
}

/// Epoch seconds as RFC 3339 UTC (`2026-12-31T00:00:00Z`), or the bare number
/// when the calendar cannot show it: the service's answers say it the same way.
pub fn display(epoch: i64) -> String {
    crate::service::rfc3339(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86400));
        assert_eq!(parse_duration("1h 30m"), Ok(5400));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("7").is_err());
        assert!(after(i64::MAX, 1, "x").is_err());
    }

    #[test]
    fn displays_utc() {
        assert_eq!(display(1798675200), "2026-12-31T00:00:00Z");
        assert_eq!(display(i64::MAX), i64::MAX.to_string());
    }
}
