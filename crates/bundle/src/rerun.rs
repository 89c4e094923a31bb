//! Re-run audits: a bundle's job executed again on the local backend, and a signed verdict on
//! whether it reproduces.
//!
//! - **Local jobs** re-run with the archived circuit, calibration, backend and seed. The local
//!   backend is deterministic, so the counts must be *identical*: anything else is `diverged`.
//! - **Provider jobs** (IBM SamplerV2 PUBs decoded from QPY, IonQ circuits) re-run on
//!   `local:noisy` with the archived calibration snapshot (`local:statevector` when there is
//!   none), the same shots per circuit, and a seed derived from the bundle id (or `--seed`), then
//!   the two distributions are compared with [`qwarden_sim::compare`]:
//!   `reproduced` when they agree within shot noise alone (TVD ≤ the shot-noise threshold at a
//!   false-failure rate of 10⁻³); `drifted` when they agree only once the configured drift
//!   allowance is added (the device moved away from its calibration snapshot, as real devices
//!   do between calibrations); `diverged` otherwise. The job's verdict is its worst circuit's.
//! - **Today's calibration** (`--calibration FILE`) re-runs the circuits a second time with that
//!   snapshot and reports how much of the distance it explains: `1 − TVD_today / TVD_archived`
//!   (0 when it explains nothing, 1 when today's calibration accounts for all of it).
//!
//! The verdict ([`RERUN_PREDICATE`]) is an in-toto statement about the bundle's envelope, signed
//! with the workstation key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use qwarden_ledger::cas::BlobStore;
use qwarden_sim::compare::{self, Verdict};
use qwarden_sim::job::{Calibration, Job, LocalBackend};
use qwarden_sim::{Circuit, Counts};

use crate::dsse::{self, Envelope, Statement, Subject};
use crate::job::{CircuitFormat, JobPredicate};
use crate::key::WorkstationKey;

/// The `predicateType` of a re-run verdict.
pub const RERUN_PREDICATE: &str = "https://example.invalid/qwarden/bundle/rerun/v1";

/// The drift allowance (in TVD) when none is given.
pub const DEFAULT_DRIFT: f64 = 0.1;

/// The largest decompressed QPY circuit read from a bundle.
const MAX_QPY: usize = 64 << 20;

/// How a re-run compares with the archived results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    /// The same (local jobs: identical counts; provider jobs: within shot noise).
    Reproduced,
    /// Within shot noise plus the drift allowance, not within shot noise alone.
    Drifted,
    /// Further apart than that (or, for a local job, any difference at all).
    Diverged,
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Classification::Reproduced => "reproduced",
            Classification::Drifted => "drifted",
            Classification::Diverged => "diverged",
        })
    }
}

/// What to re-run with.
#[derive(Debug, Clone)]
pub struct RerunOptions {
    /// The drift allowance, a TVD in [0, 1].
    pub drift: f64,
    /// Another seed than the archived (local) or derived (provider) one.
    pub seed: Option<u64>,
    /// Today's calibration snapshot (IBM properties or IonQ characterization JSON).
    pub today: Option<String>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// The simulator's memory limit in bytes.
    pub memory_limit: u64,
}

/// One circuit compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Shots.
    pub shots: u64,
    /// The archived counts' distance to the re-run's.
    pub tvd: f64,
    /// Qiskit's Hellinger fidelity between them.
    pub hellinger_fidelity: f64,
    /// The largest TVD shot noise alone explains.
    pub shot_noise_threshold: f64,
    /// The largest TVD that counts as drift.
    pub drift_threshold: f64,
    /// This circuit's verdict.
    pub classification: Classification,
    /// The re-run's counts.
    pub counts: Counts,
    /// The same with today's calibration, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<Box<Comparison>>,
}

/// A re-run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunReport {
    /// The bundle re-run (`sha256:` of its envelope).
    pub bundle: String,
    /// The job.
    pub job_id: String,
    /// `exact` (local jobs) or `statistical` (provider jobs).
    pub comparison: String,
    /// Where it re-ran, e.g. `local:noisy`.
    pub backend: String,
    /// The seed used.
    pub seed: u64,
    /// The archived calibration used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    /// Today's calibration, if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today_calibration: Option<String>,
    /// The drift allowance.
    pub drift_allowance: f64,
    /// One per circuit.
    pub circuits: Vec<Comparison>,
    /// The job's verdict: its worst circuit's.
    pub classification: Classification,
    /// How much of the archived distance today's calibration explains, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explained_by_today: Option<f64>,
    /// The time of the re-run (RFC 3339).
    pub time: String,
}

