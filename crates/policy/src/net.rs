//! What the egress proxy needs besides host patterns: address ranges, host → address overrides,
//! and qwarden's built-in deny list.
//!
//! - [`IpRange`]: `10.0.0.0/8`, `127.0.0.1` (one address), `fd00::/8`. The proxy never connects to
//!   loopback, private, link-local, carrier-grade NAT or cloud-metadata addresses unless a range in
//!   the profile's `egress.allow_ranges` contains the address; a cloud-metadata address only through
//!   a range that is exactly that one address ([`IpRange::is_single_address`]).
//! - [`HostOverride`]: `"api.quantum.ibm.com" = "127.0.0.1:8443"` under `[egress.hosts]`, for tests
//!   and air-gapped labs. The proxy connects to the given address instead of resolving the name; the
//!   address still has to pass the range checks, and an override grants nothing by itself.
//! - [`BUILTIN_DENY`]: hosts no agent reaches even when an allow pattern matches them, unless the
//!   profile lifts an entry under `egress.exempt`. An allow pattern is usually broader than the host
//!   it was written for: `*.amazonaws.com` for Amazon Braket in every region also matches every S3
//!   bucket, and `*.google.com` matches Google Drive. Through such a host an agent can copy the
//!   project, its results or anything else it can read out of the lab (consumer file sharing, paste
//!   sites, object storage), or open a way back in (tunnel services such as ngrok, Cloudflare quick
//!   tunnels and localtunnel), or prove that it reached the outside and hand data over in a DNS name
//!   or a URL (request-capture and out-of-band testing services such as webhook.site and
//!   interact.sh). None of these is a quantum provider, a package registry or a source host, so the
//!   list costs a lab nothing until it needs one of them, and then one `exempt` line lifts exactly
//!   that entry. The list is a safety net behind the allowlist, not a substitute for it: it cannot
//!   name every such service, and services reachable through a shared API host
//!   (`www.googleapis.com`) cannot be listed without breaking the host's other uses.
//!
//! A deny-list pattern `*.name` matches the subdomains of `name`, not `name` itself, so services
//! that answer on both are listed twice. Amazon S3's regional endpoints
//! (`BUCKET.s3.REGION.amazonaws.com`) cannot be one host pattern, so each region is listed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::host::HostPattern;

mod deny;

pub use deny::{BUILTIN_DENY, DENY_KINDS, DenyListEntry, builtin_deny};
pub(crate) use deny::{nearest_entries, parsed as builtin_deny_parsed};

/// A range of IP addresses: a network address and a prefix length.
///
/// Written `10.0.0.0/8`, `fd00::/8`, or as a single address (`127.0.0.1` is `127.0.0.1/32`, `::1`
/// is `::1/128`). Bits after the prefix must be zero, so a range always reads as what it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

/// Why an address range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address range `{range}`: {reason}; {fix}")]
pub struct IpRangeError {
    /// The range as written.
    pub range: String,
    /// What is wrong with it.
    pub reason: String,
    /// How to fix it.
    pub fix: String,
}

const RANGE_EXAMPLES: &str =
    "write an address and an optional prefix length, e.g. `10.0.0.0/8`, `127.0.0.1` or `fd00::/8`";

impl IpRange {
    /// The range of `prefix` leading bits of `network`; refuses a prefix longer than the address
    /// and host bits set after the prefix.
    pub fn new(network: IpAddr, prefix: u8) -> Result<IpRange, IpRangeError> {
        let written = format!("{network}/{prefix}");
        let fail = |reason: String, fix: String| IpRangeError {
            range: written.clone(),
            reason,
            fix,
        };
        let (bits, family) = match network {
            IpAddr::V4(_) => (32, "IPv4"),
            IpAddr::V6(_) => (128, "IPv6"),
        };
        if prefix > bits {
            return Err(fail(
                format!(
                    "the prefix length /{prefix} is more than the {bits} bits of an {family} address"
                ),
                format!(
                    "give a prefix length from 0 to {bits}, e.g. `{network}/{bits}` for the single address"
                ),
            ));
        }
        let masked = mask(network, prefix);
        if masked != network {
            return Err(fail(
                format!(
                    "bits are set after the first {prefix}, so this is not the start of a /{prefix} network"
                ),
                format!(
                    "write the network address, `{masked}/{prefix}`, or `{network}/{bits}` for the single address"
                ),
            ));
        }
        Ok(IpRange { network, prefix })
    }

