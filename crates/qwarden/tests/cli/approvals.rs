//! Human approval gates end to end: an agent in a prod-tier `qwarden run` submits a job; it is
//! held; two approvers sign with their TOTP second factor (one with `ssh-keygen -Y sign`, one
//! with `qwarden approvals approve`); the job runs on the local backend; another job is denied
//! and fails with the reason; every forged, foreign, replayed or self-approving vote is refused
//! and recorded; the ledger shows the whole chain.

use qwarden_approvals::totp::TotpSecret;
use serde_json::Value;

use crate::run::{As, ledger, run, sessiontest, summary};
use crate::support::{Cmd, Env, Key};

const NOBODY: u32 = 65534;

const AGENT: &str = r#"[filesystem]
read = ["."]

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

/// On this lab's prod workstations even simulator jobs need two approvals and a second factor.
const LAB_POLICY: &str = r#"@id("lab.prod-jobs-approval")
@mode("approval")
@second_factor("true")
@reason("on this lab's prod workstations every job needs M-of-N approval")
permit (principal, action == Qwarden::Action::"submit_job", resource)
when { context.tier == "prod" };
"#;

/// Submits two Bell jobs, prints `held ID APPROVAL` for each, waits until the FIFO `go` says
/// the approvers are done, then prints `after STATUS BODY` for each.
const CLIENT: &str = r#"
import json, os, urllib.request, urllib.error
base, tok = os.environ["QWARDEN_GATEWAY_URL"], os.environ["QWARDEN_GATEWAY_TOKEN"]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
bell = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n"
ids = []
for shots in (500, 700):
    status, job = call("POST", "/v1/jobs", {"backend": "local:statevector", "qasm": bell, "shots": shots, "seed": 11})
    print("held", status, job["id"], job["approval_id"], flush=True)
    ids.append(job["id"])
status, job = call("GET", "/v1/jobs/" + ids[0])
print("still", status, job["status"], flush=True)
open("go").read()
for i in ids:
    status, job = call("GET", "/v1/jobs/" + i)
    print("after", status, json.dumps(job), flush=True)
"#;

/// `qwarden ARGS` as the session's user.
fn qw(env: &Env, who: As, args: &[&str]) -> Cmd {
    if who == As::Unprivileged && crate::run::is_root() {
        env.as_uid(NOBODY, args)
    } else {
        env.qwarden(args)
    }
}

fn add_approvers(env: &Env, people: &[(&str, &Key)]) {
    let profile = env.config.join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text = text.replace("desktop = true", "desktop = false");
    for (name, key) in people {
        text.push_str(&format!(
            "\n[[approvers]]\nname = \"{name}\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
            key.public_key()
        ));
    }
    std::fs::write(&profile, text).unwrap();
    let policies = env.config.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("lab.cedar"), LAB_POLICY).unwrap();
}

fn enroll(env: &Env, who: As, name: &str) -> TotpSecret {
    let out = qw(env, who, &["approvals", "enroll", name]).run();
    out.success().stdout_has("otpauth://totp/qwarden:");
    let secret = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_owned();
    TotpSecret::from_base32(&secret).unwrap()
}

fn code(secret: &TotpSecret) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    secret.code_at(now)
}

