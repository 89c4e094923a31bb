//! The IonQ double: IonQ's API v0.4 (backends, characterizations, jobs, probabilities, cancel)
//! on one loopback port.
//!
//! # Where each shape comes from
//!
//! * **Transcripts** (`shared/fixtures/provider-traffic/`, what qiskit-ionq 1.1.1 sent and
//!   accepted): the paths, the unauthenticated `GET /v0.4/backends/{name}` probes (and the 404
//!   for `qpu.qpu`), `GET /v0.4/backends/{backend}/characterizations?limit=1`, the job body
//!   qiskit-ionq submits, the status sequence `submitted` → `ready` → `started` → `completed`
//!   (one step per poll; the SDK rejects any other value, `running` included), the echoed
//!   `metadata`, `results.probabilities.url`, the probabilities body, and the failed job's
//!   `failure: {code, error}`.
//! * **IonQ's documentation** (API v0.4 reference, <https://docs.ionq.com/api-reference/v0.4>):
//!   `Authorization: apiKey <key>`; the error body `{"error", "message", "statusCode"}` and its
//!   statuses (400 Bad Request, 401 Unauthorized for a key that fails authentication, 403, 404;
//!   "v0.4 Error Codes"); the job failure codes (`InternalError`, `NotEnoughQubits`, ...); the
//!   "Get job" field list; the create response `{id, status: "submitted", session_id}`; the
//!   backend object (`backend`, `status`, `qubits`, `average_queue_time`, `last_updated` as a
//!   date-time, `degraded`, `characterization_id`); the characterization object (`id`, `date`,
//!   `backend`, `qubits`, `connectivity`, `fidelity.{spam,1q,2q}.{median,stderr}`,
//!   `timing.{readout,reset,1q,2q,t1,t2}`) and its listing `{characterizations, pages}` with
//!   `limit` between 1 and 10; `PUT /jobs/{id}/status/cancel` answering `{id, status:
//!   "canceled"}`; the metadata limits (at most 10 keys, names up to 40 characters, values up to
//!   40,000; "API Core Concepts"). The documented job `type`s are `ionq.circuit.v1` and
//!   `ionq.multi-circuit.v1`; the double runs the first only.
//! * **The double's own choices** (said where made): `415` for a job body that is not
//!   JSON-typed, in the documented shape (the shape and message are those of Fastify, whose error
//!   format IonQ's matches); a present but wrong key refused even on the public backend
//!   endpoints; `400` for cancelling a finished job; `404` for the probabilities of an unfinished
//!   job; and the results, which are not simulated: every qubit 0 or every qubit 1 with equal
//!   probability (exactly 0.5 each on the simulator, sampled from `shots` with a seeded generator
//!   on a QPU), the ideal distribution of a Bell or GHZ circuit.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use crate::server::{RecordedRequest, Reply, RequestLog, Server};
use crate::util::{self, Rng};

/// The API key the double accepts unless configured otherwise.
pub const DEFAULT_IONQ_API_KEY: &str = "ionq-double-key-0123456789abcdef";

const JSON: &str = "application/json; charset=utf-8";

/// The job types of IonQ's `POST /jobs` (the v0.4 reference names the circuit and
/// multi-circuit ones; the others are listed in third-party schemas of the API), and the one
/// qiskit-ionq sends for circuits with mid-circuit measurement. The double runs
/// `ionq.circuit.v1` only and refuses the others with a 400 saying so.
const KNOWN_TYPES: &[&str] = &[
    "ionq.circuit.v1",
    "ionq.multi-circuit.v1",
    "ionq.qasm3.v1",
    "qctrl.qaoa.v1",
    "quantum-function.v1",
];

/// The gates of the `qis` gate set: IonQ's "Writing quantum programs" list, and what
/// qiskit-ionq 1.1.1 emits for it (`helpers.py`: its aliases `xx`, `yy`, `zz` for `rxx`, `ryy`,
/// `rzz`, and `pauliexp` for `PauliEvolutionGate`).
const QIS_GATES: &[&str] = &[
    "x", "y", "z", "h", "s", "si", "t", "ti", "v", "vi", "rx", "ry", "rz", "cnot", "swap", "not",
    "xx", "yy", "zz", "pauliexp",
];

