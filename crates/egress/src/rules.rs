//! The egress policy of one session, from its grant: which hosts, which addresses.
//!
//! Host rules are evaluated in a fixed order, and the first that matches decides:
//! 1. the profile's deny list (`deny <pattern>`),
//! 2. the built-in deny list of file-sharing, paste, tunnel and request-capture services
//!    (`built-in deny <pattern>`), less what the profile exempts,
//! 3. the grant's allow list (`allow <pattern>`),
//! 4. nothing matched: `default deny`.
//!
//! So deny wins over any allow pattern, however broad. An allowed host's addresses then pass
//! [`crate::addr::check`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use qwarden_policy::{HostPattern, IpRange, NetworkGrant};

use crate::addr::{self, AddressRefused};
use crate::target::{Host, Target};

/// A host-level verdict and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVerdict {
    /// Whether the host may be reached.
    pub allowed: bool,
    /// The deciding rule, as recorded (`allow *.quantum.ibm.com`, `default deny`…).
    pub rule: String,
}

/// The rules the proxy and the DNS stub apply.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    allow: Vec<HostPattern>,
    deny: Vec<HostPattern>,
    builtin_deny: Vec<HostPattern>,
    ranges: Vec<IpRange>,
    overrides: HashMap<String, (IpAddr, Option<u16>)>,
}

impl Rules {
    /// The rules of a grant.
    pub fn from_grant(grant: &NetworkGrant) -> Rules {
        Rules {
            allow: grant.allow.clone(),
            deny: grant.deny.clone(),
            builtin_deny: grant.builtin_deny.clone(),
            ranges: grant.allow_ranges.clone(),
            overrides: grant
                .overrides
                .iter()
                .map(|o| (o.host.clone(), (o.address, o.port)))
                .collect(),
        }
    }

    /// Decides a connection to `target`.
    pub fn check_target(&self, target: &Target) -> HostVerdict {
        let host = target.host.to_string();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let matches = |p: &HostPattern| p.matches(host, target.port);
        self.decide(matches, matches)
    }

    /// Decides a name lookup: a name resolves when no port-less deny pattern matches it and
    /// some allow pattern does, on its own port or any. A deny limited to a port (`*.lab:22`)
    /// must not stop the name resolving for the ports that are allowed.
    pub fn check_name(&self, name: &str) -> HostVerdict {
        self.decide(
            |p| p.port().is_none() && p.matches(name, 0),
            |p| p.matches(name, p.port().unwrap_or(0)),
        )
    }

    fn decide(
        &self,
        denies: impl Fn(&HostPattern) -> bool,
        allows: impl Fn(&HostPattern) -> bool,
    ) -> HostVerdict {
        let verdict = |allowed: bool, rule: String| HostVerdict { allowed, rule };
        if let Some(p) = self.deny.iter().find(|p| denies(p)) {
            return verdict(false, format!("deny {p}"));
        }
        if let Some(p) = self.builtin_deny.iter().find(|p| denies(p)) {
            return verdict(false, format!("built-in deny {p}"));
        }
        if let Some(p) = self.allow.iter().find(|p| allows(p)) {
            return verdict(true, format!("allow {p}"));
        }
        verdict(false, "default deny".into())
    }

    /// Where to connect instead of resolving `host`, from the profile's `[egress.hosts]`.
    pub fn override_for(&self, host: &Host, port: u16) -> Option<SocketAddr> {
        let name = host.name()?;
        self.overrides
            .get(name)
            .map(|(ip, p)| SocketAddr::new(*ip, p.unwrap_or(port)))
    }

    /// Whether the proxy may connect to `ip`.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), AddressRefused> {
        addr::check(ip, &self.ranges)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use qwarden_policy::HostOverride;

    fn rules(allow: &[&str], deny: &[&str], builtin: &[&str]) -> Rules {
        let p = |v: &[&str]| v.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>();
        Rules::from_grant(&NetworkGrant {
            allow: p(allow),
            deny: p(deny),
            builtin_deny: p(builtin),
            allow_ranges: vec!["127.0.0.1/32".parse().unwrap()],
            overrides: vec![HostOverride {
                host: "api.quantum.ibm.com".into(),
                address: "127.0.0.1".parse().unwrap(),
                port: Some(8443),
            }],
        })
    }

    fn t(s: &str) -> Target {
        Target::parse_authority(s, None).unwrap()
    }

    #[test]
    fn deny_wins_over_any_allow() {
        let r = rules(
            &["*.example.com", "*.amazonaws.com"],
            &["secret.example.com"],
            &["*.s3.amazonaws.com"],
        );
        let v = r.check_target(&t("api.example.com:443"));
        assert!(v.allowed);
        assert_eq!(v.rule, "allow *.example.com");
        let v = r.check_target(&t("secret.example.com:443"));
        assert!(!v.allowed);
        assert_eq!(v.rule, "deny secret.example.com");
        let v = r.check_target(&t("exfil.s3.amazonaws.com:443"));
        assert!(!v.allowed);
        assert_eq!(v.rule, "built-in deny *.s3.amazonaws.com");
        let v = r.check_target(&t("example.com:443"));
        assert!(!v.allowed);
        assert_eq!(v.rule, "default deny");
        assert!(!r.check_target(&t("8.8.8.8:53")).allowed);
    }

    #[test]
    fn ports_limit_connections_but_not_lookups() {
        let r = rules(&["git.example.com:443"], &["*.example.com:22"], &[]);
        assert!(r.check_target(&t("git.example.com:443")).allowed);
        assert!(!r.check_target(&t("git.example.com:22")).allowed);
        assert!(!r.check_target(&t("git.example.com:80")).allowed);
        assert!(r.check_name("git.example.com").allowed);
        assert!(!r.check_name("other.example.com").allowed);
        let r = rules(&["*.example.com"], &["leak.example.com"], &[]);
        assert!(!r.check_name("leak.example.com").allowed);
    }

    #[test]
    fn address_literals_need_a_rule_naming_them() {
        let r = rules(&["140.82.112.3:443", "[2606:4700::1111]"], &[], &[]);
        assert!(r.check_target(&t("140.82.112.3:443")).allowed);
        assert!(r.check_target(&t("[2606:4700::1111]:443")).allowed);
        assert!(!r.check_target(&t("140.82.112.4:443")).allowed);
    }

    #[test]
    fn overrides_and_ranges() {
        let r = rules(&[], &[], &[]);
        let host = Host::parse("api.quantum.ibm.com").unwrap();
        assert_eq!(
            r.override_for(&host, 443),
            Some("127.0.0.1:8443".parse().unwrap())
        );
        assert_eq!(r.override_for(&Host::parse("x.test").unwrap(), 443), None);
        assert!(r.check_address("127.0.0.1".parse().unwrap()).is_ok());
        assert!(r.check_address("127.0.0.2".parse().unwrap()).is_err());
    }
}
