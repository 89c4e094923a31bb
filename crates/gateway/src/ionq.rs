//! The IonQ v0.4-compatible API on the gateway's listener, as qiskit-ionq 1.1.1 calls it with
//! `IONQ_API_URL=http://<gateway>/v0.4` and `IONQ_API_KEY=<handle>`
//! (`shared/fixtures/provider-traffic/README.md`, IonQ section):
//!
//! - `GET /v0.4/backends`, `GET /v0.4/backends/{name}`: proxied to IonQ. qiskit-ionq probes
//!   `/backends/{name}` without `Authorization` (and reads `qubits`), so these and the
//!   characterization endpoints answer without a handle, like IonQ's; a handle that is sent must
//!   be valid, and then the upstream call carries the real key;
//! - `GET /v0.4/backends/{name}/characterizations[?limit=N]`, `…/characterizations/{id}`;
//! - `POST /v0.4/jobs`: authenticated, admitted against the grant (backend `ionq:<backend>`,
//!   every circuit's shots from where IonQ takes them), then submitted by the upstream adapter
//!   ([`crate::upstream::ionq`]) with the calibration captured;
//! - `GET /v0.4/jobs/{id}`, `GET /v0.4/jobs/{id}/results/probabilities`,
//!   `PUT /v0.4/jobs/{id}/status/cancel`: authenticated, for jobs this session submitted only,
//!   proxied with the real key.
//!
//! The handle is sent as `Authorization: apiKey <handle>` and checked by the session's
//! [`crate::server::Authenticator`] for the profile's IonQ provider. Every answer the gateway
//! makes itself, refusals included, has IonQ's error shape `{"statusCode", "error",
//! "message"}` (the first of the shapes qiskit-ionq parses), with statuses it does not retry.

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use qwarden_approvals::JobAction;

use crate::admission::{JobRequest, Refusal, ShotSource, Shots};
use crate::gate::{Outgoing, Resolved, swap_id};
use crate::record::{Completed, Refused, Submitted};
use crate::server::State;
use crate::upstream::Answer;
use crate::upstream::ionq::{IonqUpstream, UpstreamError};

/// The largest job body accepted.
pub const MAX_BODY: usize = 4 << 20;

/// The job types whose shots the gateway can account for.
const TYPES: &[&str] = &["ionq.circuit.v1", "ionq.multi-circuit.v1", "ionq.qasm3.v1"];

/// Whether `path` belongs to this API.
pub fn owns(path: &str) -> bool {
    path == "/v0.4" || path.starts_with("/v0.4/")
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// IonQ's error body.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"statusCode": status, "error": reason_phrase(status), "message": message})
}

fn respond(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn err(status: u16, message: impl AsRef<str>) -> Response<Full<Bytes>> {
    respond(
        status,
        Bytes::from(error_body(status, message.as_ref()).to_string()),
    )
}

fn upstream_err(e: UpstreamError) -> Response<Full<Bytes>> {
    err(e.status, e.message)
}

/// An upstream answer relayed: a success as IonQ sent it (scrubbed), a failure in IonQ's shape.
fn relay(answer: Answer, doing: &str) -> Response<Full<Bytes>> {
    if (200..300).contains(&answer.status) {
        respond(answer.status, answer.body)
    } else {
        upstream_err(crate::upstream::ionq::relayed_error(&answer, doing))
    }
}

/// Whether `s` may be a path segment sent upstream: a backend name, job or characterization id.
pub fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Whether `q` may be a query string sent upstream.
pub(crate) fn safe_query(q: &str) -> bool {
    q.len() <= 256
        && q.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'=' | b'&' | b'.' | b'-' | b'_' | b':' | b'%')
        })
}

/// The handle in `Authorization: apiKey <handle>`: `Ok(None)` without the header, `Err` for any
/// other form.
fn api_key(req: &Request<Incoming>) -> Result<Option<String>, &'static str> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one Authorization header");
    }
    let v = v
        .to_str()
        .map_err(|_| "the Authorization header is not text")?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("apikey") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err("send the session's handle as `Authorization: apiKey $IONQ_API_KEY`"),
    }
}

