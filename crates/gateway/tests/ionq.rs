//! The IonQ v0.4-compatible endpoints end to end: raw HTTP as qiskit-ionq 1.1.1 sends it
//! (replayed from `shared/fixtures/provider-traffic/ionq-bell.jsonl`) into the gateway, which
//! admits jobs against the grant and forwards them to the IonQ double with the real key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use qwarden_gateway::admission::{Admission, Usage};
use qwarden_gateway::native::Native;
use qwarden_gateway::server::{Gateway, State};
use qwarden_gateway::upstream::ionq::IonqUpstream;
use qwarden_policy::Outcome;
use qwarden_policy::grant::{BackendGrant, QpuGrant};
use qwarden_policy::manifest::{BackendRef, Budget};
use qwarden_policy::profile::ProviderKind;
use qwarden_provider_doubles::{IonqConfig, IonqDouble};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

mod support;
use support::{Cas, Handles, Key, Sink, transcript};

const HANDLE: &str = "qwh_ionq_handle_0123456789";

struct Rig {
    double: IonqDouble,
    gateway: Option<Gateway>,
    port: u16,
    state: Arc<State>,
    sink: Arc<Sink>,
    auth: Arc<Handles>,
    cas: Arc<Cas>,
    /// Every raw answer the gateway gave.
    seen: Mutex<Vec<String>>,
}

fn grant(max_shots: u64, jobs: u64) -> QpuGrant {
    let b = |backend: &str| BackendGrant {
        backend: BackendRef {
            provider: "ionq".into(),
            backend: backend.into(),
        },
        kind: ProviderKind::Ionq,
        outcome: Outcome::Allow,
    };
    QpuGrant {
        providers: vec![],
        backends: vec![b("simulator"), b("qpu.aria-1")],
        max_shots,
        budget: Budget {
            shots: 100_000,
            jobs,
        },
    }
}

fn start(max_shots: u64, jobs: u64) -> Rig {
    start_gated(grant(max_shots, jobs), None)
}

fn start_gated(grant: QpuGrant, gate: Option<qwarden_gateway::gate::Gate>) -> Rig {
    let double = IonqDouble::start(IonqConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, auth, cas) = (
        Arc::new(Sink::default()),
        Arc::new(Handles::new(HANDLE, "ionq")),
        Arc::new(Cas::default()),
    );
    let ionq = IonqUpstream::new(
        "ionq",
        &double.api_url(),
        Arc::new(Key(double.api_key().to_owned(), "ionq")),
        cas.clone(),
    )
    .unwrap();
    let state = Arc::new(State {
        admission: Admission::new(grant),
        auth: auth.clone(),
        sink: sink.clone(),
        native: Native::new(1),
        ionq: Some(ionq),
        ibm: None,
        gate,
    });
    let gateway = Gateway::start(listener, state.clone()).unwrap();
    Rig {
        double,
        gateway: Some(gateway),
        port,
        state,
        sink,
        auth,
        cas,
        seen: Mutex::new(Vec::new()),
    }
}

impl Rig {
    /// One HTTP/1.1 exchange with `Connection: close`, headers as qiskit-ionq sends them;
    /// (status, JSON body).
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut headers = vec![
            (
                "User-Agent",
                "qiskit-ionq/1.1.1 (qiskit/2.6.2) os/Linux (python/3.11.7)",
            ),
            ("Accept", "*/*"),
        ];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
            headers.push(("Content-Type", "application/json"));
        }
        let (raw, status, json) =
            support::exchange(self.port, method, path, &headers, body.map(str::as_bytes));
        self.seen.lock().unwrap().push(raw);
        (status, json)
    }

    fn stop(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
    }

    /// The real key reached the agent nowhere, and the handle never reached IonQ.
    fn assert_no_leaks(&self) {
        let key = self.double.api_key();
        for answer in self.seen.lock().unwrap().iter() {
            assert!(!answer.contains(key), "the real key leaked: {answer}");
        }
        for r in self.double.requests() {
            let all = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
            assert!(!all.contains(HANDLE), "the handle reached IonQ: {all}");
            if let Some(a) = r.header("authorization") {
                assert_eq!(a, format!("apiKey {key}"), "{} {}", r.method, r.path);
            }
        }
    }
}

fn apikey() -> String {
    format!("apiKey {HANDLE}")
}

