//! The IBM double: IBM Cloud IAM (`POST /identity/token`), the Qiskit Runtime REST API v1
//! (backends, calibration, instance usage, sampler jobs, results, cancel, delete) and the two
//! IBM Cloud platform calls qiskit-ibm-runtime makes without an instance (Global Search and
//! Global Catalog), on one loopback port.
//!
//! # Where each shape comes from
//!
//! * **Transcripts** (`shared/fixtures/provider-traffic/`, what qiskit-ibm-runtime 0.51.0 sent
//!   and accepted): every path and query, the IAM form fields, the token response fields, the
//!   `Authorization: Bearer` / `apikey` schemes and `Service-CRN`, the `devices` listing, the
//!   usage and status bodies, the job create / get bodies and the `Queued` → `Running` →
//!   `Completed` sequence (one step per poll), `state.reason` / `reason_code` of a failed job, the
//!   text body `/results` answers for a failed job, and the SamplerV2 result encoding
//!   (`PrimitiveResult` / `SamplerPubResult` / `DataBin` / `BitArray` / zlib+base64 `.npy`).
//! * **IBM's documentation**: the token response fields `refresh_token: "not_supported"`,
//!   `token_type`, `expires_in`, `expiration`, `scope` (Qiskit Runtime REST API reference,
//!   "Authentication", <https://quantum.cloud.ibm.com/docs/api/qiskit-runtime-rest>); the job
//!   create response `{id, backend}` with both required, and the status codes of `POST /jobs`
//!   (400, 401, 403, 404, 409) (same reference, "Jobs"); the error codes and messages of the
//!   error code registry (<https://quantum.cloud.ibm.com/docs/errors>: 1007 "Backend not
//!   found.", 1200 "You are not authorized to perform this action.", 1201 "Invalid
//!   credentials."; the older registry in qiskit-ibm-runtime's `docs/errors.rst`: 1109 "The
//!   number of qubits used ... is more than the number of qubits supported by the backend.",
//!   2622 "Properties not found.", 3209 "Job not running.", 3250 "Job not found.").
//! * **Real error bodies quoted in public issues**: the runtime error shape
//!   `{"errors": [{"code": <int>, "message", "more_info"}], "trace"}` (a real 403 quoted in
//!   <https://github.com/Qiskit/qiskit-ibm-provider/issues/564>; a real 400 with code 1208 and
//!   "Request validation of body failed, because: ..." in
//!   <https://github.com/Quantinuum/pytket-qiskit/issues/288>), to which the double adds the
//!   `status_code` the transcripts' fake sent (IBM's direct-access API models carry it too);
//!   the IAM error shape `{"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not
//!   be found.", "context": {...}}` with status 400 (the transcript, and IAM responses quoted in
//!   public client tests).
//! * **The double's own choices** (no public source found; each says so where it is made): the
//!   IAM codes for a wrong content type, grant type or missing key; `400` for a missing
//!   `Service-CRN`; `415` for a job body that is not JSON-typed; `404` for results not yet
//!   available; `409` for cancelling a finished job; the code (equal to the status) of a `404`
//!   route, `405` method or `413` body; only `program_id: "sampler"` is run (others get a `400`
//!   saying so, as the transcripts' fake answered the executor sampler); the sampled outcomes
//!   (see below).
//!
//! # Results
//!
//! Each PUB runs for its shots (the PUB's, else `options.twirling`'s `num_randomizations ×
//! shots_per_randomization`, else `options.default_shots`, else 4096) times its parameter sets.
//! Its QPY circuit is decoded with `qwarden_sim::qpy` and simulated with calibration noise, as a
//! device would run it: the noise model is qiskit-aer's recipe from the backend's calibration
//! ([`IbmBackend::device_properties`] when set, else the snapshot served at `/properties`),
//! built with `qwarden_sim::noise::NoiseModel::from_ibm_properties`, and the circuit runs on just
//! the qubits it uses (`Circuit::compact`, the model remapped to them; barriers are cut to those
//! qubits), with `Method::Auto` (a density matrix when it fits, trajectories otherwise). A
//! calibration the recipe cannot read gives an ideal simulation. The simulation's seed and the
//! order of the shots come from the double's seeded generator, so a run is reproducible from
//! [`IbmConfig::seed`]. Every parameter set of a circuit without parameters runs the same
//! circuit.
//!
//! **Fallback.** A circuit the reader or the simulator cannot run (symbolic parameters bound by
//! the PUB's parameter values, control flow, gates outside the simulator, more qubits than fit
//! in memory, …) is not simulated: each shot gets a GHZ-like outcome from the seeded generator
//! instead, every classical bit 0 or every bit 1 with equal probability, shaped from the QPY
//! header's classical registers. For a Bell circuit that is the ideal distribution.
//!
//! The encoding is exactly what qiskit-ibm-runtime decodes: one `BitArray` per classical
//! register, each shot's bits as big-endian bytes with the register's bit 0 the lowest bit of the
//! last byte.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qwarden_sim::ir::{Circuit, Instruction};
use qwarden_sim::noise::NoiseModel;
use qwarden_sim::run::{Counts, Method, RunOptions};
use serde_json::{Map, Value, json};

use crate::codec;
use crate::server::{RecordedRequest, Reply, RequestLog, Server};
use crate::util::{self, Rng};

/// The API key the double's IAM accepts unless configured otherwise.
pub const DEFAULT_IBM_API_KEY: &str = "ibm-double-apikey-0123456789abcdef";

/// The instance CRN the double serves unless configured otherwise (the one in the transcripts).
pub const DEFAULT_INSTANCE_CRN: &str = "crn:v1:bluemix:public:quantum-computing:us-east:a/0123456789abcdef0123456789abcdef:01234567-89ab-cdef-0123-456789abcdef::";

/// The service plan id Global Search reports for the instance and Global Catalog serves (the one
/// in `variants/ibm-global-search-no-instance.jsonl`).
pub const DEFAULT_PLAN_ID: &str = "fake-plan-id";

/// The grant type IBM Cloud IAM requires for an API key exchange.
pub const APIKEY_GRANT_TYPE: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// Where IBM's error code registry lives (the `more_info` of every runtime error).
const MORE_INFO: &str = "https://quantum.cloud.ibm.com/docs/errors";

/// The shots a SamplerV2 PUB gets when nothing sets them (qiskit-ibm-runtime's `default_shots`
/// docstring).
pub const DEFAULT_SHOTS: u64 = 4096;

/// The most samples (shots × parameter sets, over all PUBs) one job may ask of the double.
pub const MAX_SAMPLES: u64 = 10_000_000;

const JSON: &str = "application/json";

/// The directory of IBM backend snapshots the doubles serve by default:
/// `<repository>/../shared/fixtures/ibm` (`conf_*.json` and `props_*.json`).
pub fn ibm_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ibm")
}