/// The `qis` gates that take a `rotation`.
const ROTATIONS: &[&str] = &["rx", "ry", "rz", "xx", "yy", "zz"];

/// The gates of the `native` gate set.
const NATIVE_GATES: &[&str] = &["gpi", "gpi2", "ms", "zz"];

/// One backend the double serves.
#[derive(Debug, Clone, PartialEq)]
pub struct IonqBackend {
    /// The name in API calls, such as `simulator` or `qpu.aria-1`.
    pub name: String,
    /// Its number of qubits.
    pub qubits: u64,
    /// Its characterizations, newest first (none for the simulator). Each is the JSON object
    /// IonQ's characterization endpoints return; `id` and `date` identify it.
    pub characterizations: Vec<Value>,
}

impl IonqBackend {
    /// A QPU with one characterization, `id`, taken on `date`, with the fidelities and timings
    /// of the transcripts' fake (which match IonQ's published Aria figures).
    pub fn qpu(name: &str, qubits: u64, id: &str, date: &str) -> IonqBackend {
        IonqBackend {
            name: name.to_owned(),
            qubits,
            characterizations: vec![json!({
                "id": id,
                "date": date,
                "backend": name,
                "qubits": qubits,
                "connectivity": all_pairs(qubits),
                "fidelity": {
                    "spam": {"median": 0.9959, "stderr": null},
                    "1q": {"median": 0.9998, "stderr": null},
                    "2q": {"median": 0.9887, "stderr": null},
                },
                "timing": {"t1": 10000, "t2": 1, "1q": 0.000135, "2q": 0.0006, "readout": 0.0003, "reset": 0.00002},
            })],
        }
    }

    fn is_simulator(&self) -> bool {
        self.name == "simulator"
    }
}

fn all_pairs(n: u64) -> Vec<[u64; 2]> {
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| [a, b]))
        .collect()
}

/// How an [`IonqDouble`] behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct IonqConfig {
    /// The API keys accepted in `Authorization: apiKey <key>`.
    pub api_keys: Vec<String>,
    /// The backends.
    pub backends: Vec<IonqBackend>,
    /// How many `GET /jobs/{id}` a job answers in each non-final status before it moves on. `1`
    /// reproduces the transcripts; `0` means jobs move only through
    /// [`IonqDouble::advance_job`].
    pub polls_per_state: u32,
    /// The seed of everything random the double makes (ids, samples).
    pub seed: u64,
}

impl Default for IonqConfig {
    /// The default key, and IonQ's documented backends: `simulator` (29 qubits),
    /// `qpu.aria-1`, `qpu.aria-2` (25), `qpu.forte-1`, `qpu.forte-enterprise-1` (36).
    fn default() -> Self {
        let date = "2026-01-01T00:00:00.000Z";
        IonqConfig {
            api_keys: vec![DEFAULT_IONQ_API_KEY.to_owned()],
            backends: vec![
                IonqBackend {
                    name: "simulator".to_owned(),
                    qubits: 29,
                    characterizations: Vec::new(),
                },
                IonqBackend::qpu(
                    "qpu.aria-1",
                    25,
                    "00000000-0000-4000-8000-00000000c0de",
                    date,
                ),
                IonqBackend::qpu(
                    "qpu.aria-2",
                    25,
                    "00000000-0000-4000-8000-00000000c0d2",
                    date,
                ),
                IonqBackend::qpu(
                    "qpu.forte-1",
                    36,
                    "00000000-0000-4000-8000-00000000f0e1",
                    date,
                ),
                IonqBackend::qpu(
                    "qpu.forte-enterprise-1",
                    36,
                    "00000000-0000-4000-8000-00000000f0e2",
                    date,
                ),
            ],
            polls_per_state: 1,
            seed: 0x5eed_10a0,
        }
    }
}

/// The statuses of an IonQ job, as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IonqJobStatus {
    /// Accepted.
    Submitted,
    /// Waiting for the backend.
    Ready,
    /// Running.
    Started,
    /// Finished with results.
    Completed,
    /// Finished with a `failure`.
    Failed,
    /// Canceled.
    Canceled,
}

