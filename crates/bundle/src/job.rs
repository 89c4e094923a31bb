//! A job's reproducibility bundle: an in-toto Statement v1 in a DSSE envelope, signed with the
//! workstation key, whose subjects are the job's results and whose predicate says everything
//! needed to check and re-run it.
//!
//! The predicate ([`JobPredicate`], type [`JOB_PREDICATE`]) names every object by SHA-256; the
//! objects live in the CAS (and in an exported archive): the circuit as submitted, the
//! calibration snapshot, the session's environment manifest, the raw results and the ledger
//! proof. The counts are inline. The proof is a C2SP `tlog-proof` of the job's `job.submit`
//! entry against a signed checkpoint, so the bundle is tied to what the ledger recorded at
//! submission: a bundle whose job, circuit, calibration, shots or seed differ from that entry
//! does not verify, even if the workstation key signed it.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use qwarden_ledger::cas::{BlobStore, Digest};
use qwarden_ledger::event::{Body, Event, Payload};
use qwarden_sim::Counts;

use crate::dsse::{self, Envelope, Statement, Subject};
use crate::key::WorkstationKey;

/// The `predicateType` of a job bundle.
pub const JOB_PREDICATE: &str = "https://example.invalid/qwarden/bundle/job/v1";

/// How the circuit of a job is written, by the API it came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitFormat {
    /// OpenQASM 2 or 3 text (the native API and `qwarden submit`).
    Openqasm,
    /// The canonical JSON array of a Qiskit Runtime SamplerV2 job's PUB circuits (QPY).
    QiskitSamplerPubs,
    /// The canonical JSON of an IonQ v0.4 job's `input`.
    IonqInput,
}

impl CircuitFormat {
    /// The format of circuits that came through `api` (`native`, `ibm`, `ionq`).
    pub fn of_api(api: &str) -> Option<CircuitFormat> {
        match api {
            "native" => Some(CircuitFormat::Openqasm),
            "ibm" => Some(CircuitFormat::QiskitSamplerPubs),
            "ionq" => Some(CircuitFormat::IonqInput),
            _ => None,
        }
    }
}

/// The job as the ledger recorded it at submission, plus when it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobInfo {
    /// The provider's name in the profile (`local`, `ibm`, …).
    pub provider: String,
    /// The backend.
    pub backend: String,
    /// The API it came through: `native`, `ibm` or `ionq`.
    pub api: String,
    /// The provider's job id.
    pub job_id: String,
    /// Total shots.
    pub shots: u64,
    /// The sampling seed (local jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// When it was submitted (the `job.submit` entry's time).
    pub submitted: String,
    /// When its results were received.
    pub completed: String,
}

/// An object in the CAS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
}

/// The circuit as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitRef {
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// How it is written.
    pub format: CircuitFormat,
}

/// Where the noise in the results came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseModel {
    /// None: an ideal simulation.
    Ideal,
    /// The local simulator's model built from the calibration snapshot.
    FromCalibration,
    /// A real device (or its test double): the snapshot is the calibration it last published.
    Device,
}

/// The session and agent the job belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// The agent's name.
    pub agent: String,
    /// `sha256:` of the agent's signed capability manifest.
    pub manifest_digest: String,
    /// The workstation tier.
    pub tier: String,
}

/// Where the job's submission is in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerRef {
    /// The log's origin line.
    pub origin: String,
    /// The `job.submit` entry's index.
    pub index: u64,
    /// `sha256:` of the entry's bytes.
    pub entry_digest: String,
    /// The `tlog-proof` of the entry (in the CAS).
    pub proof: Object,
}