/// One backend the double serves.
#[derive(Debug, Clone, PartialEq)]
pub struct IbmBackend {
    /// The name clients use, such as `ibm_lima`.
    pub name: String,
    /// The body of `GET /backends/{name}/configuration` (its `backend_name` is set to `name`).
    pub configuration: Value,
    /// The body of `GET /backends/{name}/properties`: the calibration snapshot, with
    /// `last_update_date` (its `backend_name` is set to `name`).
    pub properties: Value,
    /// A calibration id served in the properties and accepted as the `calibration_id` query
    /// parameter. IBM's snapshots in the fixtures carry none, so by default there is none.
    pub calibration_id: Option<String>,
    /// The calibration the device actually runs with, when it has drifted from the snapshot
    /// served at `/properties` (same shape as [`IbmBackend::properties`]); `None`: the served
    /// one. Jobs are simulated with noise from this one.
    pub device_properties: Option<Value>,
}

impl IbmBackend {
    /// Reads `conf_<stem>.json` and `props_<stem>.json` from `dir` and serves them as `name`.
    pub fn from_fixture(name: &str, dir: &Path, stem: &str) -> io::Result<IbmBackend> {
        let read = |file: String| -> io::Result<Value> {
            let text = std::fs::read(dir.join(&file))?;
            serde_json::from_slice(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: {e}")))
        };
        let mut configuration = read(format!("conf_{stem}.json"))?;
        let mut properties = read(format!("props_{stem}.json"))?;
        for doc in [&mut configuration, &mut properties] {
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("backend_name".into(), Value::String(name.to_owned()));
            }
        }
        Ok(IbmBackend {
            name: name.to_owned(),
            configuration,
            properties,
            calibration_id: None,
            device_properties: None,
        })
    }

    fn n_qubits(&self) -> u64 {
        self.configuration
            .get("n_qubits")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    fn version(&self) -> String {
        self.configuration
            .get("backend_version")
            .and_then(Value::as_str)
            .unwrap_or("0.0.0")
            .to_owned()
    }
}

/// How an [`IbmDouble`] behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct IbmConfig {
    /// The IBM Cloud API key IAM exchanges for access tokens.
    pub api_key: String,
    /// The instance CRN every runtime call must name in `Service-CRN`.
    pub instance_crn: String,
    /// The instance's service plan id (Global Search and Global Catalog).
    pub plan_id: String,
    /// The backends of the instance.
    pub backends: Vec<IbmBackend>,
    /// How many `GET /jobs/{id}` a job answers in each non-final state before it moves on. `1`
    /// reproduces the transcripts (`Queued`, `Running`, `Completed` on three polls); `0` means
    /// jobs move only through [`IbmDouble::advance_job`].
    pub polls_per_state: u32,
    /// The lifetime of the access tokens IAM issues, in seconds (`expires_in`; IBM's is 3600).
    pub token_lifetime_secs: i64,
    /// Whether runtime calls may authenticate with `Authorization: apikey <api key>`, the
    /// fallback qiskit-ibm-runtime uses when IAM fails. IBM documents only bearer tokens, so this
    /// is off by default.
    pub accept_apikey_header: bool,
    /// A path prefix in front of every route (such as `/ibm`), empty by default.
    pub path_prefix: String,
    /// The seed of everything random the double makes (ids, tokens, samples).
    pub seed: u64,
}

impl IbmConfig {
    /// A configuration with the default key, instance and settings, serving `backends`.
    pub fn new(backends: Vec<IbmBackend>) -> IbmConfig {
        IbmConfig {
            api_key: DEFAULT_IBM_API_KEY.to_owned(),
            instance_crn: DEFAULT_INSTANCE_CRN.to_owned(),
            plan_id: DEFAULT_PLAN_ID.to_owned(),
            backends,
            polls_per_state: 1,
            token_lifetime_secs: 3600,
            accept_apikey_header: false,
            path_prefix: String::new(),
            seed: 0x5eed_1b3d,
        }
    }

    /// The default configuration serving the three snapshots in `dir` (see
    /// [`ibm_fixtures_dir`]) as `ibm_lima`, `ibm_brisbane` and `ibm_torino`.
    pub fn from_fixtures(dir: &Path) -> io::Result<IbmConfig> {
        Ok(IbmConfig::new(vec![
            IbmBackend::from_fixture("ibm_lima", dir, "lima")?,
            IbmBackend::from_fixture("ibm_brisbane", dir, "brisbane")?,
            IbmBackend::from_fixture("ibm_torino", dir, "torino")?,
        ]))
    }
}

/// The states of a Qiskit Runtime job (`state.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IbmJobStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished with results.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl IbmJobStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IbmJobStatus::Queued => "Queued",
            IbmJobStatus::Running => "Running",
            IbmJobStatus::Completed => "Completed",
            IbmJobStatus::Failed => "Failed",
            IbmJobStatus::Cancelled => "Cancelled",
        }
    }

    /// Whether the job has finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IbmJobStatus::Completed | IbmJobStatus::Failed | IbmJobStatus::Cancelled
        )
    }
}

/// What the double knows of a job, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct IbmJobInfo {
    /// The job id.
    pub id: String,
    /// The backend it was submitted to.
    pub backend: String,
    /// `program_id` (`sampler`).
    pub program_id: String,
    /// Its current state.
    pub status: IbmJobStatus,
    /// The shots each PUB runs, resolved as the API does (PUB, twirling, `default_shots`, 4096).
    pub shots: Vec<u64>,
    /// The request body as submitted.
    pub request: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Ending {
    Complete,
    Fail { reason: String, code: i64 },
    Cancel { reason: String },
}

#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    id: String,
    backend: String,
    program_id: String,
    created: String,
    ended: Option<String>,
    status: IbmJobStatus,
    polls: u32,
    ending: Ending,
    reason: Option<String>,
    reason_code: Option<i64>,
    shots: Vec<u64>,
    request: Value,
    result: Value,
}

#[derive(Debug)]
struct Inner {
    rng: Rng,
    /// Tokens come from their own, unseeded generator: two doubles never accept each other's.
    token_rng: Rng,
    tokens: BTreeMap<String, i64>,
    jobs: BTreeMap<String, Job>,
    next_seq: u64,
    reject_next: Option<(u16, String)>,
    next_ending: Option<Ending>,
    iam_rejects: bool,
    completed: u64,
    /// Each backend's noise model, built on its first job (`None`: the calibration cannot be
    /// read, so jobs run without noise).
    noise: BTreeMap<String, Option<Arc<NoiseModel>>>,
}

#[derive(Debug)]
struct Shared {
    config: IbmConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running IBM double. Dropping it stops the server.
#[derive(Debug)]
pub struct IbmDouble {
    server: Server,
    shared: Arc<Shared>,
    log: RequestLog,
}

impl IbmDouble {
    /// Starts the double on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or no thread started: a test double that cannot listen
    /// is of no use to a test. [`IbmDouble::try_start`] returns the error instead.
    #[allow(clippy::panic, reason = "documented: a test fixture that cannot start")]
    pub fn start(config: IbmConfig) -> IbmDouble {
        match IbmDouble::try_start(config) {
            Ok(d) => d,
            Err(e) => panic!("cannot start the IBM double on 127.0.0.1: {e}"),
        }
    }

