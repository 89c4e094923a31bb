//! Job reproducibility bundles end to end, without the CLI: a real ledger and content-addressed
//! store in a temporary state directory, a Bell circuit run on the local noisy simulator with the
//! ibm_lima calibration, its `job.submit` entry appended and proven, and the bundle made, signed,
//! verified, exported, damaged part by part and re-run. A provider-style job carries the QPY
//! circuit the real Qiskit client sent (`provider-traffic/ibm-sampler-v2.jsonl`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use qwarden_bundle::archive::{self, ArchiveError};
use qwarden_bundle::dsse::{self, Envelope, Statement};
use qwarden_bundle::job::{
    self, CircuitFormat, CreateError, JOB_PREDICATE, Made, NewBundle, NoiseModel, SessionInfo,
};
use qwarden_bundle::key::{self, WorkstationKey};
use qwarden_bundle::rerun::{self, Classification, DEFAULT_DRIFT, RERUN_PREDICATE, RerunOptions};
use qwarden_bundle::verify::{self, Check, Verification};
use qwarden_ledger::cas::{BlobStore, Digest, DirCas};
use qwarden_ledger::event::{Event, JobSubmit, SessionStart, Timestamp};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::note::NoteVerifier;
use qwarden_ledger::proof::Proof;
use qwarden_ledger::reader::LogReader;
use qwarden_sim::job::{Calibration, Job, LocalBackend};
use qwarden_sim::{Circuit, Counts};

const PROPS_LIMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/ibm/props_lima.json"
);
const IBM_SAMPLER_TRAFFIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/provider-traffic/ibm-sampler-v2.jsonl"
);

const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

const SESSION: &str = "s1";
const AGENT: &str = "a";
const LOCAL_SEED: u64 = 7;
const LOCAL_SHOTS: u64 = 1000;
const LOCAL_JOB: &str = "local-0001";
const IBM_JOB: &str = "d4965e3803cb944afb87";
const MEMORY: u64 = 1 << 30;

/// The checks of a bundle with a calibration and an environment manifest, in order.
const ALL_CHECKS: [&str; 7] = [
    "signature",
    "circuit",
    "calibration",
    "environment manifest",
    "results",
    "ledger proof",
    "submission",
];

fn shared(path: &str) -> String {
    assert!(
        Path::new(path).exists(),
        "the shared fixture `{path}` is missing"
    );
    std::fs::read_to_string(path).unwrap()
}

fn lima() -> String {
    shared(PROPS_LIMA)
}

/// A fixed time, `seconds` after 2026-11-18T11:06:40Z.
fn at(seconds: i128) -> Timestamp {
    Timestamp::from_unix_nanos((1_795_000_000 + seconds) * 1_000_000_000).unwrap()
}

fn session() -> SessionInfo {
    SessionInfo {
        id: SESSION.into(),
        agent: AGENT.into(),
        manifest_digest: Digest::of(b"agent manifest").to_string(),
        tier: "sandbox".into(),
    }
}

