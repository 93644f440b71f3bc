//! Dates as callers write them, read one way for the CLI's
//! `--date-less-than`/`--at` (the formats `aws cloudfront sign` reads) and
//! the API's `expires_at`/`not_before`/`at`: one parser, one list of formats.

use time::macros::format_description;
use time::{Date, PrimitiveDateTime, Time, UtcOffset};

/// The accepted formats, for error messages.
pub const FORMATS: &str = "YYYY-MM-DD (midnight UTC), YYYY-MM-DDThh:mm:ss (UTC unless followed by Z \
or an offset such as +02:00), or epoch seconds";

/// Why a date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not one of the accepted date formats.
    #[error("{0:?} is not a date: use {FORMATS}", FORMATS = FORMATS)]
    Date(String),
    /// All digits, but too large for epoch seconds.
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// Parses a date the AWS CLI accepts for `--date-less-than`, to epoch seconds:
/// `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDThh:mm[:ss[.fff]]` (UTC unless it
/// ends in `Z` or an offset `±hh:mm`, `±hhmm`, `±hh`), or bare epoch seconds.
/// Fractions of a second are truncated, as botocore does.
pub fn parse_date(input: &str) -> Result<i64, DateError> {
    let s = input.trim();
    let bad = || DateError::Date(input.to_owned());
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // The AWS CLI reads any all-digit value (even 20261231) as epoch seconds.
        return s.parse().map_err(|_| DateError::OutOfRange(input.to_owned()));
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
            Err(DateError::OutOfRange(_))
        ));
    }
}
