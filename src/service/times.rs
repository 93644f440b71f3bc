//! Lifetimes: from a request's `ttl_seconds` / `expires_at` / `not_before`
//! and the clock to the expiry and start a policy will carry, and the
//! rounding of relative expiries to a distribution's granularity.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::IssueError;
use super::requests::{CookieRequest, IpRequest, UrlRequest};
use crate::error_code::ErrorCode;
use crate::signing::HashAlgorithm;

/// The last instant RFC 3339 can write (9999-12-31T23:59:59Z): answers give
/// the expiry (and a verdict its moment) as an RFC 3339 date-time, so no
/// later expiry is signed and no later moment judged.
pub const LAST_EXPIRY: i64 = 253_402_300_799;

/// The longest `ttl_seconds` asked for at all (100 years), whatever a grant
/// allows: `openapi.yaml` says it as the field's `maximum`.
pub const MAX_TTL_SECONDS: u64 = 3_153_600_000;

/// The request fields URLs and cookies share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terms<'r> {
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<&'r str>,
    pub not_before: Option<&'r str>,
    pub ip_address: Option<&'r IpRequest>,
    pub hash_algorithm: Option<HashAlgorithm>,
}

impl<'r> Terms<'r> {
    pub fn of_url(req: &'r UrlRequest) -> Self {
        Self {
            ttl_seconds: req.ttl_seconds,
            expires_at: req.expires_at.as_deref(),
            not_before: req.not_before.as_deref(),
            ip_address: req.ip_address.as_ref(),
            hash_algorithm: req.hash_algorithm,
        }
    }

    pub fn of_cookies(req: &'r CookieRequest) -> Self {
        Self {
            ttl_seconds: req.ttl_seconds,
            expires_at: req.expires_at.as_deref(),
            not_before: req.not_before.as_deref(),
            ip_address: req.ip_address.as_ref(),
            hash_algorithm: req.hash_algorithm,
        }
    }
}

/// When a signature starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub expires: i64,
    pub not_before: Option<i64>,
    /// Seconds from now to the expiry.
    pub ttl: u64,
    /// The expiry came from a lifetime (not an absolute `expires_at`), so it
    /// may be rounded to the distribution's granularity.
    pub relative: bool,
}

fn invalid(detail: impl Into<String>) -> IssueError {
    IssueError::invalid(ErrorCode::InvalidTimes, detail)
}

impl Times {
    /// The times `terms` ask for at `now`; `default_ttl` when they name no
    /// lifetime. Checked before any grant is asked (an impossible window is
    /// a 422 whatever the grants say); `Policy::new` keeps the start-before-
    /// expiry rule as the invariant of the core's type, which rounding the
    /// expiry up cannot break.
    pub fn of(terms: &Terms<'_>, now: i64, default_ttl: u64) -> Result<Times, IssueError> {
        let expires = match (terms.ttl_seconds, terms.expires_at) {
            (Some(_), Some(_)) => return Err(invalid("give ttl_seconds or expires_at, not both")),
            (Some(0), None) => return Err(invalid("ttl_seconds must be positive")),
            (Some(ttl), None) if ttl > MAX_TTL_SECONDS => {
                return Err(invalid(format!(
                    "ttl_seconds must be at most {MAX_TTL_SECONDS} (100 years)"
                )));
            }
            (Some(ttl), None) => i64::try_from(ttl)
                .ok()
                .and_then(|t| now.checked_add(t))
                .ok_or_else(|| invalid("ttl_seconds is too large"))?,
            (None, Some(at)) => parse_time("expires_at", at)?,
            (None, None) => now.saturating_add(i64::try_from(default_ttl).unwrap_or(i64::MAX)),
        };
        if expires <= now {
            return Err(invalid("expiry must be in the future"));
        }
        if expires > LAST_EXPIRY {
            return Err(invalid("expiry must be at or before 9999-12-31T23:59:59Z"));
        }
        let not_before = terms.not_before.map(|s| parse_time("not_before", s)).transpose()?;
        if not_before.is_some_and(|nb| nb >= expires) {
            return Err(invalid("not_before must be before the expiry"));
        }
        Ok(Times {
            relative: terms.expires_at.is_none(),
            expires,
            not_before,
            ttl: (expires - now) as u64,
        })
    }

