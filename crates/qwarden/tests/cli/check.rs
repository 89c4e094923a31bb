//! `qwarden policy check`: one decision, told apart by exit code (0 allow, 4 deny, 5 approval).

use crate::support::Env;

/// `policy check --agent examples/AGENT --allowed-signers examples/allowed_signers ARGS` in the
/// repository root.
fn check(env: &Env, agent: &str, args: &[&str]) -> crate::support::Cmd {
    env.qwarden_in_repo([
        "policy",
        "check",
        "--agent",
        &format!("examples/{agent}.toml"),
        "--allowed-signers",
        "examples/allowed_signers",
    ])
    .args(args)
}

const BRISBANE_4000: [&str; 6] = [
    "--action",
    "submit-job",
    "--resource",
    "ibm:ibm_brisbane",
    "--shots",
    "4000",
];

qwtest!(allowed_action_exits_zero, |env| {
    check(&env, "job-runner", &["--action", "use-credential", "--resource", "ibm"])
        .run()
        .success()
        .stdout_has("allow\n  credentials.handle-only: provider credentials reach an agent only as a 15-minute handle");
    check(
        &env,
        "circuit-helper",
        &[
            "--action",
            "submit-job",
            "--resource",
            "local:aer",
            "--shots",
            "1000",
        ],
    )
    .run()
    .success()
    .stdout_has("jobs.local-simulator");
});

qwtest!(qpu_job_on_sandbox_is_denied_with_exit_4, |env| {
    check(&env, "job-runner", &BRISBANE_4000)
        .run()
        .code(4)
        .stdout_has("deny\n  jobs.sandbox-no-qpu: sandbox workstations never submit to a real QPU provider; use the local simulator");
});

qwtest!(
    qpu_job_on_staging_and_prod_needs_approval_with_exit_5,
    |env| {
        check(&env, "job-runner", &BRISBANE_4000)
            .args(["--tier", "staging"])
            .run()
            .code(5)
            .stdout_has("needs approval: 1 distinct approver(s)\n")
            .stdout_has("jobs.staging-approval");
        check(&env, "job-runner", &BRISBANE_4000)
            .args(["--tier", "prod"])
            .run()
            .code(5)
            .stdout_has("needs approval: 2 distinct approver(s) and a second factor")
            .stdout_has("jobs.prod-approval");
    }
);

qwtest!(
    more_shots_than_max_shots_is_denied_naming_the_limit,
    |env| {
        check(
            &env,
            "job-runner",
            &[
                "--action",
                "submit-job",
                "--resource",
                "ibm:ibm_brisbane",
                "--shots",
                "8001",
                "--tier",
                "staging",
            ],
        )
        .run()
        .code(4)
        .stdout_has(
            "jobs.max-shots: the job asks for more shots than the manifest's qpu.max_shots",
        );
    }
);

qwtest!(reading_a_credential_store_is_denied, |env| {
    check(&env, "job-runner", &["--action", "read", "--resource", "~/.qiskit/qiskit-ibm.json"])
        .run()
        .code(4)
        .stdout_has("credentials.store-files: credential stores (~/.qiskit, ~/.aws, ~/.ssh, the qwarden vault, …) are never readable");
    // The same file named by its absolute path is the same store.
    check(&env, "job-runner", &["--action", "read", "--resource"])
        .arg(env.home.join(".qiskit/qiskit-ibm.json"))
        .run()
        .code(4)
        .stdout_has("credentials.store-files");
});

qwtest!(writing_git_hooks_inside_a_write_scope_is_denied, |env| {
    env.signed_manifest("agent.toml", "[filesystem]\nwrite = [\".\"]\n");
    let write = |path: &str| {
        env.qwarden([
            "policy",
            "check",
            "--agent",
            "agent.toml",
            "--action",
            "write",
            "--resource",
            path,
        ])
    };
    write("src/main.py")
        .run()
        .success()
        .stdout_has("write.sandbox");
    write(".git/hooks/pre-commit").run().code(4).stdout_has(
        "qwarden.protected-path: this path is protected inside write scopes (git hooks and config",
    );
    write(".github/workflows/ci.yml")
        .run()
        .code(4)
        .stdout_has("qwarden.protected-path");
});

qwtest!(
    connecting_to_a_host_outside_the_profile_allowlist_is_denied,
    |env| {
        check(&env, "job-runner", &["--action", "connect", "--resource", "transfer.sh:443"])
        .run()
        .code(4)
        .stdout_has("network.not-in-profile: the workstation profile's egress allowlist does not include this host");
        check(
            &env,
            "job-runner",
            &["--action", "connect", "--resource", "pypi.org:443"],
        )
        .run()
        .code(4)
        .stdout_has("manifest.not-requested");
        check(
            &env,
            "job-runner",
            &["--action", "connect", "--resource", "api.ionq.co:443"],
        )
        .run()
        .success();
    }
);

qwtest!(plaintext_credential_is_denied_on_every_tier, |env| {
    for tier in crate::support::TIERS {
        check(
            &env,
            "job-runner",
            &[
                "--action",
                "use-credential",
                "--resource",
                "ibm",
                "--form",
                "plaintext",
                "--tier",
                tier,
            ],
        )
        .run()
        .code(4)
        .stdout_has(
            "credentials.no-plaintext: plaintext provider credentials are never given to an agent",
        );
    }
});

qwtest!(json_prints_the_decision_object, |env| {
    let run = check(&env, "job-runner", &BRISBANE_4000)
        .args(["--tier", "prod", "--json"])
        .run();
    run.code(5);
    let json = run.json();
    assert_eq!(json["outcome"], "needs-approval", "{json:#}");
    assert_eq!(json["second_factor"], true);
    assert_eq!(json["policies"], serde_json::json!(["jobs.prod-approval"]));
    assert_eq!(json["reasons"].as_array().map(Vec::len), Some(1));

    let run = check(&env, "job-runner", &["--action", "run-session", "--json"]).run();
    run.success();
    assert_eq!(run.json()["outcome"], "allow");
});

qwtest!(missing_resource_or_shots_is_a_usage_error, |env| {
    check(&env, "job-runner", &["--action", "read"])
        .run()
        .code(2)
        .stderr_has("--resource is required for this action: give a path");
    check(
        &env,
        "job-runner",
        &["--action", "submit-job", "--resource", "ibm:ibm_brisbane"],
    )
    .run()
    .code(2)
    .stderr_has("--shots is required for submit-job");
});

qwtest!(
    patterns_are_refused_where_one_concrete_resource_is_needed,
    |env| {
        check(
            &env,
            "job-runner",
            &[
                "--action",
                "connect",
                "--resource",
                "*.quantum.cloud.ibm.com",
            ],
        )
        .run()
        .code(3)
        .stderr_has("`*.quantum.cloud.ibm.com` is a pattern; check one concrete host");
        check(
            &env,
            "job-runner",
            &[
                "--action",
                "submit-job",
                "--resource",
                "ibm:*",
                "--shots",
                "1",
            ],
        )
        .run()
        .code(3)
        .stderr_has("`ibm:*` is a pattern; check one backend");
    }
);

qwtest!(bad_flag_values_are_usage_errors, |env| {
    check(
        &env,
        "job-runner",
        &[
            "--action",
            "use-credential",
            "--resource",
            "ibm",
            "--form",
            "env",
        ],
    )
    .run()
    .code(2)
    .stderr_has("invalid value 'env' for '--form <FORM>'");
    check(&env, "job-runner", &["--action", "teleport"])
        .run()
        .code(2)
        .stderr_has("invalid value 'teleport' for '--action <ACTION>'");
});
