//! `qwarden manifest sign|verify|lint`, checked against the real `ssh-keygen -Y`.

use crate::support::{Env, PUBLISHER};

/// Signs with qwarden, then verifies with qwarden and with `ssh-keygen -Y verify`.
fn qwarden_signature_verifies_everywhere(kind: &str, algorithm: &str) {
    let env = Env::new();
    let key = env.keygen(kind, "publisher");
    let manifest = env.write(
        "agent.toml",
        &Env::manifest_text("[filesystem]\nread = [\".\"]\n"),
    );
    env.qwarden(["manifest", "sign", "--key"])
        .arg(&key.private)
        .arg("agent.toml")
        .run()
        .success()
        .stdout_has(&format!(
            "signed `agent.toml` (probe 1.0.0) for publisher `{PUBLISHER}` → agent.toml.sig"
        ));
    let signature = std::fs::read_to_string(env.project.join("agent.toml.sig")).unwrap();
    assert!(
        signature.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
        "{signature}"
    );

    let signers = env.write("allowed_signers", &key.allowed_signers_line(PUBLISHER));
    env.qwarden(["manifest", "verify", "--allowed-signers"])
        .arg(&signers)
        .arg("agent.toml")
        .run()
        .success()
        .stdout_has("valid signature on `agent.toml`")
        .stdout_has(&format!("signer    {PUBLISHER} ({algorithm} SHA256:"));

    env.ssh_keygen([
        "-Y",
        "verify",
        "-n",
        "qwarden-manifest",
        "-I",
        PUBLISHER,
        "-f",
    ])
    .arg(&signers)
    .args(["-s", "agent.toml.sig"])
    .stdin_file(&manifest)
    .run()
    .success()
    .stdout_has(&format!(
        "Good \"qwarden-manifest\" signature for {PUBLISHER}"
    ));
}

#[test]
fn ed25519_signature_by_qwarden_verifies_with_qwarden_and_ssh_keygen() {
    qwarden_signature_verifies_everywhere("ed25519", "ssh-ed25519");
}

#[test]
fn ecdsa_signature_by_qwarden_verifies_with_qwarden_and_ssh_keygen() {
    qwarden_signature_verifies_everywhere("ecdsa", "ecdsa-sha2-nistp256");
}

qwtest!(signature_by_ssh_keygen_is_accepted_by_verify, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.trust(PUBLISHER, &key);
    env.write("agent.toml", &Env::manifest_text(""));
    env.ssh_keygen(["-Y", "sign", "-n", "qwarden-manifest", "-f"])
        .arg(&key.private)
        .arg("agent.toml")
        .run()
        .success();
    env.qwarden(["manifest", "verify", "agent.toml"])
        .run()
        .success()
        .stdout_has("valid signature on `agent.toml`");
});

