//! Relaying a tunnel's bytes, after checking that its first bytes name the host it was opened to.
//!
//! Each direction starts with plain reads and writes; once it has carried [`SPLICE_AFTER`] bytes
//! it switches to `splice(2)` through a pipe of its own, so a bulk download stays in the kernel
//! instead of being copied through the proxy. Small and idle tunnels never hold a pipe.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::sniff::{self, MAX_SNIFF, Sniffed};
use crate::target::Host;

/// Bytes a direction copies through user space before it switches to `splice(2)`.
const SPLICE_AFTER: u64 = 256 * 1024;
/// The pipe size asked for when splicing (the kernel may give less).
const PIPE_SIZE: usize = 1024 * 1024;

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
    let up_count = AtomicU64::new(0);
    let down_count = AtomicU64::new(0);
    let mut ended = Ended::default();
    let up = inspect_then_pump(&client, &upstream, prefix, expected, &up_count);
    let down = pump(&upstream, &client, &down_count);
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
                    ended.error.get_or_insert(e.to_string());
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
    from: &TcpStream,
    to: &TcpStream,
    mut seen: Vec<u8>,
    expected: &Host,
    count: &AtomicU64,
) -> Result<Option<String>, Stop> {
    let mut chunk = vec![0u8; 16 * 1024];
    let mut eof = false;
    let verdict = loop {
        match sniff::sniff(&seen) {
            Sniffed::NeedMore if seen.len() < MAX_SNIFF => {}
            // Still unfinished TLS records or an HTTP head: what it names is past what is read
            // (a ClientHello cut into tiny records, say), so there is nothing to check it by.
            Sniffed::NeedMore => {
                break Sniffed::Malformed("no host name in the first bytes qwarden inspects");
            }
            other => break other,
        }
        let n = read(from, &mut chunk)
            .await
            .map_err(|e| Stop::Io(e.to_string()))?;
        if n == 0 {
            eof = true;
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
    write_all(to, &seen)
        .await
        .map_err(|e| Stop::Io(e.to_string()))?;
    count.fetch_add(seen.len() as u64, Ordering::Relaxed);
    if eof {
        let _ = rustix::net::shutdown(to, rustix::net::Shutdown::Write);
        return Ok(sni);
    }
    pump(from, to, count)
        .await
        .map_err(|e| Stop::Io(e.to_string()))?;
    Ok(sni)
}

/// Whether a name seen in the stream is the tunnel's target.
fn names_agree(seen: &str, expected: &Host) -> bool {
    match expected {
        Host::Name(n) => seen == n,
        Host::Ip(ip) => seen.parse::<std::net::IpAddr>().is_ok_and(|s| s == *ip),
    }
}

/// Copies `from` to `to` until `from` ends, then shuts `to`'s sending side.
async fn pump(from: &TcpStream, to: &TcpStream, count: &AtomicU64) -> io::Result<()> {
    let mut moved = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    while moved < SPLICE_AFTER {
        let n = match read(from, &mut buf).await {
            Ok(0) => return finish(to),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return finish(to),
            Err(e) => return Err(e),
        };
        write_all(to, buf.get(..n).unwrap_or_default()).await?;
        count.fetch_add(n as u64, Ordering::Relaxed);
        moved += n as u64;
    }
    drop(buf);
    // A bulk transfer: from here on the bytes go socket → pipe → socket inside the kernel. A
    // kernel without pipes to spare falls back to copying.
    let Ok((pipe_out, pipe_in)) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
    else {
        return copy_rest(from, to, count).await;
    };
    let capacity = rustix::pipe::fcntl_setpipe_size(&pipe_in, PIPE_SIZE)
        .or_else(|_| rustix::pipe::fcntl_getpipe_size(&pipe_in))
        .unwrap_or(64 * 1024);
    splice_rest(from, to, &pipe_out, &pipe_in, capacity, count).await
}

async fn splice_rest(
    from: &TcpStream,
    to: &TcpStream,
    pipe_out: &OwnedFd,
    pipe_in: &OwnedFd,
    capacity: usize,
    count: &AtomicU64,
) -> io::Result<()> {
    let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
    loop {
        from.readable().await?;
        let filled = from.try_io(Interest::READABLE, || {
            rustix::pipe::splice(from, None, pipe_in, None, capacity, flags)
                .map_err(io::Error::from)
        });
        let mut in_pipe = match filled {
            Ok(0) => return finish(to),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return finish(to),
            Err(e) => return Err(e),
        };
        while in_pipe > 0 {
            to.writable().await?;
            let drained = to.try_io(Interest::WRITABLE, || {
                rustix::pipe::splice(pipe_out, None, to, None, in_pipe, flags)
                    .map_err(io::Error::from)
            });
            match drained {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    in_pipe -= n;
                    count.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The copying loop without a pipe.
async fn copy_rest(from: &TcpStream, to: &TcpStream, count: &AtomicU64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match read(from, &mut buf).await {
            Ok(0) => return finish(to),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return finish(to),
            Err(e) => return Err(e),
        };
        write_all(to, buf.get(..n).unwrap_or_default()).await?;
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The end of one direction: the other side learns that no more bytes come.
fn finish(to: &TcpStream) -> io::Result<()> {
    let _ = rustix::net::shutdown(to, rustix::net::Shutdown::Write);
    Ok(())
}

async fn read(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            r => return r,
        }
    }
}

async fn write_all(s: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