sessiontest!(
    a_prod_job_runs_after_two_approvers_sign_with_their_second_factor,
    |env, who| {
        let (publisher, alice, bob) = prod_lab(env, AGENT);
        let mallory = env.keygen("ed25519", "mallory");
        std::fs::write(env.project.join("client.py"), CLIENT).unwrap();
        let fifo = env.project.join("go");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let session = run(env, who, &["--", "python3", "client.py"]).spawn(&env.scratch("stderr"));
        let held: Vec<(String, String)> = (0..2)
            .map(|_| {
                let line = session.line();
                let parts: Vec<&str> = line.split(' ').collect();
                assert_eq!(&parts[..2], ["held", "202"], "{line}");
                (parts[2].to_owned(), parts[3].to_owned())
            })
            .collect();
        assert_eq!(session.line(), "still 202 pending_approval");
        let (ok, refused) = (&held[0].1, &held[1].1);

        // The request in human terms, and the exact text to sign.
        qw(env, who, &["approvals", "show", ok])
            .run()
            .success()
            .stdout_has("500 shots on local:statevector")
            .stdout_has("2 approval(s) with a TOTP code each");
        let listed = qw(env, who, &["approvals", "list", "--json"]).run();
        listed.success();
        assert_eq!(listed.json().as_array().unwrap().len(), 2);

        let alice_totp = enroll(env, who, "alice");
        let bob_totp = enroll(env, who, "bob");
        let alice_key = alice.private.to_str().unwrap();
        // Alice signs with ssh-keygen, as she could on any machine.
        let message = qw(env, who, &["approvals", "show", ok, "--message", "approve"]).run();
        message.success();
        let msg_file = env.scratch("approve.txt");
        std::fs::write(&msg_file, &message.stdout).unwrap();
        env.ssh_keygen(["-Y", "sign", "-n", "qwarden-approval", "-f", alice_key])
            .arg(&msg_file)
            .run()
            .success();
        let sig = format!("{}.sig", msg_file.display());
        if who == As::Unprivileged && crate::run::is_root() {
            crate::run::give_away(env);
        }
        // Without the second factor the approval is refused.
        qw(env, who, &["approvals", "approve", ok, "--signature", &sig])
            .run()
            .code(4)
            .stderr_has("second factor");
        let alice_code = code(&alice_totp);
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                ok,
                "--signature",
                &sig,
                "--totp",
                &alice_code,
            ],
        )
        .run()
        .success()
        .stdout_has("pending: 1 of 2");
        // Her code again: a replay.
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                ok,
                "--key",
                alice_key,
                "--totp",
                &alice_code,
            ],
        )
        .run()
        .code(4)
        .stderr_has("already");
        // A key not in the profile; the requester's own key; a signature over another request;
        // a forged signature file.
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                ok,
                "--key",
                mallory.private.to_str().unwrap(),
                "--totp",
                "123456",
            ],
        )
        .run()
        .code(4)
        .stderr_has("not an approver");
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                ok,
                "--key",
                publisher.private.to_str().unwrap(),
                "--totp",
                "123456",
            ],
        )
        .run()
        .code(4)
        .stderr_has("requester");
        let other = qw(
            env,
            who,
            &["approvals", "show", refused, "--message", "approve"],
        )
        .run();
        let other_file = env.scratch("other.txt");
        std::fs::write(&other_file, &other.stdout).unwrap();
        env.ssh_keygen(["-Y", "sign", "-n", "qwarden-approval", "-f", alice_key])
            .arg(&other_file)
            .run()
            .success();
        let other_sig = format!("{}.sig", other_file.display());
        let forged = env.scratch("forged.sig");
        let mut text = std::fs::read_to_string(&sig).unwrap();
        text = text.replacen("AAAA", "AAAB", 1);
        std::fs::write(&forged, text).unwrap();
        if who == As::Unprivileged && crate::run::is_root() {
            crate::run::give_away(env);
        }
        for (bad, why) in [
            (&other_sig, "does not verify"),
            (&forged.display().to_string(), ""),
        ] {
            let out = qw(
                env,
                who,
                &[
                    "approvals",
                    "approve",
                    ok,
                    "--signature",
                    bad,
                    "--totp",
                    "000000",
                ],
            )
            .run();
            assert_ne!(out.exit_code(), Some(0), "{bad}");
            assert!(out.stderr.contains(why), "{}", out.stderr);
        }
        // Bob approves with qwarden and his second factor: approved.
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                ok,
                "--key",
                bob.private.to_str().unwrap(),
                "--totp",
                &code(&bob_totp),
            ],
        )
        .run()
        .success()
        .stdout_has("it is now approved");
        // The other job: bob denies it.
        qw(
            env,
            who,
            &[
                "approvals",
                "deny",
                refused,
                "--key",
                bob.private.to_str().unwrap(),
            ],
        )
        .run()
        .success()
        .stdout_has("it is now denied");

        std::fs::write(&fifo, "go").unwrap();
        let after_ok = session.line();
        let after_refused = session.line();
        let (status, body) = after_ok["after ".len()..].split_once(' ').unwrap();
        assert_eq!(status, "200", "{after_ok}");
        let job: Value = serde_json::from_str(body).unwrap();
        assert_eq!(job["status"], "completed");
        assert_eq!(job["approval_id"], ok.as_str());
        let counts = job["counts"].as_object().unwrap();
        assert_eq!(
            counts.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
            500
        );
        assert!(after_refused.starts_with("after 403 "), "{after_refused}");
        assert!(after_refused.contains("denied by bob"), "{after_refused}");
        let mut session = session;
        assert!(session.wait_for_eof());
        let stderr = std::fs::read_to_string(env.scratch("stderr")).unwrap();
        let s = summary(&stderr);

        // The ledger: request, votes (and every refused vote), execution, denial.
        let entries = ledger(env);
        let requested: Vec<&Value> = entries
            .iter()
            .filter(|e| e["kind"] == "policy.decision" && e["outcome"] == "needs-approval")
            .collect();
        assert_eq!(requested.len(), 2, "{entries:#?}");
        assert_eq!(requested[0]["details"]["request_id"], ok.as_str());
        let votes: Vec<(String, String)> = entries
            .iter()
            .filter(|e| e["kind"] == "approval")
            .map(|e| {
                (
                    e["approver"].as_str().unwrap().to_owned(),
                    e["decision"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            votes,
            [
                ("alice".to_owned(), "approve".to_owned()),
                ("bob".to_owned(), "approve".to_owned()),
                ("bob".to_owned(), "reject".to_owned())
            ]
        );
        let second_factor = entries
            .iter()
            .filter(|e| e["kind"] == "approval" && e["decision"] == "approve")
            .all(|e| e["details"]["second_factor"]["method"] == "totp");
        assert!(second_factor);
        let refusals = entries
            .iter()
            .filter(|e| e["kind"] == "violation" && e["control"] == "approvals")
            .count();
        assert_eq!(refusals, 6, "{entries:#?}");
        let submit = entries
            .iter()
            .find(|e| e["kind"] == "job.submit" && e["session"] == s["session"])
            .unwrap();
        assert_eq!(submit["job_id"], held[0].0.as_str());
        let ended: Vec<&str> = entries
            .iter()
            .filter(|e| e["kind"] == "job.status")
            .filter_map(|e| e["provider_state"].as_str())
            .collect();
        assert_eq!(ended, ["approval-ran", "approval-denied"]);
        // The job that ran left its reproducibility bundle.
        assert!(
            entries.iter().any(|e| e["kind"] == "job.status"
                && e["job_id"] == held[0].0.as_str()
                && e["state"] == "completed"
                && e["details"]["bundle"].is_string()),
            "{entries:#?}"
        );
    }
);

/// May use one GPU.
const DEVICE_AGENT: &str = "[filesystem]\nread = [\".\"]\n\n[runtime]\ndevices = [\"gpu:0\"]\n";

/// A prod workstation that allows agents, with approvers alice and bob, and carol holding the
/// key that signed the agent's manifest `body` (so she may not approve its requests). Returns
/// the publisher's, alice's and bob's keys.
fn prod_lab(env: &Env, body: &str) -> (Key, Key, Key) {
    let publisher = env.signed_manifest("agent.toml", body);
    env.qwarden(["init", "--tier", "prod"]).run().success();
    setup_prod(env);
    let (alice, bob) = (env.keygen("ed25519", "alice"), env.keygen("ed25519", "bob"));
    add_approvers(
        env,
        &[("alice", &alice), ("bob", &bob), ("carol", &publisher)],
    );
    (publisher, alice, bob)
}

fn setup_prod(env: &Env) {
    let profile = env.config.join("profile.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(
        &profile,
        text.replace("allow_on_prod = false", "allow_on_prod = true"),
    )
    .unwrap();
}

sessiontest!(
    prod_device_access_waits_for_approval_and_an_approval_serves_one_session,
    |env, who| {
        let (publisher, alice, bob) = prod_lab(env, DEVICE_AGENT);
        let warnings = |out: &crate::support::Run| summary(&out.stderr)["warnings"].to_string();
        // First run: a request is made, and the session runs without the device.
        let out = run(env, who, &["--", "true"]).run();
        out.success();
        let w = warnings(&out);
        assert!(w.contains("device gpu:0 needs approval"), "{w}");
        let listed = qw(env, who, &["approvals", "list", "--json"]).run();
        listed.success();
        let requests = listed.json();
        assert_eq!(requests.as_array().unwrap().len(), 1);
        let id = requests[0]["id"].as_str().unwrap().to_owned();
        assert!(w.contains(&id), "{w}");
        assert_eq!(requests[0]["action"], "access_device gpu:0");
        // A second run before approval names the same request.
        let out = run(env, who, &["--", "true"]).run();
        assert!(warnings(&out).contains(&id));
        // The manifest's signer may not approve its agent's device.
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                &id,
                "--key",
                publisher.private.to_str().unwrap(),
            ],
        )
        .run()
        .code(4)
        .stderr_has("requester");
        for key in [&alice, &bob] {
            qw(
                env,
                who,
                &[
                    "approvals",
                    "approve",
                    &id,
                    "--key",
                    key.private.to_str().unwrap(),
                ],
            )
            .run()
            .success();
        }
        // Approved: the next session may bind it (the device is simply absent on machines
        // without one), and the approval is used up.
        let out = run(env, who, &["--", "true"]).run();
        out.success();
        assert!(!warnings(&out).contains("gpu:0"), "{}", warnings(&out));
        let out = run(env, who, &["--", "true"]).run();
        let w = warnings(&out);
        assert!(
            w.contains("device gpu:0 needs approval") && !w.contains(&id),
            "{w}"
        );
        let entries = ledger(env);
        let decisions: Vec<(&str, &str)> = entries
            .iter()
            .filter(|e| e["kind"] == "policy.decision" && e["action"] == "access_device")
            .map(|e| {
                (
                    e["outcome"].as_str().unwrap(),
                    e["details"]["request_id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(decisions.len(), 3, "{decisions:?}");
        assert_eq!(decisions[0], ("needs-approval", id.as_str()));
        assert_eq!(decisions[1], ("allow", id.as_str()));
        assert_eq!(decisions[2].0, "needs-approval");
    }
);

sessiontest!(
    a_key_the_agent_can_read_cannot_approve_its_requests,
    |env, who| {
        let (_, alice, bob) = prod_lab(env, DEVICE_AGENT);
        // Alice left her key pair in the project the agent reads.
        std::fs::create_dir_all(env.project.join("deploy")).unwrap();
        std::fs::copy(&alice.private, env.project.join("deploy/id_ed25519")).unwrap();
        let out = run(env, who, &["--", "true"]).run();
        out.success();
        let listed = qw(env, who, &["approvals", "list", "--json"]).run();
        let id = listed.json()[0]["id"].as_str().unwrap().to_owned();
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                &id,
                "--key",
                alice.private.to_str().unwrap(),
            ],
        )
        .run()
        .code(4)
        .stderr_has("readable from the requester's sandbox");
        qw(
            env,
            who,
            &[
                "approvals",
                "approve",
                &id,
                "--key",
                bob.private.to_str().unwrap(),
            ],
        )
        .run()
        .success()
        .stdout_has("pending: 1 of 2");
    }
);
