//! The proxy's event loop: accepting on the sandbox's endpoints, deciding, connecting, relaying
//! and reporting.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::dns::{self, Rcode, SyntheticAddresses};
use crate::record::{Decision, Sink, Via};
use crate::resolve::{Resolver, Unresolved};
use crate::rules::Rules;
use crate::socks::{self, Reply};
use crate::target::{Host, Target};
use crate::tunnel;

/// How long a connect to an allowed destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Client connections served at once; more wait in the listener's backlog.
const MAX_CONNECTIONS: usize = 8192;

/// What every task shares.
pub(crate) struct Ctx {
    pub rules: Rules,
    pub resolver: Resolver,
    pub synthetic: Mutex<SyntheticAddresses>,
    /// Names whose DNS answer is on record already (later identical answers are not recorded).
    pub answered: Mutex<HashSet<String>>,
    pub sink: Arc<dyn Sink>,
    pub shutdown: watch::Receiver<bool>,
    /// Every task holds a clone; the proxy has stopped when the last is dropped.
    pub alive: mpsc::Sender<()>,
}

/// Why a destination was not connected.
pub(crate) enum Refusal {
    /// A host rule or an address check refused it.
    Denied {
        rule: String,
        /// RFC 9209 error type for `Proxy-Status`.
        kind: &'static str,
        address: Option<IpAddr>,
    },
    /// Allowed, but it could not be reached.
    Failed {
        rule: String,
        error: String,
        kind: &'static str,
        address: Option<IpAddr>,
    },
}

/// An allowed, connected destination.
pub(crate) struct Opened {
    pub stream: TcpStream,
    /// The host as decided (the name behind a synthetic address).
    pub host: Host,
}

impl Ctx {
    /// The name behind an address the DNS stub handed out.
    fn unmask(&self, target: &Target) -> Result<Target, Refusal> {
        let Host::Ip(IpAddr::V4(v4)) = target.host else {
            return Ok(target.clone());
        };
        if !SyntheticAddresses::in_range(v4) {
            return Ok(target.clone());
        }
        let name = self
            .synthetic
            .lock()
            .ok()
            .and_then(|s| s.name_of(v4).map(str::to_owned));
        match name {
            Some(n) => Ok(Target {
                host: Host::Name(n),
                port: target.port,
            }),
            None => Err(Refusal::Denied {
                rule: format!("address {v4} was not handed out by qwarden's DNS stub"),
                kind: "destination_ip_prohibited",
                address: Some(IpAddr::V4(v4)),
            }),
        }
    }