/// The PUB circuits of the recorded `POST /jobs` body: `[{"__type__": "QuantumCircuit", ...}]`.
fn pub_circuits() -> Vec<u8> {
    let text = shared(IBM_SAMPLER_TRAFFIC);
    let body = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| l["request"]["body"].clone())
        .find(|b| b["params"]["pubs"].is_array())
        .unwrap();
    let circuits: Vec<Value> = body["params"]["pubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].clone())
        .collect();
    assert_eq!(circuits.len(), 1);
    let bytes = serde_json::to_vec(&Value::Array(circuits)).unwrap();
    assert!(
        bytes.starts_with(br#"[{"__type__":"QuantumCircuit","__value__":""#),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// The circuit inside the PUB list, as the local simulator runs it.
fn decode_pub_circuit(pubs: &[u8]) -> Circuit {
    let pubs: Vec<Value> = serde_json::from_slice(pubs).unwrap();
    let compressed = B64.decode(pubs[0]["__value__"].as_str().unwrap()).unwrap();
    let qpy = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap();
    let mut circuits = qwarden_sim::qpy::parse(&qpy).unwrap();
    assert_eq!(circuits.len(), 1);
    circuits.remove(0)
}

fn noisy_counts(circuit: &Circuit, calibration: &str, shots: u64, seed: u64) -> Counts {
    let calibration = Calibration::parse(calibration.to_owned()).unwrap();
    qwarden_sim::job::run(&Job {
        circuit,
        backend: LocalBackend::Noisy,
        shots,
        seed,
        calibration: Some(&calibration),
        threads: 1,
        memory_limit: MEMORY,
    })
    .unwrap()
    .counts
}

/// The ibm_lima properties with every readout error of every qubit raised by `by`.
fn raised_readout(by: f64) -> String {
    let mut props: Value = serde_json::from_str(&lima()).unwrap();
    let mut raised = 0;
    for qubit in props["qubits"].as_array_mut().unwrap() {
        for item in qubit.as_array_mut().unwrap() {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            if matches!(
                name.as_str(),
                "prob_meas0_prep1" | "prob_meas1_prep0" | "readout_error"
            ) {
                let v = item["value"].as_f64().unwrap();
                item["value"] = json!(v + by);
                raised += 1;
            }
        }
    }
    assert_eq!(raised, 15, "ibm_lima lists three readout figures per qubit");
    serde_json::to_string_pretty(&props).unwrap()
}

fn share(counts: &Counts, keys: &[&str]) -> f64 {
    let total: u64 = counts.values().sum();
    let hits: u64 = keys.iter().filter_map(|k| counts.get(*k)).sum();
    hits as f64 / total as f64
}

/// A job whose `job.submit` is in the ledger, with what its bundle is made of.
#[derive(Debug, Clone)]
struct Submitted {
    index: u64,
    entry: Vec<u8>,
    proof: Vec<u8>,
    api: &'static str,
    results: Vec<u8>,
    counts: Vec<Counts>,
    environment: Option<String>,
    circuit: String,
    calibration: String,
}

impl Submitted {
    fn new_bundle(&self) -> NewBundle<'_> {
        NewBundle {
            entry: &self.entry,
            index: self.index,
            origin: "",
            proof: &self.proof,
            api: self.api,
            results: &self.results,
            counts: self.counts.clone(),
            completed: at(300).to_string(),
            environment: self.environment.clone(),
            session: session(),
        }
    }
}

/// A workstation's state directory: its ledger (with a `session.start` at index 0), its CAS
/// and its workstation key.
struct Workstation {
    _dir: tempfile::TempDir,
    state: PathBuf,
    ledger: Ledger,
    cas: DirCas,
    key: WorkstationKey,
}

impl Workstation {
    fn new() -> Workstation {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let ledger = LedgerHome::new(&state)
            .open(CheckpointPolicy::default())
            .unwrap();
        let mut cas = DirCas::open(state.join("cas")).unwrap();
        let start = Event::new(
            at(0),
            SessionStart {
                manifest_digest: Digest::of(b"agent manifest"),
                grant_digest: Digest::of(b"grant"),
                env_digest: Digest::of(b"environment"),
                tier: "sandbox".into(),
                isolation: None,
            },
        )
        .with_session(SESSION)
        .with_agent(AGENT);
        let index = ledger.append(start.to_jcs(&mut cas).unwrap()).unwrap();
        assert_eq!(index, 0);
        Workstation {
            _dir: dir,
            state,
            ledger,
            cas,
            key: WorkstationKey::from_seed([7; 32]),
        }
    }

    fn append(&mut self, event: Event) -> (u64, Vec<u8>) {
        let entry = event.to_jcs(&mut self.cas).unwrap();
        let index = self.ledger.append(entry.clone()).unwrap();
        (index, entry)
    }

    /// The `tlog-proof` of entry `index` (claimed to be `entry`) at the latest checkpoint, as the
    /// session's bundler makes it.
    fn proof(&self, index: u64, entry: &[u8]) -> Vec<u8> {
        let reader = LogReader::open(self.ledger.root(), self.ledger.verifier()).unwrap();
        Proof::make(
            &reader.hashes(),
            index,
            entry,
            reader.checkpoint_text(),
            reader.size(),
        )
        .unwrap()
        .to_text()
    }

    /// A Bell circuit run on `local:noisy` with the ibm_lima calibration, submitted at `time`.
    fn local_job(&mut self, job_id: &str, seed: u64, time: i128) -> Submitted {
        let calibration_text = lima();
        let circuit = qwarden_sim::qasm::parse(BELL).unwrap();
        let counts = noisy_counts(&circuit, &calibration_text, LOCAL_SHOTS, seed);
        let circuit_digest = self.cas.put(BELL.as_bytes()).unwrap();
        let calibration_digest = self.cas.put(calibration_text.as_bytes()).unwrap();
        assert_eq!(
            calibration_digest.to_string(),
            Calibration::parse(calibration_text).unwrap().digest
        );
        let environment = self
            .cas
            .put(br#"{"python":"3.11.7","packages":{"qiskit":"2.6.2"}}"#)
            .unwrap();
        let submit = Event::new(
            at(time),
            JobSubmit {
                provider: "local".into(),
                backend: "noisy".into(),
                shots: LOCAL_SHOTS,
                circuit_digest,
                job_id: Some(job_id.into()),
                calibration_digest: Some(calibration_digest),
                request_digest: None,
            },
        )
        .with_details(json!({ "seed": seed }))
        .with_session(SESSION)
        .with_agent(AGENT);
        let (index, entry) = self.append(submit);
        let results = serde_json::to_vec(&json!({
            "job_id": job_id,
            "backend": "local:noisy",
            "shots": LOCAL_SHOTS,
            "seed": seed,
            "counts": counts,
        }))
        .unwrap();
        Submitted {
            index,
            proof: self.proof(index, &entry),
            entry,
            api: "native",
            results,
            counts: vec![counts],
            environment: Some(environment.to_string()),
            circuit: circuit_digest.to_string(),
            calibration: calibration_digest.to_string(),
        }
    }

    /// A SamplerV2 job of the recorded PUB circuit on ibm_lima whose device answered `counts`.
    fn ibm_job(&mut self, counts: Counts, time: i128) -> Submitted {
        let pubs = pub_circuits();
        let circuit_digest = self.cas.put(&pubs).unwrap();
        let calibration_digest = self.cas.put(lima().as_bytes()).unwrap();
        let shots: u64 = counts.values().sum();
        let submit = Event::new(
            at(time),
            JobSubmit {
                provider: "ibm".into(),
                backend: "ibm_lima".into(),
                shots,
                circuit_digest,
                job_id: Some(IBM_JOB.into()),
                calibration_digest: Some(calibration_digest),
                request_digest: Some(Digest::of(b"the POST /jobs body")),
            },
        )
        .with_session(SESSION)
        .with_agent(AGENT);
        let (index, entry) = self.append(submit);
        let results = serde_json::to_vec(&json!({
            "id": IBM_JOB,
            "backend": "ibm_lima",
            "pub_results": [{ "counts": counts }],
        }))
        .unwrap();
        Submitted {
            index,
            proof: self.proof(index, &entry),
            entry,
            api: "ibm",
            results,
            counts: vec![counts],
            environment: None,
            circuit: circuit_digest.to_string(),
            calibration: calibration_digest.to_string(),
        }
    }

    fn create(&mut self, new: &NewBundle<'_>) -> Made {
        self.create_with(new, &WorkstationKey::from_seed([7; 32]))
    }

    fn create_with(&mut self, new: &NewBundle<'_>, key: &WorkstationKey) -> Made {
        let origin = self.ledger.origin().to_owned();
        let new = NewBundle {
            origin: &origin,
            ..new.clone()
        };
        job::create(&new, &mut self.cas, key).unwrap()
    }

    fn bundle(&mut self, s: &Submitted) -> Made {
        self.create(&s.new_bundle())
    }

    fn verify(&self, envelope: &[u8]) -> Verification {
        verify::verify(
            envelope,
            &self.cas,
            &self.key.verifying(),
            self.ledger.verifier(),
        )
    }

    fn export(&self, made: &Made, out: &Path) {
        archive::export(
            &made.bytes,
            &made.predicate,
            &self.cas,
            &key::public_line(&self.key.verifying()),
            &self.ledger.verifier().to_vkey(),
            out,
        )
        .unwrap();
    }

    /// Makes the blob `digest` writable and replaces its bytes; returns the old ones.
    fn overwrite(&self, digest: &str, bytes: &[u8]) -> Vec<u8> {
        let path = self.cas.path_of(&digest.parse().unwrap());
        let old = std::fs::read(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, bytes).unwrap();
        old
    }
}

fn names(v: &Verification) -> Vec<&'static str> {
    v.checks.iter().map(|c| c.what).collect()
}

fn check<'a>(v: &'a Verification, what: &str) -> &'a Check {
    v.checks
        .iter()
        .find(|c| c.what == what)
        .unwrap_or_else(|| panic!("no `{what}` check in {:#?}", v.checks))
}

