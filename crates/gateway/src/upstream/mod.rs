//! Upstream adapters: the gateway's calls to the real provider APIs, with the real key.
//!
//! The HTTP client here is hyper's HTTP/1.1 client, one connection per request, over TCP for
//! `http://` base URLs (the provider doubles) and over TLS for `https://` ones (the real
//! providers: `https://api.ionq.co/v0.4`, `https://quantum.cloud.ibm.com/api/v1`). TLS is
//! rustls with the `ring` provider, checking the server against Mozilla's roots plus any CA
//! added with [`Base::with_extra_root`] (an air-gapped lab's own CA).

pub mod ibm;
pub mod ionq;
mod tls;

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// The largest upstream answer read.
pub const MAX_UPSTREAM_BODY: usize = 16 << 20;

/// How long one upstream exchange may take, connection and TLS handshake included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A provider API's base URL, split for requests: `http[s]://host:port/prefix`, and for
/// `https://` the TLS configuration its requests share (built once, here).
///
/// Two bases are equal when they name the same URL and trust the same extra CAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    authority: String,
    host: String,
    host_header: String,
    prefix: String,
    tls: Option<tls::Client>,
}

impl Base {
    /// Parses `http://host[:port][/prefix]` (default port 80) or `https://host[:port][/prefix]`
    /// (default port 443); a trailing `/` is dropped.
    ///
    /// An `https://` base trusts Mozilla's root store (`webpki-roots`); add a lab's own CA with
    /// [`Base::with_extra_root`]. Refused: other schemes, credentials in the URL (keys travel
    /// in headers, from the vault), and a query.
    pub fn parse(url: &str) -> Result<Base, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let (default_port, tls) = match uri.scheme_str() {
            Some("http") => (80, None),
            Some("https") => (443, Some(tls::Client::new()?)),
            _ => {
                return Err(format!(
                    "`{url}` is not an http:// or https:// URL: give the provider API's base URL, e.g. `https://api.ionq.co/v0.4`"
                ));
            }
        };
        if uri.query().is_some() {
            return Err(format!("`{url}`: a base URL has no query"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{url}`: a base URL carries no credentials"));
        }
        let host = authority.host().to_owned();
        let port = authority.port_u16().unwrap_or(default_port);
        // `Host` leaves out the scheme's default port, as browsers and curl do.
        let host_header = if port == default_port {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(Base {
            authority: format!("{host}:{port}"),
            host,
            host_header,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            tls,
        })
    }

    /// The same `https://` base trusting, besides Mozilla's roots, every CA certificate in
    /// `pem` (one or more `-----BEGIN CERTIFICATE-----` blocks): an air-gapped lab's internal
    /// CA, or a test's. Calls add up. Refused for an `http://` base (nothing to trust there),
    /// for PEM without a certificate, and for a certificate that cannot be a trust anchor.
    pub fn with_extra_root(self, pem: &[u8]) -> Result<Base, String> {
        let Some(client) = &self.tls else {
            return Err(format!(
                "`http://{}` is plain http: a trusted CA only applies to an https:// base URL",
                self.authority
            ));
        };
        let tls = Some(client.with_extra_root(pem)?);
        Ok(Base { tls, ..self })
    }

    /// `host:port` (the port always given: `api.ionq.co:443`).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path prefix, without a trailing `/` (`/v0.4`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether requests go over TLS (an `https://` base).
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }
}

/// An upstream answer: status and body bytes (as received: callers scrub before relaying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// One request to `base` + `path_and_query` (which starts with `/`), over TLS for an https
/// base. Errors say what failed without any header value, so they are safe to relay.
pub(crate) async fn send(
    base: &Base,
    method: Method,
    path_and_query: &str,
    headers: &[(&'static str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Answer, String> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(base.authority())
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", base.authority()))?;
        let request = request(base, method, path_and_query, headers, body)?;
        match &base.tls {
            Some(tls) => {
                let stream = tls.connect(tcp, &base.host, base.authority()).await?;
                exchange(base, stream, request).await
            }
            None => exchange(base, tcp, request).await,
        }
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            format!(
                "{} did not answer within {}s",
                base.authority(),
                UPSTREAM_TIMEOUT.as_secs()
            )
        })?
}

fn request(
    base: &Base,
    method: Method,
    path_and_query: &str,
    headers: &[(&'static str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path_and_query}", base.prefix()))
        .header(hyper::header::HOST, base.host_header.as_str())
        .header(hyper::header::USER_AGENT, "qwarden-gateway")
        .header(hyper::header::ACCEPT, "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        // The error names no header value (it would be the key): only that it failed.
        .map_err(|_| "cannot build the upstream request".to_owned())
}

/// `request` over `stream` (TCP, or TLS over TCP) with HTTP/1.1; the answer body is read whole.
async fn exchange<S>(
    base: &Base,
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {} failed: {e}", base.authority()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request to {} failed: {e}", base.authority()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_UPSTREAM_BODY)
        .collect()
        .await
        .map_err(|_| {
            format!(
                "the answer from {} was unreadable or over {MAX_UPSTREAM_BODY} bytes",
                base.authority()
            )
        })?
        .to_bytes();
    Ok(Answer { status, body })
}

/// The real key of `provider` from `keys`, read on a blocking thread (the vault may decrypt).
pub(crate) async fn key_for(
    keys: std::sync::Arc<dyn ionq::KeySource>,
    provider: &str,
) -> Result<qwarden_vault::Secret, ionq::UpstreamError> {
    let name = provider.to_owned();
    let found = tokio::task::spawn_blocking(move || keys.key(&name))
        .await
        .map_err(|_| "the key lookup failed".to_owned())
        .and_then(|r| r);
    found.map_err(|why| ionq::UpstreamError {
        status: 500,
        message: format!("the gateway has no usable key for provider {provider}: {why}"),
    })
}

/// An upstream error answer as the agent gets it: the provider's message (`message` picks it out
/// of the parsed body; the body is already scrubbed) with its status, except that the provider
/// refusing the workstation's credentials (`401`) is the gateway's problem (502), not the agent's.
pub(crate) fn relayed(
    answer: &Answer,
    doing: &str,
    provider: &str,
    message: impl Fn(&serde_json::Value) -> Option<&str>,
) -> ionq::UpstreamError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    let text = parsed
        .as_ref()
        .and_then(&message)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect()
        });
    if answer.status == 401 {
        return ionq::UpstreamError {
            status: 502,
            message: format!(
                "{provider} refused the workstation's credentials while {doing}: {text} (the key may need `qwarden secrets rotate`)"
            ),
        };
    }
    let status = if (400..600).contains(&answer.status) {
        answer.status
    } else {
        502
    };
    ionq::UpstreamError {
        status,
        message: format!("{provider} refused {doing}: {text}"),
    }
}

/// `bytes` with every occurrence of `secret` replaced by `<redacted>` (nothing to do for an
/// empty secret).
pub fn scrub(bytes: &[u8], secret: &str) -> Vec<u8> {
    let needle = secret.as_bytes();
    if needle.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(b"<redacted>");
            rest = rest.get(needle.len()..).unwrap_or_default();
        } else if let Some((first, tail)) = rest.split_first() {
            out.push(*first);
            rest = tail;
        }
    }
    out
}

