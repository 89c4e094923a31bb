//! `qwarden submit`: run an OpenQASM circuit on the local backend and print its counts.
//!
//! A human's job takes the same path as an agent's native API request
//! ([`qwarden_gateway::native::Native::run`]): admitted (every local backend, no shot cap but
//! the simulator's own limits), run, its calibration stored in the CAS, and recorded in the
//! ledger as `job.submit` (or a refusal) with `source: "qwarden submit"`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use qwarden_gateway::admission::Admission;
use qwarden_gateway::local;
use qwarden_gateway::native::{Native, NativeError};
use qwarden_gateway::record::{Completed, JobSink, Refused, Submitted};
use qwarden_ledger::event::Event;
use qwarden_policy::Outcome;
use qwarden_policy::grant::{BackendGrant, QpuGrant};
use qwarden_policy::manifest::{BackendRef, Budget};
use qwarden_policy::profile::ProviderKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cli::SubmitArgs;
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// The job as the native path returns it.
#[derive(Deserialize)]
struct Job {
    id: String,
    shots: u64,
    seed: u64,
    method: String,
    counts: BTreeMap<String, u64>,
    qubits: u64,
    layout: Vec<u64>,
    circuit_digest: String,
    calibration_digest: Option<String>,
}

/// Writes what the job path reported to the ledger; a ledger that cannot be written is a
/// warning (the job itself has run), never silence.
fn record(dirs: &Dirs, sink: Collected) {
    let events = sink.0.into_inner().unwrap_or_default();
    if events.is_empty() {
        return;
    }
    let profile = match crate::commands::policy::load_profile(dirs, None, None) {
        Ok(p) => p.profile,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "qwarden: warning: this job was not recorded in the audit ledger: {e}"
            );
            return;
        }
    };
    for event in events {
        if let Err(e) = crate::record::record(dirs, &profile, &event) {
            let _ = writeln!(
                std::io::stderr().lock(),
                "qwarden: warning: this job was not recorded in the audit ledger: {e:#}"
            );
            return;
        }
    }
}