fn assert_valid(v: &Verification) {
    assert!(v.is_valid(), "{:#?}", v.checks);
}

/// Asserts that `what` is the one check that failed, every other check present held, and
/// returns what it says.
fn only_failure(v: &Verification, what: &str) -> String {
    let failed: Vec<&str> = v.checks.iter().filter(|c| !c.ok).map(|c| c.what).collect();
    assert_eq!(failed, [what], "{:#?}", v.checks);
    assert!(!v.is_valid());
    check(v, what).detail.clone()
}

fn envelope_of(bytes: &[u8]) -> Envelope {
    serde_json::from_slice(bytes).unwrap()
}

fn statement_of(bytes: &[u8]) -> Statement {
    serde_json::from_slice(&B64.decode(envelope_of(bytes).payload).unwrap()).unwrap()
}

/// A change to a predicate.
type Change = fn(&mut Value);

/// The envelope with its payload's predicate changed by `change` and its signature kept.
fn with_payload_changed(bytes: &[u8], change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut envelope = envelope_of(bytes);
    let mut payload: Value =
        serde_json::from_slice(&B64.decode(&envelope.payload).unwrap()).unwrap();
    change(&mut payload["predicate"]);
    envelope.payload = B64.encode(serde_json::to_vec(&payload).unwrap());
    serde_json::to_vec_pretty(&envelope).unwrap()
}

/// The statement with its predicate changed by `change`, signed again by `key`.
fn resigned(bytes: &[u8], key: &WorkstationKey, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut statement = statement_of(bytes);
    change(&mut statement.predicate);
    let envelope = dsse::sign_statement(&statement, key.signing()).unwrap();
    serde_json::to_vec_pretty(&envelope).unwrap()
}

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("`{}` not found", String::from_utf8_lossy(needle)))
}

/// The members of a tar file, in order.
fn tar_members(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// A ustar file of regular files.
fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut builder = tar::Builder::new(file);
    for (name, bytes) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

fn malformed(e: ArchiveError) -> String {
    assert!(matches!(e, ArchiveError::Malformed { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("is not a qwarden bundle archive") && text.contains("hint"),
        "{text}"
    );
    text
}

fn options() -> RerunOptions {
    RerunOptions {
        drift: DEFAULT_DRIFT,
        seed: None,
        today: None,
        threads: 0,
        memory_limit: MEMORY,
    }
}

// 1. Fresh bundles verify.

#[test]
fn a_fresh_local_bundle_verifies_from_the_store_and_from_its_archive() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    assert_eq!(job.index, 1);
    let made = ws.bundle(&job);

    let p = &made.predicate;
    assert_eq!(p.job.provider, "local");
    assert_eq!(p.job.backend, "noisy");
    assert_eq!(p.job.api, "native");
    assert_eq!(p.job.job_id, LOCAL_JOB);
    assert_eq!(p.job.shots, LOCAL_SHOTS);
    assert_eq!(p.job.seed, Some(LOCAL_SEED));
    assert_eq!(p.job.submitted, at(10).to_string());
    assert_eq!(p.job.completed, at(300).to_string());
    assert_eq!(p.circuit.digest, job.circuit);
    assert_eq!(p.circuit.format, CircuitFormat::Openqasm);
    assert_eq!(p.calibration.as_ref().unwrap().digest, job.calibration);
    assert_eq!(p.noise_model, NoiseModel::FromCalibration);
    assert_eq!(
        p.environment.as_ref().unwrap().digest,
        *job.environment.as_ref().unwrap()
    );
    assert_eq!(p.results.digest, job::sha256(&job.results));
    assert_eq!(p.counts, job.counts);
    assert_eq!(p.session, session());
    assert_eq!(p.ledger.origin, ws.ledger.origin());
    assert_eq!(p.ledger.index, 1);
    assert_eq!(p.ledger.entry_digest, job::sha256(&job.entry));
    assert_eq!(p.ledger.proof.digest, job::sha256(&job.proof));
    // The envelope is stored under its id, and its statement is about the results and counts.
    assert_eq!(made.id, job::sha256(&made.bytes));
    assert_eq!(verify::fetch(&ws.cas, &made.id).unwrap(), made.bytes);
    let statement = statement_of(&made.bytes);
    assert_eq!(statement.predicate_type, JOB_PREDICATE);
    let subjects: Vec<&str> = statement.subject.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subjects, ["results", "counts.json"]);

    let v = ws.verify(&made.bytes);
    assert_valid(&v);
    assert_eq!(names(&v), ALL_CHECKS);
    assert_eq!(v.predicate.as_ref(), Some(p));
    let keyid = dsse::keyid(&ws.key.verifying());
    assert!(
        check(&v, "signature").detail.contains(&keyid[..16]),
        "{v:#?}"
    );
    assert!(
        check(&v, "circuit").detail.starts_with(&job.circuit),
        "{v:#?}"
    );
    let proof = &check(&v, "ledger proof").detail;
    assert!(
        proof.contains("entry 1 is in") && proof.contains(ws.ledger.origin()),
        "{proof}"
    );
    assert_eq!(
        check(&v, "submission").detail,
        format!("job {LOCAL_JOB} on local:noisy as recorded at entry 1")
    );

    // The same bundle as an archive, checked against the archive's objects alone.
    let out = ws.state.join("bundle.tar");
    ws.export(&made, &out);
    let a = archive::read(&out).unwrap();
    assert_eq!(a.envelope, made.bytes);
    assert_eq!(
        a.objects.len(),
        5,
        "circuit, calibration, environment, results, proof"
    );
    let v = verify::verify(
        &a.envelope,
        &a.objects,
        &ws.key.verifying(),
        ws.ledger.verifier(),
    );
    assert_valid(&v);
    assert_eq!(names(&v), ALL_CHECKS);
}

#[test]
fn a_fresh_provider_bundle_verifies_from_the_store_and_from_its_archive() {
    let mut ws = Workstation::new();
    let pubs = decode_pub_circuit(&pub_circuits());
    let counts = noisy_counts(&pubs, &lima(), 1000, 11);
    assert_eq!(counts.values().sum::<u64>(), 1000);
    assert!(share(&counts, &["00", "11"]) > 0.9, "{counts:?}");
    let job = ws.ibm_job(counts, 20);
    let made = ws.bundle(&job);

    let p = &made.predicate;
    assert_eq!(p.job.provider, "ibm");
    assert_eq!(p.job.backend, "ibm_lima");
    assert_eq!(p.job.api, "ibm");
    assert_eq!(p.job.job_id, IBM_JOB);
    assert_eq!(p.job.shots, 1000);
    assert_eq!(p.job.seed, None);
    assert_eq!(p.circuit.format, CircuitFormat::QiskitSamplerPubs);
    assert_eq!(p.circuit.digest, job::sha256(&pub_circuits()));
    assert_eq!(p.noise_model, NoiseModel::Device);
    assert_eq!(p.environment, None);

    let v = ws.verify(&made.bytes);
    assert_valid(&v);
    let without_environment: Vec<&str> = ALL_CHECKS
        .into_iter()
        .filter(|c| *c != "environment manifest")
        .collect();
    assert_eq!(names(&v), without_environment);
    assert_eq!(
        check(&v, "submission").detail,
        format!("job {IBM_JOB} on ibm:ibm_lima as recorded at entry 1")
    );

    let out = ws.state.join("ibm.tar");
    ws.export(&made, &out);
    let a = archive::read(&out).unwrap();
    assert_eq!(a.objects.len(), 4);
    // Checked with the keys that travel inside the archive.
    let workstation = key::parse_public(a.workstation_pub.as_deref().unwrap()).unwrap();
    let log = NoteVerifier::from_vkey(a.log_vkey.as_deref().unwrap()).unwrap();
    let v = verify::verify(&a.envelope, &a.objects, &workstation, &log);
    assert_valid(&v);
    assert_eq!(names(&v), without_environment);
}

// 2. Each part tampered with.

#[test]
fn a_changed_payload_breaks_the_signature() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let changes: [(&str, Change); 4] = [
        ("shots", |p| p["job"]["shots"] = json!(2000)),
        ("seed", |p| p["job"]["seed"] = json!(8)),
        ("job id", |p| p["job"]["job_id"] = json!("local-0002")),
        ("ledger index", |p| p["ledger"]["index"] = json!(0)),
    ];
    for (field, change) in changes {
        let tampered = with_payload_changed(&made.bytes, change);
        let v = ws.verify(&tampered);
        assert_eq!(names(&v), ["signature"], "{field}: {:#?}", v.checks);
        let detail = only_failure(&v, "signature");
        assert!(
            detail.contains("no signature in the envelope verifies")
                && detail.contains("its payload was changed"),
            "{field}: {detail}"
        );
        assert!(v.predicate.is_none(), "{field}");
    }
}

