//! Helpers shared by the doubles' tests: a minimal HTTP/1.1 client on `std::net` (so that tests
//! control every header and byte), the transcripts, and JSON shape comparison.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

/// A response as received.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection. `target` is the path with its query. `Host`,
/// `Content-Length` and `Connection: close` are added.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Resp {
        status,
        headers,
        body,
    }
}

pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    http(addr, "GET", target, headers, b"")
}

pub fn post_json(addr: SocketAddr, target: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut h = headers.to_vec();
    h.push(("Content-Type", "application/json"));
    http(addr, "POST", target, &h, body.to_string().as_bytes())
}

/// `shared/fixtures/`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// The exchanges of a transcript (`provider-traffic/<name>`).
pub fn transcript(name: &str) -> Vec<Value> {
    let path = fixtures().join("provider-traffic").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The sampler job body of `ibm-sampler-v2.jsonl` (a transpiled Bell circuit on `ibm_lima`,
/// 1000 shots).
pub fn transcript_sampler_job() -> Value {
    transcript("ibm-sampler-v2.jsonl")
        .into_iter()
        .find(|e| {
            e["request"]["method"] == "POST"
                && e["request"]["path"].as_str().unwrap().ends_with("/jobs")
        })
        .unwrap()["request"]["body"]
        .clone()
}

/// The IonQ job body of `ionq-bell.jsonl` (Bell circuit, simulator, 1000 shots).
pub fn transcript_ionq_job() -> Value {
    transcript("ionq-bell.jsonl")
        .into_iter()
        .find(|e| e["request"]["method"] == "POST")
        .unwrap()["request"]["body"]
        .clone()
}

/// Where two JSON documents differ in shape: for every key of `expected` (recursively), the
/// same key in `actual` with the same JSON type; arrays element by element over the shorter
/// length. `allowed(path)` names the paths where a difference is expected (documented
/// divergences of the transcripts' fake from the providers' documentation).
pub fn shape_differences(
    expected: &Value,
    actual: &Value,
    path: &str,
    allowed: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
) {
    if allowed(path) {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => shape_differences(ev, av, &p, allowed, out),
                    None if allowed(&p) => {}
                    None => out.push(format!("{p}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                shape_differences(ev, av, &format!("{path}[{i}]"), allowed, out);
            }
        }
        (e, a) if kind(e) == kind(a) => {}
        (e, a) => out.push(format!("{path}: expected {}, got {}", kind(e), kind(a))),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes `{"__type__": "ndarray", "__value__": <base64 zlib .npy>}` into (descr, shape, data).
pub fn decode_ndarray(v: &Value) -> (String, Vec<u64>, Vec<u8>) {
    assert_eq!(v["__type__"], "ndarray");
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(v["__value__"].as_str().unwrap())
        .unwrap();
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap();
    assert_eq!(&raw[..8], b"\x93NUMPY\x01\x00", "npy format 1.0");
    let hlen = u16::from_le_bytes([raw[8], raw[9]]) as usize;
    assert_eq!(
        (10 + hlen) % 64,
        0,
        "the npy preamble is a multiple of 64 bytes"
    );
    let header = std::str::from_utf8(&raw[10..10 + hlen]).unwrap();
    assert!(header.ends_with('\n'));
    let descr = header
        .split("'descr': '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (descr.to_owned(), shape, raw[10 + hlen..].to_vec())
}
