//! The egress proxy's HTTP side on real loopback sockets: CONNECT tunnels, deny rules, address checks, the tunnel's TLS server name and HTTP `Host` checks, absolute-form forwarding, shutdown, a large download and curl as a client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_proxy;

use std::io::{Read, Write};

use qwarden_egress::Via;
use support_proxy::*;

#[test]
fn connect_to_an_allowed_name_tunnels_and_counts_every_byte() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    // In several exchanges, so that the counts add up over many reads.
    let data = opaque_bytes(100_000);
    for chunk in data.chunks(30_000) {
        round_trip(&mut s, chunk);
    }
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 100_000);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.address = Some(LOOPBACK);
            e.via = Via::HttpConnect;
            e.allowed = true;
            e.rule = "allow *.lab.test".into();
            e.bytes_up = 100_000;
            e.bytes_down = 100_000;
        })
    );
    assert_eq!(h.stop().len(), 1);
}

#[test]
fn connect_to_a_host_no_rule_allows_is_forbidden() {
    let trap = Trap::new();
    let mut h = Harness::start(
        &Grant::default()
            .allow("api.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", trap.addr),
    );
    let (mut s, head) = connect_tunnel(h.addr, "nothing.example:443");
    assert_eq!(head.status, 403);
    assert_eq!(head.header("x-qwarden-denied"), Some("default deny"));
    assert_eq!(
        head.header("proxy-status"),
        Some("qwarden; error=http_request_denied; details=\"default deny\"")
    );
    let body = String::from_utf8(read_body(&mut s, &head)).unwrap();
    assert!(
        body.contains("refused by egress policy: default deny"),
        "{body}"
    );
    // A name that only differs by a label is no better.
    let (_, head) = connect_tunnel(h.addr, "api.lab.test.evil.example:443");
    assert_eq!(head.status, 403);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "nothing.example".into();
            e.port = 443;
            e.via = Via::HttpConnect;
            e.rule = "default deny".into();
        })
    );
    assert_eq!(h.decision(1).host, "api.lab.test.evil.example");
    trap.assert_untouched();
    assert_eq!(h.stop().len(), 2);
}

#[test]
fn deny_lists_win_over_any_allow() {
    let echo = Echo::start();
    let trap = Trap::new();
    // `*.app` is not a valid pattern (a wildcard needs two labels after `*.`), so the built-in
    // deny list is checked against an allow pattern at least as broad as any a profile could
    // write for it.
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .allow("*.ngrok-free.app")
            .deny("secret.lab.test")
            .builtin_deny("*.ngrok-free.app")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr)
            .host("secret.lab.test", trap.addr)
            .host("agent.ngrok-free.app", trap.addr),
    );
    for (authority, rule) in [
        ("secret.lab.test:443", "deny secret.lab.test"),
        ("SECRET.lab.test.:443", "deny secret.lab.test"),
        ("agent.ngrok-free.app:443", "built-in deny *.ngrok-free.app"),
    ] {
        let (_, head) = connect_tunnel(h.addr, authority);
        assert_eq!(head.status, 403, "{authority}");
        assert_eq!(head.header("x-qwarden-denied"), Some(rule), "{authority}");
    }
    // The same grant still allows what it allows.
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    round_trip(&mut s, b"\0still allowed");
    finish(&mut s);
    let decisions = h.recorder.wait_for(4);
    let rules: Vec<_> = decisions
        .iter()
        .map(|d| (d.host.as_str(), d.allowed, d.rule.as_str(), d.address))
        .collect();
    assert_eq!(
        rules,
        [
            ("secret.lab.test", false, "deny secret.lab.test", None),
            ("secret.lab.test", false, "deny secret.lab.test", None),
            (
                "agent.ngrok-free.app",
                false,
                "built-in deny *.ngrok-free.app",
                None
            ),
            ("api.lab.test", true, "allow *.lab.test", Some(LOOPBACK)),
        ]
    );
    trap.assert_untouched();
    assert_eq!(h.stop().len(), 4);
}

