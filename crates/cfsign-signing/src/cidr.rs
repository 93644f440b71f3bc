//! IPv4 CIDR blocks for the `IpAddress` condition. CloudFront accepts one
//! IPv4 address or range; IPv6 is not supported by the policy language.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A validated IPv4 CIDR block, printed as `a.b.c.d/n` (`/32` added to a bare
/// address, as botocore and the JS SDK do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CidrV4 {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a string is not an IPv4 CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// An IPv6 address or range: CloudFront policies cannot express it.
    #[error("IPv6 is not supported by CloudFront's IpAddress condition: {0:?}")]
    Ipv6(String),
    /// Anything else that is not `a.b.c.d` or `a.b.c.d/n` with n in 0..=32.
    #[error("not an IPv4 address or CIDR block (a.b.c.d or a.b.c.d/n): {0:?}")]
    Malformed(String),
}

impl CidrV4 {
    /// A block from an address and prefix length (0..=32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then_some(Self { addr, prefix })
    }

    /// The address exactly as given (host bits are not cleared: botocore
    /// signs the text as given, and so must we to stay byte-identical).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` falls inside the block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
        (u32::from(ip) & mask) == (u32::from(self.addr) & mask)
    }
}

impl FromStr for CidrV4 {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            return Err(CidrError::Ipv6(s.to_owned()));
        }
        let malformed = || CidrError::Malformed(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, parse_prefix(p).ok_or_else(malformed)?),
            None => (s, 32),
        };
        // `Ipv4Addr::from_str` accepts only strict dotted quads (no leading
        // zeros, no shorthand), which is what CloudFront expects.
        let addr = Ipv4Addr::from_str(addr).map_err(|_| malformed())?;
        Ok(Self { addr, prefix })
    }
}

fn parse_prefix(p: &str) -> Option<u8> {
    let valid = !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit());
    let n: u8 = if valid { p.parse().ok()? } else { return None };
    (n <= 32 && !(p.len() == 2 && p.starts_with('0'))).then_some(n)
}

impl fmt::Display for CidrV4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_address_gets_slash_32() {
        assert_eq!("203.0.113.7".parse::<CidrV4>().unwrap().to_string(), "203.0.113.7/32");
    }

    #[test]
    fn keeps_given_range_verbatim() {
        let c: CidrV4 = "192.0.2.0/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains("192.0.2.200".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
    }

    #[test]
    fn zero_prefix_matches_everything() {
        let c: CidrV4 = "0.0.0.0/0".parse().unwrap();
        assert!(c.contains("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn rejects_ipv6_and_junk() {
        assert!(matches!("2001:db8::/32".parse::<CidrV4>(), Err(CidrError::Ipv6(_))));
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "01.2.3.4",
            "1.2.3.4/08",
            "a.b.c.d",
            "1.2.3.4/24/1",
            "1.2.3.4 ",
        ] {
            assert!(matches!(bad.parse::<CidrV4>(), Err(CidrError::Malformed(_))), "{bad}");
        }
    }
}
