//! `qwarden policy explain`: the committed examples on every tier, profiles and user policies.

use serde_json::Value;

use crate::support::{Env, TIERS};

/// The committed examples: file and agent name.
const EXAMPLES: [(&str, &str); 3] = [
    ("examples/circuit-helper.toml", "circuit-helper"),
    ("examples/job-runner.toml", "job-runner"),
    ("examples/notebook-agent.toml", "notebook-agent"),
];

/// `policy explain --agent EXAMPLE --allowed-signers examples/allowed_signers ARGS` in the repo root.
fn explain(env: &Env, example: &str, args: &[&str]) -> crate::support::Cmd {
    env.qwarden_in_repo([
        "policy",
        "explain",
        "--agent",
        example,
        "--allowed-signers",
        "examples/allowed_signers",
    ])
    .args(args)
}

/// The grant item for `requested` of `capability`.
fn item<'a>(json: &'a Value, capability: &str, requested: &str) -> &'a Value {
    json["grant"]["items"]
        .as_array()
        .expect("grant.items is an array")
        .iter()
        .find(|i| i["capability"] == capability && i["requested"] == requested)
        .unwrap_or_else(|| panic!("no {capability} item for `{requested}` in {json:#}"))
}

qwtest!(explain_accepts_every_example_on_every_tier, |env| {
    for (example, name) in EXAMPLES {
        for tier in TIERS {
            explain(&env, example, &["--tier", tier])
                .run()
                .success()
                .stdout_has(&format!("agent      {name} "))
                .stdout_has(&format!("tier       {tier}\n"))
                .stdout_has("signed by  agents@qwarden.example (ssh-ed25519 SHA256:")
                .stdout_has(&format!("profile    built-in {tier} profile (no profile found; `qwarden init` writes one)"))
                .stdout_has("grant digest sha256:")
                .stderr_empty();

            let run = explain(&env, example, &["--tier", tier, "--json"]).run();
            run.success();
            let json = run.json();
            assert_eq!(json["grant"]["tier"], tier, "{example}");
            assert_eq!(json["grant"]["agent"]["name"], name, "{example}");
            assert_eq!(
                json["grant"]["signer"]["principal"],
                "agents@qwarden.example"
            );
            assert!(
                json["grant_digest"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("sha256:")),
                "{json:#}"
            );
        }
    }
});

qwtest!(
    qpu_backend_is_refused_on_sandbox_one_approval_on_staging_and_second_factor_on_prod,
    |env| {
        let decision = |tier: &str| {
            let run = explain(
                &env,
                "examples/job-runner.toml",
                &["--tier", tier, "--json"],
            )
            .run();
            run.success();
            item(&run.json(), "backend", "ibm:ibm_torino").clone()
        };

        let sandbox = decision("sandbox");
        assert_eq!(sandbox["decision"]["outcome"], "deny", "{sandbox:#}");
        assert_eq!(sandbox["granted"], Value::Null);
        assert_eq!(sandbox["decision"]["policies"][0], "jobs.sandbox-no-qpu");

        let staging = decision("staging");
        assert_eq!(
            staging["decision"]["outcome"], "needs-approval",
            "{staging:#}"
        );
        assert_eq!(staging["decision"]["second_factor"], false);
        assert_eq!(staging["decision"]["policies"][0], "jobs.staging-approval");

        let prod = decision("prod");
        assert_eq!(prod["decision"]["outcome"], "needs-approval", "{prod:#}");
        assert_eq!(prod["decision"]["second_factor"], true);
        assert_eq!(prod["decision"]["policies"][0], "jobs.prod-approval");
    }
);

