//! The IonQ upstream adapter: IonQ's API v0.4 called with the workstation's real key.
//!
//! The agent-facing endpoints ([`crate::ionq`]) admit a job against the grant; this adapter then
//! takes the real key from a [`KeySource`], fetches the backend's current characterization
//! (`GET <base>/backends/{backend}/characterizations?limit=1`, the call qiskit-ionq makes) and
//! stores it through a [`CalibrationStore`], and submits the job (`POST <base>/jobs` with
//! `Authorization: apiKey <key>`). Job ids are IonQ's, 1:1; the adapter remembers the ids it
//! submitted so the agent can read only its own session's jobs.
//!
//! The key is only ever put in the `Authorization` header of upstream requests: every upstream
//! body relayed to the agent goes through [`IonqUpstream::scrub`] first, and no error message
//! the adapter makes contains it.

use std::sync::{Arc, Mutex};

use hyper::Method;
use qwarden_vault::Secret;
use serde_json::Value;

use super::{Answer, Base, send};

/// IonQ's API default for `shots` when a request gives none. The gateway writes it into the job
/// it forwards, so the job runs exactly the shots admission checked.
pub const IONQ_DEFAULT_SHOTS: u64 = 100;

/// Where the real provider key comes from (the session backs it with the vault).
pub trait KeySource: Send + Sync {
    /// The key for `provider` (the profile's provider name). The error must not contain the key.
    fn key(&self, provider: &str) -> Result<Secret, String>;
}

/// Where calibration snapshots go (the session backs it with the ledger's CAS).
pub trait CalibrationStore: Send + Sync {
    /// Stores `bytes`; returns their digest, `sha256:<hex>`.
    fn put(&self, bytes: &[u8]) -> String;
}

/// The IonQ provider of a session: its name in the profile, IonQ's API base URL, and where its
/// key and calibrations come from and go.
pub struct IonqUpstream {
    provider: String,
    base: Base,
    keys: Arc<dyn KeySource>,
    calibrations: Arc<dyn CalibrationStore>,
    default_shots: u64,
    jobs: super::JobBook,
    /// Each job's qubits and shots, to turn its probabilities into counts.
    shapes: Mutex<std::collections::HashMap<String, (u32, u64)>>,
}

/// An upstream failure, ready to relay: the status for the agent and a message without the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    /// The status to answer the agent with.
    pub status: u16,
    /// Why, scrubbed.
    pub message: String,
}