qwtest!(
    verify_json_reports_the_fingerprint_ssh_keygen_shows,
    |env| {
        let key = env.signed_manifest("agent.toml", "");
        let listed = env.ssh_keygen(["-l", "-f"]).arg(&key.public).run();
        listed.success();
        let fingerprint = listed
            .stdout
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -l prints a fingerprint")
            .to_owned();

        let run = env
            .qwarden(["manifest", "verify", "--json", "agent.toml"])
            .run();
        run.success();
        let json = run.json();
        assert_eq!(
            json["signer"]["fingerprint"],
            fingerprint.as_str(),
            "{json:#}"
        );
        assert_eq!(json["signer"]["principal"], PUBLISHER);
        assert_eq!(json["signer"]["algorithm"], "ssh-ed25519");
        assert_eq!(json["agent"]["name"], "probe");
        assert!(
            json["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
            "{json:#}"
        );
        assert_eq!(json["expires"], serde_json::Value::Null);
    }
);

qwtest!(verify_shows_the_expiry_of_a_manifest_that_has_one, |env| {
    let key = env.signed_manifest("agent.toml", "");
    env.write(
        "agent.toml",
        &format!("expires = 2099-12-31T23:59:59Z\n{}", Env::manifest_text("")),
    );
    env.sign("agent.toml", &key);
    env.qwarden(["manifest", "verify", "agent.toml"])
        .run()
        .success()
        .stdout_has("expires   2099-12-31T23:59:59Z");
    let json = env
        .qwarden(["manifest", "verify", "--json", "agent.toml"])
        .run()
        .json();
    assert_eq!(json["expires"], "2099-12-31T23:59:59Z");
});

qwtest!(signing_a_second_time_replaces_the_signature, |env| {
    env.signed_manifest("agent.toml", "");
    let other = env.keygen("ed25519", "second");
    env.trust(PUBLISHER, &other);
    env.sign("agent.toml", &other);
    let json = env
        .qwarden(["manifest", "verify", "--json", "agent.toml"])
        .run()
        .json();
    let listed = env.ssh_keygen(["-l", "-f"]).arg(&other.public).run();
    assert_eq!(
        json["signer"]["fingerprint"],
        listed.stdout.split_whitespace().nth(1).unwrap()
    );
});

qwtest!(
    sign_refuses_an_invalid_manifest_and_writes_no_signature,
    |env| {
        let key = env.keygen("ed25519", "publisher");
        env.write("agent.toml", "[agent]\nname = \"Not A Name\"\nversion = \"1.0.0\"\npublisher = \"tools@lab.example\"\n");
        env.qwarden(["manifest", "sign", "--key"])
            .arg(&key.private)
            .arg("agent.toml")
            .run()
            .code(3)
            .stderr_has("agent.toml:2:8: `Not A Name` is not a valid agent name")
            .stderr_has("hint: use lower-case letters, digits, `-` and `_`");
        assert!(
            !env.project.join("agent.toml.sig").exists(),
            "a signature was written for an invalid manifest"
        );
    }
);

qwtest!(sign_refuses_malformed_toml_and_writes_no_signature, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.write(
        "agent.toml",
        "[agent]\nname = \"probe\"\nversion = \"1.0.0\npublisher = \"tools@lab.example\"\n",
    );
    env.qwarden(["manifest", "sign", "--key"])
        .arg(&key.private)
        .arg("agent.toml")
        .run()
        .code(3)
        .stderr_has("agent.toml:3:");
    assert!(!env.project.join("agent.toml.sig").exists());
});

qwtest!(sign_with_a_missing_key_file_is_invalid_input, |env| {
    env.write("agent.toml", &Env::manifest_text(""));
    env.qwarden(["manifest", "sign", "--key", "no-such-key", "agent.toml"])
        .run()
        .code(3)
        .stderr_has("cannot read key `no-such-key`")
        .stderr_has("hint: pass an OpenSSH private key, or a public key loaded in ssh-agent");
    assert!(!env.project.join("agent.toml.sig").exists());
});

qwtest!(sign_with_a_public_key_needs_ssh_agent, |env| {
    let key = env.keygen("ed25519", "publisher");
    env.write("agent.toml", &Env::manifest_text(""));
    env.qwarden(["manifest", "sign", "--key"])
        .arg(&key.public)
        .arg("agent.toml")
        .run()
        .code(3)
        .stderr_has("is a public key, and SSH_AUTH_SOCK is not set")
        .stderr_has(
            "hint: start ssh-agent and `ssh-add` the private key, or pass the private key file",
        );
});

qwtest!(
    sign_with_an_encrypted_key_and_no_passphrase_says_how_to_give_one,
    |env| {
        let key = env.home.join("locked");
        env.ssh_keygen(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
            .arg(&key)
            .run()
            .success();
        env.write("agent.toml", &Env::manifest_text(""));
        env.qwarden(["manifest", "sign", "--key"])
            .arg(&key)
            .arg("agent.toml")
            .run()
            .code(3)
            .stderr_has("is protected by a passphrase")
            .stderr_has("--passphrase-file");
        let passphrase = env.write("passphrase", "correct horse\n");
        env.qwarden(["manifest", "sign", "--passphrase-file"])
            .arg(&passphrase)
            .arg("--key")
            .arg(&key)
            .arg("agent.toml")
            .run()
            .success();
        env.qwarden(["manifest", "sign", "--key"])
            .arg(&key)
            .arg("agent.toml")
            .env("QWARDEN_KEY_PASSPHRASE", "correct horse")
            .run()
            .success();
    }
);

qwtest!(
    lint_accepts_a_well_formed_unsigned_manifest_without_checking_trust,
    |env| {
        env.write("agent.toml", &Env::manifest_text(""));
        env.qwarden(["manifest", "lint", "agent.toml"])
        .run()
        .success()
        .stdout_has("`agent.toml` is a well-formed manifest for probe 1.0.0 (publisher tools@lab.example); its signature was not checked");
        let json = env
            .qwarden(["manifest", "lint", "--json", "agent.toml"])
            .run()
            .json();
        assert_eq!(json["agent"]["publisher"], PUBLISHER);
    }
);