    /// Starts the double on `127.0.0.1:0`.
    pub fn try_start(config: IbmConfig) -> io::Result<IbmDouble> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                rng: Rng::new(config.seed),
                token_rng: Rng::new(util::entropy()),
                tokens: BTreeMap::new(),
                jobs: BTreeMap::new(),
                next_seq: 0,
                reject_next: None,
                next_ending: None,
                iam_rejects: false,
                completed: 0,
                noise: BTreeMap::new(),
            }),
            config,
        });
        let log = RequestLog::default();
        let server = Server::start(Arc::new(Handler(shared.clone())), log.clone(), "ibm-double")?;
        Ok(IbmDouble {
            server,
            shared,
            log,
        })
    }

    /// The address the double listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// What qiskit-ibm-runtime's `IAM_URL` should be: the SDK posts to `<this>/identity/token`.
    pub fn iam_url(&self) -> String {
        format!("{}{}", self.base_url(), self.shared.config.path_prefix)
    }

    /// The IAM token endpoint, `<iam_url>/identity/token`.
    pub fn token_url(&self) -> String {
        format!("{}/identity/token", self.iam_url())
    }

    /// The canonical runtime API root, `<base>/api/v1`, as `https://quantum.cloud.ibm.com/api/v1`.
    pub fn runtime_url(&self) -> String {
        format!("{}/api/v1", self.iam_url())
    }

    /// The runtime root in the form qiskit-ibm-runtime keeps as given (`QISKIT_IBM_URL`; see
    /// the provider-traffic README): `<base>/experimental/api/v1`. The double serves both.
    pub fn sdk_runtime_url(&self) -> String {
        format!("{}/experimental/api/v1", self.iam_url())
    }

    /// The API key IAM accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// The instance CRN runtime calls must send as `Service-CRN`.
    pub fn instance_crn(&self) -> &str {
        &self.shared.config.instance_crn
    }

    /// The configuration the double runs with.
    pub fn config(&self) -> &IbmConfig {
        &self.shared.config
    }

    /// Issues an access token as IAM would, without a request.
    pub fn mint_access_token(&self) -> String {
        let mut inner = self.shared.lock();
        issue_token(&self.shared.config, &mut inner).0
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.entries()
    }

    /// The shared request log.
    pub fn request_log(&self) -> &RequestLog {
        &self.log
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// The next `POST /jobs` that passes authentication is refused with `status` (such as 403 or
    /// 400) in IBM's error shape, with `message`. Codes: 1200 for 401/403, 1208 otherwise.
    pub fn reject_next_job(&self, status: u16, message: &str) {
        self.shared.lock().reject_next = Some((status, message.to_owned()));
    }

    /// The next job created ends `Failed` (after `Queued` and `Running`) with `reason` and
    /// `reason_code`, as in `variants/ibm-job-failed.jsonl`.
    pub fn fail_next_job(&self, reason: &str, reason_code: i64) {
        self.shared.lock().next_ending = Some(Ending::Fail {
            reason: reason.to_owned(),
            code: reason_code,
        });
    }

    /// The next job created ends `Cancelled` (after `Queued` and `Running`), as in
    /// `variants/ibm-job-cancelled.jsonl`.
    pub fn cancel_next_job(&self) {
        self.shared.lock().next_ending = Some(Ending::Cancel {
            reason: "Cancelled by the IBM double".to_owned(),
        });
    }

    /// Makes IAM refuse every key (`400`, `BXNIM0415E`), or accept the configured one again.
    pub fn set_iam_rejects_key(&self, reject: bool) {
        self.shared.lock().iam_rejects = reject;
    }

    /// Revokes every access token issued so far: runtime calls bearing one get `401`.
    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Moves a job one state on (`Queued` → `Running` → its ending). Returns the new state, or
    /// `None` for an unknown job.
    pub fn advance_job(&self, id: &str) -> Option<IbmJobStatus> {
        let mut inner = self.shared.lock();
        let inner = &mut *inner;
        let job = inner.jobs.get_mut(id)?;
        advance(job, &mut inner.completed);
        Some(job.status)
    }

    /// Fails a job now (unless it has finished). Returns whether it was failed.
    pub fn fail_job(&self, id: &str, reason: &str, reason_code: i64) -> bool {
        self.finish_now(
            id,
            Ending::Fail {
                reason: reason.to_owned(),
                code: reason_code,
            },
        )
    }

    /// Cancels a job now (unless it has finished). Returns whether it was cancelled.
    pub fn cancel_job(&self, id: &str) -> bool {
        self.finish_now(
            id,
            Ending::Cancel {
                reason: "Cancelled by the IBM double".to_owned(),
            },
        )
    }

    fn finish_now(&self, id: &str, ending: Ending) -> bool {
        let mut inner = self.shared.lock();
        let inner = &mut *inner;
        match inner.jobs.get_mut(id) {
            Some(job) if !job.status.is_final() => {
                job.ending = ending;
                job.status = IbmJobStatus::Running;
                advance(job, &mut inner.completed);
                true
            }
            _ => false,
        }
    }

    /// A job, if the double has it.
    pub fn job(&self, id: &str) -> Option<IbmJobInfo> {
        self.shared.lock().jobs.get(id).map(info)
    }

    /// Every job, in submission order.
    pub fn jobs(&self) -> Vec<IbmJobInfo> {
        let inner = self.shared.lock();
        let mut jobs: Vec<&Job> = inner.jobs.values().collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter().map(info).collect()
    }

    /// The properties (calibration) the double serves for `backend`, exactly as served.
    pub fn served_properties(&self, backend: &str) -> Option<Value> {
        self.shared
            .config
            .backends
            .iter()
            .find(|b| b.name == backend)
            .map(properties_body)
    }
}

fn info(job: &Job) -> IbmJobInfo {
    IbmJobInfo {
        id: job.id.clone(),
        backend: job.backend.clone(),
        program_id: job.program_id.clone(),
        status: job.status,
        shots: job.shots.clone(),
        request: job.request.clone(),
    }
}

fn advance(job: &mut Job, completed: &mut u64) {
    job.polls = 0;
    job.status = match job.status {
        IbmJobStatus::Queued => IbmJobStatus::Running,
        IbmJobStatus::Running => match &job.ending {
            Ending::Complete => {
                *completed += 1;
                IbmJobStatus::Completed
            }
            Ending::Fail { reason, code } => {
                job.reason = Some(reason.clone());
                job.reason_code = Some(*code);
                IbmJobStatus::Failed
            }
            Ending::Cancel { reason } => {
                job.reason = Some(reason.clone());
                IbmJobStatus::Cancelled
            }
        },
        done => done,
    };
    if job.status.is_final() && job.ended.is_none() {
        job.ended = Some(util::rfc3339_micros_now());
    }
}

fn properties_body(backend: &IbmBackend) -> Value {
    let mut props = backend.properties.clone();
    if let (Some(obj), Some(id)) = (props.as_object_mut(), &backend.calibration_id) {
        obj.insert("calibration_id".into(), Value::String(id.clone()));
    }
    props
}

