//! The IonQ double on its own: authentication, backends and characterizations, job validation,
//! the job state machine, probabilities, failure, cancel, the knobs and the request log. No
//! sleeps: every state change is a poll or a knob.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use qwarden_provider_doubles::{IonqConfig, IonqDouble, IonqJobStatus};
use serde_json::{Value, json};

fn double() -> IonqDouble {
    IonqDouble::start(IonqConfig::default())
}

fn key(d: &IonqDouble) -> String {
    format!("apiKey {}", d.api_key())
}

/// The headers qiskit-ionq sends on authenticated calls.
fn auth(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("Authorization", key),
        ("Content-Type", "application/json"),
        ("Accept", "*/*"),
    ]
}

fn assert_ionq_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

fn submit(d: &IonqDouble, body: &Value) -> Resp {
    let k = key(d);
    http(
        d.addr(),
        "POST",
        "/v0.4/jobs",
        &auth(&k),
        body.to_string().as_bytes(),
    )
}

fn submit_ok(d: &IonqDouble, body: &Value) -> String {
    let r = submit(d, body);
    assert_eq!(r.status, 200, "{}", r.text());
    let created = r.json();
    assert_eq!(created["status"], "submitted");
    assert!(created.get("session_id").is_some());
    created["id"].as_str().unwrap().to_owned()
}

