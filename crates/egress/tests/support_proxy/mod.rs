//! Helpers shared by the proxy's integration tests: a sink that records decisions, the proxy on
//! real loopback sockets, small upstream servers, and clients written by hand (HTTP, SOCKS5, DNS,
//! TLS ClientHello) or run as `curl`.
//!
//! Nothing here sleeps. Every wait blocks on something that happens (a decision recorded, a
//! connection ended, a byte read) and gives up after [`PATIENCE`], which only turns a hang into a
//! failure.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Output};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use qwarden_egress::{Decision, Endpoints, Proxy, Rules, Sink};
use qwarden_policy::{HostOverride, HostPattern, IpRange, NetworkGrant};

/// How long a test waits for anything before it fails: a guard against hanging, never a delay.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A sink that keeps every decision, in order, and wakes whoever waits for one.
#[derive(Debug, Default)]
pub struct Recorder {
    decisions: Mutex<Vec<Decision>>,
    added: Condvar,
}

impl Sink for Recorder {
    fn record(&self, decision: Decision) {
        self.decisions.lock().unwrap().push(decision);
        self.added.notify_all();
    }
}

impl Recorder {
    /// The decisions so far, once there are at least `n`.
    pub fn wait_for(&self, n: usize) -> Vec<Decision> {
        let guard = self.decisions.lock().unwrap();
        let (guard, waited) = self
            .added
            .wait_timeout_while(guard, PATIENCE, |d| d.len() < n)
            .unwrap();
        assert!(
            !waited.timed_out(),
            "waited {PATIENCE:?} for {n} decisions, got {}: {:#?}",
            guard.len(),
            *guard
        );
        guard.clone()
    }

    /// The decisions so far.
    pub fn all(&self) -> Vec<Decision> {
        self.decisions.lock().unwrap().clone()
    }
}

/// A network grant written as strings, the way a profile writes it.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    allow: Vec<String>,
    deny: Vec<String>,
    builtin_deny: Vec<String>,
    ranges: Vec<String>,
    hosts: Vec<(String, String)>,
}

impl Grant {
    /// Adds an allow pattern.
    pub fn allow(mut self, pattern: &str) -> Grant {
        self.allow.push(pattern.into());
        self
    }
    /// Adds a deny pattern (the profile's deny list).
    pub fn deny(mut self, pattern: &str) -> Grant {
        self.deny.push(pattern.into());
        self
    }
    /// Adds a pattern to the built-in deny list.
    pub fn builtin_deny(mut self, pattern: &str) -> Grant {
        self.builtin_deny.push(pattern.into());
        self
    }
    /// Adds an `egress.allow_ranges` entry.
    pub fn range(mut self, range: &str) -> Grant {
        self.ranges.push(range.into());
        self
    }
    /// Adds an `[egress.hosts]` entry: `name → address` (`127.0.0.1` or `127.0.0.1:8080`).
    pub fn host(mut self, name: &str, address: impl Display) -> Grant {
        self.hosts.push((name.into(), address.to_string()));
        self
    }

    /// The proxy's rules for this grant.
    pub fn rules(&self) -> Rules {
        let patterns = |v: &[String]| -> Vec<HostPattern> {
            v.iter()
                .map(|p| p.parse().unwrap_or_else(|e| panic!("{p}: {e}")))
                .collect()
        };
        Rules::from_grant(&NetworkGrant {
            allow: patterns(&self.allow),
            deny: patterns(&self.deny),
            builtin_deny: patterns(&self.builtin_deny),
            allow_ranges: self
                .ranges
                .iter()
                .map(|r| r.parse::<IpRange>().unwrap_or_else(|e| panic!("{r}: {e}")))
                .collect(),
            overrides: self
                .hosts
                .iter()
                .map(|(h, a)| HostOverride::new(h, a).unwrap_or_else(|e| panic!("{h}: {e}")))
                .collect(),
        })
    }
}

/// The proxy, serving a grant on three fresh loopback sockets.
pub struct Harness {
    proxy: Option<Proxy>,
    /// The proxy port (HTTP and SOCKS5).
    pub addr: SocketAddr,
    /// The DNS stub over UDP.
    pub dns_udp: SocketAddr,
    /// The DNS stub over TCP.
    pub dns_tcp: SocketAddr,
    /// What the proxy reported.
    pub recorder: Arc<Recorder>,
}

