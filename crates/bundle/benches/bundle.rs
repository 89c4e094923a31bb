//! What a reproducibility bundle costs, next to the job it records: measured on this machine and
//! printed as ratios (no pass/fail).
//!
//! `cargo bench -p qwarden-bundle --bench bundle` runs a 4,000-shot noisy Bell job on the local
//! simulator (ibm_lima's calibration, the job a bundle records: the anchor), then, each 20 times
//! with a warm page cache: proving its `job.submit` entry against the ledger's checkpoint and
//! making, signing and storing its bundle with new results each time (what the session's recorder
//! does per job: every object written and fsynced); verifying
//! the bundle (signature, every object, the proof, the entry); exporting it as a tar and reading
//! it back; and re-running it (the job again, plus the comparison). Prints the minimum, median and
//! maximum of each, and each median over the job's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use qwarden_bundle::job::{self, NewBundle, SessionInfo};
use qwarden_bundle::key::WorkstationKey;
use qwarden_bundle::rerun::{self, RerunOptions};
use qwarden_bundle::{archive, verify};
use qwarden_ledger::cas::{BlobStore, DirCas};
use qwarden_ledger::event::{Event, JobSubmit};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::CheckpointPolicy;
use qwarden_ledger::proof::Proof;
use qwarden_ledger::reader::LogReader;
use qwarden_sim::job::{Calibration, Job, LocalBackend};

const RUNS: usize = 20;
const SHOTS: u64 = 4000;
const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";
const LIMA: &str = include_str!("../../../examples/calibrations/ibm_lima_props.json");

fn time(mut f: impl FnMut()) -> Vec<Duration> {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2], times[times.len() - 1])
}

fn report(what: &str, times: Vec<Duration>, anchor: Option<Duration>) -> Duration {
    let (min, med, max) = median(times);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = anchor.map_or(String::new(), |a| {
        format!("  {:.2}× the job", med.as_secs_f64() / a.as_secs_f64())
    });
    println!(
        "{what:<40} min {:>7.2} ms  median {:>7.2} ms  max {:>7.2} ms{ratio}",
        ms(min),
        ms(med),
        ms(max)
    );
    med
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, and
    // then it measures nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ledger = LedgerHome::new(&state)
        .open(CheckpointPolicy::default())
        .unwrap();
    let mut cas = DirCas::open(state.join("cas")).unwrap();
    let key = WorkstationKey::from_seed([7; 32]);
    let calibration = Calibration::parse(LIMA.to_owned()).unwrap();
    let circuit = qwarden_sim::qasm::parse(BELL).unwrap();
    let run_job = || {
        qwarden_sim::job::run(&Job {
            circuit: &circuit,
            backend: LocalBackend::Noisy,
            shots: SHOTS,
            seed: 11,
            calibration: Some(&calibration),
            threads: 0,
            memory_limit: 1 << 30,
        })
        .unwrap()
    };
    let job_time = report(
        "the job: 4,000 noisy shots (anchor)",
        time(|| {
            run_job();
        }),
        None,
    );
    let counts = run_job().counts;

    let circuit_digest = cas.put(BELL.as_bytes()).unwrap();
    let calibration_digest = cas.put(LIMA.as_bytes()).unwrap();
    let entry = Event::new(
        qwarden_ledger::event::Timestamp::now(),
        JobSubmit {
            provider: "local".into(),
            backend: "noisy".into(),
            shots: SHOTS,
            circuit_digest,
            job_id: Some("job-bench".into()),
            calibration_digest: Some(calibration_digest),
            request_digest: None,
        },
    )
    .with_details(serde_json::json!({ "seed": 11 }))
    .with_session("bench")
    .with_agent("bench")
    .to_jcs(&mut cas)
    .unwrap();
    let index = ledger.append(entry.clone()).unwrap();
    let session = SessionInfo {
        id: "bench".into(),
        agent: "bench".into(),
        manifest_digest: "sha256:00".into(),
        tier: "sandbox".into(),
    };
    // Every bundle is new, as every job's is: its own results and completion time, so each
    // round writes (and fsyncs) new objects rather than finding them stored.
    let mut round = 0u64;
    let mut make = |cas: &mut DirCas| {
        round += 1;
        let results =
            serde_json::to_vec(&serde_json::json!({ "counts": counts, "round": round })).unwrap();
        let reader = LogReader::open(ledger.root(), ledger.verifier()).unwrap();
        let proof = Proof::make(
            &reader.hashes(),
            index,
            &entry,
            reader.checkpoint_text(),
            reader.size(),
        )
        .unwrap()
        .to_text();
        job::create(
            &NewBundle {
                entry: &entry,
                index,
                origin: ledger.origin(),
                proof: &proof,
                api: "native",
                results: &results,
                counts: vec![counts.clone()],
                completed: format!("2026-11-27T00:00:00.{round:09}Z"),
                environment: None,
                session: session.clone(),
            },
            cas,
            &key,
        )
        .unwrap()
    };
    report(
        "prove + make + sign + store the bundle",
        time(|| {
            make(&mut cas);
        }),
        Some(job_time),
    );
    let made = make(&mut cas);
    let verifying = key.verifying();
    report(
        "verify it (signature, objects, proof, entry)",
        time(|| {
            assert!(verify::verify(&made.bytes, &cas, &verifying, ledger.verifier()).is_valid());
        }),
        Some(job_time),
    );
    let tar = dir.path().join("bundle.tar");
    report(
        "export it as a tar and read it back",
        time(|| {
            archive::export(
                &made.bytes,
                &made.predicate,
                &cas,
                "ssh-ed25519 AAAA",
                "vkey",
                &tar,
            )
            .unwrap();
            archive::read(&tar).unwrap();
        }),
        Some(job_time),
    );
    let opts = RerunOptions {
        drift: rerun::DEFAULT_DRIFT,
        seed: None,
        today: None,
        threads: 0,
        memory_limit: 1 << 30,
    };
    report(
        "re-run it (the job again + the comparison)",
        time(|| {
            let r = rerun::rerun(&made.predicate, &made.id, &cas, &opts).unwrap();
            assert_eq!(r.classification, rerun::Classification::Reproduced);
        }),
        Some(job_time),
    );
}
