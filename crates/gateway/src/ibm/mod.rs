//! The IBM Qiskit Runtime-compatible API on the gateway's listener, as qiskit-ibm-runtime 0.51
//! calls it with `IAM_URL=http://<gateway>`, `QISKIT_IBM_URL=http://<gateway>/experimental/api/v1`,
//! `QISKIT_IBM_TOKEN=<handle>` and `QISKIT_IBM_INSTANCE=<CRN>`
//! (`shared/fixtures/provider-traffic/README.md`, IBM section):
//!
//! - `POST /identity/token`: the gateway's IAM. The form's `apikey` is the session's handle; the
//!   answer is a short-lived JWT-shaped access token ([`token`]) bound to that handle;
//! - under `/experimental/api/v1` or `/api/v1`, authenticated by `Authorization: Bearer <access
//!   token>` or, as the SDK falls back to when IAM fails, `apikey <handle>`:
//!   - `GET /backends` (only the granted backends are listed), `GET
//!     /backends/{name}/configuration|properties|status|defaults` (granted backends only),
//!     `GET /instances/usage`: proxied to IBM;
//!   - `POST /jobs`: admitted against the grant (backend `ibm:<backend>`, every PUB's shots from
//!     wherever IBM takes them, see [`pubs`]), then submitted by the upstream adapter
//!     ([`crate::upstream::ibm`]) with the calibration captured;
//!   - `GET /jobs` (this session's jobs only), `GET /jobs/{id}`, `GET /jobs/{id}/results`,
//!     `POST /jobs/{id}/cancel`, `DELETE /jobs/{id}`: for jobs this session submitted, proxied.
//!
//! Every answer the gateway makes itself has the runtime API's error shape `{"errors": [{"code",
//! "message", "more_info"}], "status_code"}` (IAM's own: `{"errorCode", "errorMessage"}`), with
//! statuses qiskit-ibm-runtime does not retry: a refusal is a `400`, `401`, `403`, `404` or `413`.

mod pubs;
pub mod results;
mod token;

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};
use qwarden_vault::Secret;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use pubs::sampler_shots;
pub use token::TOKEN_LIFETIME_SECS;

use qwarden_approvals::JobAction;

use crate::admission::{JobRequest, Refusal};
use crate::gate::{Outgoing, Resolved, swap_id};
use crate::ionq::{canonical_json, safe_query, safe_segment};
use crate::record::{Completed, Refused, Submitted};
use crate::server::State;
use crate::upstream::Answer;
use crate::upstream::ibm::{IbmUpstream, relayed_error};
use crate::upstream::ionq::UpstreamError;

/// The largest job body accepted (QPY circuits are compact; this leaves room for large PUBs).
pub const MAX_BODY: usize = 8 << 20;

/// The largest IAM form accepted.
const MAX_FORM: usize = 8 * 1024;

/// The runtime API roots the SDK uses: the one `QISKIT_IBM_URL` must contain
/// (`experimental`, or the SDK rewrites the URL) and the canonical one.
const ROOTS: [&str; 2] = ["/experimental/api/v1", "/api/v1"];

/// Where IBM's error codes are explained (the `more_info` of every error).
const MORE_INFO: &str = "https://quantum.cloud.ibm.com/docs/errors";

/// The grant type IBM Cloud IAM takes for an API key.
const APIKEY_GRANT_TYPE: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// The IBM provider of a session: the upstream adapter and the gateway's own IAM.
pub struct IbmApi {
    upstream: IbmUpstream,
    tokens: token::TokenIssuer,
}

impl IbmApi {
    /// The API in front of `upstream`.
    pub fn new(upstream: IbmUpstream) -> Result<IbmApi, String> {
        Ok(IbmApi {
            upstream,
            tokens: token::TokenIssuer::new()?,
        })
    }

    /// The provider's name in the profile.
    pub fn provider(&self) -> &str {
        self.upstream.provider()
    }

    /// The instance CRN the agent's SDK is configured with.
    pub fn instance_crn(&self) -> &str {
        self.upstream.instance_crn()
    }
}

