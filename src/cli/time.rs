//! Dates and durations on the command line, read the way `aws cloudfront sign`
//! reads them, and the system clock (the signing core never reads one).

use std::time::{SystemTime, UNIX_EPOCH};

use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time, UtcOffset};

/// Why a date or duration argument could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not one of the accepted date formats.
    #[error(
        "{0:?} is not a date: use YYYY-MM-DD (midnight UTC), YYYY-MM-DDThh:mm:ss \
         (UTC unless followed by Z or an offset such as +02:00), or epoch seconds"
    )]
    Date(String),
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

/// Parses a date the AWS CLI accepts for `--date-less-than`, to epoch seconds:
/// `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDThh:mm[:ss[.fff]]` (UTC unless it
/// ends in `Z` or an offset `±hh:mm`, `±hhmm`, `±hh`), or bare epoch seconds.
/// Fractions of a second are truncated, as botocore does.
pub fn parse_date(input: &str) -> Result<i64, TimeError> {
    let s = input.trim();
    let bad = || TimeError::Date(input.to_owned());
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // The AWS CLI reads any all-digit value (even 20261231) as epoch seconds.
        return s.parse().map_err(|_| TimeError::OutOfRange(input.to_owned()));
    }
    let (day, clock) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let date = Date::parse(day, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
    let Some(clock) = clock else {
        return Ok(date.midnight().assume_utc().unix_timestamp());
    };
    let (clock, offset) = split_offset(clock).ok_or_else(bad)?;
    let time = parse_clock(clock).ok_or_else(bad)?;
    Ok(PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .unix_timestamp())
}

/// Splits `hh:mm:ss[Z|±hh:mm]` into the clock and its offset (UTC if none).
fn split_offset(s: &str) -> Option<(&str, UtcOffset)> {
    if let Some(clock) = s.strip_suffix(['Z', 'z']) {
        return Some((clock, UtcOffset::UTC));
    }
    let Some(at) = s.rfind(['+', '-']) else {
        return Some((s, UtcOffset::UTC));
    };
    let (clock, offset) = (&s[..at], &s[at + 1..]);
    let digits: String = offset.chars().filter(|c| *c != ':').collect();
    let well_formed = matches!(digits.len(), 2 | 4)
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (offset.len() == digits.len() || offset.as_bytes().get(2) == Some(&b':'));
    if !well_formed {
        return None;
    }
    let hours: i8 = digits[..2].parse().ok()?;
    let minutes: i8 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    let sign = if s.as_bytes()[at] == b'-' { -1 } else { 1 };
    Some((clock, UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()?))
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fraction` (the fraction is dropped).
fn parse_clock(s: &str) -> Option<Time> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = whole.split(':').collect();
    let two_digits = |p: &&str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(two_digits) {
        return None;
    }
    let field = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u8>().ok());
    Time::from_hms(field(0)?, field(1)?, field(2)?).ok()
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
    fn aws_cli_formats() {
        assert_eq!(parse_date("2026-12-31"), Ok(1798675200));
        assert_eq!(parse_date("2026-12-31T00:00:00"), Ok(1798675200));
        assert_eq!(parse_date("2026-12-31T12:00:00Z"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31t12:00:00z"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31 12:00"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31T14:00:00+02:00"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31T10:30:00-0130"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31T14:00:00+02"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("2026-12-31T12:00:00.999Z"), Ok(1798675200 + 43200));
        assert_eq!(parse_date("1798675200"), Ok(1798675200));
        assert_eq!(parse_date(" 1798675200 "), Ok(1798675200));
        // As in the AWS CLI, YYYYMMDD is epoch seconds, not a date.
        assert_eq!(parse_date("20261231"), Ok(20261231));
    }

    #[test]
    fn refuses_other_dates() {
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-02-30",
            "2026-12-31T25:00:00",
            "2026-12-31T12",
            "2026-12-31T12:00:00+2",
            "2026-12-31T12:00:00+02:0",
            "2026-12-31T12:00:00.Z",
            "-5",
            "2026/12/31",
            "12/31/2026",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse_date("99999999999999999999"),
            Err(TimeError::OutOfRange(_))
        ));
    }

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