    /// Decides `asked`, resolves, checks and connects; fills `d` with the verdict.
    pub async fn open(&self, asked: &Target, d: &mut Decision) -> Result<Opened, Refusal> {
        let target = self.unmask(asked).inspect_err(|r| fill(d, r))?;
        if target != *asked {
            d.asked_as = Some(asked.host.to_string());
            d.host = target.host.to_string();
        }
        let verdict = self.rules.check_target(&target);
        if !verdict.allowed {
            let r = Refusal::Denied {
                rule: verdict.rule,
                kind: "http_request_denied",
                address: None,
            };
            fill(d, &r);
            return Err(r);
        }
        // A destination still being resolved or connected when the session ends is recorded
        // as such, not dropped.
        let mut shutdown = self.shutdown.clone();
        let ended = |d: &mut Decision, rule: String| {
            let r = Refusal::Failed {
                rule,
                error: "closed when the session ended".into(),
                kind: "destination_unavailable",
                address: None,
            };
            fill(d, &r);
            r
        };
        let resolved = tokio::select! {
            r = self.resolver.addresses(&self.rules, &target) => r,
            _ = shutdown.wait_for(|s| *s) => return Err(ended(d, verdict.rule)),
        };
        let addresses = match resolved {
            Ok(a) => a,
            Err(Unresolved::Refused(e)) => {
                let r = Refusal::Denied {
                    rule: format!("address {} is {}", e.address, e.class),
                    kind: "destination_ip_prohibited",
                    address: Some(e.address),
                };
                fill(d, &r);
                return Err(r);
            }
            Err(Unresolved::Lookup(e)) => {
                let r = Refusal::Failed {
                    rule: verdict.rule,
                    error: format!("cannot resolve {}: {e}", target.host),
                    kind: "dns_error",
                    address: None,
                };
                fill(d, &r);
                return Err(r);
            }
        };
        let mut last = None;
        for a in addresses {
            let attempt = tokio::select! {
                r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)) => r,
                _ = shutdown.wait_for(|s| *s) => return Err(ended(d, verdict.rule)),
            };
            match attempt {
                Ok(Ok(stream)) => {
                    d.allowed = true;
                    d.rule = verdict.rule.clone();
                    d.address = Some(a.ip());
                    return Ok(Opened {
                        stream,
                        host: target.host,
                    });
                }
                Ok(Err(e)) => {
                    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                        "connection_refused"
                    } else {
                        "destination_unavailable"
                    };
                    last = Some((a, format!("cannot connect to {a}: {e}"), kind));
                }
                Err(_) => {
                    last = Some((
                        a,
                        format!("connecting to {a} took over {}s", CONNECT_TIMEOUT.as_secs()),
                        "connection_timeout",
                    ));
                }
            }
        }
        let (a, error, kind) = last.unwrap_or_else(|| {
            (
                SocketAddr::from(([0, 0, 0, 0], 0)),
                "no address to connect to".into(),
                "destination_unavailable",
            )
        });
        let r = Refusal::Failed {
            rule: verdict.rule,
            error,
            kind,
            address: Some(a.ip()),
        };
        fill(d, &r);
        Err(r)
    }

    /// [`Ctx::open`] for a caller that may be dropped while it waits (an HTTP request when the
    /// session ends): if it is, the decision is recorded as cut short instead of lost.
    pub async fn open_recorded(&self, asked: &Target, d: &mut Decision) -> Result<Opened, Refusal> {
        let mut pending = Pending {
            ctx: self,
            decision: d.clone(),
            armed: true,
        };
        let result = self.open(asked, &mut pending.decision).await;
        pending.armed = false;
        *d = std::mem::replace(&mut pending.decision, Decision::new("", 0, d.via));
        result
    }

    pub fn record(&self, d: Decision) {
        self.sink.record(d);
    }
}

/// A decision being made; recorded if its future is dropped before it is done.
struct Pending<'a> {
    ctx: &'a Ctx,
    decision: Decision,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut d = self.decision.clone();
            d.error = Some("closed when the session ended".into());
            self.ctx.record(d);
        }
    }
}

fn fill(d: &mut Decision, r: &Refusal) {
    match r {
        Refusal::Denied { rule, address, .. } => {
            d.allowed = false;
            d.rule = rule.clone();
            d.address = *address;
        }
        Refusal::Failed {
            rule,
            error,
            address,
            ..
        } => {
            d.allowed = true;
            d.rule = rule.clone();
            d.error = Some(error.clone());
            d.address = *address;
        }
    }
}

/// Accepts proxy clients until shutdown; each is SOCKS5 if its first byte is 5, HTTP otherwise.
pub(crate) async fn serve_proxy(listener: TcpListener, ctx: Arc<Ctx>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else {
            // EMFILE and friends: the slot is released and the loop retries.
            tokio::task::yield_now().await;
            continue;
        };
        let ctx = ctx.clone();
        let alive = ctx.alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let _slot = slot;
            let mut first = [0u8; 1];
            // A client that says nothing must not hold up the proxy's stop.
            let mut shutdown = ctx.shutdown.clone();
            let peeked = tokio::select! {
                p = stream.peek(&mut first) => p,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match peeked {
                Ok(1) if first == [5] => serve_socks(stream, ctx).await,
                Ok(1) => crate::http::serve(stream, ctx).await,
                _ => {}
            }
        });
    }
}