/// Whether `path` belongs to this API.
pub fn owns(path: &str) -> bool {
    path == "/identity/token"
        || ROOTS.iter().any(|r| {
            path.strip_prefix(r)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The runtime API's error body.
pub fn error_body(status: u16, code: u32, message: &str) -> Value {
    json!({
        "errors": [{"code": code, "message": message, "more_info": MORE_INFO}],
        "status_code": status,
    })
}

fn respond(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An error in the runtime API's shape. The code is IBM's where its registry has one (1200 not
/// authorized, 1201 invalid credentials, 1208 request validation), else the status.
fn err(status: u16, message: impl AsRef<str>) -> Response<Full<Bytes>> {
    let code = match status {
        401 => 1201,
        403 => 1200,
        400 | 413 => 1208,
        s => u32::from(s),
    };
    respond(
        status,
        Bytes::from(error_body(status, code, message.as_ref()).to_string()),
    )
}

fn upstream_err(e: UpstreamError) -> Response<Full<Bytes>> {
    err(e.status, e.message)
}

fn relay(answer: Answer, doing: &str) -> Response<Full<Bytes>> {
    if (200..300).contains(&answer.status) {
        respond(answer.status, answer.body)
    } else {
        upstream_err(relayed_error(&answer, doing))
    }
}

/// IAM's error shape (status 400, as IBM Cloud IAM answers a key it does not know).
fn iam_err(code: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        400,
        Bytes::from(json!({"errorCode": code, "errorMessage": message, "context": {}}).to_string()),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The credential of a runtime call: `Bearer <access token>` or `apikey <handle>`.
fn credential(req: &Request<Incoming>, api: &IbmApi) -> Result<Secret, String> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Err(
            "Invalid credentials: no Authorization header (the SDK exchanges $QISKIT_IBM_TOKEN at $IAM_URL/identity/token for a bearer token)".into(),
        );
    };
    if values.next().is_some() {
        return Err("Invalid credentials: send one Authorization header".into());
    }
    let v = v
        .to_str()
        .map_err(|_| "Invalid credentials: the Authorization header is not text".to_owned())?;
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => api
            .tokens
            .check(t.trim(), now())
            .map_err(|why| format!("Invalid credentials: {why}")),
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("apikey") && !t.trim().is_empty() => {
            Ok(Secret::new(t.trim()))
        }
        _ => Err("Invalid credentials: use `Bearer <access token>` or `apikey <handle>`".into()),
    }
}

/// Serves one request this API [`owns`].
pub async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let Some(api) = state.ibm.as_ref() else {
        return err(
            404,
            "IBM Quantum is not available through this session's gateway: the agent's manifest does not ask for an IBM provider, or the workstation profile does not configure one",
        );
    };
    let path = req.uri().path().to_owned();
    if path == "/identity/token" {
        return iam(req, &state, api).await;
    }
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let handle = match credential(&req, api) {
        Ok(h) => h,
        Err(why) => return err(401, why),
    };
    if let Err(why) = state.auth.check(handle.expose(), Some(api.provider())) {
        return err(401, format!("Invalid credentials: {why}"));
    }
    let rest = ROOTS
        .iter()
        .find_map(|r| path.strip_prefix(r))
        .unwrap_or_default()
        .trim_start_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    let not_found = || err(404, format!("Not Found: {method} {path}"));
    if !query.as_deref().is_none_or(safe_query) || !segments.iter().all(|s| safe_segment(s)) {
        return not_found();
    }
    let target = match &query {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    let up = &api.upstream;
    match (&method, segments.as_slice()) {
        (&Method::GET, ["backends"]) => match up.call(Method::GET, &target, None).await {
            Ok(a) if (200..300).contains(&a.status) => {
                respond(a.status, granted_devices(&a.body, &state, api.provider()))
            }
            Ok(a) => relay(a, "listing backends"),
            Err(e) => upstream_err(e),
        },
        (
            &Method::GET,
            [
                "backends",
                name,
                "configuration" | "properties" | "status" | "defaults",
            ],
        ) => {
            if !state.admission.covers(api.provider(), name) {
                return err(
                    403,
                    format!(
                        "backend {name} is not granted to this agent; ask for {}:{name} in the manifest's [qpu] backends",
                        api.provider()
                    ),
                );
            }
            match up.call(Method::GET, &target, None).await {
                Ok(a) => relay(a, "reading the backend"),
                Err(e) => upstream_err(e),
            }
        }
        (&Method::GET, ["instances", "usage"]) => match up.call(Method::GET, &target, None).await {
            Ok(a) => relay(a, "reading the instance's usage"),
            Err(e) => upstream_err(e),
        },
        (&Method::POST, ["jobs"]) => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    let reason = format!("Request body too large (over {MAX_BODY} bytes)");
                    refused(&state, api, "", &reason);
                    return err(413, reason);
                }
            };
            submit(&state, api, &body).await
        }
        (&Method::GET, ["jobs"]) => match up.call(Method::GET, &target, None).await {
            Ok(a) if (200..300).contains(&a.status) => respond(a.status, own_jobs(&a.body, up)),
            Ok(a) => relay(a, "listing jobs"),
            Err(e) => upstream_err(e),
        },
        (&Method::GET, ["jobs", id, rest @ ..])
        | (&Method::DELETE, ["jobs", id, rest @ ..])
        | (&Method::POST, ["jobs", id, rest @ ..])
            if state.gate.as_ref().is_some_and(|g| g.holds(id)) && rest.len() <= 1 =>
        {
            let gate = state.gate.as_ref().map(|g| g as &crate::gate::Gate);
            match gate {
                Some(g) => held(&state, api, g, &method, id, rest, query.as_deref()).await,
                None => not_found(),
            }
        }
        (&Method::GET, ["jobs", id])
        | (&Method::DELETE, ["jobs", id])
        | (&Method::GET, ["jobs", id, "results"])
        | (&Method::POST, ["jobs", id, "cancel"]) => {
            if !up.owns_job(id) {
                return err(
                    404,
                    format!("Job not found: {id} is not a job of this session"),
                );
            }
            match up.call(method.clone(), &target, None).await {
                Ok(a) => {
                    if rest_is_results(&method, &segments) {
                        completed(&state, api, id, &a);
                    }
                    relay(a, "reading the job")
                }
                Err(e) => upstream_err(e),
            }
        }
        _ => not_found(),
    }
}