fn poll(d: &IonqDouble, id: &str) -> Value {
    let k = key(d);
    let r = get(d.addr(), &format!("/v0.4/jobs/{id}"), &auth(&k));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn bell_on(backend: &str, shots: u64) -> Value {
    let mut job = transcript_ionq_job();
    job["backend"] = json!(backend);
    job["shots"] = json!(shots);
    job["metadata"]["shots"] = json!(shots.to_string());
    if backend != "simulator" {
        job.as_object_mut().unwrap().remove("noise");
    }
    job
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[test]
fn job_calls_need_the_api_key_in_the_apikey_scheme() {
    let d = double();
    let body = transcript_ionq_job().to_string();
    let ct = ("Content-Type", "application/json");
    for headers in [
        vec![ct],
        vec![ct, ("Authorization", "apiKey wrong-key")],
        vec![
            ct,
            ("Authorization", "Bearer ionq-double-key-0123456789abcdef"),
        ],
        vec![
            ct,
            ("Authorization", "apikey ionq-double-key-0123456789abcdef"),
        ],
        vec![ct, ("Authorization", "ionq-double-key-0123456789abcdef")],
    ] {
        let r = http(d.addr(), "POST", "/v0.4/jobs", &headers, body.as_bytes());
        assert_ionq_error(&r, 401, "Unauthorized");
    }
    assert!(d.jobs().is_empty());
    for path in [
        "/v0.4/jobs/00000000-0000-4000-8000-000000000000",
        "/v0.4/jobs/x/results/probabilities",
    ] {
        assert_ionq_error(&get(d.addr(), path, &[]), 401, "Unauthorized");
    }
    assert_ionq_error(
        &http(d.addr(), "PUT", "/v0.4/jobs/x/status/cancel", &[], b""),
        401,
        "Unauthorized",
    );
    assert_eq!(submit(&d, &transcript_ionq_job()).status, 200);
}

#[test]
fn several_keys_can_be_accepted() {
    let d = IonqDouble::start(IonqConfig {
        api_keys: vec!["first".into(), "second".into()],
        ..IonqConfig::default()
    });
    assert_eq!(d.api_keys().len(), 2);
    let r = http(
        d.addr(),
        "POST",
        "/v0.4/jobs",
        &auth("apiKey second"),
        transcript_ionq_job().to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Backends and characterizations

#[test]
fn backends_are_public_and_unknown_ones_are_404() {
    let d = double();
    let r = get(d.addr(), "/v0.4/backends/simulator", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let sim = r.json();
    assert_eq!(sim["qubits"], 29);
    assert_eq!(sim["status"], "available");
    let aria = get(d.addr(), "/v0.4/backends/qpu.aria-1", &[]).json();
    assert_eq!(aria["qubits"], 25);
    assert_eq!(
        aria["characterization_id"],
        "00000000-0000-4000-8000-00000000c0de"
    );
    assert_ionq_error(
        &get(d.addr(), "/v0.4/backends/qpu.qpu", &[]),
        404,
        "Not Found",
    );
    let all = get(d.addr(), "/v0.4/backends", &[]).json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["backend"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "simulator",
            "qpu.aria-1",
            "qpu.aria-2",
            "qpu.forte-1",
            "qpu.forte-enterprise-1"
        ]
    );
    // A key that is sent must be valid, even here.
    let r = get(
        d.addr(),
        "/v0.4/backends",
        &[("Authorization", "apiKey wrong")],
    );
    assert_ionq_error(&r, 401, "Unauthorized");
    let k = key(&d);
    assert_eq!(get(d.addr(), "/v0.4/backends", &auth(&k)).status, 200);
}

#[test]
fn the_current_characterization_has_an_id_and_a_date() {
    let d = double();
    let k = key(&d);
    let r = get(
        d.addr(),
        "/v0.4/backends/qpu.aria-1/characterizations?limit=1",
        &auth(&k),
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["pages"], 1);
    let current = &body["characterizations"][0];
    assert_eq!(current, &d.current_characterization("qpu.aria-1").unwrap());
    let id = current["id"].as_str().unwrap();
    assert_eq!(id, "00000000-0000-4000-8000-00000000c0de");
    assert!(current["date"].is_string());
    assert_eq!(current["backend"], "qpu.aria-1");
    assert!(current["fidelity"]["2q"]["median"].is_number());
    assert!(current["timing"]["t1"].is_number());
    let by_id = get(
        d.addr(),
        &format!("/v0.4/backends/qpu.aria-1/characterizations/{id}"),
        &[],
    );
    assert_eq!(&by_id.json(), current);
    assert_ionq_error(
        &get(
            d.addr(),
            "/v0.4/backends/qpu.aria-1/characterizations/00000000-0000-4000-8000-000000000000",
            &[],
        ),
        404,
        "Not Found",
    );
    for bad in ["limit=0", "limit=11", "limit=one", "page=0"] {
        let r = get(
            d.addr(),
            &format!("/v0.4/backends/qpu.aria-1/characterizations?{bad}"),
            &[],
        );
        assert_ionq_error(&r, 400, "Bad Request");
    }
    assert_ionq_error(
        &get(d.addr(), "/v0.4/backends/simulator/characterizations", &[]),
        404,
        "Not Found",
    );
    assert_ionq_error(
        &get(
            d.addr(),
            "/v0.4/backends/qpu.nowhere/characterizations",
            &[],
        ),
        404,
        "Not Found",
    );
    // Not a v0.4 route (it is v0.3's).
    assert_ionq_error(
        &get(
            d.addr(),
            "/v0.4/characterizations/backends/qpu.aria-1/current",
            &[],
        ),
        404,
        "Not Found",
    );
}

#[test]
fn configured_characterizations_are_served_newest_first() {
    let mut config = IonqConfig::default();
    let mut older = config.backends[1].characterizations[0].clone();
    older["id"] = json!("00000000-0000-4000-8000-0000000000a1");
    older["date"] = json!("2025-12-01T00:00:00.000Z");
    config.backends[1].characterizations.push(older);
    let d = IonqDouble::start(config);
    let body = get(
        d.addr(),
        "/v0.4/backends/qpu.aria-1/characterizations?limit=1&page=2",
        &[],
    )
    .json();
    assert_eq!(body["pages"], 2);
    assert_eq!(
        body["characterizations"][0]["id"],
        "00000000-0000-4000-8000-0000000000a1"
    );
}

// ---------------------------------------------------------------------------------------------
// Job validation

#[test]
fn a_job_that_is_not_json_typed_gets_415() {
    let d = double();
    let k = key(&d);
    let body = transcript_ionq_job().to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = http(
            d.addr(),
            "POST",
            "/v0.4/jobs",
            &[("Authorization", &k), ("Content-Type", ct)],
            body.as_bytes(),
        );
        assert_ionq_error(&r, 415, "Unsupported Media Type");
    }
    let r = http(
        d.addr(),
        "POST",
        "/v0.4/jobs",
        &[("Authorization", &k)],
        body.as_bytes(),
    );
    assert_ionq_error(&r, 415, "Unsupported Media Type");
    assert!(d.jobs().is_empty());
}

#[test]
fn malformed_json_gets_400() {
    let d = double();
    let k = key(&d);
    let r = http(
        d.addr(),
        "POST",
        "/v0.4/jobs",
        &auth(&k),
        b"{\"type\": \"ionq.circuit.v1\",",
    );
    assert_ionq_error(&r, 400, "Bad Request");
    let r = http(d.addr(), "POST", "/v0.4/jobs", &auth(&k), b"[]");
    assert_ionq_error(&r, 400, "Bad Request");
}

#[test]
fn invalid_jobs_are_refused_with_the_reason() {
    let d = double();
    let good = transcript_ionq_job();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let remove = |field: &'static str| {
        with(&move |b| {
            b.as_object_mut().unwrap().remove(field);
        })
    };
    let many_keys: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(Value, &str)> = vec![
        (remove("type"), "type"),
        (with(&|b| b["type"] = json!("ionq.circuit.v0")), "type"),
        (remove("backend"), "backend"),
        (with(&|b| b["backend"] = json!("qpu.nowhere")), "backend"),
        (remove("shots"), "shots"),
        (with(&|b| b["shots"] = json!(0)), "shots"),
        (with(&|b| b["shots"] = json!("1000")), "shots"),
        (remove("input"), "input"),
        (with(&|b| b["input"]["qubits"] = json!(0)), "qubits"),
        (
            with(&|b| b["input"]["gateset"] = json!("clifford")),
            "gateset",
        ),
        (with(&|b| b["input"]["circuit"] = json!([])), "circuit"),
        (
            with(&|b| b["input"]["circuit"][0]["gate"] = json!("toffoli")),
            "gate",
        ),
        (
            with(&|b| b["input"]["circuit"][0]["targets"] = json!([2])),
            "qubit 2",
        ),
        (
            with(&|b| b["input"]["circuit"][1]["controls"] = json!([1])),
            "twice",
        ),
        (
            with(&|b| {
                b["input"]["circuit"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("targets");
            }),
            "target",
        ),
        (
            with(&|b| b["input"]["circuit"][0] = json!({"gate": "rx", "targets": [0]})),
            "rotation",
        ),
        (
            with(&|b| b["metadata"] = json!(many_keys.clone())),
            "10 keys",
        ),
        (
            with(&|b| b["metadata"]["shots"] = json!(1000)),
            "metadata/shots",
        ),
        (
            with(&|b| b["metadata"][&"k".repeat(41)] = json!("v")),
            "40 characters",
        ),
        (with(&|b| b["name"] = json!(7)), "name"),
        (with(&|b| b["noise"] = json!("ideal")), "noise"),
        (with(&|b| b["dry_run"] = json!("no")), "dry_run"),
        // The double runs single circuits only (documented limit).
        (
            with(&|b| b["type"] = json!("ionq.multi-circuit.v1")),
            "ionq.circuit.v1 only",
        ),
    ];
    for (body, mention) in cases {
        let r = submit(&d, &body);
        assert_ionq_error(&r, 400, "Bad Request");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(mention), "{mention:?} not in {message:?}");
    }
    assert!(d.jobs().is_empty(), "no invalid job was created");
}

// ---------------------------------------------------------------------------------------------
// The state machine and results

#[test]
fn a_job_moves_submitted_ready_started_completed_one_poll_each() {
    let d = double();
    let job = transcript_ionq_job();
    let id = submit_ok(&d, &job);
    assert_eq!(id.len(), 36);
    let polls: Vec<Value> = (0..5).map(|_| poll(&d, &id)).collect();
    let statuses: Vec<&str> = polls
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["submitted", "ready", "started", "completed", "completed"]
    );
    assert!(polls[0]["results"].is_null());
    assert!(polls[0]["started_at"].is_null());
    assert!(polls[2]["started_at"].is_string());
    let done = &polls[3];
    assert!(done["completed_at"].is_string());
    assert_eq!(
        done["metadata"], job["metadata"],
        "the submitted metadata is echoed"
    );
    assert_eq!(done["shots"], 1000);
    assert_eq!(done["stats"]["qubits"], 2);
    assert_eq!(done["stats"]["gate_counts"], json!({"1q": 1, "2q": 1}));
    assert_eq!(done["noise"], json!({"model": "ideal", "seed": null}));
    assert_eq!(
        done["results"]["probabilities"]["url"],
        json!(format!("/v0.4/jobs/{id}/results/probabilities"))
    );
}

#[test]
fn polls_per_state_zero_means_knob_only() {
    let d = IonqDouble::start(IonqConfig {
        polls_per_state: 0,
        ..IonqConfig::default()
    });
    let id = submit_ok(&d, &transcript_ionq_job());
    for _ in 0..3 {
        assert_eq!(poll(&d, &id)["status"], "submitted");
    }
    assert_eq!(d.advance_job(&id), Some(IonqJobStatus::Ready));
    assert_eq!(d.advance_job(&id), Some(IonqJobStatus::Started));
    assert_eq!(d.advance_job(&id), Some(IonqJobStatus::Completed));
    assert_eq!(poll(&d, &id)["status"], "completed");
    assert_eq!(d.advance_job("nope"), None);
}

fn probabilities(d: &IonqDouble, id: &str) -> Resp {
    let k = key(d);
    get(
        d.addr(),
        &format!("/v0.4/jobs/{id}/results/probabilities"),
        &auth(&k),
    )
}

#[test]
fn probabilities_before_completion_are_404_and_after_are_ghz_like() {
    let d = double();
    let id = submit_ok(&d, &transcript_ionq_job());
    assert_ionq_error(&probabilities(&d, &id), 404, "Not Found");
    for _ in 0..4 {
        poll(&d, &id);
    }
    let p = probabilities(&d, &id).json();
    assert_eq!(p, json!({"0": 0.5, "3": 0.5}), "ideal on the simulator");

    let id = submit_ok(&d, &bell_on("qpu.aria-1", 1000));
    for _ in 0..4 {
        poll(&d, &id);
    }
    let p = probabilities(&d, &id).json();
    let p = p.as_object().unwrap();
    assert!(p.keys().all(|k| k == "0" || k == "3"), "{p:?}");
    let total: f64 = p.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let p0 = p["0"].as_f64().unwrap();
    assert!((0.35..0.65).contains(&p0), "{p0}");
    assert_eq!(
        (p0 * 1000.0).round() / 1000.0,
        p0,
        "sampled from 1000 shots"
    );
    assert_ionq_error(
        &probabilities(&d, "00000000-0000-4000-8000-000000000000"),
        404,
        "Not Found",
    );
}

#[test]
fn a_failed_job_has_a_failure_with_code_and_error() {
    let d = double();
    d.fail_next_job("QuantumComputerError", "the trap lost an ion");
    let id = submit_ok(&d, &transcript_ionq_job());
    assert_eq!(poll(&d, &id)["status"], "submitted");
    let failed = poll(&d, &id);
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["failure"],
        json!({"code": "QuantumComputerError", "error": "the trap lost an ion"})
    );
    assert!(failed["results"].is_null());
    assert_ionq_error(&probabilities(&d, &id), 404, "Not Found");
    // Once only.
    let id = submit_ok(&d, &transcript_ionq_job());
    assert!(poll(&d, &id)["failure"].is_null());
}

