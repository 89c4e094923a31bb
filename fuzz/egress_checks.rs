//! What the qwarden-egress fuzz targets check, beyond "does not panic". Shared with the workspace
//! test `crates/egress/tests/fuzz_corpus.rs`, which replays the committed corpus with these same
//! checks on stable Rust.
//!
//! These live apart from `checks.rs` because each replay test includes its checks file as a
//! module and depends only on its own crate (and what that depends on).

#![allow(dead_code, reason = "each fuzz target uses one of these checks")]

use std::net::{IpAddr, Ipv4Addr};

use qwarden_egress::dns::{self, Rcode};
use qwarden_egress::sniff::{self, MAX_SNIFF, Sniffed};
use qwarden_egress::socks::{self, Reply};
use qwarden_egress::{Host, Target};
use qwarden_policy::HostPattern;

/// Every response code the stub answers with.
const RCODES: [Rcode; 6] = [
    Rcode::NoError,
    Rcode::FormErr,
    Rcode::ServFail,
    Rcode::NxDomain,
    Rcode::NotImp,
    Rcode::Refused,
];

/// The big-endian 16-bit word at `at`.
fn word(msg: &[u8], at: usize) -> u16 {
    match msg.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => panic!("the message is cut short at byte {at}"),
    }
}

/// `dns::parse_query` on arbitrary bytes, then `dns::answer` to what it accepts.
///
/// An accepted query has a name in the stub's grammar (lower case, labels of 1 to 63 letters,
/// digits, `-` and `_`, at most 253 characters), and reads the same without whatever follows its
/// question. Every answer to it echoes the id, the RD flag and the question, has QR set, opcode
/// 0 and the response code asked for, and holds exactly the records given, each pointing at the
/// question's name; with QR cleared and the records cut off it reads as the same query again. A
/// refused query gets a header-only `FORMERR` or `NOTIMP` answer with its id when it has a
/// header, and no answer when it does not.
pub fn dns_query(data: &[u8]) {
    let q = match dns::parse_query(data) {
        Ok(q) => q,
        Err(e) => {
            assert!(matches!(e.rcode, Rcode::FormErr | Rcode::NotImp), "{e:?}");
            assert!(!e.reason.is_empty());
            let header_id = (data.len() >= 12).then(|| word(data, 0));
            assert_eq!(e.id, header_id, "{e:?}");
            match dns::error_answer(&e) {
                None => assert!(e.id.is_none()),
                Some(a) => {
                    assert_eq!(a.len(), 12);
                    assert_eq!(Some(word(&a, 0)), e.id);
                    let flags = word(&a, 2);
                    assert_ne!(flags & 0x8000, 0, "QR is not set");
                    assert_eq!(flags & 0xf, e.rcode as u16);
                    assert_eq!(a[4..], [0u8; 8]);
                }
            }
            return;
        }
    };
    assert!(q.name.len() <= 253, "{}", q.name);
    if !q.name.is_empty() {
        for label in q.name.split('.') {
            assert!((1..=63).contains(&label.len()), "{}", q.name);
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
                "{}",
                q.name
            );
        }
    }
    assert_eq!(q.id, word(data, 0));
    assert_eq!(q.recursion_desired, word(data, 2) & 0x0100 != 0);

    let empty = dns::answer(&q, Rcode::NoError, &[], 0);
    let question_len = empty.len() - 12;
    let question = &empty[12..];
    assert_eq!(question, &data[12..12 + question_len]);
    // Without what follows its question (EDNS records, trailing bytes), the query is the same.
    assert_eq!(
        dns::parse_query(&data[..12 + question_len]).as_ref(),
        Ok(&q)
    );

    let stand_ins = [
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 19, 255, 254),
    ];
    for rcode in RCODES {
        for addresses in [&stand_ins[..0], &stand_ins[..1], &stand_ins[..]] {
            let a = dns::answer(&q, rcode, addresses, 60);
            assert_eq!(a.len(), 12 + question_len + 16 * addresses.len());
            assert_eq!(word(&a, 0), q.id);
            let flags = word(&a, 2);
            assert_ne!(flags & 0x8000, 0, "QR is not set");
            assert_eq!((flags >> 11) & 0xf, 0, "the opcode is not QUERY");
            assert_eq!(flags & 0x0100 != 0, q.recursion_desired);
            assert_eq!(flags & 0xf, rcode as u16);
            assert_eq!(word(&a, 4), 1);
            assert_eq!(usize::from(word(&a, 6)), addresses.len());
            assert_eq!((word(&a, 8), word(&a, 10)), (0, 0));
            assert_eq!(&a[12..12 + question_len], question);
            for (i, address) in addresses.iter().enumerate() {
                let r = &a[12 + question_len + 16 * i..][..16];
                assert_eq!(r[..2], [0xc0, 12], "not a pointer to the question's name");
                assert_eq!(word(r, 2), dns::TYPE_A);
                assert_eq!(word(r, 4), dns::CLASS_IN);
                assert_eq!(u32::from_be_bytes([r[6], r[7], r[8], r[9]]), 60);
                assert_eq!(word(r, 10), 4);
                assert_eq!(r[12..], address.octets());
            }
            // Read back as a query (QR, flags and rcode cleared, no records): the same query.
            let mut back = a[..12 + question_len].to_vec();
            back[2] &= 0x01;
            back[3] = 0;
            back[6..8].copy_from_slice(&[0, 0]);
            let again = dns::parse_query(&back)
                .unwrap_or_else(|e| panic!("an answer's question does not read back: {e}"));
            assert_eq!(again, q);
        }
    }
}

