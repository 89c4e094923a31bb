//! The witness end to end: the `tlog-witness` answers through the real HTTP server on
//! 127.0.0.1, persistence across restarts, and a real ledger pushed, grown, pushed again,
//! forked and truncated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::cosignature::{CosignatureVerifier, Cosigner};
use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::merkle::{self, Hash};
use qwarden_ledger::note::{Note, NoteSigner};
use qwarden_ledger::witness::{
    self, FileStore, ServerConfig, TreeHead, Witness, WitnessConfig, WitnessError, WitnessStore,
};

const ORIGIN: &str = "example.com/qwarden-log";
const WITNESS: &str = "witness.example/w1";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A witness server on its own thread and runtime, stopped (gracefully) on drop.
struct TestServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(witness: Arc<Witness>, config: ServerConfig) -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                witness::serve_with(listener, witness, config, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, prefix: &str) -> String {
        format!("http://{}{prefix}", self.addr)
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An HTTP answer read by a minimal client that shares no code with the server.
#[derive(Debug)]
struct Raw {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before reading a body it refuses.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the whole answer arrived (the server closed with our body unread).
            Err(_) if complete(&buf) => break,
            Err(e) => panic!("reading the answer failed: {e}; got {buf:?}"),
        }
        if complete(&buf) {
            break;
        }
    }
    parse_answer(&buf)
}

fn split_head(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&buf[..at], &buf[at + 4..]))
}

fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

fn complete(buf: &[u8]) -> bool {
    split_head(buf)
        .is_some_and(|(head, body)| content_length(head).is_some_and(|n| body.len() >= n))
}

fn parse_answer(buf: &[u8]) -> Raw {
    let (head, body) = split_head(buf).unwrap_or_else(|| panic!("no HTTP head in {buf:?}"));
    let head = String::from_utf8(head.to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let content_type = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_owned())
    });
    let n = content_length(head.as_bytes()).unwrap_or(body.len());
    Raw {
        status,
        content_type,
        body: body[..n].to_vec(),
    }
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Raw {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw_request(addr, &head, body)
}

fn leaves(seed: &str, n: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| merkle::leaf_hash(format!("{seed} entry {i}").as_bytes()))
        .collect()
}

/// The signed checkpoint of the first `size` leaves.
fn signed(signer: &NoteSigner, leaves: &[Hash], size: u64) -> String {
    let cp = Checkpoint {
        origin: signer.name().to_owned(),
        size,
        root: merkle::tree_hash(&leaves[..size as usize], size).unwrap(),
        extensions: Vec::new(),
    };
    checkpoint::sign(&cp, signer).unwrap()
}

/// An `add-checkpoint` body with the real consistency proof between `old` and `size`.
fn request(signer: &NoteSigner, leaves: &[Hash], old: u64, size: u64) -> Vec<u8> {
    let proof = merkle::consistency_proof(&leaves[..size as usize], old, size).unwrap();
    request_with_proof(old, &proof, &signed(signer, leaves, size))
}

