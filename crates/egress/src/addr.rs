//! Which addresses the proxy may connect to.
//!
//! A name the grant allows can still resolve anywhere, including back into the workstation or
//! its cloud: loopback services, the lab's private network, the instance-metadata endpoint that
//! hands out cloud credentials. So every address is classified, and only public unicast
//! addresses pass unless the profile's `egress.allow_ranges` names the range. A cloud-metadata
//! address passes only through a range that is exactly that one address: allowing
//! `169.254.0.0/16` for a lab device must not also open the metadata service.
//!
//! Addresses that embed an IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//! are judged by the address they embed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use qwarden_policy::IpRange;

/// What kind of address an IP is, as far as egress is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routable unicast.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, unique-local `fc00::/7`, site-local `fec0::/10`, local-use NAT64.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    SharedCgnat,
    /// A cloud provider's instance-metadata or host-agent endpoint.
    CloudMetadata,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Documentation, benchmarking (qwarden's DNS stub hands these out), reserved and deprecated
    /// ranges: nothing real lives there.
    Reserved,
}

impl AddressClass {
    /// The class as written in decision rules.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedCgnat => "carrier-grade NAT",
            AddressClass::CloudMetadata => "cloud metadata",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast or broadcast",
            AddressClass::Reserved => "reserved",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Instance-metadata and host-agent endpoints of the common clouds.
const METADATA_V4: [Ipv4Addr; 5] = [
    // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle (also on 169.254.0.0/16).
    Ipv4Addr::new(169, 254, 169, 254),
    // AWS ECS task metadata.
    Ipv4Addr::new(169, 254, 170, 2),
    // Alibaba Cloud.
    Ipv4Addr::new(100, 100, 100, 200),
    // Azure WireServer: a public-looking address that is the host agent.
    Ipv4Addr::new(168, 63, 129, 16),
    // Oracle Cloud's metadata alias.
    Ipv4Addr::new(192, 0, 0, 192),
];

/// AWS's IPv6 metadata endpoint, `fd00:ec2::254`.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    if METADATA_V4.contains(&ip) {
        return CloudMetadata;
    }
    let table: [([u8; 4], u32, AddressClass); 17] = [
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        // IETF protocol assignments (includes the DS-Lite and NAT64 discovery addresses).
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Reserved),
        // The deprecated 6to4 relay anycast.
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        // Benchmarking: qwarden's DNS stub answers from here.
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Reserved),
        ([203, 0, 113, 0], 24, Reserved),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
        // AS112 and other oddities are public unicast: left alone.
        ([0, 0, 0, 0], 0, Public),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map_or(Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if ip == METADATA_V6 {
        return CloudMetadata;
    }
    let s = ip.segments();
    let [s0, s1, ..] = s;
    if ip.is_unspecified() {
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if s0 & 0xfe00 == 0xfc00
        || s0 & 0xffc0 == 0xfec0
        || (s0 == 0x64 && s1 == 0xff9b && s[2] == 1)
    {
        // Unique-local, deprecated site-local, and the local-use NAT64 prefix 64:ff9b:1::/48.
        Private
    } else if s0 & 0xffc0 == 0xfe80 {
        LinkLocal
    } else if s0 & 0xff00 == 0xff00 {
        Multicast
    } else if (s0 == 0x2001 && (s1 == 0x0db8 || s1 == 0))
        || (s0 == 0x0100 && s1 == 0 && s[2] == 0 && s[3] == 0)
        || s0 & 0xe000 != 0x2000
    {
        // Documentation, Teredo (a tunnel to anywhere), the discard prefix, and everything
        // outside 2000::/3, where no global unicast is assigned.
        Reserved
    } else {
        Public
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), NAT64 well-known prefix (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = |a: u8, b: u8, c: u8, d: u8| Some(Ipv4Addr::new(a, b, c, d));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => tail(o[12], o[13], o[14], o[15]),
        // `::a.b.c.d`, but not `::` or `::1`.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => tail(o[12], o[13], o[14], o[15]),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => tail(o[12], o[13], o[14], o[15]),
        [0x2002, ..] => tail(o[2], o[3], o[4], o[5]),
        _ => None,
    }
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "address {address} is {class}; allow it with `egress.allow_ranges` in the workstation profile{hint}"
)]
pub struct AddressRefused {
    /// The address.
    pub address: IpAddr,
    /// Its class.
    pub class: AddressClass,
    /// Extra advice for metadata addresses.
    hint: &'static str,
}

