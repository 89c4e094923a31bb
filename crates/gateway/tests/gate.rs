//! The approval gate behind the native API, over real HTTP: a job the tier says needs approval
//! is held (`202`), stays held while approvals are missing, runs once two approvers have signed
//! with their second factor, and fails with the reason when denied, expired or changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::net::TcpListener;
use std::sync::Arc;

use qwarden_approvals::Decision;
use qwarden_gateway::admission::{Admission, Usage};
use qwarden_gateway::native::Native;
use qwarden_gateway::server::{Gateway, State};
use qwarden_policy::Outcome;
use qwarden_policy::grant::{BackendGrant, QpuGrant};
use qwarden_policy::manifest::{BackendRef, Budget};
use qwarden_policy::profile::ProviderKind;
use serde_json::{Value, json};
use support::{Handles, Lab, Sink};

const HANDLE: &str = "qwh_local_handle";

struct Rig {
    lab: Lab,
    gateway: Option<Gateway>,
    port: u16,
    state: Arc<State>,
    sink: Arc<Sink>,
}

fn start(ttl: time::Duration, second_factor: bool) -> Rig {
    start_notifying(ttl, second_factor, None)
}

fn start_notifying(
    ttl: time::Duration,
    second_factor: bool,
    webhook: Option<qwarden_approvals::notify::WebhookConfig>,
) -> Rig {
    let lab = Lab::new();
    let gate = lab.gate_notifying(2, ttl, webhook);
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
                outcome: Outcome::NeedsApproval { second_factor },
            }],
            max_shots: 4096,
            budget: Budget {
                shots: 10_000,
                jobs: 5,
            },
        }),
        auth: Arc::new(Handles::new(HANDLE, "local")),
        sink: sink.clone(),
        native: Native::new(1),
        ionq: None,
        ibm: None,
        gate: Some(gate),
    });
    let gateway = Gateway::start(listener, state.clone()).unwrap();
    Rig {
        lab,
        gateway: Some(gateway),
        port,
        state,
        sink,
    }
}

const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

impl Rig {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Bearer {HANDLE}");
        let body = body.map(|b| b.to_string().into_bytes());
        let (_, status, json) = support::exchange(
            self.port,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_deref(),
        );
        (status, json)
    }

    fn submit(&self) -> (String, String) {
        let job = json!({"backend": "local:statevector", "qasm": BELL, "shots": 400, "seed": 3});
        let (status, got) = self.call("POST", "/v1/jobs", Some(&job));
        assert_eq!(status, 202, "{got}");
        assert_eq!(got["status"], "pending_approval");
        (
            got["id"].as_str().unwrap().to_owned(),
            got["approval_id"].as_str().unwrap().to_owned(),
        )
    }

    fn vote(&self, request_id: &str, name: &str, decision: Decision, totp: bool) {
        self.lab.vote(request_id, name, decision, totp);
    }

    fn stop(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
    }
}

#[test]
fn a_held_job_runs_once_two_approvers_sign_with_their_second_factor() {
    let mut rig = start(time::Duration::hours(1), true);
    let (job, request) = rig.submit();
    assert_eq!(
        rig.state.admission.used(),
        Usage {
            shots: 400,
            jobs: 1
        },
        "a held job holds its budget"
    );
    let (status, got) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(
        (status, got["status"].as_str()),
        (202, Some("pending_approval"))
    );
    // One approval is not enough; an approval without its second factor does not count.
    rig.vote(&request, "alice", Decision::Approve, true);
    rig.vote(&request, "bob", Decision::Approve, false);
    let (status, _) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 202);
    assert!(rig.sink.submitted().is_empty());
    rig.vote(&request, "bob", Decision::Approve, true);
    let (status, got) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status"], "completed");
    assert_eq!(got["approval_id"], request.as_str());
    let counts = got["counts"].as_object().unwrap();
    assert_eq!(
        counts.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        400
    );
    // It ran once: asking again shows the same job.
    let (status, again) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!((status, &again), (200, &got));
    rig.stop();
    let submitted = rig.sink.submitted();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].job_id, job);
    assert_eq!(
        rig.lab.store.outcome(&request).unwrap().unwrap().result,
        "ran"
    );
    let ledger = rig.lab.ledger.0.lock().unwrap().clone();
    assert!(
        ledger[0].starts_with(&format!("requested {request}")),
        "{ledger:?}"
    );
    assert!(
        ledger[1].starts_with(&format!("ended {request} ran")),
        "{ledger:?}"
    );
}

