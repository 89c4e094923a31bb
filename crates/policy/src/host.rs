//! Host patterns: `api.quantum.ibm.com`, `*.quantum.ibm.com`, either with an optional `:port`.
//!
//! A leading `*.` matches one or more labels in front of the suffix, never the suffix itself:
//! `*.quantum.ibm.com` matches `api.quantum.ibm.com` and `eu-de.api.quantum.ibm.com`, not
//! `quantum.ibm.com`. Names are compared in lower case. A pattern without a port matches every port.
//!
//! IP literals are kept in their canonical form (`[::1]`, never `[0:0::0001]`), and a name that ends
//! in a number (`2130706433`, `0x7f.1`, `10.1`) must be a dotted-quad IPv4 address: resolvers and
//! URL parsers read such names as addresses (the WHATWG URL host parser's "ends in a number"), so a
//! pattern must not be able to smuggle one in as a name, or put a wildcard in front of one.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parsed, validated host pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPattern {
    host: HostPart,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum HostPart {
    /// One exact name or address literal.
    Exact(String),
    /// `*.suffix`: any name with at least one more label in front of `suffix`.
    Wildcard(String),
}

/// Why a host pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern `{pattern}`: {reason}")]
pub struct HostPatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl HostPattern {
    /// The port this pattern is limited to, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether this pattern is a `*.` wildcard.
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host, HostPart::Wildcard(_))
    }

    /// Whether this pattern is one IP address literal (`10.0.0.1`, `[::1]`) rather than a name.
    pub fn is_ip_literal(&self) -> bool {
        matches!(&self.host, HostPart::Exact(h) if canonical_ip(h).is_some())
    }

    /// Whether the concrete `host` (a name or address, any case) and `port` match this pattern.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = canonical_ip(host.trim_end_matches('.'))
            .unwrap_or_else(|| host.trim_end_matches('.').to_ascii_lowercase());
        match &self.host {
            HostPart::Exact(name) => *name == host,
            HostPart::Wildcard(suffix) => is_strict_subdomain(&host, suffix),
        }
    }

    /// Whether every host and port this pattern matches is also matched by `self`.
    pub fn covers(&self, other: &HostPattern) -> bool {
        let ports = match (self.port, other.port) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        ports && self.host.covers(&other.host)
    }

    /// The largest pattern matched by both `self` and `other`, if they overlap in a way a single
    /// pattern can express (one host part covers the other, and the ports agree).
    pub fn intersect(&self, other: &HostPattern) -> Option<HostPattern> {
        let port = match (self.port, other.port) {
            (None, p) | (p, None) => p,
            (Some(a), Some(b)) if a == b => Some(a),
            _ => return None,
        };
        let host = if self.host.covers(&other.host) {
            other.host.clone()
        } else if other.host.covers(&self.host) {
            self.host.clone()
        } else {
            return None;
        };
        Some(HostPattern { host, port })
    }
}

impl HostPart {
    fn covers(&self, other: &HostPart) -> bool {
        match (self, other) {
            (HostPart::Exact(a), HostPart::Exact(b)) => a == b,
            (HostPart::Exact(_), HostPart::Wildcard(_)) => false,
            (HostPart::Wildcard(s), HostPart::Exact(name)) => is_strict_subdomain(name, s),
            (HostPart::Wildcard(s), HostPart::Wildcard(t)) => t == s || is_strict_subdomain(t, s),
        }
    }
}

/// The canonical text of `s` if it is an IPv4 or IPv6 address literal (without brackets).
fn canonical_ip(s: &str) -> Option<String> {
    s.parse::<Ipv4Addr>()
        .map(|a| a.to_string())
        .or_else(|_| s.parse::<Ipv6Addr>().map(|a| a.to_string()))
        .ok()
}