/// Whether the proxy may connect to `ip`, given the profile's allowed ranges.
pub fn check(ip: IpAddr, allowed: &[IpRange]) -> Result<(), AddressRefused> {
    let class = classify(ip);
    let listed = |r: &&IpRange| r.contains(ip);
    match class {
        AddressClass::Public => Ok(()),
        AddressClass::CloudMetadata => {
            if allowed
                .iter()
                .filter(listed)
                .any(IpRange::is_single_address)
            {
                Ok(())
            } else {
                Err(AddressRefused {
                    address: ip,
                    class,
                    hint: " (as a range of exactly this one address)",
                })
            }
        }
        _ if allowed.iter().any(|r| r.contains(ip)) => Ok(()),
        _ => Err(AddressRefused {
            address: ip,
            class,
            hint: "",
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classes() {
        assert_eq!(class("8.8.8.8"), AddressClass::Public);
        assert_eq!(class("140.82.112.3"), AddressClass::Public);
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("127.255.1.2"), AddressClass::Loopback);
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("172.31.255.255"), AddressClass::Private);
        assert_eq!(class("172.32.0.1"), AddressClass::Public);
        assert_eq!(class("192.168.1.1"), AddressClass::Private);
        assert_eq!(class("169.254.169.254"), AddressClass::CloudMetadata);
        assert_eq!(class("169.254.1.1"), AddressClass::LinkLocal);
        assert_eq!(class("100.64.0.1"), AddressClass::SharedCgnat);
        assert_eq!(class("100.100.100.200"), AddressClass::CloudMetadata);
        assert_eq!(class("168.63.129.16"), AddressClass::CloudMetadata);
        assert_eq!(class("0.0.0.0"), AddressClass::Unspecified);
        assert_eq!(class("224.0.0.1"), AddressClass::Multicast);
        assert_eq!(class("255.255.255.255"), AddressClass::Multicast);
        assert_eq!(class("198.18.0.1"), AddressClass::Reserved);
        assert_eq!(class("240.0.0.1"), AddressClass::Reserved);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("::"), AddressClass::Unspecified);
        assert_eq!(class("fd12::1"), AddressClass::Private);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("ff02::1"), AddressClass::Multicast);
        assert_eq!(class("fd00:ec2::254"), AddressClass::CloudMetadata);
        assert_eq!(class("2606:4700::1111"), AddressClass::Public);
        assert_eq!(class("2001:db8::1"), AddressClass::Reserved);
        assert_eq!(class("2001::1"), AddressClass::Reserved);
        assert_eq!(class("64:ff9b:1::1"), AddressClass::Private);
    }

    #[test]
    fn embedded_addresses_are_judged_by_what_they_embed() {
        assert_eq!(class("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:169.254.169.254"), AddressClass::CloudMetadata);
        assert_eq!(class("::127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("64:ff9b::10.0.0.1"), AddressClass::Private);
        assert_eq!(class("64:ff9b::8.8.8.8"), AddressClass::Public);
        // 2002:7f00:0001:: is 6to4 for 127.0.0.1.
        assert_eq!(class("2002:7f00:1::1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:8.8.8.8"), AddressClass::Public);
    }

    #[test]
    fn ranges_open_what_they_name_and_metadata_needs_its_own() {
        let r = |s: &str| s.parse::<IpRange>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(check(ip("8.8.8.8"), &[]).is_ok());
        let e = check(ip("127.0.0.1"), &[]).unwrap_err();
        assert_eq!(e.class, AddressClass::Loopback);
        assert!(e.to_string().contains("egress.allow_ranges"), "{e}");
        assert!(check(ip("127.0.0.1"), &[r("127.0.0.1/32")]).is_ok());
        assert!(check(ip("127.0.0.2"), &[r("127.0.0.1/32")]).is_err());
        assert!(check(ip("::ffff:127.0.0.1"), &[r("127.0.0.0/8")]).is_ok());
        assert!(check(ip("169.254.169.254"), &[r("169.254.0.0/16")]).is_err());
        assert!(check(ip("169.254.1.5"), &[r("169.254.0.0/16")]).is_ok());
        assert!(check(ip("169.254.169.254"), &[r("169.254.169.254")]).is_ok());
        assert!(check(ip("10.0.0.1"), &[r("10.0.0.0/8")]).is_ok());
    }
}
