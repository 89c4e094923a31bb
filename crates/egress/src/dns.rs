//! The DNS stub's wire format (RFC 1035): one question in, one answer out.
//!
//! The stub never forwards a query. For a name the grant allows it answers `A` with an address
//! from the benchmarking range `198.18.0.0/15` that stands for the name ([`SyntheticAddresses`]);
//! a client that resolves first and then asks the proxy for that address gets the name back.
//! Everything else gets `REFUSED`, and other record types of allowed names an empty answer. So a
//! query can carry nothing out of the sandbox: the names it may contain are the allowed ones.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Record type `A`.
pub const TYPE_A: u16 = 1;
/// Class `IN`.
pub const CLASS_IN: u16 = 1;

/// Response codes the stub gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// `NOERROR`
    NoError = 0,
    /// `FORMERR`: the query could not be read.
    FormErr = 1,
    /// `SERVFAIL`: the allowed name could not be resolved upstream right now.
    ServFail = 2,
    /// `NXDOMAIN`: the allowed name does not exist.
    NxDomain = 3,
    /// `NOTIMP`: not a standard query.
    NotImp = 4,
    /// `REFUSED`: the name is not allowed.
    Refused = 5,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The transaction id.
    pub id: u16,
    /// Whether recursion was desired (copied into the answer).
    pub recursion_desired: bool,
    /// The name asked about, lower case, without the trailing dot.
    pub name: String,
    /// The record type.
    pub qtype: u16,
    /// The class.
    pub qclass: u16,
    /// The question's wire bytes (name, type, class), echoed in the answer.
    question: Vec<u8>,
}

/// Why a query could not be read; `id` is there when the header was, for a `FORMERR` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DNS query: {reason}")]
pub struct DnsError {
    /// The transaction id, if the header could be read.
    pub id: Option<u16>,
    /// The answer to give, if any (`FORMERR` or `NOTIMP`).
    pub rcode: Rcode,
    /// What is wrong.
    pub reason: &'static str,
}

/// Reads one query message.
pub fn parse_query(msg: &[u8]) -> Result<Query, DnsError> {
    let header = msg.get(..12).ok_or(DnsError {
        id: None,
        rcode: Rcode::FormErr,
        reason: "shorter than a DNS header",
    })?;
    let word = |i: usize| {
        u16::from_be_bytes([
            header.get(i).copied().unwrap_or(0),
            header.get(i + 1).copied().unwrap_or(0),
        ])
    };
    let (id, flags, qdcount) = (word(0), word(2), word(4));
    let fail = |rcode, reason| DnsError {
        id: Some(id),
        rcode,
        reason,
    };
    if flags & 0x8000 != 0 {
        return Err(fail(Rcode::FormErr, "a response, not a query"));
    }
    if (flags >> 11) & 0xf != 0 {
        return Err(fail(Rcode::NotImp, "only standard queries are answered"));
    }
    if qdcount != 1 {
        return Err(fail(Rcode::FormErr, "exactly one question is answered"));
    }
    let body = msg.get(12..).unwrap_or_default();
    let mut pos = 0usize;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let len = *body
            .get(pos)
            .ok_or(fail(Rcode::FormErr, "the question name is cut short"))?;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return Err(fail(
                Rcode::FormErr,
                "compressed or extended labels in a question",
            ));
        }
        let label = body
            .get(pos..pos + usize::from(len))
            .ok_or(fail(Rcode::FormErr, "the question name is cut short"))?;
        pos += usize::from(len);
        total += usize::from(len) + 1;
        if total > 254 {
            return Err(fail(Rcode::FormErr, "the question name is too long"));
        }
        if !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            // Not a host name: nothing the stub could answer, and the bytes stay here.
            return Err(fail(Rcode::FormErr, "the question name is not a host name"));
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
    }
    let [t0, t1, c0, c1] = body
        .get(pos..pos + 4)
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .ok_or(fail(Rcode::FormErr, "the question is cut short"))?;
    let qtype = u16::from_be_bytes([t0, t1]);
    let qclass = u16::from_be_bytes([c0, c1]);
    Ok(Query {
        id,
        recursion_desired: flags & 0x0100 != 0,
        name: labels.join("."),
        qtype,
        qclass,
        question: body.get(..pos + 4).unwrap_or_default().to_vec(),
    })
}