/// Issues a JWT-shaped access token (unsigned test data; the SDK decodes it without checking the
/// signature and reads `iat` and `exp`). Returns it with its `exp`.
fn issue_token(config: &IbmConfig, inner: &mut Inner) -> (String, i64) {
    let iat = util::unix_now();
    let exp = iat + config.token_lifetime_secs;
    let header = json!({"kid": "qwarden-ibm-double", "alg": "RS256"});
    let account = inner.token_rng.bytes(16);
    let payload = json!({
        "iam_id": "IBMid-0000000DBL",
        "id": "IBMid-0000000DBL",
        "realmid": "IBMid",
        "jti": inner.token_rng.uuid(),
        "identifier": "0000000DBL",
        "sub": "double@example.invalid",
        "sub_type": "ServiceId",
        "account": {
            "valid": true,
            "bss": account.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        },
        "iat": iat,
        "exp": exp,
        "iss": "https://iam.cloud.ibm.com/identity",
        "grant_type": APIKEY_GRANT_TYPE,
        "scope": "ibm openid",
        "client_id": "default",
        "acr": 1,
        "amr": ["pwd"],
    });
    let signature = inner.token_rng.bytes(64);
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    );
    inner.tokens.insert(token.clone(), exp);
    (token, exp)
}

/// IBM's runtime error body.
fn error(inner: &mut Inner, status: u16, code: i64, message: &str) -> Reply {
    let trace = inner.rng.base32(20);
    Reply::json(
        status,
        JSON,
        &json!({
            "errors": [{"code": code, "message": message, "more_info": MORE_INFO}],
            "trace": trace,
            "status_code": status,
        }),
    )
}

/// IBM Cloud IAM's error body.
fn iam_error(inner: &mut Inner, req: &RecordedRequest, code: &str, message: &str) -> Reply {
    let now = util::rfc3339_millis_now();
    Reply::json(
        400,
        JSON,
        &json!({
            "errorCode": code,
            "errorMessage": message,
            "context": {
                "requestId": inner.rng.uuid(),
                "requestType": "incoming.Identity_Token",
                "userAgent": req.header("user-agent").unwrap_or(""),
                "url": "https://iam.cloud.ibm.com",
                "instanceId": "iam-double",
                "threadId": inner.rng.base32(6),
                "host": "iam-double",
                "startTime": now,
                "endTime": now,
                "elapsedTime": "0",
                "locale": "en_US",
                "clusterName": "iam-double",
            },
        }),
    )
}

/// A validation failure: IBM's message prefix for body validation (issue #288 above), code 1208.
fn invalid(inner: &mut Inner, because: &str) -> Reply {
    error(
        inner,
        400,
        1208,
        &format!("Request validation of body failed, because: {because}"),
    )
}

struct Handler(Arc<Shared>);

impl crate::server::Handler for Handler {
    fn handle(&self, req: &RecordedRequest) -> Reply {
        let shared = &*self.0;
        let mut inner = shared.lock();
        route(&shared.config, &mut inner, req)
    }

    fn too_large(&self) -> Reply {
        let mut inner = self.0.lock();
        error(&mut inner, 413, 1208, "Request body too large.")
    }
}

fn route(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    let Some(path) = req.path.strip_prefix(config.path_prefix.as_str()) else {
        return error(inner, 404, 404, "Not Found");
    };
    let method = req.method.as_str();
    if path == "/identity/token" {
        return match method {
            "POST" => iam_token(config, inner, req),
            _ => error(inner, 405, 405, "Method Not Allowed"),
        };
    }
    if path == "/v3/resources/search" {
        return match method {
            "POST" => global_search(config, inner, req),
            _ => error(inner, 405, 405, "Method Not Allowed"),
        };
    }
    if let Some(plan) = path.strip_prefix("/catalog/") {
        return match method {
            "GET" => catalog(config, inner, req, plan),
            _ => error(inner, 405, 405, "Method Not Allowed"),
        };
    }
    let runtime = ["/api/v1", "/experimental/api/v1"]
        .iter()
        .find_map(|root| path.strip_prefix(root))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'));
    match runtime {
        Some(rest) => runtime_api(config, inner, req, rest),
        None => error(inner, 404, 404, "Not Found"),
    }
}

// ---------------------------------------------------------------------------------------------
// IAM

fn iam_token(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    if inner.iam_rejects {
        return iam_error(
            inner,
            req,
            "BXNIM0415E",
            "Provided API key could not be found.",
        );
    }
    if !util::is_media_type(
        req.header("content-type"),
        "application/x-www-form-urlencoded",
    ) {
        // The double's choice of code: IAM takes only forms.
        return iam_error(
            inner,
            req,
            "BXNIM0109E",
            "Unsupported Content-Type: the token request must be application/x-www-form-urlencoded.",
        );
    }
    let form = util::parse_form(&String::from_utf8_lossy(&req.body));
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some(APIKEY_GRANT_TYPE) => {}
        Some(other) => {
            // The double's choice of code.
            return iam_error(
                inner,
                req,
                "BXNIM0103E",
                &format!("Unsupported grant type: {other}"),
            );
        }
        None => {
            return iam_error(
                inner,
                req,
                "BXNIM0109E",
                "Property missing or empty. Property name: grant_type",
            );
        }
    }
    match field("apikey") {
        None | Some("") => iam_error(
            inner,
            req,
            "BXNIM0109E",
            "Property missing or empty. Property name: apikey",
        ),
        Some(key) if key != config.api_key => iam_error(
            inner,
            req,
            "BXNIM0415E",
            "Provided API key could not be found.",
        ),
        Some(_) => {
            let (token, exp) = issue_token(config, inner);
            Reply::json(
                200,
                JSON,
                &json!({
                    "access_token": token,
                    "refresh_token": "not_supported",
                    "ims_user_id": 0,
                    "token_type": "Bearer",
                    "expires_in": config.token_lifetime_secs,
                    "expiration": exp,
                    "scope": "ibm openid",
                }),
            )
        }
    }
}

/// Checks `Authorization`: a live bearer token from this IAM, or (when `apikey` names it) the
/// API key itself.
fn authenticate(inner: &mut Inner, req: &RecordedRequest, apikey: Option<&str>) -> Option<Reply> {
    let Some(auth) = req.header("authorization") else {
        return Some(error(
            inner,
            401,
            1201,
            "Invalid credentials: no Authorization header.",
        ));
    };
    let (scheme, credential) = auth.split_once(' ').unwrap_or((auth, ""));
    let ok = if scheme.eq_ignore_ascii_case("bearer") {
        inner
            .tokens
            .get(credential.trim())
            .is_some_and(|exp| *exp > util::unix_now())
    } else if scheme.eq_ignore_ascii_case("apikey") {
        apikey.is_some_and(|key| credential.trim() == key)
    } else {
        false
    };
    if ok {
        None
    } else {
        Some(error(inner, 401, 1201, "Invalid credentials."))
    }
}

// ---------------------------------------------------------------------------------------------
// IBM Cloud Global Search and Global Catalog (variants/ibm-global-search-no-instance.jsonl)