impl IonqJobStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IonqJobStatus::Submitted => "submitted",
            IonqJobStatus::Ready => "ready",
            IonqJobStatus::Started => "started",
            IonqJobStatus::Completed => "completed",
            IonqJobStatus::Failed => "failed",
            IonqJobStatus::Canceled => "canceled",
        }
    }

    /// Whether the job has finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IonqJobStatus::Completed | IonqJobStatus::Failed | IonqJobStatus::Canceled
        )
    }
}

/// What the double knows of a job, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct IonqJobInfo {
    /// The job id (a UUID).
    pub id: String,
    /// The backend it runs on.
    pub backend: String,
    /// The shots it runs (the top-level `shots`).
    pub shots: u64,
    /// Its status.
    pub status: IonqJobStatus,
    /// The request body as submitted.
    pub request: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Ending {
    Complete,
    Fail { code: String, error: String },
    Cancel,
}

#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    id: String,
    backend: String,
    shots: u64,
    qubits: u64,
    status: IonqJobStatus,
    polls: u32,
    ending: Ending,
    failure: Option<(String, String)>,
    submitted_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    request: Value,
    gate_counts: (u64, u64),
    probabilities: Value,
}

#[derive(Debug)]
struct Inner {
    rng: Rng,
    jobs: BTreeMap<String, Job>,
    next_seq: u64,
    reject_next: Option<(u16, String)>,
    next_ending: Option<Ending>,
}

#[derive(Debug)]
struct Shared {
    config: IonqConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running IonQ double. Dropping it stops the server.
#[derive(Debug)]
pub struct IonqDouble {
    server: Server,
    shared: Arc<Shared>,
    log: RequestLog,
}

impl IonqDouble {
    /// Starts the double on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or no thread started. [`IonqDouble::try_start`] returns
    /// the error instead.
    #[allow(clippy::panic, reason = "documented: a test fixture that cannot start")]
    pub fn start(config: IonqConfig) -> IonqDouble {
        match IonqDouble::try_start(config) {
            Ok(d) => d,
            Err(e) => panic!("cannot start the IonQ double on 127.0.0.1: {e}"),
        }
    }

