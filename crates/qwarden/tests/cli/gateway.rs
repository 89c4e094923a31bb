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
        assert_eq!(submit["details"]["seed"], body["seed"]);
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

/// An agent that may use IonQ's `qpu.aria-1` (on staging: jobs need one approval).
const IONQ_AGENT: &str = r#"[filesystem]
read = ["."]
write = ["src"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 1024
processes = 64

[qpu]
providers = ["ionq"]
backends = ["ionq:qpu.aria-1"]
max_shots = 1000

[qpu.budget]
shots = 10000
jobs = 10
"#;

/// Reads the backend's characterization and submits a Bell job through the gateway, as
/// qiskit-ionq would (`apiKey` with the handle from `IONQ_API_KEY`); prints each status, then the
/// whole environment (the test checks no real key is in it).
const IONQ_CLIENT: &str = r#"
import json, os, urllib.request, urllib.error
base, key = os.environ["IONQ_API_URL"], os.environ["IONQ_API_KEY"]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "apiKey " + key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
status, body = call("GET", "/backends/qpu.aria-1/characterizations?limit=1")
print("characterization", status)
job = {"type": "ionq.circuit.v1", "backend": "qpu.aria-1", "shots": 100, "name": "bell",
       "input": {"gateset": "qis", "qubits": 2, "circuit": [{"gate": "h", "targets": [0]},
                 {"gate": "x", "targets": [1], "controls": [0]}]}}
status, body = call("POST", "/jobs", job)
print("submit", status, json.loads(body).get("message", ""))
for k, v in sorted(os.environ.items()):
    print("env", k, v)
"#;

sessiontest!(
    an_ionq_client_reaches_the_provider_only_through_the_gateway,
    |env, who| {
        let ionq = qwarden_provider_doubles::IonqDouble::start(Default::default());
        setup(env, "staging", IONQ_AGENT);
        let profile = env.config.join("profile.toml");
        let text = std::fs::read_to_string(&profile).unwrap();
        assert!(text.contains("endpoints = [\"https://api.ionq.co\"]"));
        std::fs::write(
            &profile,
            text.replace(
                "endpoints = [\"https://api.ionq.co\"]",
                &format!("endpoints = [\"{}\"]", ionq.base_url()),
            ),
        )
        .unwrap();
        env.qwarden(["secrets", "init"]).run().success();
        let key_file = env.scratch("ionq-key");
        std::fs::write(&key_file, ionq.api_key()).unwrap();
        env.qwarden(["secrets", "add", "ionq", "--provider", "ionq"])
            .stdin_file(&key_file)
            .run()
            .success();
        std::fs::remove_file(&key_file).unwrap();
        std::fs::write(env.project.join("client.py"), IONQ_CLIENT).unwrap();
        let out = run(env, who, &["--", "python3", "client.py"]).run();
        out.success();
        // The characterization was fetched with the real key, swapped in by the gateway.
        assert!(
            out.stdout.contains("characterization 200"),
            "{}",
            out.stdout
        );
        let requests = ionq.requests();
        let real = format!("apiKey {}", ionq.api_key());
        assert!(
            requests.iter().any(|r| r.path.contains("characterizations")
                && r.header("authorization") == Some(real.as_str())),
            "{requests:#?}"
        );
        assert!(
            requests.iter().all(|r| r
                .header("authorization")
                .is_none_or(|a| !a.contains("qwh_"))),
            "a handle reached the provider: {requests:#?}"
        );
        // Staging needs an approval for QPU jobs, and this build has no approval gate yet: the job
        // is refused in IonQ's shape, before anything is sent.
        let submit = out
            .stdout
            .lines()
            .find(|l| l.starts_with("submit "))
            .unwrap();
        assert!(submit.starts_with("submit 403"), "{submit}");
        assert!(submit.contains("approval"), "{submit}");
        assert!(requests.iter().all(|r| r.method != "POST"), "{requests:#?}");
        // Nothing in the agent's environment (or its output) holds the real key.
        assert!(!out.stdout.contains(ionq.api_key()), "{}", out.stdout);
        assert!(!out.stderr.contains(ionq.api_key()));
        let entries = session_entries(env, &out.stderr);
        assert!(
            entries.iter().any(|e| e["kind"] == "violation"
                && e["control"] == "gateway"
                && e["attempted"] == "submit a job to ionq:qpu.aria-1"
                && e["target"].as_str().unwrap().contains("approval")),
            "{entries:#?}"
        );
        assert!(
            entries.iter().any(|e| e["kind"] == "credential"
                && e["action"] == "use"
                && e["provider"] == "ionq")
        );
        let ledger_text = serde_json::to_string(&entries).unwrap();
        assert!(
            !ledger_text.contains(ionq.api_key()),
            "the key is in the ledger"
        );
    }
);

sessiontest!(
    an_ibm_provider_without_an_instance_is_left_out_with_a_warning,
    |env, who| {
        // The built-in staging profile names IBM without an instance CRN: the session still
        // runs, without IBM endpoints, and says how to fix it; IonQ (https) is offered.
        setup(
            env,
            "staging",
            &IONQ_AGENT.replace(
                "providers = [\"ionq\"]\nbackends = [\"ionq:qpu.aria-1\"]",
                "providers = [\"ionq\", \"ibm\"]\nbackends = [\"ionq:qpu.aria-1\", \"ibm:ibm_torino\"]",
            ),
        );
        let out = run(
            env,
            who,
            &[
                "--",
                "sh",
                "-c",
                "echo \"ibm=${QISKIT_IBM_URL:-unset} ionq=${IONQ_API_URL:-unset}\"",
            ],
        )
        .run();
        out.success().stdout_has("ibm=unset ionq=http://127.0.0.1:");
        let s = summary(&out.stderr);
        let warnings = s["warnings"].to_string();
        assert!(
            warnings.contains("provider `ibm` is not offered") && warnings.contains("instance"),
            "{s}"
        );
    }
);
