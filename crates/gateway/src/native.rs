//! qwarden's own job API, for agents without a provider SDK and for `qwarden submit`:
//!
//! - `POST /v1/jobs` with `{"backend": "local:statevector", "qasm": "OPENQASM 3.0; …",
//!   "shots": 1000, "seed": 42, "calibration": {…}}` (`seed` and `calibration` optional; a
//!   calibration is IBM backend properties or an IonQ characterization, for the noisy local
//!   backends) answers `201` with the job;
//! - `GET /v1/jobs/{id}` answers the job again.
//!
//! A job is `{"id", "status": "completed", "backend", "shots", "seed", "method", "counts",
//! "circuit_digest", "calibration_digest"?}`. Errors are `{"error": {"code", "message"}}` with
//! 400 (malformed), 403 (refused by the grant), 404, 413 (too large) or 422 (the circuit or
//! calibration cannot run). Only the `local` provider runs here; jobs for other providers go
//! through their provider-compatible APIs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use qwarden_approvals::JobAction;

use crate::admission::{Admission, Admitted, JobRequest, Refusal, ShotSource, Shots};
use crate::gate::{Check, Gate};
use crate::local::{self, Calibration, LocalBackend, LocalError, LocalJob};
use crate::record::{Completed, JobSink, Refused, Submitted};
use crate::upstream::ionq::CalibrationStore;

/// The status of a job held for approval.
pub const PENDING: &str = "pending_approval";

fn new_id() -> String {
    format!(
        "job-{:016x}{:016x}",
        local::random_seed(),
        local::random_seed()
    )
}

/// The largest request body accepted.
pub const MAX_BODY: usize = 4 << 20;

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Value,
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply {
        status,
        body: json!({"error": {"code": code, "message": message.into()}}),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewJob {
    backend: String,
    qasm: String,
    shots: u64,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    calibration: Option<Value>,
}

/// Why a native job did not run. Every one has been reported to the [`JobSink`] as refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    /// The body is not a job.
    #[error("{0}")]
    Malformed(String),
    /// The grant refused it.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// Not a job for the local provider.
    #[error("the native API runs local jobs; submit to `{0}` through its own API")]
    Unsupported(String),
    /// The local backend cannot run it.
    #[error("{0}")]
    Local(LocalError),
}

impl NativeError {
    /// The answer for the HTTP API.
    fn reply(&self) -> Reply {
        let (status, code) = match self {
            NativeError::Malformed(_) => (400, "malformed"),
            NativeError::Refused(_) => (403, "refused"),
            NativeError::Unsupported(_) => (400, "unsupported"),
            NativeError::Local(LocalError::UnknownBackend(_)) => (400, "malformed"),
            NativeError::Local(_) => (422, "cannot_run"),
        };
        error(status, code, self.to_string())
    }
}

/// The native API's state: its jobs.
pub struct Native {
    jobs: Mutex<HashMap<String, Value>>,
    threads: usize,
    calibrations: Option<Arc<dyn CalibrationStore>>,
}

impl Native {
    /// A native API whose simulations use `threads` worker threads (0: all cores).
    pub fn new(threads: usize) -> Native {
        Native {
            jobs: Mutex::new(HashMap::new()),
            threads,
            calibrations: None,
        }
    }

    /// The same, storing every circuit and calibration a job runs with in `store` (the CAS), so
    /// the digests the ledger records can be resolved to them.
    pub fn with_calibrations(mut self, store: Arc<dyn CalibrationStore>) -> Native {
        self.calibrations = Some(store);
        self
    }

    /// `POST /v1/jobs`.
    pub fn submit(
        &self,
        body: &[u8],
        admission: &Admission,
        sink: &dyn JobSink,
        gate: Option<&Gate>,
    ) -> Reply {
        if body.len() > MAX_BODY {
            return error(
                413,
                "too_large",
                format!("the request body is over {MAX_BODY} bytes"),
            );
        }
        match self.run(body, admission, sink, gate) {
            Ok(job) if job.get("status").and_then(Value::as_str) == Some(PENDING) => Reply {
                status: 202,
                body: job,
            },
            Ok(job) => Reply {
                status: 201,
                body: job,
            },
            Err(e) => e.reply(),
        }
    }

