//! Replays the committed fuzz corpus of the egress proxy's targets (`fuzz/corpus/<target>/`) through the fuzz targets' checks (`fuzz/egress_checks.rs`) on stable Rust, and checks that each seed is accepted or refused as its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_egress::sniff::{self, Sniffed};
use qwarden_egress::{Target, dns, socks};

#[path = "../../../fuzz/egress_checks.rs"]
mod checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::{corpus, expectation, fuzz_dir};

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The egress proxy's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[
    ("dns_query", checks::dns_query),
    ("socks5", checks::socks5),
    ("tunnel_sniff", checks::tunnel_sniff),
    ("connect_target", checks::connect_target),
];

#[test]
fn every_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-egress = { path = \"../crates/egress\" }"));
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains("#[path = \"../egress_checks.rs\"]"),
            "{name}"
        );
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        let seeds = corpus(name);
        assert!(seeds.len() < 50, "{name}: keep the corpus small");
        for ok in [true, false] {
            assert!(
                seeds.iter().any(|(n, _)| expectation(n) == Some(ok)),
                "{name}: no {} seed",
                if ok { "ok-" } else { "bad-" }
            );
        }
    }
}

#[test]
fn the_corpus_passes_the_fuzz_checks() {
    for (target, check) in TARGETS {
        for (name, bytes) in corpus(target) {
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` fails on corpus file `{name}`"
            );
        }
    }
}

#[test]
fn dns_query_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("dns_query") {
        let result = dns::parse_query(&bytes);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
    let seed = |name: &str| {
        let (_, bytes) = corpus("dns_query")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap();
        bytes
    };
    let q = dns::parse_query(&seed("ok-mixed-case")).unwrap();
    assert_eq!((q.name.as_str(), q.qtype, q.qclass), ("api.lab.test", 1, 1));
    let q = dns::parse_query(&seed("ok-glibc-aaaa")).unwrap();
    assert_eq!((q.name.as_str(), q.qtype), ("pypi.org", 28));
    let e = dns::parse_query(&seed("bad-opcode-notify")).unwrap_err();
    assert_eq!(e.rcode, dns::Rcode::NotImp);
    // Data smuggled in a name is refused before any rule sees it.
    let e = dns::parse_query(&seed("bad-tunnelled-data")).unwrap_err();
    assert_eq!(e.reason, "the question name is not a host name");
}

#[test]
fn socks5_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("socks5") {
        let Some(ok) = expectation(&name) else {
            continue;
        };
        let outcome = match socks::parse_greeting(&bytes) {
            Ok(Some(n)) => socks::parse_request(&bytes[n..]).map(|r| r.map(|(t, _)| t)),
            other => other.map(|_| None),
        };
        if ok {
            assert!(matches!(outcome, Ok(Some(_))), "{name}: {outcome:?}");
        } else {
            assert!(outcome.is_err(), "{name}: {outcome:?}");
        }
    }
    let target = |name: &str| {
        let (_, bytes) = corpus("socks5")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap();
        let n = socks::parse_greeting(&bytes).unwrap().unwrap();
        socks::parse_request(&bytes[n..]).unwrap().unwrap().0
    };
    assert_eq!(
        target("ok-curl-socks5h-domain").to_string(),
        "api.lab.test:8080"
    );
    assert_eq!(target("ok-curl-socks5-ipv6").to_string(), "[::1]:8080");
    assert_eq!(
        target("ok-uppercase-domain-trailing-dot").to_string(),
        "api.lab.test:8443"
    );
}

#[test]
fn tunnel_sniff_seeds_pass_or_are_refused_as_named() {
    for (name, bytes) in corpus("tunnel_sniff") {
        let verdict = sniff::sniff(&bytes);
        if let Some(ok) = expectation(&name) {
            let passes = matches!(
                verdict,
                Sniffed::Tls(_) | Sniffed::Http(_) | Sniffed::Opaque
            );
            assert_eq!(passes, ok, "{name}: {verdict:?}");
        }
    }
    let name = |s: &str| Some(s.to_owned());
    for (seed, verdict) in [
        (
            "ok-tls-curl-api.lab.test",
            Sniffed::Tls(name("api.lab.test")),
        ),
        ("ok-tls-openssl-x.test", Sniffed::Tls(name("x.test"))),
        (
            "ok-tls12-openssl-legacy.example",
            Sniffed::Tls(name("legacy.example")),
        ),
        (
            "ok-tls-split-records-api.lab.test",
            Sniffed::Tls(name("api.lab.test")),
        ),
        ("ok-tls-no-sni", Sniffed::Tls(None)),
        ("ok-http-curl-get", Sniffed::Http(name("api.lab.test"))),
        ("ok-http-python-urllib", Sniffed::Http(name("127.0.0.1"))),
        (
            "ok-http-leading-empty-line",
            Sniffed::Http(name("api.lab.test")),
        ),
        (
            "ok-http-lower-case-method",
            Sniffed::Http(name("api.lab.test")),
        ),
        ("ok-http-ipv6-host", Sniffed::Http(name("::1"))),
        ("ok-http10-no-host", Sniffed::Http(None)),
        ("ok-opaque-ssh-banner", Sniffed::Opaque),
        ("ok-opaque-smtp-ehlo", Sniffed::Opaque),
        ("bad-tls-ech", Sniffed::TlsEch(name("public.example"))),
        (
            "bad-http-many-headers",
            Sniffed::Malformed("unreadable HTTP request head"),
        ),
    ] {
        let (_, bytes) = corpus("tunnel_sniff")
            .into_iter()
            .find(|(n, _)| n == seed)
            .unwrap_or_else(|| panic!("no seed {seed}"));
        assert_eq!(sniff::sniff(&bytes), verdict, "{seed}");
    }
}

#[test]
fn connect_target_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("connect_target") {
        let text = String::from_utf8(bytes).unwrap();
        let result = Target::parse_authority(&text, Some(443));
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
    let parsed = |name: &str| {
        let (_, bytes) = corpus("connect_target")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap();
        Target::parse_authority(std::str::from_utf8(&bytes).unwrap(), None)
    };
    assert_eq!(
        parsed("ok-uppercase-trailing-dot").unwrap().to_string(),
        "api.quantum.ibm.com:8443"
    );
    // An IPv6 address without brackets is ambiguous (is the last group the port?): refused.
    assert!(
        parsed("bad-unbracketed-ipv6")
            .unwrap_err()
            .reason
            .contains("brackets")
    );
    assert!(parsed("ok-no-port-default").is_err());
}
