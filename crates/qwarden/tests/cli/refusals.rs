//! Every bad input is refused with the documented exit code and a message that says what is wrong,
//! where (`file:line:col` for files), and how to fix it.

use crate::support::{Env, PUBLISHER};

/// The three commands that load and verify a manifest, with the arguments they need.
const VERIFYING: [&[&str]; 3] = [
    &["manifest", "verify"],
    &["policy", "explain", "--agent"],
    &["policy", "check", "--action", "run-session", "--agent"],
];

/// Runs every verifying command on `manifest` and checks the exit code and stderr of each.
fn refused_everywhere(env: &Env, manifest: &str, code: i32, stderr: &[&str]) {
    for command in VERIFYING {
        let run = env.qwarden(command).arg(manifest).run();
        run.code(code).stdout_lacks("allow");
        for needle in stderr {
            run.stderr_has(needle);
        }
    }
}

fn fingerprint(env: &Env, key: &crate::support::Key) -> String {
    let listed = env.ssh_keygen(["-l", "-f"]).arg(&key.public).run();
    listed.success();
    listed.stdout.split_whitespace().nth(1).unwrap().to_owned()
}

qwtest!(unsigned_manifest_is_refused_with_a_hint_to_sign_it, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust(PUBLISHER, &key);
    env.write("agent.toml", &Env::manifest_text(""));
    refused_everywhere(
        &env,
        "agent.toml",
        6,
        &[
            "manifest `agent.toml` is not signed: `agent.toml.sig` cannot be read",
            "hint: sign it with `qwarden manifest sign --key KEY agent.toml`",
        ],
    );
});

qwtest!(tampered_manifest_is_refused, |env| {
    env.signed_manifest("agent.toml", "[filesystem]\nread = [\".\"]\n");
    let path = env.project.join("agent.toml");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(5).position(|w| w == b"1.0.0").unwrap() + 4;
    bytes[at] = b'1';
    std::fs::write(&path, bytes).unwrap();
    refused_everywhere(
        &env,
        "agent.toml",
        6,
        &[
            "manifest `agent.toml`: the signature does not match the signed data: the file was modified after it was signed",
            "review the file and sign it again",
        ],
    );
});

qwtest!(expired_manifest_is_refused_naming_the_expiry, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust(PUBLISHER, &key);
    env.write(
        "agent.toml",
        &format!("expires = 2020-01-01T00:00:00Z\n{}", Env::manifest_text("")),
    );
    env.sign("agent.toml", &key);
    refused_everywhere(
        &env,
        "agent.toml",
        6,
        &[
            "manifest `agent.toml` expired at 2020-01-01T00:00:00Z",
            "hint: the publisher must issue a new manifest with a later `expires` and sign it",
        ],
    );
});

qwtest!(
    signature_in_another_namespace_is_refused_naming_both_namespaces,
    |env| {
        let key = env.keygen("ed25519", "publisher");
        env.trust(PUBLISHER, &key);
        env.write("agent.toml", &Env::manifest_text(""));
        env.ssh_keygen(["-Y", "sign", "-n", "qwarden-approval", "-f"])
            .arg(&key.private)
            .arg("agent.toml")
            .run()
            .success();
        refused_everywhere(
            &env,
            "agent.toml",
            6,
            &[
                "the signature was made for namespace `qwarden-approval`, but a `qwarden-manifest` signature is required",
                "`ssh-keygen -Y sign -n qwarden-manifest -f <key> <file>`",
            ],
        );
    }
);

// Regression: the binary printed the error and then its cause, which the message already quotes, so
// every trust failure appeared twice on one line.
qwtest!(trust_failure_message_is_printed_once, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust(PUBLISHER, &key);
    env.write("agent.toml", &Env::manifest_text(""));
    env.ssh_keygen(["-Y", "sign", "-n", "qwarden-approval", "-f"])
        .arg(&key.private)
        .arg("agent.toml")
        .run()
        .success();
    env.qwarden(["manifest", "verify", "agent.toml"])
        .run()
        .code(6)
        .stderr_once("the signature was made for namespace `qwarden-approval`");
    env.qwarden(["manifest", "verify", "missing.toml"])
        .run()
        .code(3)
        .stderr_once("No such file or directory");
});