fn global_search(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    // IBM Cloud platform APIs take IAM tokens only.
    if let Some(denied) = authenticate(inner, req, None) {
        return denied;
    }
    if !util::is_media_type(req.header("content-type"), JSON) {
        return error(inner, 415, 415, "Unsupported Media Type");
    }
    let Some(body) = req.body_json() else {
        return error(inner, 400, 400, "The request body is not valid JSON.");
    };
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return error(inner, 400, 400, "query is required and must be a string.");
    };
    let limit = req
        .query_param("limit")
        .and_then(|l| l.parse::<u64>().ok())
        .unwrap_or(10);
    let items = if query.contains("service_name:quantum-computing") {
        vec![json!({
            "crn": config.instance_crn,
            "name": "qwarden-double-instance",
            "service_plan_unique_id": config.plan_id,
            "tags": [],
            "doc": {"extensions": {
                "virtual_private_endpoints": {},
                "backends": config.backends.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
            }},
        })]
    } else {
        Vec::new()
    };
    Reply::json(200, JSON, &json!({"items": items, "limit": limit}))
}

fn catalog(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest, plan: &str) -> Reply {
    // IBM Cloud platform APIs take IAM tokens only.
    if let Some(denied) = authenticate(inner, req, None) {
        return denied;
    }
    if plan != config.plan_id {
        return error(inner, 404, 404, "Catalog entry not found.");
    }
    Reply::json(
        200,
        JSON,
        &json!({
            "id": config.plan_id,
            "name": "open",
            "overview_ui": {"en": {"display_name": "Open"}},
            "metadata": {"pricing": {"type": "free"}},
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Qiskit Runtime REST API

fn runtime_api(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest, rest: &str) -> Reply {
    let apikey = config
        .accept_apikey_header
        .then_some(config.api_key.as_str());
    if let Some(denied) = authenticate(inner, req, apikey) {
        return denied;
    }
    match req.header("service-crn") {
        None => {
            // The double's choice: IBM requires the header but its answer without one is not
            // documented.
            return error(inner, 400, 1208, "Missing required header: Service-CRN.");
        }
        Some(crn) if crn != config.instance_crn => {
            return error(
                inner,
                403,
                1200,
                "You are not authorized to perform this action.",
            );
        }
        Some(_) => {}
    }
    if let Some(version) = req.header("ibm-api-version")
        && util::parse_rfc3339(&format!("{version}T00:00:00Z")).is_none()
    {
        return error(
            inner,
            400,
            1208,
            &format!("Invalid IBM-API-Version {version:?}: expected a date YYYY-MM-DD."),
        );
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    let allowed: &[&str] = match segments.as_slice() {
        ["backends"] | ["instances", "usage"] => &["GET"],
        ["backends", _, "configuration" | "properties" | "status"] => &["GET"],
        ["jobs"] => &["GET", "POST"],
        ["jobs", _] => &["GET", "DELETE"],
        ["jobs", _, "results"] => &["GET"],
        ["jobs", _, "cancel"] => &["POST"],
        _ => return error(inner, 404, 404, "Not Found"),
    };
    if !allowed.contains(&method) {
        return error(inner, 405, 405, "Method Not Allowed");
    }
    match (method, segments.as_slice()) {
        ("GET", ["backends"]) => backends(config, inner),
        ("GET", ["backends", name, what]) => backend_detail(config, inner, req, name, what),
        ("GET", ["instances", "usage"]) => usage(config, inner),
        ("POST", ["jobs"]) => create_job(config, inner, req),
        ("GET", ["jobs"]) => list_jobs(inner),
        ("GET", ["jobs", id]) => get_job(config, inner, req, id),
        ("DELETE", ["jobs", id]) => match inner.jobs.remove(*id) {
            Some(_) => Reply::empty(204),
            None => error(inner, 404, 3250, "Job not found."),
        },
        ("GET", ["jobs", id, "results"]) => results(inner, id),
        ("POST", ["jobs", id, "cancel"]) => cancel(inner, id),
        _ => error(inner, 405, 405, "Method Not Allowed"),
    }
}

fn pending_on(inner: &Inner, backend: &str) -> usize {
    inner
        .jobs
        .values()
        .filter(|j| j.backend == backend && !j.status.is_final())
        .count()
}

fn backends(config: &IbmConfig, inner: &mut Inner) -> Reply {
    let devices: Vec<Value> = config
        .backends
        .iter()
        .map(|b| {
            let conf = &b.configuration;
            let two_q: Vec<f64> = b
                .properties
                .get("gates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|g| {
                    g.get("qubits")
                        .and_then(Value::as_array)
                        .is_some_and(|q| q.len() == 2)
                })
                .filter_map(|g| {
                    g.get("parameters")?
                        .as_array()?
                        .iter()
                        .find(|p| p.get("name").and_then(Value::as_str) == Some("gate_error"))?
                        .get("value")?
                        .as_f64()
                })
                .filter(|e| e.is_finite() && *e < 1.0)
                .collect();
            let best = two_q.iter().copied().fold(f64::INFINITY, f64::min);
            let mean = two_q.iter().sum::<f64>() / two_q.len().max(1) as f64;
            json!({
                "name": b.name,
                "status": {"name": "online", "reason": "available"},
                "is_simulator": conf.get("simulator").and_then(Value::as_bool).unwrap_or(false),
                "qubits": b.n_qubits(),
                "clops": {"type": "hardware", "value": conf.get("clops_h").and_then(Value::as_u64).unwrap_or(2500)},
                "processor_type": conf.get("processor_type").cloned().unwrap_or(json!({})),
                "queue_length": pending_on(inner, &b.name),
                "wait_time_seconds": {"average": 0, "p50": 0},
                "performance_metrics": {
                    "two_q_error_best": if best.is_finite() { best } else { 0.0 },
                    "two_q_error_layered": mean,
                },
            })
        })
        .collect();
    Reply::json(200, JSON, &json!({ "devices": devices }))
}

fn backend_detail(
    config: &IbmConfig,
    inner: &mut Inner,
    req: &RecordedRequest,
    name: &str,
    what: &str,
) -> Reply {
    let Some(backend) = config.backends.iter().find(|b| b.name == name) else {
        return error(inner, 404, 1007, "Backend not found.");
    };
    match what {
        "configuration" => Reply::json(200, JSON, &backend.configuration),
        "properties" => {
            if let Some(wanted) = req.query_param("calibration_id")
                && backend.calibration_id.as_deref() != Some(wanted.as_str())
            {
                return error(inner, 404, 2622, "Properties not found.");
            }
            if let Some(before) = req.query_param("updated_before") {
                let Some(before) = util::parse_rfc3339(&before)
                    .or_else(|| util::parse_rfc3339(&format!("{before}Z")))
                else {
                    return error(
                        inner,
                        400,
                        1208,
                        "updated_before must be an ISO 8601 date-time.",
                    );
                };
                let updated = backend
                    .properties
                    .get("last_update_date")
                    .and_then(Value::as_str)
                    .and_then(util::parse_rfc3339);
                if updated.is_some_and(|u| u > before) {
                    return error(inner, 404, 2622, "Properties not found.");
                }
            }
            Reply::json(200, JSON, &properties_body(backend))
        }
        _ => Reply::json(
            200,
            JSON,
            &json!({
                "state": true,
                "status": "active",
                "message": "available",
                "length_queue": pending_on(inner, name),
                "backend_version": backend.version(),
            }),
        ),
    }
}

fn usage(config: &IbmConfig, inner: &mut Inner) -> Reply {
    Reply::json(
        200,
        JSON,
        &json!({
            "instance_id": config.instance_crn,
            "plan_id": config.plan_id,
            "usage_consumed_seconds": inner.completed,
            "usage_limit_seconds": 600,
            "usage_limit_reached": false,
            "usage_period": {
                "start_time": "2026-01-01T00:00:00.000Z",
                "end_time": "2026-02-01T00:00:00.000Z",
            },
        }),
    )
}

/// One PUB of a sampler job, as the double runs it.
struct PubPlan {
    /// The classical registers, one `DataBin` field each, in the circuit's order.
    registers: Vec<Field>,
    shots: u64,
    shape: Vec<u64>,
    circuit_metadata: Value,
    /// The circuit to simulate; `None`: the GHZ-like fallback (see the module docs).
    circuit: Option<Circuit>,
}

/// A classical register: its name, size, and first classical bit of the circuit.
struct Field {
    name: String,
    size: u32,
    start: usize,
}

fn positive_int(v: &Value) -> Option<u64> {
    v.as_u64().filter(|n| *n > 0)
}

/// Validates a sampler job body; returns the PUB plans and shots, or the error reply.
fn validate_sampler(
    inner: &mut Inner,
    backend: &IbmBackend,
    params: &Value,
) -> Result<Vec<PubPlan>, Reply> {
    let Some(params) = params.as_object() else {
        return Err(invalid(inner, "params must be an object."));
    };
    let options = match params.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(invalid(
                inner,
                &format!(
                    "params.options must be an object, not {}.",
                    util::type_name(other)
                ),
            ));
        }
    };
    let default_shots = match options.get("default_shots") {
        None | Some(Value::Null) => None,
        Some(v) => match positive_int(v) {
            Some(n) => Some(n),
            None => {
                return Err(invalid(
                    inner,
                    "params.options.default_shots must be a positive integer.",
                ));
            }
        },
    };
    let twirled_shots = options.get("twirling").and_then(|t| {
        let n = positive_int(t.get("num_randomizations")?)?;
        let s = positive_int(t.get("shots_per_randomization")?)?;
        n.checked_mul(s)
    });
    if let Some(v) = params.get("version")
        && !v.is_u64()
    {
        return Err(invalid(inner, "params.version must be an integer."));
    }
    let Some(pubs) = params.get("pubs").and_then(Value::as_array) else {
        return Err(invalid(
            inner,
            "params.pubs is required and must be an array.",
        ));
    };
    if pubs.is_empty() {
        return Err(invalid(inner, "params.pubs must not be empty."));
    }
    let mut plans = Vec::with_capacity(pubs.len());
    let mut samples: u64 = 0;
    for (i, pub_) in pubs.iter().enumerate() {
        let Some(items) = pub_.as_array().filter(|a| (1..=3).contains(&a.len())) else {
            return Err(invalid(
                inner,
                &format!(
                    "params.pubs[{i}] must be an array of 1 to 3 items (circuit, parameter values, shots)."
                ),
            ));
        };
        let mut items = items.iter();
        let circuit = items.next().unwrap_or(&Value::Null);
        if circuit.get("__type__").and_then(Value::as_str) != Some("QuantumCircuit") {
            return Err(invalid(
                inner,
                &format!(
                    "params.pubs[{i}][0] must be a QuantumCircuit ({{\"__type__\": \"QuantumCircuit\", \"__value__\": <QPY>}})."
                ),
            ));
        }
        let (raw, qpy) = circuit
            .get("__value__")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    inner,
                    &format!("params.pubs[{i}][0].__value__ must be a string."),
                )
            })
            .and_then(|text| {
                codec::unwrap_b64_zlib(text)
                    .and_then(|raw| codec::read_qpy(&raw).map(|qpy| (raw, qpy)))
                    .map_err(|e| {
                        invalid(
                            inner,
                            &format!("params.pubs[{i}][0] is not a QPY circuit: {e}."),
                        )
                    })
            })?;
        if u64::from(qpy.num_qubits) > backend.n_qubits() {
            return Err(error(
                inner,
                400,
                1109,
                &format!(
                    "The number of qubits used ({}) is more than the number of qubits supported by the backend {} ({}).",
                    qpy.num_qubits,
                    backend.name,
                    backend.n_qubits()
                ),
            ));
        }
        let shape = match items.next() {
            None | Some(Value::Null) => Vec::new(),
            Some(v) if v.get("__type__").and_then(Value::as_str) == Some("ndarray") => {
                let header = v
                    .get("__value__")
                    .and_then(Value::as_str)
                    .ok_or_else(|| codec::CodecError("__value__ is not a string".into()))
                    .and_then(codec::unwrap_b64_zlib)
                    .and_then(|raw| codec::read_npy_header(&raw))
                    .map_err(|e| {
                        invalid(
                            inner,
                            &format!("params.pubs[{i}][1] is not a NumPy array: {e}."),
                        )
                    })?;
                let mut shape = header.shape;
                shape.pop();
                shape
            }
            Some(_) => {
                return Err(invalid(
                    inner,
                    &format!("params.pubs[{i}][1] must be null or an ndarray of parameter values."),
                ));
            }
        };
        let shots = match items.next() {
            None | Some(Value::Null) => twirled_shots.or(default_shots).unwrap_or(DEFAULT_SHOTS),
            Some(v) => positive_int(v).ok_or_else(|| {
                invalid(
                    inner,
                    &format!("params.pubs[{i}][2] (shots) must be a positive integer."),
                )
            })?,
        };
        let sets = shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d));
        samples = sets
            .and_then(|s| s.checked_mul(shots))
            .and_then(|s| samples.checked_add(s))
            .unwrap_or(u64::MAX);
        if samples > MAX_SAMPLES {
            return Err(invalid(
                inner,
                &format!("the job asks for more than {MAX_SAMPLES} samples."),
            ));
        }
        // A PUB holds one circuit; anything the reader refuses takes the fallback.
        let circuit = match qwarden_sim::qpy::parse(&raw) {
            Ok(mut circuits) if circuits.len() == 1 => circuits.pop(),
            _ => None,
        };
        let registers = match &circuit {
            Some(c) => c
                .cregs
                .iter()
                .map(|r| Field {
                    name: r.name.clone(),
                    size: u32::try_from(r.size).unwrap_or(u32::MAX),
                    start: r.start,
                })
                .collect(),
            None => qpy
                .classical_registers()
                .map(|r| Field {
                    name: r.name.clone(),
                    size: r.size,
                    start: 0,
                })
                .collect(),
        };
        plans.push(PubPlan {
            registers,
            shots,
            shape,
            circuit_metadata: qpy.metadata.clone(),
            circuit,
        });
    }
    Ok(plans)
}

