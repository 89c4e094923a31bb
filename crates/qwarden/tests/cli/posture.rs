//! `qwarden posture`: a fresh workstation fails what it has not done yet and says how to fix
//! it; a recorded inventory and a recent red-team run pass; a stale run, a plaintext key and a
//! tampered ledger fail (the key is never printed); the JSON names every check and the
//! Markdown report has the score and a table.

use serde_json::Value;

use crate::support::{Env, Run};

/// Every check, in checklist order.
const IDS: [&str; 10] = [
    "inventory",
    "tier",
    "signed-manifests",
    "sandbox",
    "credentials",
    "ledger",
    "bundles",
    "egress",
    "approvals",
    "redteam",
];

/// A clearly fake but well-formed IBM Cloud API key (44 characters of `[A-Za-z0-9_-]`).
const IBM_KEY: &str = "Qw4rd3nP0stur3K3y_Rk8vN2pL5x-wYtUbsEhGJKLmno";

/// `qwarden posture --json`, parsed; the exit code is checked against the report.
fn posture(env: &Env) -> Value {
    let run = env.qwarden(["posture", "--json"]).run();
    let report = run.json();
    let failed = checks(&report).iter().any(|c| c["status"] == "fail");
    run.code(if failed { 6 } else { 0 });
    report
}

fn checks(report: &Value) -> Vec<Value> {
    report["checks"].as_array().unwrap().clone()
}

/// The check `id` of a report.
fn check(report: &Value, id: &str) -> Value {
    checks(report)
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

#[track_caller]
fn assert_status(report: &Value, id: &str, status: &str) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{c:#}");
}

/// `qwarden inventory --write STATE/inventory.json` (the state directory made first: `init`
/// does not make it).
fn record_inventory(env: &Env) {
    std::fs::create_dir_all(&env.state).unwrap();
    env.qwarden(["inventory", "--write"])
        .arg(env.state.join("inventory.json"))
        .run()
        .success();
}

/// Writes `STATE/redteam/last.json` as a full `qwarden redteam` run `days_ago` days ago would.
fn redteam_ran(env: &Env, days_ago: i64, held: bool) {
    let when = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    let record = serde_json::json!({
        "time": when.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "tiers": ["sandbox", "staging", "prod"],
        "attacks": 60,
        "failed": if held { 0 } else { 1 },
        "held": held,
        "findings": [],
    });
    let dir = env.state.join("redteam");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("last.json"), record.to_string()).unwrap();
}

/// Records `n` policy decisions in the ledger.
fn decide(env: &Env, n: usize) {
    for _ in 0..n {
        env.qwarden_in_repo([
            "policy",
            "check",
            "--agent",
            "examples/job-runner.toml",
            "--allowed-signers",
            "examples/allowed_signers",
            "--action",
            "use-credential",
            "--resource",
            "ibm",
        ])
        .run()
        .success();
    }
}

/// Asserts the run printed nothing of the planted key, on either stream.
#[track_caller]
fn assert_no_key(run: &Run) {
    run.stdout_lacks(IBM_KEY).stdout_lacks(&IBM_KEY[..12]);
    assert!(!run.stderr.contains(&IBM_KEY[..12]), "{}", run.stderr);
}

qwtest!(
    a_fresh_workstation_fails_inventory_and_redteam_and_says_how_to_fix_them,
    |env| {
        env.qwarden(["init", "--tier", "staging"]).run().success();
        let report = posture(&env);
        assert_status(&report, "inventory", "fail");
        assert_status(&report, "redteam", "fail");
        assert_status(&report, "tier", "pass");
        assert_status(&report, "ledger", "n/a");
        assert_status(&report, "bundles", "n/a");
        assert!(
            check(&report, "ledger")["reason"]
                .as_str()
                .unwrap()
                .contains("no ledger yet"),
            "{report:#}"
        );
        assert_eq!(check(&report, "redteam")["fix"], "qwarden redteam");

        let text = env.qwarden(["posture"]).run();
        text.code(6)
            .stdout_has("inventory         fail")
            .stdout_has("redteam           fail")
            .stdout_has("ledger            n/a")
            .stdout_has("bundles           n/a")
            .stdout_has(&format!(
                "fix: mkdir -p {} && qwarden inventory --write {}",
                env.state.display(),
                env.state.join("inventory.json").display()
            ))
            .stdout_has("fix: qwarden redteam\n")
            .stdout_has("score: ");
        // Posture only reads: it made no state directory, let alone a ledger.
        assert!(!env.state.exists());
    }
);

