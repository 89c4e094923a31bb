//! The HTTP side of the proxy: `CONNECT host:port` tunnels and absolute-form requests
//! (`GET http://host/path`), forwarded one upstream connection per request.
//!
//! Refusals are `403 Forbidden` with `X-Qwarden-Denied: <rule>` and an RFC 9209 `Proxy-Status`
//! header; an allowed destination that cannot be reached is `502` (or `504` on a timeout) with
//! `Proxy-Status` saying why. A request's `Host` must name the host the request goes to.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::counting::Counting;
use crate::record::{Decision, Via};
use crate::server::{Ctx, Refusal, finish};
use crate::sniff::strip_port;
use crate::target::{Host, Target};
use crate::tunnel;

type Body = BoxBody<Bytes, hyper::Error>;

/// Serves one HTTP client connection until it closes or the session ends.
pub(crate) async fn serve(stream: TcpStream, ctx: Arc<Ctx>) {
    let _ = stream.set_nodelay(true);
    let mut shutdown = ctx.shutdown.clone();
    let service = {
        let ctx = ctx.clone();
        hyper::service::service_fn(move |req| {
            let ctx = ctx.clone();
            async move { Ok::<_, Infallible>(handle(req, ctx).await) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    // At the session's end the connection is dropped with whatever it was doing; a request
    // still deciding records itself as it goes (see `Ctx::open_recorded`).
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

async fn handle(req: Request<Incoming>, ctx: Arc<Ctx>) -> Response<Body> {
    if req.method() == Method::CONNECT {
        connect(req, ctx).await
    } else if req.uri().authority().is_some() {
        forward(req, ctx).await
    } else {
        text(
            StatusCode::BAD_REQUEST,
            "qwarden's egress proxy forwards requests sent through it as a proxy (HTTP_PROXY); it serves nothing itself\n",
        )
    }
}

/// `CONNECT host:port`: decide, connect, answer 200, then relay.
async fn connect(req: Request<Incoming>, ctx: Arc<Ctx>) -> Response<Body> {
    let started = Instant::now();
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let target = match Target::parse_authority(&authority, None) {
        Ok(t) => t,
        Err(e) => return malformed(&ctx, &authority, Via::HttpConnect, &e.to_string()),
    };
    let mut d = Decision::new(target.host.to_string(), target.port, Via::HttpConnect);
    if let Some(refused) = host_header_mismatch(req.headers(), &target.host) {
        d.rule = refused;
        ctx.record(d.clone());
        return denied(&d.rule, "http_request_denied");
    }
    let opened = match ctx.open_recorded(&target, &mut d).await {
        Ok(o) => o,
        Err(r) => {
            d.duration = started.elapsed();
            ctx.record(d);
            return refusal_response(&r);
        }
    };
    let alive = ctx.alive.clone();
    tokio::spawn(async move {
        let _alive = alive;
        let mut shutdown = ctx.shutdown.clone();
        let upgraded = tokio::select! {
            u = hyper::upgrade::on(req) => u,
            _ = shutdown.wait_for(|s| *s) => {
                d.error = Some("closed when the session ended".into());
                ctx.record(d);
                return;
            }
        };
        let parts = match upgraded.map(|u| u.downcast::<TokioIo<TcpStream>>()) {
            Ok(Ok(parts)) => parts,
            _ => {
                d.error = Some("the client went away before the tunnel opened".into());
                ctx.record(d);
                return;
            }
        };
        let ended = tunnel::relay(
            parts.io.into_inner(),
            parts.read_buf.to_vec(),
            opened.stream,
            &opened.host,
            ctx.shutdown.clone(),
        )
        .await;
        finish(&ctx, d, ended, started);
    });
    Response::new(empty())
}

/// An absolute-form request: decide, connect, send it on in origin form, stream the answer back.
async fn forward(req: Request<Incoming>, ctx: Arc<Ctx>) -> Response<Body> {
    let started = Instant::now();
    let uri = req.uri().clone();
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if uri.scheme_str() != Some("http") {
        let d = Decision::new(authority, 0, Via::HttpForward);
        return malformed(
            &ctx,
            &d.host,
            Via::HttpForward,
            "only http:// URLs are forwarded; https goes through CONNECT (set HTTPS_PROXY)",
        );
    }
    let target = match Target::parse_authority(authority, Some(80)) {
        Ok(t) => t,
        Err(e) => return malformed(&ctx, authority, Via::HttpForward, &e.to_string()),
    };
    let mut d = Decision::new(target.host.to_string(), target.port, Via::HttpForward);
    d.request = Some(format!(
        "{} {}",
        req.method(),
        uri.path().chars().take(256).collect::<String>()
    ));
    if let Some(refused) = host_header_mismatch(req.headers(), &target.host) {
        d.rule = refused;
        ctx.record(d.clone());
        return denied(&d.rule, "http_request_denied");
    }
    if req.headers().contains_key(header::UPGRADE) {
        d.rule = "protocol upgrades are not forwarded".into();
        ctx.record(d.clone());
        return denied(&d.rule, "http_request_denied");
    }
    let opened = match ctx.open_recorded(&target, &mut d).await {
        Ok(o) => o,
        Err(r) => {
            d.duration = started.elapsed();
            ctx.record(d);
            return refusal_response(&r);
        }
    };
    let (io, counts) = Counting::new(opened.stream);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(io)).await {
        Ok(x) => x,
        Err(e) => {
            d.error = Some(e.to_string());
            ctx.record(d);
            return text(
                StatusCode::BAD_GATEWAY,
                "qwarden: upstream handshake failed\n",
            );
        }
    };
    {
        // The connection task records the decision once the exchange is over (or the session
        // ends), with the bytes each way.
        let ctx = ctx.clone();
        let counts = counts.clone();
        let mut d = d.clone();
        let alive = ctx.alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let mut shutdown = ctx.shutdown.clone();
            tokio::select! {
                r = conn => {
                    if let Err(e) = r {
                        d.error = Some(e.to_string());
                    }
                }
                _ = shutdown.wait_for(|s| *s) => {
                    d.error = Some("closed when the session ended".into());
                }
            }
            let (up, down) = counts.get();
            d.bytes_up = up;
            d.bytes_down = down;
            d.duration = started.elapsed();
            ctx.record(d);
        });
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .unwrap_or_default();
    strip_hop_by_hop(&mut parts.headers);
    if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(authority)
    {
        parts.headers.insert(header::HOST, v);
    }
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => {
            let mut r = text(
                StatusCode::BAD_GATEWAY,
                &format!("qwarden: the upstream server failed: {e}\n"),
            );
            set(
                &mut r,
                "proxy-status",
                "qwarden; error=http_protocol_error".into(),
            );
            r
        }
    }
}

/// A `Host` header that names another host than the request's target.
fn host_header_mismatch(headers: &HeaderMap, target: &Host) -> Option<String> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next()?;
    if hosts.next().is_some() {
        return Some("two Host headers".into());
    }
    let Ok(value) = host.to_str() else {
        return Some("the Host header is not ASCII".into());
    };
    let named = strip_port(value.trim());
    let named = named
        .strip_suffix('.')
        .unwrap_or(named)
        .to_ascii_lowercase();
    let agrees = match target {
        Host::Name(n) => named == *n,
        Host::Ip(ip) => named.parse::<std::net::IpAddr>().is_ok_and(|h| h == *ip),
    };
    (!agrees).then(|| format!("http host {named} differs from the target {target}"))
}

/// Removes the headers that describe one hop (RFC 9110 §7.6.1), including those `Connection`
/// names, and proxy credentials meant for qwarden.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        header::CONNECTION,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
    ] {
        headers.remove(n);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
}

