//! One reproducibility bundle per job: when the gateway reports a job's results, the recorder
//! makes its bundle from the job's `job.submit` entry (with an inclusion proof against the
//! checkpoint that covers it), the circuit and calibration already in the CAS, the results, and
//! the session's environment manifest; it signs it with the workstation key, stores it, and
//! records a `job.status` entry naming it.
//!
//! A bundle that cannot be made (an object missing from the CAS, the key unreadable) never stops
//! the session: the `job.status` entry says why instead, and `qwarden bundle create JOB` can make
//! it later from the ledger and the CAS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use qwarden_bundle::job::{NewBundle, SessionInfo};
use qwarden_bundle::key::WorkstationKey;
use qwarden_bundle::store::Store;
use qwarden_gateway::record::Completed;
use qwarden_ledger::cas::{BlobStore, DirCas};
use qwarden_ledger::event::{Body, Event, JobState, JobStatus, Payload, Timestamp};
use qwarden_ledger::log::Ledger;
use qwarden_ledger::proof::Proof;
use qwarden_ledger::reader::LogReader;

/// `STATE/keys/workstation.key`.
pub fn workstation_key_path(state: &Path) -> PathBuf {
    state.join("keys").join("workstation.key")
}

/// The workstation key, made on first use, with its public line published in
/// `STATE/bundles/workstation.pub`.
pub fn workstation_key(state: &Path) -> Result<WorkstationKey, String> {
    let key =
        WorkstationKey::load_or_create(&workstation_key_path(state)).map_err(|e| e.to_string())?;
    let store = Store::new(state);
    let public = store.public_key_path();
    let line = format!("{}\n", qwarden_bundle::key::public_line(&key.verifying()));
    if std::fs::read_to_string(&public).ok().as_deref() != Some(line.as_str()) {
        std::fs::create_dir_all(store.dir())
            .and_then(|()| std::fs::write(&public, line))
            .map_err(|e| format!("cannot publish `{}`: {e}", public.display()))?;
    }
    Ok(key)
}

/// The session's environment manifest, being taken on another thread: its digest in the CAS
/// once [`Environment::digest`] has waited for it. Shared by the recorder (for bundles) and the
/// supervisor (for `session.end`).
#[derive(Debug, Default)]
pub struct Environment {
    job: std::sync::Mutex<Option<JoinHandle<Result<String, String>>>>,
    done: std::sync::OnceLock<Result<String, String>>,
}

impl Environment {
    /// The manifest's digest, waiting for it the first time.
    pub fn digest(&self) -> Result<String, String> {
        self.done
            .get_or_init(|| {
                let job = self.job.lock().ok().and_then(|mut j| j.take());
                match job {
                    Some(job) => job
                        .join()
                        .unwrap_or_else(|_| Err("taking the environment manifest failed".into())),
                    None => Err("no environment manifest was taken".into()),
                }
            })
            .clone()
    }
}

/// The shared handle on the session's environment manifest.
pub type EnvironmentJob = std::sync::Arc<Environment>;

/// Makes the session's bundles.
pub struct Bundler {
    state: PathBuf,
    session: SessionInfo,
    environment: Option<EnvironmentJob>,
    key: Option<Result<WorkstationKey, String>>,
    /// `(provider, job id)` → the `job.submit` entry's index and bytes.
    submissions: HashMap<(String, String), (u64, Vec<u8>)>,
}

impl Bundler {
    /// A bundler for session `session` (its agent, manifest digest and tier), with the
    /// environment manifest being taken by `environment`.
    pub fn new(state: &Path, session: SessionInfo, environment: Option<EnvironmentJob>) -> Bundler {
        Bundler {
            state: state.to_path_buf(),
            session,
            environment,
            key: None,
            submissions: HashMap::new(),
        }
    }

    /// Remembers that job `job_id` of `provider` was submitted at entry `index`.
    pub fn submitted(&mut self, provider: &str, job_id: &str, index: u64, entry: Vec<u8>) {
        self.submissions
            .insert((provider.to_owned(), job_id.to_owned()), (index, entry));
    }

    /// The environment manifest's digest (waiting for it the first time).
    pub fn environment(&mut self) -> Result<String, String> {
        match &self.environment {
            Some(e) => e.digest(),
            None => Err("no environment manifest was taken".into()),
        }
    }

