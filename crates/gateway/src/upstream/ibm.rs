//! The IBM upstream adapter: IBM Cloud IAM and the Qiskit Runtime REST API v1, called with the
//! workstation's real API key.
//!
//! The real key only ever goes to IAM (`POST <iam>/identity/token`, form `grant_type=
//! urn:ibm:params:oauth:grant-type:apikey&apikey=<key>`), which answers with an access token; the
//! adapter keeps that token (it is as sensitive as the key) until 80 % of its lifetime has passed
//! and sends it as `Authorization: Bearer` to the runtime API, with the instance's
//! `Service-CRN`. A runtime `401` drops the cached token and the call is made once more with a
//! fresh one.
//!
//! At submission the adapter fetches the backend's calibration (`GET
//! /backends/{name}/properties`, which carries `last_update_date`) and stores it through the
//! [`CalibrationStore`], then posts the job. Job ids are IBM's; the adapter remembers the ids it
//! submitted so the agent can read only its own session's jobs. Every upstream body relayed to
//! the agent has the key and the access token scrubbed out of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use qwarden_vault::Secret;
use serde_json::Value;

use super::ionq::{CalibrationStore, KeySource, UpstreamError};
use super::{Answer, Base, send};

/// The API version the adapter asks the runtime API for (what qiskit-ibm-runtime 0.51 sends).
pub const IBM_API_VERSION: &str = "2026-04-15";

/// The grant type IBM Cloud IAM takes for an API key.
const APIKEY_GRANT_TYPE: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// The shots a SamplerV2 PUB runs when nothing sets them (qiskit-ibm-runtime's `default_shots`).
pub const IBM_DEFAULT_SHOTS: u64 = 4096;

/// Where an IBM instance is and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbmEndpoints {
    /// The runtime API root, `https://quantum.cloud.ibm.com/api/v1`.
    pub runtime_url: String,
    /// IBM Cloud IAM's root, `https://iam.cloud.ibm.com` (the token endpoint is
    /// `<iam>/identity/token`).
    pub iam_url: String,
    /// The instance's CRN, sent as `Service-CRN`.
    pub instance_crn: String,
}

/// The IBM provider of a session.
pub struct IbmUpstream {
    provider: String,
    runtime: Base,
    iam: Base,
    instance_crn: String,
    keys: Arc<dyn KeySource>,
    calibrations: Arc<dyn CalibrationStore>,
    token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
    jobs: super::JobBook,
}

/// The credentials of one upstream call, for scrubbing what comes back.
struct Credentials {
    key: Secret,
    token: Secret,
}

impl Credentials {
    fn scrub(&self, bytes: &[u8]) -> Vec<u8> {
        super::scrub(&super::scrub(bytes, self.key.expose()), self.token.expose())
    }
}

