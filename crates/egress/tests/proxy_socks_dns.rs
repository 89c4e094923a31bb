//! The egress proxy's SOCKS5 side and DNS stub on real loopback sockets: SOCKS5 CONNECT and its refusals, the stub's answers over UDP and TCP, stand-in addresses mapped back to names, and address pinning.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_proxy;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};

use qwarden_egress::Via;
use support_proxy::*;

/// Whether `a` is in `198.18.0.0/15`, where the stub's stand-in addresses come from.
fn is_stand_in(a: Ipv4Addr) -> bool {
    let [a, b, ..] = a.octets();
    a == 198 && (b == 18 || b == 19)
}

#[test]
fn socks5_connect_to_an_allowed_name() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let (mut s, reply) = socks(h.addr, &socks_domain("API.lab.test", 443));
    assert_eq!(reply, [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let data = opaque_bytes(5000);
    round_trip(&mut s, &data);
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 5000);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.address = Some(LOOPBACK);
            e.via = Via::Socks5;
            e.allowed = true;
            e.rule = "allow *.lab.test".into();
            e.bytes_up = 5000;
            e.bytes_down = 5000;
        })
    );

    // A greeting offering several methods, "no authentication" among them; the request sent in
    // the same write as the greeting.
    let mut s = connect(h.addr);
    let mut bytes = vec![5, 3, 2, 1, 0];
    bytes.extend(socks_domain("api.lab.test", 8443));
    bytes.extend(b"\0early");
    s.write_all(&bytes).unwrap();
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let mut back = [0u8; 6];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"\0early");
    finish(&mut s);
    assert_eq!(echo.ended(), 6);
    let d = h.decision(1);
    assert_eq!(
        (d.port, d.allowed, d.bytes_up, d.bytes_down),
        (8443, true, 6, 6)
    );
    assert_eq!(h.stop().len(), 2);
}

#[test]
fn socks5_refusals() {
    let trap = Trap::new();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .deny("secret.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", trap.addr)
            .host("secret.lab.test", trap.addr),
    );
    // Names no rule allows, or a deny rule refuses: "not allowed by ruleset".
    let (_, reply) = socks(h.addr, &socks_domain("nothing.example", 443));
    assert_eq!(reply[..2], [5, 2]);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "nothing.example".into();
            e.port = 443;
            e.via = Via::Socks5;
            e.rule = "default deny".into();
        })
    );
    let (_, reply) = socks(h.addr, &socks_domain("secret.lab.test", 443));
    assert_eq!(reply[..2], [5, 2]);
    assert_eq!(h.decision(1).rule, "deny secret.lab.test");

    // An IPv4 address no rule names.
    let (_, reply) = socks(h.addr, &socks_ipv4(Ipv4Addr::new(8, 8, 8, 8), 53));
    assert_eq!(reply[..2], [5, 2]);
    let d = h.decision(2);
    assert_eq!(
        (d.host.as_str(), d.port, d.allowed, d.rule.as_str()),
        ("8.8.8.8", 53, false, "default deny")
    );

    // BIND and UDP ASSOCIATE: "command not supported".
    for cmd in [2u8, 3] {
        let mut request = socks_domain("api.lab.test", 443);
        request[1] = cmd;
        let (_, reply) = socks(h.addr, &request);
        assert_eq!(reply[..2], [5, 7], "command {cmd}");
    }
    for i in [3, 4] {
        let d = h.decision(i);
        assert_eq!(
            d,
            expected(&d, |e| {
                e.host = "api.lab.test".into();
                e.port = 443;
                e.via = Via::Socks5;
                e.rule = "SOCKS5: only CONNECT is supported (no BIND, no UDP ASSOCIATE)".into();
            })
        );
    }

    // A name that is not a host name: "address type not supported".
    let (_, reply) = socks(h.addr, &socks_domain("a b.lab.test", 443));
    assert_eq!(reply[..2], [5, 8]);
    let d = h.decision(5);
    assert_eq!(
        (d.host.as_str(), d.allowed, d.rule.as_str()),
        (
            "(unreadable request)",
            false,
            "SOCKS5: the domain name is not a valid host name"
        )
    );

    // A client that offers only username/password: no acceptable method, and nothing to record.
    let mut s = connect(h.addr);
    s.write_all(&[5, 1, 2]).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, [5, 0xff]);

    trap.assert_untouched();
    assert_eq!(h.stop().len(), 6);
}