qwtest!(explain_lists_every_requested_item_with_a_decision, |env| {
    let run = explain(&env, "examples/job-runner.toml", &["--json"]).run();
    run.success();
    let json = run.json();
    for (capability, requested) in [
        ("session", "job-runner 2.1.0"),
        ("read", "circuits"),
        ("read", "~/.qiskit"),
        ("write", "results"),
        ("network", "quantum.cloud.ibm.com:443"),
        ("network", "iam.cloud.ibm.com:443"),
        ("network", "api.ionq.co:443"),
        ("network", "transfer.sh:443"),
        ("credential", "ibm"),
        ("credential", "ionq"),
        ("backend", "ibm:ibm_torino"),
        ("backend", "ibm:ibm_brisbane"),
        ("backend", "ionq:qpu.aria-1"),
        ("processes", "spawn child processes"),
    ] {
        let i = item(&json, capability, requested);
        assert!(i["decision"]["outcome"].is_string(), "{i:#}");
        assert!(
            i["decision"]["policies"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{i:#}"
        );
    }
    // The credential store and the unlisted host are refused, and say why.
    assert_eq!(
        item(&json, "read", "~/.qiskit")["decision"]["policies"][0],
        "credentials.store-files"
    );
    assert_eq!(
        item(&json, "network", "transfer.sh:443")["decision"]["policies"][0],
        "network.not-in-profile"
    );
});

qwtest!(
    explain_on_prod_says_no_session_can_start_without_the_opt_in,
    |env| {
        explain(&env, "examples/circuit-helper.toml", &["--tier", "prod"])
            .run()
            .success()
            .stdout_has("no session can start for this agent on this workstation");
    }
);

qwtest!(explain_uses_the_profile_written_by_init, |env| {
    env.qwarden(["init", "--tier", "staging"]).run().success();
    let profile = env.config.join("profile.toml");
    explain(&env, "examples/job-runner.toml", &[])
        .run()
        .success()
        .stdout_has("tier       staging\n")
        .stdout_has(&format!("profile    {}\n", profile.display()));
    let json = explain(&env, "examples/job-runner.toml", &["--json"])
        .run()
        .json();
    assert_eq!(json["grant"]["tier"], "staging");
    assert_eq!(json["profile"], profile.display().to_string());

    explain(&env, "examples/job-runner.toml", &["--tier", "prod"])
        .run()
        .success()
        .stdout_has("tier       prod\n")
        .stdout_has(&format!(
            "profile    {} with tier overridden to prod",
            profile.display()
        ));
});

qwtest!(
    explain_uses_a_system_profile_when_the_user_has_none,
    |env| {
        std::fs::create_dir_all(&env.system).unwrap();
        let text = env
            .qwarden(["init", "--print", "--tier", "prod"])
            .run()
            .stdout
            .clone();
        let profile = env.system.join("profile.toml");
        std::fs::write(
            &profile,
            text.replace("allow_on_prod = false", "allow_on_prod = true"),
        )
        .unwrap();
        let run = explain(&env, "examples/circuit-helper.toml", &["--json"]).run();
        run.success();
        let json = run.json();
        assert_eq!(json["profile"], profile.display().to_string());
        assert_eq!(json["grant"]["tier"], "prod");
        let session = item(&json, "session", "circuit-helper 1.4.0");
        assert_eq!(
            session["decision"]["policies"][0], "session.prod-opt-in",
            "{session:#}"
        );
    }
);

qwtest!(explain_shows_a_user_forbid_as_the_deciding_policy, |env| {
    let policies = env.config.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("lab.cedar"),
        "@id(\"lab.no-ibm-credentials\")\n@reason(\"this lab has no IBM contract\")\nforbid (principal, action == Qwarden::Action::\"use_credential\", resource == Qwarden::Provider::\"ibm\");\n",
    )
    .unwrap();

    let run = explain(&env, "examples/job-runner.toml", &["--json"]).run();
    run.success();
    let json = run.json();
    let ibm = item(&json, "credential", "ibm");
    assert_eq!(ibm["granted"], Value::Null, "{ibm:#}");
    assert_eq!(ibm["decision"]["outcome"], "deny");
    assert_eq!(
        ibm["decision"]["policies"],
        serde_json::json!(["lab.no-ibm-credentials"])
    );
    assert_eq!(
        ibm["decision"]["reasons"],
        serde_json::json!(["this lab has no IBM contract"])
    );
    // The other provider is unaffected.
    assert_eq!(
        item(&json, "credential", "ionq")["decision"]["outcome"],
        "allow"
    );

    explain(&env, "examples/job-runner.toml", &[])
        .run()
        .success()
        .stdout_has("lab.no-ibm-credentials")
        .stdout_has("credential `ibm`: this lab has no IBM contract");
});

qwtest!(
    explain_resolves_scopes_against_the_project_directory,
    |env| {
        env.signed_manifest(
            "agent.toml",
            "[filesystem]\nread = [\".\"]\nwrite = [\"src\"]\n",
        );
        let json = env
            .qwarden(["policy", "explain", "--json", "--agent", "agent.toml"])
            .run()
            .json();
        assert_eq!(
            item(&json, "write", "src")["granted"],
            env.project.join("src").display().to_string()
        );

        let elsewhere = env.scratch("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let json = env
            .qwarden([
                "policy",
                "explain",
                "--json",
                "--agent",
                "agent.toml",
                "--project",
            ])
            .arg(&elsewhere)
            .run()
            .json();
        assert_eq!(
            item(&json, "write", "src")["granted"],
            elsewhere.join("src").display().to_string()
        );

        env.qwarden([
            "policy",
            "explain",
            "--agent",
            "agent.toml",
            "--project",
            "no-such-dir",
        ])
        .run()
        .code(3)
        .stderr_has("cannot use project directory `no-such-dir`");
    }
);
