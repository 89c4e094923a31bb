//! Egress proxy overhead, measured against direct loopback in the same run (no pass/fail).
//!
//! `cargo bench -p qwarden-egress --bench egress` prints three things:
//! - **download**: one large transfer (`QWARDEN_BENCH_MIB`, default 1024 MiB) from a loopback
//!   server, read directly and through a CONNECT tunnel; throughput of each and the ratio
//!   (goal ≥ 0.9×). Median of 5 runs each, interleaved.
//! - **set-up**: connect + one echoed byte, directly and through the proxy (CONNECT, 200, first
//!   byte); p50 and p99 of each over 2,000 connections, and the added p50 (goal ≤ 0.5 ms).
//! - **concurrency**: 1,000 tunnels opened and held at once, each echoing; errors, decisions
//!   recorded, and the process's open descriptors before and after (no leak).
//!
//! The proxy runs in this process on its own thread, exactly as `qwarden run` runs it, with a
//! sink that counts decisions; clients and servers are plain blocking sockets on other threads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use qwarden_egress::{Decision, Endpoints, Proxy, Rules, Sink};
use qwarden_policy::{HostOverride, NetworkGrant};

#[derive(Default)]
struct Counter(AtomicU64);

impl Sink for Counter {
    fn record(&self, _: Decision) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A server on loopback: a 0 byte asks for the big body, anything else is echoed. (The first
/// bytes are binary on purpose: a tunnel whose first bytes could start an HTTP request is held
/// until the request head is complete, and a lone letter could.)
fn server(big: u64) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if s.read_exact(&mut first).is_err() {
                    return;
                }
                if first[0] == 0 {
                    let chunk = vec![0x5au8; 256 * 1024];
                    let mut left = big;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if s.write_all(&chunk[..n]).is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                } else {
                    let mut buf = [0u8; 4096];
                    let _ = s.write_all(&first);
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

fn proxy(port: u16, sink: Arc<Counter>) -> (Proxy, u16) {
    let grant = NetworkGrant {
        allow: vec!["bench.lab.test".parse().unwrap()],
        deny: vec![],
        builtin_deny: vec![],
        allow_ranges: vec!["127.0.0.1/32".parse().unwrap()],
        overrides: vec![HostOverride::new("bench.lab.test", &format!("127.0.0.1:{port}")).unwrap()],
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let p = Proxy::start(
        Rules::from_grant(&grant),
        Endpoints {
            proxy: listener,
            dns_udp: None,
            dns_tcp: None,
        },
        sink,
    )
    .unwrap();
    (p, proxy_port)
}

/// A tunnel to bench.lab.test through the proxy, CONNECT answered.
fn tunnel(proxy_port: u16) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", proxy_port))?;
    s.set_nodelay(true)?;
    s.write_all(b"CONNECT bench.lab.test:1 HTTP/1.1\r\nHost: bench.lab.test:1\r\n\r\n")?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("proxy said {line:?}")));
    }
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    if !r.buffer().is_empty() {
        return Err(std::io::Error::other("unexpected bytes after the 200"));
    }
    Ok(s)
}

fn download(mut s: TcpStream, bytes: u64) -> Duration {
    let start = Instant::now();
    s.write_all(&[0]).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    while got < bytes {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "short download: {got} of {bytes}");
        got += n as u64;
    }
    start.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn main() {
    // Benches are not run by `cargo test`; `cargo bench` passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // Client, proxy (two per tunnel) and server share this process: four descriptors a tunnel.
    check_nofile();
    let mib: u64 = std::env::var("QWARDEN_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let bytes = mib * 1024 * 1024;
    let port = server(bytes);
    let sink = Arc::new(Counter::default());
    let (p, proxy_port) = proxy(port, sink.clone());

    println!("download of {mib} MiB over loopback, median of 5 (interleaved):");
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let d = download(TcpStream::connect(("127.0.0.1", port)).unwrap(), bytes);
        direct.push(bytes as f64 / d.as_secs_f64() / 1e9);
        let t = download(tunnel(proxy_port).unwrap(), bytes);
        proxied.push(bytes as f64 / t.as_secs_f64() / 1e9);
    }
    let (d, t) = (median(direct), median(proxied));
    println!("  direct          {d:.2} GB/s");
    println!("  through proxy   {t:.2} GB/s   ratio {:.2}×", t / d);

    let n = 2000;
    let echo = |mut s: TcpStream| {
        s.write_all(&[1]).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
    };
    let (mut direct, mut proxied) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let start = Instant::now();
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        echo(s);
        direct.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        echo(tunnel(proxy_port).unwrap());
        proxied.push(start.elapsed().as_secs_f64() * 1e3);
    }
    direct.sort_by(|a, b| a.total_cmp(b));
    proxied.sort_by(|a, b| a.total_cmp(b));
    println!("connection set-up (connect + first echoed byte), {n} connections:");
    println!(
        "  direct          p50 {:.3} ms   p99 {:.3} ms",
        percentile(&direct, 0.5),
        percentile(&direct, 0.99)
    );
    println!(
        "  through proxy   p50 {:.3} ms   p99 {:.3} ms   added p50 {:.3} ms",
        percentile(&proxied, 0.5),
        percentile(&proxied, 0.99),
        percentile(&proxied, 0.5) - percentile(&direct, 0.5)
    );

    let before_fds = open_fds();
    let recorded_before = sink.0.load(Ordering::Relaxed);
    let held = 1000;
    let start = Instant::now();
    let mut tunnels = Vec::with_capacity(held);
    let mut errors = 0;
    for _ in 0..held {
        match tunnel(proxy_port) {
            Ok(s) => tunnels.push(s),
            Err(_) => errors += 1,
        }
    }
    for s in &mut tunnels {
        if s.write_all(&[1]).is_err() {
            errors += 1;
        }
    }
    for s in &mut tunnels {
        let mut b = [0u8; 1];
        if s.read_exact(&mut b).is_err() || b != [1] {
            errors += 1;
        }
    }
    let opened = start.elapsed();
    let during = open_fds();
    drop(tunnels);
    p.stop();
    let recorded = sink.0.load(Ordering::Relaxed) - recorded_before;
    println!(
        "{held} concurrent tunnels: opened and echoed in {:.0} ms, {errors} errors, {recorded} decisions recorded",
        opened.as_secs_f64() * 1e3
    );
    println!(
        "  open descriptors: {before_fds} before, {during} while held, {} after the proxy stopped",
        open_fds()
    );
}

fn check_nofile() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<u64> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()));
    if soft.is_some_and(|s| s < 4200) {
        println!(
            "(the open-file limit is below 4,200: run `ulimit -n 8192` first, or the concurrency row reports errors)"
        );
    }
}