    /// Starts the double on `127.0.0.1:0`.
    pub fn try_start(config: IonqConfig) -> io::Result<IonqDouble> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                rng: Rng::new(config.seed),
                jobs: BTreeMap::new(),
                next_seq: 0,
                reject_next: None,
                next_ending: None,
            }),
            config,
        });
        let log = RequestLog::default();
        let server = Server::start(
            Arc::new(Handler(shared.clone())),
            log.clone(),
            "ionq-double",
        )?;
        Ok(IonqDouble {
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

    /// The API root, `<base>/v0.4`, as `https://api.ionq.co/v0.4` (qiskit-ionq's
    /// `IONQ_API_URL`).
    pub fn api_url(&self) -> String {
        format!("{}/v0.4", self.base_url())
    }

    /// The first API key the double accepts.
    pub fn api_key(&self) -> &str {
        self.shared
            .config
            .api_keys
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Every API key the double accepts.
    pub fn api_keys(&self) -> &[String] {
        &self.shared.config.api_keys
    }

    /// The configuration the double runs with.
    pub fn config(&self) -> &IonqConfig {
        &self.shared.config
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

    /// The next authenticated `POST /jobs` is refused with `status` (such as 403 or 400) in
    /// IonQ's error shape, with `message`.
    pub fn reject_next_job(&self, status: u16, message: &str) {
        self.shared.lock().reject_next = Some((status, message.to_owned()));
    }

    /// The next job created fails at its first step (`submitted` → `failed`, as in
    /// `variants/ionq-job-failed.jsonl`) with `failure: {code, error}`. IonQ's documented codes
    /// include `InternalError`, `CompilationError` and `QuantumComputerError`.
    pub fn fail_next_job(&self, code: &str, error: &str) {
        self.shared.lock().next_ending = Some(Ending::Fail {
            code: code.to_owned(),
            error: error.to_owned(),
        });
    }

    /// The next job created is canceled at its first step (`submitted` → `canceled`, as in
    /// `variants/ionq-job-cancelled.jsonl`).
    pub fn cancel_next_job(&self) {
        self.shared.lock().next_ending = Some(Ending::Cancel);
    }

    /// Moves a job one step on. Returns its new status, or `None` for an unknown job.
    pub fn advance_job(&self, id: &str) -> Option<IonqJobStatus> {
        let mut inner = self.shared.lock();
        let job = inner.jobs.get_mut(id)?;
        advance(job);
        Some(job.status)
    }

    /// Fails a job now (unless it has finished). Returns whether it was failed.
    pub fn fail_job(&self, id: &str, code: &str, error: &str) -> bool {
        self.finish_now(
            id,
            Ending::Fail {
                code: code.to_owned(),
                error: error.to_owned(),
            },
        )
    }

    /// Cancels a job now (unless it has finished). Returns whether it was canceled.
    pub fn cancel_job(&self, id: &str) -> bool {
        self.finish_now(id, Ending::Cancel)
    }

    fn finish_now(&self, id: &str, ending: Ending) -> bool {
        let mut inner = self.shared.lock();
        match inner.jobs.get_mut(id) {
            Some(job) if !job.status.is_final() => {
                job.ending = ending;
                job.status = IonqJobStatus::Started;
                advance(job);
                true
            }
            _ => false,
        }
    }

    /// A job, if the double has it.
    pub fn job(&self, id: &str) -> Option<IonqJobInfo> {
        self.shared.lock().jobs.get(id).map(info)
    }

    /// Every job, in submission order.
    pub fn jobs(&self) -> Vec<IonqJobInfo> {
        let inner = self.shared.lock();
        let mut jobs: Vec<&Job> = inner.jobs.values().collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter().map(info).collect()
    }

    /// The newest characterization of `backend`, exactly as served.
    pub fn current_characterization(&self, backend: &str) -> Option<Value> {
        self.shared
            .config
            .backends
            .iter()
            .find(|b| b.name == backend)?
            .characterizations
            .first()
            .cloned()
    }
}

fn info(job: &Job) -> IonqJobInfo {
    IonqJobInfo {
        id: job.id.clone(),
        backend: job.backend.clone(),
        shots: job.shots,
        status: job.status,
        request: job.request.clone(),
    }
}

fn advance(job: &mut Job) {
    job.polls = 0;
    let next = match (&job.ending, job.status) {
        (_, s) if s.is_final() => s,
        (Ending::Fail { code, error }, _) => {
            job.failure = Some((code.clone(), error.clone()));
            IonqJobStatus::Failed
        }
        (Ending::Cancel, _) => IonqJobStatus::Canceled,
        (Ending::Complete, IonqJobStatus::Submitted) => IonqJobStatus::Ready,
        (Ending::Complete, IonqJobStatus::Ready) => {
            job.started_at = Some(util::rfc3339_millis_now());
            IonqJobStatus::Started
        }
        (Ending::Complete, _) => IonqJobStatus::Completed,
    };
    job.status = next;
    // Only a completed job has `completed_at` (the transcripts' failed and canceled jobs keep
    // it null).
    if next == IonqJobStatus::Completed && job.completed_at.is_none() {
        job.completed_at = Some(util::rfc3339_millis_now());
    }
}

/// IonQ's error body.
fn error(status: u16, message: &str) -> Reply {
    let name = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        _ => "Error",
    };
    Reply::json(
        status,
        JSON,
        &json!({"statusCode": status, "error": name, "message": message}),
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
        error(413, "Request body is too large")
    }
}

/// `None` when `Authorization: apiKey <key>` names an accepted key; else the 401.
fn authenticate(config: &IonqConfig, req: &RecordedRequest) -> Option<Reply> {
    let Some(auth) = req.header("authorization") else {
        return Some(error(
            401,
            "Missing API key: send Authorization: apiKey <key>",
        ));
    };
    match auth.strip_prefix("apiKey ") {
        Some(key) if config.api_keys.iter().any(|k| k == key.trim()) => None,
        _ => Some(error(401, "Invalid API key")),
    }
}

fn route(config: &IonqConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    let method = req.method.as_str();
    let not_found = || error(404, &format!("Route {method}:{} not found", req.path));
    let Some(rest) = req.path.strip_prefix("/v0.4/") else {
        return not_found();
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let public = matches!(segments.first(), Some(&"backends"));
    let allowed: &[&str] = match segments.as_slice() {
        ["backends"] | ["backends", _] | ["backends", _, "characterizations"] => &["GET"],
        ["backends", _, "characterizations", _] => &["GET"],
        ["jobs"] => &["POST"],
        ["jobs", _] => &["GET"],
        ["jobs", _, "results", "probabilities"] => &["GET"],
        ["jobs", _, "status", "cancel"] => &["PUT"],
        _ => return not_found(),
    };
    if !allowed.contains(&method) {
        return not_found();
    }
    // Backends and characterizations need no key (IonQ's v0.4 examples call them without one,
    // and qiskit-ionq probes backends without one); a key that is sent must be valid.
    if (!public || req.header("authorization").is_some())
        && let Some(denied) = authenticate(config, req)
    {
        return denied;
    }
    match segments.as_slice() {
        ["backends"] => Reply::json(
            200,
            JSON,
            &Value::Array(config.backends.iter().map(backend_body).collect()),
        ),
        ["backends", name] => match find_backend(config, name) {
            Some(b) => Reply::json(200, JSON, &backend_body(b)),
            None => error(404, &format!("backend {name} not found")),
        },
        ["backends", name, "characterizations"] => characterizations(config, req, name),
        ["backends", name, "characterizations", id] => {
            match find_backend(config, name).and_then(|b| {
                b.characterizations
                    .iter()
                    .find(|c| c.get("id").and_then(Value::as_str) == Some(*id))
            }) {
                Some(c) => Reply::json(200, JSON, c),
                None => error(404, &format!("characterization {id} of {name} not found")),
            }
        }
        ["jobs"] => create_job(config, inner, req),
        ["jobs", id] => get_job(config, inner, id),
        ["jobs", id, "results", "probabilities"] => match inner.jobs.get(*id) {
            None => error(404, &format!("job {id} not found")),
            Some(job) if job.status == IonqJobStatus::Completed => {
                Reply::json(200, JSON, &job.probabilities)
            }
            Some(job) => error(
                404,
                &format!("job {id} has no results: it is {}", job.status.as_str()),
            ),
        },
        ["jobs", id, "status", "cancel"] => match inner.jobs.get_mut(*id) {
            None => error(404, &format!("job {id} not found")),
            Some(job) if job.status.is_final() => error(
                400,
                &format!("job {id} cannot be canceled: it is {}", job.status.as_str()),
            ),
            Some(job) => {
                job.ending = Ending::Cancel;
                advance(job);
                Reply::json(200, JSON, &json!({"id": id, "status": "canceled"}))
            }
        },
        _ => not_found(),
    }
}

fn find_backend<'a>(config: &'a IonqConfig, name: &str) -> Option<&'a IonqBackend> {
    config.backends.iter().find(|b| b.name == name)
}

fn backend_body(b: &IonqBackend) -> Value {
    let mut body = json!({
        "backend": b.name,
        "status": "available",
        "qubits": b.qubits,
        "average_queue_time": 0,
        "last_updated": b.characterizations.first()
            .and_then(|c| c.get("date").cloned())
            .unwrap_or_else(|| json!("2026-01-01T00:00:00.000Z")),
        "degraded": false,
    });
    if let Some(obj) = body.as_object_mut() {
        if b.is_simulator() {
            obj.insert(
                "noise_models".into(),
                json!(["ideal", "harmony", "aria-1", "aria-2", "forte-1"]),
            );
        }
        if let Some(id) = b.characterizations.first().and_then(|c| c.get("id")) {
            obj.insert("characterization_id".into(), id.clone());
        }
    }
    body
}

fn characterizations(config: &IonqConfig, req: &RecordedRequest, name: &str) -> Reply {
    let Some(backend) = find_backend(config, name) else {
        return error(404, &format!("backend {name} not found"));
    };
    if backend.is_simulator() {
        return error(404, "the simulator has no characterizations");
    }
    let number = |param: &str, default: u64| -> Result<u64, Reply> {
        match req.query_param(param) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| error(400, &format!("querystring/{param} must be integer"))),
        }
    };
    let limit = match number("limit", 10) {
        Ok(l) if (1..=10).contains(&l) => l,
        Ok(_) => return error(400, "querystring/limit must be >= 1 and <= 10"),
        Err(reply) => return reply,
    };
    let page = match number("page", 1) {
        Ok(p) if p >= 1 => p,
        Ok(_) => return error(400, "querystring/page must be >= 1"),
        Err(reply) => return reply,
    };
    let limit = usize::try_from(limit).unwrap_or(10);
    let skip = usize::try_from(page - 1)
        .unwrap_or(usize::MAX)
        .saturating_mul(limit);
    let items: Vec<Value> = backend
        .characterizations
        .iter()
        .skip(skip)
        .take(limit)
        .cloned()
        .collect();
    let pages = backend.characterizations.len().div_ceil(limit);
    Reply::json(
        200,
        JSON,
        &json!({"characterizations": items, "pages": pages}),
    )
}

