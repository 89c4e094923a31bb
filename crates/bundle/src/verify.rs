//! Checking a job bundle offline: its signature, every object it names, and its tie to the
//! ledger.
//!
//! [`verify`] runs every check and reports each one, so a tampered bundle says exactly which
//! part is wrong. It trusts only the two keys it is given — the workstation's public key and the
//! ledger's verification key — never anything inside the bundle, and it needs no network.

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use qwarden_ledger::cas::{BlobStore, Digest, DigestError};
use qwarden_ledger::note::NoteVerifier;
use qwarden_ledger::proof::Proof;

use crate::dsse::{self, Envelope};
use crate::job::{self, JOB_PREDICATE, JobPredicate};

/// The largest envelope read.
pub const MAX_ENVELOPE_BYTES: usize = 8 << 20;

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `signature`, `circuit`, `ledger proof`.
    pub what: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was found (on failure, what is wrong).
    pub detail: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The predicate, when the signature verified and it parsed.
    #[serde(skip)]
    pub predicate: Option<JobPredicate>,
}

impl Verification {
    /// Whether every check held.
    pub fn is_valid(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

/// Parses an envelope's JSON.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(format!(
            "the envelope is {} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit",
            bytes.len()
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))
}

/// The predicate of a job bundle signed by `workstation`.
pub fn open(envelope: &[u8], workstation: &VerifyingKey) -> Result<JobPredicate, String> {
    let envelope = parse_envelope(envelope)?;
    let statement = dsse::verify_statement(&envelope, workstation).map_err(|e| e.to_string())?;
    if statement.predicate_type != JOB_PREDICATE {
        return Err(format!(
            "the statement's predicate is `{}`, not a job bundle ({JOB_PREDICATE})",
            statement
                .predicate_type
                .chars()
                .take(120)
                .collect::<String>()
        ));
    }
    let predicate: JobPredicate = serde_json::from_value(statement.predicate)
        .map_err(|e| format!("the job predicate is malformed: {e}"))?;
    let results_subject = statement.subject.iter().find(|s| s.name == "results");
    let expected_counts = dsse::Subject::of("counts.json", &job::counts_json(&predicate.counts));
    if !statement.subject.contains(&expected_counts) {
        return Err("the statement's `counts.json` subject does not match its counts".into());
    }
    let Some(results) = results_subject.and_then(|s| s.digest.get("sha256")) else {
        return Err("the statement has no `results` subject".into());
    };
    if format!("sha256:{results}") != predicate.results.digest {
        return Err("the `results` subject and the predicate's results differ".into());
    }
    Ok(predicate)
}

/// Fetches `digest` from `objects`, checking that the bytes still hash to it.
pub fn fetch(objects: &impl BlobStore, digest: &str) -> Result<Vec<u8>, String> {
    let d: Digest = digest.parse().map_err(|e: DigestError| e.to_string())?;
    objects.get(&d).map_err(|e| e.to_string())
}

/// Checks the bundle `envelope` against `objects` (the CAS, or an exported archive's objects),
/// the workstation key and the ledger's key.
pub fn verify(
    envelope: &[u8],
    objects: &impl BlobStore,
    workstation: &VerifyingKey,
    log: &NoteVerifier,
) -> Verification {
    let mut checks = Vec::new();
    let mut check = |what: &'static str, r: Result<String, String>| {
        let ok = r.is_ok();
        checks.push(Check {
            what,
            ok,
            detail: r.unwrap_or_else(|e| e),
        });
        ok
    };
    let predicate = match open(envelope, workstation) {
        Ok(p) => {
            check(
                "signature",
                Ok(format!(
                    "signed by workstation key {}",
                    dsse::keyid(workstation)
                        .chars()
                        .take(16)
                        .collect::<String>()
                )),
            );
            p
        }
        Err(e) => {
            check("signature", Err(e));
            return Verification {
                checks,
                predicate: None,
            };
        }
    };
    let p = &predicate;
    let object =
        |digest: &str| fetch(objects, digest).map(|b| format!("{digest} ({} bytes)", b.len()));
    check("circuit", object(&p.circuit.digest));
    if let Some(c) = &p.calibration {
        check("calibration", object(&c.digest));
    }
    if let Some(e) = &p.environment {
        check("environment manifest", object(&e.digest));
    }
    check("results", object(&p.results.digest));
    let entry = match proven_entry(p, objects, log) {
        Ok((entry, detail)) => {
            check("ledger proof", Ok(detail));
            Some(entry)
        }
        Err(e) => {
            check("ledger proof", Err(e));
            None
        }
    };
    if let Some(entry) = entry {
        check("submission", matches_submission(p, &entry));
    }
    Verification {
        checks,
        predicate: Some(predicate),
    }
}