/// One SOCKS5 client: greeting, request, decision, relay.
async fn serve_socks(mut stream: TcpStream, ctx: Arc<Ctx>) {
    let mut buf = Vec::with_capacity(512);
    let used = loop {
        match socks::parse_greeting(&buf) {
            Ok(Some(n)) => break n,
            Ok(None) if buf.len() < 512 => {
                if read_more(&mut stream, &mut buf, &ctx).await == 0 {
                    return;
                }
            }
            Ok(None) | Err(_) => {
                // "No acceptable methods".
                let _ = stream.write_all(&[5, 0xff]).await;
                return;
            }
        }
    };
    buf.drain(..used);
    if stream.write_all(&[5, 0]).await.is_err() {
        return;
    }
    let (target, used) = loop {
        match socks::parse_request(&buf) {
            Ok(Some(t)) => break t,
            Ok(None) if buf.len() < 512 => {
                if read_more(&mut stream, &mut buf, &ctx).await == 0 {
                    return;
                }
            }
            Ok(None) => {
                let _ = stream.write_all(&socks::reply(Reply::GeneralFailure)).await;
                return;
            }
            Err(e) => {
                let code = e.reply.unwrap_or(Reply::GeneralFailure);
                let _ = stream.write_all(&socks::reply(code)).await;
                let mut d = match &e.target {
                    Some(t) => Decision::new(t.host.to_string(), t.port, Via::Socks5),
                    None => Decision::new("(unreadable request)", 0, Via::Socks5),
                };
                d.rule = e.to_string();
                ctx.record(d);
                return;
            }
        }
    };
    buf.drain(..used);
    let started = Instant::now();
    let mut d = Decision::new(target.host.to_string(), target.port, Via::Socks5);
    let opened = match ctx.open(&target, &mut d).await {
        Ok(o) => o,
        Err(r) => {
            let code = match &r {
                Refusal::Denied { .. } => Reply::NotAllowed,
                Refusal::Failed { kind, .. } => match *kind {
                    "dns_error" => Reply::HostUnreachable,
                    "connection_refused" => Reply::ConnectionRefused,
                    "connection_timeout" => Reply::TtlExpired,
                    _ => Reply::NetworkUnreachable,
                },
            };
            let _ = stream.write_all(&socks::reply(code)).await;
            d.duration = started.elapsed();
            ctx.record(d);
            return;
        }
    };
    if stream
        .write_all(&socks::reply(Reply::Succeeded))
        .await
        .is_err()
    {
        d.error = Some("the client went away".into());
        ctx.record(d);
        return;
    }
    let ended = tunnel::relay(
        stream,
        buf,
        opened.stream,
        &opened.host,
        ctx.shutdown.clone(),
    )
    .await;
    finish(&ctx, d, ended, started);
}

/// Reads what is there into `buf`; 0 at end of stream, on an error or when the session ends.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>, ctx: &Ctx) -> usize {
    let mut chunk = [0u8; 512];
    let mut shutdown = ctx.shutdown.clone();
    let n = tokio::select! {
        r = stream.read(&mut chunk) => r.unwrap_or(0),
        _ = shutdown.wait_for(|s| *s) => 0,
    };
    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    n
}

/// Records a tunnel's decision once it has ended.
pub(crate) fn finish(ctx: &Ctx, mut d: Decision, ended: tunnel::Ended, started: Instant) {
    d.bytes_up = ended.up;
    d.bytes_down = ended.down;
    d.sni = ended.sni;
    d.duration = started.elapsed();
    if let Some(rule) = ended.refused {
        d.allowed = false;
        d.rule = rule;
    }
    d.error = ended.error;
    ctx.record(d);
}