/// Everything a job bundle says about its job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPredicate {
    /// The job.
    pub job: JobInfo,
    /// The circuit as submitted.
    pub circuit: CircuitRef,
    /// The calibration snapshot captured with the job, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Object>,
    /// Where the noise came from.
    pub noise_model: NoiseModel,
    /// The session's environment manifest, if one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Object>,
    /// The raw results as the provider (or the local backend) answered them.
    pub results: Object,
    /// Counts per circuit (per PUB for sampler jobs), classical bit 0 rightmost.
    pub counts: Vec<Counts>,
    /// The session and agent.
    pub session: SessionInfo,
    /// The submission's ledger entry.
    pub ledger: LedgerRef,
}

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The ledger entry is not a `job.submit` event.
    #[error("ledger entry {index} is not a job submission: {reason}")]
    NotASubmission {
        /// The index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// An object the bundle names is not in the CAS.
    #[error(
        "the {what} ({digest}) is not in the content-addressed store: {reason}\n  hint: a bundle can only be made while everything it names is stored; run `qwarden audit verify` to check the store"
    )]
    Missing {
        /// Which object.
        what: &'static str,
        /// Its digest.
        digest: String,
        /// Why.
        reason: String,
    },
    /// Storing failed.
    #[error("cannot store the bundle: {0}")]
    Store(String),
}

/// What a new bundle is made of, besides what the `job.submit` entry says.
#[derive(Debug, Clone)]
pub struct NewBundle<'a> {
    /// The `job.submit` entry's bytes, as logged.
    pub entry: &'a [u8],
    /// Its index.
    pub index: u64,
    /// The log's origin.
    pub origin: &'a str,
    /// The `tlog-proof` of the entry.
    pub proof: &'a [u8],
    /// The API the job came through (`native`, `ibm`, `ionq`).
    pub api: &'a str,
    /// The raw results.
    pub results: &'a [u8],
    /// Counts per circuit.
    pub counts: Vec<Counts>,
    /// When the results arrived (RFC 3339).
    pub completed: String,
    /// The session's environment manifest digest.
    pub environment: Option<String>,
    /// The session.
    pub session: SessionInfo,
}

