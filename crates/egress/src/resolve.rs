//! Name resolution in the supervisor, pinned for the session.
//!
//! The first successful answer for a name is kept for the rest of the session and every later
//! connection to that name uses it: a DNS server that answers a public address first and a
//! private one later (DNS rebinding) gets no second chance. The proxy connects to the very
//! address it checked; nothing resolves the name again between the check and the connect.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::rules::Rules;
use crate::target::{Host, Target};

/// Names pinned at most; past this, names still resolve, per connection.
const MAX_PINNED: usize = 4096;

/// The session's resolver.
#[derive(Debug, Default)]
pub struct Resolver {
    pinned: Mutex<HashMap<String, Arc<[IpAddr]>>>,
}

/// Why a destination has no address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The lookup failed.
    Lookup(String),
    /// Every address it has is refused; the first refusal.
    Refused(crate::addr::AddressRefused),
}

impl Resolver {
    /// The addresses `target` may be connected at, in the resolver's order: the profile's
    /// override if there is one, the literal if it is one, the pinned answer otherwise.
    pub async fn addresses(
        &self,
        rules: &Rules,
        target: &Target,
    ) -> Result<Vec<SocketAddr>, Unresolved> {
        let candidates: Vec<SocketAddr> =
            if let Some(a) = rules.override_for(&target.host, target.port) {
                vec![a]
            } else {
                match &target.host {
                    Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
                    Host::Name(name) => self
                        .lookup(name)
                        .await?
                        .iter()
                        .map(|ip| SocketAddr::new(*ip, target.port))
                        .collect(),
                }
            };
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = candidates
            .into_iter()
            .filter(|a| match rules.check_address(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (true, Some(e)) => Err(Unresolved::Refused(e)),
            (true, None) => Err(Unresolved::Lookup("the name has no addresses".into())),
            (false, _) => Ok(allowed),
        }
    }

    /// The pinned addresses of `name`, looking it up the first time.
    async fn lookup(&self, name: &str) -> Result<Arc<[IpAddr]>, Unresolved> {
        if let Some(a) = self.pinned.lock().ok().and_then(|p| p.get(name).cloned()) {
            return Ok(a);
        }
        let found = tokio::net::lookup_host((name, 0))
            .await
            .map_err(|e| Unresolved::Lookup(e.to_string()))?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in found {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        if ips.is_empty() {
            return Err(Unresolved::Lookup("the name has no addresses".into()));
        }
        let ips: Arc<[IpAddr]> = ips.into();
        match self.pinned.lock() {
            Ok(mut p) if p.len() < MAX_PINNED || p.contains_key(name) => {
                // Two first lookups racing: both use whichever answer was pinned first.
                Ok(p.entry(name.to_owned()).or_insert(ips).clone())
            }
            _ => Ok(ips),
        }
    }
}
