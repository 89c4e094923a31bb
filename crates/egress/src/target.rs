//! Destinations as clients name them: a DNS name or an address literal, and a port.
//!
//! Names are checked before anything looks them up: ASCII letters, digits, `-` and `_` in labels
//! of 1–63 bytes, at most 253 bytes, compared in lower case without a trailing dot. A name whose
//! last label is a number (`2130706433`, `0x7f.1`) is refused: resolvers and URL parsers read those
//! as IPv4 addresses, so they would let a "name" reach an address no rule named.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host part of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower case, no trailing dot.
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as written in a request (`example.com`, `1.2.3.4`, `[::1]` or `::1`).
    pub fn parse(s: &str) -> Result<Host, TargetError> {
        let fail = |reason: &'static str| TargetError {
            target: shorten(s),
            reason,
        };
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(v6) = bare.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(IpAddr::V6(v6)));
        }
        if bare != s {
            return Err(fail("brackets hold only an IPv6 address"));
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(v4)));
        }
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(fail("a host name has 1 to 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(fail("each label of a host name has 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(fail(
                    "a host name has only ASCII letters, digits, `-` and `_` (write IDNs in punycode)",
                ));
            }
        }
        let last = name.rsplit('.').next().unwrap_or(&name);
        let hex = last
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        if hex || last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail(
                "a name ending in a number reads as an IPv4 address; write the address as a.b.c.d",
            ));
        }
        Ok(Host::Name(name))
    }

    /// The name, if this is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(n) => Some(n),
            Host::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
        }
    }
}

/// A host and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl Target {
    /// Parses `host:port` (`[v6]:port` for IPv6), as in a CONNECT request; `default_port` is used
    /// when there is no port (absolute-form URIs).
    pub fn parse_authority(s: &str, default_port: Option<u16>) -> Result<Target, TargetError> {
        let fail = |reason: &'static str| TargetError {
            target: shorten(s),
            reason,
        };
        if s.contains('@') {
            return Err(fail("credentials in the authority are not accepted"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("an IPv6 literal needs its closing `]`"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(fail("expected `:port` after `]`")),
            };
            if h.parse::<Ipv6Addr>().is_err() {
                return Err(fail("brackets hold only an IPv6 address"));
            }
            (h, port)
        } else {
            if s.matches(':').count() > 1 {
                return Err(fail("write an IPv6 address in brackets: [2001:db8::1]:443"));
            }
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(fail("the port is a number from 1 to 65535"));
                }
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| fail("the port is a number from 1 to 65535"))?
            }
            None => default_port.ok_or_else(|| fail("a CONNECT target needs a port: host:443"))?,
        };
        Ok(Target {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A destination that is not a well-formed host and port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed destination `{target}`: {reason}")]
pub struct TargetError {
    /// The destination as written (cut to 100 characters).
    pub target: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// At most 100 characters of `s`, for messages.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(100).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn authorities() {
        let t = Target::parse_authority("API.Quantum.IBM.com.:443", None).unwrap();
        assert_eq!(t.host, Host::Name("api.quantum.ibm.com".into()));
        assert_eq!(t.port, 443);
        let t = Target::parse_authority("[::1]:8080", None).unwrap();
        assert_eq!(t.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!(t.to_string(), "[::1]:8080");
        let t = Target::parse_authority("example.com", Some(80)).unwrap();
        assert_eq!(t.port, 80);
        assert_eq!(
            Target::parse_authority("10.0.0.1:22", None).unwrap().host,
            Host::Ip("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn malformed_destinations_are_refused() {
        for bad in [
            "example.com",
            "example.com:",
            "example.com:0",
            "example.com:65536",
            "example.com:+80",
            "user@example.com:443",
            "exa mple.com:443",
            "exämple.com:443",
            "a..b:443",
            ".:443",
            "2130706433:80",
            "0x7f.1:80",
            "127.1:80",
            "foo.123:80",
            "[127.0.0.1]:80",
            "[::1:80",
            "[::1]x:80",
            "2001:db8::1:443",
            "::1",
        ] {
            let e = Target::parse_authority(bad, None).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
        }
        assert!(Host::parse(&"a".repeat(64)).is_err());
        assert!(Host::parse(&format!("{}.com", "a.".repeat(126))).is_err());
    }
}
