//! Caller-supplied paths and query parameters for the service: the path
//! rule ([`crate::path_rule`]) answered as `invalid_path`, and the encoding
//! of extra query parameters.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::error::IssueError;
use crate::error_code::ErrorCode;
use crate::path_rule::PathError;

pub use crate::path_rule::{check_grant_pattern, check_path, under_prefix};

/// Query components keep RFC 3986 unreserved characters only.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl From<PathError> for IssueError {
    fn from(e: PathError) -> Self {
        IssueError::invalid(ErrorCode::InvalidPath, e.to_string())
    }
}

/// Encodes query parameters (`name=value&...`, names sorted). The names
/// CloudFront reserves are refused where every signed URL is checked, by
/// `SignableUrl` (names stay readable: letters, digits and `-` are kept).
pub fn encode_query(query: &BTreeMap<String, String>) -> Result<Option<String>, IssueError> {
    if query.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    for (name, value) in query {
        if name.is_empty() {
            return Err(IssueError::invalid(
                ErrorCode::InvalidQuery,
                "query parameter names must not be empty",
            ));
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(name, QUERY));
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding() {
        let mut q = BTreeMap::new();
        q.insert(
            "response-content-disposition".to_owned(),
            "attachment; filename=\"r.pdf\"".to_owned(),
        );
        assert_eq!(
            encode_query(&q).unwrap().unwrap(),
            "response-content-disposition=attachment%3B%20filename%3D%22r.pdf%22"
        );
        q.insert("".to_owned(), "1".to_owned());
        assert!(encode_query(&q).is_err());
    }
}
