//! The IBM Qiskit Runtime-compatible endpoints end to end: raw HTTP as qiskit-ibm-runtime 0.51
//! sends it (replayed from `shared/fixtures/provider-traffic/ibm-sampler-v2.jsonl` and its
//! variants) into the gateway, which exchanges the handle for its own access token, admits jobs
//! against the grant and forwards them to the IBM double with a token IBM's IAM issued for the
//! real key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use qwarden_approvals::Decision;
use qwarden_gateway::admission::{Admission, Usage};
use qwarden_gateway::ibm::IbmApi;
use qwarden_gateway::native::Native;
use qwarden_gateway::server::{Gateway, State};
use qwarden_gateway::upstream::ibm::{IbmEndpoints, IbmUpstream};
use qwarden_policy::Outcome;
use qwarden_policy::grant::{BackendGrant, QpuGrant};
use qwarden_policy::manifest::{BackendRef, Budget};
use qwarden_policy::profile::ProviderKind;
use qwarden_provider_doubles::{IbmConfig, IbmDouble, ibm_fixtures_dir};
use serde_json::{Value, json};
use support::{Cas, Handles, Key, Sink, sha256, transcript};

const HANDLE: &str = "qwh_ibm_handle_0123456789abcdef";

/// The runtime root the SDK is configured with.
const R: &str = "/experimental/api/v1";

struct Rig {
    double: IbmDouble,
    gateway: Option<Gateway>,
    port: u16,
    state: Arc<State>,
    sink: Arc<Sink>,
    auth: Arc<Handles>,
    cas: Arc<Cas>,
    /// Every raw answer the gateway gave.
    seen: Mutex<Vec<String>>,
}

fn grant(max_shots: u64, jobs: u64, outcome: Outcome) -> QpuGrant {
    QpuGrant {
        providers: vec![],
        backends: vec![BackendGrant {
            backend: BackendRef {
                provider: "ibm".into(),
                backend: "ibm_lima".into(),
            },
            kind: ProviderKind::Ibm,
            outcome,
        }],
        max_shots,
        budget: Budget {
            shots: 20_000,
            jobs,
        },
    }
}

fn start_with(grant: QpuGrant) -> Rig {
    start_gated(grant, None)
}