/// Whether the last label of `name` is a number (decimal, or `0x` hex), which makes URL parsers
/// and `inet_aton` read the whole name as an IPv4 address.
fn ends_in_number(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

fn is_strict_subdomain(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes().get(name.len() - suffix.len() - 1) == Some(&b'.')
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| HostPatternError {
            pattern: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.contains("://") || s.contains('/') {
            return Err(fail(
                "write a host name, not a URL: `api.example.com` or `api.example.com:443`",
            ));
        }
        let (host, port, bracketed) = split_port(s).map_err(|r| fail(&r))?;
        if bracketed {
            return match host.parse::<Ipv6Addr>() {
                Ok(addr) => Ok(HostPattern {
                    host: HostPart::Exact(addr.to_string()),
                    port,
                }),
                Err(_) => Err(fail(
                    "only an IPv6 address goes in brackets, as in `[2001:db8::1]:443`",
                )),
            };
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(fail("the host name is empty"));
        }
        if host == "*" {
            return Err(fail(
                "`*` would allow every host; list the hosts the agent needs, e.g. `*.quantum.ibm.com`",
            ));
        }
        if let Some(suffix) = host.strip_prefix("*.") {
            check_name(suffix).map_err(|r| fail(&r))?;
            if !suffix.contains('.') {
                return Err(fail(
                    "a wildcard needs at least two labels after `*.` (e.g. `*.example.com`, not `*.com`)",
                ));
            }
            if ends_in_number(suffix) {
                return Err(fail(
                    "a wildcard must end in a domain name, not a number or IP address; list each address on its own",
                ));
            }
            return Ok(HostPattern {
                host: HostPart::Wildcard(suffix.to_owned()),
                port,
            });
        }
        if host.contains('*') {
            return Err(fail(
                "`*` is only allowed as the whole first label, as in `*.example.com`",
            ));
        }
        if let Some(ip) = canonical_ip(&host) {
            return Ok(HostPattern {
                host: HostPart::Exact(ip),
                port,
            });
        }
        check_name(&host).map_err(|r| fail(&r))?;
        if ends_in_number(&host) {
            return Err(fail(
                "a name that ends in a number is read as an IPv4 address; write the address as four decimal numbers, e.g. `10.0.0.1`",
            ));
        }
        Ok(HostPattern {
            host: HostPart::Exact(host),
            port,
        })
    }
}

/// Splits `host:port`, `[v6]:port`, `[v6]` and bare IPv6 literals; the flag says whether the host
/// was in brackets.
fn split_port(s: &str) -> Result<(&str, Option<u16>, bool), String> {
    let parse_port = |p: &str| {
        Some(p)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{p}` is not a port number (1-65535)"))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| "missing `]` after an IPv6 address".to_owned())?;
        return match after {
            "" => Ok((addr, None, true)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((addr, Some(parse_port(p)?), true)),
                None => Err("expected `:port` after `]`".to_owned()),
            },
        };
    }
    if s.matches(':').count() > 1 {
        // A bare IPv6 literal; a port needs the bracketed form.
        return Ok((s, None, false));
    }
    match s.split_once(':') {
        Some((h, p)) => Ok((h, Some(parse_port(p)?), false)),
        None => Ok((s, None, false)),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("the name is longer than 253 characters".into());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("the name has an empty label (`..`, or a leading dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("the label `{label}` is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "the label `{label}` may only hold letters, digits, `-` and `_` (write internationalised names in their `xn--` form)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the label `{label}` must not start or end with `-`"
            ));
        }
    }
    Ok(())
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostPart::Exact(h) if h.contains(':') => format!("[{h}]"),
            HostPart::Exact(h) => h.clone(),
            HostPart::Wildcard(s) => format!("*.{s}"),
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let w = p("*.quantum.ibm.com");
        assert!(w.matches("api.quantum.ibm.com", 443));
        assert!(w.matches("EU-DE.api.quantum.ibm.com.", 443));
        assert!(!w.matches("quantum.ibm.com", 443));
        assert!(!w.matches("evilquantum.ibm.com", 443));
        assert!(!w.matches("quantum.ibm.com.evil.example", 443));
    }

    #[test]
    fn ports_restrict() {
        let x = p("api.ionq.co:443");
        assert!(x.matches("api.ionq.co", 443));
        assert!(!x.matches("api.ionq.co", 80));
        assert!(p("api.ionq.co").matches("api.ionq.co", 8443));
    }

    #[test]
    fn coverage_and_intersection() {
        assert!(p("*.ibm.com").covers(&p("*.quantum.ibm.com")));
        assert!(p("*.ibm.com").covers(&p("api.quantum.ibm.com:443")));
        assert!(!p("*.quantum.ibm.com").covers(&p("*.ibm.com")));
        assert!(!p("x.ibm.com:443").covers(&p("x.ibm.com")));
        assert_eq!(
            p("*.ibm.com").intersect(&p("iam.cloud.ibm.com:443")),
            Some(p("iam.cloud.ibm.com:443"))
        );
        assert_eq!(
            p("api.ionq.co:443").intersect(&p("*.ionq.co")),
            Some(p("api.ionq.co:443"))
        );
        assert_eq!(p("a.example.com").intersect(&p("b.example.com")), None);
        assert_eq!(
            p("a.example.com:80").intersect(&p("a.example.com:443")),
            None
        );
    }

    #[test]
    fn refuses_bad_patterns() {
        for bad in [
            "*",
            "*.com",
            "https://api.ionq.co",
            "api.ionq.co/v0.4",
            "a*.example.com",
            "api..ionq.co",
            "-bad.example.com",
            "api.ionq.co:0",
            "api.ionq.co:99999",
            "",
            "exa mple.com",
            "api.ionq.co:+443",
            "[api.ionq.co]:443",
            "[*.example.com]",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "010.0.0.1",
            "10.1",
            "*.0.0.1",
            "*.1.2.3.4",
            "example.0x",
        ] {
            assert!(
                bad.parse::<HostPattern>().is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn ip_literals_are_canonical() {
        assert_eq!(p("[0:0::0001]:443"), p("[::1]:443"));
        assert_eq!(p("::1").to_string(), "[::1]");
        assert!(p("::1").matches("0:0:0:0:0:0:0:1", 443));
        assert!(p("[2001:DB8::1]").matches("2001:db8:0::1", 443));
        assert!(p("1.2.3.4.example").matches("1.2.3.4.example", 1));
    }

    #[test]
    fn ip_literals_are_told_from_names() {
        assert!(p("10.0.0.1:443").is_ip_literal());
        assert!(p("[::1]").is_ip_literal());
        assert!(!p("api.ionq.co").is_ip_literal());
        assert!(!p("1.2.3.4.example").is_ip_literal());
        assert!(!p("*.quantum.ibm.com").is_ip_literal());
    }

    #[test]
    fn literals_round_trip() {
        for ok in [
            "10.0.0.1",
            "10.0.0.1:8080",
            "[::1]:443",
            "::1",
            "*.quantum.ibm.com:443",
        ] {
            let parsed = p(ok);
            assert_eq!(p(&parsed.to_string()), parsed, "{ok}");
        }
    }
}