impl Harness {
    /// Starts the proxy for `grant`.
    pub fn start(grant: &Grant) -> Harness {
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let dns_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dns_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr, udp, tcp) = (
            proxy.local_addr().unwrap(),
            dns_udp.local_addr().unwrap(),
            dns_tcp.local_addr().unwrap(),
        );
        let recorder = Arc::new(Recorder::default());
        let sink: Arc<dyn Sink> = recorder.clone();
        let endpoints = Endpoints {
            proxy,
            dns_udp: Some(dns_udp),
            dns_tcp: Some(dns_tcp),
        };
        let proxy = Proxy::start(grant.rules(), endpoints, sink).unwrap();
        Harness {
            proxy: Some(proxy),
            addr,
            dns_udp: udp,
            dns_tcp: tcp,
            recorder,
        }
    }

    /// The `i`-th decision (from 0), once it has been recorded.
    pub fn decision(&self, i: usize) -> Decision {
        self.recorder.wait_for(i + 1).swap_remove(i)
    }

    /// Stops the proxy (which records every connection still open) and returns every decision.
    pub fn stop(&mut self) -> Vec<Decision> {
        if let Some(p) = self.proxy.take() {
            p.stop();
        }
        self.recorder.all()
    }
}

/// A decision with the given verdict, for comparing whole decisions at once: the fields a test
/// does not set are the ones a plain refusal leaves empty. `duration` is copied from `actual`.
pub fn expected(actual: &Decision, f: impl FnOnce(&mut Decision)) -> Decision {
    let mut d = Decision {
        host: String::new(),
        port: 0,
        address: None,
        via: actual.via,
        allowed: false,
        rule: String::new(),
        bytes_up: 0,
        bytes_down: 0,
        duration: actual.duration,
        sni: None,
        request: None,
        asked_as: None,
        error: None,
    };
    f(&mut d);
    d
}

/// `127.0.0.1`.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// ---------------------------------------------------------------------------------------------
// Upstream servers.

/// An echo server: every connection gets back what it sends, until it closes its side.
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    ended: mpsc::Receiver<u64>,
}

impl Echo {
    /// Starts one; it serves until the test process ends.
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, ended) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let tx = tx.clone();
                thread::spawn(move || {
                    let received = echo_until_eof(stream);
                    let _ = tx.send(received);
                });
            }
        });
        Echo { addr, ended }
    }

    /// Waits for a connection to end (its socket is closed by then); the bytes it received.
    pub fn ended(&self) -> u64 {
        self.ended
            .recv_timeout(PATIENCE)
            .expect("no connection to the echo server ended")
    }
}

/// Echoes until end of stream, closes the stream, and returns the bytes received.
fn echo_until_eof(mut stream: TcpStream) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    total
}

/// A listener nobody accepts on: a connection to it would wait in its backlog, so once the proxy
/// has recorded a decision, an empty backlog shows that the proxy never connected.
pub struct Trap {
    listener: TcpListener,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Trap {
    /// A fresh trap.
    pub fn new() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Trap { listener, addr }
    }

    /// Fails if anything connected.
    pub fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{peer} connected to {}, which nothing may reach", self.addr),
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A small HTTP/1.1 server: it answers every request with the same body and `Connection: close`,
/// and reports each request it got (head and body, exactly the bytes received).
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The body it serves.
    pub body: Arc<Vec<u8>>,
    /// The length of its whole response (head and body).
    pub response_len: usize,
    requests: mpsc::Receiver<Vec<u8>>,
}

impl HttpServer {
    /// Starts one serving `body`.
    pub fn start(body: Vec<u8>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Arc::new(body);
        let head = Arc::new(response_head(body.len()));
        let response_len = head.len() + body.len();
        let (tx, requests) = mpsc::channel();
        {
            let body = body.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (tx, head, body) = (tx.clone(), head.clone(), body.clone());
                    thread::spawn(move || serve_http(stream, &head, &body, &tx));
                }
            });
        }
        HttpServer {
            addr,
            body,
            response_len,
            requests,
        }
    }

    /// The next request it received, as bytes.
    pub fn request(&self) -> Vec<u8> {
        self.requests
            .recv_timeout(PATIENCE)
            .expect("the HTTP server got no request")
    }
}