/// Why a bundle could not be re-run.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    /// An object is missing or modified.
    #[error("{0}\n  hint: `qwarden bundle verify` shows which part of the bundle is damaged")]
    Object(String),
    /// The circuit cannot be run by the local simulator.
    #[error("the bundle's circuit cannot be re-run on the local simulator: {0}")]
    Circuit(String),
    /// The simulator refused.
    #[error("the local simulator refused the re-run: {0}")]
    Simulator(String),
    /// The options are wrong.
    #[error("{0}")]
    Options(String),
}

/// The circuits of a bundle, as the local simulator runs them.
fn circuits(p: &JobPredicate, bytes: &[u8]) -> Result<Vec<Circuit>, RerunError> {
    let bad = |m: String| RerunError::Circuit(m);
    match p.circuit.format {
        CircuitFormat::Openqasm => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8".into()))?;
            qwarden_sim::qasm::parse(text)
                .map(|c| vec![c])
                .map_err(|e| bad(e.to_string()))
        }
        CircuitFormat::QiskitSamplerPubs => {
            let pubs: Vec<Value> =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("not a PUB list: {e}")))?;
            let mut out = Vec::new();
            for (i, c) in pubs.iter().enumerate() {
                let qpy = c
                    .get("__value__")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("PUB {i} is not a QPY QuantumCircuit")))?;
                let raw = unwrap_b64_zlib(qpy).map_err(|e| bad(format!("PUB {i}: {e}")))?;
                let mut decoded =
                    qwarden_sim::qpy::parse(&raw).map_err(|e| bad(format!("PUB {i}: {e}")))?;
                if decoded.len() != 1 {
                    return Err(bad(format!(
                        "PUB {i} holds {} circuits, not one",
                        decoded.len()
                    )));
                }
                out.append(&mut decoded);
            }
            Ok(out)
        }
        CircuitFormat::IonqInput => {
            let input: Value =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
            qwarden_sim::ionq::parse(&input)
                .map(|c| vec![c])
                .map_err(|e| bad(e.to_string()))
        }
    }
}

fn unwrap_b64_zlib(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("not base64: {e}"))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_QPY)
        .map_err(|e| format!("not zlib data within {MAX_QPY} bytes: {:?}", e.status))
}

