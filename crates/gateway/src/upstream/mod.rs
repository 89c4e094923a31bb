//! Upstream adapters: the gateway's calls to the real provider APIs, with the real key.
//!
//! The HTTP client here is hyper's HTTP/1.1 client over a plain TCP connection, one connection
//! per request. It speaks plain `http://` only: the provider doubles are plain HTTP, and the
//! real providers (`https://api.ionq.co`) need a TLS stack this build does not carry yet, so an
//! `https://` base URL is refused when the adapter is built ([`Base::parse`]).

pub mod ionq;

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// The largest upstream answer read.
pub const MAX_UPSTREAM_BODY: usize = 16 << 20;

/// How long one upstream exchange may take, connection included.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A provider API's base URL, split for requests: `http://host:port/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    authority: String,
    prefix: String,
}

impl Base {
    /// Parses `http://host[:port][/prefix]` (a trailing `/` is dropped).
    ///
    /// `https://` is refused: TLS to the real providers is not built yet (the doubles are plain
    /// HTTP). Adding it means a TLS connector (e.g. rustls) around the TCP stream in [`send`].
    pub fn parse(url: &str) -> Result<Base, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{url}`: https upstreams need TLS, which this build of the gateway does not have yet; only plain http:// (e.g. a test double) is supported"
                ));
            }
            _ => return Err(format!("`{url}` is not an http:// URL")),
        }
        if uri.query().is_some() {
            return Err(format!("`{url}`: a base URL has no query"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{url}`: a base URL carries no credentials"));
        }
        let authority = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Base {
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path prefix, without a trailing `/` (`/v0.4`).
    pub fn prefix(&self) -> &str {
        &self.prefix
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

/// One request to `base` + `path_and_query` (which starts with `/`). Errors say what failed
/// without any header value, so they are safe to relay.
pub(crate) async fn send(
    base: &Base,
    method: Method,
    path_and_query: &str,
    headers: &[(&'static str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Answer, String> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(base.authority())
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", base.authority()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", base.authority()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", base.prefix()))
            .header(hyper::header::HOST, base.authority())
            .header(hyper::header::USER_AGENT, "qwarden-gateway")
            .header(hyper::header::ACCEPT, "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            // The error names no header value (it would be the key): only that it failed.
            .map_err(|_| "cannot build the upstream request".to_owned())?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls_parse_and_https_is_refused_for_now() {
        let b = Base::parse("http://127.0.0.1:8080/v0.4/").unwrap();
        assert_eq!((b.authority(), b.prefix()), ("127.0.0.1:8080", "/v0.4"));
        assert_eq!(Base::parse("http://h/v0.4").unwrap().authority(), "h:80");
        let e = Base::parse("https://api.ionq.co/v0.4").unwrap_err();
        assert!(e.contains("TLS"), "{e}");
        assert!(Base::parse("ftp://x").is_err());
        assert!(Base::parse("http://u:p@h/v0.4").is_err());
        assert!(Base::parse("http://h/v0.4?x=1").is_err());
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
