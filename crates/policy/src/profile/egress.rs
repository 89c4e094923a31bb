//! The profile's `[egress]` table: the hosts agents may be granted, the hosts none may reach, the
//! built-in deny list entries this workstation lifts, the address ranges the proxy may connect to,
//! and host → address overrides.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::host::HostPattern;
use crate::net::{
    DenyListEntry, HostOverride, HostOverrideError, IpRange, builtin_deny_parsed, nearest_entries,
    override_address, override_host,
};

/// The `[egress]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Egress {
    /// Hosts any agent on this workstation may be granted.
    pub allow: Vec<HostPattern>,
    /// Hosts no agent may reach, whatever else allows them.
    pub deny: Vec<HostPattern>,
    /// Entries of the built-in deny list ([`crate::net::BUILTIN_DENY`]) lifted on this
    /// workstation, each exactly as listed there.
    pub exempt: Vec<HostPattern>,
    /// Address ranges the proxy may connect to although they are loopback, private, link-local,
    /// carrier-grade NAT or cloud metadata. A cloud-metadata address is reachable only through a
    /// range that is exactly that one address.
    pub allow_ranges: Vec<IpRange>,
    /// Hosts the proxy connects to at a fixed address instead of resolving them (`[egress.hosts]`),
    /// in the order written. The addresses still have to pass the range checks.
    pub hosts: Vec<HostOverride>,
}

impl Egress {
    /// The built-in deny list less the entries this profile exempts.
    pub fn builtin_deny(&self) -> Vec<HostPattern> {
        builtin_deny_parsed()
            .iter()
            .filter(|(p, _)| !self.exempt.contains(p))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The entries of the built-in deny list, less the exempt ones, that refuse every host and
    /// port `host` matches.
    pub fn builtin_denials(&self, host: &HostPattern) -> Vec<&'static DenyListEntry> {
        builtin_deny_parsed()
            .iter()
            .filter(|(p, _)| !self.exempt.contains(p) && p.covers(host))
            .map(|(_, e)| *e)
            .collect()
    }
}

/// `[egress]` as written, with positions.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
pub(super) struct RawEgress {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
    #[serde(default)]
    exempt: Vec<Spanned<String>>,
    #[serde(default)]
    allow_ranges: Vec<Spanned<String>>,
    #[serde(default)]
    hosts: BTreeMap<Spanned<String>, Spanned<RawAddress>>,
}

/// An `[egress.hosts]` value as written: an address, or what an unquoted dotted host name makes.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawAddress {
    Address(String),
    Table(BTreeMap<String, IgnoredAny>),
    Other(IgnoredAny),
}

/// Reports an error at a byte span of the profile: what is wrong, and how to fix it.
pub(super) type Fail<'a> = dyn FnMut(Range<usize>, String, &str) + 'a;

/// Checks `[egress]` and reports every error through `fail`.
pub(super) fn parse(raw: RawEgress, fail: &mut Fail<'_>) -> Egress {
    let mut host_list = |list: Vec<Spanned<String>>, key: &str| {
        let mut out = Vec::new();
        for h in list {
            match h.get_ref().parse::<HostPattern>() {
                Ok(p) => out.push(p),
                Err(e) => fail(
                    h.span(),
                    format!("egress.{key}: {e}"),
                    "write `host`, `*.domain` or `host:port`",
                ),
            }
        }
        out
    };
    let allow = host_list(raw.allow, "allow");
    let deny = host_list(raw.deny, "deny");
    Egress {
        allow,
        deny,
        exempt: exempt(raw.exempt, fail),
        allow_ranges: ranges(raw.allow_ranges, fail),
        hosts: overrides(raw.hosts, fail),
    }
}

fn exempt(list: Vec<Spanned<String>>, fail: &mut Fail<'_>) -> Vec<HostPattern> {
    let mut out = Vec::new();
    for e in list {
        let written = e.get_ref();
        let hint = exempt_hint(written);
        match written.parse::<HostPattern>() {
            Err(err) => fail(e.span(), format!("egress.exempt: {err}"), &hint),
            Ok(p) if DenyListEntry::find(&p).is_none() => fail(
                e.span(),
                format!("egress.exempt: `{written}` is not an entry of the built-in deny list"),
                &hint,
            ),
            Ok(p) if out.contains(&p) => {}
            Ok(p) => out.push(p),
        }
    }
    out
}

fn exempt_hint(written: &str) -> String {
    let listed = "README.md (\"Built-in deny list\") lists every entry, and `qwarden policy explain --json` shows those in force under `network.builtin_deny`";
    let near = nearest_entries(written);
    if near.is_empty() {
        format!(
            "write an entry exactly as listed; {listed}. A host that is not on the list needs no exemption"
        )
    } else {
        let near: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        format!(
            "write an entry exactly as listed, e.g. {}; {listed}",
            near.join(" or ")
        )
    }
}

fn ranges(list: Vec<Spanned<String>>, fail: &mut Fail<'_>) -> Vec<IpRange> {
    let mut out = Vec::new();
    for r in list {
        match r.get_ref().parse::<IpRange>() {
            Ok(range) if out.contains(&range) => {}
            Ok(range) => out.push(range),
            Err(e) => fail(
                r.span(),
                format!(
                    "egress.allow_ranges: invalid address range `{}`: {}",
                    e.range, e.reason
                ),
                &e.fix,
            ),
        }
    }
    out
}

fn overrides(
    table: BTreeMap<Spanned<String>, Spanned<RawAddress>>,
    fail: &mut Fail<'_>,
) -> Vec<HostOverride> {
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(host, _)| host.span().start);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (key, value) in entries {
        let host = override_host(key.get_ref()).map_err(|e| report(fail, key.span(), &e));
        let address = match value.get_ref() {
            RawAddress::Address(a) => {
                override_address(a).map_err(|e| report(fail, value.span(), &e))
            }
            RawAddress::Table(nested) => {
                let first = nested.keys().next().map_or("", String::as_str);
                fail(
                    key.span(),
                    format!(
                        "egress.hosts: `{}.{first}…` is read as nested tables, not as a host name: TOML splits an unquoted key at its dots",
                        key.get_ref()
                    ),
                    "quote the host name: `\"api.quantum.ibm.com\" = \"127.0.0.1:8443\"`",
                );
                Err(())
            }
            RawAddress::Other(_) => {
                fail(
                    value.span(),
                    format!(
                        "egress.hosts: the value for `{}` is not a string",
                        key.get_ref()
                    ),
                    "write the address as a quoted string, e.g. `\"127.0.0.1:8443\"`",
                );
                Err(())
            }
        };
        let (Ok(host), Ok((address, port))) = (host, address) else {
            continue;
        };
        if !seen.insert(host.clone()) {
            fail(
                key.span(),
                format!("egress.hosts: `{host}` is listed twice"),
                "keep one address per host (host names are compared in lower case, without a trailing dot)",
            );
            continue;
        }
        out.push(HostOverride {
            host,
            address,
            port,
        });
    }
    out
}

fn report(fail: &mut Fail<'_>, span: Range<usize>, e: &HostOverrideError) {
    fail(span, format!("egress.hosts: {e}"), e.fix());
}