fn calibration(
    objects: &impl BlobStore,
    p: &JobPredicate,
) -> Result<Option<Calibration>, RerunError> {
    let Some(c) = &p.calibration else {
        return Ok(None);
    };
    let bytes = crate::verify::fetch(objects, &c.digest)
        .map_err(|e| RerunError::Object(format!("the calibration snapshot {}: {e}", c.digest)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| RerunError::Object("the calibration snapshot is not UTF-8".into()))?;
    Calibration::parse(text)
        .map(Some)
        .map_err(|e| RerunError::Circuit(e.to_string()))
}

/// A provider job's default seed: the first 53 bits of its bundle id, so a re-run of a re-run
/// gives the same counts.
fn derived_seed(bundle: &str) -> u64 {
    let hex = bundle.trim_start_matches("sha256:");
    u64::from_str_radix(hex.get(..16).unwrap_or("0"), 16).unwrap_or(0) >> 11
}

/// Re-runs the bundle `bundle` (whose verified predicate is `p`) with objects from `objects`.
pub fn rerun(
    p: &JobPredicate,
    bundle: &str,
    objects: &impl BlobStore,
    opts: &RerunOptions,
) -> Result<RerunReport, RerunError> {
    if !(0.0..=1.0).contains(&opts.drift) {
        return Err(RerunError::Options(format!(
            "the drift allowance must be a TVD in [0, 1], not {}",
            opts.drift
        )));
    }
    let bytes = crate::verify::fetch(objects, &p.circuit.digest)
        .map_err(|e| RerunError::Object(format!("the circuit {}: {e}", p.circuit.digest)))?;
    let circuits = circuits(p, &bytes)?;
    if circuits.len() != p.counts.len() {
        return Err(RerunError::Circuit(format!(
            "the bundle has {} circuit(s) but counts for {}",
            circuits.len(),
            p.counts.len()
        )));
    }
    let archived = calibration(objects, p)?;
    let today = match &opts.today {
        Some(t) => Some(
            Calibration::parse(t.clone())
                .map_err(|e| RerunError::Options(format!("today's calibration: {e}")))?,
        ),
        None => None,
    };
    let exact = p.circuit.format == CircuitFormat::Openqasm;
    let (backend, seed) = if exact {
        let backend: LocalBackend = p
            .job
            .backend
            .parse()
            .map_err(|e: qwarden_sim::job::JobError| RerunError::Circuit(e.to_string()))?;
        let seed = opts.seed.or(p.job.seed).ok_or_else(|| {
            RerunError::Circuit("the bundle records no seed; pass --seed to re-run it".into())
        })?;
        (backend, seed)
    } else {
        let backend = if archived.is_some() {
            LocalBackend::Noisy
        } else {
            LocalBackend::Statevector
        };
        (backend, opts.seed.unwrap_or_else(|| derived_seed(bundle)))
    };
    let run = |circuit: &Circuit, shots: u64, cal: Option<&Calibration>| {
        qwarden_sim::job::run(&Job {
            circuit,
            backend,
            shots,
            seed,
            calibration: cal,
            threads: opts.threads,
            memory_limit: opts.memory_limit,
        })
        .map(|o| o.counts)
        .map_err(|e| RerunError::Simulator(e.to_string()))
    };
    let mut compared = Vec::new();
    for (circuit, recorded) in circuits.iter().zip(&p.counts) {
        let shots: u64 = recorded.values().sum();
        let counts = run(circuit, shots, archived.as_ref())?;
        let mut c = compare_counts(recorded, counts, exact, opts.drift)?;
        if let Some(t) = &today {
            let counts = run(circuit, shots, Some(t))?;
            c.today = Some(Box::new(compare_counts(
                recorded, counts, exact, opts.drift,
            )?));
        }
        compared.push(c);
    }
    let classification = compared
        .iter()
        .map(|c| c.classification)
        .max()
        .unwrap_or(Classification::Reproduced);
    let explained_by_today = today.as_ref().map(|_| {
        let archived: f64 = compared.iter().map(|c| c.tvd).sum();
        let now: f64 = compared
            .iter()
            .filter_map(|c| c.today.as_ref().map(|t| t.tvd))
            .sum();
        if archived > 0.0 {
            (1.0 - now / archived).clamp(0.0, 1.0)
        } else {
            0.0
        }
    });
    Ok(RerunReport {
        bundle: bundle.to_owned(),
        job_id: p.job.job_id.clone(),
        comparison: if exact { "exact" } else { "statistical" }.to_owned(),
        backend: format!("local:{backend}"),
        seed,
        calibration: archived.map(|c| c.digest),
        today_calibration: today.map(|c| c.digest),
        drift_allowance: opts.drift,
        circuits: compared,
        classification,
        explained_by_today,
        time: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

fn compare_counts(
    recorded: &Counts,
    counts: Counts,
    exact: bool,
    drift: f64,
) -> Result<Comparison, RerunError> {
    let judge = |d: f64| -> Result<Verdict, RerunError> {
        compare::consistent(recorded, &counts, d).map_err(|e| RerunError::Options(e.to_string()))
    };
    let noise = judge(0.0)?;
    let drifted = judge(drift)?;
    let classification = if exact {
        if *recorded == counts {
            Classification::Reproduced
        } else {
            Classification::Diverged
        }
    } else if noise.pass {
        Classification::Reproduced
    } else if drifted.pass {
        Classification::Drifted
    } else {
        Classification::Diverged
    };
    Ok(Comparison {
        shots: recorded.values().sum(),
        tvd: noise.tvd,
        hellinger_fidelity: compare::hellinger_fidelity(recorded, &counts),
        shot_noise_threshold: noise.threshold,
        drift_threshold: drifted.threshold,
        classification,
        counts,
        today: None,
    })
}

/// The verdict as an in-toto statement about the bundle's envelope (`bundle_bytes`), signed with
/// the workstation key.
pub fn sign_verdict(
    report: &RerunReport,
    bundle_bytes: &[u8],
    key: &WorkstationKey,
) -> Result<Envelope, RerunError> {
    let predicate = serde_json::to_value(report).map_err(|e| RerunError::Options(e.to_string()))?;
    let statement = Statement::new(
        vec![Subject::of("bundle.dsse.json", bundle_bytes)],
        RERUN_PREDICATE,
        predicate,
    );
    dsse::sign_statement(&statement, key.signing()).map_err(|e| RerunError::Options(e.to_string()))
}