#[test]
fn the_dns_stub_answers_allowed_names_with_stand_ins_that_map_back() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr)
            .host("v6.lab.test", echo.addr),
    );
    let query = dns_query(0x1234, "API.lab.test", 1);
    let raw = dns_udp(h.dns_udp, &query);
    let answer = parse_response(&raw);
    assert_eq!(
        (
            answer.id,
            answer.response,
            answer.recursion_desired,
            answer.rcode
        ),
        (0x1234, true, true, 0)
    );
    assert_eq!(answer.question.as_deref(), Some("API.lab.test"));
    assert_eq!(answer.answers, 1);
    let stand_in = answer.addresses[0];
    assert!(is_stand_in(stand_in), "{stand_in}");
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 53;
            e.address = Some(LOOPBACK);
            e.via = Via::DnsUdp;
            e.allowed = true;
            e.rule = "allow *.lab.test".into();
            e.bytes_up = query.len() as u64;
            e.bytes_down = raw.len() as u64;
        })
    );

    // The same name again: the same address, and no second record of it.
    let again = parse_response(&dns_udp(h.dns_udp, &dns_query(7, "api.lab.test", 1)));
    assert_eq!(again.addresses, [stand_in]);
    // AAAA: no IPv6 stand-ins, an empty answer.
    let aaaa = parse_response(&dns_udp(
        h.dns_udp,
        &dns_query(8, "api.lab.test", TYPE_AAAA),
    ));
    assert_eq!((aaaa.rcode, aaaa.answers), (0, 0));

    // SOCKS5 to the stand-in address reaches the name it stands for.
    let (mut s, reply) = socks(h.addr, &socks_ipv4(stand_in, 443));
    assert_eq!(reply[1], 0);
    round_trip(&mut s, b"\0via the stand-in");
    finish(&mut s);
    assert_eq!(echo.ended(), 17);
    let d = h.decision(1);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.address = Some(LOOPBACK);
            e.via = Via::Socks5;
            e.allowed = true;
            e.rule = "allow *.lab.test".into();
            e.bytes_up = 17;
            e.bytes_down = 17;
            e.asked_as = Some(stand_in.to_string());
        })
    );

    // So does CONNECT, and the TLS server name is checked against the name, not the address.
    let mut s = open_tunnel(h.addr, &format!("{stand_in}:443"));
    let hello = client_hello(Some("api.lab.test"), &[]);
    round_trip(&mut s, &hello);
    finish(&mut s);
    assert_eq!(echo.ended(), hello.len() as u64);
    let d = h.decision(2);
    assert_eq!(
        (d.host.as_str(), d.asked_as, d.allowed),
        ("api.lab.test", Some(stand_in.to_string()), true)
    );
    assert_eq!(d.sni.as_deref(), Some("api.lab.test"));

    // AAAA for a name asked for the first time: recorded, allowed, empty.
    let aaaa = parse_response(&dns_udp(h.dns_udp, &dns_query(9, "v6.lab.test", TYPE_AAAA)));
    assert_eq!((aaaa.id, aaaa.rcode, aaaa.answers), (9, 0, 0));
    let d = h.decision(3);
    assert_eq!(
        (d.host.as_str(), d.allowed, d.via),
        ("v6.lab.test", true, Via::DnsUdp)
    );
    // Its A record, asked afterwards, is another stand-in.
    let a = parse_response(&dns_udp(h.dns_udp, &dns_query(10, "v6.lab.test", 1)));
    assert_eq!(a.answers, 1);
    assert_ne!(a.addresses[0], stand_in);
    assert!(is_stand_in(a.addresses[0]));

    assert_eq!(h.stop().len(), 4);
}