/// A gate's qubit indices (`targets`/`target`, `controls`/`control`), or why they are invalid.
fn gate_qubits(gate: &Map<String, Value>, i: usize, qubits: u64) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for (list, single) in [("targets", "target"), ("controls", "control")] {
        let values: Vec<&Value> = match (gate.get(list), gate.get(single)) {
            (Some(Value::Array(a)), None) => a.iter().collect(),
            (None, Some(v)) => vec![v],
            (None, None) => Vec::new(),
            _ => {
                return Err(format!(
                    "input.circuit[{i}]: give {list} (an array) or {single} (an integer), not both"
                ));
            }
        };
        for v in values {
            let q = v
                .as_u64()
                .ok_or_else(|| format!("input.circuit[{i}].{list} must hold qubit indices"))?;
            if q >= qubits {
                return Err(format!(
                    "input.circuit[{i}] uses qubit {q}, but input.qubits is {qubits}"
                ));
            }
            out.push(q);
        }
    }
    if out.is_empty() {
        return Err(format!("input.circuit[{i}] has no target"));
    }
    Ok(out)
}

/// What the double runs of a valid job.
struct Plan<'a> {
    backend: &'a IonqBackend,
    shots: u64,
    qubits: u64,
    /// One- and two-qubit gates.
    gate_counts: (u64, u64),
}