#[test]
fn a_denied_job_fails_with_the_reason_and_gives_its_budget_back() {
    let mut rig = start(time::Duration::hours(1), false);
    let (job, request) = rig.submit();
    rig.vote(&request, "alice", Decision::Approve, false);
    rig.vote(&request, "bob", Decision::Deny, false);
    let (status, got) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 403, "{got}");
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("denied by bob"),
        "{got}"
    );
    assert_eq!(rig.state.admission.used(), Usage::default());
    // Approving afterwards changes nothing.
    rig.vote(&request, "bob", Decision::Approve, false);
    let (status, _) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 403);
    rig.stop();
    assert!(rig.sink.submitted().is_empty());
    assert_eq!(
        rig.lab.store.outcome(&request).unwrap().unwrap().result,
        "denied"
    );
}

#[test]
fn an_expired_request_fails_the_job() {
    let mut rig = start(time::Duration::ZERO, false);
    let (job, request) = rig.submit();
    let (status, got) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 403, "{got}");
    assert!(
        got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    rig.stop();
    assert!(rig.sink.submitted().is_empty());
    assert_eq!(
        rig.lab.store.outcome(&request).unwrap().unwrap().result,
        "expired"
    );
}

#[test]
fn a_request_edited_after_approval_runs_nothing() {
    let mut rig = start(time::Duration::hours(1), false);
    let (job, request) = rig.submit();
    rig.vote(&request, "alice", Decision::Approve, false);
    rig.vote(&request, "bob", Decision::Approve, false);
    // Someone with access to the store rewrites the request to ask for more shots.
    let path = rig
        .lab
        .dir
        .path()
        .join(format!("approvals/requests/{request}/request.json"));
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    stored["action"]["shots"] = json!(4000);
    std::fs::write(&path, serde_json::to_vec(&stored).unwrap()).unwrap();
    let (status, got) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 403, "{got}");
    rig.stop();
    assert!(rig.sink.submitted().is_empty());
    assert_eq!(rig.state.admission.used(), Usage::default());
}

#[test]
fn approvers_are_told_by_webhook_and_a_failed_notification_is_recorded_not_fatal() {
    use std::io::{BufRead, BufReader, Read, Write};
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", receiver.local_addr().unwrap());
    let got = std::thread::spawn(move || {
        let (mut s, _) = receiver.accept().unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
        serde_json::from_slice::<Value>(&body).unwrap()
    });
    let mut rig = start_notifying(
        time::Duration::hours(1),
        false,
        Some(qwarden_approvals::notify::WebhookConfig {
            url,
            topic: Some("lab-approvals".into()),
        }),
    );
    let (_, request) = rig.submit();
    let body = got.join().unwrap();
    assert_eq!(body["topic"], "lab-approvals");
    assert!(
        body["text"].as_str().unwrap().contains("circuit-helper"),
        "{body}"
    );
    assert_eq!(body["qwarden"]["request_id"], request.as_str());
    rig.stop();
    let ledger = rig.lab.ledger.0.lock().unwrap().clone();
    assert!(
        ledger[0].contains("webhook") && !ledger[0].contains("failed"),
        "{ledger:?}"
    );

    // A receiver that is not there: the job is held all the same, and the failure recorded.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let mut rig = start_notifying(
        time::Duration::hours(1),
        false,
        Some(qwarden_approvals::notify::WebhookConfig { url, topic: None }),
    );
    let (job, _) = rig.submit();
    let (status, _) = rig.call("GET", &format!("/v1/jobs/{job}"), None);
    assert_eq!(status, 202);
    rig.stop();
    let ledger = rig.lab.ledger.0.lock().unwrap().clone();
    assert!(ledger[0].contains("webhook: failed"), "{ledger:?}");
}