/// Circuits and calibration files larger than this are refused before reading.
const MAX_INPUT: u64 = 16 << 20;

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    let md = std::fs::metadata(path)
        .map_err(|e| Failure::invalid(anyhow!("cannot read {what} `{}`: {e}", path.display())))?;
    if md.len() > MAX_INPUT {
        return Err(Failure::invalid(anyhow!(
            "{what} `{}` is {} bytes, over the {MAX_INPUT}-byte limit",
            path.display(),
            md.len()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(anyhow!("cannot read {what} `{}`: {e}", path.display())))
}

#[derive(Serialize)]
struct Output<'a> {
    circuit: String,
    backend: &'a str,
    method: String,
    shots: u64,
    seed: u64,
    qubits: u64,
    layout: Vec<u64>,
    calibration: Option<String>,
    counts: BTreeMap<String, u64>,
    job_id: String,
    circuit_digest: String,
    calibration_digest: Option<String>,
    bundle: Option<String>,
}

/// What the job path reports, kept until the job is done and then written to the ledger; the
/// results go to the CAS (`cas`) so the job's bundle can be made from the ledger.
struct Collected(Mutex<Vec<Event>>, std::path::PathBuf);

impl JobSink for Collected {
    fn submitted(&self, job: Submitted) {
        if let Ok(mut events) = self.0.lock() {
            let details = json!({"api": "native", "source": "qwarden submit", "seed": job.seed});
            events.push(qwarden_session::submitted_event(job).with_details(details));
        }
    }

    fn refused(&self, job: Refused) {
        if let Ok(mut events) = self.0.lock() {
            events.push(qwarden_session::refused_event(job));
        }
    }

    fn completed(&self, job: Completed) {
        let Ok(mut cas) = qwarden_ledger::cas::DirCas::open(&self.1) else {
            return;
        };
        if let Ok(mut events) = self.0.lock() {
            // The job's submission was reported just before; it names the backend.
            let backend = events
                .iter()
                .find_map(|e| match &e.body {
                    qwarden_ledger::event::Body::JobSubmit(s)
                        if s.job_id.as_deref() == Some(job.job_id.as_str()) =>
                    {
                        Some(s.backend.clone())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            events.push(qwarden_session::bundles::completion_event(
                &mut cas, &job, &backend,
            ));
        }
    }
}

/// A human at the workstation may run any local job: the local provider spends nothing and
/// reaches no one. Only the simulator's own limits (memory, qubits) apply.
fn human_grant() -> QpuGrant {
    QpuGrant {
        providers: vec![],
        backends: vec![BackendGrant {
            backend: BackendRef {
                provider: "local".into(),
                backend: "*".into(),
            },
            kind: ProviderKind::Local,
            outcome: Outcome::Allow,
        }],
        max_shots: u64::MAX,
        budget: Budget {
            shots: u64::MAX,
            jobs: 1,
        },
    }
}

/// Runs the circuit through the native job path (admission, the local backend, the ledger);
/// prints a table of counts (or JSON).
pub fn run(dirs: &Dirs, args: &SubmitArgs) -> Result<Code, Failure> {
    let source = read(&args.file, "circuit")?;
    let calibration = match &args.calibration {
        Some(path) => Some(
            serde_json::from_str::<Value>(&read(path, "calibration")?).map_err(|e| {
                Failure::invalid(anyhow!(
                    "`{}`: the calibration is not JSON: {e}",
                    path.display()
                ))
            })?,
        ),
        None => None,
    };
    let seed = args.seed.unwrap_or_else(local::random_seed);
    let mut body = json!({
        "backend": args.backend.name(),
        "qasm": source,
        "shots": args.shots,
        "seed": seed,
    });
    if let (Some(c), Some(m)) = (calibration, body.as_object_mut()) {
        m.insert("calibration".into(), c);
    }
    let body = serde_json::to_vec(&body).map_err(|e| Failure::internal(anyhow!(e)))?;
    let native = Native::new(args.threads).with_calibrations(Arc::new(
        qwarden_session::CasCalibrations::new(dirs.state.join("cas")),
    ));
    let sink = Collected(Mutex::default(), dirs.state.join("cas"));
    let ran = native.run(&body, &Admission::new(human_grant()), &sink, None);
    record(dirs, sink);
    let calibration_path = || {
        args.calibration
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let job = ran.map_err(|e| match e {
        NativeError::Local(local::LocalError::NoiselessWithCalibration) => Failure::usage(anyhow!(
            "local:statevector is noiseless; drop --calibration `{}` or use local:noisy",
            calibration_path()
        )),
        NativeError::Local(local::LocalError::NoisyWithoutCalibration) => Failure::usage(anyhow!(
            "local:noisy needs --calibration FILE (IBM backend properties or an IonQ characterization)"
        )),
        NativeError::Local(local::LocalError::Circuit(m)) => {
            Failure::invalid(anyhow!("{}:{m}", args.file.display()))
        }
        NativeError::Local(e @ local::LocalError::Calibration(_)) => {
            Failure::invalid(anyhow!("`{}`: {e}", calibration_path()))
        }
        other => Failure::invalid(anyhow!("{}: {other}", args.file.display())),
    })?;
    let result: Job = serde_json::from_value(job)
        .map_err(|e| Failure::internal(anyhow!("the job's record is unreadable: {e}")))?;
    let bundle = bundle(dirs, &result.id);
    if args.json {
        crate::output::json(&Output {
            circuit: args.file.display().to_string(),
            backend: args.backend.name(),
            method: result.method.clone(),
            shots: result.shots,
            seed: result.seed,
            qubits: result.qubits,
            layout: result.layout.clone(),
            calibration: args.calibration.as_ref().map(|p| p.display().to_string()),
            counts: result.counts.clone(),
            job_id: result.id.clone(),
            circuit_digest: result.circuit_digest.clone(),
            calibration_digest: result.calibration_digest.clone(),
            bundle,
        })?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} shots on {} ({}), seed {seed}{}",
        args.file.display(),
        result.shots,
        args.backend.name(),
        result.method,
        args.calibration
            .as_ref()
            .map(|p| format!(", noise from {}", p.display()))
            .unwrap_or_default()
    )?;
    let mut rows: Vec<(&String, &u64)> = result.counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut table = crate::output::Table::new(&["OUTCOME", "COUNT", "PROBABILITY"]);
    for (k, v) in rows {
        table.row(vec![
            k.clone(),
            v.to_string(),
            format!("{:.4}", *v as f64 / result.shots.max(1) as f64),
        ]);
    }
    table.write(&mut out)?;
    if let Some(b) = bundle {
        writeln!(out, "bundle {b}")?;
    }
    Ok(Code::Ok)
}

/// Makes the job's reproducibility bundle from what was just recorded; a failure is a warning
/// (the job has run and is in the ledger; `qwarden bundle create` can try again).
fn bundle(dirs: &Dirs, job: &str) -> Option<String> {
    let made = crate::commands::policy::load_profile(dirs, None, None)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            qwarden_session::bundles::create_from_ledger(
                &dirs.state,
                crate::record::checkpoint_policy(&p.profile),
                job,
            )
        });
    match made {
        Ok(m) => Some(m.id),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "qwarden: warning: no reproducibility bundle was made for job {job}: {e}"
            );
            None
        }
    }
}
