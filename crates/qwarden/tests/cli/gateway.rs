//! The QPU job gateway inside `qwarden run`: a stdlib-only Python agent submits to the native
//! API with the session's handle; the job is admitted against the grant, runs on the local
//! backend and is recorded; a wrong handle, a backend outside the grant and too many shots are
//! refused and recorded. Each test runs as the invoker and as uid 65534.

use serde_json::Value;

use crate::run::{As, ledger, run, sessiontest, setup, summary};
use crate::support::Env;

/// The agent: may run processes and submit up to 2,000 shots a job to the local simulator.
const AGENT: &str = r#"[filesystem]
read = ["."]
write = ["src"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 1024
processes = 64

[qpu]
providers = ["local"]
backends = ["local:*"]
max_shots = 2000

[qpu.budget]
shots = 10000
jobs = 10
"#;

/// Posts `job` (JSON) to the native API with `token` (an environment variable's name, or a
/// literal); prints `status body` on one line.
const CLIENT: &str = r#"
import json, os, sys, urllib.request, urllib.error
job, token = sys.argv[1], sys.argv[2]
token = os.environ.get(token, token)
req = urllib.request.Request(os.environ["QWARDEN_GATEWAY_URL"] + "/v1/jobs", data=job.encode(),
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;

const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

fn job(backend: &str, shots: u64) -> String {
    serde_json::json!({"backend": backend, "qasm": BELL, "shots": shots, "seed": 3}).to_string()
}

fn session_entries(env: &Env, stderr: &str) -> Vec<Value> {
    let s = summary(stderr);
    ledger(env)
        .into_iter()
        .filter(|e| e["session"] == s["session"])
        .collect()
}

sessiontest!(
    an_agent_submits_to_the_native_api_with_its_handle,
    |env, who| {
        setup(env, "sandbox", AGENT);
        std::fs::write(env.project.join("client.py"), CLIENT).unwrap();
        let out = run(
            env,
            who,
            &[
                "--",
                "python3",
                "client.py",
                &job("local:statevector", 1000),
                "QWARDEN_GATEWAY_TOKEN",
            ],
        )
        .run();
        out.success();
        let line = out.stdout.trim();
        let (status, body) = line.split_once(' ').unwrap();
        assert_eq!(status, "201", "{line}");
        let body: Value = serde_json::from_str(body).unwrap();
        let counts = body["counts"].as_object().unwrap();
        assert_eq!(counts.keys().collect::<Vec<_>>(), ["00", "11"], "{body}");
        let entries = session_entries(env, &out.stderr);
        let submit = entries
            .iter()
            .find(|e| e["kind"] == "job.submit")
            .unwrap_or_else(|| panic!("no job.submit: {entries:#?}"));
        assert_eq!(submit["provider"], "local");
        assert_eq!(submit["backend"], "statevector");
        assert_eq!(submit["shots"], 1000);
        assert_eq!(submit["job_id"], body["id"]);
        assert_eq!(submit["circuit_digest"], body["circuit_digest"]);
        let credential: Vec<&str> = entries
            .iter()
            .filter(|e| e["kind"] == "credential")
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(credential, ["mint", "use", "revoke"], "{entries:#?}");
        // The handle itself is never recorded, only its digest.
        let handle_digest =
            entries.iter().find(|e| e["kind"] == "credential").unwrap()["handle_digest"]
                .as_str()
                .unwrap()
                .to_owned();
        assert!(handle_digest.starts_with("sha256:"));
        let env_change = entries.iter().find(|e| e["kind"] == "env.change").unwrap();
        let token = env_change["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "QWARDEN_GATEWAY_TOKEN")
            .unwrap();
        assert!(
            token.get("value").is_none(),
            "the handle is hashed in env.change: {token}"
        );
        assert_eq!(summary(&out.stderr)["counts"]["jobs"], 1);
    }
);

sessiontest!(refused_jobs_answer_in_shape_and_are_recorded, |env, who| {
    setup(env, "sandbox", AGENT);
    std::fs::write(env.project.join("client.py"), CLIENT).unwrap();
    let script = format!(
        "python3 client.py '{}' qwh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; python3 client.py '{}' QWARDEN_GATEWAY_TOKEN; python3 client.py '{}' QWARDEN_GATEWAY_TOKEN",
        job("local:statevector", 10),
        job("local:statevector", 2001),
        job("ibm:ibm_lima", 10),
    );
    let out = run(env, who, &["--", "sh", "-c", &script]).run();
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[0].starts_with("401 "),
        "an unknown handle: {}",
        lines[0]
    );
    assert!(lines[0].contains("unknown qwarden handle"), "{}", lines[0]);
    assert!(lines[1].starts_with("403 "), "too many shots: {}", lines[1]);
    assert!(lines[1].contains("max_shots of 2000"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("401 "),
        "ibm is not granted: {}",
        lines[2]
    );
    let entries = session_entries(env, &out.stderr);
    let refusals: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "violation" && e["control"] == "gateway")
        .collect();
    assert_eq!(refusals.len(), 3, "{entries:#?}");
    assert!(refusals.iter().any(|v| {
        v["target"]
            .as_str()
            .unwrap()
            .contains("unknown qwarden handle")
    }));
    assert!(
        refusals
            .iter()
            .any(|v| v["attempted"] == "submit a job to local:statevector"
                && v["target"].as_str().unwrap().contains("max_shots"))
    );
    assert!(refusals.iter().any(|v| {
        v["target"]
            .as_str()
            .unwrap()
            .contains("`ibm` is not granted")
    }));
    assert!(entries.iter().all(|e| e["kind"] != "job.submit"));
});