qwtest!(without_a_profile_the_tier_check_fails, |env| {
    let report = posture(&env);
    let tier = check(&report, "tier");
    assert_eq!(tier["status"], "fail", "{tier:#}");
    assert!(
        tier["fix"]
            .as_str()
            .unwrap()
            .starts_with("qwarden init --tier")
    );
});

qwtest!(a_recorded_inventory_and_a_recent_redteam_run_pass, |env| {
    env.qwarden(["init", "--tier", "staging"]).run().success();
    let publisher = env.keygen("ed25519", "publisher");
    env.trust(crate::support::PUBLISHER, &publisher);
    let alice = env.keygen("ed25519", "alice");
    let profile = env.config.join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text.push_str(&format!(
        "\n[[approvers]]\nname = \"alice\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
        alice.public_key()
    ));
    std::fs::write(&profile, text).unwrap();
    record_inventory(&env);
    redteam_ran(&env, 0, true);

    let report = posture(&env);
    assert_status(&report, "inventory", "pass");
    assert_status(&report, "redteam", "pass");
    assert_status(&report, "signed-manifests", "pass");
    assert_status(&report, "approvals", "pass");
    assert_status(&report, "credentials", "pass");
    assert_status(&report, "egress", "pass");
    let inventory = check(&report, "inventory");
    assert!(
        inventory["evidence"][0]
            .as_str()
            .unwrap()
            .contains("sha256 "),
        "{inventory:#}"
    );
    // Everything this workstation can do passes; only the sandbox depends on the kernel.
    for c in checks(&report) {
        if c["id"] != "sandbox" {
            assert!(c["status"] == "pass" || c["status"] == "n/a", "{c:#}");
        }
    }
    assert_eq!(
        report["score"]["applicable"], 8,
        "ledger and bundles do not apply yet: {report:#}"
    );
});

qwtest!(a_redteam_run_older_than_30_days_or_not_held_fails, |env| {
    env.qwarden(["init", "--tier", "staging"]).run().success();
    redteam_ran(&env, 31, true);
    let report = posture(&env);
    let redteam = check(&report, "redteam");
    assert_eq!(redteam["status"], "fail", "{redteam:#}");
    assert!(
        redteam["reason"].as_str().unwrap().contains("31 days old"),
        "{redteam:#}"
    );
    assert_eq!(redteam["fix"], "qwarden redteam");

    redteam_ran(&env, 29, true);
    assert_status(&posture(&env), "redteam", "pass");

    redteam_ran(&env, 0, false);
    let report = posture(&env);
    let redteam = check(&report, "redteam");
    assert_eq!(redteam["status"], "fail", "{redteam:#}");
    assert!(
        redteam["reason"].as_str().unwrap().contains("got through"),
        "{redteam:#}"
    );
});

qwtest!(
    a_plaintext_key_fails_credentials_and_is_never_printed,
    |env| {
        env.qwarden(["init", "--tier", "staging"]).run().success();
        let file = env.home.join(".qiskit/qiskit-ibm.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
        &file,
        format!(
            "{{\n    \"default-ibm-quantum-platform\": {{\n        \"channel\": \"ibm_quantum_platform\",\n        \"token\": \"{IBM_KEY}\"\n    }}\n}}\n"
        ),
    )
    .unwrap();

        let json = env.qwarden(["posture", "--json"]).run();
        json.code(6);
        assert_no_key(&json);
        let credentials = check(&json.json(), "credentials");
        assert_eq!(credentials["status"], "fail", "{credentials:#}");
        assert_eq!(credentials["fix"], "qwarden secrets import");
        let evidence = credentials["evidence"].to_string();
        assert!(
            evidence.contains(&format!("{}:", file.display())),
            "{credentials:#}"
        );

        let text = env.qwarden(["posture"]).run();
        text.code(6)
            .stdout_has("credentials       fail")
            .stdout_has("fix: qwarden secrets import");
        assert_no_key(&text);
        let markdown = env.qwarden(["posture", "--markdown"]).run();
        markdown.code(6);
        assert_no_key(&markdown);
    }
);