impl IonqUpstream {
    /// The adapter for provider `provider` (as the profile names it, e.g. `ionq`) at `base_url`
    /// (`https://api.ionq.co/v0.4` in production, a plain `http://` double in tests).
    pub fn new(
        provider: impl Into<String>,
        base_url: &str,
        keys: Arc<dyn KeySource>,
        calibrations: Arc<dyn CalibrationStore>,
    ) -> Result<IonqUpstream, String> {
        Ok(IonqUpstream {
            provider: provider.into(),
            base: Base::parse(base_url)?,
            keys,
            calibrations,
            default_shots: IONQ_DEFAULT_SHOTS,
            jobs: super::JobBook::default(),
            shapes: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The same, trusting the certificate authorities in `pem` (a lab's CA) for IonQ's endpoint
    /// in addition to the public roots.
    pub fn trusting(mut self, pem: &[u8]) -> Result<IonqUpstream, String> {
        self.base = self.base.with_extra_root(pem)?;
        Ok(self)
    }

    /// The same with another provider default for `shots` (IonQ's is [`IONQ_DEFAULT_SHOTS`]).
    pub fn with_default_shots(mut self, shots: u64) -> IonqUpstream {
        self.default_shots = shots;
        self
    }

    /// The provider's name in the profile.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The shots a job without `shots` runs.
    pub fn default_shots(&self) -> u64 {
        self.default_shots
    }

    /// Whether this session submitted job `id`.
    pub fn owns_job(&self, id: &str) -> bool {
        self.jobs.owns(id)
    }

    /// Whether the results of job `id` are seen for the first time (its bundle is made once).
    pub(crate) fn first_completion(&self, id: &str) -> bool {
        self.jobs.first_completion(id)
    }

    /// Remembers job `id`'s qubits and shots.
    pub(crate) fn note_shape(&self, id: &str, qubits: u32, shots: u64) {
        if let Ok(mut s) = self.shapes.lock() {
            s.insert(id.to_owned(), (qubits, shots));
        }
    }

    /// Job `id`'s qubits and shots.
    pub(crate) fn shape(&self, id: &str) -> Option<(u32, u64)> {
        self.shapes.lock().ok().and_then(|s| s.get(id).copied())
    }

    /// Stores `bytes` (a circuit as submitted) where calibrations go, off the async runtime.
    pub(crate) async fn keep(&self, bytes: Vec<u8>) {
        super::store_blocking(&self.calibrations, bytes).await;
    }

    fn remember(&self, id: &str) {
        self.jobs.remember(id);
    }

    /// The real key (read on a blocking thread: the vault may decrypt).
    pub async fn key(&self) -> Result<Secret, UpstreamError> {
        super::key_for(self.keys.clone(), &self.provider).await
    }

    /// `bytes` with the key removed.
    pub fn scrub(bytes: &[u8], key: Option<&Secret>) -> Vec<u8> {
        match key {
            Some(k) => super::scrub(bytes, k.expose()),
            None => bytes.to_vec(),
        }
    }

    /// One call to IonQ: `path_and_query` under the base URL, with the key when given. The
    /// answer's body is scrubbed of the key.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        key: Option<&Secret>,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, UpstreamError> {
        let auth = key.map(|k| format!("apiKey {}", k.expose()));
        let mut headers: Vec<(&'static str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        if body.is_some() || key.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let answer = send(&self.base, method, path_and_query, &headers, body)
            .await
            .map_err(|e| UpstreamError {
                status: 502,
                message: String::from_utf8_lossy(&Self::scrub(
                    format!("cannot reach IonQ: {e}").as_bytes(),
                    key,
                ))
                .into_owned(),
            })?;
        Ok(Answer {
            status: answer.status,
            body: Self::scrub(&answer.body, key).into(),
        })
    }

    /// The backend's current characterization, stored: `Ok(Some(digest))`, or `Ok(None)` when
    /// IonQ has none for it (the simulator answers 404; an empty list).
    pub async fn capture_calibration(
        &self,
        backend: &str,
        key: &Secret,
    ) -> Result<Option<String>, UpstreamError> {
        let answer = self
            .call(
                Method::GET,
                &format!("/backends/{backend}/characterizations?limit=1"),
                Some(key),
                None,
            )
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&answer.status) {
            return Err(relayed_error(
                &answer,
                "fetching the backend's characterization",
            ));
        }
        let listing: Value = serde_json::from_slice(&answer.body).map_err(|_| UpstreamError {
            status: 502,
            message: "IonQ's characterization listing is not JSON".into(),
        })?;
        let Some(current) = listing
            .get("characterizations")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        else {
            return Ok(None);
        };
        let bytes = crate::ionq::canonical_json(current);
        super::store_blocking(&self.calibrations, bytes)
            .await
            .map(Some)
            .ok_or_else(|| UpstreamError {
                status: 500,
                message: "storing the calibration snapshot failed".into(),
            })
    }

    /// Submits a job body (already admitted and re-serialized). Returns IonQ's answer when it
    /// accepted the job (2xx with an `id`), remembering the id; an error otherwise.
    pub async fn submit(
        &self,
        body: Vec<u8>,
        key: &Secret,
    ) -> Result<(String, Answer), UpstreamError> {
        let answer = self
            .call(Method::POST, "/jobs", Some(key), Some(body))
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(relayed_error(&answer, "submitting the job"));
        }
        let id = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
            .filter(|id| crate::ionq::safe_segment(id))
            .ok_or_else(|| UpstreamError {
                status: 502,
                message: "IonQ accepted the job but its answer has no usable job id".into(),
            })?;
        self.remember(&id);
        Ok((id, answer))
    }
}

/// An upstream error answer as the agent gets it: IonQ's message with its status (see
/// [`super::relayed`]).
pub fn relayed_error(answer: &Answer, doing: &str) -> UpstreamError {
    super::relayed(answer, doing, "IonQ", |v| {
        v.get("message")
            .and_then(Value::as_str)
            .or_else(|| v.pointer("/error/message").and_then(Value::as_str))
    })
}