#[test]
fn an_allowed_name_must_also_resolve_to_an_allowed_address() {
    let trap = Trap::new();
    // Loopback without a range for it.
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .host("api.lab.test", trap.addr),
    );
    let (_, head) = connect_tunnel(h.addr, "api.lab.test:443");
    assert_eq!(head.status, 403);
    assert_eq!(
        head.header("x-qwarden-denied"),
        Some("address 127.0.0.1 is loopback")
    );
    assert!(
        head.header("proxy-status")
            .unwrap()
            .contains("error=destination_ip_prohibited")
    );
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.address = Some(LOOPBACK);
            e.via = Via::HttpConnect;
            e.rule = "address 127.0.0.1 is loopback".into();
        })
    );
    trap.assert_untouched();
    h.stop();

    // Cloud metadata, although a range covers it: only a range of exactly that address opens it.
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .range("169.254.0.0/16")
            .host("meta.lab.test", "169.254.169.254:80"),
    );
    let (_, head) = connect_tunnel(h.addr, "meta.lab.test:80");
    assert_eq!(head.status, 403);
    assert_eq!(
        head.header("x-qwarden-denied"),
        Some("address 169.254.169.254 is cloud metadata")
    );
    let d = h.decision(0);
    assert_eq!(d.address, Some("169.254.169.254".parse().unwrap()));
    assert!(!d.allowed);
    h.stop();

    // `localhost`, resolved by the system's resolver, allowed by name but not by address.
    let echo = Echo::start();
    let mut h = Harness::start(&Grant::default().allow("localhost"));
    let (_, head) = connect_tunnel(h.addr, &format!("localhost:{}", echo.addr.port()));
    assert_eq!(head.status, 403);
    let d = h.decision(0);
    let address = d.address.expect("the refused address is recorded");
    assert!(address.is_loopback(), "{d:?}");
    assert_eq!(d.rule, format!("address {address} is loopback"));
    assert!(!d.allowed);
    assert_eq!(h.stop().len(), 1);
}

#[test]
fn a_tunnel_must_carry_tls_for_the_host_it_was_opened_to() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );

    // Another server name: the tunnel closes, and not one byte reaches the upstream.
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    let hello = client_hello(Some("evil.example"), &[(0x000a, vec![0, 2, 0, 29])]);
    // In two writes: the proxy waits for the whole ClientHello.
    s.write_all(&hello[..3]).unwrap();
    s.write_all(&hello[3..]).unwrap();
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.address = Some(LOOPBACK);
            e.via = Via::HttpConnect;
            e.rule = "tls server name evil.example differs from the target api.lab.test".into();
            e.sni = Some("evil.example".into());
        })
    );

    // The right name (in any case, with a trailing dot) passes, and the hello is relayed as is.
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    let hello = client_hello(Some("API.Lab.Test."), &[]);
    round_trip(&mut s, &hello);
    finish(&mut s);
    assert_eq!(echo.ended(), hello.len() as u64);
    let d = h.decision(1);
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.rule, "allow *.lab.test");
    assert_eq!(d.sni.as_deref(), Some("api.lab.test"));
    assert_eq!(
        (d.bytes_up, d.bytes_down),
        (hello.len() as u64, hello.len() as u64)
    );

    // A real ClientHello, as curl sends it for https://api.lab.test (from the fuzz corpus).
    let curl_hello = include_bytes!("../../../fuzz/corpus/tunnel_sniff/ok-tls-curl-api.lab.test");
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    round_trip(&mut s, curl_hello);
    finish(&mut s);
    assert_eq!(echo.ended(), curl_hello.len() as u64);
    let d = h.decision(2);
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.sni.as_deref(), Some("api.lab.test"));

    // Encrypted Client Hello hides the real name behind the outer one: refused.
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    s.write_all(&client_hello(
        Some("api.lab.test"),
        &[(0xfe0d, vec![0; 32])],
    ))
    .unwrap();
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    let d = h.decision(3);
    assert!(!d.allowed);
    assert_eq!(d.rule, "tls encrypted client hello hides the server name");
    assert_eq!(d.sni.as_deref(), Some("api.lab.test"));
    assert_eq!((d.bytes_up, d.bytes_down), (0, 0));

    assert_eq!(h.stop().len(), 4);
}