    /// The prefix length: how many leading bits of [`IpRange::network`] every address in the range
    /// shares.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The range's first address (its host bits are zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// Whether the range holds exactly one address (`/32` for IPv4, `/128` for IPv6).
    pub fn is_single_address(&self) -> bool {
        match self.network {
            IpAddr::V4(_) => self.prefix == 32,
            IpAddr::V6(_) => self.prefix == 128,
        }
    }

    /// Whether `ip` lies in the range.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address it maps, on either side:
    /// `127.0.0.0/8` contains `::ffff:127.0.0.1`, and `::ffff:127.0.0.0/104` contains `127.0.0.1`.
    /// Other IPv6 ranges (`::/0` included) never contain an IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (network, prefix) = self.unmapped();
        match (network, unmapped(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(ip) & m == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(ip) & m == u128::from(net)
            }
            _ => false,
        }
    }

    /// The range with an IPv4-mapped IPv6 network (prefix 96 or more) written as IPv4.
    fn unmapped(&self) -> (IpAddr, u8) {
        match self.network {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), self.prefix - 96),
                None => (self.network, self.prefix),
            },
            _ => (self.network, self.prefix),
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address replaced by the IPv4 address.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `ip` with every bit after the first `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX
                .checked_shl(32_u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX
                .checked_shl(128_u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
        }
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String, fix: &str| IpRangeError {
            range: s.to_owned(),
            reason,
            fix: fix.to_owned(),
        };
        if s.starts_with('[') {
            return Err(fail(
                "an IPv6 range is written without brackets".into(),
                "write e.g. `fd00::/8` or `::1`",
            ));
        }
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().map_err(|_| {
            fail(
                format!("`{address}` is not an IPv4 or IPv6 address"),
                RANGE_EXAMPLES,
            )
        })?;
        let bits: u8 = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => {
                let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
                match p.parse::<u8>() {
                    Ok(n) if digits && n <= bits => n,
                    _ => {
                        return Err(fail(
                            format!("`/{p}` is not a prefix length from 0 to {bits}"),
                            &format!(
                                "give the number of leading bits that stay fixed, e.g. `{network}/{bits}` for the single address"
                            ),
                        ));
                    }
                }
            }
        };
        IpRange::new(network, prefix).map_err(|e| IpRangeError {
            range: s.to_owned(),
            ..e
        })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A host the proxy connects to at a fixed address instead of resolving it (`[egress.hosts]`).
///
/// With a port, every connection to the host goes to that port; without one, to the port asked
/// for ([`HostOverride::target`]). The address must still pass the proxy's range checks, so a
/// loopback or private address also needs a matching `egress.allow_ranges` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HostOverride {
    /// The exact host name, in lower case, without a trailing dot.
    pub host: String,
    /// Where to connect instead.
    pub address: IpAddr,
    /// The port to connect to instead of the one asked for, if given.
    pub port: Option<u16>,
}

/// Why a host override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostOverrideError {
    /// The host side is not one exact DNS name.
    #[error("`{host}` cannot be overridden: {reason}")]
    Host {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// The address side is not an address (and optional port) to connect to.
    #[error("`{value}` is not an address to connect to: {reason}")]
    Address {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
        /// How to fix it.
        fix: String,
    },
}

impl HostOverrideError {
    /// How to fix the error.
    pub fn fix(&self) -> &str {
        match self {
            HostOverrideError::Host { fix, .. } | HostOverrideError::Address { fix, .. } => fix,
        }
    }
}

const ADDRESS_EXAMPLES: &str = "write an IP address with an optional port: `127.0.0.1`, `127.0.0.1:8443`, `::1` or `[::1]:8443`";

impl HostOverride {
    /// An override of `host` (an exact DNS name) to `address` (`127.0.0.1`, `::1`,
    /// `127.0.0.1:8443` or `[::1]:8443`).
    pub fn new(host: &str, address: &str) -> Result<HostOverride, HostOverrideError> {
        let host = override_host(host)?;
        let (address, port) = override_address(address)?;
        Ok(HostOverride {
            host,
            address,
            port,
        })
    }

    /// Whether this override is for `host` (any case, with or without a trailing dot).
    pub fn matches(&self, host: &str) -> bool {
        host.trim_end_matches('.').eq_ignore_ascii_case(&self.host)
    }

    /// Where a connection to this host on `port` goes.
    pub fn target(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.address, self.port.unwrap_or(port))
    }
}

impl fmt::Display for HostOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.address, self.port) {
            (address, None) => write!(f, "{} → {address}", self.host),
            (address, Some(port)) => {
                write!(f, "{} → {}", self.host, SocketAddr::new(address, port))
            }
        }
    }
}

/// The host side of an override, checked and in lower case.
pub(crate) fn override_host(host: &str) -> Result<String, HostOverrideError> {
    let fail = |reason: String, fix: &str| HostOverrideError::Host {
        host: host.to_owned(),
        reason,
        fix: fix.to_owned(),
    };
    let pattern: HostPattern = host.parse().map_err(|e: crate::host::HostPatternError| {
        fail(
            e.reason,
            "write one exact host name, e.g. `api.quantum.ibm.com`",
        )
    })?;
    if pattern.is_wildcard() {
        return Err(fail(
            "an override is for one exact host, not a wildcard".into(),
            "list each host on its own line, e.g. `\"api.quantum.ibm.com\" = \"127.0.0.1:8443\"`",
        ));
    }
    if pattern.is_ip_literal() {
        return Err(fail(
            "it is an address, not a host name".into(),
            "an address needs no override; write the host name the agent connects to",
        ));
    }
    if let Some(port) = pattern.port() {
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        return Err(fail(
            "an override applies to every port of the host; the port goes with the address".into(),
            &format!("write `\"{name}\" = \"ADDRESS:{port}\"`"),
        ));
    }
    Ok(pattern.to_string())
}