qwtest!(
    signer_missing_from_allowed_signers_is_refused_with_the_line_to_add,
    |env| {
        let trusted = env.keygen("ed25519", "trusted");
        env.trust(PUBLISHER, &trusted);
        let stranger = env.keygen("ed25519", "stranger");
        env.write("agent.toml", &Env::manifest_text(""));
        env.sign("agent.toml", &stranger);
        let line = stranger.allowed_signers_line(PUBLISHER);
        refused_everywhere(
            &env,
            "agent.toml",
            6,
            &[
                &format!(
                    "key `{}` is not trusted to sign as `{PUBLISHER}`",
                    fingerprint(&env, &stranger)
                ),
                &format!(
                    "`{PUBLISHER}` is listed with a different key ({}:1)",
                    env.config.join("allowed_signers").display()
                ),
                &format!("add `{}`", line.trim_end()),
            ],
        );
    }
);

qwtest!(
    empty_allowed_signers_file_refuses_every_signer_with_the_line_to_add,
    |env| {
        env.qwarden(["init"]).run().success();
        let key = env.keygen("ed25519", "publisher");
        env.write("agent.toml", &Env::manifest_text(""));
        env.sign("agent.toml", &key);
        refused_everywhere(
            &env,
            "agent.toml",
            6,
            &[
                &format!(
                    "the allowed-signers file `{}` lists no signers",
                    env.config.join("allowed_signers").display()
                ),
                &format!("add `{}`", key.allowed_signers_line(PUBLISHER).trim_end()),
            ],
        );
    }
);

qwtest!(key_trusted_for_another_principal_is_refused, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust("other@lab.example", &key);
    env.write("agent.toml", &Env::manifest_text(""));
    env.sign("agent.toml", &key);
    refused_everywhere(
        &env,
        "agent.toml",
        6,
        &[
            &format!("is not trusted to sign as `{PUBLISHER}`"),
            "that key is listed for `other@lab.example`",
            &format!("not for `{PUBLISHER}`"),
        ],
    );
});

qwtest!(
    allowed_signers_syntax_error_is_invalid_input_with_line_and_column,
    |env| {
        let key = env.signed_manifest("agent.toml", "");
        let signers = env.write(
            "signers",
            &format!(
                "{PUBLISHER} namespaces=qwarden-manifest {}\n",
                key.public_key()
            ),
        );
        env.qwarden(["manifest", "verify", "--allowed-signers"])
            .arg(&signers)
            .arg("agent.toml")
            .run()
            .code(3)
            .stderr_has(&format!(
                "{}:1:30: the value of `namespaces` must be in double quotes",
                signers.display()
            ))
            .stderr_has("write `namespaces=\"qwarden-manifest\"`");
    }
);

qwtest!(malformed_toml_is_invalid_input_at_file_line_col, |env| {
    env.signed_manifest("agent.toml", "");
    env.write(
        "agent.toml",
        "[agent]\nname = \"probe\"\nversion = \"1.0.0\npublisher = \"tools@lab.example\"\n",
    );
    refused_everywhere(
        &env,
        "agent.toml",
        3,
        &[
            "agent.toml:3:17: invalid basic string, expected `\"`",
            "hint: this is not valid TOML",
        ],
    );
    env.qwarden(["manifest", "lint", "agent.toml"])
        .run()
        .code(3)
        .stderr_has("agent.toml:3:17:");
});

qwtest!(
    unknown_manifest_key_is_invalid_input_naming_the_key,
    |env| {
        env.signed_manifest("agent.toml", "");
        env.write(
            "agent.toml",
            &Env::manifest_text("[network]\nallow = [\"pypi.org:443\"]\nproxy = \"none\"\n"),
        );
        refused_everywhere(
            &env,
            "agent.toml",
            3,
            &[
                "agent.toml:9:1: unknown field `proxy`, expected `allow`",
                "hint: remove the key or fix its spelling",
            ],
        );
    }
);

qwtest!(
    invalid_manifest_values_are_all_reported_with_their_locations,
    |env| {
        env.write(
        "agent.toml",
        &Env::manifest_text("[qpu]\nproviders = [\"ibm\"]\nbackends = [\"ibm:ibm_brisbane\", \"ionq:aria\"]\nmax_shots = 0\n"),
    );
        env.qwarden(["manifest", "lint", "agent.toml"])
        .run()
        .code(3)
        .stderr_has("agent.toml:9:33: backend `ionq:aria` names provider `ionq`, which qpu.providers does not list")
        .stderr_has("hint: add the provider to qpu.providers, or remove the backend")
        .stderr_has("agent.toml:10:13: qpu.max_shots is 0");
    }
);