/// The entry the bundle's proof proves, checked against the log key and the predicate's index,
/// origin and entry digest.
fn proven_entry(
    p: &JobPredicate,
    objects: &impl BlobStore,
    log: &NoteVerifier,
) -> Result<(Vec<u8>, String), String> {
    let text = fetch(objects, &p.ledger.proof.digest)?;
    let proof = Proof::parse(&text).map_err(|e| e.to_string())?;
    if proof.index != p.ledger.index {
        return Err(format!(
            "the proof is of entry {}, the bundle names entry {}",
            proof.index, p.ledger.index
        ));
    }
    let verified = proof.verify(log, &[], None).map_err(|e| e.to_string())?;
    if verified.checkpoint.origin != p.ledger.origin {
        return Err(format!(
            "the proof's log is `{}`, the bundle names `{}`",
            verified.checkpoint.origin, p.ledger.origin
        ));
    }
    if job::sha256(&verified.entry) != p.ledger.entry_digest {
        return Err("the proven entry is not the one the bundle names".into());
    }
    Ok((
        verified.entry,
        format!(
            "entry {} is in `{}` at tree size {}",
            p.ledger.index, verified.checkpoint.origin, verified.checkpoint.size
        ),
    ))
}

/// Whether the predicate says what the `job.submit` entry recorded.
fn matches_submission(p: &JobPredicate, entry: &[u8]) -> Result<String, String> {
    let job::Submission {
        job,
        circuit,
        calibration,
        session,
        agent,
    } = job::submission(entry, p.ledger.index, &p.job.api).map_err(|e| e.to_string())?;
    let mut wrong = Vec::new();
    let mut differs = |field: &str, recorded: String, bundled: String| {
        if recorded != bundled {
            wrong.push(format!(
                "{field}: the ledger recorded `{recorded}`, the bundle says `{bundled}`"
            ));
        }
    };
    differs("provider", job.provider, p.job.provider.clone());
    differs("backend", job.backend, p.job.backend.clone());
    differs("job id", job.job_id, p.job.job_id.clone());
    differs("shots", job.shots.to_string(), p.job.shots.to_string());
    differs(
        "seed",
        format!("{:?}", job.seed),
        format!("{:?}", p.job.seed),
    );
    differs("submitted", job.submitted, p.job.submitted.clone());
    differs("circuit", circuit, p.circuit.digest.clone());
    differs(
        "session",
        session.unwrap_or_else(|| job::MANUAL_SESSION.to_owned()),
        p.session.id.clone(),
    );
    // A job run by hand has no agent in the ledger; the bundle names the user who ran it.
    if let Some(agent) = agent {
        differs("agent", agent, p.session.agent.clone());
    }
    differs(
        "calibration",
        format!("{calibration:?}"),
        format!("{:?}", p.calibration.as_ref().map(|c| c.digest.clone())),
    );
    if wrong.is_empty() {
        Ok(format!(
            "job {} on {}:{} as recorded at entry {}",
            p.job.job_id, p.job.provider, p.job.backend, p.ledger.index
        ))
    } else {
        Err(wrong.join("; "))
    }
}