fn response_head(len: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nX-Upstream: qwarden-test\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn serve_http(mut stream: TcpStream, head: &[u8], body: &[u8], tx: &mpsc::Sender<Vec<u8>>) {
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = find(&request, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    while request.len() < end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let _ = tx.send(request);
    if stream.write_all(head).is_err() {
        return;
    }
    for chunk in body.chunks(1 << 20) {
        if stream.write_all(chunk).is_err() {
            return;
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Read until the other side closes, so that closing never resets the connection.
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Where `needle` starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// A connection with read and write timeouts (guards only).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// A response head.
#[derive(Debug, Clone)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The header fields, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Its length on the wire.
    pub len: usize,
}

impl Head {
    /// The value of header `name` (lower case), if there is exactly one.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.headers.iter().filter(|(n, _)| n == name);
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "two `{name}` headers: {self:?}");
        first
    }
}

/// Reads a response head one byte at a time, so that nothing after it is consumed.
pub fn read_head(stream: &mut impl Read) -> Head {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => panic!(
                "the response head ended early ({other:?}) after {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let text = String::from_utf8(raw.clone()).unwrap();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Head {
        status,
        headers,
        len: raw.len(),
    }
}

/// Reads the body a head announces with `Content-Length`.
pub fn read_body(stream: &mut impl Read, head: &Head) -> Vec<u8> {
    let len: usize = head
        .header("content-length")
        .unwrap_or_else(|| panic!("no content-length: {head:?}"))
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    body
}

/// Sends `raw` on a new connection to `addr`, returns the response and the connection.
pub fn http(addr: SocketAddr, raw: &str) -> (Head, Vec<u8>, TcpStream) {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    let head = read_head(&mut s);
    let body = read_body(&mut s, &head);
    (head, body, s)
}

/// `CONNECT authority` (with a matching `Host`), returning the connection and the response head.
pub fn connect_tunnel(addr: SocketAddr, authority: &str) -> (TcpStream, Head) {
    let mut s = connect(addr);
    write!(
        s,
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    (s, head)
}

/// A CONNECT tunnel that must open.
pub fn open_tunnel(addr: SocketAddr, authority: &str) -> TcpStream {
    let (s, head) = connect_tunnel(addr, authority);
    assert_eq!(head.status, 200, "CONNECT {authority}: {head:?}");
    s
}

/// Writes `data` and reads it back (through an echo server).
pub fn round_trip(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).unwrap();
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).unwrap();
    assert!(back == data, "the echo differs from what was sent");
}

/// Sends `len` bytes from another thread while reading them back (through an echo server), so
/// that neither side waits for the other however much is in flight; then closes the sending side.
pub fn bulk_round_trip(stream: &mut TcpStream, len: usize) {
    let data = Arc::new(opaque_bytes(len));
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sender = thread::spawn(move || {
        for chunk in sent.chunks(100_000) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(len);
    stream.read_to_end(&mut back).unwrap();
    sender.join().unwrap();
    assert!(back == *data, "the echo differs from what was sent");
}

/// Closes the sending side and reads until the other side closes; what was left to read. A reset
/// counts as closed.
pub fn finish(stream: &mut TcpStream) -> Vec<u8> {
    let _ = stream.shutdown(Shutdown::Write);
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return rest,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return rest,
            Err(e) => panic!("reading to the end of the stream: {e}"),
        }
    }
}

/// Deterministic bytes that do not look like TLS or HTTP (the first is 0).
pub fn opaque_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// SOCKS5.

/// A SOCKS5 CONNECT request for a domain name.
pub fn socks_domain(name: &str, port: u16) -> Vec<u8> {
    let mut r = vec![5, 1, 0, 3, u8::try_from(name.len()).unwrap()];
    r.extend(name.as_bytes());
    r.extend(port.to_be_bytes());
    r
}

/// A SOCKS5 CONNECT request for an IPv4 address.
pub fn socks_ipv4(ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut r = vec![5, 1, 0, 1];
    r.extend(ip.octets());
    r.extend(port.to_be_bytes());
    r
}

/// Greets (offering "no authentication"), sends `request`, and returns the connection and the
/// reply.
pub fn socks(addr: SocketAddr, request: &[u8]) -> (TcpStream, [u8; 10]) {
    let mut s = connect(addr);
    s.write_all(&[5, 1, 0]).unwrap();
    let mut chosen = [0u8; 2];
    s.read_exact(&mut chosen).unwrap();
    assert_eq!(chosen, [5, 0]);
    s.write_all(request).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    (s, reply)
}

// ---------------------------------------------------------------------------------------------
// DNS.

/// Record type `AAAA`.
pub const TYPE_AAAA: u16 = 28;

/// A query as `dig` sends it: recursion desired, `AD`, one question, an EDNS OPT record.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    dns_query_class(id, name, qtype, 1)
}

