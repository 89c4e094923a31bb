//! TLS to the provider APIs: rustls with the `ring` provider over the upstream TCP stream.
//!
//! The server is checked against Mozilla's root store (`webpki-roots`) plus any CA an operator
//! adds ([`super::Base::with_extra_root`], e.g. an air-gapped lab's own CA); the name checked
//! is the base URL's host (a DNS name, or an IP address). Only `http/1.1` is offered by ALPN,
//! since the client speaks HTTP/1.1. The client configuration is built once per base URL and
//! shared by its requests.
//!
//! Errors say which check failed (not trusted, another name, expired, handshake) and how to fix
//! it; they carry no header value, since none has been sent when the handshake runs.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The TLS client side of one https base URL: the roots it trusts, and the rustls
/// configuration built from them.
#[derive(Clone)]
pub(crate) struct Client {
    /// The CAs trusted besides Mozilla's roots, as added (DER).
    extra_roots: Vec<CertificateDer<'static>>,
    config: Arc<ClientConfig>,
}

impl Client {
    /// A client that trusts Mozilla's roots only.
    pub(crate) fn new() -> Result<Client, String> {
        Client::with_roots(Vec::new())
    }

    /// The same client trusting, in addition, every certificate in `pem` (one or more
    /// `CERTIFICATE` blocks).
    pub(crate) fn with_extra_root(&self, pem: &[u8]) -> Result<Client, String> {
        let mut added = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            added.push(cert.map_err(|e| format!("the CA file is not readable PEM: {e}"))?);
        }
        if added.is_empty() {
            return Err(
                "the CA file has no `-----BEGIN CERTIFICATE-----` block: give the lab CA's certificate in PEM".to_owned(),
            );
        }
        let mut roots = self.extra_roots.clone();
        roots.extend(added);
        Client::with_roots(roots)
    }

    fn with_roots(extra_roots: Vec<CertificateDer<'static>>) -> Result<Client, String> {
        let mut store = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (n, cert) in extra_roots.iter().enumerate() {
            store.add(cert.clone()).map_err(|e| {
                format!(
                    "certificate {} of the CA file cannot be trusted as a CA: {e}",
                    n + 1
                )
            })?;
        }
        // The provider is named rather than taken from the process default, so that nothing
        // else linked in (another provider, no provider installed) changes or breaks it.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            extra_roots,
            config: Arc::new(config),
        })
    }

    /// The TLS handshake over `tcp` with `host` (the base URL's host, IPv6 literals with or
    /// without brackets); `authority` (`host:port`) is for messages.
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
        authority: &str,
    ) -> Result<TlsStream<TcpStream>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare)
            .map_err(|_| format!("`{host}` is neither a DNS name nor an IP address TLS can check"))?
            .to_owned();
        TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| describe(&e, host, authority))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("extra_roots", &self.extra_roots.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Client {
    /// Two clients are the same when they trust the same extra CAs (the rest of the
    /// configuration is fixed).
    fn eq(&self, other: &Client) -> bool {
        self.extra_roots == other.extra_roots
    }
}

impl Eq for Client {}

/// What a failed handshake means, and what to do about it.
fn describe(err: &std::io::Error, host: &str, authority: &str) -> String {
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the certificate of {authority} is not trusted: no CA the gateway trusts issued it \
                 ({cert}); if `{host}` is a lab server with its own CA, add that CA's certificate \
                 (PEM) to the upstream's trusted roots"
            ),
            CertificateError::NotValidForName => format!(
                "the certificate of {authority} is for another name, not `{host}`: use the host \
                 name the certificate was made for in the base URL, or reissue it for `{host}`"
            ),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "the certificate of {authority} is for another name ({}), not `{host}`: use the \
                 host name the certificate was made for in the base URL, or reissue it for `{host}`",
                presented.join(", ")
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => format!(
                "the certificate of {authority} is not valid now ({cert}): check the server's \
                 certificate and this machine's clock"
            ),
            other => format!("the certificate of {authority} was refused: {other}"),
        },
        Some(other) => format!(
            "the TLS handshake with {authority} failed: {other}; check that it serves https \
             (not plain http) on that port, with TLS 1.2 or 1.3"
        ),
        None => format!(
            "the TLS handshake with {authority} failed: {err}; check that it serves https \
             (not plain http) on that port"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::io::Write;
    use std::net::SocketAddr;

    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper::{Method, Response};
    use hyper_util::rt::TokioIo;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use rustls::ServerConfig;
    use rustls::pki_types::PrivateKeyDer;
    use tokio::sync::mpsc;
    use tokio_rustls::TlsAcceptor;

    use super::super::{Answer, Base, send};
    use super::*;

    /// A test CA and a server certificate it issued for `names`.
    struct Lab {
        ca_pem: String,
        server: Arc<ServerConfig>,
    }

    fn lab(names: &[&str]) -> Lab {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "qwarden test lab CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Lab {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }

    /// What the test server saw of one request.
    #[derive(Debug)]
    struct Seen {
        sni: Option<String>,
        alpn: Option<Vec<u8>>,
        method: Method,
        target: String,
        headers: Vec<(String, String)>,
        body: Bytes,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// An https server on 127.0.0.1 answering every request `200 {"ok":true}` and reporting
    /// what it saw; connections whose handshake fails are dropped.
    async fn serve(config: Arc<ServerConfig>) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let (_, conn) = tls.get_ref();
                    let sni = conn.server_name().map(str::to_owned);
                    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (tx, sni, alpn) = (tx.clone(), sni.clone(), alpn.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let headers = parts
                                .headers
                                .iter()
                                .map(|(n, v)| {
                                    (n.as_str().to_owned(), v.to_str().unwrap().to_owned())
                                })
                                .collect();
                            let _ = tx.send(Seen {
                                sni,
                                alpn,
                                method: parts.method,
                                target: parts.uri.to_string(),
                                headers,
                                body,
                            });
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                                b"{\"ok\":true}",
                            ))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        (addr, rx)
    }

    const KEY: &str = "apiKey k-7f3a-secret";

    async fn post(base: &Base) -> Result<Answer, String> {
        send(
            base,
            Method::POST,
            "/jobs?limit=1",
            &[("authorization", KEY), ("content-type", "application/json")],
            Some(b"{\"shots\":100}".to_vec()),
        )
        .await
    }

    #[tokio::test]
    async fn https_with_the_lab_ca_trusted_reaches_the_server_with_the_exact_request() {
        let lab = lab(&["127.0.0.1"]);
        let (addr, mut seen) = serve(lab.server.clone()).await;
        let base = Base::parse(&format!("https://127.0.0.1:{}/v0.4", addr.port()))
            .unwrap()
            .with_extra_root(lab.ca_pem.as_bytes())
            .unwrap();
        let answer = post(&base).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], b"{\"ok\":true}");
        let seen = seen.recv().await.unwrap();
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.target, "/v0.4/jobs?limit=1");
        assert_eq!(seen.header("authorization"), Some(KEY));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(
            seen.header("host"),
            Some(format!("127.0.0.1:{}", addr.port()).as_str())
        );
        assert_eq!(&seen.body[..], b"{\"shots\":100}");
        assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
        // An IP address is checked as one, and is not sent as SNI.
        assert_eq!(seen.sni, None);
    }

    #[tokio::test]
    async fn a_dns_host_is_sent_as_sni_and_checked_against_the_certificate() {
        let lab = lab(&["localhost"]);
        let (addr, mut seen) = serve(lab.server.clone()).await;
        let base = Base::parse(&format!("https://localhost:{}", addr.port()))
            .unwrap()
            .with_extra_root(lab.ca_pem.as_bytes())
            .unwrap();
        let answer = send(&base, Method::GET, "/backends", &[], None)
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let seen = seen.recv().await.unwrap();
        assert_eq!(seen.sni.as_deref(), Some("localhost"));
        assert_eq!(seen.target, "/backends");
    }

    #[tokio::test]
    async fn a_server_whose_ca_is_not_trusted_is_refused_before_any_header_is_sent() {
        let lab = lab(&["127.0.0.1"]);
        let (addr, mut seen) = serve(lab.server.clone()).await;
        let base = Base::parse(&format!("https://127.0.0.1:{}/v0.4", addr.port())).unwrap();
        let e = post(&base).await.unwrap_err();
        assert!(e.contains("not trusted"), "{e}");
        assert!(e.contains("CA"), "{e}");
        assert!(!e.contains("k-7f3a"), "{e}");

        // Another CA's certificate does not make it trusted either.
        let other = self::lab(&["127.0.0.1"]);
        let base = base.with_extra_root(other.ca_pem.as_bytes()).unwrap();
        let e = post(&base).await.unwrap_err();
        assert!(e.contains("not trusted"), "{e}");

        // The server never got a request.
        assert!(seen.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_is_refused() {
        let lab = lab(&["qpu.lab.invalid"]);
        let (addr, mut seen) = serve(lab.server.clone()).await;
        let base = Base::parse(&format!("https://127.0.0.1:{}/v0.4", addr.port()))
            .unwrap()
            .with_extra_root(lab.ca_pem.as_bytes())
            .unwrap();
        let e = post(&base).await.unwrap_err();
        assert!(e.contains("another name"), "{e}");
        assert!(e.contains("qpu.lab.invalid"), "{e}");
        assert!(!e.contains("k-7f3a"), "{e}");
        assert!(seen.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_plain_http_server_behind_an_https_url_is_a_handshake_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        });
        let base = Base::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        let e = post(&base).await.unwrap_err();
        assert!(e.contains("TLS handshake"), "{e}");
        assert!(e.contains("plain http"), "{e}");
        assert!(!e.contains("k-7f3a"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn extra_roots_accumulate_and_bad_ones_are_refused() {
        let (a, b) = (lab(&["a.invalid"]), lab(&["b.invalid"]));
        let one = Client::new().unwrap();
        let two = one
            .with_extra_root(a.ca_pem.as_bytes())
            .unwrap()
            .with_extra_root(b.ca_pem.as_bytes())
            .unwrap();
        assert_eq!(two.extra_roots.len(), 2);
        let bundle = format!("{}{}", a.ca_pem, b.ca_pem);
        assert_eq!(one.with_extra_root(bundle.as_bytes()).unwrap(), two);

        let e = one.with_extra_root(b"not a certificate").unwrap_err();
        assert!(e.contains("BEGIN CERTIFICATE"), "{e}");
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = one.with_extra_root(junk).unwrap_err();
        assert!(e.contains("cannot be trusted as a CA"), "{e}");
    }
}