    /// Stores `job`'s results, makes its bundle, and returns the `job.status` event that records
    /// both (or why there is no bundle).
    pub fn complete(&mut self, ledger: &Ledger, cas: &mut DirCas, job: &Completed) -> Event {
        let environment = self.environment().ok();
        let mut details = match completion_details(cas, job, environment.as_deref()) {
            Ok(d) => d,
            Err(e) => serde_json::json!({ "bundle_error": e }),
        };
        let submitted = self
            .submissions
            .get(&(job.provider.clone(), job.job_id.clone()))
            .cloned();
        let made = match submitted {
            Some((index, entry)) => {
                let key = self
                    .key
                    .get_or_insert_with(|| workstation_key(&self.state))
                    .as_ref()
                    .map_err(Clone::clone);
                key.and_then(|key| {
                    make(
                        &self.state,
                        ledger,
                        cas,
                        key,
                        Parts {
                            index,
                            entry: &entry,
                            api: job.api,
                            results: &job.results,
                            counts: job.counts.clone(),
                            environment,
                            session: self.session.clone(),
                        },
                    )
                })
            }
            None => Err(format!(
                "job {} of {} was not submitted in this session",
                job.job_id, job.provider
            )),
        };
        let (backend, calibration) = match &made {
            Ok(m) => (
                m.predicate.job.backend.clone(),
                m.predicate.calibration.as_ref().map(|c| c.digest.clone()),
            ),
            Err(_) => (UNKNOWN_BACKEND.to_owned(), None),
        };
        if let Some(map) = details.as_object_mut() {
            match made {
                Ok(m) => map.insert("bundle".into(), m.id.into()),
                Err(e) => map.insert("bundle_error".into(), e.into()),
            };
        }
        status_event(job, backend, calibration, details)
    }
}

/// The backend a `job.status` names when the job's submission is not known.
const UNKNOWN_BACKEND: &str = "unknown";

/// The `job.status` event of a completed job.
fn status_event(
    job: &Completed,
    backend: String,
    calibration: Option<String>,
    details: serde_json::Value,
) -> Event {
    Event::new(
        Timestamp::now(),
        JobStatus {
            provider: job.provider.clone(),
            backend,
            job_id: job.job_id.clone(),
            state: JobState::Completed,
            provider_state: None,
            calibration_digest: calibration.and_then(|c| c.parse().ok()),
        },
    )
    .with_details(details)
}

/// Stores `job`'s results in `cas` and returns what its `job.status` entry keeps of it: the API,
/// the results' digest, the counts and the environment manifest's digest, so that the bundle
/// can be made again from the ledger ([`create_from_ledger`]).
pub fn completion_details(
    cas: &mut impl BlobStore,
    job: &Completed,
    environment: Option<&str>,
) -> Result<serde_json::Value, String> {
    let results = cas
        .put(&job.results)
        .map_err(|e| format!("cannot store the results: {e}"))?;
    let mut details = serde_json::json!({
        "api": job.api,
        "results": results.to_string(),
        "counts": job.counts,
    });
    if let (Some(e), Some(map)) = (environment, details.as_object_mut()) {
        map.insert("environment".into(), e.into());
    }
    Ok(details)
}

/// A completed job as its `job.status` event, for jobs run outside a session (`qwarden submit`):
/// the results are stored, and [`create_from_ledger`] makes the bundle once the submission is
/// in the log.
pub fn completion_event(cas: &mut impl BlobStore, job: &Completed, backend: &str) -> Event {
    let details = completion_details(cas, job, None)
        .unwrap_or_else(|e| serde_json::json!({ "bundle_error": e }));
    let backend = if backend.is_empty() {
        UNKNOWN_BACKEND
    } else {
        backend
    };
    status_event(job, backend.to_owned(), None, details)
}

/// What a bundle is made of besides the ledger and the key.
struct Parts<'a> {
    index: u64,
    entry: &'a [u8],
    api: &'a str,
    results: &'a [u8],
    counts: Vec<qwarden_sim::Counts>,
    environment: Option<String>,
    session: SessionInfo,
}

fn make(
    state: &Path,
    ledger: &Ledger,
    cas: &mut DirCas,
    key: &WorkstationKey,
    parts: Parts<'_>,
) -> Result<qwarden_bundle::job::Made, String> {
    let reader = LogReader::open(ledger.root(), ledger.verifier()).map_err(|e| e.to_string())?;
    let proof = Proof::make(
        &reader.hashes(),
        parts.index,
        parts.entry,
        reader.checkpoint_text(),
        reader.size(),
    )
    .map_err(|e| e.to_string())?
    .to_text();
    let made = qwarden_bundle::job::create(
        &NewBundle {
            entry: parts.entry,
            index: parts.index,
            origin: ledger.origin(),
            proof: &proof,
            api: parts.api,
            results: parts.results,
            counts: parts.counts,
            completed: Timestamp::now().to_string(),
            environment: parts.environment,
            session: parts.session,
        },
        cas,
        key,
    )
    .map_err(|e| e.to_string())?;
    Store::new(state).add(&made).map_err(|e| e.to_string())?;
    Ok(made)
}