/// Serves one request under `/v0.4`.
pub async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let Some(up) = state.ionq.as_ref() else {
        return err(404, "IonQ is not available through this session's gateway");
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let token = match api_key(&req) {
        Ok(t) => t,
        Err(why) => return err(401, why),
    };
    // Authenticates the handle, if one was sent; `required` refuses a request without one.
    // `Err` is the 401's message.
    let authenticate = |required: bool| -> Result<bool, String> {
        match &token {
            None if required => Err(
                "Missing API key: send the session's handle as `Authorization: apiKey $IONQ_API_KEY`"
                    .into(),
            ),
            None => Ok(false),
            Some(t) => state.auth.check(t, Some(up.provider())).map(|()| true),
        }
    };
    let rest = path.strip_prefix("/v0.4/").unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').collect();
    let not_found = || err(404, format!("Route {method}:{path} not found"));
    let query_ok = query.as_deref().is_none_or(safe_query);
    if !query_ok || !segments.iter().all(|s| safe_segment(s)) {
        return not_found();
    }
    let with_query = |p: String| match &query {
        Some(q) => format!("{p}?{q}"),
        None => p,
    };
    match (&method, segments.as_slice()) {
        (&Method::GET, ["backends"])
        | (&Method::GET, ["backends", _])
        | (&Method::GET, ["backends", _, "characterizations"])
        | (&Method::GET, ["backends", _, "characterizations", _]) => {
            let authed = match authenticate(false) {
                Ok(a) => a,
                Err(why) => return err(401, why),
            };
            let key = if authed {
                match up.key().await {
                    Ok(k) => Some(k),
                    Err(e) => return upstream_err(e),
                }
            } else {
                None
            };
            let target = with_query(format!("/{rest}"));
            match up.call(Method::GET, &target, key.as_ref(), None).await {
                Ok(a) => relay(a, "reading backends"),
                Err(e) => upstream_err(e),
            }
        }
        (&Method::POST, ["jobs"]) => {
            if let Err(why) = authenticate(true) {
                return err(401, why);
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    let reason = format!("Request body is too large (over {MAX_BODY} bytes)");
                    refused(&state, up, "", &reason);
                    return err(413, reason);
                }
            };
            submit(&state, up, &body).await
        }
        (&Method::GET, ["jobs", id, rest @ ..])
            if state.gate.as_ref().is_some_and(|g| g.holds(id)) =>
        {
            if let Err(why) = authenticate(true) {
                return err(401, why);
            }
            match state.gate.as_ref() {
                Some(g) => held(&state, up, g, &method, id, rest).await,
                None => not_found(),
            }
        }
        (&Method::GET, ["jobs", id])
        | (&Method::GET, ["jobs", id, "results", "probabilities"])
        | (&Method::PUT, ["jobs", id, "status", "cancel"]) => {
            if let Err(why) = authenticate(true) {
                return err(401, why);
            }
            if !up.owns_job(id) {
                return err(404, format!("job {id} not found in this session"));
            }
            let key = match up.key().await {
                Ok(k) => k,
                Err(e) => return upstream_err(e),
            };
            let target = with_query(format!("/{rest}"));
            let m = method.clone();
            match up.call(m, &target, Some(&key), None).await {
                Ok(a) => {
                    if matches!(segments.as_slice(), ["jobs", _, "results", "probabilities"]) {
                        completed(&state, up, id, &a);
                    }
                    relay(a, "reading the job")
                }
                Err(e) => upstream_err(e),
            }
        }
        _ => {
            // Unknown routes still need a valid handle if one was sent (probing is recorded).
            if let Err(why) = authenticate(false) {
                return err(401, why);
            }
            not_found()
        }
    }
}

/// Reports the probabilities of IonQ job `real` to the sink the first time they are read, as
/// counts over the job's shots: the session makes the job's bundle from them.
fn completed(state: &State, up: &IonqUpstream, real: &str, answer: &Answer) {
    let Some((qubits, shots)) = up.shape(real).filter(|_| answer.status == 200) else {
        return;
    };
    let Ok(counts) = crate::ionq_results::ionq_counts(&answer.body, qubits, shots) else {
        return;
    };
    if up.first_completion(real) {
        state.sink.completed(Completed {
            provider: up.provider().to_owned(),
            api: "ionq",
            job_id: real.to_owned(),
            results: answer.body.to_vec(),
            counts: vec![counts],
        });
    }
}

fn refused(state: &State, up: &IonqUpstream, backend: &str, reason: &str) {
    state.sink.refused(Refused {
        provider: up.provider().to_owned(),
        backend: backend.to_owned(),
        api: "ionq",
        reason: reason.to_owned(),
    });
}