#[test]
fn a_tunnel_must_carry_http_for_the_host_it_was_opened_to() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let mut s = open_tunnel(h.addr, "api.lab.test:80");
    s.write_all(b"GET /steal HTTP/1.1\r\nHost: evil.example\r\nAccept: */*\r\n\r\n")
        .unwrap();
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 80;
            e.address = Some(LOOPBACK);
            e.via = Via::HttpConnect;
            e.rule = "http host evil.example differs from the target api.lab.test".into();
        })
    );

    // Two Host headers are refused too: which one would the server believe?
    let mut s = open_tunnel(h.addr, "api.lab.test:80");
    s.write_all(b"GET / HTTP/1.1\r\nHost: api.lab.test\r\nHost: evil.example\r\n\r\n")
        .unwrap();
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    assert_eq!(h.decision(1).rule, "first bytes refused: two Host headers");

    let request = b"GET /ok HTTP/1.1\r\nHost: api.lab.test:80\r\n\r\n";
    let mut s = open_tunnel(h.addr, "api.lab.test:80");
    round_trip(&mut s, request);
    finish(&mut s);
    assert_eq!(echo.ended(), request.len() as u64);
    let d = h.decision(2);
    assert!(d.allowed && d.error.is_none(), "{d:?}");
    assert_eq!(
        (d.bytes_up, d.bytes_down),
        (request.len() as u64, request.len() as u64)
    );
    assert_eq!(h.stop().len(), 3);
}

#[test]
fn the_first_bytes_are_checked_however_they_are_cut_or_padded() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let refused = |h: &Harness, n: usize, what: &str, bytes: &[u8], rule: &str| {
        let mut s = open_tunnel(h.addr, "api.lab.test:443");
        s.write_all(bytes).unwrap();
        assert!(finish(&mut s).is_empty(), "{what}: relayed");
        assert_eq!(echo.ended(), 0, "{what}: relayed");
        let d = h.decision(n);
        assert!(!d.allowed, "{what}: {d:?}");
        assert_eq!(d.rule, rule, "{what}");
        assert_eq!((d.bytes_up, d.bytes_down), (0, 0), "{what}");
    };

    // A ClientHello for another name, with the tunnel's data sent in the same write as CONNECT.
    let mut s = connect(h.addr);
    let mut pipelined =
        b"CONNECT api.lab.test:443 HTTP/1.1\r\nHost: api.lab.test:443\r\n\r\n".to_vec();
    pipelined.extend(client_hello(Some("evil.example"), &[]));
    s.write_all(&pipelined).unwrap();
    assert_eq!(read_head(&mut s).status, 200);
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    assert_eq!(
        h.decision(0).rule,
        "tls server name evil.example differs from the target api.lab.test"
    );

    // The same ClientHello, padded (extension 21) and cut into one-byte handshake records: TLS
    // servers reassemble it, so the proxy must not give up on it as "opaque" when it outgrows
    // the bytes the proxy inspects.
    let hello = client_hello(Some("evil.example"), &[(21, vec![0; 6000])]);
    let thin: Vec<u8> = hello[5..]
        .iter()
        .flat_map(|b| [0x16, 3, 1, 0, 1, *b])
        .collect();
    assert!(thin.len() > qwarden_egress::sniff::MAX_SNIFF);
    refused(
        &h,
        1,
        "one-byte records",
        &thin,
        "first bytes refused: no host name in the first bytes qwarden inspects",
    );

    // An HTTP request after an empty line, which servers skip (RFC 9112 §2.2).
    refused(
        &h,
        2,
        "a leading empty line",
        b"\r\nGET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http host evil.example differs from the target api.lab.test",
    );
    refused(
        &h,
        3,
        "leading empty lines",
        b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http host evil.example differs from the target api.lab.test",
    );
    refused(
        &h,
        4,
        "a lone carriage return",
        b"\rGET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http host evil.example differs from the target api.lab.test",
    );
    // Headers the proxy cannot read, in front of the Host header: more than it parses, or a line
    // lenient servers skip (nginx's `ignore_invalid_headers`).
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        many.extend(format!("X-Filler-{i}: {i}\r\n").as_bytes());
    }
    many.extend(b"Host: evil.example\r\n\r\n");
    refused(
        &h,
        5,
        "a hundred headers",
        &many,
        "first bytes refused: unreadable HTTP request head",
    );
    refused(
        &h,
        6,
        "an invalid header line",
        b"GET / HTTP/1.1\r\nX@Y: z\r\nHost: evil.example\r\n\r\n",
        "first bytes refused: unreadable HTTP request head",
    );
    // A method is any token, in any case (many servers take what they do not know), and a
    // client may send the first bytes in pieces.
    refused(
        &h,
        7,
        "a lower-case method",
        b"get / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "http host evil.example differs from the target api.lab.test",
    );
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    s.write_all(b"M1").unwrap();
    s.write_all(b" / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        .unwrap();
    assert!(finish(&mut s).is_empty());
    assert_eq!(echo.ended(), 0);
    assert!(!h.decision(8).allowed);
    assert_eq!(h.stop().len(), 9);
}