fn start_gated(grant: QpuGrant, gate: Option<qwarden_gateway::gate::Gate>) -> Rig {
    let double = IbmDouble::start(IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, auth, cas) = (
        Arc::new(Sink::default()),
        Arc::new(Handles::new(HANDLE, "ibm")),
        Arc::new(Cas::default()),
    );
    let upstream = IbmUpstream::new(
        "ibm",
        &IbmEndpoints {
            runtime_url: double.runtime_url(),
            iam_url: double.iam_url(),
            instance_crn: double.instance_crn().to_owned(),
        },
        Arc::new(Key(double.api_key().to_owned(), "ibm")),
        cas.clone(),
    )
    .unwrap();
    let state = Arc::new(State {
        admission: Admission::new(grant),
        auth: auth.clone(),
        sink: sink.clone(),
        native: Native::new(1),
        ionq: None,
        ibm: Some(IbmApi::new(upstream).unwrap()),
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

fn start(max_shots: u64, jobs: u64) -> Rig {
    start_with(grant(max_shots, jobs, Outcome::Allow))
}

impl Rig {
    /// A runtime call with the headers qiskit-ibm-runtime sends.
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let crn = self.double.instance_crn().to_owned();
        let mut headers = vec![
            ("IBM-API-Version", "2026-04-15"),
            ("Service-CRN", crn.as_str()),
            ("Accept", "application/json"),
            ("User-Agent", "python-urllib3/2.8.0"),
        ];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let body = body.map(|b| b.to_string().into_bytes());
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.raw(method, path, &headers, body.as_deref())
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let (raw, status, json) = support::exchange(self.port, method, path, headers, body);
        self.seen.lock().unwrap().push(raw);
        (status, json)
    }

    /// `POST /identity/token` with the IAM form the SDK sends.
    fn iam(&self, apikey: &str) -> (u16, Value) {
        let form = format!(
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={apikey}&response_type=cloud_iam"
        );
        self.raw(
            "POST",
            "/identity/token",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            Some(form.as_bytes()),
        )
    }

    fn bearer(&self) -> String {
        let (status, body) = self.iam(HANDLE);
        assert_eq!(status, 200, "{body}");
        format!("Bearer {}", body["access_token"].as_str().unwrap())
    }

    fn stop(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
    }

    /// Neither the real key nor an access token of IBM's reached the agent, and the handle and
    /// the gateway's own tokens never reached IBM.
    fn assert_no_leaks(&self, gateway_tokens: &[String]) {
        let key = self.double.api_key();
        let ibm_tokens: Vec<String> = self
            .double
            .requests()
            .iter()
            .filter_map(|r| r.header("authorization").map(str::to_owned))
            .filter_map(|a| a.strip_prefix("Bearer ").map(str::to_owned))
            .collect();
        for answer in self.seen.lock().unwrap().iter() {
            assert!(!answer.contains(key), "the real key leaked: {answer}");
            for t in &ibm_tokens {
                assert!(
                    !answer.contains(t.as_str()),
                    "IBM's access token leaked: {answer}"
                );
            }
        }
        for r in self.double.requests() {
            let all = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
            assert!(!all.contains(HANDLE), "the handle reached IBM: {all}");
            for t in gateway_tokens {
                let t = t.trim_start_matches("Bearer ");
                assert!(!all.contains(t), "the gateway's token reached IBM: {all}");
            }
            if r.path == "/identity/token" {
                let form = String::from_utf8_lossy(&r.body);
                assert!(form.contains(&format!("apikey={key}")), "{form}");
            } else if let Some(a) = r.header("authorization") {
                assert!(a.starts_with("Bearer "), "{} {}: {a}", r.method, r.path);
                assert_eq!(r.header("service-crn"), Some(self.double.instance_crn()));
            }
        }
    }
}

fn assert_ibm_error(body: &Value, status: u16) {
    assert_eq!(body["status_code"], status, "{body}");
    assert!(body["errors"][0]["code"].is_u64(), "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// The Bell job qiskit-ibm-runtime sent (seq 8 of `ibm-sampler-v2.jsonl`).
fn bell() -> Value {
    transcript("ibm-sampler-v2.jsonl")
        .into_iter()
        .find(|x| {
            x["request"]["method"] == "POST"
                && x["request"]["path"].as_str().unwrap().ends_with("/jobs")
        })
        .unwrap()["request"]["body"]
        .clone()
}

#[test]
fn qiskit_ibm_runtime_traffic_replayed_runs_with_the_real_key_and_records_calibration() {
    let mut rig = start(4096, 10);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut bearer = String::new();
    for exchange in transcript("ibm-sampler-v2.jsonl") {
        let (req, want) = (&exchange["request"], &exchange["response"]);
        let method = req["method"].as_str().unwrap();
        let mut path = req["path"].as_str().unwrap().to_owned();
        for (recorded, real) in &ids {
            path = path.replace(recorded, real);
        }
        if path == "/identity/token" {
            let (status, got) = rig.iam(HANDLE);
            assert_eq!(status, 200, "{got}");
            // JWT-shaped, with the claims the SDK reads.
            let token = got["access_token"].as_str().unwrap();
            assert_eq!(token.split('.').count(), 3);
            assert!(got["expires_in"].as_u64().unwrap() > 0);
            assert!(!token.contains(HANDLE));
            bearer = format!("Bearer {token}");
            continue;
        }
        if let Some(q) = req["raw_query"].as_str().filter(|q| !q.is_empty()) {
            path = format!("{path}?{q}");
        }
        let body = (!req["body"].is_null()).then(|| req["body"].clone());
        let (status, got) = rig.call(method, &path, Some(&bearer), body.as_ref());
        assert_eq!(
            status,
            want["status"].as_u64().unwrap() as u16,
            "{method} {path}: {got}"
        );
        if method == "POST" {
            ids.insert(
                want["body"]["id"].as_str().unwrap().to_owned(),
                got["id"].as_str().unwrap().to_owned(),
            );
            assert_eq!(got["backend"], "ibm_lima");
        }
        if path.contains("/jobs/") && !path.ends_with("/results") {
            assert_eq!(
                got["state"]["status"], want["body"]["state"]["status"],
                "{path}: {got}"
            );
        }
        if path.ends_with("/results") {
            assert_eq!(got["__type__"], "PrimitiveResult", "{got}");
        }
        if path.contains("/backends?") {
            let names: Vec<&str> = got["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, ["ibm_lima"], "only the granted backend is listed");
        }
        if path.ends_with("/properties") {
            assert_eq!(got["last_update_date"], want["body"]["last_update_date"]);
        }
    }
    rig.stop();
    let jobs = rig.double.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].backend.as_str(), jobs[0].shots.as_slice()),
        ("ibm_lima", &[1000u64][..])
    );
    assert!(jobs[0].status.is_final());
    rig.assert_no_leaks(&[bearer]);

    let submitted = rig.sink.submitted();
    assert!(rig.sink.refused().is_empty(), "{:?}", rig.sink.refused());
    assert_eq!(submitted.len(), 1);
    let s = &submitted[0];
    assert_eq!(
        (s.provider.as_str(), s.backend.as_str(), s.shots),
        ("ibm", "ibm_lima", 1000)
    );
    assert_eq!(s.job_id, jobs[0].id);
    // The calibration stored is the properties IBM served, and its digest is what was recorded.
    let digest = s.calibration_digest.clone().expect("a calibration digest");
    let stored = rig.cas.0.lock().unwrap().get(&digest).cloned().unwrap();
    assert_eq!(digest, sha256(&stored));
    let snapshot: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(Some(snapshot), rig.double.served_properties("ibm_lima"));
    // The circuit digest is of the PUBs' circuits as IBM received them.
    let circuits: Vec<Value> = jobs[0].request["params"]["pubs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].clone())
        .collect();
    assert_eq!(
        s.circuit_digest,
        sha256(&qwarden_gateway::ionq::canonical_json(&Value::Array(
            circuits
        )))
    );
    assert_eq!(
        rig.state.admission.used(),
        Usage {
            shots: 1000,
            jobs: 1
        }
    );
    // One IAM exchange for the real key served every runtime call.
    let iam_calls = rig
        .double
        .requests()
        .iter()
        .filter(|r| r.path == "/identity/token")
        .count();
    assert_eq!(iam_calls, 1);
    assert!(
        rig.auth
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|(_, p, ok)| *ok && p.as_deref() == Some("ibm"))
    );
}

#[test]
fn the_apikey_fallback_and_the_canonical_root_work_too() {
    let mut rig = start(4096, 10);
    let apikey = format!("apikey {HANDLE}");
    let (status, got) = rig.call("POST", "/api/v1/jobs", Some(&apikey), Some(&bell()));
    assert_eq!(status, 200, "{got}");
    let id = got["id"].as_str().unwrap().to_owned();
    let (status, got) = rig.call("GET", &format!("/api/v1/jobs/{id}"), Some(&apikey), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], id.as_str());
    rig.stop();
    rig.assert_no_leaks(&[]);
    assert_eq!(rig.sink.submitted().len(), 1);
}

#[test]
fn wrong_missing_and_forged_credentials_are_refused_in_ibm_shape() {
    let mut rig = start(4096, 10);
    // IAM: a wrong handle, in IAM's shape.
    let (status, got) = rig.iam("qwh_wrong");
    assert_eq!(status, 400, "{got}");
    assert_eq!(got["errorCode"], "BXNIM0415E", "{got}");
    // IAM: the wrong content type and grant type.
    let (status, got) = rig.raw(
        "POST",
        "/identity/token",
        &[("Content-Type", "application/json")],
        Some(format!("{{\"apikey\":\"{HANDLE}\"}}").as_bytes()),
    );
    assert_eq!(
        (status, got["errorCode"].as_str()),
        (400, Some("BXNIM0109E")),
        "{got}"
    );
    let (status, got) = rig.raw(
        "POST",
        "/identity/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(format!("grant_type=password&apikey={HANDLE}").as_bytes()),
    );
    assert_eq!(
        (status, got["errorCode"].as_str()),
        (400, Some("BXNIM0103E")),
        "{got}"
    );
    let good = rig.bearer();
    // A token of another gateway, a tampered token, a handle as a bearer, none at all.
    let other = start(4096, 10);
    let foreign = other.bearer();
    let mut parts: Vec<String> = good
        .trim_start_matches("Bearer ")
        .split('.')
        .map(str::to_owned)
        .collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = format!("Bearer {}", parts.join("."));
    for auth in [
        Some(foreign.as_str()),
        Some(tampered.as_str()),
        Some(&format!("Bearer {HANDLE}")[..]),
        Some("apikey qwh_wrong"),
        Some("Basic eDp5"),
        None,
    ] {
        let (status, got) = rig.call("POST", &format!("{R}/jobs"), auth, Some(&bell()));
        assert_eq!(status, 401, "{auth:?}: {got}");
        assert_ibm_error(&got, 401);
        let (status, _) = rig.call("GET", &format!("{R}/backends"), auth, None);
        assert_eq!(status, 401, "{auth:?}");
    }
    // A job of someone else's (not submitted in this session) is not readable with a good token.
    let (status, got) = rig.call(
        "GET",
        &format!("{R}/jobs/d4965e3803cb944afb87"),
        Some(&good),
        None,
    );
    assert_eq!(status, 404, "{got}");
    assert_ibm_error(&got, 404);
    // No endpoint gives anything away.
    for path in [
        format!("{R}/keys"),
        format!("{R}/../../v1/jobs"),
        format!("{R}/backends/%2e%2e/properties"),
        format!("{R}/instances"),
    ] {
        let (status, got) = rig.call("GET", &path, Some(&good), None);
        assert!(status == 404 || status == 400, "{path}: {status} {got}");
    }
    rig.stop();
    assert!(
        rig.double
            .requests()
            .iter()
            .all(|r| r.method != "POST" || r.path == "/identity/token")
    );
    // Each wrong handle was checked and recorded as refused (at IAM once, as an apikey twice).
    assert_eq!(rig.auth.refusals(), 3, "{:?}", rig.auth.0.lock().unwrap());
    rig.assert_no_leaks(&[good]);
}

#[test]
fn jobs_outside_the_grant_are_refused_from_every_shot_source_and_recorded() {
    let mut rig = start(2000, 10);
    let bearer = rig.bearer();
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut job = bell();
    job["backend"] = json!("ibm_torino");
    cases.push((job, "backend ibm:ibm_torino is not granted"));
    let shots_sources = transcript("variants/ibm-shots-sources.jsonl");
    let posted: Vec<Value> = shots_sources
        .iter()
        .filter(|x| x["request"]["method"] == "POST" && x["request"]["path"] != "/identity/token")
        .map(|x| x["request"]["body"].clone())
        .collect();
    // run([isa]): the provider default, 4096.
    cases.push((
        posted[0].clone(),
        "4096 shots (the provider's default shots)",
    ));
    // run([isa], shots=1000) with 2001.
    let mut job = posted[1].clone();
    job["params"]["pubs"][0][2] = json!(2001);
    cases.push((job, "2001 shots (the circuit's own shots)"));
    // options.experimental default_shots = 9999.
    cases.push((
        posted[5].clone(),
        "9999 shots (the request's default shots)",
    ));
    // Twirling: 64 × 100 randomizations over a 1000-shot PUB.
    cases.push((posted[6].clone(), "6400 shots (the request's twirling"));
    // Two PUBs, the second over the limit.
    let mut job = posted[8].clone();
    job["params"]["pubs"][1][2] = json!(2500);
    cases.push((job, "circuit 1 asks for 2500 shots"));
    // Another program.
    let mut job = bell();
    job["program_id"] = json!("estimator");
    cases.push((job, "SamplerV2"));
    let mut job = bell();
    job["program_id"] = json!("executor");
    cases.push((job, "SamplerV2"));
    for (body, reason) in &cases {
        let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(body));
        assert!(status == 403 || status == 400, "{reason}: {status} {got}");
        assert_ibm_error(&got, status);
        assert!(message(&got).contains(reason), "{reason}: {got}");
    }
    // A backend outside the grant is neither listed nor readable.
    let (status, got) = rig.call(
        "GET",
        &format!("{R}/backends/ibm_torino/properties"),
        Some(&bearer),
        None,
    );
    assert_eq!(status, 403, "{got}");
    assert!(message(&got).contains("not granted"), "{got}");
    rig.stop();
    assert!(rig.double.jobs().is_empty(), "nothing reached IBM's jobs");
    assert_eq!(rig.state.admission.used(), Usage::default());
    let refused = rig.sink.refused();
    assert_eq!(refused.len(), cases.len());
    assert!(
        refused
            .iter()
            .all(|r| r.api == "ibm" && r.provider == "ibm")
    );
    assert_eq!(refused[0].backend, "ibm_torino");
    rig.assert_no_leaks(&[bearer]);
}