/// The request a SOCKS5 client sends to connect to `target`.
fn socks_request_for(target: &Target) -> Vec<u8> {
    let mut r = vec![5, 1, 0];
    match &target.host {
        Host::Ip(IpAddr::V4(a)) => {
            r.push(1);
            r.extend(a.octets());
        }
        Host::Ip(IpAddr::V6(a)) => {
            r.push(4);
            r.extend(a.octets());
        }
        Host::Name(n) => {
            r.push(3);
            r.push(u8::try_from(n.len()).unwrap_or_else(|_| panic!("a name of {} bytes", n.len())));
            r.extend(n.as_bytes());
        }
    }
    r.extend(target.port.to_be_bytes());
    r
}

/// `socks::parse_greeting`, then `socks::parse_request` on what follows the greeting, as the
/// proxy reads a client; and `parse_request` on the whole input as well.
///
/// Neither panics; `Ok(Some(n))` has `n <= input.len()`, holds for the first `n` bytes alone, and
/// every shorter prefix needs more bytes (never fails). An accepted greeting offers "no
/// authentication"; an accepted request is a `CONNECT` to a port other than 0, and the request
/// written back from its target reads as the same target. A refused request always says which
/// reply to send, and only once its header is there.
pub fn socks5(data: &[u8]) {
    match socks::parse_greeting(data) {
        Ok(Some(n)) => {
            assert!(n <= data.len());
            assert_eq!(data[0], 5);
            assert_eq!(n, 2 + usize::from(data[1]));
            assert!(data[2..n].contains(&0));
            assert_eq!(socks::parse_greeting(&data[..n]), Ok(Some(n)));
            for cut in 0..n {
                assert_eq!(
                    socks::parse_greeting(&data[..cut]),
                    Ok(None),
                    "cut at {cut}"
                );
            }
            check_socks_request(&data[n..]);
        }
        Ok(None) => {
            assert!(data.len() < 2 || data.len() < 2 + usize::from(data[1]));
        }
        Err(e) => assert_eq!(e.reply, None, "{e:?}"),
    }
    check_socks_request(data);
}

