//! Cedar policy files: the user's, the system's, `policy validate` and `policy show`.

/// Writes `text` to `dir/name`, creating `dir`.
fn policy(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const EXPLAIN_EXAMPLE: [&str; 6] = [
    "policy",
    "explain",
    "--agent",
    "examples/job-runner.toml",
    "--allowed-signers",
    "examples/allowed_signers",
];

qwtest!(
    user_policy_with_a_type_error_is_invalid_input_naming_the_file,
    |env| {
        let file = policy(
            &env.config.join("policies"),
            "x.cedar",
            "@id(\"lab.bad-shots\")\nforbid (principal, action == Qwarden::Action::\"submit_job\", resource)\nwhen { context.shots == \"x\" };\n",
        );
        let expected = format!(
            "{}:3:8 (policy `lab.bad-shots`): error: the types Long and String are not compatible",
            file.display()
        );
        env.qwarden(["policy", "validate"])
            .run()
            .code(3)
            .stderr_has("policy validation failed; no policy was loaded:")
            .stderr_has(&expected);
        env.qwarden_in_repo(EXPLAIN_EXAMPLE)
            .run()
            .code(3)
            .stderr_has(&expected);
    }
);

qwtest!(
    user_policy_with_a_syntax_error_is_invalid_input_at_line_and_column,
    |env| {
        let file = policy(
            &env.config.join("policies"),
            "x.cedar",
            "@id(\"lab.broken\")\nforbid (principal, action == Qwarden::Action::\"submit_job\", resource)\nwhen { context.shots > };\n",
        );
        for run in [
            env.qwarden(["policy", "validate"]).run(),
            env.qwarden_in_repo(EXPLAIN_EXAMPLE).run(),
        ] {
            run.code(3)
                .stderr_has(&format!(
                    "{}: not valid Cedar: 3:24: unexpected token `}}`",
                    file.display()
                ))
                .stderr_has("hint: see https://docs.cedarpolicy.com/policies/syntax-policy.html");
        }
    }
);

qwtest!(user_policy_breaking_qwarden_rules_is_invalid_input, |env| {
    let dir = env.config.join("policies");
    let file = policy(
        &dir,
        "mode.cedar",
        "@id(\"lab.gated-forbid\")\n@mode(\"approval\")\nforbid (principal, action == Qwarden::Action::\"connect\", resource);\n",
    );
    env.qwarden(["policy", "validate"])
        .run()
        .code(3)
        .stderr_has(&format!(
            "{}: policy `lab.gated-forbid`: a `forbid` cannot carry @mode",
            file.display()
        ))
        .stderr_has("hint: @mode describes what a `permit` allows; remove it");
    std::fs::remove_file(&file).unwrap();

    let file = policy(
        &dir,
        "dup.cedar",
        "@id(\"session.allowed\")\nforbid (principal, action, resource);\n",
    );
    env.qwarden(["policy", "validate"])
        .run()
        .code(3)
        .stderr_has(&format!(
            "{}: policy `session.allowed`: this policy id is already used",
            file.display()
        ))
        .stderr_has("`qwarden policy show`");
});

qwtest!(system_policy_is_loaded_and_its_forbid_denies, |env| {
    let file = policy(
        &env.system.join("policies"),
        "site.cedar",
        "@id(\"site.no-ibm\")\n@reason(\"this site never lets agents use IBM credentials\")\nforbid (principal, action == Qwarden::Action::\"use_credential\", resource == Qwarden::Provider::\"ibm\");\n",
    );
    env.qwarden_in_repo([
        "policy",
        "check",
        "--agent",
        "examples/job-runner.toml",
        "--allowed-signers",
        "examples/allowed_signers",
    ])
    .args(["--action", "use-credential", "--resource", "ibm"])
    .run()
    .code(4)
    .stdout_has("deny\n  site.no-ibm: this site never lets agents use IBM credentials");
    env.qwarden(["policy", "validate"])
        .run()
        .success()
        .stdout_has(&format!("  site.no-ibm  ({})", file.display()));
});

qwtest!(validate_lists_user_and_system_policies, |env| {
    let site = policy(
        &env.system.join("policies"),
        "site.cedar",
        "@id(\"site.no-npm\")\nforbid (principal, action == Qwarden::Action::\"install_packages\", resource == Qwarden::Registry::\"npm\");\n",
    );
    let mine = policy(
        &env.config.join("policies"),
        "mine.cedar",
        "@id(\"lab.no-gpu\")\nforbid (principal, action == Qwarden::Action::\"access_device\", resource);\n",
    );
    // Files without the .cedar extension (like the README `init` writes) are ignored.
    policy(&env.config.join("policies"), "README", "not cedar {");
    env.qwarden(["policy", "validate"])
        .run()
        .success()
        .stdout_has("built-in, 2 from files)")
        .stdout_has(&format!("  site.no-npm  ({})", site.display()))
        .stdout_has(&format!("  lab.no-gpu  ({})", mine.display()));
});

qwtest!(
    validate_without_policy_files_reports_only_the_builtin_matrix,
    |env| {
        env.qwarden(["policy", "validate"])
            .run()
            .success()
            .stdout_has("valid: ")
            .stdout_has("built-in, 0 from files)");
        // Also after `init`, whose policies directory holds only a README.
        env.qwarden(["init"]).run().success();
        env.qwarden(["policy", "validate"])
            .run()
            .success()
            .stdout_has("built-in, 0 from files)");
    }
);

qwtest!(validate_reads_an_explicit_policy_directory, |env| {
    let dir = env.scratch("extra");
    let file = policy(
        &dir,
        "a.cedar",
        "@id(\"extra.one\")\nforbid (principal, action == Qwarden::Action::\"spawn_processes\", resource);\n",
    );
    env.qwarden(["policy", "validate", "--policies"])
        .arg(&dir)
        .run()
        .success()
        .stdout_has(&format!("  extra.one  ({})", file.display()));
});

qwtest!(show_prints_the_matrix_and_the_schema, |env| {
    env.qwarden(["policy", "show"])
        .run()
        .success()
        .stdout_has("@id(\"jobs.sandbox-no-qpu\")")
        .stdout_has("@id(\"credentials.no-plaintext\")");
    env.qwarden(["policy", "show", "--schema"])
        .run()
        .success()
        .stdout_has("namespace Qwarden {")
        .stdout_lacks("@id(");
});