#[test]
fn the_provider_default_is_sent_explicitly_and_the_budget_runs_out() {
    let mut rig = start(4096, 2);
    let bearer = rig.bearer();
    let posted: Vec<Value> = transcript("variants/ibm-shots-sources.jsonl")
        .iter()
        .filter(|x| x["request"]["method"] == "POST" && x["request"]["path"] != "/identity/token")
        .map(|x| x["request"]["body"].clone())
        .collect();
    let (status, got) = rig.call(
        "POST",
        &format!("{R}/jobs"),
        Some(&bearer),
        Some(&posted[0]),
    );
    assert_eq!(status, 200, "{got}");
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 200, "{got}");
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 403, "{got}");
    assert!(message(&got).contains("budget of 2 jobs"), "{got}");
    rig.stop();
    let jobs = rig.double.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].request["params"]["options"]["default_shots"], 4096);
    assert_eq!(jobs[0].shots, [4096]);
    assert_eq!(
        rig.state.admission.used(),
        Usage {
            shots: 5096,
            jobs: 2
        }
    );
    assert_eq!(rig.sink.refused().len(), 1);
}

#[test]
fn jobs_needing_approval_or_denied_by_the_tier_are_refused() {
    for (outcome, reason) in [
        (Outcome::Deny, "denied on this workstation's tier"),
        (
            Outcome::NeedsApproval {
                second_factor: false,
            },
            "need human approval",
        ),
    ] {
        let mut rig = start_with(grant(4096, 10, outcome));
        let bearer = rig.bearer();
        let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
        assert_eq!(status, 403, "{got}");
        assert!(message(&got).contains(reason), "{got}");
        rig.stop();
        assert!(rig.double.jobs().is_empty());
        assert_eq!(rig.sink.refused().len(), 1);
    }
}