#[test]
fn the_dns_stub_refuses_other_names_without_asking_anyone() {
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .deny("secret.lab.test")
            .range("127.0.0.1/32")
            .host("private.lab.test", "10.0.0.1"),
    );
    let query = dns_query(0xabcd, "secret.attacker.example", 1);
    let raw = dns_udp(h.dns_udp, &query);
    let answer = parse_response(&raw);
    assert_eq!(
        (answer.id, answer.response, answer.rcode, answer.answers),
        (0xabcd, true, 5, 0)
    );
    assert_eq!(answer.question.as_deref(), Some("secret.attacker.example"));
    let d = h.decision(0);
    // No address: nothing was resolved (the stub never forwards a query).
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "secret.attacker.example".into();
            e.port = 53;
            e.via = Via::DnsUdp;
            e.rule = "default deny".into();
            e.bytes_up = query.len() as u64;
            e.bytes_down = raw.len() as u64;
        })
    );

    // The deny list, an allowed name at an address no range allows, another class.
    let cases: [(Vec<u8>, &str); 3] = [
        (dns_query(2, "secret.lab.test", 1), "deny secret.lab.test"),
        (
            dns_query(3, "private.lab.test", 1),
            "address 10.0.0.1 is private",
        ),
        (
            dns_query_class(4, "api.lab.test", 1, 3),
            "only class IN is answered",
        ),
    ];
    for (i, (query, rule)) in cases.iter().enumerate() {
        let answer = parse_response(&dns_udp(h.dns_udp, query));
        assert_eq!((answer.rcode, answer.answers), (5, 0), "{rule}");
        let d = h.decision(i + 1);
        assert_eq!((d.allowed, d.rule.as_str()), (false, *rule));
    }
    assert_eq!(
        h.decision(2).address,
        Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
    );
    // Refusals are recorded every time.
    let again = parse_response(&dns_udp(
        h.dns_udp,
        &dns_query(5, "secret.attacker.example", 1),
    ));
    assert_eq!(again.rcode, 5);
    assert_eq!(h.decision(4).host, "secret.attacker.example");
    assert_eq!(h.stop().len(), 5);
}

#[test]
fn the_dns_stub_over_tcp() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let mut s = connect(h.dns_tcp);
    // Several queries on one connection.
    let allowed = parse_response(&dns_tcp_exchange(&mut s, &dns_query(1, "api.lab.test", 1)));
    assert_eq!((allowed.id, allowed.rcode, allowed.answers), (1, 0, 1));
    assert!(is_stand_in(allowed.addresses[0]));
    let refused = parse_response(&dns_tcp_exchange(
        &mut s,
        &dns_query(2, "secret.attacker.example", 1),
    ));
    assert_eq!((refused.id, refused.rcode, refused.answers), (2, 5, 0));
    let d = h.decision(0);
    assert_eq!(
        (d.via, d.allowed, d.host.as_str()),
        (Via::DnsTcp, true, "api.lab.test")
    );
    let d = h.decision(1);
    assert_eq!(
        (d.via, d.allowed, d.rule.as_str()),
        (Via::DnsTcp, false, "default deny")
    );
    // The stand-in handed out over TCP works like one handed out over UDP.
    let udp = parse_response(&dns_udp(h.dns_udp, &dns_query(3, "api.lab.test", 1)));
    assert_eq!(udp.addresses, allowed.addresses);

    // An empty message ends the connection, recorded.
    s.write_all(&[0, 0]).unwrap();
    assert!(finish(&mut s).is_empty());
    let d = h.decision(2);
    assert_eq!(
        (d.host.as_str(), d.via, d.allowed, d.rule.as_str()),
        (
            "(unreadable query)",
            Via::DnsTcp,
            false,
            "malformed DNS query: shorter than a DNS header"
        )
    );
    assert_eq!(h.stop().len(), 3);
}