/// What the stub does with a query: the response, and what to record.
async fn handle_query(ctx: &Ctx, msg: &[u8], via: Via) -> Option<Vec<u8>> {
    let q = match dns::parse_query(msg) {
        Ok(q) => q,
        Err(e) => {
            let mut d = Decision::new("(unreadable query)", 53, via);
            d.rule = e.to_string();
            d.bytes_up = msg.len() as u64;
            ctx.record(d);
            return dns::error_answer(&e);
        }
    };
    let started = Instant::now();
    let mut d = Decision::new(q.name.clone(), 53, via);
    d.bytes_up = msg.len() as u64;
    let verdict = if q.qclass == dns::CLASS_IN {
        ctx.rules.check_name(&q.name)
    } else {
        crate::rules::HostVerdict {
            allowed: false,
            rule: "only class IN is answered".into(),
        }
    };
    d.rule = verdict.rule.clone();
    let response = if !verdict.allowed {
        dns::answer(&q, Rcode::Refused, &[], 0)
    } else {
        let target = Target {
            host: Host::Name(q.name.clone()),
            port: 0,
        };
        match ctx.resolver.addresses(&ctx.rules, &target).await {
            Err(Unresolved::Refused(e)) => {
                d.rule = format!("address {} is {}", e.address, e.class);
                d.address = Some(e.address);
                dns::answer(&q, Rcode::Refused, &[], 0)
            }
            Err(Unresolved::Lookup(e)) => {
                d.allowed = true;
                d.error = Some(format!("cannot resolve {}: {e}", q.name));
                dns::answer(&q, Rcode::NxDomain, &[], 0)
            }
            Ok(addresses) => {
                d.allowed = true;
                d.address = addresses.first().map(SocketAddr::ip);
                let stand_in = ctx
                    .synthetic
                    .lock()
                    .ok()
                    .and_then(|mut s| s.address_for(&q.name));
                match stand_in {
                    Some(a) if q.qtype == dns::TYPE_A => dns::answer(&q, Rcode::NoError, &[a], 60),
                    Some(_) => dns::answer(&q, Rcode::NoError, &[], 60),
                    None => {
                        d.error = Some("the stub's address range is used up".into());
                        dns::answer(&q, Rcode::ServFail, &[], 0)
                    }
                }
            }
        }
    };
    d.bytes_down = response.len() as u64;
    d.duration = started.elapsed();
    let repeat = d.allowed
        && d.error.is_none()
        && !ctx
            .answered
            .lock()
            .map(|mut a| a.insert(q.name.clone()))
            .unwrap_or(true);
    if !repeat {
        ctx.record(d);
    }
    Some(response)
}

/// The DNS stub over UDP.
pub(crate) async fn serve_dns_udp(socket: UdpSocket, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = vec![0u8; 4096];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((n, peer)) = received else { continue };
        let msg = buf.get(..n).unwrap_or_default();
        if let Some(response) = handle_query(&ctx, msg, Via::DnsUdp).await {
            let _ = socket.send_to(&response, peer).await;
        }
    }
}

/// The DNS stub over TCP (length-prefixed messages, RFC 1035 §4.2.2).
pub(crate) async fn serve_dns_tcp(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((mut stream, _)) = accepted else {
            tokio::task::yield_now().await;
            continue;
        };
        let ctx = ctx.clone();
        let alive = ctx.alive.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let mut shutdown = ctx.shutdown.clone();
            loop {
                let mut len = [0u8; 2];
                let read = tokio::select! {
                    r = stream.read_exact(&mut len) => r,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                if read.is_err() {
                    return;
                }
                let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                let read = tokio::select! {
                    r = stream.read_exact(&mut msg) => r,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                if read.is_err() {
                    return;
                }
                let Some(response) = handle_query(&ctx, &msg, Via::DnsTcp).await else {
                    return;
                };
                let Ok(n) = u16::try_from(response.len()) else {
                    return;
                };
                let mut out = n.to_be_bytes().to_vec();
                out.extend(response);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}