#[test]
fn provider_errors_are_relayed_in_ibm_shape_without_credentials_and_cost_nothing() {
    let mut rig = start(4096, 10);
    let bearer = rig.bearer();
    let key = rig.double.api_key().to_owned();
    rig.double
        .reject_next_job(403, &format!("Instance over quota (key {key})"));
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 403, "{got}");
    assert_ibm_error(&got, 403);
    assert!(message(&got).contains("over quota"), "{got}");
    assert!(!got.to_string().contains(&key));
    assert_eq!(rig.state.admission.used(), Usage::default());
    // IBM revokes the adapter's access token: it exchanges the key again and carries on.
    rig.double.expire_tokens();
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 200, "{got}");
    // IAM refuses the real key: the gateway's problem (502), said so, without the key.
    rig.double.expire_tokens();
    rig.double.set_iam_rejects_key(true);
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 502, "{got}");
    assert!(message(&got).contains("secrets rotate"), "{got}");
    rig.stop();
    assert_eq!(
        rig.state.admission.used(),
        Usage {
            shots: 1000,
            jobs: 1
        }
    );
    assert_eq!(rig.sink.submitted().len(), 1);
    assert_eq!(rig.sink.refused().len(), 2);
    assert!(rig.sink.refused().iter().all(|r| !r.reason.contains(&key)));
    rig.assert_no_leaks(&[bearer]);
}