/// The Bell job qiskit-ionq sent to the simulator (seq 4 of `ionq-bell.jsonl`).
fn bell() -> Value {
    transcript("ionq-bell.jsonl")
        .into_iter()
        .find(|x| x["request"]["method"] == "POST")
        .unwrap()["request"]["body"]
        .clone()
}

fn assert_ionq_error(body: &Value, status: u16) {
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

#[test]
fn qiskit_ionq_traffic_replayed_runs_with_the_real_key_and_records_calibration() {
    let mut rig = start(4096, 10);
    let mut ids: HashMap<String, String> = HashMap::new();
    for exchange in transcript("ionq-bell.jsonl") {
        let (req, want) = (&exchange["request"], &exchange["response"]);
        let mut path = req["path"].as_str().unwrap().to_owned();
        for (recorded, real) in &ids {
            path = path.replace(recorded, real);
        }
        if let Some(q) = req["raw_query"].as_str().filter(|q| !q.is_empty()) {
            path = format!("{path}?{q}");
        }
        let authed = req["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("authorization"));
        let auth = authed.then(apikey);
        let body = (!req["body"].is_null()).then(|| req["body"].to_string());
        let method = req["method"].as_str().unwrap();
        let (status, got) = rig.call(method, &path, auth.as_deref(), body.as_deref());
        assert_eq!(
            status,
            want["status"].as_u64().unwrap() as u16,
            "{method} {path}: {got}"
        );
        if status != 200 {
            assert_ionq_error(&got, status);
            continue;
        }
        if method == "POST" {
            ids.insert(
                want["body"]["id"].as_str().unwrap().to_owned(),
                got["id"].as_str().unwrap().to_owned(),
            );
        }
        if path.contains("/jobs/") && !path.contains("/results/") {
            assert_eq!(got["status"], want["body"]["status"], "{path}: {got}");
            if got["status"] == "completed" {
                assert_eq!(
                    got["metadata"],
                    req_body_metadata(&rig, &got),
                    "metadata echoed"
                );
            }
        }
        if path.ends_with("/results/probabilities") {
            let total: f64 = got
                .as_object()
                .unwrap()
                .values()
                .map(|p| p.as_f64().unwrap())
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{got}");
            assert!(got.get("0").is_some() && got.get("3").is_some(), "{got}");
        }
        if path.starts_with("/v0.4/backends/") && !path.contains("characterizations") {
            assert!(got["qubits"].is_u64(), "{got}");
        }
    }
    rig.stop();
    let jobs = rig.double.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        jobs.iter().map(|j| j.backend.as_str()).collect::<Vec<_>>(),
        ["simulator", "qpu.aria-1"]
    );
    assert!(jobs.iter().all(|j| j.status.is_final() && j.shots == 1000));
    let posted = rig
        .double
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect::<Vec<_>>();
    assert_eq!(posted.len(), 2);
    for p in &posted {
        assert_eq!(
            p.header("authorization"),
            Some(format!("apiKey {}", rig.double.api_key()).as_str())
        );
    }
    rig.assert_no_leaks();

    let (submitted, refused) = {
        let r = rig.sink.0.lock().unwrap();
        (r.0.clone(), r.1.clone())
    };
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(submitted.len(), 2);
    assert_eq!(submitted[0].job_id, jobs[0].id);
    assert_eq!(submitted[1].job_id, jobs[1].id);
    assert_eq!(
        (submitted[0].provider.as_str(), submitted[0].shots),
        ("ionq", 1000)
    );
    assert_eq!(
        submitted[0].calibration_digest, None,
        "the simulator has none"
    );
    let digest = submitted[1]
        .calibration_digest
        .clone()
        .expect("aria-1 calibration");
    let stored = rig.cas.0.lock().unwrap().get(&digest).cloned().unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&stored)))
    );
    let snapshot: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        Some(snapshot),
        rig.double.current_characterization("qpu.aria-1")
    );
    // The circuit digest is of the circuit IonQ received.
    let sent_input = posted[1].body_json().unwrap()["input"].clone();
    let canonical = qwarden_gateway::ionq::canonical_json(&sent_input);
    assert_eq!(
        submitted[1].circuit_digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&canonical)))
    );
    assert!(submitted[1].request_digest.starts_with("sha256:"));
    // The characterization fetch carried the key too.
    assert!(
        rig.double
            .requests()
            .iter()
            .any(|r| r.path == "/v0.4/backends/qpu.aria-1/characterizations"
                && r.header("authorization").is_some())
    );
    assert_eq!(
        rig.state.admission.used(),
        Usage {
            shots: 2000,
            jobs: 2
        }
    );
    // The handle checks were for the IonQ provider.
    assert!(
        rig.auth
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|(_, p, ok)| *ok && p.as_deref() == Some("ionq"))
    );
}