#[test]
fn a_job_too_wide_for_the_backend_fails_with_not_enough_qubits() {
    let d = double();
    let mut job = transcript_ionq_job();
    job["input"]["qubits"] = json!(30);
    let id = submit_ok(&d, &job);
    poll(&d, &id);
    let failed = poll(&d, &id);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure"]["code"], "NotEnoughQubits");
}

#[test]
fn cancel_by_knob_by_request_and_not_after_the_end() {
    let d = double();
    d.cancel_next_job();
    let id = submit_ok(&d, &transcript_ionq_job());
    poll(&d, &id);
    assert_eq!(poll(&d, &id)["status"], "canceled");

    let k = key(&d);
    let id = submit_ok(&d, &transcript_ionq_job());
    let r = http(
        d.addr(),
        "PUT",
        &format!("/v0.4/jobs/{id}/status/cancel"),
        &auth(&k),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"id": id, "status": "canceled"}));
    assert_eq!(poll(&d, &id)["status"], "canceled");
    assert_eq!(d.job(&id).unwrap().status, IonqJobStatus::Canceled);
    let r = http(
        d.addr(),
        "PUT",
        &format!("/v0.4/jobs/{id}/status/cancel"),
        &auth(&k),
        b"",
    );
    assert_ionq_error(&r, 400, "Bad Request");
    let r = http(
        d.addr(),
        "PUT",
        "/v0.4/jobs/00000000-0000-4000-8000-000000000000/status/cancel",
        &auth(&k),
        b"",
    );
    assert_ionq_error(&r, 404, "Not Found");

    let id = submit_ok(&d, &transcript_ionq_job());
    assert!(d.cancel_job(&id));
    assert!(!d.cancel_job(&id));
    let id = submit_ok(&d, &transcript_ionq_job());
    assert!(d.fail_job(&id, "InternalError", "operator"));
    assert_eq!(poll(&d, &id)["failure"]["code"], "InternalError");
}