fn rest_is_results(method: &Method, segments: &[&str]) -> bool {
    method == Method::GET && matches!(segments, ["jobs", _, "results"])
}

/// Reports the results of IBM job `real` to the sink the first time they are read whole: the
/// session makes the job's bundle from them. Results that cannot be counted are still relayed
/// to the agent, and the job simply gets no bundle.
fn completed(state: &State, api: &IbmApi, real: &str, answer: &Answer) {
    if answer.status != 200 {
        return;
    }
    let Ok(pubs) = results::sampler_counts(&answer.body) else {
        return;
    };
    if api.upstream.first_completion(real) {
        state.sink.completed(Completed {
            provider: api.provider().to_owned(),
            api: "ibm",
            job_id: real.to_owned(),
            results: answer.body.to_vec(),
            counts: pubs.into_iter().map(|p| p.joined).collect(),
        });
    }
}

/// The backend listing with only the granted backends in `devices`.
fn granted_devices(body: &[u8], state: &State, provider: &str) -> Bytes {
    let Ok(Value::Object(mut listing)) = serde_json::from_slice::<Value>(body) else {
        return Bytes::from(json!({"devices": []}).to_string());
    };
    if let Some(Value::Array(devices)) = listing.get_mut("devices") {
        devices.retain(|d| {
            d.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| state.admission.covers(provider, n))
        });
    }
    Bytes::from(Value::Object(listing).to_string())
}

/// A job listing with only this session's jobs.
fn own_jobs(body: &[u8], up: &IbmUpstream) -> Bytes {
    let mut listing = serde_json::from_slice::<Value>(body).unwrap_or_else(|_| json!({}));
    let jobs: Vec<Value> = listing
        .get("jobs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|j| {
            j.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| up.owns_job(id))
        })
        .cloned()
        .collect();
    let count = jobs.len();
    if let Value::Object(m) = &mut listing {
        m.insert("jobs".into(), Value::Array(jobs));
        m.insert("count".into(), count.into());
    }
    Bytes::from(listing.to_string())
}

/// `POST /identity/token`: the handle for an access token.
async fn iam(req: Request<Incoming>, state: &State, api: &IbmApi) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return iam_err("BXNIM0109E", "The token endpoint takes POST only.");
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return iam_err(
            "BXNIM0109E",
            "Unsupported Content-Type: the token request must be application/x-www-form-urlencoded.",
        );
    }
    let Ok(body) = Limited::new(req.into_body(), MAX_FORM).collect().await else {
        return iam_err("BXNIM0109E", "The token request is too large.");
    };
    let body = body.to_bytes();
    let fields = parse_form(&body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose())
    };
    match field("grant_type") {
        Some(APIKEY_GRANT_TYPE) => {}
        Some(other) => {
            return iam_err("BXNIM0103E", &format!("Unsupported grant type: {other}"));
        }
        None => {
            return iam_err(
                "BXNIM0109E",
                "Property missing or empty. Property name: grant_type",
            );
        }
    }
    let Some(handle) = field("apikey").filter(|k| !k.is_empty()) else {
        return iam_err(
            "BXNIM0109E",
            "Property missing or empty. Property name: apikey",
        );
    };
    if let Err(why) = state.auth.check(handle, Some(api.provider())) {
        return iam_err(
            "BXNIM0415E",
            &format!("Provided API key could not be found: {why}"),
        );
    }
    match api.tokens.issue(handle, api.provider(), now()) {
        Ok(t) => respond(
            200,
            Bytes::from(
                json!({
                    "access_token": t.token.expose(),
                    "refresh_token": "not_supported",
                    "ims_user_id": 0,
                    "token_type": "Bearer",
                    "expires_in": t.exp - t.iat,
                    "expiration": t.exp,
                    "scope": "ibm openid",
                })
                .to_string(),
            ),
        ),
        Err(why) => err(500, why),
    }
}