/// An optional top-level field: its name, its test, and what it must be.
type FieldCheck = (&'static str, fn(&Value) -> bool, &'static str);

fn check_optional(
    inner: &mut Inner,
    body: &Map<String, Value>,
    field: &str,
    ok: fn(&Value) -> bool,
    what: &str,
) -> Result<(), Reply> {
    match body.get(field) {
        Some(v) if !v.is_null() && !ok(v) => {
            Err(invalid(inner, &format!("{field} must be {what}.")))
        }
        _ => Ok(()),
    }
}

fn create_job(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    if let Some((status, message)) = inner.reject_next.take() {
        let code = if matches!(status, 401 | 403) {
            1200
        } else {
            1208
        };
        return error(inner, status, code, &message);
    }
    if !util::is_media_type(req.header("content-type"), JSON) {
        // The double's choice: the API takes JSON only; 415 is not retried by the SDK.
        return error(
            inner,
            415,
            1208,
            "Unsupported Media Type: the job must be sent as application/json.",
        );
    }
    let request: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return invalid(inner, &format!("the body is not valid JSON ({e}).")),
    };
    let Some(body) = request.as_object() else {
        return invalid(inner, "the body must be a JSON object.");
    };
    let Some(program_id) = body.get("program_id").and_then(Value::as_str) else {
        return invalid(inner, "program_id is required and must be a string.");
    };
    let Some(backend_name) = body.get("backend").and_then(Value::as_str) else {
        return invalid(inner, "backend is required and must be a string.");
    };
    let checks: [FieldCheck; 9] = [
        (
            "log_level",
            |v| {
                v.as_str().is_some_and(|s| {
                    ["debug", "info", "warning", "error", "critical"]
                        .contains(&s.to_ascii_lowercase().as_str())
                })
            },
            "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            "tags",
            |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "an array of strings",
        ),
        (
            "cost",
            |v| positive_int(v).is_some(),
            "a positive integer (seconds)",
        ),
        ("private", Value::is_boolean, "a boolean"),
        ("session_id", Value::is_string, "a string"),
        ("start_session", Value::is_boolean, "a boolean"),
        (
            "session_time",
            |v| positive_int(v).is_some(),
            "a positive integer (seconds)",
        ),
        ("calibration_id", Value::is_string, "a string"),
        ("runtime", Value::is_string, "a string"),
    ];
    for (field, ok, what) in checks {
        if let Err(reply) = check_optional(inner, body, field, ok, what) {
            return reply;
        }
    }
    let Some(backend) = config.backends.iter().find(|b| b.name == backend_name) else {
        return error(inner, 404, 1007, "Backend not found.");
    };
    if program_id != "sampler" {
        // A limit of the double, not of IBM: only SamplerV2 jobs are run.
        return invalid(
            inner,
            &format!("the IBM double runs program_id 'sampler' only, not {program_id:?}."),
        );
    }
    if let Some(calibration) = body.get("calibration_id").and_then(Value::as_str)
        && backend.calibration_id.as_deref() != Some(calibration)
    {
        return error(inner, 404, 2622, "Properties not found.");
    }
    let Some(params) = body.get("params") else {
        return invalid(inner, "params is required.");
    };
    let plans = match validate_sampler(inner, backend, params) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let id = loop {
        let candidate = format!("d{}", inner.rng.base32(19));
        if !inner.jobs.contains_key(&candidate) {
            break candidate;
        }
    };
    let noise = noise_model(inner, backend);
    let result = sampler_result(&plans, noise.as_deref(), &mut inner.rng);
    let private = body
        .get("private")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let seq = inner.next_seq;
    inner.next_seq += 1;
    let ending = inner.next_ending.take().unwrap_or(Ending::Complete);
    inner.jobs.insert(
        id.clone(),
        Job {
            seq,
            id: id.clone(),
            backend: backend.name.clone(),
            program_id: program_id.to_owned(),
            created: util::rfc3339_micros_now(),
            ended: None,
            status: IbmJobStatus::Queued,
            polls: 0,
            ending,
            reason: None,
            reason_code: None,
            shots: plans.iter().map(|p| p.shots).collect(),
            request: request.clone(),
            result,
        },
    );
    let mut reply = json!({"id": id, "backend": backend.name, "private": private});
    if let (Some(obj), Some(session)) = (reply.as_object_mut(), body.get("session_id")) {
        obj.insert("session_id".into(), session.clone());
    }
    Reply::json(200, JSON, &reply)
}

