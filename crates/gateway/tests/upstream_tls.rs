//! Upstream base URLs through the public API: the real providers' https URLs parse with
//! port 443, and a lab's CA can be trusted in addition to Mozilla's roots. The handshake
//! itself (trusted, not trusted, another name, plain http behind https) is tested against a
//! real TLS server next to the connector, in `src/upstream/tls.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use qwarden_gateway::upstream::Base;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

fn lab_ca_pem() -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "qwarden test lab CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .pem()
}

#[test]
fn the_real_providers_https_urls_parse_with_port_443() {
    let ionq = Base::parse("https://api.ionq.co/v0.4").unwrap();
    assert_eq!(ionq.authority(), "api.ionq.co:443");
    assert_eq!(ionq.prefix(), "/v0.4");
    assert!(ionq.is_https());

    let ibm = Base::parse("https://quantum.cloud.ibm.com/api/v1/").unwrap();
    assert_eq!(
        (ibm.authority(), ibm.prefix()),
        ("quantum.cloud.ibm.com:443", "/api/v1")
    );
    let iam = Base::parse("https://iam.cloud.ibm.com").unwrap();
    assert_eq!(
        (iam.authority(), iam.prefix()),
        ("iam.cloud.ibm.com:443", "")
    );

    let lab = Base::parse("https://10.0.0.5:8443/api").unwrap();
    assert_eq!((lab.authority(), lab.prefix()), ("10.0.0.5:8443", "/api"));

    let double = Base::parse("http://127.0.0.1:9000/v0.4").unwrap();
    assert!(!double.is_https());
}

#[test]
fn https_urls_still_refuse_credentials_queries_and_other_schemes() {
    for url in [
        "https://user:pass@api.ionq.co/v0.4",
        "https://apikey@api.ionq.co/v0.4",
        "https://api.ionq.co/v0.4?key=abc",
        "wss://api.ionq.co/v0.4",
        "ftp://api.ionq.co/v0.4",
        "api.ionq.co/v0.4",
    ] {
        let e = Base::parse(url).unwrap_err();
        assert!(e.contains(url), "{url}: {e}");
    }
}

#[test]
fn a_lab_ca_is_trusted_in_addition_and_bad_ones_are_refused() {
    let base = Base::parse("https://qpu.lab.internal/api").unwrap();
    let ca = lab_ca_pem();
    let trusting = base.clone().with_extra_root(ca.as_bytes()).unwrap();
    assert_ne!(trusting, base, "the extra CA is part of the base");
    assert_eq!(trusting.authority(), "qpu.lab.internal:443");
    assert_eq!(trusting.prefix(), "/api");
    // A bundle of two CAs, and two calls, both work.
    let bundle = format!("{ca}{}", lab_ca_pem());
    base.clone().with_extra_root(bundle.as_bytes()).unwrap();
    trusting.with_extra_root(lab_ca_pem().as_bytes()).unwrap();

    let e = base.clone().with_extra_root(b"").unwrap_err();
    assert!(e.contains("BEGIN CERTIFICATE"), "{e}");
    let key_only = KeyPair::generate().unwrap().serialize_pem();
    let e = base
        .clone()
        .with_extra_root(key_only.as_bytes())
        .unwrap_err();
    assert!(e.contains("BEGIN CERTIFICATE"), "{e}");
    let junk = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let e = base.with_extra_root(junk.as_bytes()).unwrap_err();
    assert!(e.contains("cannot be trusted as a CA"), "{e}");

    let e = Base::parse("http://127.0.0.1:9000")
        .unwrap()
        .with_extra_root(ca.as_bytes())
        .unwrap_err();
    assert!(e.contains("plain http"), "{e}");
}