fn malformed(ctx: &Ctx, what: &str, via: Via, why: &str) -> Response<Body> {
    let mut d = Decision::new(crate::target::shorten(what), 0, via);
    d.rule = why.to_owned();
    ctx.record(d);
    let mut r = text(StatusCode::BAD_REQUEST, &format!("qwarden: {why}\n"));
    set(&mut r, "x-qwarden-denied", why.to_owned());
    r
}

fn refusal_response(r: &Refusal) -> Response<Body> {
    match r {
        Refusal::Denied { rule, kind, .. } => denied(rule, kind),
        Refusal::Failed { error, kind, .. } => {
            let status = if *kind == "connection_timeout" {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            let mut resp = text(status, &format!("qwarden: {error}\n"));
            set(
                &mut resp,
                "proxy-status",
                format!("qwarden; error={kind}; details={}", quoted(error)),
            );
            resp
        }
    }
}

fn denied(rule: &str, kind: &str) -> Response<Body> {
    let mut r = text(
        StatusCode::FORBIDDEN,
        &format!("qwarden: refused by egress policy: {rule}\n"),
    );
    set(&mut r, "x-qwarden-denied", rule.to_owned());
    set(
        &mut r,
        "proxy-status",
        format!("qwarden; error={kind}; details={}", quoted(rule)),
    );
    r
}

/// An RFC 8941 string: printable ASCII, `"` and `\` escaped.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

fn set(r: &mut Response<Body>, name: &'static str, value: String) {
    let clean: String = value
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&clean) {
        r.headers_mut().insert(name, v);
    }
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}
