//! Relaying a tunnel's bytes, after checking that its first bytes name the host it was opened to.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use crate::sniff::{self, MAX_SNIFF, Sniffed};
use crate::target::Host;

/// How a tunnel ended.
#[derive(Debug, Default)]
pub struct Ended {
    /// Bytes relayed from the client.
    pub up: u64,
    /// Bytes relayed to the client.
    pub down: u64,
    /// The TLS server name the client sent.
    pub sni: Option<String>,
    /// Set when the first bytes named another host: the rule that refused them.
    pub refused: Option<String>,
    /// Set when relaying stopped on an error or the session ending.
    pub error: Option<String>,
}

/// Relays between `client` and `upstream` until both directions are done. `prefix` holds bytes
/// the client already sent. `expected` is the host the tunnel was opened to: a TLS server name
/// or HTTP `Host` in the first bytes must name it.
pub async fn relay(
    client: TcpStream,
    prefix: Vec<u8>,
    upstream: TcpStream,
    expected: &Host,
    mut shutdown: watch::Receiver<bool>,
) -> Ended {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let up_count = AtomicU64::new(0);
    let down_count = AtomicU64::new(0);
    let mut ended = Ended::default();
    let up = inspect_then_pump(cr, uw, prefix, expected, &up_count);
    let down = pump(ur, cw, Vec::new(), &down_count);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        tokio::select! {
            r = &mut up, if !up_done => {
                up_done = true;
                match r {
                    Err(Stop::Refused { rule, sni }) => {
                        ended.refused = Some(rule);
                        ended.sni = sni;
                        break;
                    }
                    Err(Stop::Io(e)) => {
                        ended.error.get_or_insert(e);
                    }
                    Ok(sni) => ended.sni = sni,
                }
            }
            r = &mut down, if !down_done => {
                down_done = true;
                if let Err(e) = r {
                    ended.error.get_or_insert(e);
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => {
                ended.error = Some("closed when the session ended".into());
                break;
            }
        }
    }
    ended.up = up_count.load(Ordering::Relaxed);
    ended.down = down_count.load(Ordering::Relaxed);
    ended
}

enum Stop {
    Refused { rule: String, sni: Option<String> },
    Io(String),
}

/// Reads until the first bytes say what they are, checks the name in them, then relays.
/// Returns the TLS server name, if any.
async fn inspect_then_pump(
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    mut seen: Vec<u8>,
    expected: &Host,
    count: &AtomicU64,
) -> Result<Option<String>, Stop> {
    let mut chunk = vec![0u8; 16 * 1024];
    let verdict = loop {
        match sniff::sniff(&seen) {
            Sniffed::NeedMore if seen.len() < MAX_SNIFF => {}
            Sniffed::NeedMore => break Sniffed::Opaque,
            other => break other,
        }
        let n = from
            .read(&mut chunk)
            .await
            .map_err(|e| Stop::Io(e.to_string()))?;
        if n == 0 {
            break Sniffed::Opaque;
        }
        seen.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let refuse = |rule: String, sni: Option<String>| Err(Stop::Refused { rule, sni });
    let sni = match verdict {
        Sniffed::Tls(Some(name)) => {
            if !names_agree(&name, expected) {
                return refuse(
                    format!("tls server name {name} differs from the target {expected}"),
                    Some(name),
                );
            }
            Some(name)
        }
        Sniffed::Http(Some(name)) => {
            if !names_agree(&name, expected) {
                return refuse(
                    format!("http host {name} differs from the target {expected}"),
                    None,
                );
            }
            None
        }
        Sniffed::TlsEch(outer) => {
            return refuse(
                "tls encrypted client hello hides the server name".into(),
                outer,
            );
        }
        Sniffed::Malformed(why) => return refuse(format!("first bytes refused: {why}"), None),
        Sniffed::Tls(None) | Sniffed::Http(None) | Sniffed::Opaque | Sniffed::NeedMore => None,
    };
    pump(from, to, seen, count).await.map_err(Stop::Io)?;
    Ok(sni)
}

/// Whether a name seen in the stream is the tunnel's target.
fn names_agree(seen: &str, expected: &Host) -> bool {
    match expected {
        Host::Name(n) => seen == n,
        Host::Ip(ip) => seen.parse::<std::net::IpAddr>().is_ok_and(|s| s == *ip),
    }
}

/// Copies `from` to `to` (after writing `first`), then shuts `to` down. The buffer grows while
/// reads fill it, so bulk transfers take few system calls and idle tunnels hold little memory.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    first: Vec<u8>,
    count: &AtomicU64,
) -> Result<(), String> {
    if !first.is_empty() {
        to.write_all(&first).await.map_err(|e| e.to_string())?;
        count.fetch_add(first.len() as u64, Ordering::Relaxed);
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.to_string()),
        };
        to.write_all(buf.get(..n).unwrap_or_default())
            .await
            .map_err(|e| e.to_string())?;
        count.fetch_add(n as u64, Ordering::Relaxed);
        if n == buf.len() && buf.len() < 256 * 1024 {
            buf.resize(buf.len() * 2, 0);
        }
    }
    let _ = to.shutdown().await;
    Ok(())
}