#[test]
fn connect_with_a_host_header_naming_another_host_is_forbidden() {
    let trap = Trap::new();
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", trap.addr)
            .host("other.lab.test", echo.addr),
    );
    let mut s = connect(h.addr);
    s.write_all(b"CONNECT api.lab.test:443 HTTP/1.1\r\nHost: other.lab.test:443\r\n\r\n")
        .unwrap();
    let head = read_head(&mut s);
    assert_eq!(head.status, 403);
    assert_eq!(
        head.header("x-qwarden-denied"),
        Some("http host other.lab.test differs from the target api.lab.test")
    );
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "api.lab.test".into();
            e.port = 443;
            e.via = Via::HttpConnect;
            e.rule = "http host other.lab.test differs from the target api.lab.test".into();
        })
    );
    trap.assert_untouched();

    // A CONNECT without a Host header is fine (HTTP/1.1 requires one, clients omit it).
    let mut s = connect(h.addr);
    s.write_all(b"CONNECT other.lab.test:443 HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut s).status, 200);
    round_trip(&mut s, b"\0");
    finish(&mut s);
    assert!(h.decision(1).allowed);
    assert_eq!(h.stop().len(), 2);
}

#[test]
fn absolute_form_requests_are_forwarded_in_origin_form() {
    let server = HttpServer::start(b"hello from upstream\n".to_vec());
    let mut h = Harness::start(
        &Grant::default()
            .allow("web.lab.test")
            .range("127.0.0.1/32")
            .host("web.lab.test", server.addr),
    );
    let (head, body, _s) = http(
        h.addr,
        "GET http://web.lab.test/path?q=1 HTTP/1.1\r\n\
         Host: web.lab.test\r\n\
         Proxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\
         Connection: X-Hop\r\n\
         X-Hop: this hop only\r\n\
         X-Kept: 2\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert_eq!(body, *server.body);
    assert_eq!(head.header("x-upstream"), Some("qwarden-test"));
    assert_eq!(head.header("connection"), None);

    let request = server.request();
    let text = String::from_utf8(request.clone()).unwrap();
    assert!(text.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("\r\nhost: web.lab.test\r\n"), "{text}");
    assert!(lower.contains("\r\nx-kept: 2\r\n"), "{text}");
    for gone in [
        "proxy-connection",
        "proxy-authorization",
        "x-hop",
        "connection:",
    ] {
        assert!(!lower.contains(gone), "{gone} was forwarded: {text}");
    }

    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "web.lab.test".into();
            e.port = 80;
            e.address = Some(LOOPBACK);
            e.via = Via::HttpForward;
            e.allowed = true;
            e.rule = "allow web.lab.test".into();
            e.request = Some("GET /path".into());
            e.bytes_up = request.len() as u64;
            e.bytes_down = server.response_len as u64;
        })
    );
    assert_eq!(h.stop().len(), 1);
}