/// Validates a job body. Returns its plan or the 400 message.
fn validate_job<'a>(config: &'a IonqConfig, body: &Map<String, Value>) -> Result<Plan<'a>, String> {
    let job_type = body
        .get("type")
        .and_then(Value::as_str)
        .ok_or("body/type is required and must be a string")?;
    if !KNOWN_TYPES.contains(&job_type) {
        return Err(format!(
            "body/type must be one of {}",
            KNOWN_TYPES.join(", ")
        ));
    }
    let backend_name = body
        .get("backend")
        .and_then(Value::as_str)
        .ok_or("body/backend is required and must be a string")?;
    let backend = find_backend(config, backend_name).ok_or_else(|| {
        let names: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
        format!("body/backend must be one of {}", names.join(", "))
    })?;
    let shots = body
        .get("shots")
        .and_then(Value::as_u64)
        .filter(|s| *s >= 1)
        .ok_or("body/shots is required and must be an integer >= 1")?;
    if let Some(name) = body.get("name")
        && !name.is_string()
    {
        return Err("body/name must be a string".into());
    }
    for field in ["dry_run"] {
        if body.get(field).is_some_and(|v| !v.is_boolean()) {
            return Err(format!("body/{field} must be a boolean"));
        }
    }
    for field in ["settings", "noise"] {
        if body
            .get(field)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            return Err(format!("body/{field} must be an object"));
        }
    }
    if let Some(session) = body.get("session_id")
        && !session.is_string()
        && !session.is_null()
    {
        return Err("body/session_id must be a string".into());
    }
    match body.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if m.len() > 10 {
                return Err("body/metadata must have at most 10 keys".into());
            }
            for (k, v) in m {
                if k.chars().count() > 40 {
                    return Err(format!(
                        "body/metadata key {k:?} is longer than 40 characters"
                    ));
                }
                let Some(s) = v.as_str() else {
                    return Err(format!("body/metadata/{k} must be a string"));
                };
                if s.chars().count() > 40_000 {
                    return Err(format!("body/metadata/{k} is longer than 40000 characters"));
                }
            }
        }
        Some(_) => return Err("body/metadata must be an object".into()),
    }
    if job_type != "ionq.circuit.v1" {
        // A limit of the double, not of IonQ.
        return Err(format!(
            "the IonQ double runs type ionq.circuit.v1 only, not {job_type}"
        ));
    }
    let input = body
        .get("input")
        .and_then(Value::as_object)
        .ok_or("body/input is required and must be an object")?;
    let qubits = input
        .get("qubits")
        .and_then(Value::as_u64)
        .filter(|q| *q >= 1)
        .ok_or("body/input/qubits is required and must be an integer >= 1")?;
    let gates: &[&str] = match input.get("gateset").map(|g| g.as_str()) {
        None | Some(Some("qis")) => QIS_GATES,
        Some(Some("native")) => NATIVE_GATES,
        Some(_) => return Err("body/input/gateset must be qis or native".into()),
    };
    let circuit = input
        .get("circuit")
        .and_then(Value::as_array)
        .ok_or("body/input/circuit is required and must be an array")?;
    if circuit.is_empty() {
        return Err("body/input/circuit must not be empty".into());
    }
    let (mut one, mut two) = (0u64, 0u64);
    for (i, gate) in circuit.iter().enumerate() {
        let gate = gate
            .as_object()
            .ok_or_else(|| format!("input.circuit[{i}] must be an object"))?;
        let name = gate
            .get("gate")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("input.circuit[{i}].gate is required"))?;
        if !gates.contains(&name) {
            return Err(format!("input.circuit[{i}]: unknown gate {name:?}"));
        }
        let used = gate_qubits(gate, i, qubits)?;
        let mut distinct = used.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != used.len() {
            return Err(format!("input.circuit[{i}] uses a qubit twice"));
        }
        if gates == QIS_GATES
            && ROTATIONS.contains(&name)
            && !gate.get("rotation").is_some_and(Value::is_number)
        {
            return Err(format!(
                "input.circuit[{i}]: {name} needs a numeric rotation"
            ));
        }
        if used.len() == 1 {
            one += 1;
        } else {
            two += 1;
        }
    }
    Ok(Plan {
        backend,
        shots,
        qubits,
        gate_counts: (one, two),
    })
}