#[test]
fn a_changed_signature_fails() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);

    let mut envelope = envelope_of(&made.bytes);
    let mut sig = B64.decode(&envelope.signatures[0].sig).unwrap();
    sig[10] ^= 0x01;
    envelope.signatures[0].sig = B64.encode(sig);
    let v = ws.verify(&serde_json::to_vec(&envelope).unwrap());
    assert_eq!(names(&v), ["signature"]);
    let detail = only_failure(&v, "signature");
    assert!(
        detail.contains("no signature in the envelope verifies"),
        "{detail}"
    );

    // A signature that is not base64, and none at all.
    envelope.signatures[0].sig = "not base64!".into();
    let v = ws.verify(&serde_json::to_vec(&envelope).unwrap());
    only_failure(&v, "signature");
    envelope.signatures.clear();
    let v = ws.verify(&serde_json::to_vec(&envelope).unwrap());
    only_failure(&v, "signature");

    // Not an envelope at all, and one over the size limit.
    let v = ws.verify(b"{\"hello\": 1}");
    let detail = only_failure(&v, "signature");
    assert!(detail.contains("not a DSSE envelope"), "{detail}");
    let v = ws.verify(&vec![b' '; verify::MAX_ENVELOPE_BYTES + 1]);
    let detail = only_failure(&v, "signature");
    assert!(detail.contains("-byte limit"), "{detail}");
}

#[test]
fn each_overwritten_object_fails_its_own_check() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let p = made.predicate.clone();
    let objects = [
        ("circuit", p.circuit.digest.clone()),
        ("calibration", p.calibration.clone().unwrap().digest),
        (
            "environment manifest",
            p.environment.clone().unwrap().digest,
        ),
        ("results", p.results.digest.clone()),
        ("ledger proof", p.ledger.proof.digest.clone()),
    ];
    for (what, digest) in objects {
        let old = ws.overwrite(&digest, b"other bytes");
        let v = ws.verify(&made.bytes);
        let detail = only_failure(&v, what);
        let hex = digest.trim_start_matches("sha256:");
        assert!(
            detail.contains(hex) && detail.contains("corrupt"),
            "{what}: {detail}"
        );
        let expected: Vec<&str> = if what == "ledger proof" {
            // Without a proven entry there is nothing to compare the predicate with.
            ALL_CHECKS
                .into_iter()
                .filter(|c| *c != "submission")
                .collect()
        } else {
            ALL_CHECKS.to_vec()
        };
        assert_eq!(names(&v), expected, "{what}");
        // Putting the bytes back repairs it: the damage was that object alone.
        ws.overwrite(&digest, &old);
        assert_valid(&ws.verify(&made.bytes));
    }
}

#[test]
fn each_deleted_object_is_reported_missing() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let p = made.predicate.clone();
    let objects = [
        ("circuit", p.circuit.digest.clone()),
        ("calibration", p.calibration.clone().unwrap().digest),
        (
            "environment manifest",
            p.environment.clone().unwrap().digest,
        ),
        ("results", p.results.digest.clone()),
        ("ledger proof", p.ledger.proof.digest.clone()),
    ];
    for (what, digest) in objects {
        let path = ws.cas.path_of(&digest.parse().unwrap());
        let old = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let v = ws.verify(&made.bytes);
        let detail = only_failure(&v, what);
        assert!(
            detail.contains("missing") && detail.contains(digest.trim_start_matches("sha256:")),
            "{what}: {detail}"
        );
        assert_eq!(ws.cas.put(&old).unwrap().to_string(), digest);
        assert_valid(&ws.verify(&made.bytes));
    }
}

