//! All three job APIs inside one `qwarden run` session: a stdlib-only Python agent talks to the
//! IBM Qiskit Runtime-compatible endpoints (through the gateway's IAM), the IonQ v0.4-compatible
//! endpoints and the native API, with nothing but its session handles. The IBM and IonQ doubles
//! see the workstation's real keys (swapped in by the gateway); the agent's environment and every
//! file it can see are scanned for those keys; every job and refusal is in the ledger.

use serde_json::Value;

use crate::run::{As, ledger, run, sessiontest, setup, summary};
use crate::support::Env;

/// May submit to the local simulator, IBM's `ibm_lima` and IonQ's Aria.
const AGENT: &str = r#"[filesystem]
read = ["."]
write = ["src"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 1024
processes = 64

[qpu]
providers = ["local", "ibm", "ionq"]
backends = ["local:*", "ibm:ibm_lima", "ionq:qpu.aria-1"]
max_shots = 2000

[qpu.budget]
shots = 10000
jobs = 10
"#;

/// The agent. argv: the IBM sampler job file, the native job file, the two real keys reversed
/// (so the text of a real key appears in no file or argument in the sandbox; the scan puts them
/// back together in memory only) and a planted canary reversed (which the scan must find, or it
/// proves nothing). Prints one line per call, then `leak <where>` for every place a real key was
/// found and `canary <where>` for the canary.
const CLIENT: &str = r#"
import json, os, sys, urllib.parse, urllib.request, urllib.error
ibm_job, native_job, ibm_rev, ionq_rev, canary_rev = sys.argv[1:6]
def call(method, url, body=None, headers=None, form=False):
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")

# IBM, as qiskit-ibm-runtime does it: the handle for a token at IAM, then the runtime API.
status, token = call("POST", os.environ["IAM_URL"] + "/identity/token",
    {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": os.environ["QISKIT_IBM_TOKEN"]},
    {"Content-Type": "application/x-www-form-urlencoded"}, form=True)
print("ibm-iam", status)
rt = os.environ["QISKIT_IBM_URL"]
auth = {"Authorization": "Bearer " + token["access_token"], "Service-CRN": os.environ["QISKIT_IBM_INSTANCE"],
        "Content-Type": "application/json"}
status, devices = call("GET", rt + "/backends", headers=auth)
print("ibm-backends", status, ",".join(d["name"] for d in devices["devices"]))
status, props = call("GET", rt + "/backends/ibm_lima/properties", headers=auth)
print("ibm-properties", status, props.get("last_update_date"))
status, body = call("POST", rt + "/jobs", json.load(open(ibm_job)), auth)
print("ibm-submit", status, body["errors"][0]["message"] if status >= 400 else body.get("id"))
status, body = call("GET", rt + "/backends/ibm_torino/properties", headers=auth)
print("ibm-other-backend", status)

# IonQ, as qiskit-ionq does it.
ionq = os.environ["IONQ_API_URL"]
auth = {"Authorization": "apiKey " + os.environ["IONQ_API_KEY"], "Content-Type": "application/json"}
status, body = call("GET", ionq + "/backends/qpu.aria-1/characterizations?limit=1", headers=auth)
print("ionq-characterization", status)
job = {"type": "ionq.circuit.v1", "backend": "qpu.aria-1", "shots": 100,
       "input": {"gateset": "qis", "qubits": 2, "circuit": [{"gate": "h", "targets": [0]},
                 {"gate": "x", "targets": [1], "controls": [0]}]}}
status, body = call("POST", ionq + "/jobs", job, auth)
print("ionq-submit", status, body.get("message", ""))

# The native API on the local backend, with a calibration snapshot for the noise model.
status, body = call("POST", os.environ["QWARDEN_GATEWAY_URL"] + "/v1/jobs", json.load(open(native_job)),
    {"Authorization": "Bearer " + os.environ["QWARDEN_GATEWAY_TOKEN"], "Content-Type": "application/json"})
print("native-submit", status, body.get("calibration_digest"))

# Nothing the agent can see holds a real key: its environment and every file it can read.
keys = [ibm_rev[::-1], ionq_rev[::-1]]
scanned = 0
for name, value in os.environ.items():
    if any(k in value for k in keys):
        print("leak env", name)
roots = [os.getcwd(), os.path.expanduser("~"), "/tmp", "/etc", "/run", "/var", "/opt", "/root", "/home", "/srv", "/mnt"]
seen = set()
for root in roots:
    for d, dirs, files in os.walk(root, onerror=lambda e: None):
        for f in files:
            p = os.path.join(d, f)
            if p in seen or not os.path.isfile(p) or os.path.islink(p):
                continue
            seen.add(p)
            try:
                with open(p, "rb") as fh:
                    data = fh.read(4 << 20)
            except OSError:
                continue
            scanned += 1
            if any(k.encode() in data for k in keys):
                print("leak file", p)
            if canary_rev[::-1].encode() in data:
                print("canary", p)
print("scanned", scanned)
"#;

fn point_profile_at(env: &Env, ibm: &qwarden_provider_doubles::IbmDouble, ionq: &str) {
    let profile = env.config.join("profile.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    let ibm_endpoints =
        "endpoints = [\"https://quantum.cloud.ibm.com\", \"https://iam.cloud.ibm.com\"]";
    assert!(text.contains(ibm_endpoints) && text.contains("endpoints = [\"https://api.ionq.co\"]"));
    let text = text
        .replace(
            ibm_endpoints,
            &format!(
                "endpoints = [\"{}\", \"{}\"]\ninstance = \"{}\"",
                ibm.base_url(),
                ibm.iam_url(),
                ibm.instance_crn()
            ),
        )
        .replace(
            "endpoints = [\"https://api.ionq.co\"]",
            &format!("endpoints = [\"{ionq}\"]"),
        );
    std::fs::write(&profile, text).unwrap();
}

fn add_secret(env: &Env, name: &str, key: &str) {
    let file = env.scratch(&format!("{name}-key"));
    std::fs::write(&file, key).unwrap();
    env.qwarden(["secrets", "add", name, "--provider", name])
        .stdin_file(&file)
        .run()
        .success();
    std::fs::remove_file(&file).unwrap();
}

fn line<'a>(stdout: &'a str, tag: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .unwrap_or_else(|| panic!("no `{tag}` line in:\n{stdout}"))
}

/// The IBM Bell job qiskit-ibm-runtime sent (`ibm-sampler-v2.jsonl`, seq 8).
fn ibm_bell() -> Value {
    let path = crate::support::repo_root()
        .join("../shared/fixtures/provider-traffic/ibm-sampler-v2.jsonl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|x| x["request"]["method"] == "POST" && x["request"]["path"] != "/identity/token")
        .unwrap()["request"]["body"]
        .clone()
}

sessiontest!(
    a_stdlib_agent_uses_all_three_job_apis_with_handles_only,
    |env, who| {
        let ibm = qwarden_provider_doubles::IbmDouble::start(
            qwarden_provider_doubles::IbmConfig::from_fixtures(
                &qwarden_provider_doubles::ibm_fixtures_dir(),
            )
            .unwrap(),
        );
        let ionq = qwarden_provider_doubles::IonqDouble::start(Default::default());
        setup(env, "staging", AGENT);
        point_profile_at(env, &ibm, &ionq.base_url());
        env.qwarden(["secrets", "init"]).run().success();
        add_secret(env, "ibm", ibm.api_key());
        add_secret(env, "ionq", ionq.api_key());
        std::fs::write(env.project.join("client.py"), CLIENT).unwrap();
        std::fs::write(env.project.join("ibm_job.json"), ibm_bell().to_string()).unwrap();
        let props = std::fs::read_to_string(
            qwarden_provider_doubles::ibm_fixtures_dir().join("props_lima.json"),
        )
        .unwrap();
        let native = serde_json::json!({
            "backend": "local:noisy",
            "qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
            "shots": 500,
            "seed": 7,
            "calibration": serde_json::from_str::<Value>(&props).unwrap(),
        });
        std::fs::write(env.project.join("native_job.json"), native.to_string()).unwrap();
        let ibm_rev: String = ibm.api_key().chars().rev().collect();
        let ionq_rev: String = ionq.api_key().chars().rev().collect();
        let canary = "qwarden-canary-5f0c2e9a";
        std::fs::write(
            env.project.join("src/notes.txt"),
            format!("key = {canary}\n"),
        )
        .unwrap();
        let canary_rev: String = canary.chars().rev().collect();
        let out = run(
            env,
            who,
            &[
                "--",
                "python3",
                "client.py",
                "ibm_job.json",
                "native_job.json",
                &ibm_rev,
                &ionq_rev,
                &canary_rev,
            ],
        )
        .run();
        out.success();
        let stdout = out.stdout.as_str();
        // IBM: the gateway's IAM, the granted backend only, its calibration, read with the real
        // key; the job itself waits for the approvals gate staging requires.
        assert_eq!(line(stdout, "ibm-iam"), "ibm-iam 200");
        assert_eq!(line(stdout, "ibm-backends"), "ibm-backends 200 ibm_lima");
        assert!(
            line(stdout, "ibm-properties").starts_with("ibm-properties 200 20"),
            "{stdout}"
        );
        let submit = line(stdout, "ibm-submit");
        assert!(
            submit.starts_with("ibm-submit 403") && submit.contains("approval"),
            "{submit}"
        );
        assert_eq!(line(stdout, "ibm-other-backend"), "ibm-other-backend 403");
        // IonQ: the characterization with the real key; the job waits for approval too.
        assert_eq!(
            line(stdout, "ionq-characterization"),
            "ionq-characterization 200"
        );
        let submit = line(stdout, "ionq-submit");
        assert!(
            submit.starts_with("ionq-submit 403") && submit.contains("approval"),
            "{submit}"
        );
        // Native: ran on the local backend under the calibration it was given.
        let native_line = line(stdout, "native-submit");
        assert!(
            native_line.starts_with("native-submit 201 sha256:"),
            "{native_line}"
        );
        // No real key anywhere the agent could look (and it looked at files).
        assert!(!stdout.contains("leak "), "{stdout}");
        assert!(
            line(stdout, "canary").ends_with("src/notes.txt"),
            "{stdout}"
        );
        let scanned: u64 = line(stdout, "scanned")[8..].parse().unwrap();
        assert!(scanned > 3, "{stdout}");
        for key in [ibm.api_key(), ionq.api_key()] {
            assert!(!out.stdout.contains(key) && !out.stderr.contains(key));
        }

        // The doubles saw the real keys, never a handle.
        let ibm_requests = ibm.requests();
        let iam = ibm_requests
            .iter()
            .find(|r| r.path == "/identity/token")
            .expect("the gateway exchanged the real key at IAM");
        assert!(
            String::from_utf8_lossy(&iam.body).contains(&format!("apikey={}", ibm.api_key())),
            "{iam:?}"
        );
        assert!(ibm_requests.iter().any(|r| {
            r.path.ends_with("/backends/ibm_lima/properties")
                && r.header("authorization")
                    .is_some_and(|a| a.starts_with("Bearer "))
                && r.header("service-crn") == Some(ibm.instance_crn())
        }));
        assert!(
            ionq.requests()
                .iter()
                .any(|r| r.path.contains("characterizations")
                    && r.header("authorization")
                        == Some(format!("apiKey {}", ionq.api_key()).as_str()))
        );
        for r in ibm_requests.iter().chain(ionq.requests().iter()) {
            let all = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
            assert!(!all.contains("qwh_"), "a handle reached a provider: {all}");
        }
        assert!(
            ibm.jobs().is_empty() && ionq.jobs().is_empty(),
            "no job without approval"
        );

        // The ledger: the local job with its calibration digest, both refusals, the handles'
        // mint / use / revoke for every provider, and no key.
        let s = summary(&out.stderr);
        let entries: Vec<Value> = ledger(env)
            .into_iter()
            .filter(|e| e["session"] == s["session"])
            .collect();
        let submit = entries
            .iter()
            .find(|e| e["kind"] == "job.submit")
            .unwrap_or_else(|| panic!("no job.submit: {entries:#?}"));
        assert_eq!(submit["provider"], "local");
        assert_eq!(
            submit["calibration_digest"].as_str(),
            native_line.split(' ').nth(2)
        );
        for attempted in [
            "submit a job to ibm:ibm_lima",
            "submit a job to ionq:qpu.aria-1",
        ] {
            assert!(
                entries.iter().any(|e| e["kind"] == "violation"
                    && e["control"] == "gateway"
                    && e["attempted"] == attempted),
                "{attempted}: {entries:#?}"
            );
        }
        for provider in ["local", "ibm", "ionq"] {
            let actions: Vec<&str> = entries
                .iter()
                .filter(|e| e["kind"] == "credential" && e["provider"] == provider)
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert!(
                actions.first() == Some(&"mint")
                    && actions.contains(&"use")
                    && actions.last() == Some(&"revoke"),
                "{provider}: {actions:?}"
            );
        }
        let text = serde_json::to_string(&entries).unwrap();
        for key in [ibm.api_key(), ionq.api_key()] {
            assert!(!text.contains(key), "a real key is in the ledger");
        }
    }
);

/// Submits an IBM sampler job (through the gateway's IAM) and an IonQ job, prints `held` lines,
/// waits on the FIFO `go` until they are approved, then polls each to its end (every poll
/// moves the doubles' jobs one state on) and prints `final` lines.
const HELD_CLIENT: &str = r#"
import json, os, sys, urllib.parse, urllib.request, urllib.error
def call(method, url, body=None, headers=None, form=False):
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
_, token = call("POST", os.environ["IAM_URL"] + "/identity/token",
    {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": os.environ["QISKIT_IBM_TOKEN"]},
    {"Content-Type": "application/x-www-form-urlencoded"}, form=True)
rt = os.environ["QISKIT_IBM_URL"]
ibm = {"Authorization": "Bearer " + token["access_token"], "Service-CRN": os.environ["QISKIT_IBM_INSTANCE"],
       "Content-Type": "application/json"}
status, job = call("POST", rt + "/jobs", json.load(open(sys.argv[1])), ibm)
print("held ibm", status, job["id"], flush=True)
ibm_id = job["id"]
ionq_url = os.environ["IONQ_API_URL"]
ionq = {"Authorization": "apiKey " + os.environ["IONQ_API_KEY"], "Content-Type": "application/json"}
job = {"type": "ionq.circuit.v1", "backend": "qpu.aria-1", "shots": 100,
       "input": {"gateset": "qis", "qubits": 2, "circuit": [{"gate": "h", "targets": [0]},
                 {"gate": "x", "targets": [1], "controls": [0]}]}}
status, job = call("POST", ionq_url + "/jobs", job, ionq)
print("held ionq", status, job["id"], job["status"], flush=True)
ionq_id = job["id"]
open("go").read()
for _ in range(10):
    _, job = call("GET", rt + "/jobs/" + ibm_id, headers=ibm)
    if job["state"]["status"] in ("Completed", "Failed", "Cancelled"):
        break
status, result = call("GET", rt + "/jobs/" + ibm_id + "/results", headers=ibm)
print("final ibm", job["id"], job["state"]["status"], status, result["__type__"], flush=True)
for _ in range(10):
    _, job = call("GET", ionq_url + "/jobs/" + ionq_id, headers=ionq)
    if job["status"] in ("completed", "failed", "canceled"):
        break
print("final ionq", job["id"], job["status"], flush=True)
"#;

sessiontest!(
    approved_jobs_reach_the_providers_with_the_real_keys_and_their_calibration,
    |env, who| {
        let ibm = qwarden_provider_doubles::IbmDouble::start(
            qwarden_provider_doubles::IbmConfig::from_fixtures(
                &qwarden_provider_doubles::ibm_fixtures_dir(),
            )
            .unwrap(),
        );
        let ionq = qwarden_provider_doubles::IonqDouble::start(Default::default());
        setup(env, "staging", AGENT);
        point_profile_at(env, &ibm, &ionq.base_url());
        let alice = env.keygen("ed25519", "alice");
        let profile = env.config.join("profile.toml");
        let mut text = std::fs::read_to_string(&profile).unwrap();
        text = text.replace("desktop = true", "desktop = false");
        text.push_str(&format!(
            "\n[[approvers]]\nname = \"alice\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
            alice.public_key()
        ));
        std::fs::write(&profile, text).unwrap();
        env.qwarden(["secrets", "init"]).run().success();
        add_secret(env, "ibm", ibm.api_key());
        add_secret(env, "ionq", ionq.api_key());
        std::fs::write(env.project.join("client.py"), HELD_CLIENT).unwrap();
        std::fs::write(env.project.join("ibm_job.json"), ibm_bell().to_string()).unwrap();
        let fifo = env.project.join("go");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let session = run(env, who, &["--", "python3", "client.py", "ibm_job.json"])
            .spawn(&env.scratch("stderr"));
        let held_ibm = session.line();
        assert!(held_ibm.starts_with("held ibm 200 "), "{held_ibm}");
        let held_ionq = session.line();
        assert!(
            held_ionq.starts_with("held ionq 200 ") && held_ionq.ends_with(" submitted"),
            "{held_ionq}"
        );
        assert!(
            ibm.jobs().is_empty() && ionq.jobs().is_empty(),
            "nothing before approval"
        );
        // Staging: one approval each.
        let as_user = |args: &[&str]| {
            if who == As::Unprivileged && crate::run::is_root() {
                env.as_uid(65534, args)
            } else {
                env.qwarden(args)
            }
        };
        let listed = as_user(&["approvals", "list", "--json"]).run();
        listed.success();
        let ids: Vec<String> = listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 2);
        for id in &ids {
            as_user(&[
                "approvals",
                "approve",
                id,
                "--key",
                alice.private.to_str().unwrap(),
            ])
            .run()
            .success()
            .stdout_has("it is now approved");
        }
        std::fs::write(&fifo, "go").unwrap();
        let final_ibm = session.line();
        let ibm_id = held_ibm.rsplit(' ').next().unwrap();
        assert_eq!(
            final_ibm,
            format!("final ibm {ibm_id} Completed 200 PrimitiveResult")
        );
        let final_ionq = session.line();
        assert!(final_ionq.ends_with(" completed"), "{final_ionq}");
        let mut session = session;
        assert!(session.wait_for_eof());
        let stderr = std::fs::read_to_string(env.scratch("stderr")).unwrap();
        let s = summary(&stderr);

        // The jobs reached the doubles once each, with the real keys and no handle.
        assert_eq!(ibm.jobs().len(), 1);
        assert_eq!(ionq.jobs().len(), 1);
        for r in ibm.requests().iter().chain(ionq.requests().iter()) {
            let all = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
            assert!(!all.contains("qwh_"), "a handle reached a provider: {all}");
        }
        assert!(ionq.requests().iter().any(|r| r.method == "POST"
            && r.header("authorization") == Some(format!("apiKey {}", ionq.api_key()).as_str())));
        // Each job is in the ledger with its provider job id and calibration digest, and the
        // snapshot is in the CAS.
        let entries: Vec<Value> = ledger(env)
            .into_iter()
            .filter(|e| e["session"] == s["session"])
            .collect();
        for (provider, job_id) in [
            ("ibm", ibm.jobs()[0].id.clone()),
            ("ionq", ionq.jobs()[0].id.clone()),
        ] {
            let submit = entries
                .iter()
                .find(|e| e["kind"] == "job.submit" && e["provider"] == provider)
                .unwrap_or_else(|| panic!("no {provider} job.submit: {entries:#?}"));
            assert_eq!(submit["job_id"], job_id.as_str());
            let digest = submit["calibration_digest"].as_str().unwrap();
            let hex = &digest["sha256:".len()..];
            assert!(
                env.state
                    .join("cas/sha256")
                    .join(&hex[..2])
                    .join(&hex[2..])
                    .exists(),
                "{provider} calibration {digest} is not in the CAS"
            );
        }
        let text = serde_json::to_string(&entries).unwrap();
        for key in [ibm.api_key(), ionq.api_key()] {
            assert!(!text.contains(key));
        }
    }
);