/// The address side of an override: an address and an optional port.
pub(crate) fn override_address(value: &str) -> Result<(IpAddr, Option<u16>), HostOverrideError> {
    let fail = |reason: String, fix: &str| HostOverrideError::Address {
        value: value.to_owned(),
        reason,
        fix: fix.to_owned(),
    };
    let parsed = match value.parse::<IpAddr>() {
        Ok(ip) => Some((ip, None)),
        Err(_) => match value.parse::<SocketAddr>() {
            Ok(SocketAddr::V6(v6)) if v6.scope_id() != 0 || v6.flowinfo() != 0 => {
                return Err(fail(
                    "a scope id or flow label cannot be given here".into(),
                    "write a global or loopback IPv6 address, e.g. `[::1]:8443`",
                ));
            }
            Ok(sa) => Some((sa.ip(), Some(sa.port()))),
            Err(_) => value
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .and_then(|v| v.parse::<Ipv6Addr>().ok())
                .map(|v6| (IpAddr::V6(v6), None)),
        },
    };
    let Some((ip, port)) = parsed else {
        return Err(fail(
            "it is not an IP address, optionally with a port".into(),
            ADDRESS_EXAMPLES,
        ));
    };
    if port == Some(0) {
        return Err(fail(
            "port 0 is not a port to connect to".into(),
            "give a port from 1 to 65535, or none to keep the port asked for",
        ));
    }
    if ip.is_unspecified() {
        return Err(fail(
            "the unspecified address connects to this machine on Linux".into(),
            "write the address the service listens on, e.g. `127.0.0.1`",
        ));
    }
    let broadcast = matches!(unmapped(ip), IpAddr::V4(v4) if v4.is_broadcast());
    if unmapped(ip).is_multicast() || broadcast {
        return Err(fail(
            "a multicast or broadcast address cannot take a connection".into(),
            "write the unicast address of the host that serves the name",
        ));
    }
    Ok((ip, port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn r(s: &str) -> IpRange {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_print_canonically() {
        assert_eq!(r("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(r("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(r("::1").to_string(), "::1/128");
        assert_eq!(r("fd00::/8").to_string(), "fd00::/8");
        assert_eq!(r("FD00:0::/8"), r("fd00::/8"));
        assert_eq!(r("0.0.0.0/0").prefix(), 0);
        assert_eq!(r("10.0.0.0/8").network(), ip("10.0.0.0"));
        assert!(r("127.0.0.1").is_single_address());
        assert!(r("::1").is_single_address());
        assert!(!r("10.0.0.0/8").is_single_address());
        assert!(r("::ffff:169.254.169.254").is_single_address());
        for ok in ["10.0.0.0/8", "::1/128", "fd00::/8", "169.254.169.254/32"] {
            assert_eq!(r(&r(ok).to_string()), r(ok), "{ok}");
        }
        assert_eq!(
            serde_json::to_string(&r("127.0.0.1")).unwrap(),
            "\"127.0.0.1/32\""
        );
        assert_eq!(
            serde_json::from_str::<IpRange>("\"fd00::/8\"").unwrap(),
            r("fd00::/8")
        );
    }

    #[test]
    fn host_bits_are_refused_with_the_network_to_write() {
        let e = "10.0.0.1/8".parse::<IpRange>().unwrap_err();
        assert_eq!(e.range, "10.0.0.1/8");
        assert!(e.fix.contains("`10.0.0.0/8`"), "{e}");
        assert!(e.fix.contains("`10.0.0.1/32`"), "{e}");
        let e = "fd00::1/8".parse::<IpRange>().unwrap_err();
        assert!(e.fix.contains("`fd00::/8`"), "{e}");
    }

    #[test]
    fn bad_ranges_are_refused() {
        for (bad, part) in [
            ("10.0.0.0/33", "0 to 32"),
            ("::/129", "0 to 128"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("10.0.0.0/0008", "prefix length"),
            ("10.0.0.0/8/8", "prefix length"),
            ("10.0.0/8", "not an IPv4 or IPv6 address"),
            ("010.0.0.0/8", "not an IPv4 or IPv6 address"),
            ("localhost", "not an IPv4 or IPv6 address"),
            ("", "not an IPv4 or IPv6 address"),
            (" 10.0.0.0/8", "not an IPv4 or IPv6 address"),
            ("fe80::1%eth0", "not an IPv4 or IPv6 address"),
            ("[::1]/128", "brackets"),
        ] {
            let e = bad.parse::<IpRange>().unwrap_err();
            assert!(e.to_string().contains(part), "{bad}: {e}");
            assert!(!e.fix.is_empty());
        }
        assert!(IpRange::new(ip("10.0.0.0"), 33).is_err());
        assert!(IpRange::new(ip("10.0.0.0"), 8).is_ok());
    }

    #[test]
    fn v4_ranges_contain() {
        let net = r("10.0.0.0/8");
        assert!(net.contains(ip("10.0.0.0")));
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(!net.contains(ip("9.255.255.255")));
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.9")));
        let one = r("127.0.0.1");
        assert!(one.contains(ip("127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        assert!(!one.contains(ip("::1")));
        assert!(r("172.16.0.0/12").contains(ip("172.31.1.1")));
        assert!(!r("172.16.0.0/12").contains(ip("172.32.0.1")));
    }

    #[test]
    fn v6_ranges_contain() {
        let ula = r("fd00::/8");
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("fc00::1")));
        assert!(!ula.contains(ip("10.0.0.1")));
        assert!(r("::1").contains(ip("0:0:0:0:0:0:0:1")));
        assert!(!r("::1").contains(ip("127.0.0.1")));
        assert!(r("::/0").contains(ip("2606:4700::1111")));
        assert!(
            !r("::/0").contains(ip("127.0.0.1")),
            "IPv4 needs an IPv4 range"
        );
        assert!(r("fe80::/10").contains(ip("febf::1")));
        assert!(!r("fe80::/10").contains(ip("fec0::1")));
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        assert!(r("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(r("127.0.0.1").contains(ip("::ffff:7f00:1")));
        assert!(!r("127.0.0.1").contains(ip("::ffff:127.0.0.2")));
        assert!(r("::ffff:127.0.0.0/104").contains(ip("127.0.0.1")));
        assert!(r("::ffff:127.0.0.1").contains(ip("127.0.0.1")));
        assert!(r("::ffff:0:0/96").contains(ip("8.8.8.8")));
        assert!(!r("::ffff:0:0/96").contains(ip("::1")));
        assert!(r("::ffff:169.254.169.254").contains(ip("169.254.169.254")));
        // IPv4-compatible addresses are not mapped ones.
        assert!(!r("127.0.0.0/8").contains(ip("::127.0.0.1")));
    }

    #[test]
    fn overrides_parse() {
        let o = HostOverride::new("API.Quantum.IBM.com.", "127.0.0.1:8443").unwrap();
        assert_eq!(o.host, "api.quantum.ibm.com");
        assert_eq!(o.address, ip("127.0.0.1"));
        assert_eq!(o.port, Some(8443));
        assert_eq!(o.target(443), "127.0.0.1:8443".parse().unwrap());
        assert!(o.matches("api.quantum.IBM.com."));
        assert!(!o.matches("eu.api.quantum.ibm.com"));
        assert_eq!(o.to_string(), "api.quantum.ibm.com → 127.0.0.1:8443");
        let o = HostOverride::new("api.ionq.co", "::1").unwrap();
        assert_eq!((o.address, o.port), (ip("::1"), None));
        assert_eq!(o.target(443), "[::1]:443".parse().unwrap());
        let o = HostOverride::new("api.ionq.co", "[::1]:8443").unwrap();
        assert_eq!((o.address, o.port), (ip("::1"), Some(8443)));
        assert_eq!(o.to_string(), "api.ionq.co → [::1]:8443");
        let o = HostOverride::new("api.ionq.co", "[::1]").unwrap();
        assert_eq!((o.address, o.port), (ip("::1"), None));
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            serde_json::json!({ "host": "api.ionq.co", "address": "::1", "port": null })
        );
    }

    #[test]
    fn bad_override_hosts_are_refused() {
        for (bad, part) in [
            ("*.quantum.ibm.com", "wildcard"),
            ("127.0.0.1", "address"),
            ("[::1]", "address"),
            ("api.ionq.co:443", "port"),
            ("https://api.ionq.co", "URL"),
            ("api..ionq.co", "empty label"),
            ("10.1", "number"),
            ("", "empty"),
        ] {
            let e = HostOverride::new(bad, "127.0.0.1").unwrap_err();
            assert!(matches!(e, HostOverrideError::Host { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(part), "{bad}: {e}");
            assert!(!e.fix().is_empty());
        }
    }

    #[test]
    fn bad_override_addresses_are_refused() {
        for (bad, part) in [
            ("localhost", "not an IP address"),
            ("127.0.0.1:", "not an IP address"),
            ("127.0.0.1:99999", "not an IP address"),
            ("[::1]:x", "not an IP address"),
            ("[127.0.0.1]:80", "not an IP address"),
            ("127.0.0.1:0", "port 0"),
            ("0.0.0.0", "unspecified"),
            ("[::]:80", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255:80", "broadcast"),
            ("[fe80::1%2]:80", "scope id"),
            ("10.0.0.0/8", "not an IP address"),
            ("", "not an IP address"),
        ] {
            let e = HostOverride::new("api.ionq.co", bad).unwrap_err();
            assert!(
                matches!(e, HostOverrideError::Address { .. }),
                "{bad}: {e:?}"
            );
            assert!(e.to_string().contains(part), "{bad}: {e}");
            assert!(!e.fix().is_empty());
        }
    }
}