#[test]
fn an_archive_with_a_modified_member_is_refused_naming_it() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let out = ws.state.join("bundle.tar");
    ws.export(&made, &out);
    let original = std::fs::read(&out).unwrap();

    // One byte of the circuit, changed inside the tar (its header stays valid).
    let mut bytes = original.clone();
    let at = position(&bytes, b"h q[0];");
    bytes[at] = b'x';
    let damaged = ws.state.join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let e = malformed(archive::read(&damaged).unwrap_err());
    let member = format!(
        "objects/sha256/{}",
        job.circuit.trim_start_matches("sha256:")
    );
    assert!(
        e.contains(&format!("object `{member}` was modified")),
        "{e}"
    );

    // Each object member replaced by other bytes.
    let members = tar_members(&out);
    for digest in archive::named_objects(&made.predicate) {
        let name = format!("objects/sha256/{}", digest.trim_start_matches("sha256:"));
        let changed: Vec<(String, Vec<u8>)> = members
            .iter()
            .map(|(n, b)| {
                if *n == name {
                    (n.clone(), b"other bytes".to_vec())
                } else {
                    (n.clone(), b.clone())
                }
            })
            .collect();
        write_tar(&damaged, &changed);
        let e = malformed(archive::read(&damaged).unwrap_err());
        assert!(
            e.contains(&format!("object `{name}` was modified"))
                && e.contains(&Digest::of(b"other bytes").to_string()),
            "{e}"
        );
    }

    // The envelope changed inside the archive: it reads, and its signature fails.
    let changed: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| {
            if n == archive::ENVELOPE {
                let b = with_payload_changed(b, |p| p["job"]["shots"] = json!(1));
                (n.clone(), b)
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    write_tar(&damaged, &changed);
    let a = archive::read(&damaged).unwrap();
    let v = verify::verify(
        &a.envelope,
        &a.objects,
        &ws.key.verifying(),
        ws.ledger.verifier(),
    );
    only_failure(&v, "signature");

    // Another key put in the archive: the archive reads, but that key is no trust anchor, and
    // the envelope does not verify with it.
    let other = WorkstationKey::from_seed([8; 32]);
    let changed: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| {
            if n == "workstation.pub" {
                (n.clone(), key::public_line(&other.verifying()).into_bytes())
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    write_tar(&damaged, &changed);
    let a = archive::read(&damaged).unwrap();
    let inside = key::parse_public(a.workstation_pub.as_deref().unwrap()).unwrap();
    assert_eq!(inside, other.verifying());
    let v = verify::verify(&a.envelope, &a.objects, &inside, ws.ledger.verifier());
    only_failure(&v, "signature");
}

// 3. The wrong key.

#[test]
fn another_workstation_key_does_not_verify() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);

    let other = WorkstationKey::from_seed([8; 32]);
    let v = verify::verify(
        &made.bytes,
        &ws.cas,
        &other.verifying(),
        ws.ledger.verifier(),
    );
    assert_eq!(names(&v), ["signature"]);
    let detail = only_failure(&v, "signature");
    assert!(
        detail.contains(&dsse::keyid(&other.verifying()))
            && detail.contains("signed by another key"),
        "{detail}"
    );

    // The same job signed by another key, checked against the real one.
    let forged = ws.create_with(&job.new_bundle(), &other);
    assert_eq!(forged.predicate, made.predicate);
    let v = ws.verify(&forged.bytes);
    assert_eq!(names(&v), ["signature"]);
    let detail = only_failure(&v, "signature");
    assert!(
        detail.contains(&dsse::keyid(&ws.key.verifying())),
        "{detail}"
    );
    // It is a perfectly good bundle of the other key.
    let v = verify::verify(
        &forged.bytes,
        &ws.cas,
        &other.verifying(),
        ws.ledger.verifier(),
    );
    assert_valid(&v);
}

// 4. A ledger proof that does not verify.

#[test]
fn a_proof_checked_against_another_ledgers_key_fails() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let elsewhere = Workstation::new();
    assert_ne!(elsewhere.ledger.origin(), ws.ledger.origin());

    let v = verify::verify(
        &made.bytes,
        &ws.cas,
        &ws.key.verifying(),
        elsewhere.ledger.verifier(),
    );
    let detail = only_failure(&v, "ledger proof");
    assert!(
        detail.contains("does not verify with the log key"),
        "{detail}"
    );
    assert_eq!(
        names(&v),
        [
            "signature",
            "circuit",
            "calibration",
            "environment manifest",
            "results",
            "ledger proof"
        ]
    );
}