    /// Admits and runs the job in `body` (the `POST /v1/jobs` JSON), recording it in `sink`;
    /// returns the job as `GET /v1/jobs/{id}` will show it. This is the one path every native
    /// job takes, from an agent's HTTP request or from `qwarden submit`. A job the tier says
    /// needs approval is held at `gate` (its status is `pending_approval`); without a gate it is
    /// refused.
    pub fn run(
        &self,
        body: &[u8],
        admission: &Admission,
        sink: &dyn JobSink,
        gate: Option<&Gate>,
    ) -> Result<Value, NativeError> {
        let job: NewJob = serde_json::from_slice(body).map_err(|e| {
            NativeError::Malformed(format!(
                "the body is not a job: {e}; send {{\"backend\", \"qasm\", \"shots\"}}"
            ))
        })?;
        let Some((provider, backend)) = job.backend.split_once(':') else {
            return Err(NativeError::Malformed(
                "backend is `provider:backend`, e.g. `local:statevector`".into(),
            ));
        };
        let refuse = |e: NativeError| {
            sink.refused(Refused {
                provider: provider.to_owned(),
                backend: backend.to_owned(),
                api: "native",
                reason: e.to_string(),
            });
            e
        };
        if job.shots == 0 {
            return Err(refuse(NativeError::Malformed(
                "shots must be at least 1".into(),
            )));
        }
        let request = JobRequest {
            provider: provider.to_owned(),
            backend: backend.to_owned(),
            circuits: vec![Shots {
                count: job.shots,
                source: ShotSource::Circuit,
            }],
        };
        let id = new_id();
        let unsupported = || NativeError::Unsupported(provider.to_owned());
        let admitted = match (admission.admit(&request), gate) {
            (Ok(a), _) if provider == "local" => a,
            (Ok(a), _) => {
                admission.release(a);
                return Err(refuse(unsupported()));
            }
            (Err(Refusal::NeedsApproval { .. }), _) if provider != "local" => {
                return Err(refuse(unsupported()));
            }
            (Err(Refusal::NeedsApproval { second_factor, .. }), Some(gate)) => {
                let admitted = admission
                    .admit_for_approval(&request)
                    .map_err(|e| refuse(NativeError::Refused(e)))?;
                return self
                    .hold(&id, &job, backend, body, admitted, second_factor, gate)
                    .inspect_err(|_| admission.release(admitted))
                    .map_err(refuse);
            }
            (Err(e), _) => return Err(refuse(NativeError::Refused(e))),
        };
        let ran = self.run_local(&id, &job, backend, body, provider, sink);
        match ran {
            Ok(out) => {
                if let (Some(id), Ok(mut jobs)) =
                    (out.get("id").and_then(Value::as_str), self.jobs.lock())
                {
                    jobs.insert(id.to_owned(), out.clone());
                }
                Ok(out)
            }
            Err(e) => {
                admission.release(admitted);
                Err(refuse(NativeError::Local(e)))
            }
        }
    }