#[test]
fn reject_next_job_refuses_once_in_ionq_shape() {
    let d = double();
    d.reject_next_job(403, "denied: shots 1000 exceed the grant (500)");
    let r = submit(&d, &transcript_ionq_job());
    assert_ionq_error(&r, 403, "Forbidden");
    assert_eq!(
        r.json()["message"],
        "denied: shots 1000 exceed the grant (500)"
    );
    d.reject_next_job(400, "no");
    assert_ionq_error(&submit(&d, &transcript_ionq_job()), 400, "Bad Request");
    submit_ok(&d, &transcript_ionq_job());
    assert_eq!(d.jobs().len(), 1);
}

#[test]
fn unknown_jobs_routes_and_methods_are_404() {
    let d = double();
    let k = key(&d);
    assert_ionq_error(
        &get(
            d.addr(),
            "/v0.4/jobs/00000000-0000-4000-8000-000000000000",
            &auth(&k),
        ),
        404,
        "Not Found",
    );
    assert_ionq_error(&get(d.addr(), "/v0.3/backends", &[]), 404, "Not Found");
    assert_ionq_error(
        &http(d.addr(), "DELETE", "/v0.4/backends", &[], b""),
        404,
        "Not Found",
    );
}

#[test]
fn every_shot_source_reaches_the_job() {
    let d = double();
    for shots in [1024, 123, 321, 5000] {
        let id = submit_ok(&d, &bell_on("simulator", shots));
        assert_eq!(d.job(&id).unwrap().shots, shots);
        assert_eq!(poll(&d, &id)["shots"], shots);
    }
    let id = submit_ok(&d, &bell_on("qpu.forte-1", 5000));
    assert_eq!(d.job(&id).unwrap().backend, "qpu.forte-1");
    assert!(poll(&d, &id)["noise"].is_null(), "no noise model on a QPU");
}

#[test]
fn the_request_log_records_what_was_sent_and_answered() {
    let d = double();
    let job = transcript_ionq_job();
    let id = submit_ok(&d, &job);
    let _ = get(
        d.addr(),
        "/v0.4/backends/qpu.aria-1/characterizations?limit=1",
        &[],
    );
    let log = d.requests();
    assert_eq!(log.len(), 2);
    let post = &log[0];
    assert_eq!(
        (post.method.as_str(), post.path.as_str(), post.status),
        ("POST", "/v0.4/jobs", 200)
    );
    assert_eq!(post.header("authorization"), Some(key(&d).as_str()));
    assert_eq!(post.body_json(), Some(job.clone()));
    assert_eq!(log[1].query_param("limit").as_deref(), Some("1"));
    assert_eq!(d.job(&id).unwrap().request, job);
    d.clear_requests();
    assert!(d.requests().is_empty());
}