#[test]
fn a_request_body_is_forwarded_and_counted() {
    let server = HttpServer::start(b"created\n".to_vec());
    let mut h = Harness::start(
        &Grant::default()
            .allow("web.lab.test")
            .range("127.0.0.1/32")
            .host("web.lab.test", server.addr),
    );
    let payload = "x".repeat(50_000);
    let (head, body, _s) = http(
        h.addr,
        &format!(
            "POST http://web.lab.test:8080/upload HTTP/1.1\r\nHost: web.lab.test:8080\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        ),
    );
    assert_eq!((head.status, body.as_slice()), (200, &b"created\n"[..]));
    let request = server.request();
    assert!(request.starts_with(b"POST /upload HTTP/1.1\r\n"));
    assert!(request.ends_with(payload.as_bytes()));
    let d = h.decision(0);
    assert_eq!((d.port, d.request.as_deref()), (8080, Some("POST /upload")));
    assert_eq!(d.bytes_up, request.len() as u64);
    assert_eq!(d.bytes_down, server.response_len as u64);
    assert_eq!(h.stop().len(), 1);
}

#[test]
fn requests_the_proxy_does_not_forward_are_refused() {
    let trap = Trap::new();
    let mut h = Harness::start(
        &Grant::default()
            .allow("web.lab.test")
            .range("127.0.0.1/32")
            .host("web.lab.test", trap.addr),
    );
    // A Host header naming another host than the URL.
    let (head, _, _) = http(
        h.addr,
        "GET http://web.lab.test/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    );
    assert_eq!(head.status, 403);
    assert_eq!(
        head.header("x-qwarden-denied"),
        Some("http host evil.example differs from the target web.lab.test")
    );
    let d = h.decision(0);
    assert_eq!(
        d,
        expected(&d, |e| {
            e.host = "web.lab.test".into();
            e.port = 80;
            e.via = Via::HttpForward;
            e.rule = "http host evil.example differs from the target web.lab.test".into();
            e.request = Some("GET /".into());
        })
    );

    // https:// is for CONNECT.
    let (head, body, _) = http(
        h.addr,
        "GET https://web.lab.test/ HTTP/1.1\r\nHost: web.lab.test\r\n\r\n",
    );
    assert_eq!(head.status, 400);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("only http:// URLs are forwarded")
    );
    let d = h.decision(1);
    assert_eq!(
        (d.host.as_str(), d.via, d.allowed),
        ("web.lab.test", Via::HttpForward, false)
    );
    assert!(
        d.rule.starts_with("only http:// URLs are forwarded"),
        "{d:?}"
    );

    // Origin form: the proxy serves nothing itself (and records nothing).
    let (head, _, _) = http(
        h.addr,
        "GET /index.html HTTP/1.1\r\nHost: web.lab.test\r\n\r\n",
    );
    assert_eq!(head.status, 400);

    // A host no rule allows, through forwarding.
    let (head, _, _) = http(
        h.addr,
        "GET http://nothing.example/x HTTP/1.1\r\nHost: nothing.example\r\n\r\n",
    );
    assert_eq!(head.status, 403);
    assert_eq!(head.header("x-qwarden-denied"), Some("default deny"));
    let d = h.decision(2);
    assert_eq!(
        (d.host.as_str(), d.request.as_deref()),
        ("nothing.example", Some("GET /x"))
    );

    // Upgrades (websockets) are not forwarded.
    let (head, _, _) = http(
        h.addr,
        "GET http://web.lab.test/ws HTTP/1.1\r\nHost: web.lab.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(head.status, 403);
    assert_eq!(h.decision(3).rule, "protocol upgrades are not forwarded");

    trap.assert_untouched();
    assert_eq!(h.stop().len(), 4);
}

#[test]
fn stopping_closes_open_tunnels_and_records_them() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("api.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    round_trip(&mut s, b"\0hello");
    let decisions = h.stop();
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    let d = &decisions[0];
    assert!(d.allowed);
    assert!(
        d.error
            .as_deref()
            .is_some_and(|e| e.contains("session ended")),
        "{d:?}"
    );
    assert_eq!((d.bytes_up, d.bytes_down), (6, 6));
    // The tunnel is closed on the client's side too.
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap_or(0), 0);
    assert_eq!(echo.ended(), 6);
}

#[test]
fn stopping_does_not_wait_for_clients_that_have_not_finished_asking() {
    let echo = Echo::start();
    let mut h = Harness::start(
        &Grant::default()
            .allow("api.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    // Clients that said nothing, half a SOCKS greeting, a greeting and half a request, half an
    // HTTP request head, and a DNS length prefix without its message. They connect before the
    // client that completes an exchange below, so by then the proxy has accepted them all.
    let mut stalled = vec![
        connect(h.addr),
        connect(h.addr),
        connect(h.addr),
        connect(h.addr),
    ];
    stalled[1].write_all(&[5]).unwrap();
    stalled[2].write_all(&[5, 1, 0, 5, 1]).unwrap();
    stalled[3]
        .write_all(b"GET http://api.lab.test/ HTTP/1.1\r\nHo")
        .unwrap();
    let mut dns = connect(h.dns_tcp);
    dns.write_all(&[0, 40]).unwrap();
    stalled.push(dns);
    let mut s = open_tunnel(h.addr, "api.lab.test:443");
    round_trip(&mut s, b"\0");
    parse_response(&dns_tcp_exchange(
        &mut connect(h.dns_tcp),
        &dns_query(1, "api.lab.test", 1),
    ));

    // The proxy waits up to 5 seconds for connections to record how they ended; none of these
    // has anything to record, so stopping must not take that long (it takes milliseconds).
    let started = std::time::Instant::now();
    let decisions = h.stop();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(5),
        "stopping took {took:?}"
    );
    assert_eq!(decisions.len(), 2, "{decisions:#?}");
    for mut c in stalled {
        finish(&mut c);
    }
}

#[test]
fn a_large_download_arrives_intact() {
    const SIZE: usize = 64 << 20;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let body: Vec<u8> = (0..SIZE / 8)
        .flat_map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    let server = HttpServer::start(body);
    let mut h = Harness::start(
        &Grant::default()
            .allow("big.lab.test")
            .range("127.0.0.1/32")
            .host("big.lab.test", server.addr),
    );
    let mut s = open_tunnel(h.addr, "big.lab.test:80");
    let request = b"GET /big HTTP/1.1\r\nHost: big.lab.test\r\n\r\n";
    s.write_all(request).unwrap();
    let head = read_head(&mut s);
    assert_eq!(head.status, 200);
    let got = read_body(&mut s, &head);
    assert!(got == *server.body, "the body differs");
    assert!(finish(&mut s).is_empty());
    assert_eq!(server.request(), request);
    let d = h.decision(0);
    assert!(d.allowed && d.error.is_none(), "{d:?}");
    assert_eq!(d.bytes_up, request.len() as u64);
    assert_eq!(d.bytes_down, server.response_len as u64);
    assert_eq!(h.stop().len(), 1);
}

#[test]
fn curl_through_the_proxy() {
    let server = HttpServer::start(b"served to curl\n".to_vec());
    let mut h = Harness::start(
        &Grant::default()
            .allow("web.lab.test")
            .range("127.0.0.1/32")
            .host("web.lab.test", server.addr),
    );
    let http_proxy = format!("http://127.0.0.1:{}", h.addr.port());
    let socks_proxy = format!("socks5h://127.0.0.1:{}", h.addr.port());
    let socks_hostname = format!("127.0.0.1:{}", h.addr.port());

    // HTTP_PROXY-style forwarding (curl sends `Proxy-Connection`, which must not go on).
    let out = curl_ok(&["-x", &http_proxy, "http://web.lab.test/forward?x=1"]);
    assert_eq!(out, *server.body);
    let request = String::from_utf8(server.request()).unwrap();
    assert!(
        request.starts_with("GET /forward?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        !request.to_ascii_lowercase().contains("proxy-connection"),
        "{request}"
    );
    let d = h.decision(0);
    assert_eq!((d.via, d.allowed, d.port), (Via::HttpForward, true, 80));
    assert_eq!(d.request.as_deref(), Some("GET /forward"));
    assert_eq!(d.bytes_up, request.len() as u64);
    assert_eq!(d.bytes_down, server.response_len as u64);

    // A CONNECT tunnel (`--proxytunnel`), plain HTTP inside.
    let out = curl_ok(&["-p", "-x", &http_proxy, "http://web.lab.test/tunnel"]);
    assert_eq!(out, *server.body);
    let request = server.request();
    let d = h.decision(1);
    assert_eq!(
        (d.via, d.allowed, d.host.as_str()),
        (Via::HttpConnect, true, "web.lab.test")
    );
    assert_eq!(d.bytes_up, request.len() as u64);
    assert_eq!(d.bytes_down, server.response_len as u64);

    // SOCKS5 with the proxy resolving, both ways of asking curl for it.
    for (i, args) in [
        ["--socks5-hostname", socks_hostname.as_str()],
        ["--proxy", socks_proxy.as_str()],
    ]
    .iter()
    .enumerate()
    {
        let mut all = args.to_vec();
        all.push("http://web.lab.test/socks");
        assert_eq!(curl_ok(&all), *server.body);
        let request = server.request();
        let d = h.decision(2 + i);
        assert_eq!(
            (d.via, d.allowed, d.host.as_str(), d.port),
            (Via::Socks5, true, "web.lab.test", 80)
        );
        assert_eq!(d.address, Some(LOOPBACK));
        assert_eq!(d.bytes_up, request.len() as u64);
        assert_eq!(d.bytes_down, server.response_len as u64);
    }

    // Refusals, as curl sees them.
    let out = curl(&[
        "-x",
        &http_proxy,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://nothing.example/",
    ]);
    assert_eq!(out.stdout, b"403");
    assert_eq!(h.decision(4).rule, "default deny");
    let out = curl(&["-p", "-x", &http_proxy, "http://nothing.example/"]);
    assert!(!out.status.success());
    assert_eq!(h.decision(5).via, Via::HttpConnect);
    let out = curl(&["--proxy", &socks_proxy, "http://nothing.example/"]);
    assert!(!out.status.success());
    let d = h.decision(6);
    assert_eq!(
        (d.via, d.allowed, d.rule.as_str()),
        (Via::Socks5, false, "default deny")
    );
    assert_eq!(h.stop().len(), 7);
}
