//! The native job API over real HTTP: authentication before anything is read, jobs admitted
//! against the grant, answers in the API's JSON shape.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use qwarden_gateway::admission::Admission;
use qwarden_gateway::native::Native;
use qwarden_gateway::record::{Completed, JobSink, Refused, Submitted};
use qwarden_gateway::server::{Authenticator, Gateway, State};
use qwarden_policy::Outcome;
use qwarden_policy::grant::{BackendGrant, QpuGrant};
use qwarden_policy::manifest::{BackendRef, Budget};
use qwarden_policy::profile::ProviderKind;
use serde_json::{Value, json};

struct Token(&'static str);
impl Authenticator for Token {
    fn check(&self, token: &str, provider: Option<&str>) -> Result<(), String> {
        match provider {
            Some(p) if p != "local" => Err(format!("no handle for provider {p}")),
            _ if token == self.0 => Ok(()),
            _ => Err("unknown handle".into()),
        }
    }
}

#[derive(Default)]
struct Sink(Mutex<(Vec<Submitted>, Vec<Refused>)>);
impl JobSink for Sink {
    fn submitted(&self, job: Submitted) {
        self.0.lock().unwrap().0.push(job);
    }
    fn refused(&self, job: Refused) {
        self.0.lock().unwrap().1.push(job);
    }
    fn completed(&self, _: Completed) {}
}

fn start() -> (Gateway, u16, Arc<Sink>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Arc::new(Sink::default());
    let state = Arc::new(State {
        admission: Admission::new(QpuGrant {
            providers: vec![],
            backends: vec![BackendGrant {
                backend: BackendRef {
                    provider: "local".into(),
                    backend: "*".into(),
                },
                kind: ProviderKind::Local,
                outcome: Outcome::Allow,
            }],
            max_shots: 4096,
            budget: Budget {
                shots: 10_000,
                jobs: 5,
            },
        }),
        auth: Arc::new(Token("qwh_good")),
        sink: sink.clone(),
        native: Native::new(1),
        ionq: None,
        ibm: None,
        gate: None,
    });
    (Gateway::start(listener, state).unwrap(), port, sink)
}

/// One HTTP/1.1 exchange with `Connection: close`; (status, JSON body).
fn call(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

#[test]
fn a_job_with_the_session_handle_runs_and_is_recorded() {
    let (g, port, sink) = start();
    let job = json!({"backend": "local:statevector", "qasm": BELL, "shots": 2000, "seed": 11})
        .to_string();
    let (status, body) = call(port, "POST", "/v1/jobs", Some("qwh_good"), &job);
    assert_eq!(status, 201, "{body}");
    let counts = body["counts"].as_object().unwrap();
    assert_eq!(
        counts.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        2000
    );
    let id = body["id"].as_str().unwrap();
    let (status, again) = call(port, "GET", &format!("/v1/jobs/{id}"), Some("qwh_good"), "");
    assert_eq!((status, &again), (200, &body));
    g.stop();
    let recorded = sink.0.lock().unwrap();
    assert_eq!(recorded.0.len(), 1);
    assert_eq!(recorded.0[0].job_id, id);
    assert_eq!(recorded.0[0].backend, "statevector");
}

#[test]
fn no_handle_or_a_wrong_one_is_refused_before_anything_runs() {
    let (g, port, sink) = start();
    let job = json!({"backend": "local:statevector", "qasm": BELL, "shots": 10}).to_string();
    for token in [None, Some("qwh_bad"), Some("")] {
        let (status, body) = call(port, "POST", "/v1/jobs", token, &job);
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated");
    }
    let (status, _) = call(port, "GET", "/v1/jobs/job-1", Some("qwh_bad"), "");
    assert_eq!(status, 401);
    let ibm = json!({"backend": "ibm:ibm_lima", "qasm": BELL, "shots": 10}).to_string();
    let (status, body) = call(port, "POST", "/v1/jobs", Some("qwh_good"), &ibm);
    assert_eq!(status, 401, "the local handle is not an IBM handle: {body}");
    g.stop();
    let recorded = sink.0.lock().unwrap();
    assert!(
        recorded.0.is_empty() && recorded.1.is_empty(),
        "nothing got as far as admission"
    );
}

#[test]
fn over_the_limit_and_oversized_jobs_are_refused() {
    let (g, port, sink) = start();
    let job = json!({"backend": "local:statevector", "qasm": BELL, "shots": 5000}).to_string();
    let (status, body) = call(port, "POST", "/v1/jobs", Some("qwh_good"), &job);
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_shots of 4096"),
        "{body}"
    );
    let huge = format!(
        "{{\"backend\":\"local:statevector\",\"shots\":1,\"qasm\":\"{}\"}}",
        "x".repeat(5 << 20)
    );
    let (status, _) = call(port, "POST", "/v1/jobs", Some("qwh_good"), &huge);
    assert_eq!(status, 413);
    let (status, _) = call(port, "GET", "/v1/nothing", Some("qwh_good"), "");
    assert_eq!(status, 404);
    g.stop();
    assert_eq!(sink.0.lock().unwrap().1.len(), 1);
}
