//! What the provider API tests share: a recording handle checker, job sink, key source and
//! calibration store, the provider-traffic transcripts, and raw HTTP exchanges.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    missing_docs
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;

use qwarden_approvals::store::Store;
use qwarden_approvals::tally::{self, Vote};
use qwarden_approvals::{ApprovalRequest, Decision, Subject};
use qwarden_gateway::gate::{Gate, GateConfig, GateSink};
use qwarden_gateway::record::{Completed, JobSink, Refused, Submitted};
use qwarden_gateway::server::Authenticator;
use qwarden_gateway::upstream::ionq::{CalibrationStore, KeySource};
use qwarden_policy::profile::Approver;
use qwarden_policy::signature::{self, SigningKey};
use qwarden_vault::Secret;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Accepts one handle for one provider; records every check as (token, provider, accepted).
pub struct Handles(
    pub Mutex<Vec<(String, Option<String>, bool)>>,
    pub &'static str,
    pub &'static str,
);

impl Handles {
    pub fn new(handle: &'static str, provider: &'static str) -> Handles {
        Handles(Mutex::new(Vec::new()), handle, provider)
    }

    pub fn refusals(&self) -> usize {
        self.0.lock().unwrap().iter().filter(|c| !c.2).count()
    }
}

impl Authenticator for Handles {
    fn check(&self, token: &str, provider: Option<&str>) -> Result<(), String> {
        let ok = token == self.1 && provider.is_none_or(|p| p == self.2);
        self.0
            .lock()
            .unwrap()
            .push((token.to_owned(), provider.map(str::to_owned), ok));
        if ok {
            Ok(())
        } else {
            Err("unknown or expired handle".into())
        }
    }
}

/// Every job submitted, refused and completed.
#[derive(Default)]
pub struct Sink(
    pub Mutex<(Vec<Submitted>, Vec<Refused>)>,
    pub Mutex<Vec<Completed>>,
);

impl JobSink for Sink {
    fn submitted(&self, job: Submitted) {
        self.0.lock().unwrap().0.push(job);
    }
    fn refused(&self, job: Refused) {
        self.0.lock().unwrap().1.push(job);
    }
    fn completed(&self, job: Completed) {
        self.1.lock().unwrap().push(job);
    }
}

impl Sink {
    #[allow(dead_code, reason = "not every test binary looks at completions")]
    pub fn completions(&self) -> Vec<Completed> {
        self.1.lock().unwrap().clone()
    }
    pub fn submitted(&self) -> Vec<Submitted> {
        self.0.lock().unwrap().0.clone()
    }
    pub fn refused(&self) -> Vec<Refused> {
        self.0.lock().unwrap().1.clone()
    }
}

/// The real key of one provider.
pub struct Key(pub String, pub &'static str);

impl KeySource for Key {
    fn key(&self, provider: &str) -> Result<Secret, String> {
        assert_eq!(provider, self.1);
        Ok(Secret::new(self.0.clone()))
    }
}

/// Calibration snapshots by digest.
#[derive(Default)]
pub struct Cas(pub Mutex<HashMap<String, Vec<u8>>>);

impl CalibrationStore for Cas {
    fn put(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        self.0.lock().unwrap().insert(d.clone(), bytes.to_vec());
        d
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The exchanges of a transcript in `shared/fixtures/provider-traffic/`.
pub fn transcript(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/provider-traffic")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One HTTP/1.1 exchange with `Connection: close`: the raw answer, its status and JSON body
/// (`Null` if it is not JSON).
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (String, u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let out = String::from_utf8_lossy(&raw).into_owned();
    let status = out[9..12].parse().unwrap();
    let text = out.split_once("\r\n\r\n").unwrap().1;
    let json = serde_json::from_str(text).unwrap_or(Value::Null);
    (out, status, json)
}

/// What the gate reported, one line per event.
#[derive(Default)]
pub struct GateLedger(pub Mutex<Vec<String>>);

impl GateSink for GateLedger {
    fn requested(&self, request: &ApprovalRequest, notified: &[String]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("requested {} {notified:?}", request.id));
    }
    fn ended(&self, request: &ApprovalRequest, result: &str, detail: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("ended {} {result} {detail}", request.id));
    }
}

/// Approvers alice and bob with real ed25519 keys, and an approvals store, in a temporary
/// directory.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub approvers: Vec<Approver>,
    pub keys: Vec<(String, std::path::PathBuf)>,
    pub ledger: std::sync::Arc<GateLedger>,
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        let mut approvers = Vec::new();
        for name in ["alice", "bob"] {
            let key = dir.path().join(name);
            assert!(
                std::process::Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                    .arg(&key)
                    .status()
                    .unwrap()
                    .success()
            );
            let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
            approvers.push(Approver {
                name: name.into(),
                key: public.trim().to_owned(),
                roles: vec!["approver".into()],
            });
            keys.push((name.to_owned(), key));
        }
        let store = Store::open(dir.path().join("approvals")).unwrap();
        Lab {
            dir,
            store,
            approvers,
            keys,
            ledger: std::sync::Arc::new(GateLedger::default()),
        }
    }

    /// A gate needing `threshold` approvals, requests open for `ttl`.
    pub fn gate(&self, threshold: u32, ttl: time::Duration) -> Gate {
        self.gate_notifying(threshold, ttl, None)
    }

    /// The same, announcing requests to `webhook`.
    pub fn gate_notifying(
        &self,
        threshold: u32,
        ttl: time::Duration,
        webhook: Option<qwarden_approvals::notify::WebhookConfig>,
    ) -> Gate {
        Gate::new(
            GateConfig {
                store: self.store.clone(),
                approvers: self.approvers.clone(),
                threshold,
                deny_threshold: 1,
                subject: Subject {
                    session: "s1".into(),
                    agent: "circuit-helper".into(),
                    manifest_digest: format!("sha256:{}", "c".repeat(64)),
                    tier: "prod".into(),
                },
                requested_by: "circuit-helper".into(),
                excluded_keys: vec![],
                ttl,
                webhook,
                desktop: false,
            },
            self.ledger.clone(),
        )
    }

    /// `name` votes as `qwarden approvals approve|deny` does: verified, TOTP checked, stored.
    pub fn vote(&self, request_id: &str, name: &str, decision: Decision, totp: bool) {
        let request = self.store.get(request_id).unwrap();
        let key = &self.keys.iter().find(|(n, _)| n == name).unwrap().1;
        let armored = signature::sign(
            request.message(decision).unwrap().as_bytes(),
            "qwarden-approval",
            &SigningKey::File {
                path: key.clone(),
                passphrase: None,
            },
        )
        .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let signed = tally::verify(&request, &self.approvers, decision, &armored, now).unwrap();
        let step = totp.then(|| {
            let secret = self.store.enroll(name).unwrap();
            let unix = now.unix_timestamp() as u64;
            self.store
                .check_totp(name, &secret.code_at(unix), unix)
                .unwrap()
        });
        self.store
            .cast(
                request_id,
                &Vote {
                    approver: signed.approver,
                    fingerprint: signed.fingerprint,
                    decision,
                    signature: armored,
                    second_factor_step: step,
                    at: now,
                },
            )
            .unwrap();
    }
}