#[test]
fn malformed_and_oversized_bodies_are_refused_and_recorded() {
    let mut rig = start(4096, 10);
    let bearer = rig.bearer();
    let crn = rig.double.instance_crn().to_owned();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Service-CRN", crn.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut bodies: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[]".to_vec(),
        br#"{"program_id": "sampler"}"#.to_vec(),
        br#"{"program_id": "sampler", "backend": "../ibm_lima", "params": {"pubs": [[{}, null, 1]]}}"#.to_vec(),
        br#"{"program_id": "sampler", "backend": "ibm_lima", "params": {"pubs": "x"}}"#.to_vec(),
        br#"{"program_id": "sampler", "backend": "ibm_lima", "params": {"pubs": [[{}, null, 1]], "options": []}}"#.to_vec(),
        br#"{"program_id": "sampler", "backend": "ibm_lima", "params": {"pubs": [[{}, [[0.1]], 1]]}}"#.to_vec(),
    ];
    bodies.push(vec![b' '; qwarden_gateway::ibm::MAX_BODY + 1]);
    for body in &bodies {
        let (status, got) = rig.raw("POST", &format!("{R}/jobs"), &headers, Some(body));
        assert!(status == 400 || status == 413, "{status} {got}");
        assert_ibm_error(&got, status);
    }
    rig.stop();
    assert!(rig.double.jobs().is_empty());
    assert_eq!(rig.sink.refused().len(), bodies.len());
}