    /// The expiry rounded up to a multiple of `step`, unless that would
    /// exceed `max_ttl` or the last writable instant (then the exact one).
    /// Absolute expiries are never moved.
    pub fn quantised(&self, now: i64, step: Option<u64>, max_ttl: u64) -> i64 {
        let Some(step) = step.and_then(|s| i64::try_from(s).ok()).filter(|s| *s > 0) else {
            return self.expires;
        };
        if !self.relative {
            return self.expires;
        }
        // Expiries are positive, so rounding up is plain integer arithmetic.
        let rounded = (self.expires.saturating_add(step - 1) / step).saturating_mul(step);
        let fits = rounded <= LAST_EXPIRY && u64::try_from(rounded - now).is_ok_and(|ttl| ttl <= max_ttl);
        if fits { rounded } else { self.expires }
    }
}

/// A request's date, read as the CLI reads `--date-less-than`
/// ([`crate::dates`]): RFC 3339, a bare date, or epoch seconds.
fn parse_time(field: &str, text: &str) -> Result<i64, IssueError> {
    crate::dates::parse_date(text).map_err(|_| {
        invalid(format!(
            "{field} must be a date: {}; e.g. 2026-12-31T23:59:59Z",
            crate::dates::FORMATS
        ))
    })
}

/// Epoch seconds as RFC 3339 UTC (`2026-12-31T00:00:00Z`), or the bare
/// number when the calendar cannot show it. Answers carry both forms; the
/// CLI prints it too.
pub fn rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| epoch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn terms(ttl: Option<u64>, at: Option<&'static str>) -> Terms<'static> {
        Terms {
            ttl_seconds: ttl,
            expires_at: at,
            not_before: None,
            ip_address: None,
            hash_algorithm: None,
        }
    }

    fn code(r: Result<Times, IssueError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    #[test]
    fn lifetimes_relative_absolute_and_default() {
        assert_eq!(Times::of(&terms(Some(60), None), NOW, 5).unwrap().expires, NOW + 60);
        assert_eq!(Times::of(&terms(None, None), NOW, 3600).unwrap().ttl, 3600);
        let at = Times::of(&terms(None, Some("2030-01-01T00:00:00Z")), NOW, 5).unwrap();
        assert_eq!(at.expires, 1_893_456_000);
        assert!(!at.relative);
        let day = Times::of(&terms(None, Some("2030-01-01")), NOW, 5).unwrap();
        assert_eq!(day.expires, 1_893_456_000, "a bare date is midnight UTC, as in the CLI");
    }

    #[test]
    fn impossible_lifetimes_are_invalid_times() {
        for r in [
            Times::of(&terms(Some(0), None), NOW, 5),
            Times::of(&terms(Some(u64::MAX), None), NOW, 5),
            Times::of(&terms(Some(1), Some("2030-01-01T00:00:00Z")), NOW, 5),
            Times::of(&terms(None, Some("2001-01-01T00:00:00Z")), NOW, 5),
            Times::of(&terms(None, Some("tomorrow")), NOW, 5),
            Times::of(&terms(None, Some("2030-02-30")), NOW, 5),
            Times::of(&terms(Some(LAST_EXPIRY as u64), None), NOW, 5),
            Times::of(
                &Terms {
                    not_before: Some("2030-01-01T00:00:00Z"),
                    ..terms(None, Some("2030-01-01T00:00:00Z"))
                },
                NOW,
                5,
            ),
        ] {
            assert_eq!(code(r), ErrorCode::InvalidTimes);
        }
    }

    #[test]
    fn quantisation_rounds_up_within_max_ttl_only() {
        let t = Times::of(&terms(Some(100), None), NOW, 5).unwrap();
        let q = t.quantised(NOW, Some(300), 3600);
        assert_eq!(q % 300, 0);
        assert!(q >= t.expires && q - NOW <= 3600);
        assert_eq!(
            t.quantised(NOW, Some(300), 100),
            t.expires,
            "rounding would pass max_ttl"
        );
        assert_eq!(t.quantised(NOW, None, 3600), t.expires);
        let at = Times::of(&terms(None, Some("2030-01-01T00:00:01Z")), NOW, 5).unwrap();
        assert_eq!(
            at.quantised(NOW, Some(300), u64::MAX),
            at.expires,
            "absolute expiries stay"
        );
    }
}
