//! How long the inventory takes to scan a real environment, measured on this machine and printed
//! (no pass/fail).
//!
//! `cargo bench -p qwarden-bundle --bench inventory` scans the venv at `QWARDEN_BENCH_VENV`
//! (default `/tmp/sdkvenv`; `bench/inventory.sh` makes one with qiskit) 20 times with a warm page
//! cache: reading every quantum package's `METADATA` and hashing its installed files against its
//! `RECORD` (`python::scan_env`), then a whole `collect` with the venv as the only search root
//! and an empty home. Prints the minimum, median and maximum of each.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use qwarden_bundle::inventory::{self, EnvKind, Options, python};

const RUNS: usize = 20;

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<44} min {:>7.1} ms  median {:>7.1} ms  max {:>7.1} ms  ({RUNS} runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, and
    // then it measures nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let venv = PathBuf::from(
        std::env::var_os("QWARDEN_BENCH_VENV").unwrap_or_else(|| "/tmp/sdkvenv".into()),
    );
    let Ok(venv) = std::fs::canonicalize(&venv) else {
        println!(
            "no venv at {}: set QWARDEN_BENCH_VENV or run bench/inventory.sh",
            venv.display()
        );
        return;
    };
    let env = python::scan_env(&venv, EnvKind::Venv);
    let checks: Vec<_> = env
        .quantum_packages
        .iter()
        .filter_map(|p| p.files.as_ref())
        .collect();
    let sum = |f: fn(&inventory::FileCheck) -> u64| checks.iter().map(|c| f(c)).sum::<u64>();
    let files = format!(
        "{} files hashed: {} ok, {} modified, {} missing; {} rows without a hash, {} refused",
        sum(|c| c.ok + c.modified + c.missing),
        sum(|c| c.ok),
        sum(|c| c.modified),
        sum(|c| c.missing),
        sum(|c| c.skipped),
        sum(|c| c.refused)
    );
    println!(
        "{}: Python {}, {} quantum packages ({}); {files}",
        venv.display(),
        env.python.as_deref().unwrap_or("?"),
        env.quantum_packages.len(),
        env.quantum_packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let scanned = python::scan_env(&venv, EnvKind::Venv);
        times.push(start.elapsed());
        assert_eq!(scanned, env);
    }
    report("scan the venv (METADATA + RECORD hashes)", times);
    let home = tempfile::tempdir().unwrap();
    let options = Options::new("sandbox", home.path(), vec![venv.clone()]);
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let inv = inventory::collect(&options);
        let digest = inv.digest().unwrap();
        times.push(start.elapsed());
        assert_eq!(digest.len(), 64);
    }
    report("whole inventory + canonical JSON + digest", times);
}