qwtest!(
    unknown_tier_in_the_profile_is_invalid_input_at_line_and_column,
    |env| {
        env.signed_manifest("agent.toml", "");
        let profile = env.config.join("profile.toml");
        std::fs::write(&profile, "# this workstation\ntier = \"dev\"\n").unwrap();
        let location = format!(
            "{}:2:8: unknown tier `dev`: expected one of `sandbox`, `staging`, `prod`",
            profile.display()
        );
        for command in [
            &["policy", "explain", "--agent", "agent.toml"][..],
            &["manifest", "verify", "agent.toml"],
            &["policy", "validate"],
        ] {
            env.qwarden(command)
                .run()
                .code(3)
                .stderr_has(&location)
                .stderr_has("hint: set `tier = \"sandbox\"`, `\"staging\"` or `\"prod\"`");
        }
    }
);

qwtest!(unknown_profile_key_is_invalid_input_naming_the_key, |env| {
    env.signed_manifest("agent.toml", "");
    let profile = env.config.join("profile.toml");
    std::fs::write(
        &profile,
        "tier = \"sandbox\"\n\n[limits]\nmemroy_mb = 1024\n",
    )
    .unwrap();
    env.qwarden(["policy", "explain", "--agent", "agent.toml"])
        .run()
        .code(3)
        .stderr_has(&format!(
            "{}:4:1: unknown field `memroy_mb`, expected one of `memory_mb`",
            profile.display()
        ))
        .stderr_has("hint: remove the key or fix its spelling");
});

qwtest!(explicit_profile_flag_and_environment_are_honoured, |env| {
    env.signed_manifest("agent.toml", "");
    let profile = env.write("bad-profile.toml", "tier = \"qa\"\n");
    env.qwarden([
        "policy",
        "explain",
        "--agent",
        "agent.toml",
        "--profile",
        "bad-profile.toml",
    ])
    .run()
    .code(3)
    .stderr_has("bad-profile.toml:1:8: unknown tier `qa`");
    env.qwarden(["policy", "explain", "--agent", "agent.toml"])
        .env("QWARDEN_PROFILE", &profile)
        .run()
        .code(3)
        .stderr_has("bad-profile.toml:1:8: unknown tier `qa`");
    env.qwarden([
        "policy",
        "explain",
        "--agent",
        "agent.toml",
        "--profile",
        "no-such-profile.toml",
    ])
    .run()
    .code(3)
    .stderr_has("cannot read profile `no-such-profile.toml`")
    .stderr_has("hint: run `qwarden init`, or pass --profile FILE");
});

qwtest!(unknown_tier_flag_is_a_usage_error, |env| {
    for command in [
        &["init"][..],
        &["policy", "explain", "--agent", "agent.toml"],
    ] {
        env.qwarden(command)
            .args(["--tier", "dev"])
            .run()
            .code(2)
            .stderr_has("invalid value 'dev' for '--tier <TIER>'")
            .stderr_has("[possible values: sandbox, staging, prod]");
    }
    assert!(!env.config.exists(), "a usage error wrote files");
});

qwtest!(missing_manifest_file_is_invalid_input, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust(PUBLISHER, &key);
    refused_everywhere(
        &env,
        "missing.toml",
        3,
        &[
            "cannot read `missing.toml`: No such file or directory",
            "hint: check the path to the agent manifest",
        ],
    );
    env.qwarden(["manifest", "sign", "--key"])
        .arg(&key.private)
        .arg("missing.toml")
        .run()
        .code(3)
        .stderr_has("cannot read `missing.toml`");
});

qwtest!(missing_allowed_signers_file_is_invalid_input, |env| {
    env.write("agent.toml", &Env::manifest_text(""));
    // The default, CONFIG_DIR/allowed_signers, does not exist.
    refused_everywhere(
        &env,
        "agent.toml",
        3,
        &[
            &format!(
                "cannot read the allowed-signers file `{}`",
                env.config.join("allowed_signers").display()
            ),
            "pass another file with `--allowed-signers <file>`",
        ],
    );
    env.qwarden([
        "manifest",
        "verify",
        "--allowed-signers",
        "nope",
        "agent.toml",
    ])
    .run()
    .code(3)
    .stderr_has("cannot read the allowed-signers file `nope`: No such file or directory");
    env.qwarden(["manifest", "verify", "agent.toml"])
        .env("QWARDEN_ALLOWED_SIGNERS", "from-env")
        .run()
        .code(3)
        .stderr_has("cannot read the allowed-signers file `from-env`");
});

qwtest!(unset_home_is_invalid_input_with_a_working_hint, |env| {
    env.qwarden(["policy", "validate"])
        .env_remove("HOME")
        .run()
        .code(3)
        .stderr_has("HOME is not set")
        .stderr_has("hint: set HOME")
        // The directories were given, so suggesting to give them would not help.
        .stderr_lacks("--config-dir");
});