/// The answer to `q`: `rcode`, and one `A` record per address (TTL `ttl` seconds).
pub fn answer(q: &Query, rcode: Rcode, addresses: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + q.question.len() + 16 * addresses.len());
    out.extend(q.id.to_be_bytes());
    // QR, opcode 0, AA, RD as asked, RA, rcode.
    let mut flags: u16 = 0x8000 | 0x0400 | 0x0080 | rcode as u16;
    if q.recursion_desired {
        flags |= 0x0100;
    }
    out.extend(flags.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out.extend((addresses.len() as u16).to_be_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(&q.question);
    for a in addresses {
        // A pointer to the question's name at offset 12.
        out.extend([0xc0, 12]);
        out.extend(TYPE_A.to_be_bytes());
        out.extend(CLASS_IN.to_be_bytes());
        out.extend(ttl.to_be_bytes());
        out.extend(4u16.to_be_bytes());
        out.extend(a.octets());
    }
    out
}

/// The answer to a query that could not be read: the header only, when there was one.
pub fn error_answer(e: &DnsError) -> Option<Vec<u8>> {
    let id = e.id?;
    let mut out = id.to_be_bytes().to_vec();
    out.extend((0x8000u16 | 0x0080 | e.rcode as u16).to_be_bytes());
    out.extend([0; 8]);
    Some(out)
}

/// The addresses the stub hands out, one per allowed name, from `198.18.0.0/15`.
#[derive(Debug, Default)]
pub struct SyntheticAddresses {
    by_name: HashMap<String, Ipv4Addr>,
    by_addr: HashMap<Ipv4Addr, String>,
}

/// The first address of the range handed out.
const FIRST: u32 = u32::from_be_bytes([198, 18, 0, 1]);
/// The last address of the range handed out.
const LAST: u32 = u32::from_be_bytes([198, 19, 255, 254]);

impl SyntheticAddresses {
    /// The address standing for `name`, allocating one the first time; `None` when the range is
    /// used up.
    pub fn address_for(&mut self, name: &str) -> Option<Ipv4Addr> {
        if let Some(a) = self.by_name.get(name) {
            return Some(*a);
        }
        let next = FIRST.checked_add(u32::try_from(self.by_name.len()).ok()?)?;
        if next > LAST {
            return None;
        }
        let a = Ipv4Addr::from(next);
        self.by_name.insert(name.to_owned(), a);
        self.by_addr.insert(a, name.to_owned());
        Some(a)
    }

    /// The name an address stands for, if the stub handed it out.
    pub fn name_of(&self, a: Ipv4Addr) -> Option<&str> {
        self.by_addr.get(&a).map(String::as_str)
    }

    /// Whether `a` is in the range the stub hands out (handed out or not).
    pub fn in_range(a: Ipv4Addr) -> bool {
        let n = u32::from(a);
        (u32::from_be_bytes([198, 18, 0, 0])..=u32::from_be_bytes([198, 19, 255, 255])).contains(&n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// A query as `dig`/glibc send it (with an EDNS OPT record, which the stub ignores).
    pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend([0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1]);
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend(label.as_bytes());
        }
        m.push(0);
        m.extend(qtype.to_be_bytes());
        m.extend(CLASS_IN.to_be_bytes());
        m.extend([0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn reads_a_query_and_answers_it() {
        let q = parse_query(&query(0xbeef, "API.example.COM", TYPE_A)).unwrap();
        assert_eq!(q.name, "api.example.com");
        assert_eq!((q.id, q.qtype, q.qclass), (0xbeef, 1, 1));
        assert!(q.recursion_desired);
        let a = answer(&q, Rcode::NoError, &[Ipv4Addr::new(198, 18, 0, 1)], 60);
        assert_eq!(&a[..2], &[0xbe, 0xef]);
        assert_eq!(a[3] & 0xf, 0);
        assert_eq!(&a[6..8], &[0, 1]);
        assert_eq!(&a[a.len() - 4..], &[198, 18, 0, 1]);
        let r = answer(&q, Rcode::Refused, &[], 0);
        assert_eq!(r[3] & 0xf, 5);
        assert_eq!(&r[6..8], &[0, 0]);
    }

    #[test]
    fn malformed_queries() {
        assert_eq!(parse_query(&[1, 2, 3]).unwrap_err().id, None);
        let mut resp = query(7, "a.com", 1);
        resp[2] |= 0x80;
        assert_eq!(parse_query(&resp).unwrap_err().rcode, Rcode::FormErr);
        let mut iquery = query(7, "a.com", 1);
        iquery[2] |= 0x08;
        let e = parse_query(&iquery).unwrap_err();
        assert_eq!(e.rcode, Rcode::NotImp);
        assert_eq!(error_answer(&e).unwrap()[3] & 0xf, 4);
        let mut ptr = query(7, "a.com", 1);
        ptr[12] = 0xc0;
        assert!(parse_query(&ptr).is_err());
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert!(parse_query(&query(1, &long, 1)).is_err());
        let q = query(1, "a.com", 1);
        assert!(parse_query(&q[..q.len() - 13]).is_err());
        assert!(parse_query(&query(1, "a b.com", 1)).is_err());
    }

    #[test]
    fn synthetic_addresses_are_stable_and_reversible() {
        let mut s = SyntheticAddresses::default();
        let a = s.address_for("a.example").unwrap();
        let b = s.address_for("b.example").unwrap();
        assert_eq!(a, Ipv4Addr::new(198, 18, 0, 1));
        assert_ne!(a, b);
        assert_eq!(s.address_for("a.example"), Some(a));
        assert_eq!(s.name_of(b), Some("b.example"));
        assert_eq!(s.name_of(Ipv4Addr::new(198, 18, 9, 9)), None);
        assert!(SyntheticAddresses::in_range(Ipv4Addr::new(198, 19, 1, 1)));
        assert!(!SyntheticAddresses::in_range(Ipv4Addr::new(198, 20, 0, 0)));
    }
}
