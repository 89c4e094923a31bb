//! Reproducibility bundles from a real session: an agent submits a local job (native API) and an
//! IBM job (through the gateway to the IBM double, approved by a human), fetches both results,
//! and leaves one bundle per job. Each verifies, exports and re-verifies offline, fails on
//! tampering, and re-runs: the local job to identical counts, the IBM job — whose device drifted
//! from the calibration it last published — as `drifted`, explained by today's calibration.

use serde_json::Value;

use crate::run::{As, ledger, run, sessiontest, setup, summary};
use crate::support::Env;

const AGENT: &str = r#"[filesystem]
read = ["."]
write = ["src"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 1024
processes = 64

[qpu]
providers = ["local", "ibm"]
backends = ["local:*", "ibm:ibm_lima"]
max_shots = 5000

[qpu.budget]
shots = 20000
jobs = 10
"#;

/// Runs the native job, submits the IBM job, prints `held ibm <id>`, waits on the FIFO `go`
/// for the approval, then polls the IBM job to its end and fetches its results.
const CLIENT: &str = r#"
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
status, body = call("POST", os.environ["QWARDEN_GATEWAY_URL"] + "/v1/jobs", json.load(open(sys.argv[2])),
    {"Authorization": "Bearer " + os.environ["QWARDEN_GATEWAY_TOKEN"], "Content-Type": "application/json"})
print("native", status, body["id"], flush=True)
_, token = call("POST", os.environ["IAM_URL"] + "/identity/token",
    {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": os.environ["QISKIT_IBM_TOKEN"]},
    {"Content-Type": "application/x-www-form-urlencoded"}, form=True)
rt = os.environ["QISKIT_IBM_URL"]
ibm = {"Authorization": "Bearer " + token["access_token"], "Service-CRN": os.environ["QISKIT_IBM_INSTANCE"],
       "Content-Type": "application/json"}
status, job = call("POST", rt + "/jobs", json.load(open(sys.argv[1])), ibm)
print("held ibm", status, job["id"], flush=True)
open("go").read()
for _ in range(10):
    _, state = call("GET", rt + "/jobs/" + job["id"], headers=ibm)
    if state["state"]["status"] in ("Completed", "Failed", "Cancelled"):
        break
status, result = call("GET", rt + "/jobs/" + job["id"] + "/results", headers=ibm)
print("ibm results", status, result["__type__"], flush=True)
"#;

/// The IBM Bell job qiskit-ibm-runtime sent, with `shots` shots.
fn ibm_bell(shots: u64) -> Value {
    let path = crate::support::repo_root()
        .join("../shared/fixtures/provider-traffic/ibm-sampler-v2.jsonl");
    let mut body = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|x| x["request"]["method"] == "POST" && x["request"]["path"] != "/identity/token")
        .unwrap()["request"]["body"]
        .clone();
    body["params"]["pubs"][0][2] = shots.into();
    body
}

fn lima_props() -> Value {
    let text = std::fs::read_to_string(
        qwarden_provider_doubles::ibm_fixtures_dir().join("props_lima.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `props` after the device's readout drifted: every qubit's readout error `extra` worse.
fn drifted(mut props: Value, extra: f64) -> Value {
    for qubit in props["qubits"].as_array_mut().unwrap() {
        for item in qubit.as_array_mut().unwrap() {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            if matches!(
                name.as_str(),
                "readout_error" | "prob_meas0_prep1" | "prob_meas1_prep0"
            ) {
                let v = item["value"].as_f64().unwrap();
                item["value"] = (v + extra).min(0.5).into();
            }
        }
    }
    props
}

fn point_profile_at(env: &Env, ibm: &qwarden_provider_doubles::IbmDouble) {
    let profile = env.config.join("profile.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    let ibm_endpoints =
        "endpoints = [\"https://quantum.cloud.ibm.com\", \"https://iam.cloud.ibm.com\"]";
    assert!(text.contains(ibm_endpoints));
    let text = text.replace(
        ibm_endpoints,
        &format!(
            "endpoints = [\"{}\", \"{}\"]\ninstance = \"{}\"",
            ibm.base_url(),
            ibm.iam_url(),
            ibm.instance_crn()
        ),
    );
    std::fs::write(&profile, text).unwrap();
}

fn cas_path(env: &Env, digest: &str) -> std::path::PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    env.state.join("cas/sha256").join(&hex[..2]).join(&hex[2..])
}

sessiontest!(
    a_session_leaves_one_verifiable_reproducible_bundle_per_job,
    |env, who| {
        let mut config = qwarden_provider_doubles::IbmConfig::from_fixtures(
            &qwarden_provider_doubles::ibm_fixtures_dir(),
        )
        .unwrap();
        let device = drifted(lima_props(), 0.08);
        for b in &mut config.backends {
            if b.name == "ibm_lima" {
                let mut d = device.clone();
                d["backend_name"] = "ibm_lima".into();
                b.device_properties = Some(d);
            }
        }
        let ibm = qwarden_provider_doubles::IbmDouble::start(config);
        setup(env, "staging", AGENT);
        point_profile_at(env, &ibm);
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
        let key_file = env.scratch("ibm-key");
        std::fs::write(&key_file, ibm.api_key()).unwrap();
        env.qwarden(["secrets", "add", "ibm", "--provider", "ibm"])
            .stdin_file(&key_file)
            .run()
            .success();
        std::fs::remove_file(&key_file).unwrap();

        std::fs::write(env.project.join("client.py"), CLIENT).unwrap();
        std::fs::write(env.project.join("ibm_job.json"), ibm_bell(4000).to_string()).unwrap();
        let native = serde_json::json!({
            "backend": "local:noisy",
            "qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
            "shots": 2000,
            "seed": 11,
            "calibration": lima_props(),
        });
        std::fs::write(env.project.join("native_job.json"), native.to_string()).unwrap();
        let fifo = env.project.join("go");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let session = run(
            env,
            who,
            &[
                "--",
                "python3",
                "client.py",
                "ibm_job.json",
                "native_job.json",
            ],
        )
        .spawn(&env.scratch("stderr"));
        let native_line = session.line();
        assert!(native_line.starts_with("native 201 "), "{native_line}");
        let local_job = native_line.rsplit(' ').next().unwrap().to_owned();
        let held = session.line();
        assert!(held.starts_with("held ibm 200 "), "{held}");
        let as_user = |args: &[&str]| {
            if who == As::Unprivileged && crate::run::is_root() {
                env.as_uid(65534, args)
            } else {
                env.qwarden(args)
            }
        };
        let listed = as_user(&["approvals", "list", "--json"]).run();
        listed.success();
        let id = listed.json()[0]["id"].as_str().unwrap().to_owned();
        as_user(&[
            "approvals",
            "approve",
            &id,
            "--key",
            alice.private.to_str().unwrap(),
        ])
        .run()
        .success();
        std::fs::write(&fifo, "go").unwrap();
        assert_eq!(session.line(), "ibm results 200 PrimitiveResult");
        let mut session = session;
        assert!(session.wait_for_eof());
        let stderr = std::fs::read_to_string(env.scratch("stderr")).unwrap();
        let s = summary(&stderr);
        let ibm_job = ibm.jobs()[0].id.clone();
        assert_eq!(s["counts"]["bundles"], 2, "{s:#}");

        // One bundle per job, each named by a job.status entry of the session.
        let listed = env.qwarden(["bundle", "list", "--json"]).run();
        listed.success();
        let bundles = listed.json();
        let bundles = bundles.as_array().unwrap();
        assert_eq!(bundles.len(), 2, "{bundles:#?}");
        let bundle_of = |job: &str| -> String {
            bundles
                .iter()
                .find(|b| b["job_id"] == job)
                .unwrap_or_else(|| panic!("no bundle of {job}: {bundles:#?}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (local_bundle, ibm_bundle) = (bundle_of(&local_job), bundle_of(&ibm_job));
        let entries: Vec<Value> = ledger(env)
            .into_iter()
            .filter(|e| e["session"] == s["session"])
            .collect();
        for (job, bundle) in [(&local_job, &local_bundle), (&ibm_job, &ibm_bundle)] {
            assert!(
                entries.iter().any(|e| e["kind"] == "job.status"
                    && e["job_id"] == job.as_str()
                    && e["details"]["bundle"] == bundle.as_str()),
                "no job.status naming {bundle}: {entries:#?}"
            );
        }

        // Both verify, here and exported.
        for bundle in [&local_bundle, &ibm_bundle] {
            env.qwarden(["bundle", "verify", bundle])
                .run()
                .success()
                .stdout_has("valid");
        }
        let shown = env.qwarden(["bundle", "show", &ibm_bundle, "--json"]).run();
        shown.success();
        let p = &shown.json()["predicate"];
        assert_eq!(p["job"]["provider"], "ibm");
        assert_eq!(p["circuit"]["format"], "qiskit-sampler-pubs");
        assert_eq!(p["noise_model"], "device");
        assert_eq!(p["session"]["id"], s["session"]);
        // The session's environment (the Python its PATH leads to) is in both bundles, and has not
        // drifted since.
        let environment = p["environment"]["digest"].as_str().unwrap();
        assert!(cas_path(env, environment).exists());
        env.qwarden(["bundle", "diff-env", &local_bundle])
            .run()
            .success()
            .stdout_has("no drift");
        let archive = env.scratch("ibm.tar");
        as_user(&[
            "bundle",
            "export",
            &ibm_bundle,
            "-o",
            archive.to_str().unwrap(),
        ])
        .run()
        .success();
        env.qwarden(["bundle", "verify", archive.to_str().unwrap()])
            .run()
            .success()
            .stdout_has("valid");

        // Re-runs: the local job exactly; the IBM job drifted, explained by today's calibration.
        let local = env
            .qwarden(["bundle", "rerun", &local_bundle, "--json"])
            .run();
        local.success();
        let report = &local.json()["report"];
        assert_eq!(report["classification"], "reproduced");
        assert_eq!(report["comparison"], "exact");
        assert_eq!(report["circuits"][0]["tvd"], 0.0);
        let changed = env
            .qwarden(["bundle", "rerun", &local_bundle, "--seed", "12"])
            .run();
        changed.code(6);
        let today = env.scratch("today.json");
        std::fs::write(&today, device.to_string()).unwrap();
        let remote = as_user(&[
            "bundle",
            "rerun",
            &ibm_bundle,
            "--calibration",
            today.to_str().unwrap(),
            "--json",
        ])
        .run();
        remote.success();
        let out = remote.json();
        let report = &out["report"];
        assert_eq!(report["comparison"], "statistical");
        assert_eq!(report["classification"], "drifted", "{report:#}");
        assert_eq!(
            report["circuits"][0]["today"]["classification"],
            "reproduced"
        );
        assert!(
            report["explained_by_today"].as_f64().unwrap() > 0.5,
            "{report:#}"
        );
        // Each verdict is signed, stored and recorded.
        let verdict = out["verdict"].as_str().unwrap();
        assert!(cas_path(env, verdict).exists());
        let entries = ledger(env);
        assert!(entries.iter().any(|e| e["kind"] == "job.submit"
            && e["details"]["rerun_of"] == ibm_bundle.as_str()
            && e["details"]["verdict"] == "drifted"));

        // Tampering with any part is caught: the calibration snapshot, then the envelope itself.
        let calibration = p["calibration"]["digest"].as_str().unwrap();
        let path = cas_path(env, calibration);
        let original = std::fs::read(&path).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        std::fs::write(&path, b"{}").unwrap();
        env.qwarden(["bundle", "verify", &ibm_bundle])
            .run()
            .code(6)
            .stdout_has("FAIL calibration");
        std::fs::write(&path, &original).unwrap();
        let envelope = cas_path(env, &ibm_bundle);
        let text = std::fs::read_to_string(&envelope).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut statement: Value =
            serde_json::from_slice(&b64.decode(doc["payload"].as_str().unwrap()).unwrap()).unwrap();
        statement["predicate"]["job"]["shots"] = 1.into();
        doc["payload"] = b64.encode(serde_json::to_vec(&statement).unwrap()).into();
        let forged = env.scratch("forged.tar");
        // A forged envelope cannot even be filed under its id; in an archive it fails its signature.
        let unpacked = env.scratch("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        assert!(
            std::process::Command::new("tar")
                .args([
                    "xf",
                    archive.to_str().unwrap(),
                    "-C",
                    unpacked.to_str().unwrap()
                ])
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(unpacked.join("bundle.dsse.json"), doc.to_string()).unwrap();
        let members = std::process::Command::new("tar")
            .args(["tf", archive.to_str().unwrap()])
            .output()
            .unwrap();
        let members = String::from_utf8(members.stdout).unwrap();
        assert!(
            std::process::Command::new("tar")
                .args([
                    "cf",
                    forged.to_str().unwrap(),
                    "-C",
                    unpacked.to_str().unwrap()
                ])
                .args(members.lines())
                .status()
                .unwrap()
                .success()
        );
        env.qwarden(["bundle", "verify", forged.to_str().unwrap()])
            .run()
            .code(6)
            .stdout_has("FAIL signature");
    }
);

/// Builds a `py3-none-any` wheel of module `name` whose `__init__.py` is `body`.
const MAKE_WHEEL: &str = r#"
import base64, hashlib, sys, zipfile
name, version, out, body = sys.argv[1:5]
dist = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": body.encode(),
    f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: qwarden-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def row(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"
files[f"{dist}/RECORD"] = ("".join(row(p, b) for p, b in files.items()) + f"{dist}/RECORD,,\n").encode()
with zipfile.ZipFile(out, "w") as z:
    for path, data in files.items():
        z.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
"#;

/// Debian's Python with a cleared environment (no pip configuration, no index).
fn py(args: &[&str]) {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SESSION_AGENT: &str = r#"[filesystem]
read = ["."]
write = ["out"]

[runtime]
spawn_processes = true

[limits]
memory_mb = 1024
processes = 64
"#;

sessiontest!(
    a_session_reruns_from_its_lock_and_wheels_to_the_same_files,
    |env, who| {
        setup(env, "sandbox", SESSION_AGENT);
        // The project's venv: one package, installed from a wheel by pip, as a person would.
        let wheels = env.scratch("wheels");
        std::fs::create_dir_all(&wheels).unwrap();
        let wheel = wheels.join("qwtoy-1.0-py3-none-any.whl");
        py(&[
            "-c",
            MAKE_WHEEL,
            "qwtoy",
            "1.0",
            wheel.to_str().unwrap(),
            "def answer():\n    return 'bell: 00 11'\n",
        ]);
        let venv = env.project.join(".venv");
        py(&["-m", "venv", "--without-pip", venv.to_str().unwrap()]);
        py(&[
            "-m",
            "pip",
            "--python",
            venv.join("bin/python").to_str().unwrap(),
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            wheel.to_str().unwrap(),
        ]);
        std::fs::create_dir_all(env.project.join("out")).unwrap();
        std::fs::write(
        env.project.join("make.py"),
        "import qwtoy, sys\nopen('out/result.txt', 'w').write(qwtoy.answer() + '\\n')\nprint(sys.prefix)\n",
    )
    .unwrap();
        if who == As::Unprivileged && crate::run::is_root() {
            // The session runs as nobody: it must be able to read the venv and write out/.
            assert!(
                std::process::Command::new("chmod")
                    .args(["-R", "a+rwX", env.project.to_str().unwrap()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let path = format!(
            "{}:{}",
            venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = run(env, who, &["--", "python3", "make.py"])
            .env("PATH", &path)
            .run();
        out.success();
        assert!(
            out.stdout.contains(".venv"),
            "the session's python3 is the venv's: {}",
            out.stdout
        );
        let s = summary(&out.stderr);
        let session = s["session"].as_str().unwrap().to_owned();
        let entries = ledger(env);
        let end = entries
            .iter()
            .find(|e| e["kind"] == "session.end" && e["session"] == session.as_str())
            .unwrap();
        let environment = end["details"]["environment"]
            .as_str()
            .unwrap_or_else(|| panic!("{end:#}"));
        assert!(cas_path(env, environment).exists());

        // Re-run it: a fresh venv from the recorded lock and the wheel directory, the same command
        // under the same manifest, the same output. The file is left as the session left it.
        let agent = env.project.join("agent.toml");
        let rerun = env
            .qwarden([
                "bundle",
                "rerun",
                "--session",
                &session,
                "--agent",
                agent.to_str().unwrap(),
                "--wheels",
                wheels.to_str().unwrap(),
                "--json",
            ])
            .run();
        rerun.success();
        let report = rerun.json();
        assert_eq!(report["verdict"], "reproduced", "{report:#}");
        assert_eq!(report["rebuilt"][0], "qwtoy-1.0-py3-none-any.whl");
        let files = report["files"].as_array().unwrap();
        assert!(
            files
                .iter()
                .any(|f| f["path"].as_str().unwrap().ends_with("out/result.txt")
                    && f["same"] == true),
            "{report:#}"
        );
        assert!(
            !env.project
                .join(format!(
                    ".qwarden-rerun-{}",
                    &session[..16.min(session.len())]
                ))
                .exists(),
            "the rebuilt environment is removed"
        );

        // A wheel of the same name that is not the one the session's environment was installed
        // from is refused before anything runs: it installs other files.
        let other = env.scratch("other-wheels");
        std::fs::create_dir_all(&other).unwrap();
        py(&[
            "-c",
            MAKE_WHEEL,
            "qwtoy",
            "1.0",
            other.join("qwtoy-1.0-py3-none-any.whl").to_str().unwrap(),
            "def answer():\n    return 'bell: 01 10'\n",
        ]);
        let refused = env
            .qwarden([
                "bundle",
                "rerun",
                "--session",
                &session,
                "--agent",
                agent.to_str().unwrap(),
                "--wheels",
                other.to_str().unwrap(),
            ])
            .run();
        refused.code(6);
        assert!(
            refused.stderr.contains("qwtoy 1.0 installed other files"),
            "{}",
            refused.stderr
        );

        // An output that changed since is a divergence.
        std::fs::write(env.project.join("out/result.txt"), "tampered\n").unwrap();
        std::fs::write(
            env.project.join("make.py"),
            "import random\nopen('out/result.txt', 'w').write(str(random.random()))\n",
        )
        .unwrap();
        let diverged = env
            .qwarden([
                "bundle",
                "rerun",
                "--session",
                &session,
                "--agent",
                agent.to_str().unwrap(),
                "--wheels",
                wheels.to_str().unwrap(),
            ])
            .run();
        diverged.code(6).stdout_has("DIFFERENT");
    }
);

qwtest!(
    an_archive_cannot_send_escape_sequences_to_the_terminal,
    |env| {
        let evil = env.scratch("evil.tar");
        let script = format!(
            "import io, tarfile\nt = tarfile.open({:?}, 'w')\nfor name in ['bundle.dsse.json', '\\x1b[2Jgotcha']:\n    i = tarfile.TarInfo(name); i.size = 2\n    t.addfile(i, io.BytesIO(b'{{}}'))\nt.close()\n",
            evil.display().to_string()
        );
        assert!(
            std::process::Command::new("python3")
                .args(["-c", &script])
                .status()
                .unwrap()
                .success()
        );
        let out = env
            .qwarden(["bundle", "verify"])
            .arg(&evil)
            .args(["--archive-keys"])
            .run();
        out.code(3).stderr_has("unexpected member");
        assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
        assert!(out.stderr.contains("\\u{1b}[2Jgotcha"), "{:?}", out.stderr);
    }
);
