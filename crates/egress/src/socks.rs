//! SOCKS5 (RFC 1928) as the proxy speaks it: no authentication, `CONNECT` only, to a domain name
//! (`socks5h://`) or an address.
//!
//! `BIND` and `UDP ASSOCIATE` are refused with "command not supported": UDP would be a way out
//! that no host rule could see.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::target::{Host, Target};

/// Reply codes (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Succeeded.
    Succeeded = 0,
    /// General SOCKS server failure.
    GeneralFailure = 1,
    /// Connection not allowed by ruleset.
    NotAllowed = 2,
    /// Network unreachable.
    NetworkUnreachable = 3,
    /// Host unreachable (the name did not resolve).
    HostUnreachable = 4,
    /// Connection refused.
    ConnectionRefused = 5,
    /// TTL expired (used for a connect that timed out).
    TtlExpired = 6,
    /// Command not supported.
    CommandNotSupported = 7,
    /// Address type not supported.
    AddressTypeNotSupported = 8,
}

/// The server's reply to a request: `VER REP RSV ATYP BND.ADDR BND.PORT`, with an unspecified
/// bound address (clients do not need it for CONNECT).
pub fn reply(code: Reply) -> [u8; 10] {
    [5, code as u8, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// Why a SOCKS exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SOCKS5: {reason}")]
pub struct SocksError {
    /// The reply to send, when the exchange got as far as a request.
    pub reply: Option<Reply>,
    /// The destination the request named, when it could be read.
    pub target: Option<Target>,
    /// What went wrong.
    pub reason: &'static str,
}

fn fail(reply: Option<Reply>, reason: &'static str) -> SocksError {
    SocksError {
        reply,
        target: None,
        reason,
    }
}

/// Reads the greeting (`VER NMETHODS METHODS…`). `Ok(None)`: more bytes are needed;
/// `Ok(Some(n))`: the greeting is `n` bytes and offers "no authentication".
pub fn parse_greeting(buf: &[u8]) -> Result<Option<usize>, SocksError> {
    let (Some(&ver), Some(&n)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if ver != 5 {
        return Err(fail(None, "only SOCKS version 5 is spoken"));
    }
    let Some(methods) = buf.get(2..2 + usize::from(n)) else {
        return Ok(None);
    };
    if !methods.contains(&0) {
        return Err(fail(
            None,
            "the client offers no method without authentication",
        ));
    }
    Ok(Some(2 + usize::from(n)))
}

/// Reads a request (`VER CMD RSV ATYP DST.ADDR DST.PORT`). `Ok(None)`: more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Target, usize)>, SocksError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let (ver, cmd, atyp) = (
        head.first().copied(),
        head.get(1).copied(),
        head.get(3).copied(),
    );
    if ver != Some(5) {
        return Err(fail(
            Some(Reply::GeneralFailure),
            "a version-5 request was expected",
        ));
    }
    let (host, end) = match atyp {
        Some(1) => {
            let Some(a) = buf.get(4..8) else {
                return Ok(None);
            };
            let mut o = [0u8; 4];
            o.copy_from_slice(a);
            (Host::Ip(IpAddr::V4(Ipv4Addr::from(o))), 8)
        }
        Some(4) => {
            let Some(a) = buf.get(4..20) else {
                return Ok(None);
            };
            let mut o = [0u8; 16];
            o.copy_from_slice(a);
            (Host::Ip(IpAddr::V6(Ipv6Addr::from(o))), 20)
        }
        Some(3) => {
            let Some(&len) = buf.get(4) else {
                return Ok(None);
            };
            let Some(name) = buf.get(5..5 + usize::from(len)) else {
                return Ok(None);
            };
            let name = std::str::from_utf8(name).map_err(|_| {
                fail(
                    Some(Reply::AddressTypeNotSupported),
                    "the domain name is not ASCII",
                )
            })?;
            let host = Host::parse(name).map_err(|_| {
                fail(
                    Some(Reply::AddressTypeNotSupported),
                    "the domain name is not a valid host name",
                )
            })?;
            (host, 5 + usize::from(len))
        }
        _ => {
            return Err(fail(
                Some(Reply::AddressTypeNotSupported),
                "unknown address type",
            ));
        }
    };
    let Some(p) = buf.get(end..end + 2) else {
        return Ok(None);
    };
    let port = u16::from_be_bytes([
        p.first().copied().unwrap_or(0),
        p.get(1).copied().unwrap_or(0),
    ]);
    let target = Target { host, port };
    let refuse = |reply, reason| SocksError {
        reply: Some(reply),
        target: Some(target.clone()),
        reason,
    };
    if cmd != Some(1) {
        return Err(refuse(
            Reply::CommandNotSupported,
            "only CONNECT is supported (no BIND, no UDP ASSOCIATE)",
        ));
    }
    if port == 0 {
        return Err(refuse(Reply::NotAllowed, "port 0"));
    }
    Ok(Some((target, end + 2)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn greetings() {
        assert_eq!(parse_greeting(&[5]), Ok(None));
        assert_eq!(parse_greeting(&[5, 2, 0]), Ok(None));
        assert_eq!(parse_greeting(&[5, 2, 2, 0]), Ok(Some(4)));
        assert!(parse_greeting(&[4, 1, 0]).is_err());
        assert!(parse_greeting(&[5, 1, 2]).is_err());
    }

    #[test]
    fn requests() {
        let mut r = vec![5, 1, 0, 3, 11];
        r.extend(b"example.com");
        r.extend(443u16.to_be_bytes());
        let (t, n) = parse_request(&r).unwrap().unwrap();
        assert_eq!(t.to_string(), "example.com:443");
        assert_eq!(n, r.len());
        for cut in 0..r.len() {
            assert_eq!(parse_request(&r[..cut]), Ok(None), "cut {cut}");
        }
        let v4 = [5, 1, 0, 1, 8, 8, 8, 8, 0, 53];
        assert_eq!(
            parse_request(&v4).unwrap().unwrap().0.to_string(),
            "8.8.8.8:53"
        );
        let mut v6 = vec![5, 1, 0, 4];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        v6.extend([1, 0]);
        assert_eq!(
            parse_request(&v6).unwrap().unwrap().0.to_string(),
            "[::1]:256"
        );
    }

    #[test]
    fn refused_requests_say_why() {
        let udp = [5, 3, 0, 1, 8, 8, 8, 8, 0, 53];
        assert_eq!(
            parse_request(&udp).unwrap_err().reply,
            Some(Reply::CommandNotSupported)
        );
        let bind = [5, 2, 0, 1, 8, 8, 8, 8, 0, 53];
        assert_eq!(
            parse_request(&bind).unwrap_err().reply,
            Some(Reply::CommandNotSupported)
        );
        assert_eq!(
            parse_request(&[5, 1, 0, 9, 0, 0]).unwrap_err().reply,
            Some(Reply::AddressTypeNotSupported)
        );
        let mut bad = vec![5, 1, 0, 3, 4];
        bad.extend(b"a b!");
        bad.extend([0, 80]);
        assert!(parse_request(&bad).is_err());
        let mut num = vec![5, 1, 0, 3, 10];
        num.extend(b"2130706433");
        num.extend([0, 80]);
        assert!(parse_request(&num).is_err());
        assert_eq!(reply(Reply::NotAllowed)[1], 2);
    }
}