/// A stored bundle: its id (the SHA-256 of the envelope's bytes) and the envelope.
#[derive(Debug, Clone)]
pub struct Made {
    /// `sha256:<hex>` of the envelope's bytes: the bundle's id.
    pub id: String,
    /// The envelope's bytes (also in the CAS).
    pub bytes: Vec<u8>,
    /// The predicate.
    pub predicate: JobPredicate,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The canonical bytes of counts, the subject `counts.json`.
pub fn counts_json(counts: &[Counts]) -> Vec<u8> {
    // BTreeMaps serialise with sorted keys and no floats are involved, so this is RFC 8785.
    serde_json::to_vec(counts).unwrap_or_default()
}

/// What a `job.submit` entry recorded.
pub(crate) struct Submission {
    /// The job.
    pub job: JobInfo,
    /// Its circuit digest.
    pub circuit: String,
    /// Its calibration digest.
    pub calibration: Option<String>,
    /// The session it belongs to (none: run by hand).
    pub session: Option<String>,
    /// The agent.
    pub agent: Option<String>,
}

/// The session id of jobs run by hand, outside any session.
pub const MANUAL_SESSION: &str = "manual";

/// The fields of a `job.submit` entry.
pub(crate) fn submission(entry: &[u8], index: u64, api: &str) -> Result<Submission, CreateError> {
    let not = |reason: String| CreateError::NotASubmission { index, reason };
    let event = Event::from_jcs(entry).map_err(|e| not(e.to_string()))?;
    let Body::JobSubmit(submit) = &event.body else {
        return Err(not(format!("it is a `{}` entry", event.kind())));
    };
    let seed = match &event.details {
        Some(Payload::Inline(v)) => v.get("seed").and_then(serde_json::Value::as_u64),
        _ => None,
    };
    let job = JobInfo {
        provider: submit.provider.clone(),
        backend: submit.backend.clone(),
        api: api.to_owned(),
        job_id: submit
            .job_id
            .clone()
            .ok_or_else(|| not("it has no job id".into()))?,
        shots: submit.shots,
        seed,
        submitted: event.time.to_string(),
        completed: String::new(),
    };
    Ok(Submission {
        job,
        circuit: submit.circuit_digest.to_string(),
        calibration: submit.calibration_digest.map(|d| d.to_string()),
        session: event.session.clone(),
        agent: event.agent.clone(),
    })
}

fn present(cas: &impl BlobStore, what: &'static str, digest: &str) -> Result<(), CreateError> {
    let missing = |reason: String| CreateError::Missing {
        what,
        digest: digest.to_owned(),
        reason,
    };
    let d: Digest = digest
        .parse()
        .map_err(|e: qwarden_ledger::cas::DigestError| missing(e.to_string()))?;
    cas.get(&d).map(|_| ()).map_err(|e| missing(e.to_string()))
}

/// Makes, signs and stores the bundle of the job whose submission is `new.entry`: the results
/// and the proof go into `cas`, then the envelope. Everything else it names (the circuit, the
/// calibration, the environment manifest) must be in `cas` already.
pub fn create(
    new: &NewBundle<'_>,
    cas: &mut impl BlobStore,
    key: &WorkstationKey,
) -> Result<Made, CreateError> {
    let Submission {
        mut job,
        circuit: circuit_digest,
        calibration,
        ..
    } = submission(new.entry, new.index, new.api)?;
    job.completed.clone_from(&new.completed);
    let format = CircuitFormat::of_api(new.api).ok_or_else(|| CreateError::NotASubmission {
        index: new.index,
        reason: format!("jobs of the `{}` API cannot be bundled", new.api),
    })?;
    present(cas, "circuit", &circuit_digest)?;
    if let Some(c) = &calibration {
        present(cas, "calibration snapshot", c)?;
    }
    if let Some(e) = &new.environment {
        present(cas, "environment manifest", e)?;
    }
    let mut put = |b: &[u8]| {
        cas.put(b)
            .map(|d| d.to_string())
            .map_err(|e| CreateError::Store(e.to_string()))
    };
    let results = put(new.results)?;
    let proof = put(new.proof)?;
    let noise_model = match (new.api, &calibration) {
        ("native", Some(_)) => NoiseModel::FromCalibration,
        ("native", None) => NoiseModel::Ideal,
        _ => NoiseModel::Device,
    };
    let predicate = JobPredicate {
        job,
        circuit: CircuitRef {
            digest: circuit_digest,
            format,
        },
        calibration: calibration.map(|digest| Object { digest }),
        noise_model,
        environment: new.environment.clone().map(|digest| Object { digest }),
        results: Object { digest: results },
        counts: new.counts.clone(),
        session: new.session.clone(),
        ledger: LedgerRef {
            origin: new.origin.to_owned(),
            index: new.index,
            entry_digest: sha256(new.entry),
            proof: Object { digest: proof },
        },
    };
    let envelope = sign(&predicate, new.results, key)?;
    let bytes =
        serde_json::to_vec_pretty(&envelope).map_err(|e| CreateError::Store(e.to_string()))?;
    let id = put(&bytes)?;
    Ok(Made {
        id,
        bytes,
        predicate,
    })
}

/// The subjects of a bundle: the raw results and the counts.
pub(crate) fn subjects(results: &[u8], counts: &[Counts]) -> Vec<Subject> {
    vec![
        Subject::of("results", results),
        Subject::of("counts.json", &counts_json(counts)),
    ]
}

fn sign(
    predicate: &JobPredicate,
    results: &[u8],
    key: &WorkstationKey,
) -> Result<Envelope, CreateError> {
    let value = serde_json::to_value(predicate).map_err(|e| CreateError::Store(e.to_string()))?;
    let statement = Statement::new(subjects(results, &predicate.counts), JOB_PREDICATE, value);
    dsse::sign_statement(&statement, key.signing()).map_err(|e| CreateError::Store(e.to_string()))
}