#[test]
fn a_job_that_needs_approval_is_queued_until_approved_then_runs_with_the_real_key() {
    let lab = support::Lab::new();
    let mut rig = start_gated(
        grant(
            4096,
            10,
            Outcome::NeedsApproval {
                second_factor: true,
            },
        ),
        Some(lab.gate(2, time::Duration::hours(1))),
    );
    let bearer = rig.bearer();
    let (status, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["backend"], "ibm_lima");
    let id = got["id"].as_str().unwrap().to_owned();
    // Queued, as qiskit-ibm-runtime understands it, while the approvers decide.
    let (status, got) = rig.call(
        "GET",
        &format!("{R}/jobs/{id}?exclude_params=true"),
        Some(&bearer),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(got["state"]["status"], "Queued", "{got}");
    let request = lab.store.list().unwrap()[0].id.clone();
    assert!(got["state"]["reason"].as_str().unwrap().contains(&request));
    assert!(rig.double.jobs().is_empty(), "nothing reached IBM yet");
    let (status, _) = rig.call(
        "GET",
        &format!("{R}/jobs/{id}/results"),
        Some(&bearer),
        None,
    );
    assert_eq!(status, 404);
    lab.vote(&request, "alice", Decision::Approve, true);
    lab.vote(&request, "bob", Decision::Approve, true);
    // The next poll sends it; the agent keeps its id, IBM's state machine shows through.
    let mut states = Vec::new();
    for _ in 0..4 {
        let (status, got) = rig.call(
            "GET",
            &format!("{R}/jobs/{id}?exclude_params=true"),
            Some(&bearer),
            None,
        );
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["id"], id.as_str());
        states.push(got["state"]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("Completed"),
        "{states:?}"
    );
    let (status, got) = rig.call(
        "GET",
        &format!("{R}/jobs/{id}/results"),
        Some(&bearer),
        None,
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["__type__"], "PrimitiveResult");
    rig.stop();
    let jobs = rig.double.jobs();
    assert_eq!(jobs.len(), 1, "sent exactly once");
    let submitted = rig.sink.submitted();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].job_id, jobs[0].id);
    assert!(submitted[0].calibration_digest.is_some());
    rig.assert_no_leaks(&[bearer]);
    assert_eq!(lab.store.outcome(&request).unwrap().unwrap().result, "ran");
}

#[test]
fn a_denied_job_fails_in_ibm_shape_and_never_reaches_ibm() {
    let lab = support::Lab::new();
    let mut rig = start_gated(
        grant(
            4096,
            10,
            Outcome::NeedsApproval {
                second_factor: false,
            },
        ),
        Some(lab.gate(1, time::Duration::hours(1))),
    );
    let bearer = rig.bearer();
    let (_, got) = rig.call("POST", &format!("{R}/jobs"), Some(&bearer), Some(&bell()));
    let id = got["id"].as_str().unwrap().to_owned();
    let request = lab.store.list().unwrap()[0].id.clone();
    lab.vote(&request, "bob", Decision::Deny, false);
    let (status, got) = rig.call("GET", &format!("{R}/jobs/{id}"), Some(&bearer), None);
    assert_eq!(status, 200);
    assert_eq!(got["state"]["status"], "Failed", "{got}");
    assert!(
        got["state"]["reason"]
            .as_str()
            .unwrap()
            .contains("denied by bob")
    );
    let (status, got) = rig.call(
        "GET",
        &format!("{R}/jobs/{id}/results"),
        Some(&bearer),
        None,
    );
    assert_eq!(status, 403, "{got}");
    assert_ibm_error(&got, 403);
    rig.stop();
    assert!(rig.double.jobs().is_empty());
    assert_eq!(rig.state.admission.used(), Usage::default());
}