/// Every circuit's shots as IonQ will run them, and the body to forward (with `shots` set when
/// the request left it to the provider default). `Err` is the 400 message.
fn job_shots(
    job: &mut serde_json::Map<String, Value>,
    default_shots: u64,
) -> Result<Vec<Shots>, String> {
    let kind = job
        .get("type")
        .and_then(Value::as_str)
        .ok_or("body/type is required and must be a string")?
        .to_owned();
    if !TYPES.contains(&kind.as_str()) {
        // The agent chose the type: echo a bounded part of it.
        let shown: String = kind.chars().take(40).collect();
        return Err(format!(
            "job type {shown:?} cannot go through the gateway (its shots cannot be checked); use one of {}",
            TYPES.join(", ")
        ));
    }
    let positive = |v: &Value, what: &str| {
        v.as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{what} must be an integer >= 1"))
    };
    let request = match job.get("shots") {
        None | Some(Value::Null) => None,
        Some(v) => Some(positive(v, "body/shots")?),
    };
    let default = match request {
        Some(count) => Shots {
            count,
            source: ShotSource::Request,
        },
        None => {
            // Make the provider's default explicit, so what runs is what was admitted.
            job.insert("shots".into(), default_shots.into());
            Shots {
                count: default_shots,
                source: ShotSource::ProviderDefault,
            }
        }
    };
    let input = job
        .get("input")
        .and_then(Value::as_object)
        .ok_or("body/input is required and must be an object")?;
    if kind != "ionq.multi-circuit.v1" {
        return Ok(vec![default]);
    }
    let circuits = input
        .get("circuits")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("body/input/circuits is required and must be a non-empty array")?;
    circuits
        .iter()
        .enumerate()
        .map(|(i, c)| match c.get("shots") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => Ok(Shots {
                count: positive(v, &format!("body/input/circuits/{i}/shots"))?,
                source: ShotSource::Circuit,
            }),
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `POST /v0.4/jobs`, after authentication.
async fn submit(state: &State, up: &IonqUpstream, body: &[u8]) -> Response<Full<Bytes>> {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let Ok(Value::Object(mut job)) = parsed else {
        let reason = "body must be a JSON object (an IonQ v0.4 job)";
        refused(state, up, "", reason);
        return err(400, reason);
    };
    let Some(backend) = job
        .get("backend")
        .and_then(Value::as_str)
        .filter(|b| safe_segment(b))
        .map(str::to_owned)
    else {
        let reason = "body/backend is required and must be a backend name such as qpu.aria-1";
        refused(state, up, "", reason);
        return err(400, reason);
    };
    let circuits = match job_shots(&mut job, up.default_shots()) {
        Ok(c) => c,
        Err(reason) => {
            refused(state, up, &backend, &reason);
            return err(400, reason);
        }
    };
    let circuit_count = circuits.len();
    let request = JobRequest {
        provider: up.provider().to_owned(),
        backend: backend.clone(),
        circuits,
    };
    let kind = job
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let circuit = canonical_json(job.get("input").unwrap_or(&Value::Null));
    let circuit_digest = sha256(&circuit);
    // The circuit as submitted, named by the digest the ledger records, for the job's bundle.
    up.keep(circuit).await;
    let job = Outgoing {
        backend: backend.clone(),
        circuit_digest,
        request_digest: sha256(body),
        forwarded: match serde_json::to_vec(&Value::Object(job)) {
            Ok(b) => b,
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
                    refused(state, up, &backend, &reason);
                    return err(403, reason);
                }
            };
            let action = JobAction {
                provider: up.provider().to_owned(),
                backend: backend.clone(),
                circuit_digest: job.circuit_digest.clone(),
                shots: admitted.shots,
                cost_estimate: None,
                request_digest: sha256(&job.forwarded),
                summary: format!("{circuit_count} circuit(s), {kind}"),
            };
            let id = held_job_id();
            return match gate.hold(&id, action, admitted, job.forwarded, second_factor) {
                Ok(_) => respond(
                    200,
                    Bytes::from(json!({"id": id, "status": "submitted"}).to_string()),
                ),
                Err(why) => {
                    state.admission.release(admitted);
                    refused(state, up, &backend, &why);
                    err(500, why)
                }
            };
        }
        (Err(e), _) => {
            let reason = format!("denied: {e}");
            refused(state, up, &backend, &reason);
            return err(403, reason);
        }
    };
    match send(state, up, &job, admitted).await {
        Ok((_, answer)) => respond(answer.status, answer.body),
        Err(e) => upstream_err(e),
    }
}