fn create_job(config: &IonqConfig, inner: &mut Inner, req: &RecordedRequest) -> Reply {
    if let Some((status, message)) = inner.reject_next.take() {
        return error(status, &message);
    }
    if !util::is_media_type(req.header("content-type"), "application/json") {
        let ct = req.header("content-type").unwrap_or("none");
        return error(415, &format!("Unsupported Media Type: {ct}"));
    }
    let request: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return error(400, &format!("Body is not valid JSON: {e}")),
    };
    let Some(body) = request.as_object() else {
        return error(400, "body must be object");
    };
    let Plan {
        backend,
        shots,
        qubits,
        gate_counts,
    } = match validate_job(config, body) {
        Ok(v) => v,
        Err(message) => return error(400, &message),
    };
    let id = loop {
        let candidate = inner.rng.uuid();
        if !inner.jobs.contains_key(&candidate) {
            break candidate;
        }
    };
    let mut ending = inner.next_ending.take().unwrap_or(Ending::Complete);
    if qubits > backend.qubits && ending == Ending::Complete {
        ending = Ending::Fail {
            code: "NotEnoughQubits".to_owned(),
            error: format!(
                "The backend {} has {} qubits; the job needs {qubits}",
                backend.name, backend.qubits
            ),
        };
    }
    let probabilities = probabilities(backend, shots, qubits, &mut inner.rng);
    let seq = inner.next_seq;
    inner.next_seq += 1;
    inner.jobs.insert(
        id.clone(),
        Job {
            seq,
            id: id.clone(),
            backend: backend.name.clone(),
            shots,
            qubits,
            status: IonqJobStatus::Submitted,
            polls: 0,
            ending,
            failure: None,
            submitted_at: util::rfc3339_millis_now(),
            started_at: None,
            completed_at: None,
            request: request.clone(),
            gate_counts,
            probabilities,
        },
    );
    Reply::json(
        200,
        JSON,
        &json!({
            "id": id,
            "status": "submitted",
            "session_id": body.get("session_id").cloned().unwrap_or(Value::Null),
        }),
    )
}