/// Makes the bundle of job `job_id` from the ledger alone: its `job.submit` entry, the
/// `job.status` entry that stored its results, and its session's `session.start`. For jobs
/// whose bundle was not made when they completed, and for `qwarden submit`.
pub fn create_from_ledger(
    state: &Path,
    checkpoints: qwarden_ledger::log::CheckpointPolicy,
    job_id: &str,
) -> Result<qwarden_bundle::job::Made, String> {
    let ledger = qwarden_ledger::home::LedgerHome::new(state)
        .open(checkpoints)
        .map_err(|e| e.to_string())?;
    let mut cas = DirCas::open(state.join("cas")).map_err(|e| e.to_string())?;
    let reader = LogReader::open(ledger.root(), ledger.verifier()).map_err(|e| e.to_string())?;
    let mut submission = None;
    let mut completion = None;
    for item in reader.entries(0, reader.size()) {
        let (index, bytes) = item.map_err(|e| e.to_string())?;
        let Ok(event) = Event::from_jcs(&bytes) else {
            continue;
        };
        match &event.body {
            Body::JobSubmit(j) if j.job_id.as_deref() == Some(job_id) => {
                submission = Some((index, bytes.clone(), event.session.clone()));
            }
            Body::JobStatus(j) if j.job_id == job_id && j.state == JobState::Completed => {
                if let Ok(e) = event.resolve(&cas)
                    && let Some(Payload::Inline(d)) = e.details
                    && d.get("results").is_some()
                {
                    completion = Some(d);
                }
            }
            _ => {}
        }
    }
    let (index, entry, session) = submission.ok_or_else(|| {
        format!("the ledger records no submission of job `{job_id}`; `qwarden audit search --kind job.submit` lists them")
    })?;
    let details = completion.ok_or_else(|| {
        format!("the ledger records no results of job `{job_id}`: its results never reached the gateway (the agent did not fetch them), so there is nothing to bundle")
    })?;
    let api = details
        .get("api")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let results_digest = details
        .get("results")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let results = qwarden_bundle::verify::fetch(&cas, results_digest)
        .map_err(|e| format!("the results of job `{job_id}` ({results_digest}): {e}"))?;
    let counts: Vec<qwarden_sim::Counts> = details
        .get("counts")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .ok_or_else(|| format!("the recorded counts of job `{job_id}` are unreadable"))?;
    let environment = details
        .get("environment")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let session_info = session_of(&reader, session.as_deref())?;
    let key = workstation_key(state)?;
    make(
        state,
        &ledger,
        &mut cas,
        &key,
        Parts {
            index,
            entry: &entry,
            api: &api,
            results: &results,
            counts,
            environment,
            session: session_info,
        },
    )
}

/// The session info of `session` from its `session.start` entry; a job run by hand (no
/// session) is the workstation user's.
fn session_of(reader: &LogReader, session: Option<&str>) -> Result<SessionInfo, String> {
    let Some(id) = session else {
        return Ok(SessionInfo {
            id: qwarden_bundle::job::MANUAL_SESSION.into(),
            agent: std::env::var("USER").unwrap_or_else(|_| "human".into()),
            manifest_digest: String::new(),
            tier: String::new(),
        });
    };
    for item in reader.entries(0, reader.size()) {
        let (_, bytes) = item.map_err(|e| e.to_string())?;
        if let Ok(event) = Event::from_jcs(&bytes)
            && event.session.as_deref() == Some(id)
            && let Body::SessionStart(s) = &event.body
        {
            return Ok(SessionInfo {
                id: id.to_owned(),
                agent: event.agent.clone().unwrap_or_default(),
                manifest_digest: s.manifest_digest.to_string(),
                tier: s.tier.clone(),
            });
        }
    }
    Err(format!("the ledger has no start of session `{id}`"))
}

/// Starts taking the session's environment manifest (the Python environment the agent's `PATH`
/// leads to, with its lock and installed-file hashes), to be stored in the CAS.
pub fn take_environment(
    state: &Path,
    env: &[(String, String)],
    tier: String,
) -> Option<EnvironmentJob> {
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::ffi::OsString::from(v))
    };
    let (path, venv) = (var("PATH"), var("VIRTUAL_ENV"));
    let cas = state.join("cas");
    let spawned = std::thread::Builder::new()
        .name("environment".into())
        .spawn(move || {
            use qwarden_bundle::environment;
            let prefix = environment::session_python(path.as_deref(), venv.as_deref())
                .map_err(|e| e.to_string())?;
            let manifest = environment::collect(&prefix, &tier, None).map_err(|e| e.to_string())?;
            let bytes = manifest.canonical_json().map_err(|e| e.to_string())?;
            let mut cas = DirCas::open(cas).map_err(|e| e.to_string())?;
            cas.put(&bytes)
                .map(|d| d.to_string())
                .map_err(|e| e.to_string())
        });
    spawned.ok().map(|job| {
        std::sync::Arc::new(Environment {
            job: std::sync::Mutex::new(Some(job)),
            done: std::sync::OnceLock::new(),
        })
    })
}
