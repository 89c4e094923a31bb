//! `qwarden redteam` on this machine: every attack of the catalogue, in real sessions on a
//! scratch workstation of each tier, is blocked and recorded.

use serde_json::Value;

use crate::run::is_root;

fn findings(out: &Value) -> Vec<&Value> {
    out["findings"].as_array().unwrap().iter().collect()
}

qwtest!(every_attack_is_blocked_and_recorded_in_every_tier, |env| {
    let out = env.qwarden(["redteam", "--json"]).run();
    let report = out.json();
    let all = findings(&report);
    assert_eq!(all.len(), 3 * 22, "{report:#}");
    for tier in ["sandbox", "staging", "prod"] {
        assert_eq!(all.iter().filter(|f| f["tier"] == tier).count(), 22);
    }
    for f in &all {
        assert_eq!(f["blocked"], true, "{f:#}");
    }
    // Without cgroups (an unprivileged user) a fork bomb is held by rlimits but not recorded:
    // the scorecard says so and fails, which is the honest answer.
    let unrecorded: Vec<&&Value> = all.iter().filter(|f| f["recorded"] != true).collect();
    if is_root() {
        assert!(unrecorded.is_empty(), "{unrecorded:#?}");
        out.success();
        assert_eq!(report["held"], true);
    } else {
        assert!(
            unrecorded.iter().all(|f| f["attack"] == "fork-bomb"),
            "{unrecorded:#?}"
        );
        if !unrecorded.is_empty() {
            out.code(6);
        }
    }
});

qwtest!(an_unprivileged_user_gets_an_honest_scorecard, |env| {
    if !is_root() {
        return;
    }
    let out = env
        .as_uid(65534, ["redteam", "--tier", "staging", "--json"])
        .run();
    let report = out.json();
    let all = findings(&report);
    assert_eq!(all.len(), 22, "{report:#}");
    assert!(all.iter().all(|f| f["blocked"] == true), "{report:#}");
    for f in all.iter().filter(|f| f["attack"] != "fork-bomb") {
        assert_eq!(f["recorded"], true, "{f:#}");
    }
    let fork = all.iter().find(|f| f["attack"] == "fork-bomb").unwrap();
    assert_eq!(
        out.exit_code() == Some(0),
        fork["recorded"] == true,
        "the exit code follows the scorecard"
    );
});

qwtest!(the_catalogue_is_listed_and_unknown_attacks_refused, |env| {
    env.qwarden(["redteam", "--list"])
        .run()
        .success()
        .stdout_has("credential-file-read")
        .stdout_has("ledger-tampering")
        .stdout_has("stopped by:");
    env.qwarden(["redteam", "--attack", "nope"])
        .run()
        .code(2)
        .stderr_has("no attack `nope`");
    let one = env
        .qwarden([
            "redteam", "--tier", "sandbox", "--attack", "ptrace", "--json",
        ])
        .run();
    one.success();
    let report = one.json();
    let only: Vec<&Value> = findings(&report);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["control"], "seccomp");
});

qwtest!(the_demo_runs_the_whole_flow_and_says_so, |env| {
    let runs = if is_root() {
        vec![
            env.qwarden(["demo"]).run(),
            env.as_uid(65534, ["demo"]).run(),
        ]
    } else {
        vec![env.qwarden(["demo"]).run()]
    };
    for out in runs {
        out.success()
            .stdout_has("2. It edits code in its scope")
            .stdout_has("approved.")
            .stdout_has("The held job ran once approved")
            .stdout_has("refused (the credential guard)")
            .stdout_has("refused (the egress proxy")
            .stdout_has("refused (the project is read-only")
            .stdout_has("`qwarden bundle verify` the approved job's bundle: valid")
            .stdout_has("verdict: reproduced")
            .stdout_has("Every step did what it should")
            .stdout_lacks("GOT THROUGH")
            .stdout_lacks("qwarden-canary-");
    }
});