fn job_body(job: &Job, with_params: bool) -> Value {
    let mut state = Map::new();
    state.insert("status".into(), json!(job.status.as_str()));
    state.insert("reason".into(), json!(job.reason));
    if let Some(code) = job.reason_code {
        state.insert("reason_code".into(), json!(code));
    }
    let req = &job.request;
    let done = job.status == IbmJobStatus::Completed;
    let mut body = json!({
        "id": job.id,
        "backend": job.backend,
        "state": state,
        "status": job.status.as_str(),
        "program": {"id": job.program_id},
        "created": job.created,
        "runtime": req.get("runtime").cloned().unwrap_or(json!("")),
        "tags": req.get("tags").cloned().unwrap_or(json!([])),
        "session_id": req.get("session_id").cloned().unwrap_or(Value::Null),
        "private": req.get("private").cloned().unwrap_or(json!(false)),
        "cost": req.get("cost").cloned().unwrap_or(json!(600)),
        "user_id": "IBMid-0000000DBL",
        "usage": {"quantum_seconds": u8::from(done), "seconds": u8::from(done)},
    });
    if let Some(obj) = body.as_object_mut() {
        if let Some(ended) = &job.ended {
            obj.insert("ended".into(), json!(ended));
        }
        if with_params {
            obj.insert(
                "params".into(),
                req.get("params").cloned().unwrap_or(Value::Null),
            );
        }
        if let Some(calibration) = req.get("calibration_id") {
            obj.insert("calibration_id".into(), calibration.clone());
        }
    }
    body
}

fn list_jobs(inner: &mut Inner) -> Reply {
    let mut jobs: Vec<&Job> = inner.jobs.values().collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.seq));
    let count = jobs.len();
    let bodies: Vec<Value> = jobs
        .into_iter()
        .map(|j| {
            json!({
                "id": j.id,
                "backend": j.backend,
                "state": {"status": j.status.as_str(), "reason": j.reason},
                "status": j.status.as_str(),
                "program": {"id": j.program_id},
                "created": j.created,
            })
        })
        .collect();
    Reply::json(
        200,
        JSON,
        &json!({"jobs": bodies, "count": count, "limit": 200, "offset": 0}),
    )
}

fn get_job(config: &IbmConfig, inner: &mut Inner, req: &RecordedRequest, id: &str) -> Reply {
    let with_params = match req.query_param("exclude_params").as_deref() {
        None | Some("true" | "True") => false,
        Some("false" | "False") => true,
        Some(other) => {
            return error(
                inner,
                400,
                1208,
                &format!("exclude_params must be a boolean, not {other:?}."),
            );
        }
    };
    let polls_per_state = config.polls_per_state;
    let inner = &mut *inner;
    let Some(job) = inner.jobs.get_mut(id) else {
        return error(inner, 404, 3250, "Job not found.");
    };
    let body = job_body(job, with_params);
    if !job.status.is_final() && polls_per_state > 0 {
        job.polls += 1;
        if job.polls >= polls_per_state {
            advance(job, &mut inner.completed);
        }
    }
    Reply::json(200, JSON, &body)
}