impl IbmUpstream {
    /// The adapter for provider `provider` (as the profile names it).
    pub fn new(
        provider: impl Into<String>,
        endpoints: &IbmEndpoints,
        keys: Arc<dyn KeySource>,
        calibrations: Arc<dyn CalibrationStore>,
    ) -> Result<IbmUpstream, String> {
        let crn = endpoints.instance_crn.trim();
        if !crn.starts_with("crn:") || crn.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!(
                "the IBM instance `{crn}` is not a CRN (crn:v1:bluemix:public:quantum-computing:<region>:a/<account>:<instance>::); set the provider's `instance` in the workstation profile"
            ));
        }
        Ok(IbmUpstream {
            provider: provider.into(),
            runtime: Base::parse(&endpoints.runtime_url)?,
            iam: Base::parse(&endpoints.iam_url)?,
            instance_crn: crn.to_owned(),
            keys,
            calibrations,
            token: tokio::sync::Mutex::new(None),
            jobs: super::JobBook::default(),
        })
    }

    /// The same, trusting the certificate authorities in `pem` (a lab's CA) for the runtime API
    /// and IAM in addition to the public roots.
    pub fn trusting(mut self, pem: &[u8]) -> Result<IbmUpstream, String> {
        self.runtime = self.runtime.with_extra_root(pem)?;
        self.iam = self.iam.with_extra_root(pem)?;
        Ok(self)
    }

    /// The provider's name in the profile.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The instance CRN (not a secret: the agent's SDK is given it too).
    pub fn instance_crn(&self) -> &str {
        &self.instance_crn
    }

    /// Whether this session submitted job `id`.
    pub fn owns_job(&self, id: &str) -> bool {
        self.jobs.owns(id)
    }

    /// Whether the results of job `id` are seen for the first time (its bundle is made once).
    pub(crate) fn first_completion(&self, id: &str) -> bool {
        self.jobs.first_completion(id)
    }

    /// Stores `bytes` (a circuit as submitted) where calibrations go, off the async runtime.
    pub(crate) async fn keep(&self, bytes: Vec<u8>) {
        super::store_blocking(&self.calibrations, bytes).await;
    }

    fn remember(&self, id: &str) {
        self.jobs.remember(id);
    }

    async fn key(&self) -> Result<Secret, UpstreamError> {
        super::key_for(self.keys.clone(), &self.provider).await
    }

    /// A live access token: the cached one, or a new one from IAM.
    async fn credentials(&self, fresh: bool) -> Result<Credentials, UpstreamError> {
        let key = self.key().await?;
        let mut cached = self.token.lock().await;
        if !fresh
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(Credentials {
                key,
                token: token.clone(),
            });
        }
        let (token, lifetime) = self.exchange(&key).await?;
        // Renewed at 80 % of its lifetime, as IBM's own SDK core does.
        let until = Instant::now() + lifetime.mul_f64(0.8);
        *cached = Some((token.clone(), until));
        Ok(Credentials { key, token })
    }

    /// IAM: the API key for an access token and its lifetime.
    async fn exchange(&self, key: &Secret) -> Result<(Secret, Duration), UpstreamError> {
        let form = Secret::new(format!(
            "grant_type={}&apikey={}",
            form_encode(APIKEY_GRANT_TYPE),
            form_encode(key.expose())
        ));
        let answer = send(
            &self.iam,
            Method::POST,
            "/identity/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(form.expose().as_bytes().to_vec()),
        )
        .await
        .map_err(|e| UpstreamError {
            status: 502,
            message: format!(
                "cannot reach IBM Cloud IAM: {}",
                String::from_utf8_lossy(&super::scrub(e.as_bytes(), key.expose()))
            ),
        })?;
        let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
        if !(200..300).contains(&answer.status) {
            let why = body
                .as_ref()
                .and_then(|b| {
                    let code = b.get("errorCode").and_then(Value::as_str)?;
                    let message = b.get("errorMessage").and_then(Value::as_str)?;
                    Some(format!("{code}: {message}"))
                })
                .unwrap_or_else(|| format!("status {}", answer.status));
            let why =
                String::from_utf8_lossy(&super::scrub(why.as_bytes(), key.expose())).into_owned();
            return Err(UpstreamError {
                status: 502,
                message: format!(
                    "IBM Cloud IAM refused the workstation's key for provider {}: {why} (the key may need `qwarden secrets rotate`)",
                    self.provider
                ),
            });
        }
        let token = body
            .as_ref()
            .and_then(|b| b.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| UpstreamError {
                status: 502,
                message: "IBM Cloud IAM answered without a usable access_token".into(),
            })?;
        let lifetime = body
            .as_ref()
            .and_then(|b| b.get("expires_in"))
            .and_then(Value::as_u64)
            .unwrap_or(3600)
            .clamp(1, 24 * 3600);
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }

    /// One runtime API call (`path_and_query` under the runtime root). The answer's body is
    /// scrubbed of the key and the access token.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, UpstreamError> {
        let mut fresh = false;
        loop {
            let creds = self.credentials(fresh).await?;
            let auth = format!("Bearer {}", creds.token.expose());
            let mut headers: Vec<(&'static str, &str)> = vec![
                ("authorization", auth.as_str()),
                ("service-crn", self.instance_crn.as_str()),
                ("ibm-api-version", IBM_API_VERSION),
            ];
            if body.is_some() {
                headers.push(("content-type", "application/json"));
            }
            let answer = send(
                &self.runtime,
                method.clone(),
                path_and_query,
                &headers,
                body.clone(),
            )
            .await
            .map_err(|e| UpstreamError {
                status: 502,
                message: String::from_utf8_lossy(
                    &creds.scrub(format!("cannot reach IBM Quantum: {e}").as_bytes()),
                )
                .into_owned(),
            })?;
            if answer.status == 401 && !fresh {
                // The token may have been revoked or expired early: one more try with a new one.
                fresh = true;
                continue;
            }
            return Ok(Answer {
                status: answer.status,
                body: creds.scrub(&answer.body).into(),
            });
        }
    }

    /// The backend's calibration, stored: `Ok(Some(digest))`, or `Ok(None)` when IBM has none
    /// for it (a simulator: `404`).
    pub async fn capture_calibration(
        &self,
        backend: &str,
    ) -> Result<Option<String>, UpstreamError> {
        let answer = self
            .call(
                Method::GET,
                &format!("/backends/{backend}/properties"),
                None,
            )
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&answer.status) {
            return Err(relayed_error(&answer, "fetching the backend's calibration"));
        }
        let properties: Value =
            serde_json::from_slice(&answer.body).map_err(|_| UpstreamError {
                status: 502,
                message: "IBM's backend properties are not JSON".into(),
            })?;
        if properties.get("last_update_date").is_none()
            && properties.get("calibration_id").is_none()
        {
            return Err(UpstreamError {
                status: 502,
                message: format!(
                    "IBM's properties of {backend} name neither last_update_date nor calibration_id: the calibration the job would run under cannot be recorded"
                ),
            });
        }
        let bytes = crate::ionq::canonical_json(&properties);
        super::store_blocking(&self.calibrations, bytes)
            .await
            .map(Some)
            .ok_or_else(|| UpstreamError {
                status: 500,
                message: "storing the calibration snapshot failed".into(),
            })
    }

    /// Submits a job body (already admitted). Returns IBM's answer when it accepted the job (2xx
    /// with an `id`), remembering the id; an error otherwise.
    pub async fn submit(&self, body: Vec<u8>) -> Result<(String, Answer), UpstreamError> {
        let answer = self.call(Method::POST, "/jobs", Some(body)).await?;
        if !(200..300).contains(&answer.status) {
            return Err(relayed_error(&answer, "submitting the job"));
        }
        let id = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
            .filter(|id| crate::ionq::safe_segment(id))
            .ok_or_else(|| UpstreamError {
                status: 502,
                message: "IBM accepted the job but its answer has no usable job id".into(),
            })?;
        self.remember(&id);
        Ok((id, answer))
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An upstream error answer as the agent gets it: IBM's first error message with its status
/// (see [`super::relayed`]).
pub fn relayed_error(answer: &Answer, doing: &str) -> UpstreamError {
    super::relayed(answer, doing, "IBM Quantum", |v| {
        v.pointer("/errors/0/message")
            .and_then(Value::as_str)
            .or_else(|| v.get("message").and_then(Value::as_str))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            form_encode(APIKEY_GRANT_TYPE),
            "urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey"
        );
    }

    #[test]
    fn an_instance_must_be_a_crn() {
        struct NoKeys;
        impl KeySource for NoKeys {
            fn key(&self, _: &str) -> Result<Secret, String> {
                Err("none".into())
            }
        }
        struct NoStore;
        impl CalibrationStore for NoStore {
            fn put(&self, _: &[u8]) -> String {
                String::new()
            }
        }
        let endpoints = |crn: &str| IbmEndpoints {
            runtime_url: "http://127.0.0.1:1/api/v1".into(),
            iam_url: "http://127.0.0.1:1".into(),
            instance_crn: crn.into(),
        };
        let make = |crn: &str| {
            IbmUpstream::new("ibm", &endpoints(crn), Arc::new(NoKeys), Arc::new(NoStore))
        };
        let e = make("my-instance").err().unwrap();
        assert!(e.contains("not a CRN"), "{e}");
        assert!(make("crn:v1:bluemix:public:quantum-computing:us-east:a/1:2::").is_ok());
    }
}