#[test]
fn malformed_dns_queries_are_answered_formerr_or_not_at_all_and_recorded() {
    let mut h = Harness::start(&Grant::default().allow("*.lab.test"));
    let client = udp_client();

    // Too short for a header: no id to answer to.
    client.send_to(&[1, 2, 3, 4, 5], h.dns_udp).unwrap();
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "(unreadable query)".into();
            e.port = 53;
            e.via = Via::DnsUdp;
            e.rule = "malformed DNS query: shorter than a DNS header".into();
            e.bytes_up = 5;
        })
    );

    let cases: [(Vec<u8>, u8, &str); 4] = [
        (
            {
                let mut m = dns_query(0x4242, "api.lab.test", 1);
                m[2] |= 0x80;
                m
            },
            1,
            "a response, not a query",
        ),
        (
            {
                // A compression pointer in the question.
                let mut m = dns_query(0x4243, "api.lab.test", 1);
                m[12] = 0xc0;
                m
            },
            1,
            "compressed or extended labels in a question",
        ),
        (
            {
                // Opcode 2 (STATUS).
                let mut m = dns_query(0x4244, "api.lab.test", 1);
                m[2] |= 0x10;
                m
            },
            4,
            "only standard queries are answered",
        ),
        (
            dns_query(0x4245, "data_that.is.not!a.host", 1),
            1,
            "the question name is not a host name",
        ),
    ];
    for (i, (query, rcode, reason)) in cases.iter().enumerate() {
        let answer = parse_response(&dns_udp(h.dns_udp, query));
        assert_eq!(
            (answer.id, answer.response, answer.rcode, answer.answers),
            (u16::from_be_bytes([query[0], query[1]]), true, *rcode, 0),
            "{reason}"
        );
        assert_eq!(answer.question, None);
        let d = h.decision(i + 1);
        assert_eq!(d.rule, format!("malformed DNS query: {reason}"));
        assert_eq!((d.allowed, d.bytes_up), (false, query.len() as u64));
    }
    // The socket still serves after all that.
    let ok = parse_response(&dns_udp(h.dns_udp, &dns_query(1, "x.example", 1)));
    assert_eq!(ok.rcode, 5);
    assert_eq!(h.stop().len(), 6);
}

#[test]
fn a_stand_in_address_never_handed_out_is_refused() {
    let trap = Trap::new();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", trap.addr),
    );
    let (_, reply) = socks(h.addr, &socks_ipv4(Ipv4Addr::new(198, 18, 255, 1), 443));
    assert_eq!(reply[..2], [5, 2]);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "198.18.255.1".into();
            e.port = 443;
            e.address = Some(IpAddr::V4(Ipv4Addr::new(198, 18, 255, 1)));
            e.via = Via::Socks5;
            e.rule = "address 198.18.255.1 was not handed out by qwarden's DNS stub".into();
        })
    );
    let (_, head) = connect_tunnel(h.addr, "198.19.0.7:443");
    assert_eq!(head.status, 403);
    assert_eq!(
        head.header("x-qwarden-denied"),
        Some("address 198.19.0.7 was not handed out by qwarden's DNS stub")
    );
    // Handing one out does not open its neighbours.
    let answer = parse_response(&dns_udp(h.dns_udp, &dns_query(1, "api.lab.test", 1)));
    let [a, b, c, last] = answer.addresses[0].octets();
    let neighbour = Ipv4Addr::new(a, b, c, last.wrapping_add(1));
    let (_, reply) = socks(h.addr, &socks_ipv4(neighbour, 443));
    assert_eq!(reply[..2], [5, 2]);
    assert!(!h.decision(3).allowed);
    trap.assert_untouched();
    assert_eq!(h.stop().len(), 4);
}

#[test]
fn a_resolved_name_stays_pinned_to_its_first_answer() {
    // With an override there is nothing to resolve; `localhost` goes through the system's
    // resolver, and both connections (and the DNS stub) use the one answer pinned first.
    let echo = Echo::start();
    let mut h = Harness::start(&Grant::default().allow("localhost").range("127.0.0.0/8"));
    let authority = format!("localhost:{}", echo.addr.port());
    for i in 0..2 {
        let mut s = open_tunnel(h.addr, &authority);
        round_trip(&mut s, b"\0pinned");
        finish(&mut s);
        assert_eq!(echo.ended(), 7);
        let d = h.decision(i);
        assert!(d.allowed, "{d:?}");
    }
    let answer = parse_response(&dns_udp(h.dns_udp, &dns_query(1, "localhost", 1)));
    assert_eq!(answer.rcode, 0);
    let decisions = h.stop();
    assert_eq!(decisions.len(), 3);
    assert_eq!(decisions[0].address, Some(LOOPBACK));
    assert!(
        decisions.iter().all(|d| d.address == Some(LOOPBACK)),
        "{decisions:#?}"
    );
}