/// Captures the characterization, submits `job` and records it; on failure gives the budget
/// back and records the refusal.
async fn send(
    state: &State,
    up: &IonqUpstream,
    job: &Outgoing,
    admitted: crate::admission::Admitted,
) -> Result<(String, Answer), UpstreamError> {
    let fail = |e: UpstreamError| {
        state.admission.release(admitted);
        refused(state, up, &job.backend, &e.message);
        e
    };
    let key = up.key().await.map_err(fail)?;
    let calibration_digest = up
        .capture_calibration(&job.backend, &key)
        .await
        .map_err(fail)?;
    let (job_id, answer) = up.submit(job.forwarded.clone(), &key).await.map_err(fail)?;
    if let Ok(qubits) = serde_json::from_slice::<Value>(&job.forwarded)
        .map_err(|_| ())
        .and_then(|v| crate::ionq_results::job_qubits(&v).map_err(|_| ()))
    {
        up.note_shape(&job_id, qubits, admitted.shots);
    }
    state.sink.submitted(Submitted {
        provider: up.provider().to_owned(),
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

/// An id for a held job in IonQ's style (a UUID).
fn held_job_id() -> String {
    let (a, b) = (crate::local::random_seed(), crate::local::random_seed());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// A held job's answers: `submitted` while it waits, IonQ's own answers (under the id the agent
/// knows) once it was sent, `failed` with the reason when it will not run.
async fn held(
    state: &State,
    up: &IonqUpstream,
    gate: &crate::gate::Gate,
    method: &Method,
    id: &str,
    rest: &[&str],
) -> Response<Full<Bytes>> {
    let sent = gate
        .resolve(id, &state.admission, async |job, admitted| {
            send(state, up, &job, admitted).await.map(|(real, _)| real)
        })
        .await;
    let Some(resolved) = sent else {
        return err(404, format!("job {id} not found in this session"));
    };
    let real = match resolved {
        Resolved::Waiting { request_id } => {
            return match rest {
                [] => respond(
                    200,
                    Bytes::from(json!({"id": id, "status": "submitted"}).to_string()),
                ),
                _ => err(
                    404,
                    format!(
                        "job {id} has no results yet: it waits for approval request {request_id}"
                    ),
                ),
            };
        }
        Resolved::Refused { reason } => {
            return match rest {
                [] => respond(
                    200,
                    Bytes::from(
                        json!({"id": id, "status": "failed", "failure": {"code": "ApprovalDenied", "error": reason}})
                            .to_string(),
                    ),
                ),
                _ => err(403, reason),
            };
        }
        Resolved::Failed(e) => return upstream_err(e),
        Resolved::Sent(real) => real,
    };
    let key = match up.key().await {
        Ok(k) => k,
        Err(e) => return upstream_err(e),
    };
    let mut target = format!("/jobs/{real}");
    for r in rest {
        target.push('/');
        target.push_str(r);
    }
    match up.call(method.clone(), &target, Some(&key), None).await {
        // The agent knows the job by the held id: IonQ's id is swapped back in the answer.
        Ok(a) if (200..300).contains(&a.status) => {
            if rest == ["results", "probabilities"] {
                completed(state, up, &real, &a);
            }
            respond(a.status, swap_id(&a.body, &real, id))
        }
        Ok(a) => relay(a, "reading the job"),
        Err(e) => upstream_err(e),
    }
}

/// Compact JSON with object keys sorted (recursively): the bytes digests are taken of.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn shots(body: Value) -> Result<Vec<Shots>, String> {
        let Value::Object(mut m) = body else {
            unreachable!()
        };
        job_shots(&mut m, 100)
    }

    #[test]
    fn shots_come_from_where_ionq_takes_them() {
        let input =
            json!({"gateset": "qis", "qubits": 1, "circuit": [{"gate": "h", "targets": [0]}]});
        let one = |count, source| Shots { count, source };
        assert_eq!(
            shots(json!({"type": "ionq.circuit.v1", "shots": 7, "input": input})),
            Ok(vec![one(7, ShotSource::Request)])
        );
        assert_eq!(
            shots(json!({"type": "ionq.circuit.v1", "input": input})),
            Ok(vec![one(100, ShotSource::ProviderDefault)])
        );
        let multi = json!({"type": "ionq.multi-circuit.v1", "shots": 5, "input": {"circuits": [{"circuit": []}, {"circuit": [], "shots": 9}]}});
        assert_eq!(
            shots(multi),
            Ok(vec![
                one(5, ShotSource::Request),
                one(9, ShotSource::Circuit)
            ])
        );
        assert!(shots(json!({"type": "qctrl.qaoa.v1", "shots": 1, "input": {}})).is_err());
        assert!(shots(json!({"type": "ionq.circuit.v1", "shots": 0, "input": {}})).is_err());
        assert!(shots(json!({"type": "ionq.circuit.v1", "shots": "5", "input": {}})).is_err());
        assert!(
            shots(json!({"type": "ionq.multi-circuit.v1", "shots": 5, "input": {"circuits": []}}))
                .is_err()
        );
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v = json!({"b": [1, {"d": 2, "c": "x"}], "a": null});
        assert_eq!(canonical_json(&v), br#"{"a":null,"b":[1,{"c":"x","d":2}]}"#);
    }
}