#[test]
fn a_proof_with_an_altered_index_or_path_fails() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    // A later entry, so that the tree has siblings on both sides.
    let later = ws.local_job("local-0002", 8, 20);
    let job = Submitted {
        proof: ws.proof(job.index, &job.entry),
        ..job
    };
    assert_eq!((job.index, later.index), (1, 2));
    let proof = Proof::parse(&job.proof).unwrap();
    assert!(!proof.path.is_empty());

    // The proof says another index than the bundle.
    let mut other_index = proof.clone();
    other_index.index = 2;
    let text = other_index.to_text();
    let made = ws.create(&NewBundle {
        proof: &text,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert_eq!(detail, "the proof is of entry 2, the bundle names entry 1");

    // Proof and bundle both say index 2: the entry is not at that leaf.
    let made = ws.create(&NewBundle {
        proof: &text,
        index: 2,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert!(
        detail.contains("entry 2 is not included in the checkpointed tree of size 3"),
        "{detail}"
    );

    // A hash of the inclusion path altered.
    let mut bad_path = proof.clone();
    bad_path.path[0][0] ^= 0x80;
    let text = bad_path.to_text();
    let made = ws.create(&NewBundle {
        proof: &text,
        ..job.new_bundle()
    });
    let v = ws.verify(&made.bytes);
    let detail = only_failure(&v, "ledger proof");
    assert!(detail.contains("entry 1 is not included"), "{detail}");

    // A hash dropped from the path.
    let mut short = proof.clone();
    short.path.pop();
    let text = short.to_text();
    let made = ws.create(&NewBundle {
        proof: &text,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert!(detail.contains("entry 1 is not included"), "{detail}");

    // The entry carried in the proof replaced by the later job's entry.
    let mut other_extra = proof.clone();
    other_extra.extra = Some(later.entry.clone());
    let text = other_extra.to_text();
    let made = ws.create(&NewBundle {
        proof: &text,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert!(detail.contains("entry 1 is not included"), "{detail}");

    // The proof's text itself is not a proof.
    let made = ws.create(&NewBundle {
        proof: b"c2sp.org/tlog-proof@v1\nindex 01\n\n",
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert!(detail.contains("not a valid tlog proof"), "{detail}");

    // The proof as made still verifies.
    let made = ws.bundle(&job);
    assert_valid(&ws.verify(&made.bytes));
}

#[test]
fn a_bundle_naming_another_ledger_entry_than_its_job_fails() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let other = ws.local_job("local-0002", 8, 20);

    // The job's entry under the session start's index, with the job's own proof.
    let made = ws.create(&NewBundle {
        index: 0,
        ..job.new_bundle()
    });
    assert_eq!(made.predicate.ledger.index, 0);
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert_eq!(detail, "the proof is of entry 1, the bundle names entry 0");

    // The same with a proof of index 0 built around the job's entry.
    let proof = ws.proof(0, &job.entry);
    let made = ws.create(&NewBundle {
        index: 0,
        proof: &proof,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert!(detail.contains("entry 0 is not included"), "{detail}");

    // The job's entry with the other job's index and its (valid) proof: what is proven is not
    // the entry the bundle names.
    let made = ws.create(&NewBundle {
        index: other.index,
        proof: &other.proof,
        ..job.new_bundle()
    });
    let detail = only_failure(&ws.verify(&made.bytes), "ledger proof");
    assert_eq!(detail, "the proven entry is not the one the bundle names");

    // A bundle cannot be made of an entry that is no job submission.
    let start = LogReader::open(ws.ledger.root(), ws.ledger.verifier())
        .unwrap()
        .entry(0)
        .unwrap();
    let proof = ws.proof(0, &start);
    let origin = ws.ledger.origin().to_owned();
    let e = job::create(
        &NewBundle {
            entry: &start,
            index: 0,
            origin: &origin,
            proof: &proof,
            ..job.new_bundle()
        },
        &mut ws.cas,
        &ws.key,
    )
    .unwrap_err();
    assert!(
        matches!(e, CreateError::NotASubmission { index: 0, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("`session.start`"), "{e}");
}

#[test]
fn a_bundle_cannot_be_made_while_an_object_it_names_is_not_stored() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let origin = ws.ledger.origin().to_owned();
    let cases = [
        ("circuit", job.circuit.clone()),
        ("calibration snapshot", job.calibration.clone()),
        ("environment manifest", job.environment.clone().unwrap()),
    ];
    for (what, digest) in cases {
        let path = ws.cas.path_of(&digest.parse().unwrap());
        let old = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let e = job::create(
            &NewBundle {
                origin: &origin,
                ..job.new_bundle()
            },
            &mut ws.cas,
            &ws.key,
        )
        .unwrap_err();
        assert!(
            matches!(&e, CreateError::Missing { what: w, digest: d, .. } if *w == what && *d == digest),
            "{e:?}"
        );
        assert!(e.to_string().contains("hint"), "{e}");
        ws.cas.put(&old).unwrap();
    }
    let made = ws.bundle(&job);
    assert_valid(&ws.verify(&made.bytes));
}

// 5. A predicate that disagrees with the ledger.

#[test]
fn a_signed_predicate_that_disagrees_with_the_ledger_fails_the_submission_check() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);

    let key = WorkstationKey::from_seed([7; 32]);
    let reseeded = resigned(&made.bytes, &key, |p| {
        p["job"]["seed"] = json!(LOCAL_SEED + 1)
    });
    let v = ws.verify(&reseeded);
    assert_eq!(names(&v), ALL_CHECKS);
    let detail = only_failure(&v, "submission");
    assert_eq!(
        detail,
        format!(
            "seed: the ledger recorded `Some({LOCAL_SEED})`, the bundle says `Some({})`",
            LOCAL_SEED + 1
        )
    );
    assert_eq!(v.predicate.unwrap().job.seed, Some(LOCAL_SEED + 1));

    // No seed at all.
    let unseeded = resigned(&made.bytes, &key, |p| {
        p["job"].as_object_mut().unwrap().remove("seed");
    });
    let detail = only_failure(&ws.verify(&unseeded), "submission");
    assert!(
        detail.contains("seed: the ledger recorded `Some(7)`, the bundle says `None`"),
        "{detail}"
    );

    // Several fields at once are all named.
    let several = resigned(&made.bytes, &key, |p| {
        p["job"]["shots"] = json!(2000);
        p["job"]["job_id"] = json!("local-0002");
        p["job"]["backend"] = json!("statevector");
        p["job"]["submitted"] = json!(at(11).to_string());
    });
    let detail = only_failure(&ws.verify(&several), "submission");
    for part in [
        "shots: the ledger recorded `1000`, the bundle says `2000`",
        &format!("job id: the ledger recorded `{LOCAL_JOB}`, the bundle says `local-0002`"),
        "backend: the ledger recorded `noisy`, the bundle says `statevector`",
        "submitted: the ledger recorded",
    ] {
        assert!(detail.contains(part), "{part}: {detail}");
    }

    // Another circuit that is in the store: the object is fine, the submission is not.
    let other = ws
        .cas
        .put(b"OPENQASM 2.0;\nqreg q[1];\n")
        .unwrap()
        .to_string();
    let swapped = resigned(&made.bytes, &key, |p| p["circuit"]["digest"] = json!(other));
    let v = ws.verify(&swapped);
    assert!(check(&v, "circuit").ok);
    let detail = only_failure(&v, "submission");
    assert_eq!(
        detail,
        format!(
            "circuit: the ledger recorded `{}`, the bundle says `{other}`",
            job.circuit
        )
    );

    // The calibration dropped.
    let uncalibrated = resigned(&made.bytes, &key, |p| {
        p.as_object_mut().unwrap().remove("calibration");
    });
    let v = ws.verify(&uncalibrated);
    assert!(!names(&v).contains(&"calibration"));
    let detail = only_failure(&v, "submission");
    assert!(
        detail.starts_with("calibration: the ledger recorded `Some("),
        "{detail}"
    );

    // The ledger reference itself re-signed: the proof no longer backs it.
    let elsewhere = resigned(&made.bytes, &key, |p| {
        p["ledger"]["origin"] = json!("example.com/qwarden/0000000000000000");
    });
    let detail = only_failure(&ws.verify(&elsewhere), "ledger proof");
    assert_eq!(
        detail,
        format!(
            "the proof's log is `{}`, the bundle names `example.com/qwarden/0000000000000000`",
            ws.ledger.origin()
        )
    );
    let other_entry = resigned(&made.bytes, &key, |p| {
        p["ledger"]["entry_digest"] = json!(job::sha256(b"another entry"));
    });
    let detail = only_failure(&ws.verify(&other_entry), "ledger proof");
    assert_eq!(detail, "the proven entry is not the one the bundle names");
    let other_index = resigned(&made.bytes, &key, |p| p["ledger"]["index"] = json!(0));
    let detail = only_failure(&ws.verify(&other_index), "ledger proof");
    assert_eq!(detail, "the proof is of entry 1, the bundle names entry 0");

    // Counts changed without their subject: the statement contradicts itself.
    let recounted = resigned(&made.bytes, &key, |p| p["counts"][0]["00"] = json!(1));
    let v = ws.verify(&recounted);
    let detail = only_failure(&v, "signature");
    assert!(detail.contains("`counts.json` subject"), "{detail}");
}

#[test]
fn a_bundle_attributing_the_job_to_another_session_or_agent_fails_the_submission_check() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.create(&NewBundle {
        session: SessionInfo {
            id: "s2".into(),
            agent: "b".into(),
            ..session()
        },
        ..job.new_bundle()
    });
    let v = ws.verify(&made.bytes);
    let detail = only_failure(&v, "submission");
    assert!(
        detail.contains("session") && detail.contains("`s1`") && detail.contains("`s2`"),
        "{detail}"
    );
    assert!(
        detail.contains("agent") && detail.contains("`a`") && detail.contains("`b`"),
        "{detail}"
    );
}

// 6. Re-runs.

#[test]
fn a_local_bundle_reruns_to_identical_counts_and_diverges_with_another_seed() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let p = ws.verify(&made.bytes).predicate.unwrap();

    let report = rerun::rerun(&p, &made.id, &ws.cas, &options()).unwrap();
    assert_eq!(
        report.classification,
        Classification::Reproduced,
        "{report:#?}"
    );
    assert_eq!(report.comparison, "exact");
    assert_eq!(report.backend, "local:noisy");
    assert_eq!(report.seed, LOCAL_SEED);
    assert_eq!(report.bundle, made.id);
    assert_eq!(report.job_id, LOCAL_JOB);
    assert_eq!(
        report.calibration.as_deref(),
        Some(job.calibration.as_str())
    );
    assert_eq!(report.circuits.len(), 1);
    assert_eq!(report.circuits[0].counts, job.counts[0]);
    assert_eq!(report.circuits[0].tvd, 0.0);
    assert_eq!(report.explained_by_today, None);

    // From the exported archive, on the archive's objects alone.
    let out = ws.state.join("bundle.tar");
    ws.export(&made, &out);
    let a = archive::read(&out).unwrap();
    let p2 = verify::open(&a.envelope, &ws.key.verifying()).unwrap();
    let again = rerun::rerun(&p2, &made.id, &a.objects, &options()).unwrap();
    assert_eq!(again.classification, Classification::Reproduced);
    assert_eq!(again.circuits[0].counts, job.counts[0]);

    // The verdict is signed about the envelope.
    let verdict = rerun::sign_verdict(&report, &made.bytes, &ws.key).unwrap();
    let statement = dsse::verify_statement(&verdict, &ws.key.verifying()).unwrap();
    assert_eq!(statement.predicate_type, RERUN_PREDICATE);
    assert_eq!(
        format!("sha256:{}", statement.subject[0].digest["sha256"]),
        made.id
    );
    assert_eq!(statement.predicate["classification"], "reproduced");

    let other = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: Some(LOCAL_SEED + 1),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(other.seed, LOCAL_SEED + 1);
    assert_eq!(other.classification, Classification::Diverged, "{other:#?}");
    assert_ne!(other.circuits[0].counts, job.counts[0]);
    assert_eq!(other.circuits[0].counts.values().sum::<u64>(), LOCAL_SHOTS);
}

#[test]
fn a_provider_bundle_reruns_statistically() {
    let pubs = decode_pub_circuit(&pub_circuits());
    let shots = 8000;
    let rerun_seed = Some(5);

    // Device counts that the archived calibration explains.
    let mut ws = Workstation::new();
    let counts = noisy_counts(&pubs, &lima(), shots, 21);
    assert!(share(&counts, &["00", "11"]) > 0.9, "{counts:?}");
    let job = ws.ibm_job(counts, 20);
    let made = ws.bundle(&job);
    let p = ws.verify(&made.bytes).predicate.unwrap();
    let report = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: rerun_seed,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(report.comparison, "statistical");
    assert_eq!(report.backend, "local:noisy");
    assert_eq!(report.seed, 5);
    assert_eq!(
        report.calibration.as_deref(),
        Some(job.calibration.as_str())
    );
    let c = &report.circuits[0];
    assert_eq!(c.shots, shots);
    assert_eq!(c.counts.values().sum::<u64>(), shots);
    assert!(c.tvd > 0.0 && c.tvd <= c.shot_noise_threshold, "{c:#?}");
    assert!((c.drift_threshold - c.shot_noise_threshold - DEFAULT_DRIFT).abs() < 1e-9);
    assert!(c.hellinger_fidelity > 0.99, "{c:#?}");
    assert_eq!(
        report.classification,
        Classification::Reproduced,
        "{report:#?}"
    );

    // Without a seed, the seed comes from the bundle id, so a re-run of a re-run is the same.
    let derived =
        u64::from_str_radix(&made.id.trim_start_matches("sha256:")[..16], 16).unwrap() >> 11;
    let first = rerun::rerun(&p, &made.id, &ws.cas, &options()).unwrap();
    let second = rerun::rerun(&p, &made.id, &ws.cas, &options()).unwrap();
    assert_eq!(first.seed, derived);
    assert_eq!(first.circuits[0].counts, second.circuits[0].counts);

    // Device counts taken after its readout got worse than the archived snapshot says.
    let drifted_calibration = raised_readout(0.045);
    let drifted_counts = noisy_counts(&pubs, &drifted_calibration, shots, 23);
    let mut ws = Workstation::new();
    let job = ws.ibm_job(drifted_counts, 20);
    let made = ws.bundle(&job);
    let p = ws.verify(&made.bytes).predicate.unwrap();
    let report = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: rerun_seed,
            ..options()
        },
    )
    .unwrap();
    let c = &report.circuits[0];
    assert!(
        c.tvd > c.shot_noise_threshold && c.tvd < c.drift_threshold,
        "{c:#?}"
    );
    assert_eq!(
        report.classification,
        Classification::Drifted,
        "{report:#?}"
    );

    let strict = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: rerun_seed,
            drift: 0.0,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(strict.drift_allowance, 0.0);
    assert_eq!(
        strict.classification,
        Classification::Diverged,
        "{strict:#?}"
    );
    assert_eq!(strict.circuits[0].tvd, c.tvd);

    // Today's calibration is the one the device drifted to: it explains the distance.
    let today = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: rerun_seed,
            today: Some(drifted_calibration.clone()),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(
        today.today_calibration,
        Some(job::sha256(drifted_calibration.as_bytes()))
    );
    assert_eq!(today.classification, Classification::Drifted);
    let explained = today.explained_by_today.unwrap();
    assert!(explained > 0.5, "{today:#?}");
    let t = today.circuits[0].today.as_ref().unwrap();
    assert!(t.tvd < c.tvd, "{today:#?}");
    assert_eq!(t.classification, Classification::Reproduced, "{today:#?}");

    // Today's calibration being the archived one explains nothing.
    let same = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            seed: rerun_seed,
            today: Some(lima()),
            ..options()
        },
    )
    .unwrap();
    assert_eq!(same.explained_by_today, Some(0.0), "{same:#?}");
}

#[test]
fn reruns_refuse_bad_options_and_damaged_objects() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let p = made.predicate.clone();
    for drift in [-0.1, 1.5, f64::NAN] {
        let e =
            rerun::rerun(&p, &made.id, &ws.cas, &RerunOptions { drift, ..options() }).unwrap_err();
        assert!(e.to_string().contains("drift allowance"), "{drift}: {e}");
    }
    let e = rerun::rerun(
        &p,
        &made.id,
        &ws.cas,
        &RerunOptions {
            today: Some("not json".into()),
            ..options()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("today's calibration"), "{e}");

    ws.overwrite(&job.circuit, b"OPENQASM 2.0;\nqreg q[2];\n");
    let e = rerun::rerun(&p, &made.id, &ws.cas, &options()).unwrap_err();
    assert!(matches!(e, rerun::RerunError::Object(_)), "{e:?}");
    assert!(
        e.to_string().contains(&job.circuit) && e.to_string().contains("hint"),
        "{e}"
    );
}

// 7. The archive.

#[test]
fn the_archive_keeps_both_keys_and_its_layout() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let out = ws.state.join("bundle.tar");
    ws.export(&made, &out);

    let a = archive::read(&out).unwrap();
    assert_eq!(
        a.workstation_pub.as_deref(),
        Some(key::public_line(&ws.key.verifying()).as_str())
    );
    assert_eq!(
        key::parse_public(a.workstation_pub.as_deref().unwrap()).unwrap(),
        ws.key.verifying()
    );
    assert_eq!(
        a.log_vkey.as_deref(),
        Some(ws.ledger.verifier().to_vkey().as_str())
    );
    let log = NoteVerifier::from_vkey(a.log_vkey.as_deref().unwrap()).unwrap();
    assert_eq!(log.name(), ws.ledger.origin());
    for digest in archive::named_objects(&made.predicate) {
        assert_eq!(
            verify::fetch(&a.objects, &digest).unwrap(),
            verify::fetch(&ws.cas, &digest).unwrap()
        );
    }

    let members = tar_members(&out);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..4],
        [archive::ENVELOPE, "workstation.pub", "log.vkey", "README"]
    );
    assert_eq!(names.len(), 4 + 5);
    let readme = String::from_utf8(members[3].1.clone()).unwrap();
    assert!(
        readme.contains(LOCAL_JOB) && readme.contains("qwarden bundle verify"),
        "{readme}"
    );

    // Exporting again over the same file gives the same archive.
    ws.export(&made, &out);
    assert_eq!(tar_members(&out), members);
}