/// The `metadata` the double received for the job in `got`.
fn req_body_metadata(rig: &Rig, got: &Value) -> Value {
    rig.double.job(got["id"].as_str().unwrap()).unwrap().request["metadata"].clone()
}

#[test]
fn wrong_or_missing_handles_are_refused_in_ionq_shape() {
    let mut rig = start(4096, 10);
    let job = bell().to_string();
    for auth in [
        Some("apiKey qwh_wrong".to_owned()),
        Some(format!("Bearer {HANDLE}")),
        None,
    ] {
        let (status, body) = rig.call("POST", "/v0.4/jobs", auth.as_deref(), Some(&job));
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_ionq_error(&body, 401);
    }
    let (status, body) = rig.call("GET", "/v0.4/jobs/any", Some("apiKey qwh_wrong"), None);
    assert_eq!(status, 401, "{body}");
    let (status, _) = rig.call(
        "GET",
        "/v0.4/backends/simulator",
        Some("apiKey qwh_wrong"),
        None,
    );
    assert_eq!(status, 401, "a handle that is sent must be valid");
    // A job not submitted in this session is not readable, even with a valid handle.
    let (status, body) = rig.call(
        "GET",
        "/v0.4/jobs/9192723d-3ffe-4b2a-ac41-edbf66c81d9e",
        Some(&apikey()),
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert_ionq_error(&body, 404);
    // No endpoint gives the key away.
    for path in [
        "/v0.4/key",
        "/v0.4/keys",
        "/v0.4/jobs",
        "/v0.4/../v1/jobs",
        "/v0.4/backends/%2e%2e",
    ] {
        let (status, body) = rig.call("GET", path, Some(&apikey()), None);
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
    }
    rig.stop();
    assert!(
        rig.double.requests().iter().all(|r| r.method != "POST"),
        "nothing reached IonQ's jobs"
    );
    let checks = rig.auth.0.lock().unwrap().clone();
    let refusals = checks.iter().filter(|(_, _, ok)| !ok).count();
    assert_eq!(
        refusals, 3,
        "each wrong handle was checked and recorded: {checks:?}"
    );
    rig.assert_no_leaks();
}

#[test]
fn jobs_outside_the_grant_are_refused_from_every_shot_source_and_recorded() {
    let mut rig = start(500, 10);
    let mut job = bell();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    job["backend"] = json!("qpu.forte-1");
    job["shots"] = json!(10);
    cases.push((job.clone(), "not granted"));
    let mut job = bell();
    job["shots"] = json!(1000);
    cases.push((job.clone(), "the request's default shots"));
    // Shots written by extra_query_params overwrite the SDK's (ionq-shots-sources seq 7).
    let mut seq7 = transcript("variants/ionq-shots-sources.jsonl")[6]["request"]["body"].clone();
    seq7["backend"] = json!("qpu.aria-1");
    assert_eq!(seq7["metadata"]["shots"], "100");
    cases.push((seq7, "5000 shots (the request's default shots)"));
    // Multi-circuit (seq 8): every circuit runs the request's shots...
    let mut multi = transcript("variants/ionq-shots-sources.jsonl")[7]["request"]["body"].clone();
    multi["shots"] = json!(600);
    cases.push((
        multi.clone(),
        "circuit 0 asks for 600 shots (the request's default shots)",
    ));
    // ... unless it has its own.
    multi["shots"] = json!(10);
    multi["input"]["circuits"][1]["shots"] = json!(501);
    cases.push((
        multi,
        "circuit 1 asks for 501 shots (the circuit's own shots)",
    ));
    for (body, reason) in &cases {
        let (status, got) = rig.call(
            "POST",
            "/v0.4/jobs",
            Some(&apikey()),
            Some(&body.to_string()),
        );
        assert_eq!(status, 403, "{got}");
        assert_ionq_error(&got, 403);
        assert!(
            got["message"].as_str().unwrap().contains(reason),
            "{reason}: {got}"
        );
    }
    rig.stop();
    // The provider default, with a grant below it.
    let mut low = start(50, 10);
    let mut job = bell();
    job.as_object_mut().unwrap().remove("shots");
    let (status, got) = low.call(
        "POST",
        "/v0.4/jobs",
        Some(&apikey()),
        Some(&job.to_string()),
    );
    assert_eq!(status, 403, "{got}");
    assert!(
        got["message"]
            .as_str()
            .unwrap()
            .contains("100 shots (the provider's default shots)"),
        "{got}"
    );
    low.stop();
    for r in [&rig, &low] {
        assert!(r.double.requests().iter().all(|q| q.method != "POST"));
        assert_eq!(r.state.admission.used(), Usage::default());
        r.assert_no_leaks();
    }
    let refused = rig.sink.0.lock().unwrap().1.clone();
    assert_eq!(refused.len(), cases.len());
    assert!(
        refused
            .iter()
            .all(|r| r.api == "ionq" && r.provider == "ionq")
    );
    assert_eq!(refused[0].backend, "qpu.forte-1");
    assert_eq!(low.sink.0.lock().unwrap().1.len(), 1);
}

#[test]
fn a_job_without_shots_runs_the_provider_default_it_was_admitted_with() {
    let mut rig = start(4096, 10);
    let mut job = bell();
    job.as_object_mut().unwrap().remove("shots");
    let (status, got) = rig.call(
        "POST",
        "/v0.4/jobs",
        Some(&apikey()),
        Some(&job.to_string()),
    );
    assert_eq!(status, 200, "{got}");
    rig.stop();
    assert_eq!(rig.double.jobs()[0].shots, 100);
    assert_eq!(rig.sink.0.lock().unwrap().0[0].shots, 100);
}

#[test]
fn the_budget_runs_out() {
    let mut rig = start(4096, 1);
    let job = bell().to_string();
    let (status, got) = rig.call("POST", "/v0.4/jobs", Some(&apikey()), Some(&job));
    assert_eq!(status, 200, "{got}");
    let (status, got) = rig.call("POST", "/v0.4/jobs", Some(&apikey()), Some(&job));
    assert_eq!(status, 403, "{got}");
    assert_ionq_error(&got, 403);
    assert!(
        got["message"]
            .as_str()
            .unwrap()
            .contains("budget of 1 jobs is used up"),
        "{got}"
    );
    rig.stop();
    assert_eq!(rig.double.jobs().len(), 1);
    let r = rig.sink.0.lock().unwrap();
    assert_eq!((r.0.len(), r.1.len()), (1, 1));
}

#[test]
fn upstream_errors_are_relayed_in_ionq_shape_without_the_key() {
    let mut rig = start(4096, 10);
    let key = rig.double.api_key().to_owned();
    rig.double
        .reject_next_job(403, &format!("project over quota for key {key}"));
    let (status, got) = rig.call(
        "POST",
        "/v0.4/jobs",
        Some(&apikey()),
        Some(&bell().to_string()),
    );
    assert_eq!(status, 403, "{got}");
    assert_ionq_error(&got, 403);
    let message = got["message"].as_str().unwrap();
    assert!(
        message.contains("project over quota") && !message.contains(&key),
        "{got}"
    );
    // A job IonQ itself finds invalid (the double runs single circuits only).
    let multi = transcript("variants/ionq-shots-sources.jsonl")[7]["request"]["body"].to_string();
    let (status, got) = rig.call("POST", "/v0.4/jobs", Some(&apikey()), Some(&multi));
    assert_eq!(status, 400, "{got}");
    assert_ionq_error(&got, 400);
    rig.stop();
    assert_eq!(
        rig.state.admission.used(),
        Usage::default(),
        "failed jobs cost nothing"
    );
    let r = rig.sink.0.lock().unwrap();
    assert!(r.0.is_empty());
    assert_eq!(r.1.len(), 2);
    assert!(!r.1[0].reason.contains(&key), "{:?}", r.1[0]);
    drop(r);
    rig.assert_no_leaks();
}

#[test]
fn malformed_and_oversized_bodies_are_refused_and_recorded() {
    let mut rig = start(4096, 10);
    let mut no_type = bell();
    no_type.as_object_mut().unwrap().remove("type");
    let mut bad_shots = bell();
    bad_shots["shots"] = json!("1000");
    let mut qaoa = bell();
    qaoa["type"] = json!("qctrl.qaoa.v1");
    let mut bad_backend = bell();
    bad_backend["backend"] = json!("../jobs");
    let bodies = [
        "{".to_owned(),
        "[]".to_owned(),
        no_type.to_string(),
        bad_shots.to_string(),
        qaoa.to_string(),
        bad_backend.to_string(),
    ];
    for b in &bodies {
        let (status, got) = rig.call("POST", "/v0.4/jobs", Some(&apikey()), Some(b));
        assert_eq!(status, 400, "{b}: {got}");
        assert_ionq_error(&got, 400);
    }
    let huge = format!(
        "{{\"type\":\"ionq.circuit.v1\",\"name\":\"{}\"}}",
        "x".repeat(5 << 20)
    );
    let (status, got) = rig.call("POST", "/v0.4/jobs", Some(&apikey()), Some(&huge));
    assert_eq!(status, 413, "{got}");
    assert_ionq_error(&got, 413);
    rig.stop();
    assert!(rig.double.requests().iter().all(|q| q.method != "POST"));
    assert_eq!(rig.sink.0.lock().unwrap().1.len(), bodies.len() + 1);
    assert_eq!(rig.state.admission.used(), Usage::default());
}

#[test]
fn a_job_that_needs_approval_stays_submitted_until_approved_then_runs_with_the_real_key() {
    let lab = support::Lab::new();
    let mut g = grant(4096, 10);
    for b in &mut g.backends {
        b.outcome = Outcome::NeedsApproval {
            second_factor: false,
        };
    }
    let mut rig = start_gated(g, Some(lab.gate(1, time::Duration::hours(1))));
    let mut job = bell();
    job["backend"] = json!("qpu.aria-1");
    let (status, got) = rig.call(
        "POST",
        "/v0.4/jobs",
        Some(&apikey()),
        Some(&job.to_string()),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "submitted");
    let id = got["id"].as_str().unwrap().to_owned();
    let (status, got) = rig.call("GET", &format!("/v0.4/jobs/{id}"), Some(&apikey()), None);
    assert_eq!(
        (status, got["status"].as_str()),
        (200, Some("submitted")),
        "{got}"
    );
    assert!(rig.double.jobs().is_empty());
    let request = lab.store.list().unwrap()[0].id.clone();
    lab.vote(
        &request,
        "alice",
        qwarden_approvals::Decision::Approve,
        false,
    );
    let mut last = Value::Null;
    for _ in 0..5 {
        let (status, got) = rig.call("GET", &format!("/v0.4/jobs/{id}"), Some(&apikey()), None);
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["id"], id.as_str());
        last = got;
    }
    assert_eq!(last["status"], "completed", "{last}");
    let url = last["results"]["probabilities"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.contains(&id), "{url}");
    let (status, got) = rig.call("GET", &url, Some(&apikey()), None);
    assert_eq!(status, 200, "{got}");
    rig.stop();
    assert_eq!(rig.double.jobs().len(), 1);
    let submitted = rig.sink.0.lock().unwrap().0.clone();
    assert_eq!(submitted.len(), 1);
    assert!(submitted[0].calibration_digest.is_some());
    rig.assert_no_leaks();
}

#[test]
fn a_denied_job_fails_in_ionq_shape() {
    let lab = support::Lab::new();
    let mut g = grant(4096, 10);
    for b in &mut g.backends {
        b.outcome = Outcome::NeedsApproval {
            second_factor: false,
        };
    }
    let mut rig = start_gated(g, Some(lab.gate(1, time::Duration::hours(1))));
    let (_, got) = rig.call(
        "POST",
        "/v0.4/jobs",
        Some(&apikey()),
        Some(&bell().to_string()),
    );
    let id = got["id"].as_str().unwrap().to_owned();
    let request = lab.store.list().unwrap()[0].id.clone();
    lab.vote(&request, "bob", qwarden_approvals::Decision::Deny, false);
    let (status, got) = rig.call("GET", &format!("/v0.4/jobs/{id}"), Some(&apikey()), None);
    assert_eq!(status, 200);
    assert_eq!(got["status"], "failed", "{got}");
    assert!(
        got["failure"]["error"]
            .as_str()
            .unwrap()
            .contains("denied by bob")
    );
    rig.stop();
    assert!(rig.double.jobs().is_empty());
    assert_eq!(rig.state.admission.used(), Usage::default());
}
