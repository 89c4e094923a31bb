//! Ledger throughput, measured on this machine and printed (no pass/fail).
//!
//! `cargo bench -p qwarden-ledger --bench ledger` runs: durable append throughput with group
//! commit (many threads, ~300-byte events), the p50/p99 latency of one durable append, `verify`
//! throughput from 10^4 up to `QWARDEN_BENCH_MAX` entries (default 10^6; 10^7 takes minutes and
//! ~3 GB of disk), and the time to make and check one inclusion proof. `QWARDEN_BENCH_ONLY=append`
//! runs only the append part. The ledger lives in a
//! temporary directory under `QWARDEN_BENCH_DIR` (default: the system temp dir), so point that at
//! the disk you care about.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::merkle;
use qwarden_ledger::note::NoteSigner;
use qwarden_ledger::proof::Proof;
use qwarden_ledger::reader::LogReader;
use qwarden_ledger::verify;

fn event(i: u64) -> Vec<u8> {
    // A realistic ~300-byte canonical event.
    format!(
        r#"{{"action":"connect","agent":"circuit-helper","kind":"policy.decision","outcome":"allow","policies":["network.profile-allowlist"],"reasons":["the host is in both the manifest and the workstation profile's egress allowlist"],"resource":"pypi.org:443 #{i:08}","time":"2026-11-27T02:44:40.338596272Z","v":1}}"#
    )
    .into_bytes()
}

fn tempdir() -> tempfile::TempDir {
    match std::env::var_os("QWARDEN_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn open(dir: &std::path::Path) -> Ledger {
    let signer = NoteSigner::generate("bench.example/qwarden/0").unwrap();
    Ledger::open(dir, signer, CheckpointPolicy::default()).unwrap()
}

fn group_commit(threads: u64, per_thread: u64) {
    let dir = tempdir();
    let ledger = Arc::new(open(dir.path()));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let l = ledger.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    l.append(event(t * per_thread + i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let n = threads * per_thread;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append, group commit   {threads:>4} threads  {n:>9} events  {:>10.0} events/s",
        n as f64 / secs
    );
}

fn batched(batch: usize, batches: usize) {
    let dir = tempdir();
    let ledger = open(dir.path());
    let entries: Vec<Vec<u8>> = (0..batch as u64).map(event).collect();
    let start = Instant::now();
    for _ in 0..batches {
        ledger.append_all(&entries).unwrap();
    }
    let n = batch * batches;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append_all             batch {batch:>5}  {n:>9} events  {:>10.0} events/s",
        n as f64 / secs
    );
}

fn latency(n: usize) {
    let dir = tempdir();
    let ledger = open(dir.path());
    let mut times: Vec<Duration> = (0..n as u64)
        .map(|i| {
            let t = Instant::now();
            ledger.append(event(i)).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "single durable append  p50 {:>8.3} ms   p99 {:>8.3} ms   ({n} sequential appends)",
        times[n / 2].as_secs_f64() * 1e3,
        times[n * 99 / 100].as_secs_f64() * 1e3
    );
}

fn verify_at(size: u64) {
    let dir = tempdir();
    let ledger = open(dir.path());
    let chunk = 4096u64;
    let mut i = 0;
    while i < size {
        let n = chunk.min(size - i);
        let entries: Vec<Vec<u8>> = (i..i + n).map(event).collect();
        ledger.append_all(&entries).unwrap();
        i += n;
    }
    let verifier = ledger.verifier().clone();
    let start = Instant::now();
    let report = verify::verify(dir.path(), &verifier, |_, _| Ok(())).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(report.is_valid());
    println!(
        "verify (integrity)     {size:>9} entries  {:>10.0} entries/s  ({secs:.3} s)",
        size as f64 / secs
    );
    let start = Instant::now();
    let report = verify::verify(dir.path(), &verifier, |_, b| {
        serde_json::from_slice::<serde_json::Value>(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(report.is_valid());
    println!(
        "verify (+ JSON parse)  {size:>9} entries  {:>10.0} entries/s  ({secs:.3} s)",
        size as f64 / secs
    );
    // What `qwarden audit verify` does per entry: a strict canonical event parse.
    let start = Instant::now();
    let report = verify::verify(dir.path(), &verifier, |_, b| {
        qwarden_ledger::event::Event::from_jcs(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(report.is_valid(), "{:?}", report.problems.first());
    println!(
        "verify (+ event check) {size:>9} entries  {:>10.0} entries/s  ({secs:.3} s)",
        size as f64 / secs
    );

    let reader = LogReader::open(dir.path(), &verifier).unwrap();
    let rounds = 200u64;
    let start = Instant::now();
    for r in 0..rounds {
        let index = (r * 7919) % size;
        let entry = reader.entry(index).unwrap();
        let proof = Proof::make(
            &reader.hashes(),
            index,
            &entry,
            reader.checkpoint_text(),
            size,
        )
        .unwrap();
        proof.verify(&verifier, &[], None).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / rounds as f64;
    println!(
        "proof make + verify    {size:>9} entries  {:>10.3} ms per proof",
        per * 1e3
    );
    let leaf = merkle::leaf_hash(&reader.entry(0).unwrap());
    let path = merkle::inclusion_proof(&reader.hashes(), 0, size).unwrap();
    let start = Instant::now();
    for _ in 0..1000 {
        merkle::verify_inclusion(&leaf, 0, size, &path, &reader.checkpoint().root).unwrap();
    }
    println!(
        "proof verify only      {size:>9} entries  {:>10.3} µs per proof",
        start.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    let max: u64 = std::env::var("QWARDEN_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "qwarden-ledger bench ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    latency(500);
    for threads in [1, 8, 64] {
        group_commit(threads, 20_000 / threads);
    }
    for batch in [100, 1000, 10_000] {
        batched(batch, (200_000 / batch).max(1));
    }
    // `QWARDEN_BENCH_ONLY=append` stops here, for quick comparisons of the write path.
    if std::env::var("QWARDEN_BENCH_ONLY").is_ok_and(|v| v == "append") {
        return;
    }
    let mut size = 10_000;
    while size <= max {
        verify_at(size);
        size *= 10;
    }
}