fn results(inner: &mut Inner, id: &str) -> Reply {
    let Some(job) = inner.jobs.get(id) else {
        return error(inner, 404, 3250, "Job not found.");
    };
    match job.status {
        IbmJobStatus::Completed => Reply::json(200, JSON, &job.result),
        // What a failed job's results hold: the error text (variants/ibm-job-failed.jsonl).
        IbmJobStatus::Failed => Reply::text(200, job.reason.as_deref().unwrap_or("Job failed.")),
        // The double's choice: no results exist (yet).
        _ => {
            let message = format!("Job results not found: the job is {}.", job.status.as_str());
            error(inner, 404, 3250, &message)
        }
    }
}

fn cancel(inner: &mut Inner, id: &str) -> Reply {
    let inner = &mut *inner;
    let Some(job) = inner.jobs.get_mut(id) else {
        return error(inner, 404, 3250, "Job not found.");
    };
    if job.status.is_final() {
        // The double's choice of status; the code and message are the registry's.
        return error(inner, 409, 3209, "Job not running.");
    }
    job.ending = Ending::Cancel {
        reason: "Cancelled by the user".to_owned(),
    };
    job.status = IbmJobStatus::Running;
    advance(job, &mut inner.completed);
    Reply::empty(204)
}

/// The noise model jobs on `backend` run with (see the module docs), built once per backend.
fn noise_model(inner: &mut Inner, backend: &IbmBackend) -> Option<Arc<NoiseModel>> {
    inner
        .noise
        .entry(backend.name.clone())
        .or_insert_with(|| {
            let calibration = backend
                .device_properties
                .as_ref()
                .unwrap_or(&backend.properties);
            let text = serde_json::to_string(calibration).ok()?;
            NoiseModel::from_ibm_properties(&text, None)
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// The most memory one PUB's simulation may take.
const SIMULATION_MEMORY: u64 = 1 << 30;

/// Counts of `shots` noisy runs of `circuit`, or `None` if the simulator refuses it.
fn simulate(
    circuit: &Circuit,
    noise: Option<&NoiseModel>,
    shots: u64,
    seed: u64,
) -> Option<Counts> {
    // A barrier has no effect on the state, so one spanning the whole device must not keep idle
    // qubits in the simulation.
    let used: std::collections::BTreeSet<usize> = circuit
        .instructions
        .iter()
        .filter(|i| !matches!(i, Instruction::Barrier { .. }))
        .flat_map(Instruction::qubits)
        .collect();
    let mut circuit = circuit.clone();
    circuit.instructions.retain_mut(|i| match i {
        Instruction::Barrier { qubits } => {
            qubits.retain(|q| used.contains(q));
            !qubits.is_empty()
        }
        _ => true,
    });
    let (small, layout) = circuit.compact();
    let opts = RunOptions {
        shots,
        seed,
        threads: 0,
        method: Method::Auto,
        noise: noise.map(|m| m.remapped(&layout)),
        memory_limit: SIMULATION_MEMORY,
    };
    qwarden_sim::run::run(&small, &opts).ok().map(|r| r.counts)
}

/// What one shot measured.
enum Shot {
    /// A simulated bitstring over the circuit's classical bits, bit 0 rightmost.
    Bits(String),
    /// The fallback: every classical bit the same.
    All(bool),
}

impl Shot {
    /// The shot's value of `field`, as BitArray stores it: big-endian bytes, the register's bit
    /// 0 the lowest bit of the last byte.
    fn bytes(&self, field: &Field) -> Vec<u8> {
        let size = usize::try_from(field.size).unwrap_or(0);
        let nbytes = size.div_ceil(8);
        let mut out = vec![0u8; nbytes];
        for j in 0..size {
            let set = match self {
                Shot::All(one) => *one,
                Shot::Bits(bits) => field
                    .start
                    .checked_add(j)
                    .and_then(|clbit| clbit.checked_add(1))
                    .and_then(|end| bits.len().checked_sub(end))
                    .and_then(|at| bits.as_bytes().get(at))
                    .is_some_and(|b| *b == b'1'),
            };
            if set && let Some(byte) = out.get_mut(nbytes - 1 - j / 8) {
                *byte |= 1 << (j % 8);
            }
        }
        out
    }
}

/// The shots of one PUB, in a random order: its simulated counts, else GHZ-like outcomes.
fn sample(
    plan: &PubPlan,
    noise: Option<&NoiseModel>,
    samples: u64,
    rng: &mut Rng,
) -> (Vec<Shot>, Vec<u32>) {
    let counts = match &plan.circuit {
        Some(c) if samples > 0 => simulate(c, noise, samples, rng.next_u64()),
        _ => None,
    };
    let Some(counts) = counts else {
        let order = (0..samples).map(|_| u32::from(rng.coin())).collect();
        return (vec![Shot::All(false), Shot::All(true)], order);
    };
    let mut shots = Vec::with_capacity(counts.len());
    let mut order = Vec::with_capacity(usize::try_from(samples).unwrap_or(0));
    for (k, (bits, n)) in counts.into_iter().enumerate() {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        order.extend(std::iter::repeat_n(k, usize::try_from(n).unwrap_or(0)));
        shots.push(Shot::Bits(bits));
    }
    // Counts come sorted by bitstring; a device returns its shots in the order they ran.
    for i in (1..order.len()).rev() {
        let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
    (shots, order)
}

/// The SamplerV2 result of a job: per PUB, noisy simulated samples, or GHZ-like ones (see the
/// module docs).
fn sampler_result(plans: &[PubPlan], noise: Option<&NoiseModel>, rng: &mut Rng) -> Value {
    let pub_results: Vec<Value> = plans
        .iter()
        .map(|plan| {
            let sets: u64 = plan.shape.iter().product();
            let samples = sets.saturating_mul(plan.shots);
            let (shots, order) = sample(plan, noise, samples, rng);
            let mut fields = Map::new();
            for field in &plan.registers {
                let values: Vec<Vec<u8>> = shots.iter().map(|s| s.bytes(field)).collect();
                let nbytes = usize::try_from(field.size.div_ceil(8)).unwrap_or(0);
                let mut data = Vec::with_capacity(order.len().saturating_mul(nbytes));
                for k in &order {
                    if let Some(v) = values.get(*k as usize) {
                        data.extend_from_slice(v);
                    }
                }
                let mut shape = plan.shape.clone();
                shape.push(plan.shots);
                shape.push(nbytes as u64);
                let npy = codec::write_npy_u8(&shape, &data);
                fields.insert(
                    field.name.clone(),
                    json!({"__type__": "BitArray", "__value__": {
                        "array": {"__type__": "ndarray", "__value__": codec::wrap_b64_zlib(&npy)},
                        "num_bits": field.size,
                    }}),
                );
            }
            let names: Vec<&String> = plan.registers.iter().map(|f| &f.name).collect();
            json!({"__type__": "SamplerPubResult", "__value__": {
                "data": {"__type__": "DataBin", "__value__": {
                    "field_names": names,
                    "shape": plan.shape,
                    "fields": fields,
                }},
                "metadata": {"circuit_metadata": plan.circuit_metadata},
            }})
        })
        .collect();
    json!({"__type__": "PrimitiveResult", "__value__": {
        "pub_results": pub_results,
        "metadata": {"version": 2},
    }})
}