    /// Holds a job for approval: its request names the circuit's digest and size, the shots and
    /// the exact body that will run.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; the parts of one held job"
    )]
    fn hold(
        &self,
        id: &str,
        job: &NewJob,
        backend: &str,
        body: &[u8],
        admitted: Admitted,
        second_factor: bool,
        gate: &Gate,
    ) -> Result<Value, NativeError> {
        let summary = match qwarden_sim::qasm::parse(&job.qasm) {
            Ok(c) => format!(
                "{} qubits, {} instructions, OpenQASM",
                c.num_qubits,
                c.instructions.len()
            ),
            Err(e) => return Err(NativeError::Local(LocalError::Circuit(e.to_string()))),
        };
        let action = JobAction {
            provider: "local".into(),
            backend: backend.to_owned(),
            circuit_digest: format!(
                "sha256:{}",
                hex::encode(Sha256::digest(job.qasm.as_bytes()))
            ),
            shots: job.shots,
            cost_estimate: None,
            request_digest: format!("sha256:{}", hex::encode(Sha256::digest(body))),
            summary,
        };
        let request = gate
            .hold(id, action, admitted, body.to_vec(), second_factor)
            .map_err(NativeError::Malformed)?;
        let pending = json!({
            "id": id,
            "status": PENDING,
            "backend": job.backend,
            "shots": job.shots,
            "approval_id": request.id,
            "retry_after": 5,
            "message": format!(
                "waiting for {} approval(s) of request {}: an approver runs `qwarden approvals show {}`; GET /v1/jobs/{id} until it is approved",
                request.rule.threshold, request.id, request.id
            ),
        });
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(id.to_owned(), pending.clone());
        }
        Ok(pending)
    }

    fn run_local(
        &self,
        id: &str,
        job: &NewJob,
        backend: &str,
        body: &[u8],
        provider: &str,
        sink: &dyn JobSink,
    ) -> Result<Value, LocalError> {
        let local_backend: LocalBackend = backend.parse()?;
        let calibration = match &job.calibration {
            Some(v) => Some(Calibration::parse(v.to_string())?),
            None => None,
        };
        let seed = job.seed.unwrap_or_else(local::random_seed);
        let result = local::run(&LocalJob {
            qasm: &job.qasm,
            backend: local_backend,
            shots: job.shots,
            seed,
            calibration: calibration.as_ref(),
            threads: self.threads,
            memory_limit: local::memory_limit(),
        })?;
        let mut out = json!({
            "id": id,
            "status": "completed",
            "backend": job.backend,
            "shots": result.shots,
            "seed": result.seed,
            "method": result.method,
            "counts": result.counts,
            "circuit_digest": result.circuit_digest,
            "qubits": result.qubits,
            "layout": result.layout,
        });
        if let (Some(c), Some(m)) = (&calibration, out.as_object_mut()) {
            m.insert("calibration_digest".into(), c.digest.clone().into());
            if let Some(store) = &self.calibrations {
                // Named by the same SHA-256 as the digest recorded.
                store.put(c.text.as_bytes());
            }
        }
        if let Some(store) = &self.calibrations {
            // The circuit as submitted, named by its digest, for the job's bundle.
            store.put(job.qasm.as_bytes());
        }
        sink.submitted(Submitted {
            provider: provider.to_owned(),
            backend: backend.to_owned(),
            shots: result.shots,
            circuit_digest: result.circuit_digest.clone(),
            job_id: id.to_owned(),
            calibration_digest: calibration.map(|c| c.digest),
            request_digest: format!("sha256:{}", hex::encode(Sha256::digest(body))),
            seed: Some(result.seed),
        });
        sink.completed(Completed {
            provider: provider.to_owned(),
            api: "native",
            job_id: id.to_owned(),
            results: serde_json::to_vec(&out).unwrap_or_default(),
            counts: vec![result.counts],
        });
        Ok(out)
    }

    /// `GET /v1/jobs/{id}`. A held job is looked at again: still pending (`202`), approved (it
    /// runs now), or refused (`403` with the reason).
    pub fn get(
        &self,
        id: &str,
        admission: &Admission,
        sink: &dyn JobSink,
        gate: Option<&Gate>,
    ) -> Reply {
        if let Some(check) = gate.and_then(|g| g.check(id, admission)) {
            return self.release(id, check, admission, sink, gate);
        }
        match self.jobs.lock().ok().and_then(|j| j.get(id).cloned()) {
            Some(job) => Reply {
                status: 200,
                body: job,
            },
            None => error(
                404,
                "not_found",
                format!(
                    "no job `{}` in this session",
                    id.chars().take(80).collect::<String>()
                ),
            ),
        }
    }

    fn release(
        &self,
        id: &str,
        check: Check,
        admission: &Admission,
        sink: &dyn JobSink,
        gate: Option<&Gate>,
    ) -> Reply {
        let stored = || self.jobs.lock().ok().and_then(|j| j.get(id).cloned());
        match check {
            Check::Waiting { .. } => Reply {
                status: 202,
                body: stored().unwrap_or_else(|| json!({"id": id, "status": PENDING})),
            },
            Check::Sent(_) => Reply {
                status: 200,
                body: stored().unwrap_or_else(|| json!({"id": id})),
            },
            Check::Refused { reason } => error(403, "not_approved", reason),
            Check::Release(held) => {
                let ran = serde_json::from_slice::<NewJob>(&held.body)
                    .map_err(|e| LocalError::Circuit(e.to_string()))
                    .and_then(|job| {
                        let backend = job.backend.split_once(':').map(|(_, b)| b.to_owned());
                        let backend = backend.unwrap_or_default();
                        self.run_local(id, &job, &backend, &held.body, "local", sink)
                    });
                match ran {
                    Ok(mut out) => {
                        if let Some(m) = out.as_object_mut() {
                            m.insert("approval_id".into(), held.request_id.clone().into());
                        }
                        if let Ok(mut jobs) = self.jobs.lock() {
                            jobs.insert(id.to_owned(), out.clone());
                        }
                        if let Some(g) = gate {
                            g.finish(id, Ok(id.to_owned()));
                        }
                        Reply {
                            status: 200,
                            body: out,
                        }
                    }
                    Err(e) => {
                        admission.release(held.admitted);
                        if let Some(g) = gate {
                            g.finish(id, Err(e.to_string()));
                        }
                        error(422, "cannot_run", e.to_string())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use qwarden_policy::Outcome;
    use qwarden_policy::grant::{BackendGrant, QpuGrant};
    use qwarden_policy::manifest::{BackendRef, Budget};
    use qwarden_policy::profile::ProviderKind;

    #[derive(Default)]
    struct Sink(Mutex<(Vec<Submitted>, Vec<Refused>)>);
    impl JobSink for Sink {
        fn submitted(&self, job: Submitted) {
            self.0.lock().unwrap().0.push(job);
        }
        fn refused(&self, job: Refused) {
            self.0.lock().unwrap().1.push(job);
        }
        fn completed(&self, _: Completed) {}
    }

    fn admission() -> Admission {
        Admission::new(QpuGrant {
            providers: vec![],
            backends: vec![BackendGrant {
                backend: BackendRef {
                    provider: "local".into(),
                    backend: "*".into(),
                },
                kind: ProviderKind::Local,
                outcome: Outcome::Allow,
            }],
            max_shots: 5000,
            budget: Budget {
                shots: 100_000,
                jobs: 10,
            },
        })
    }

    const BELL: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n";

    #[test]
    fn a_local_job_runs_is_recorded_and_can_be_fetched() {
        let (n, a, sink) = (Native::new(1), admission(), Sink::default());
        let body = json!({"backend": "local:statevector", "qasm": BELL, "shots": 1000, "seed": 5});
        let r = n.submit(body.to_string().as_bytes(), &a, &sink, None);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "completed");
        assert_eq!(r.body["seed"], 5);
        let counts = r.body["counts"].as_object().unwrap();
        assert_eq!(counts.keys().collect::<Vec<_>>(), ["00", "11"]);
        let id = r.body["id"].as_str().unwrap();
        assert_eq!(
            n.get(id, &a, &sink, None),
            Reply {
                status: 200,
                body: r.body.clone()
            }
        );
        let recorded = &sink.0.lock().unwrap().0;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].job_id, id);
        assert_eq!(recorded[0].shots, 1000);
        assert_eq!(a.used().jobs, 1);
    }

    #[test]
    fn refusals_answer_in_shape_and_are_recorded() {
        let (n, a, sink) = (Native::new(1), admission(), Sink::default());
        let cases = [
            (
                json!({"backend": "ibm:ibm_lima", "qasm": BELL, "shots": 10}),
                403,
                "refused",
            ),
            (
                json!({"backend": "local:statevector", "qasm": BELL, "shots": 5001}),
                403,
                "refused",
            ),
            (
                json!({"backend": "local:gpu", "qasm": BELL, "shots": 10}),
                400,
                "malformed",
            ),
            (
                json!({"backend": "local:statevector", "qasm": "OPENQASM 3.0; bogus;", "shots": 10}),
                422,
                "cannot_run",
            ),
            (
                json!({"backend": "local:noisy", "qasm": BELL, "shots": 10}),
                422,
                "cannot_run",
            ),
            (
                json!({"backend": "local:statevector", "qasm": BELL, "shots": 0}),
                400,
                "malformed",
            ),
        ];
        for (body, status, code) in &cases {
            let r = n.submit(body.to_string().as_bytes(), &a, &sink, None);
            assert_eq!(
                (r.status, r.body["error"]["code"].as_str().unwrap()),
                (*status, *code),
                "{body}: {}",
                r.body
            );
        }
        assert_eq!(sink.0.lock().unwrap().1.len(), cases.len());
        assert_eq!(
            a.used().jobs,
            0,
            "refused and failed jobs give their budget back"
        );
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"backend":"local:statevector","qasm":"","shots":1,"extra":1}"#,
            br#"{"backend":"nocolon","qasm":"","shots":1}"#,
        ] {
            assert_eq!(n.submit(bad, &a, &sink, None).status, 400);
        }
        assert_eq!(
            n.submit(&vec![b' '; MAX_BODY + 1], &a, &sink, None).status,
            413
        );
        assert_eq!(n.get("job-nope", &a, &sink, None).status, 404);
    }
}