/// `application/x-www-form-urlencoded` fields, decoded (values kept as secrets: one is the handle).
fn parse_form(body: &[u8]) -> Vec<(String, Secret)> {
    fn decode(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                _ => out.push(b),
            }
            i += 1;
        }
        out
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (
                    pair.get(..at).unwrap_or_default(),
                    pair.get(at + 1..).unwrap_or_default(),
                ),
                None => (pair, &[][..]),
            };
            (
                String::from_utf8_lossy(&decode(k)).into_owned(),
                Secret::new(String::from_utf8_lossy(&decode(v)).into_owned()),
            )
        })
        .collect()
}

fn refused(state: &State, api: &IbmApi, backend: &str, reason: &str) {
    state.sink.refused(Refused {
        provider: api.provider().to_owned(),
        backend: backend.to_owned(),
        api: "ibm",
        reason: reason.to_owned(),
    });
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `POST /jobs`, after authentication.
async fn submit(state: &State, api: &IbmApi, body: &[u8]) -> Response<Full<Bytes>> {
    let invalid = |reason: String| format!("Request validation of body failed, because: {reason}");
    let Ok(Value::Object(mut job)) = serde_json::from_slice::<Value>(body) else {
        let reason = invalid("the body must be a JSON object (a Qiskit Runtime job)".into());
        refused(state, api, "", &reason);
        return err(400, reason);
    };
    let Some(backend) = job
        .get("backend")
        .and_then(Value::as_str)
        .filter(|b| safe_segment(b))
        .map(str::to_owned)
    else {
        let reason =
            invalid("backend is required and must be a backend name such as ibm_torino".into());
        refused(state, api, "", &reason);
        return err(400, reason);
    };
    let circuits = match pubs::sampler_shots(&mut job) {
        Ok(c) => c,
        Err(why) => {
            let reason = invalid(why);
            refused(state, api, &backend, &reason);
            return err(400, reason);
        }
    };
    let pubs_count = circuits.len();
    let request = JobRequest {
        provider: api.provider().to_owned(),
        backend: backend.clone(),
        circuits,
    };
    let pub_circuits: Vec<Value> = job
        .get("params")
        .and_then(|p| p.get("pubs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| p.get(0).cloned().unwrap_or(Value::Null))
        .collect();
    let cost = job.get("cost").map(|c| format!("{c} s"));
    let circuit = canonical_json(&Value::Array(pub_circuits));
    let circuit_digest = sha256(&circuit);
    // The circuits as submitted, named by the digest the ledger records, for the job's bundle.
    api.upstream.keep(circuit).await;
    let job = Outgoing {
        backend: backend.clone(),
        circuit_digest,
        request_digest: sha256(body),
        forwarded: match serde_json::to_vec(&Value::Object(job)) {
            Ok(f) => f,
            Err(_) => return err(500, "cannot re-serialize the job"),
        },
    };
    let admitted = match (state.admission.admit(&request), &state.gate) {
        (Ok(a), _) => a,
        (Err(Refusal::NeedsApproval { second_factor, .. }), Some(gate)) => {
            let admitted = match state.admission.admit_for_approval(&request) {
                Ok(a) => a,
                Err(e) => {
                    let reason = format!("denied: {e}");
                    refused(state, api, &backend, &reason);
                    return err(403, reason);
                }
            };
            let action = JobAction {
                provider: api.provider().to_owned(),
                backend: backend.clone(),
                circuit_digest: job.circuit_digest.clone(),
                shots: admitted.shots,
                cost_estimate: cost,
                request_digest: sha256(&job.forwarded),
                summary: format!("{pubs_count} PUB(s) of QPY circuits for SamplerV2"),
            };
            let id = held_job_id();
            return match gate.hold(&id, action, admitted, job.forwarded, second_factor) {
                Ok(_) => respond(
                    200,
                    Bytes::from(json!({"id": id, "backend": backend}).to_string()),
                ),
                Err(why) => {
                    state.admission.release(admitted);
                    refused(state, api, &backend, &why);
                    err(500, why)
                }
            };
        }
        (Err(e), _) => {
            let reason = format!("denied: {e}");
            refused(state, api, &backend, &reason);
            return err(403, reason);
        }
    };
    match send(state, api, &job, admitted).await {
        Ok((_, answer)) => respond(answer.status, answer.body),
        Err(e) => upstream_err(e),
    }
}

/// Captures the calibration, submits `job` and records it; on failure gives the budget back
/// and records the refusal.
async fn send(
    state: &State,
    api: &IbmApi,
    job: &Outgoing,
    admitted: crate::admission::Admitted,
) -> Result<(String, Answer), UpstreamError> {
    let fail = |e: UpstreamError| {
        state.admission.release(admitted);
        refused(state, api, &job.backend, &e.message);
        e
    };
    let up = &api.upstream;
    let calibration_digest = up.capture_calibration(&job.backend).await.map_err(fail)?;
    let (job_id, answer) = up.submit(job.forwarded.clone()).await.map_err(fail)?;
    state.sink.submitted(Submitted {
        provider: api.provider().to_owned(),
        backend: job.backend.clone(),
        shots: admitted.shots,
        circuit_digest: job.circuit_digest.clone(),
        job_id: job_id.clone(),
        calibration_digest,
        request_digest: job.request_digest.clone(),
        seed: None,
    });
    Ok((job_id, answer))
}

/// An id for a held job in IBM's style (20 lower-case letters and digits).
fn held_job_id() -> String {
    format!("qw{:018x}", crate::local::random_seed() >> 8)
}

/// A held job's answers: what the agent sees of `id` while it waits, once it was sent (IBM's
/// answer, under the id the agent knows), or when it will not run.
async fn held(
    state: &State,
    api: &IbmApi,
    gate: &crate::gate::Gate,
    method: &Method,
    id: &str,
    rest: &[&str],
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let sent = gate
        .resolve(id, &state.admission, async |job, admitted| {
            send(state, api, &job, admitted).await.map(|(real, _)| real)
        })
        .await;
    let Some(resolved) = sent else {
        return err(404, format!("Job not found: {id}"));
    };
    let real = match resolved {
        Resolved::Waiting { request_id } => {
            return match rest {
                [] if method == Method::GET => respond(
                    200,
                    Bytes::from(
                        json!({
                            "id": id,
                            "state": {"status": "Queued", "reason": format!("waiting for approval request {request_id}")},
                            "status": "Queued",
                            "program": {"id": "sampler"},
                        })
                        .to_string(),
                    ),
                ),
                _ => err(404, format!("Results of job {id} are not available yet: it waits for approval request {request_id}")),
            };
        }
        Resolved::Refused { reason } => {
            return match rest {
                [] if method == Method::GET => respond(
                    200,
                    Bytes::from(
                        json!({
                            "id": id,
                            "state": {"status": "Failed", "reason": reason, "reason_code": 1200},
                            "status": "Failed",
                            "program": {"id": "sampler"},
                        })
                        .to_string(),
                    ),
                ),
                _ => err(403, reason),
            };
        }
        Resolved::Failed(e) => return upstream_err(e),
        Resolved::Sent(real) => real,
    };
    let mut target = format!("/jobs/{real}");
    for r in rest {
        target.push('/');
        target.push_str(r);
    }
    if let Some(q) = query {
        target = format!("{target}?{q}");
    }
    match api.upstream.call(method.clone(), &target, None).await {
        // The agent knows the job by the held id: IBM's id is swapped back in the answer.
        Ok(a) if (200..300).contains(&a.status) => {
            if method == Method::GET && rest == ["results"] {
                completed(state, api, &real, &a);
            }
            respond(a.status, swap_id(&a.body, &real, id))
        }
        Ok(a) => relay(a, "reading the job"),
        Err(e) => upstream_err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_it_owns() {
        for p in [
            "/identity/token",
            "/api/v1",
            "/api/v1/jobs",
            "/experimental/api/v1/backends/ibm_lima/properties",
        ] {
            assert!(owns(p), "{p}");
        }
        for p in [
            "/v1/jobs",
            "/api/v10/jobs",
            "/identity/token/x",
            "/v0.4/jobs",
            "/experimental",
        ] {
            assert!(!owns(p), "{p}");
        }
    }

    #[test]
    fn forms_decode() {
        let f = parse_form(
            b"grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=qwh_a+b%2&x",
        );
        let got: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(
            got,
            vec![
                ("grant_type", APIKEY_GRANT_TYPE),
                ("apikey", "qwh_a b%2"),
                ("x", ""),
            ]
        );
    }
}