/// The jobs one upstream submitted in this session, and those whose results were reported:
/// the agent may read only its own jobs, and each job's bundle is made once.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    submitted: std::sync::Mutex<std::collections::HashSet<String>>,
    completed: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl JobBook {
    /// Records job `id` as this session's.
    pub(crate) fn remember(&self, id: &str) {
        if let Ok(mut jobs) = self.submitted.lock() {
            jobs.insert(id.to_owned());
        }
    }

    /// Whether this session submitted job `id`.
    pub(crate) fn owns(&self, id: &str) -> bool {
        self.submitted
            .lock()
            .map(|j| j.contains(id))
            .unwrap_or(false)
    }

    /// Whether the results of job `id` are seen for the first time.
    pub(crate) fn first_completion(&self, id: &str) -> bool {
        self.completed
            .lock()
            .map(|mut c| c.insert(id.to_owned()))
            .unwrap_or(false)
    }
}

/// Stores `bytes` in `store` off the async runtime; the digest, or `None` if the blocking task
/// failed.
pub(crate) async fn store_blocking(
    store: &std::sync::Arc<dyn ionq::CalibrationStore>,
    bytes: Vec<u8>,
) -> Option<String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.put(&bytes))
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls_parse_with_default_ports_and_refuse_credentials_queries_and_other_schemes() {
        let b = Base::parse("http://127.0.0.1:8080/v0.4/").unwrap();
        assert_eq!((b.authority(), b.prefix()), ("127.0.0.1:8080", "/v0.4"));
        assert!(!b.is_https());
        assert_eq!(b.host_header, "127.0.0.1:8080");
        let h = Base::parse("http://h/v0.4").unwrap();
        assert_eq!((h.authority(), h.host_header.as_str()), ("h:80", "h"));
        let b = Base::parse("https://api.ionq.co/v0.4").unwrap();
        assert_eq!((b.authority(), b.prefix()), ("api.ionq.co:443", "/v0.4"));
        assert_eq!(
            (b.host.as_str(), b.host_header.as_str()),
            ("api.ionq.co", "api.ionq.co")
        );
        assert!(b.is_https());
        assert_eq!(b, Base::parse("https://api.ionq.co/v0.4/").unwrap());
        assert_ne!(b, Base::parse("http://api.ionq.co:443/v0.4").unwrap());
        let b = Base::parse("https://[::1]:8443").unwrap();
        assert_eq!((b.authority(), b.prefix()), ("[::1]:8443", ""));
        assert!(Base::parse("ftp://x").is_err());
        assert!(Base::parse("http://u:p@h/v0.4").is_err());
        assert!(Base::parse("https://u:p@h/v0.4").is_err());
        assert!(Base::parse("http://h/v0.4?x=1").is_err());
        assert!(Base::parse("https://h/v0.4?x=1").is_err());
        let e = Base::parse("http://h")
            .unwrap()
            .with_extra_root(b"")
            .unwrap_err();
        assert!(e.contains("plain http"), "{e}");
    }

    #[test]
    fn scrub_removes_every_copy() {
        assert_eq!(
            scrub(b"akeyBkeykey", "key"),
            b"a<redacted>B<redacted><redacted>"
        );
        assert_eq!(scrub(b"abc", ""), b"abc");
        assert_eq!(scrub(b"ke", "key"), b"ke");
    }
}
