//! `qwarden secrets init|add|list|remove|rotate`: the credential vault from the command line.
//! Values go in on standard input or from an environment variable and never come out: not on
//! stdout or stderr, not in any file in the vault, and not inside a session.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::run::{AGENT, As, ledger, run, setup, violations};
use crate::support::{Cmd, Env, Run};

/// A value whose every 6-character piece contains a capital letter, so no piece can turn up
/// by chance in dates, names or lowercase bech32 keys.
const VALUE: &str = "QWV-SECRET-Zx9K-LmP4-TuV7-RnQ2";

const PASSPHRASE: &str = "correct horse battery";

fn vault_dir(env: &Env) -> PathBuf {
    env.state.join("vault")
}

fn default_identity(env: &Env) -> PathBuf {
    env.config.join("vault-identity.txt")
}

/// Writes `value` to a file outside the project and the vault, to feed to standard input.
fn value_file(env: &Env, value: &str) -> PathBuf {
    let path = env.scratch(&format!("value-{}", value.len()));
    std::fs::write(&path, value).unwrap();
    path
}

fn secrets(env: &Env, args: &[&str]) -> Cmd {
    env.qwarden(["secrets"]).args(args)
}

/// `secrets add NAME --provider P` with `value` on standard input.
fn add(env: &Env, name: &str, provider: &str, value: &str) -> Run {
    secrets(env, &["add", name, "--provider", provider])
        .env("QWARDEN_VAULT_PASSPHRASE", PASSPHRASE)
        .stdin_file(&value_file(env, value))
        .run()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Asserts that no 6-character piece of `value` is in `run`'s output.
#[track_caller]
fn assert_output_lacks(run: &Run, value: &str) {
    for piece in value.as_bytes().windows(6) {
        let piece = std::str::from_utf8(piece).unwrap();
        run.stdout_lacks(piece).stderr_lacks(piece);
    }
}

/// Asserts that no 6-byte piece of `value` is in any file of the vault.
#[track_caller]
fn assert_vault_files_lack(env: &Env, value: &str) {
    for file in files_under(&vault_dir(env)) {
        let bytes = std::fs::read(&file).unwrap();
        for piece in value.as_bytes().windows(6) {
            assert!(
                !bytes.windows(6).any(|w| w == piece),
                "{} holds a piece of the value",
                file.display()
            );
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

qwtest!(init_makes_an_identity_and_a_private_vault, |env| {
    let out = secrets(&env, &["init"]).run();
    out.success()
        .stdout_has("wrote a new identity to")
        .stdout_has("vault-identity.txt")
        .stdout_has("public key age1")
        .stdout_has(&vault_dir(&env).display().to_string());
    let identity = default_identity(&env);
    assert_eq!(mode(&identity), 0o600);
    assert_eq!(mode(&vault_dir(&env)), 0o700);
    let key = std::fs::read_to_string(&identity).unwrap();
    assert!(key.contains("AGE-SECRET-KEY-1"), "{key}");
    // The secret key is never printed.
    let secret_line = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    out.stdout_lacks(&secret_line[16..40]);

    // A second init changes nothing.
    let before = std::fs::read(vault_dir(&env).join("vault.toml")).unwrap();
    secrets(&env, &["init"])
        .run()
        .code(3)
        .stderr_has("a vault already exists")
        .stderr_has("left unchanged");
    assert_eq!(
        std::fs::read(vault_dir(&env).join("vault.toml")).unwrap(),
        before
    );
    assert_eq!(std::fs::read_to_string(&identity).unwrap(), key);
});

qwtest!(commands_before_init_say_how_to_start, |env| {
    for args in [vec!["list"], vec!["remove", "ibm"]] {
        secrets(&env, &args)
            .run()
            .code(3)
            .stderr_has("no vault in")
            .stderr_has("qwarden secrets init");
    }
});

qwtest!(add_list_rotate_remove_never_show_the_value, |env| {
    secrets(&env, &["init"]).run().success();
    // A trailing newline on stdin is not part of the value.
    let out = add(&env, "ibm", "ibm", &format!("{VALUE}\n"));
    out.success()
        .stdout_has("added secret `ibm` (provider ibm)");
    assert_output_lacks(&out, VALUE);

    let list = secrets(&env, &["list"]).run();
    list.success()
        .stdout_has("NAME")
        .stdout_has("PROVIDER")
        .stdout_has("CREATED")
        .stdout_has("ibm");
    assert_output_lacks(&list, VALUE);

    let json = secrets(&env, &["list", "--json"]).run();
    json.success();
    assert_output_lacks(&json, VALUE);
    let v = json.json();
    assert_eq!(v["unlock"], "identity");
    assert_eq!(v["secrets"][0]["name"], "ibm");
    assert_eq!(v["secrets"][0]["provider"], "ibm");
    assert!(v["secrets"][0]["created"].is_string());
    assert!(v["secrets"][0].get("rotated").is_none());
    assert_eq!(v["secrets"][0].as_object().unwrap().len(), 3, "{v}");
    assert_vault_files_lack(&env, VALUE);
    for file in files_under(&vault_dir(&env)) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }

    let new_value = "ROTATED-Kq7W-Xv3M-Pz8N";
    let out = secrets(&env, &["rotate", "ibm"])
        .stdin_file(&value_file(&env, new_value))
        .run();
    out.success()
        .stdout_has("rotated secret `ibm`")
        .stdout_has("revoke the old key");
    assert_output_lacks(&out, new_value);
    let v = secrets(&env, &["list", "--json"]).run().json();
    assert!(v["secrets"][0]["rotated"].is_string(), "{v}");
    assert_vault_files_lack(&env, new_value);
    assert_vault_files_lack(&env, VALUE);

    secrets(&env, &["remove", "ibm"])
        .run()
        .success()
        .stdout_has("removed secret `ibm`");
    secrets(&env, &["list"])
        .run()
        .success()
        .stdout_has("no secrets in");
    secrets(&env, &["remove", "ibm"])
        .run()
        .code(3)
        .stderr_has("no secret `ibm`");
    assert!(!vault_dir(&env).join("secrets/ibm.age").exists());
});

qwtest!(
    values_come_from_stdin_or_the_environment_never_argv,
    |env| {
        secrets(&env, &["init"]).run().success();
        // There is no option that takes the value itself.
        secrets(&env, &["add", "ibm", "--provider", "ibm", "--value", VALUE])
            .run()
            .code(2);
        secrets(&env, &["add", "ibm", "--provider", "ibm", VALUE])
            .run()
            .code(2);
        let out = secrets(
            &env,
            &[
                "add",
                "ionq",
                "--provider",
                "ionq",
                "--from-env",
                "IONQ_KEY",
            ],
        )
        .env("IONQ_KEY", VALUE)
        .run();
        out.success()
            .stdout_has("added secret `ionq` (provider ionq)");
        assert_output_lacks(&out, VALUE);
        secrets(
            &env,
            &["add", "aws", "--provider", "aws", "--from-env", "NOT_SET"],
        )
        .run()
        .code(3)
        .stderr_has("`NOT_SET` is not set");
        // Empty values are refused, from either source.
        add(&env, "empty", "ibm", "\n")
            .code(3)
            .stderr_has("is empty");
        secrets(&env, &["add", "empty", "--provider", "ibm"])
            .run()
            .code(3)
            .stderr_has("from standard input is empty");
        secrets(
            &env,
            &["add", "empty", "--provider", "ibm", "--from-env", "E"],
        )
        .env("E", "")
        .run()
        .code(3)
        .stderr_has("is empty");
        // Bad names and providers.
        add(&env, "../ibm", "ibm", VALUE)
            .code(3)
            .stderr_has("invalid secret name `../ibm`");
        add(&env, "ibm", "dwave", VALUE).code(2);
        // An existing name needs rotate.
        add(&env, "ionq", "ionq", "other")
            .code(3)
            .stderr_has("qwarden secrets rotate ionq");
        let list = secrets(&env, &["list"]).run();
        list.success().stdout_has("ionq").stdout_lacks("empty");
    }
);

qwtest!(a_passphrase_vault_refuses_a_wrong_passphrase, |env| {
    secrets(&env, &["init", "--passphrase", "--work-factor", "10"])
        .env("QWARDEN_VAULT_PASSPHRASE", PASSPHRASE)
        .run()
        .success()
        .stdout_has("unlocked by a passphrase");
    assert!(!default_identity(&env).exists());
    add(&env, "ibm", "ibm", VALUE).success();
    let age = vault_dir(&env).join("secrets/ibm.age");
    let before = std::fs::read(&age).unwrap();

    for args in [
        vec!["add", "ionq", "--provider", "ionq"],
        vec!["rotate", "ibm"],
    ] {
        let out = secrets(&env, &args)
            .env("QWARDEN_VAULT_PASSPHRASE", "wrong horse")
            .stdin_file(&value_file(&env, "REPLACEMENT-Value-X1"))
            .run();
        out.code(6)
            .stderr_has("wrong passphrase")
            .stderr_has(&vault_dir(&env).display().to_string())
            .stderr_has("hint:");
        assert_output_lacks(&out, VALUE);
    }
    assert_eq!(std::fs::read(&age).unwrap(), before);
    assert!(!vault_dir(&env).join("secrets/ionq.toml").exists());

    // No passphrase and no terminal: refused with the way out.
    secrets(&env, &["rotate", "ibm"])
        .stdin_file(&value_file(&env, "REPLACEMENT-Value-X1"))
        .run()
        .code(3)
        .stderr_has("QWARDEN_VAULT_PASSPHRASE");
    assert_eq!(std::fs::read(&age).unwrap(), before);

    // The passphrase is never taken from the command line.
    secrets(
        &env,
        &["add", "x", "--provider", "ibm", "--passphrase", PASSPHRASE],
    )
    .run()
    .code(2);
    assert_vault_files_lack(&env, VALUE);
    assert_vault_files_lack(&env, PASSPHRASE);
});

qwtest!(rotate_replaces_a_damaged_value_file, |env| {
    secrets(&env, &["init"]).run().success();
    add(&env, "ibm", "ibm", VALUE).success();
    // A damaged value file is caught when the value is read (the vault's tests cover that);
    // rotating an identity vault's secret needs only the public key, so it is the way out.
    let age = vault_dir(&env).join("secrets/ibm.age");
    std::fs::write(&age, b"not age").unwrap();
    secrets(&env, &["list"]).run().success().stdout_has("ibm");
    secrets(&env, &["rotate", "ibm"])
        .stdin_file(&value_file(&env, "FRESH-Value-Kz9Q"))
        .run()
        .success();
    assert!(
        std::fs::read(&age)
            .unwrap()
            .starts_with(b"age-encryption.org/v1\n")
    );
});

qwtest!(a_vault_others_can_write_is_refused, |env| {
    secrets(&env, &["init"]).run().success();
    std::fs::set_permissions(vault_dir(&env), std::fs::Permissions::from_mode(0o777)).unwrap();
    secrets(&env, &["list"])
        .run()
        .code(3)
        .stderr_has("refusing to use")
        .stderr_has("chmod 700");
});

qwtest!(init_with_an_identity_elsewhere, |env| {
    let identity = env.scratch("keys/vault.txt");
    let out = secrets(&env, &["init", "--identity"]).arg(&identity).run();
    out.success().stdout_has(&identity.display().to_string());
    assert_eq!(mode(&identity), 0o600);
    assert!(!default_identity(&env).exists());
    // The environment variable does the same.
    let other = Env::new();
    let identity2 = other.scratch("id2.txt");
    other
        .qwarden(["secrets", "init"])
        .env("QWARDEN_VAULT_IDENTITY", &identity2)
        .run()
        .success();
    assert!(identity2.exists());
    assert!(
        std::fs::read_to_string(other.state.join("vault/vault.toml"))
            .unwrap()
            .contains(&identity2.display().to_string())
    );
});

/// Whether the ledger shows a credential-guard refusal on a target containing `target`.
fn credential_guard_refused(env: &Env, target: &str) -> bool {
    violations(&ledger(env)).iter().any(|v| {
        v["control"] == "credential-guard" && v["target"].as_str().unwrap_or("").contains(target)
    })
}

qwtest!(the_default_identity_is_out_of_a_sessions_reach, |env| {
    setup(&env, "sandbox", AGENT);
    secrets(&env, &["init"]).run().success();
    add(&env, "ibm", "ibm", VALUE).success();
    let identity = default_identity(&env);
    let script = format!(
        "cat {} {}/vault.toml {}/secrets/ibm.age; true",
        identity.display(),
        vault_dir(&env).display(),
        vault_dir(&env).display()
    );
    let out = run(&env, As::Invoker, &["--", "sh", "-c", &script]).run();
    out.success()
        .stdout_lacks("AGE-SECRET-KEY")
        .stdout_lacks("age-encryption.org")
        .stdout_lacks("recipient");
    assert_output_lacks(&out, VALUE);
});

qwtest!(an_identity_inside_the_project_is_still_hidden, |env| {
    setup(&env, "sandbox", AGENT);
    // The agent may read the whole project; the identity recorded by the vault stays hidden.
    let identity = env.project.join("keys/vault-identity.txt");
    secrets(&env, &["init", "--identity"])
        .arg(&identity)
        .run()
        .success();
    assert!(identity.exists());
    let out = run(
        &env,
        As::Invoker,
        &[
            "--",
            "sh",
            "-c",
            "cat keys/vault-identity.txt; cat README.md",
        ],
    )
    .run();
    out.success()
        .stdout_has("read me")
        .stdout_lacks("AGE-SECRET-KEY");
    assert!(
        credential_guard_refused(&env, "vault-identity.txt"),
        "no credential-guard violation for the identity: {:#?}",
        violations(&ledger(&env))
    );
});