fn request_with_proof(old: u64, proof: &[Hash], note: &str) -> Vec<u8> {
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&BASE64.encode(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body.into_bytes()
}

/// A witness over `store` that knows the log of `log`.
fn witness_with(
    store: impl WitnessStore + 'static,
    log: &NoteSigner,
    cosigner: Cosigner,
) -> Witness {
    let mut w = Witness::new(cosigner, store);
    w.add_log(log.name(), log.verifier()).unwrap();
    w
}

/// Checks that `answer` holds a valid cosignature of `note` by `verifier`.
fn assert_cosigned(note: &str, answer: &Raw, verifier: &CosignatureVerifier) -> u64 {
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let text = answer.text();
    assert!(
        text.starts_with("\u{2014} ") && text.ends_with('\n'),
        "{text}"
    );
    let cosigned = format!("{note}{text}");
    let parsed = Note::parse(cosigned.as_bytes()).unwrap();
    verifier.verify(&parsed).unwrap()
}

fn assert_conflict(answer: &Raw, size: u64) {
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert_eq!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(answer.body, format!("{size}\n").into_bytes());
}

// ---------------------------------------------------------------------------------------------
// The protocol through the HTTP server

#[test]
fn every_answer_of_the_specification_through_http() {
    let state = tempfile::tempdir().unwrap();
    let log = NoteSigner::generate(ORIGIN).unwrap();
    let cosigner = Cosigner::generate(WITNESS).unwrap();
    let wv = cosigner.verifier();
    let w = Arc::new(witness_with(
        FileStore::open(state.path()).unwrap(),
        &log,
        cosigner,
    ));
    let config = ServerConfig {
        prefix: "/w".to_owned(),
        max_body: 4096,
        ..ServerConfig::default()
    };
    let server = TestServer::start(w.clone(), config);
    let addr = server.addr;
    let path = "/w/add-checkpoint";
    let tree = leaves("main", 40);

    // 200: first checkpoint, from 0 with an empty proof; a valid cosignature.
    let note5 = signed(&log, &tree, 5);
    let ok = post(addr, path, &request(&log, &tree, 0, 5));
    assert_cosigned(&note5, &ok, &wv);
    assert_eq!(w.latest(ORIGIN).unwrap().unwrap().size, 5);

    // 409 with the witness's size, in the specification's content type.
    assert_conflict(&post(addr, path, &request(&log, &tree, 0, 8)), 5);
    assert_conflict(&post(addr, path, &request(&log, &tree, 3, 8)), 5);

    // 200 with a real proof from the witnessed size.
    let note8 = signed(&log, &tree, 8);
    assert_cosigned(&note8, &post(addr, path, &request(&log, &tree, 5, 8)), &wv);

    // 200 again for the same checkpoint (same size, same root, empty proof).
    assert_cosigned(&note8, &post(addr, path, &request(&log, &tree, 8, 8)), &wv);

    // 404: a log the witness does not know.
    let stranger = NoteSigner::generate("example.org/other-log").unwrap();
    let r = post(addr, path, &request(&stranger, &tree, 0, 3));
    assert_eq!(r.status, 404, "{}", r.text());

    // 403: the right origin, signed by another key.
    let impostor = NoteSigner::generate(ORIGIN).unwrap();
    let r = post(addr, path, &request(&impostor, &tree, 8, 12));
    assert_eq!(r.status, 403, "{}", r.text());

    // 422: a proof that does not lead from the witnessed root.
    let mut proof = merkle::consistency_proof(&tree[..12], 8, 12).unwrap();
    proof[0][0] ^= 1;
    let r = post(
        addr,
        path,
        &request_with_proof(8, &proof, &signed(&log, &tree, 12)),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // A proof from the old size when it must be empty is refused the same way.
    let r = post(addr, path, &request_with_proof(8, &[[0u8; 32]], &note8));
    assert_eq!(r.status, 422, "{}", r.text());

    // 409 (no size: resubmitting cannot help): the witnessed size with another root.
    let forked = leaves("fork", 40);
    let r = post(
        addr,
        path,
        &request_with_proof(8, &[], &signed(&log, &forked, 8)),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert!(r.text().contains("forked"), "{}", r.text());

    // A smaller checkpoint than the witnessed one: `old` (the witnessed size) is larger than
    // its size, which the specification answers with 400; claiming its own size gets 409.
    let r = post(
        addr,
        path,
        &request_with_proof(8, &[], &signed(&log, &tree, 5)),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_conflict(&post(addr, path, &request_with_proof(5, &[], &note5)), 8);

    // 400: malformed bodies.
    for bad in [
        &b"hello"[..],
        b"old 01\n\n",
        b"old 8\nnot base64\n\n",
        b"old 8\n",
        b"old 8\n\nnot a note\n",
    ] {
        let r = post(addr, path, bad);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
    }
    let r = post(
        addr,
        path,
        &request_with_proof(8, &[], "origin\n8\nnot a root\n\n\u{2014} x AAAAAAAA\n"),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // 413: a body over the limit, declared or chunked.
    let big = vec![b'x'; 10_000];
    let r = post(addr, path, &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let mut chunked = String::new();
    for _ in 0..10 {
        chunked.push_str(&format!("3e8\r\n{}\r\n", "y".repeat(1000)));
    }
    chunked.push_str("0\r\n\r\n");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let r = raw_request(addr, &head, chunked.as_bytes());
    assert_eq!(r.status, 413, "{}", r.text());

    // Routing: other paths 404, other methods 405.
    assert_eq!(
        post(addr, "/add-checkpoint", &request(&log, &tree, 8, 9)).status,
        404
    );
    let get = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_request(addr, &get, b"").status, 405);

    // After all the refusals the witness still holds size 8 and moves on from it.
    assert_eq!(w.latest(ORIGIN).unwrap().unwrap().size, 8);
    assert_cosigned(
        &signed(&log, &tree, 40),
        &post(addr, path, &request(&log, &tree, 8, 40)),
        &wv,
    );
    server.stop();
}

#[test]
fn keep_alive_connection_serves_several_requests() {
    let log = NoteSigner::generate(ORIGIN).unwrap();
    let state = tempfile::tempdir().unwrap();
    let cosigner = Cosigner::generate(WITNESS).unwrap();
    let wv = cosigner.verifier();
    let w = Arc::new(witness_with(
        FileStore::open(state.path()).unwrap(),
        &log,
        cosigner,
    ));
    let server = TestServer::start(w, ServerConfig::default());
    let tree = leaves("ka", 10);
    let mut s = TcpStream::connect(server.addr).unwrap();
    for (old, size) in [(0, 3), (3, 10)] {
        let body = request(&log, &tree, old, size);
        let head = format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !complete(&buf) {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed early");
            buf.push(byte[0]);
        }
        assert_cosigned(&signed(&log, &tree, size), &parse_answer(&buf), &wv);
    }
    drop(s);
    server.stop();
}

#[test]
fn witness_state_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let log = NoteSigner::generate(ORIGIN).unwrap();
    let cosigner_key = Cosigner::generate(WITNESS).unwrap().to_skey();
    let tree = leaves("main", 20);
    let forked = leaves("fork", 20);

    {
        let store = FileStore::open(state.path()).unwrap();
        // One process at a time: a second store on the same directory is refused.
        assert!(matches!(
            FileStore::open(state.path()),
            Err(witness::StoreError::Locked { .. })
        ));
        let cosigner = Cosigner::from_skey(&cosigner_key).unwrap();
        let w = Arc::new(witness_with(store, &log, cosigner));
        let server = TestServer::start(w, ServerConfig::default());
        let r = post(server.addr, "/add-checkpoint", &request(&log, &tree, 0, 10));
        assert_eq!(r.status, 200, "{}", r.text());
        server.stop();
    }

    let cosigner = Cosigner::from_skey(&cosigner_key).unwrap();
    let wv = cosigner.verifier();
    let w = Arc::new(witness_with(
        FileStore::open(state.path()).unwrap(),
        &log,
        cosigner,
    ));
    assert_eq!(
        w.latest(ORIGIN).unwrap(),
        Some(TreeHead {
            size: 10,
            root: merkle::tree_hash(&tree[..10], 10).unwrap()
        })
    );
    let server = TestServer::start(w, ServerConfig::default());
    // The restarted witness remembers size 10 ...
    assert_conflict(
        &post(
            server.addr,
            "/add-checkpoint",
            &request(&log, &forked, 0, 15),
        ),
        10,
    );
    // ... refuses a fork that grew past it ...
    let r = post(
        server.addr,
        "/add-checkpoint",
        &request(&log, &forked, 10, 15),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // ... and a fork of the same size ...
    let r = post(
        server.addr,
        "/add-checkpoint",
        &request(&log, &forked, 10, 10),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // ... but cosigns the real log's growth.
    let note = signed(&log, &tree, 20);
    assert_cosigned(
        &note,
        &post(
            server.addr,
            "/add-checkpoint",
            &request(&log, &tree, 10, 20),
        ),
        &wv,
    );
    server.stop();

    // The record is the submitted checkpoint, a valid signed note, under an escaped name.
    let record = state.path().join("example.com%2fqwarden-log.checkpoint");
    let (cp, _) = checkpoint::open(&std::fs::read(record).unwrap(), &log.verifier()).unwrap();
    assert_eq!(cp.size, 20);
}

#[test]
fn concurrent_requests_never_roll_the_witness_back() {
    let state = tempfile::tempdir().unwrap();
    let log = NoteSigner::generate(ORIGIN).unwrap();
    let w = Arc::new(witness_with(
        FileStore::open(state.path()).unwrap(),
        &log,
        Cosigner::generate(WITNESS).unwrap(),
    ));
    let tree = leaves("race", 64);
    assert_eq!(w.add_checkpoint(&request(&log, &tree, 0, 8), 1).status, 200);
    // Sixteen requests race, each proving a different size from 8: exactly one can win, and the
    // others must then see the new size.
    let handles: Vec<_> = (9..25)
        .map(|size| {
            let w = w.clone();
            let body = request(&log, &tree, 8, size);
            thread::spawn(move || (size, w.add_checkpoint(&body, 2)))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let won = winners[0];
    for (_, r) in results.iter().filter(|(_, r)| r.status != 200) {
        assert_eq!(r.status, 409);
        assert_eq!(r.body, format!("{won}\n").into_bytes());
    }
    assert_eq!(w.latest(ORIGIN).unwrap().unwrap().size, won);
}

#[test]
fn unknown_origins_and_bad_configuration() {
    let state = tempfile::tempdir().unwrap();
    let mut w = Witness::new(
        Cosigner::generate(WITNESS).unwrap(),
        FileStore::open(state.path()).unwrap(),
    );
    let log = NoteSigner::generate(ORIGIN).unwrap();
    assert!(w.add_log("", log.verifier()).is_err());
    assert!(w.add_log("a\nb", log.verifier()).is_err());
    // Before the log is added, its checkpoints are unknown.
    let tree = leaves("x", 4);
    assert_eq!(w.add_checkpoint(&request(&log, &tree, 0, 4), 1).status, 404);
    w.add_log(ORIGIN, log.verifier()).unwrap();
    assert_eq!(w.origins().collect::<Vec<_>>(), [ORIGIN]);
    assert_eq!(w.add_checkpoint(&request(&log, &tree, 0, 4), 1).status, 200);
}

// ---------------------------------------------------------------------------------------------
// A real ledger pushed to a witness

/// Appends one entry per index in `range`, as one batch (one round of fsyncs).
fn append(ledger: &Ledger, tag: &str, range: std::ops::Range<u64>) {
    let entries: Vec<Vec<u8>> = range
        .map(|i| format!("{{\"kind\":\"test\",\"tag\":\"{tag}\",\"i\":{i}}}").into_bytes())
        .collect();
    ledger.append_all(&entries).unwrap();
}

fn config(name: &str, server: &TestServer, verifier: CosignatureVerifier) -> WitnessConfig {
    WitnessConfig {
        name: name.to_owned(),
        url: server.url("/"),
        verifier,
    }
}

/// Runs `push` on a plain thread (it refuses to run inside an async runtime).
fn push(
    dir: &Path,
    log: &NoteSigner,
    w: &WitnessConfig,
) -> Result<witness::PushOutcome, WitnessError> {
    witness::push(dir, &log.verifier(), w)
}

fn assert_kept_note(dir: &Path, size: u64, log: &NoteSigner, witnesses: &[&CosignatureVerifier]) {
    let bytes = std::fs::read(dir.join("checkpoints").join(size.to_string())).unwrap();
    let (cp, note) = checkpoint::open(&bytes, &log.verifier()).unwrap();
    assert_eq!(cp.size, size);
    assert_eq!(note.signatures().len(), 1 + witnesses.len());
    for w in witnesses {
        w.verify(&note).unwrap();
    }
    // Still a valid signed note for an independent implementation's parser too: the bytes
    // round-trip exactly.
    assert_eq!(Note::parse(&bytes).unwrap().to_bytes(), bytes);
}

#[test]
fn a_ledger_is_pushed_grown_and_pushed_again() {
    let ledger_dir = tempfile::tempdir().unwrap();
    let dir = ledger_dir.path();
    let log_key = NoteSigner::generate(ORIGIN).unwrap();
    let skey = log_key.to_skey();
    let ledger = Ledger::open(dir, log_key, CheckpointPolicy::default()).unwrap();
    let log = NoteSigner::from_skey(&skey).unwrap();

    let c1 = Cosigner::generate(WITNESS).unwrap();
    let c2 = Cosigner::generate("witness.example/w2").unwrap();
    let (v1, v2) = (c1.verifier(), c2.verifier());
    let s1 = tempfile::tempdir().unwrap();
    let s2 = tempfile::tempdir().unwrap();
    let w1 = TestServer::start(
        Arc::new(witness_with(FileStore::open(s1.path()).unwrap(), &log, c1)),
        ServerConfig::default(),
    );
    let w2 = TestServer::start(
        Arc::new(witness_with(FileStore::open(s2.path()).unwrap(), &log, c2)),
        ServerConfig::default(),
    );
    let cfg1 = config("w1", &w1, v1.clone());
    let cfg2 = config("w2", &w2, v2.clone());
    let both = [v1.clone(), v2.clone()];

    // Nothing to push before the first entry.
    assert!(matches!(
        push(dir, &log, &cfg1),
        Err(WitnessError::NoCheckpoint { .. })
    ));
    assert_eq!(witness::anchored(dir, &log.verifier(), &both), None);

    append(&ledger, "a", 0..10);
    assert_eq!(ledger.keep_checkpoint().unwrap().size, 10);
    let out = push(dir, &log, &cfg1).unwrap();
    assert_eq!(
        (out.size, out.previous_size, out.adopted_size),
        (10, 0, None)
    );
    assert_eq!(out.checkpoint_path, dir.join("checkpoints/10"));
    assert_kept_note(dir, 10, &log, &[&v1]);
    assert_eq!(witness::anchored(dir, &log.verifier(), &both), Some(10));
    assert_eq!(
        std::fs::read_to_string(dir.join("witness/w1.size")).unwrap(),
        "10\n"
    );

    // Grow across a tile boundary; the latest checkpoint is not kept yet: pushing keeps it.
    append(&ledger, "b", 10..300);
    let out = push(dir, &log, &cfg1).unwrap();
    assert_eq!((out.size, out.previous_size), (300, 10));
    assert_kept_note(dir, 300, &log, &[&v1]);
    assert_eq!(witness::anchored(dir, &log.verifier(), &both), Some(300));
    assert_eq!(
        witness::anchored(dir, &log.verifier(), std::slice::from_ref(&v2)),
        None
    );

    // A second witness, starting from 0; its cosignature joins the first one's.
    let out = push(dir, &log, &cfg2).unwrap();
    assert_eq!((out.size, out.previous_size), (300, 0));
    assert_kept_note(dir, 300, &log, &[&v1, &v2]);

    // Pushing again without growth re-cosigns (replacing the old line, not adding one).
    let out = push(dir, &log, &cfg1).unwrap();
    assert_eq!((out.size, out.previous_size), (300, 300));
    assert_kept_note(dir, 300, &log, &[&v1, &v2]);

    // The local record lost: the witness's 409 tells the size, which is adopted.
    append(&ledger, "c", 300..333);
    std::fs::remove_file(dir.join("witness/w1.size")).unwrap();
    let out = push(dir, &log, &cfg1).unwrap();
    assert_eq!(
        (out.size, out.previous_size, out.adopted_size),
        (333, 300, Some(300))
    );
    let anchors = witness::anchors(dir, &log.verifier(), &both).unwrap();
    assert_eq!(
        anchors.iter().map(|a| a.size).collect::<Vec<_>>(),
        [10, 300, 333]
    );
    assert_eq!(anchors[1].witnesses.len(), 2);

    // The ledger still opens and appends after all of this, and verifies as a signed log.
    drop(ledger);
    let ledger = Ledger::open(
        dir,
        NoteSigner::from_skey(&skey).unwrap(),
        CheckpointPolicy::default(),
    )
    .unwrap();
    append(&ledger, "d", 333..340);
    assert_eq!(push(dir, &log, &cfg1).unwrap().size, 340);
    assert_eq!(
        witness::truncation(dir, &log.verifier(), &both).unwrap(),
        None
    );
    w1.stop();
    w2.stop();
}

#[test]
fn a_forked_log_is_refused() {
    let log_key = NoteSigner::generate(ORIGIN).unwrap();
    let skey = log_key.to_skey();
    let log = NoteSigner::from_skey(&skey).unwrap();
    let cosigner = Cosigner::generate(WITNESS).unwrap();
    let wv = cosigner.verifier();
    let state = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        Arc::new(witness_with(
            FileStore::open(state.path()).unwrap(),
            &log,
            cosigner,
        )),
        ServerConfig::default(),
    );
    let cfg = config("w1", &server, wv.clone());

    let real = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(real.path(), log_key, CheckpointPolicy::default()).unwrap();
    append(&ledger, "real", 0..50);
    assert_eq!(push(real.path(), &log, &cfg).unwrap().size, 50);

    // Same key, different entries, same size: after adopting the witness's size (50 = its own),
    // the witness sees another root at the size it cosigned: 409, a fork.
    let fork_dir = tempfile::tempdir().unwrap();
    let fork = Ledger::open(
        fork_dir.path(),
        NoteSigner::from_skey(&skey).unwrap(),
        CheckpointPolicy::default(),
    )
    .unwrap();
    append(&fork, "fork", 0..50);
    match push(fork_dir.path(), &log, &cfg) {
        Err(WitnessError::Rejected {
            status: 409,
            message,
            ..
        }) => {
            assert!(message.contains("forked"), "{message}");
        }
        other => panic!("expected a 409 refusal, got {other:?}"),
    }

    // The fork grows past the witnessed size: its proof from 50 does not lead from the real
    // root: 422.
    append(&fork, "fork", 50..80);
    match push(fork_dir.path(), &log, &cfg) {
        Err(WitnessError::Rejected { status: 422, .. }) => {}
        other => panic!("expected a 422 refusal, got {other:?}"),
    }

    // A fork smaller than the witnessed size: the witness's size is larger than the ledger's.
    let small_dir = tempfile::tempdir().unwrap();
    let small = Ledger::open(
        small_dir.path(),
        NoteSigner::from_skey(&skey).unwrap(),
        CheckpointPolicy::default(),
    )
    .unwrap();
    append(&small, "small", 0..20);
    match push(small_dir.path(), &log, &cfg) {
        Err(WitnessError::WitnessAhead {
            witnessed: 50,
            size: 20,
            ..
        }) => {}
        other => panic!("expected the witness to be ahead, got {other:?}"),
    }
    // None of them got a cosignature; the real log still does.
    assert_eq!(
        witness::anchored(fork_dir.path(), &log.verifier(), std::slice::from_ref(&wv)),
        None
    );
    append(&ledger, "real", 50..60);
    assert_eq!(push(real.path(), &log, &cfg).unwrap().size, 60);
    server.stop();
}

#[test]
fn truncation_below_a_witnessed_size_is_reported() {
    let dir_holder = tempfile::tempdir().unwrap();
    let dir = dir_holder.path();
    let log_key = NoteSigner::generate(ORIGIN).unwrap();
    let skey = log_key.to_skey();
    let log = NoteSigner::from_skey(&skey).unwrap();
    let cosigner = Cosigner::generate(WITNESS).unwrap();
    let wv = cosigner.verifier();
    let state = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        Arc::new(witness_with(
            FileStore::open(state.path()).unwrap(),
            &log,
            cosigner,
        )),
        ServerConfig::default(),
    );
    let cfg = config("w1", &server, wv.clone());
    let ledger = Ledger::open(dir, log_key, CheckpointPolicy::default()).unwrap();
    append(&ledger, "t", 0..30);
    ledger.keep_checkpoint().unwrap();
    append(&ledger, "t", 30..70);
    assert_eq!(push(dir, &log, &cfg).unwrap().size, 70);
    drop(ledger);
    assert_eq!(
        witness::truncation(dir, &log.verifier(), std::slice::from_ref(&wv)).unwrap(),
        None
    );

    // Roll the log back to its (validly signed) checkpoint of size 30.
    let old = std::fs::read(dir.join("checkpoints/30")).unwrap();
    std::fs::write(dir.join("checkpoint"), &old).unwrap();
    let t = witness::truncation(dir, &log.verifier(), std::slice::from_ref(&wv))
        .unwrap()
        .unwrap();
    assert_eq!((t.latest_size, t.anchored_size), (30, 70));
    assert_eq!(t.witnesses, [WITNESS]);
    // Pushing the rolled-back log is refused before anything is sent.
    assert!(matches!(
        push(dir, &log, &cfg),
        Err(WitnessError::WitnessAhead {
            witnessed: 70,
            size: 30,
            ..
        })
    ));
    // Even with the local record gone, the witness itself reports the larger size.
    std::fs::remove_file(dir.join("witness/w1.size")).unwrap();
    assert!(matches!(
        push(dir, &log, &cfg),
        Err(WitnessError::WitnessAhead {
            witnessed: 70,
            size: 30,
            ..
        })
    ));

    // The latest checkpoint deleted outright: truncated to nothing.
    std::fs::remove_file(dir.join("checkpoint")).unwrap();
    let t = witness::truncation(dir, &log.verifier(), &[wv])
        .unwrap()
        .unwrap();
    assert_eq!((t.latest_size, t.anchored_size), (0, 70));
    server.stop();
}

#[test]
fn client_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let log = NoteSigner::generate(ORIGIN).unwrap();
    let verifier = Cosigner::generate(WITNESS).unwrap().verifier();
    let https = WitnessConfig {
        name: "w".to_owned(),
        url: "https://witness.example/".to_owned(),
        verifier: verifier.clone(),
    };
    let err = push(dir.path(), &log, &https).unwrap_err();
    assert!(matches!(err, WitnessError::TlsNotSupported { .. }));
    assert!(err.to_string().contains("not supported yet"), "{err}");

    // Inside an async runtime `push` would block it: refused with advice.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let http = WitnessConfig {
        url: "http://127.0.0.1:9/".to_owned(),
        ..https
    };
    let err = rt
        .block_on(async { push(dir.path(), &log, &http) })
        .unwrap_err();
    assert!(matches!(err, WitnessError::InsideRuntime), "{err}");
}

#[test]
fn a_witness_that_does_not_know_the_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let key = NoteSigner::generate(ORIGIN).unwrap();
    let log = NoteSigner::from_skey(&key.to_skey()).unwrap();
    let ledger = Ledger::open(dir.path(), key, CheckpointPolicy::default()).unwrap();
    append(&ledger, "u", 0..3);
    let cosigner = Cosigner::generate(WITNESS).unwrap();
    let wv = cosigner.verifier();
    let state = tempfile::tempdir().unwrap();
    let w = Witness::new(cosigner, FileStore::open(state.path()).unwrap());
    let server = TestServer::start(Arc::new(w), ServerConfig::default());
    let err = push(dir.path(), &log, &config("w1", &server, wv.clone())).unwrap_err();
    assert!(
        matches!(err, WitnessError::Rejected { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("log.vkey"), "{err}");
    // A witness answering with another key's cosignature is not believed.
    let other = Cosigner::generate(WITNESS).unwrap();
    let state2 = tempfile::tempdir().unwrap();
    let server2 = TestServer::start(
        Arc::new(witness_with(
            FileStore::open(state2.path()).unwrap(),
            &log,
            other,
        )),
        ServerConfig::default(),
    );
    let err = push(dir.path(), &log, &config("w1", &server2, wv)).unwrap_err();
    assert!(matches!(err, WitnessError::BadCosignature { .. }), "{err}");
    assert!(!dir.path().join("checkpoints/3").exists());
    server.stop();
    server2.stop();
}