/// [`dns_query`] with another class.
pub fn dns_query_class(id: u16, name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend([0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend(label.as_bytes());
    }
    m.push(0);
    m.extend(qtype.to_be_bytes());
    m.extend(qclass.to_be_bytes());
    m.extend([0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    m
}

/// A DNS response, as far as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsResponse {
    /// The transaction id.
    pub id: u16,
    /// Whether QR (response) is set.
    pub response: bool,
    /// Whether RD is set.
    pub recursion_desired: bool,
    /// The response code.
    pub rcode: u8,
    /// The question's name, if there is a question.
    pub question: Option<String>,
    /// The number of answer records.
    pub answers: u16,
    /// The `A` records' addresses.
    pub addresses: Vec<Ipv4Addr>,
}

fn name_at(msg: &[u8], mut pos: usize) -> (String, usize) {
    let mut labels = Vec::new();
    loop {
        let len = usize::from(msg[pos]);
        if len == 0 {
            return (labels.join("."), pos + 1);
        }
        if len & 0xc0 == 0xc0 {
            let target = (len & 0x3f) << 8 | usize::from(msg[pos + 1]);
            let (rest, _) = name_at(msg, target);
            labels.push(rest);
            return (labels.join("."), pos + 2);
        }
        labels.push(String::from_utf8(msg[pos + 1..pos + 1 + len].to_vec()).unwrap());
        pos += 1 + len;
    }
}

/// Reads a response (panics on anything malformed: the stub must answer well-formed messages).
pub fn parse_response(msg: &[u8]) -> DnsResponse {
    assert!(msg.len() >= 12, "short DNS message: {msg:?}");
    let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let (id, flags, qd, an, ns, ar) = (word(0), word(2), word(4), word(6), word(8), word(10));
    assert_eq!(
        (ns, ar),
        (0, 0),
        "the stub adds no authority or additional records"
    );
    assert!(qd <= 1);
    let mut pos = 12;
    let mut question = None;
    if qd == 1 {
        let (name, after) = name_at(msg, pos);
        question = Some(name);
        pos = after + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..an {
        let (_, after) = name_at(msg, pos);
        let rtype = word(after);
        let rdlen = usize::from(word(after + 8));
        let rdata = &msg[after + 10..after + 10 + rdlen];
        if rtype == 1 {
            addresses.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        pos = after + 10 + rdlen;
    }
    assert_eq!(pos, msg.len(), "trailing bytes after the records");
    DnsResponse {
        id,
        response: flags & 0x8000 != 0,
        recursion_desired: flags & 0x0100 != 0,
        rcode: (flags & 0xf) as u8,
        question,
        answers: an,
        addresses,
    }
}

/// A UDP socket to ask the stub from.
pub fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Asks the stub over UDP and waits for its answer.
pub fn dns_udp(stub: SocketAddr, query: &[u8]) -> Vec<u8> {
    let s = udp_client();
    s.send_to(query, stub).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = s.recv_from(&mut buf).unwrap();
    assert_eq!(from, stub);
    buf[..n].to_vec()
}

/// Sends one length-prefixed query on a TCP connection to the stub and reads the answer.
pub fn dns_tcp_exchange(stream: &mut TcpStream, query: &[u8]) -> Vec<u8> {
    let mut m = u16::try_from(query.len()).unwrap().to_be_bytes().to_vec();
    m.extend(query);
    stream.write_all(&m).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).unwrap();
    answer
}

// ---------------------------------------------------------------------------------------------
// TLS.

/// A minimal but well-formed TLS 1.2/1.3 ClientHello record for `sni`, with `extra` extensions
/// (the builder of `sniff.rs`'s unit tests).
pub fn client_hello(sni: Option<&str>, extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let u16_len = |n: usize| u16::try_from(n).unwrap().to_be_bytes();
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let mut entry = vec![0u8];
        entry.extend(u16_len(name.len()));
        entry.extend(name.as_bytes());
        let mut data = u16_len(entry.len()).to_vec();
        data.extend(entry);
        exts.extend(0u16.to_be_bytes());
        exts.extend(u16_len(data.len()));
        exts.extend(data);
    }
    for (kind, data) in extra {
        exts.extend(kind.to_be_bytes());
        exts.extend(u16_len(data.len()));
        exts.extend(data);
    }
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.push(0);
    body.extend([0, 2, 0x13, 0x01]);
    body.extend([1, 0]);
    body.extend(u16_len(exts.len()));
    body.extend(exts);
    let mut hs = vec![1];
    hs.extend(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend(u16_len(hs.len()));
    rec.extend(hs);
    rec
}

// ---------------------------------------------------------------------------------------------
// curl.

/// Runs `curl -q --silent --show-error` with `args`, with no proxy variables from the environment
/// and a time limit (a guard). Fails, rather than skipping, when curl is not installed.
pub fn curl(args: &[&str]) -> Output {
    let mut c = Command::new("curl");
    c.args(["-q", "--silent", "--show-error", "--max-time", "30"])
        .args(args);
    for v in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
        c.env_remove(v).env_remove(v.to_ascii_uppercase());
    }
    match c.output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`curl` is not installed: these tests drive the proxy with it (apt-get install curl)"
        ),
        Err(e) => panic!("cannot run curl: {e}"),
    }
}

/// [`curl`] that must succeed; its standard output.
pub fn curl_ok(args: &[&str]) -> Vec<u8> {
    let out = curl(args);
    assert!(
        out.status.success(),
        "curl {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