/// Every qubit 0 or every qubit 1: exactly 0.5 each on the simulator, sampled on a QPU.
fn probabilities(backend: &IonqBackend, shots: u64, qubits: u64, rng: &mut Rng) -> Value {
    let all = if qubits >= 64 {
        u64::MAX
    } else {
        (1u64 << qubits) - 1
    };
    let zeros = if backend.is_simulator() {
        shots as f64 / 2.0
    } else {
        (0..shots).filter(|_| rng.coin()).count() as f64
    };
    let mut out = Map::new();
    let p0 = zeros / shots as f64;
    if p0 > 0.0 {
        out.insert("0".into(), json!(p0));
    }
    if p0 < 1.0 {
        out.insert(all.to_string(), json!(1.0 - p0));
    }
    Value::Object(out)
}

fn get_job(config: &IonqConfig, inner: &mut Inner, id: &str) -> Reply {
    let Some(job) = inner.jobs.get_mut(id) else {
        return error(404, &format!("job {id} not found"));
    };
    let body = job_body(job);
    if !job.status.is_final() && config.polls_per_state > 0 {
        job.polls += 1;
        if job.polls >= config.polls_per_state {
            advance(job);
        }
    }
    Reply::json(200, JSON, &body)
}

fn job_body(job: &Job) -> Value {
    let req = &job.request;
    let completed = job.status == IonqJobStatus::Completed;
    let simulator = job.backend == "simulator";
    let noise = if simulator {
        let submitted = req.get("noise");
        json!({
            "model": submitted.and_then(|n| n.get("model")).cloned().unwrap_or(json!("ideal")),
            "seed": submitted.and_then(|n| n.get("seed")).cloned().unwrap_or(Value::Null),
        })
    } else {
        Value::Null
    };
    json!({
        "id": job.id,
        "status": job.status.as_str(),
        "type": req.get("type").cloned().unwrap_or(Value::Null),
        "backend": job.backend,
        "dry_run": req.get("dry_run").cloned().unwrap_or(json!(false)),
        "submitter_id": "64b0357700000000d0b1e001",
        "project_id": "00000000-0000-4000-8000-0000000000d0",
        "parent_job_id": null,
        "child_job_ids": null,
        "session_id": req.get("session_id").cloned().unwrap_or(Value::Null),
        "metadata": req.get("metadata").cloned().unwrap_or(Value::Null),
        "name": req.get("name").cloned().unwrap_or(Value::Null),
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "predicted_execution_duration_ms": 12,
        "predicted_wait_time_ms": 0,
        "execution_duration_ms": if completed { json!(12) } else { Value::Null },
        "shots": job.shots,
        "noise": noise,
        "failure": job.failure.as_ref().map(|(code, error)| json!({"code": code, "error": error})),
        "settings": req.get("settings").cloned().unwrap_or_else(|| json!({"compilation": {}})),
        "stats": {
            "qubits": job.qubits,
            "circuits": 1,
            "gate_counts": {"1q": job.gate_counts.0, "2q": job.gate_counts.1},
        },
        "results": if completed {
            json!({"probabilities": {"url": format!("/v0.4/jobs/{}/results/probabilities", job.id)}})
        } else {
            Value::Null
        },
        "output": {},
    })
}