qwtest!(a_tampered_ledger_fails_the_ledger_check, |env| {
    env.qwarden(["init", "--tier", "staging"]).run().success();
    decide(&env, 3);
    let report = posture(&env);
    let ledger = check(&report, "ledger");
    // It verifies; nothing outside the workstation anchors it yet.
    assert_eq!(ledger["status"], "warn", "{ledger:#}");
    assert!(
        ledger["evidence"].to_string().contains("3 entries"),
        "{ledger:#}"
    );
    assert_status(&report, "bundles", "n/a");

    // One byte of the first entry changed, as an attacker editing the log would.
    let bundle = env.state.join("ledger/tile/entries/000.p/3");
    let mut bytes = std::fs::read(&bundle).unwrap();
    bytes[2 + 5] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();

    let report = posture(&env);
    let ledger = check(&report, "ledger");
    assert_eq!(ledger["status"], "fail", "{ledger:#}");
    assert!(
        ledger["reason"]
            .as_str()
            .unwrap()
            .contains("entry 0 was modified"),
        "{ledger:#}"
    );
    assert!(
        ledger["fix"]
            .as_str()
            .unwrap()
            .contains("qwarden audit verify")
    );
    assert_status(&report, "bundles", "warn");
    env.qwarden(["posture"])
        .run()
        .code(6)
        .stdout_has("ledger            fail    the ledger does not verify: entry 0 was modified");
});

qwtest!(
    the_markdown_report_has_the_score_a_table_and_the_fixes,
    |env| {
        env.qwarden(["init", "--tier", "staging"]).run().success();
        let run = env.qwarden(["posture", "--markdown"]).run();
        run.code(6)
            .stdout_has("# qwarden posture report: ")
            .stdout_has("Tier **staging**")
            .stdout_has("**Score: ")
            .stdout_has("| Check | Status | Reason |\n|---|---|---|\n")
            .stdout_has("| **fail** |")
            .stdout_has("| n/a |")
            .stdout_has("## Failed and warned checks")
            .stdout_has("### `inventory`: fail")
            .stdout_has("### `redteam`: fail")
            .stdout_has("Fix:\n\n```sh\nqwarden redteam\n```");
        for id in IDS {
            run.stdout_has(&format!("| `{id}` — "));
        }
    }
);

qwtest!(the_json_report_names_every_check_with_its_evidence, |env| {
    env.qwarden(["init", "--tier", "staging"]).run().success();
    let report = posture(&env);
    let all = checks(&report);
    let ids: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS);
    for c in &all {
        assert!(
            ["pass", "fail", "warn", "n/a"].contains(&c["status"].as_str().unwrap()),
            "{c:#}"
        );
        assert!(!c["title"].as_str().unwrap().is_empty(), "{c:#}");
        assert!(!c["reason"].as_str().unwrap().is_empty(), "{c:#}");
        assert!(c["evidence"].is_array(), "{c:#}");
        assert!(c.get("fix").is_some(), "{c:#}");
        if c["status"] == "fail" {
            assert!(
                c["fix"].is_string(),
                "a failed check says how to fix it: {c:#}"
            );
        }
    }
    let count = |s: &str| all.iter().filter(|c| c["status"] == s).count();
    assert_eq!(report["score"]["passed"], count("pass"));
    assert_eq!(report["score"]["applicable"], all.len() - count("n/a"));

    env.qwarden(["posture", "--json", "--markdown"])
        .run()
        .code(2)
        .stderr_has("cannot be used with");
});

qwtest!(on_prod_approvers_need_a_second_factor_enrolled, |env| {
    env.qwarden(["init", "--tier", "prod"]).run().success();
    let profile = env.config.join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    for name in ["alice", "bob", "carol"] {
        let key = env.keygen("ed25519", name);
        text.push_str(&format!(
            "\n[[approvers]]\nname = \"{name}\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
            key.public_key()
        ));
    }
    std::fs::write(&profile, text).unwrap();
    let report = posture(&env);
    assert_status(&report, "approvals", "fail");
    let c = check(&report, "approvals");
    assert!(
        c["reason"].as_str().unwrap().contains("second factor"),
        "{c:#}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("qwarden approvals enroll"),
        "{c:#}"
    );
    for name in ["alice", "bob", "carol"] {
        env.qwarden(["approvals", "enroll", name]).run().success();
    }
    assert_status(&posture(&env), "approvals", "pass");
});