fn check_socks_request(data: &[u8]) {
    match socks::parse_request(data) {
        Ok(Some((target, n))) => {
            assert!(n <= data.len());
            assert_eq!((data[0], data[1]), (5, 1));
            assert_ne!(target.port, 0);
            assert_eq!(
                socks::parse_request(&data[..n]),
                Ok(Some((target.clone(), n)))
            );
            for cut in 0..n {
                assert_eq!(socks::parse_request(&data[..cut]), Ok(None), "cut at {cut}");
            }
            let again = socks_request_for(&target);
            let parsed = socks::parse_request(&again)
                .unwrap_or_else(|e| panic!("{target} written back is refused: {e}"));
            assert_eq!(parsed, Some((target, again.len())));
        }
        Ok(None) => {}
        Err(e) => {
            assert!(data.len() >= 4, "refused before the header: {e}");
            assert!(e.reply.is_some_and(|r| r != Reply::Succeeded), "{e:?}");
        }
    }
}

/// `sniff::sniff` on arbitrary bytes: never panics, and the verdict does not depend on where the
/// bytes are cut. Every prefix of an input it reads as TLS or HTTP (shorter than [`MAX_SNIFF`],
/// past which the proxy stops reading) needs more bytes or gives that same verdict; so does
/// every prefix of a refused (malformed) one. Names are given in lower case.
pub fn tunnel_sniff(data: &[u8]) {
    let verdict = sniff::sniff(data);
    assert_eq!(sniff::sniff(data), verdict);
    match &verdict {
        Sniffed::Tls(Some(name)) | Sniffed::TlsEch(Some(name)) => {
            assert!(!name.is_empty() && name.is_ascii(), "{name:?}");
            assert_eq!(*name, name.to_ascii_lowercase());
        }
        Sniffed::Http(Some(name)) => assert_eq!(*name, name.to_ascii_lowercase()),
        Sniffed::Malformed(why) => assert!(!why.is_empty()),
        _ => {}
    }
    if !matches!(
        verdict,
        Sniffed::Tls(_) | Sniffed::TlsEch(_) | Sniffed::Http(_) | Sniffed::Malformed(_)
    ) {
        return;
    }
    let cuts = data.len().min(MAX_SNIFF);
    // Every prefix of a short input; a spread of them for a long one.
    let step = (cuts / 2048).max(1);
    for cut in (0..cuts).step_by(step).chain(cuts.saturating_sub(8)..cuts) {
        let part = sniff::sniff(&data[..cut]);
        assert!(
            part == Sniffed::NeedMore || part == verdict,
            "the first {cut} bytes give {part:?}, all {} give {verdict:?}",
            data.len()
        );
    }
}

/// `Target::parse_authority` on arbitrary UTF-8 (as in `CONNECT host:port`), without and with a
/// default port.
///
/// A target prints as an authority that parses back to the same target, without a default port;
/// its host prints as a host that parses back to itself; a name is in the proxy's grammar (lower
/// case, no trailing dot, not ending in a number). The default port is used exactly when the
/// authority has no port. And where qwarden-policy reads the printed host as a host pattern,
/// that pattern matches the target, as the proxy's rules compare them.
pub fn connect_target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let without = Target::parse_authority(text, None);
    let with = Target::parse_authority(text, Some(443));
    match &without {
        Ok(t) => assert_eq!(with.as_ref(), Ok(t), "a default port changed {text:?}"),
        Err(e) => {
            assert!(!e.reason.is_empty());
            assert!(e.target.chars().count() <= 101);
        }
    }
    let Ok(target) = with else {
        return;
    };
    assert_ne!(target.port, 0);
    if without.is_err() {
        assert_eq!(target.port, 443, "{text:?}");
    }
    let shown = target.to_string();
    assert_eq!(
        Target::parse_authority(&shown, None).as_ref(),
        Ok(&target),
        "{text:?} shows as {shown:?}"
    );
    let host = target.host.to_string();
    assert_eq!(Host::parse(&host).as_ref(), Ok(&target.host), "{host:?}");
    if let Host::Name(name) = &target.host {
        assert!(!name.is_empty() && name.len() <= 253, "{name:?}");
        assert_eq!(*name, name.to_ascii_lowercase());
        assert!(!name.ends_with('.'));
        assert!(name.parse::<IpAddr>().is_err(), "{name:?} is an address");
    }
    if let Ok(pattern) = host.parse::<HostPattern>() {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        assert!(
            pattern.matches(bare, target.port),
            "{pattern} does not match {target}"
        );
    }
}