#[test]
fn reading_refuses_what_is_not_a_bundle_archive() {
    let mut ws = Workstation::new();
    let job = ws.local_job(LOCAL_JOB, LOCAL_SEED, 10);
    let made = ws.bundle(&job);
    let out = ws.state.join("bundle.tar");
    ws.export(&made, &out);
    let members = tar_members(&out);
    let bad = ws.state.join("bad.tar");

    // The envelope itself rather than its archive.
    std::fs::write(&bad, &made.bytes).unwrap();
    let e = malformed(archive::read(&bad).unwrap_err());
    assert!(e.contains(&bad.display().to_string()), "{e}");

    // No such file.
    let e = archive::read(&ws.state.join("absent.tar")).unwrap_err();
    assert!(
        matches!(e, ArchiveError::Io { action: "open", .. }),
        "{e:?}"
    );

    // An unexpected member.
    let mut extra = members.clone();
    extra.push(("notes.txt".into(), b"hello".to_vec()));
    write_tar(&bad, &extra);
    let e = malformed(archive::read(&bad).unwrap_err());
    assert!(e.contains("unexpected member `notes.txt`"), "{e}");

    // A member twice: an object, and the envelope.
    for name in [members[4].0.clone(), archive::ENVELOPE.to_owned()] {
        let mut twice = members.clone();
        let copy = twice.iter().find(|(n, _)| *n == name).unwrap().clone();
        twice.push(copy);
        write_tar(&bad, &twice);
        let e = malformed(archive::read(&bad).unwrap_err());
        assert!(e.contains(&format!("`{name}` appears twice")), "{e}");
    }

    // No envelope.
    let without: Vec<(String, Vec<u8>)> = members
        .iter()
        .filter(|(n, _)| n != archive::ENVELOPE)
        .cloned()
        .collect();
    write_tar(&bad, &without);
    let e = malformed(archive::read(&bad).unwrap_err());
    assert!(e.contains("it has no `bundle.dsse.json`"), "{e}");

    // A member that is a symbolic link.
    {
        let file = std::fs::File::create(&bad).unwrap();
        let mut builder = tar::Builder::new(file);
        for (name, bytes) in &members {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder
            .append_link(&mut header, "objects/sha256/link", "/etc/passwd")
            .unwrap();
        builder.finish().unwrap();
    }
    let e = malformed(archive::read(&bad).unwrap_err());
    assert!(
        e.contains("`objects/sha256/link` is not a regular file"),
        "{e}"
    );

    // The original still reads.
    assert!(archive::read(&out).is_ok());
}
