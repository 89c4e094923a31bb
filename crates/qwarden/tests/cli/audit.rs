//! `qwarden audit …` and `qwarden witness serve` end to end, on ledgers written by real
//! `qwarden policy check` runs: verification, proofs, reading, OCSF export, following, witnessing,
//! and every kind of tampering the audit ledger issue lists, done to the files on disk.
//!
//! Most tests start from one shared ledger of [`SIZE`] decisions (more than a full 256-entry
//! bundle, with checkpoints kept at 100, 200 and 300), built once and copied into each test's
//! environment, so that the module stays fast.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use crate::support::{Cmd, Env, Running, copy_dir};

/// Decisions the ledgers are written with: allowed, denied and gated ones on every tier.
const DECISIONS: [&[&str]; 10] = [
    &["--action", "use-credential", "--resource", "ibm"],
    &[
        "--action",
        "submit-job",
        "--resource",
        "ibm:ibm_brisbane",
        "--shots",
        "4000",
    ],
    &[
        "--action",
        "submit-job",
        "--resource",
        "ibm:ibm_brisbane",
        "--shots",
        "4000",
        "--tier",
        "staging",
    ],
    &[
        "--action",
        "submit-job",
        "--resource",
        "ionq:qpu.aria-1",
        "--shots",
        "100",
        "--tier",
        "prod",
    ],
    &["--action", "read", "--resource", "circuits/bell.qasm"],
    &[
        "--action",
        "write",
        "--resource",
        "results/out.json",
        "--tier",
        "prod",
    ],
    &["--action", "connect", "--resource", "api.ionq.co:443"],
    &["--action", "spawn-processes", "--tier", "prod"],
    &["--action", "run-session", "--tier", "staging"],
    &["--action", "install-packages", "--resource", "pypi"],
];

/// Entries in the shared ledger: one full bundle (`tile/entries/000`) and a partial one.
const SIZE: u64 = 300;

/// The shared ledger's full entry bundle (entries 0..256) and its partial tail (256..300).
const FULL_BUNDLE: &str = "tile/entries/000";
const TAIL_BUNDLE: &str = "tile/entries/001.p/44";

/// `qwarden policy check --agent examples/job-runner.toml …` in the repository root.
fn check(env: &Env, args: &[&str]) -> Cmd {
    env.qwarden_in_repo([
        "policy",
        "check",
        "--agent",
        "examples/job-runner.toml",
        "--allowed-signers",
        "examples/allowed_signers",
    ])
    .args(args)
}

/// Records `n` decisions, cycling through [`DECISIONS`] from `start`.
fn decide(env: &Env, start: usize, n: usize) {
    for i in start..start + n {
        let run = check(env, DECISIONS[i % DECISIONS.len()]).run();
        // Allowed, denied and gated decisions are all recorded; anything else is not.
        assert!(
            ["allow", "deny", "needs approval"]
                .iter()
                .any(|d| run.stdout.starts_with(d)),
            "decision {i} was not made: {}{}",
            run.stdout,
            run.stderr
        );
        run.stderr_empty();
    }
}

/// The shared ledger: `qwarden init`, a checkpoint kept every 100 entries, [`SIZE`] decisions.
fn template() -> &'static Env {
    static TEMPLATE: OnceLock<Env> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // A static is never dropped: the template stays behind under the target directory,
        // where the next run removes it (an hour on, so as not to pull it from under a run
        // going on at the same time) and `cargo clean` does too.
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-templates");
        std::fs::create_dir_all(&parent).unwrap();
        for old in std::fs::read_dir(&parent).unwrap().flatten() {
            let age = old
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok()?.elapsed().ok());
            if age.is_some_and(|a| a.as_secs() > 3600) {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        let env = Env::new_in(&parent);
        env.qwarden(["init"]).run().success();
        let profile = env.config.join("profile.toml");
        let text = std::fs::read_to_string(&profile).unwrap();
        // Kept by count only, whatever the time the build takes.
        let text = text
            .replace(
                "checkpoint_every_entries = 10000",
                "checkpoint_every_entries = 100",
            )
            .replace(
                "checkpoint_every_seconds = 60",
                "checkpoint_every_seconds = 1000000",
            );
        assert!(text.contains("checkpoint_every_entries = 100\n"));
        assert!(text.contains("checkpoint_every_seconds = 1000000\n"));
        std::fs::write(&profile, text).unwrap();
        decide(&env, 0, SIZE as usize);
        env
    })
}

/// Puts a copy of the shared ledger, its key and its profile into `env`.
fn with_big_ledger(env: &Env) {
    env.copy_config_and_state_from(template());
}

/// The ledger directory.
fn ledger(env: &Env) -> PathBuf {
    env.state.join("ledger")
}

/// The log's verification key, from `qwarden audit key`.
fn log_key(env: &Env) -> String {
    let run = env.qwarden(["audit", "key"]).run();
    run.success().stderr_empty();
    run.stdout.trim().to_owned()
}

/// The log's origin: the key's name.
fn origin(env: &Env) -> String {
    log_key(env).split('+').next().unwrap().to_owned()
}

/// The entries of a tlog-tiles entry bundle (big-endian u16 length, then the bytes).
fn read_bundle(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut entries = Vec::new();
    let mut rest = bytes.as_slice();
    while let [hi, lo, tail @ ..] = rest {
        let (entry, after) = tail.split_at(usize::from(u16::from_be_bytes([*hi, *lo])));
        entries.push(entry.to_vec());
        rest = after;
    }
    assert!(rest.is_empty(), "{} ends mid-entry", path.display());
    entries
}

fn write_bundle(path: &Path, entries: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for e in entries {
        bytes.extend_from_slice(&u16::try_from(e.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(e);
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Rewrites the bundle `rel` in `env`'s ledger.
fn edit_bundle(env: &Env, rel: &str, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = ledger(env).join(rel);
    let mut entries = read_bundle(&path);
    edit(&mut entries);
    write_bundle(&path, &entries);
}

/// Changes one byte of a file.
fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// RFC 6962 leaf hash, in hex: sha256(0x00 || entry).
fn leaf_hash(entry: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Rolls the shared ledger back to `to` (< 256) entries as a careful attacker would: the
/// entries and hash tiles past `to` are removed, the partial files for `to` written, and the
/// kept checkpoint of that size becomes the latest. Other kept checkpoints are left alone.
fn roll_back(env: &Env, to: usize) {
    let dir = ledger(env);
    let entries = read_bundle(&dir.join(FULL_BUNDLE));
    let hashes = std::fs::read(dir.join("tile/0/000")).unwrap();
    for tiles in ["tile/entries", "tile/0", "tile/1"] {
        std::fs::remove_dir_all(dir.join(tiles)).unwrap();
    }
    write_bundle(
        &dir.join(format!("tile/entries/000.p/{to}")),
        &entries[..to],
    );
    let tile = dir.join(format!("tile/0/000.p/{to}"));
    std::fs::create_dir_all(tile.parent().unwrap()).unwrap();
    std::fs::write(tile, &hashes[..to * 32]).unwrap();
    std::fs::copy(
        dir.join(format!("checkpoints/{to}")),
        dir.join("checkpoint"),
    )
    .unwrap();
}

/// `qwarden audit verify` must exit 6 and name `first` as the first problem.
#[track_caller]
fn assert_tampered(env: &Env, first: &str) {
    env.qwarden(["audit", "verify"])
        .run()
        .code(6)
        .stdout_has(&format!("result       TAMPERED: {first}"));
}

qwtest!(a_ledger_written_by_policy_check_verifies, |env| {
    with_big_ledger(&env);
    let dir = ledger(&env);
    env.qwarden(["audit", "verify"])
        .run()
        .success()
        .stderr_empty()
        .stdout_has(&format!("ledger       {}\n", dir.display()))
        .stdout_has(&format!("origin       {}\n", origin(&env)))
        .stdout_has("entries      300\n")
        // The latest checkpoint and the ones kept at 100, 200 and 300.
        .stdout_has("checkpoints  4 checked\n")
        .stdout_has("result       valid\n");
    let json = env.qwarden(["audit", "verify", "--json"]).run().json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["size"], SIZE);
    assert_eq!(json["origin"], origin(&env).as_str());
    assert_eq!(json["problems"], serde_json::json!([]));
    assert_eq!(json["anchored"], serde_json::Value::Null);
});

qwtest!(the_log_key_is_named_after_the_origin, |env| {
    decide(&env, 0, 2);
    let key = log_key(&env);
    let parts: Vec<&str> = key.splitn(3, '+').collect();
    assert_eq!(parts.len(), 3, "{key}");
    assert!(parts[0].contains("/qwarden/"), "{key}");
    env.qwarden(["audit", "verify"])
        .run()
        .success()
        .stdout_has(&format!("origin       {}\n", parts[0]))
        .stdout_has("entries      2\n");
    // The key file holds the same key `--key` accepts.
    env.qwarden(["audit", "verify", "--key", &key])
        .run()
        .success();
});

qwtest!(a_flipped_byte_names_the_modified_entry, |env| {
    with_big_ledger(&env);
    edit_bundle(&env, FULL_BUNDLE, |e| e[37][5] ^= 0x01);
    assert_tampered(&env, "entry 37 was modified\n");

    // In the partial tail bundle too.
    let env = Env::new();
    with_big_ledger(&env);
    edit_bundle(&env, TAIL_BUNDLE, |e| e[10][5] ^= 0x01);
    assert_tampered(&env, "entry 266 was modified\n");
});

qwtest!(a_deleted_entry_is_named, |env| {
    with_big_ledger(&env);
    edit_bundle(&env, FULL_BUNDLE, |e| {
        e.remove(37);
    });
    assert_tampered(
        &env,
        "entry 37 was deleted: the entries after it moved up\n",
    );
});

qwtest!(swapped_entries_are_reported_as_reordered, |env| {
    with_big_ledger(&env);
    edit_bundle(&env, FULL_BUNDLE, |e| e.swap(37, 40));
    assert_tampered(
        &env,
        "entries were reordered: entry 37 holds the entry logged at 40\n",
    );
});

qwtest!(a_removed_tail_bundle_is_a_truncated_tail, |env| {
    with_big_ledger(&env);
    std::fs::remove_file(ledger(&env).join(TAIL_BUNDLE)).unwrap();
    assert_tampered(
        &env,
        "entries 256..300 are missing (deleted or truncated): the latest checkpoint covers 300\n",
    );
});

qwtest!(a_modified_hash_tile_is_blamed_on_the_tile, |env| {
    with_big_ledger(&env);
    let tile = ledger(&env).join("tile/0/000");
    flip_byte(&tile, 100);
    assert_tampered(
        &env,
        &format!(
            "hash tile `{}` does not match the entries\n",
            tile.display()
        ),
    );
});

qwtest!(
    rolling_back_to_an_older_kept_checkpoint_is_detected,
    |env| {
        with_big_ledger(&env);
        roll_back(&env, 200);
        let kept = ledger(&env).join("checkpoints/300");
        assert_tampered(
            &env,
            &format!(
                "the log was truncated or rolled back: `{}` covers 300 entries but the latest checkpoint only 200\n",
                kept.display()
            ),
        );
    }
);

/// Only `checkpoint` replaced by the kept one of size 200, the entries left as they are.
#[test]
fn replacing_only_the_checkpoint_by_an_older_one_is_named_a_rollback() {
    let env = Env::new();
    with_big_ledger(&env);
    let dir = ledger(&env);
    std::fs::copy(dir.join("checkpoints/200"), dir.join("checkpoint")).unwrap();
    assert_tampered(
        &env,
        &format!(
            "the log was truncated or rolled back: `{}` covers 300 entries but the latest checkpoint only 200\n",
            dir.join("checkpoints/300").display()
        ),
    );
}

qwtest!(a_checkpoint_with_a_changed_size_is_forged, |env| {
    with_big_ledger(&env);
    let path = ledger(&env).join("checkpoint");
    let text = std::fs::read_to_string(&path).unwrap();
    let forged = text.replacen("\n300\n", "\n299\n", 1);
    assert_ne!(forged, text);
    std::fs::write(&path, forged).unwrap();
    assert_tampered(
        &env,
        &format!(
            "forged checkpoint `{}`: the signature by `{}+",
            path.display(),
            origin(&env)
        ),
    );
});

qwtest!(
    a_ledger_rewritten_under_another_key_fails_against_the_real_key,
    |env| {
        with_big_ledger(&env);
        let real = log_key(&env);
        let origin = origin(&env);
        // The attacker writes a whole ledger of the same name with a key of their own, and puts
        // it, with its `log.vkey`, in place of the real one.
        let attacker = Env::new();
        let forged_key = qwarden_ledger::note::NoteSigner::generate(&origin).unwrap();
        let key_file = attacker.state.join("keys/ledger.key");
        std::fs::create_dir_all(key_file.parent().unwrap()).unwrap();
        std::fs::write(&key_file, format!("{}\n", &*forged_key.to_skey())).unwrap();
        decide(&attacker, 0, 3);
        let dir = ledger(&env);
        std::fs::remove_dir_all(&dir).unwrap();
        copy_dir(&ledger(&attacker), &dir);

        let first = format!(
            "result       TAMPERED: forged checkpoint `{}`",
            dir.join("checkpoint").display()
        );
        // This workstation's signing key, which the attacker could not replace …
        env.qwarden(["audit", "verify"])
            .run()
            .code(6)
            .stdout_has(&first);
        // … and the real key given on the command line, for a copy of the ledger elsewhere.
        env.qwarden(["audit", "verify", "--ledger"])
            .arg(&dir)
            .args(["--key", &real])
            .run()
            .code(6)
            .stdout_has(&first);
        // Named explicitly, the home ledger is still checked against the workstation's key …
        env.qwarden(["audit", "verify", "--ledger"])
            .arg(&dir)
            .run()
            .code(6)
            .stdout_has(&first);
        // … and a copy elsewhere needs --key: its own `log.vkey` (the attacker's) is never trusted.
        let copy = env.scratch("copied-ledger");
        copy_dir(&dir, &copy);
        env.qwarden(["audit", "verify", "--ledger"])
            .arg(&copy)
            .run()
            .code(2)
            .stderr_has("needs the log's verification key: pass --key VKEY");
        // Deleting the workstation's signing key as well does not make the forgery pass.
        std::fs::remove_file(env.state.join("keys/ledger.key")).unwrap();
        env.qwarden(["audit", "verify"])
            .run()
            .code(6)
            .stderr_has("ledger signing key")
            .stderr_has("is missing, but the ledger exists");
    }
);

qwtest!(a_kept_checkpoint_from_a_fork_is_detected, |env| {
    with_big_ledger(&env);
    // A copy of the state directory (key included) goes its own way from size 300.
    let fork = env.scratch("fork-state");
    copy_dir(&env.state, &fork);
    check(&env, DECISIONS[0])
        .env("QWARDEN_STATE_DIR", &fork)
        .run()
        .success();
    check(&env, DECISIONS[4]).run().success();
    // The fork's signed checkpoint of size 301 turns up among the kept ones.
    let kept = ledger(&env).join("checkpoints/301");
    std::fs::copy(fork.join("ledger/checkpoint"), &kept).unwrap();
    assert_tampered(
        &env,
        &format!(
            "inconsistent checkpoints: `{}` (size 301) is signed by the log's key but disagrees with the log",
            kept.display()
        ),
    );
});

qwtest!(
    an_entry_whose_stored_payload_was_changed_fails_the_event_check,
    |env| {
        with_big_ledger(&env);
        // Over the 64 KiB entry limit: the decision's body goes to the content-addressed store.
        let resource = format!("circuits/{}", "q".repeat(70_000));
        check(&env, &["--action", "read", "--resource", &resource])
            .run()
            .success();
        let entry = env.qwarden(["audit", "show", "300", "--json"]).run().json();
        let digest = entry["body"]["cas"].as_str().unwrap().to_owned();
        let hex = digest.strip_prefix("sha256:").unwrap();
        let blob = env.state.join("cas/sha256").join(&hex[..2]).join(&hex[2..]);
        env.qwarden(["audit", "verify"])
            .run()
            .success()
            .stdout_has("entries      301\n");

        flip_byte(&blob, 1000);
        assert_tampered(
            &env,
            &format!(
                "entry 300: blob `{digest}` at `{}` is corrupt",
                blob.display()
            ),
        );
        std::fs::remove_file(&blob).unwrap();
        assert_tampered(
            &env,
            &format!("entry 300: blob `{digest}` is missing from the content store"),
        );
    }
);

qwtest!(export_resolves_payloads_kept_in_the_content_store, |env| {
    decide(&env, 0, 1);
    let resource = format!("circuits/{}", "q".repeat(70_000));
    check(&env, &["--action", "read", "--resource", &resource])
        .run()
        .success();
    let run = env
        .qwarden(["audit", "export", "--format", "ocsf", "--from", "1"])
        .run();
    run.success().stderr_empty();
    let row: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(row["unmapped"]["qwarden"]["resource"], resource.as_str());
    assert_eq!(row["unmapped"]["qwarden"]["action"], "read");
});

qwtest!(an_appended_entry_that_is_not_an_event_is_named, |env| {
    with_big_ledger(&env);
    // Valid log data, appended with the real key, that no qwarden command would write.
    let ledger_api = qwarden_ledger::home::LedgerHome::new(&env.state)
        .open(qwarden_ledger::log::CheckpointPolicy::default())
        .unwrap();
    assert_eq!(
        ledger_api
            .append(b"{\"not\":\"an event\"}".to_vec())
            .unwrap(),
        300
    );
    drop(ledger_api);
    assert_tampered(&env, "entry 300: not a valid event: ");
});

qwtest!(an_unreadable_ledger_exits_3_with_a_hint, |env| {
    decide(&env, 0, 1);
    let missing = env.scratch("no-such-ledger");
    env.qwarden(["audit", "verify", "--ledger"])
        .arg(&missing)
        .args(["--key", &log_key(&env)])
        .run()
        .code(3)
        .stderr_has(&format!("cannot verify `{}`", missing.display()))
        .stderr_has("hint: point at a ledger directory");
});

qwtest!(a_proof_verifies_offline_and_carries_its_entry, |env| {
    with_big_ledger(&env);
    let key = log_key(&env);
    let proof = env.scratch("entry-37.proof");
    env.qwarden(["audit", "prove", "37", "-o"])
        .arg(&proof)
        .run()
        .success()
        .stdout_has(&format!(
            "wrote the proof of entry 37 (log size 300) to {}",
            proof.display()
        ));
    let entry = env.qwarden(["audit", "show", "37", "--json"]).run().stdout;
    env.qwarden(["audit", "verify-proof"])
        .arg(&proof)
        .args(["--key", &key])
        .run()
        .success()
        .stdout_has(&format!(
            "valid: entry 37 is in {} at size 300\n",
            origin(&env)
        ))
        .stdout_has(&entry);
    // The proof alone is enough: it checks against the key, not the ledger.
    std::fs::remove_dir_all(ledger(&env)).unwrap();
    env.qwarden(["audit", "verify-proof"])
        .arg(&proof)
        .args(["--key", &key])
        .run()
        .success();
});

qwtest!(a_tampered_proof_or_a_wrong_key_fails_with_exit_6, |env| {
    with_big_ledger(&env);
    let key = log_key(&env);
    let proof = env.scratch("entry-37.proof");
    env.qwarden(["audit", "prove", "37", "-o"])
        .arg(&proof)
        .run()
        .success();
    let verify = |file: &Path, key: &str| {
        env.qwarden(["audit", "verify-proof"])
            .arg(file)
            .args(["--key", key])
    };

    // One flipped bit in the first proof hash (the line after `index 37`).
    let text = std::fs::read_to_string(&proof).unwrap();
    let at = text.find("index 37\n").unwrap() + "index 37\n".len();
    let flipped = env.scratch("flipped.proof");
    let mut bytes = text.clone().into_bytes();
    // `A` and `B` are both base64 digits: the line still decodes, to another hash.
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&flipped, bytes).unwrap();
    verify(&flipped, &key)
        .run()
        .code(6)
        .stderr_has("entry 37 is not included in the checkpointed tree of size 300");

    // A key of the same name that did not sign the log.
    let other = qwarden_ledger::note::NoteSigner::generate(&origin(&env))
        .unwrap()
        .verifier()
        .to_vkey();
    verify(&proof, &other)
        .run()
        .code(6)
        .stderr_has("the proof's checkpoint does not verify with the log key");

    // Not a proof at all.
    verify(&env.config.join("profile.toml"), &key)
        .run()
        .code(3)
        .stderr_has("not a valid tlog proof");

    // `--entry` names the entry to check instead of the one the proof carries.
    let entry_38 = env.scratch("entry-38.json");
    std::fs::write(
        &entry_38,
        env.qwarden(["audit", "show", "38", "--json"]).run().stdout,
    )
    .unwrap();
    verify(&proof, &key)
        .arg("--entry")
        .arg(&entry_38)
        .run()
        .code(6)
        .stderr_has("entry 37 is not included");
});

qwtest!(
    verify_proof_accepts_the_entry_file_audit_show_writes,
    |env| {
        decide(&env, 0, 5);
        let proof = env.scratch("entry-2.proof");
        env.qwarden(["audit", "prove", "2", "-o"])
            .arg(&proof)
            .run()
            .success();
        // `audit show --json` ends the canonical entry with a newline.
        let shown = env.qwarden(["audit", "show", "2", "--json"]).run().stdout;
        assert!(shown.ends_with("}\n"));
        let entry = env.scratch("entry-2.json");
        std::fs::write(&entry, &shown).unwrap();
        env.qwarden(["audit", "verify-proof"])
            .arg(&proof)
            .args(["--key", &log_key(&env), "--entry"])
            .arg(&entry)
            .run()
            .success()
            .stdout_has("valid: entry 2 is in ");
    }
);

qwtest!(show_prints_the_exact_entry_and_its_leaf_hash, |env| {
    with_big_ledger(&env);
    let entries = read_bundle(&ledger(&env).join(FULL_BUNDLE));
    let shown = env.qwarden(["audit", "show", "37", "--json"]).run();
    shown.success().stderr_empty();
    let mut expected = entries[37].clone();
    expected.push(b'\n');
    assert_eq!(shown.stdout.as_bytes(), expected.as_slice());
    env.qwarden(["audit", "show", "37"])
        .run()
        .success()
        .stdout_has(&format!(
            "entry 37 of 300 (leaf hash {})\n",
            leaf_hash(&entries[37])
        ))
        .stdout_has("\"kind\": \"policy.decision\"");
    env.qwarden(["audit", "show", "300"])
        .run()
        .code(3)
        .stderr_has("entry 300 does not exist: the log holds 300 entries");
});

qwtest!(tail_and_search_find_the_recorded_decisions, |env| {
    with_big_ledger(&env);
    let tail = env.qwarden(["audit", "tail", "-n", "3"]).run();
    tail.success().stderr_empty();
    let indexes: Vec<&str> = tail
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(indexes, ["297", "298", "299"]);
    assert!(tail.stdout.lines().all(|l| l.contains(" policy.decision ")));

    let found = env
        .qwarden(["audit", "search", "--kind", "policy.decision"])
        .run();
    found.success().stderr_empty();
    assert_eq!(found.stdout.lines().count(), SIZE as usize);

    env.qwarden(["audit", "search", "--since", "9999-01-01T00:00:00Z"])
        .run()
        .success()
        .stderr_empty()
        .stdout_lacks("policy.decision");
    env.qwarden(["audit", "search", "--kind", "bogus"])
        .run()
        .code(3)
        .stderr_has("unknown event kind `bogus`");
});

qwtest!(ocsf_rows_carry_their_index_and_leaf_hash, |env| {
    with_big_ledger(&env);
    let origin = origin(&env);
    // Every entry, as `audit tail --json` prints them; a few checked against `audit show`.
    let entries: Vec<String> = env
        .qwarden(["audit", "tail", "-n", "1000", "--json"])
        .run()
        .stdout
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(entries.len(), SIZE as usize);
    for i in [0usize, 37, 255, 256, 299] {
        let shown = env
            .qwarden(["audit", "show", &i.to_string(), "--json"])
            .run()
            .stdout;
        assert_eq!(shown, format!("{}\n", entries[i]));
    }
    let export = env.qwarden(["audit", "export", "--format", "ocsf"]).run();
    export.success().stderr_empty();
    let rows: Vec<serde_json::Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), SIZE as usize);
    for (i, row) in rows.iter().enumerate() {
        let log = &row["unmapped"]["qwarden"]["log"];
        assert_eq!(log["index"], i as u64, "row {i}");
        assert_eq!(log["origin"], origin.as_str(), "row {i}");
        assert_eq!(
            log["leaf_hash"],
            leaf_hash(entries[i].as_bytes()).as_str(),
            "row {i}"
        );
    }
});

qwtest!(tail_follow_prints_a_new_decision, |env| {
    decide(&env, 0, 3);
    let tail = env
        .qwarden(["audit", "tail", "-f", "-n", "1"])
        .spawn(&env.scratch("tail.stderr"));
    assert!(tail.line().trim_start().starts_with("2 "));
    decide(&env, 3, 1);
    let line = tail.line();
    assert!(line.trim_start().starts_with("3 "), "{line}");
    assert!(line.contains(" policy.decision "), "{line}");
});

qwtest!(export_follow_streams_a_new_decision, |env| {
    decide(&env, 0, 2);
    let export = env
        .qwarden(["audit", "export", "--follow", "--from", "1"])
        .spawn(&env.scratch("export.stderr"));
    let first: serde_json::Value = serde_json::from_str(&export.line()).unwrap();
    assert_eq!(first["unmapped"]["qwarden"]["log"]["index"], 1);
    decide(&env, 2, 1);
    let next: serde_json::Value = serde_json::from_str(&export.line()).unwrap();
    assert_eq!(next["unmapped"]["qwarden"]["log"]["index"], 2);
    assert_eq!(next["unmapped"]["qwarden"]["kind"], "policy.decision");
});

qwtest!(push_without_witnesses_is_invalid_input_with_a_hint, |env| {
    env.qwarden(["init"]).run().success();
    decide(&env, 0, 1);
    env.qwarden(["audit", "push"])
        .run()
        .code(3)
        .stderr_has("the profile configures no witnesses")
        .stderr_has("hint: add a [[ledger.witnesses]] table with name, url and key");
});

qwtest!(a_new_witness_needs_a_name, |env| {
    decide(&env, 0, 1);
    env.qwarden(["witness", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(env.scratch("witness"))
        .args(["--log", &log_key(&env)])
        .run()
        .code(2)
        .stderr_has("a new witness needs a name: pass --name");
});

/// `qwarden witness serve` for `env`'s log, named `w.test`, configured in `env`'s profile as a
/// `[[ledger.witnesses]]` table; returns the running witness and its cosignature key.
pub fn start_witness(env: &Env) -> (Running, String) {
    let witness = env
        .qwarden(["witness", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(env.scratch("witness"))
        .args(["--name", "w.test", "--log", &log_key(env)])
        .spawn(&env.scratch("witness.stderr"));
    let listening = witness.line();
    let url = listening
        .strip_prefix("witness w.test listening on ")
        .and_then(|u| u.strip_suffix("/add-checkpoint"))
        .unwrap_or_else(|| panic!("unexpected first line: {listening}"))
        .to_owned();
    let cosigning = witness.line();
    let witness_key = cosigning
        .strip_prefix("cosignature key: ")
        .unwrap_or_else(|| panic!("unexpected second line: {cosigning}"))
        .to_owned();
    assert_eq!(witness.line(), format!("witnessing {}", origin(env)));

    let profile = env.config.join("profile.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    assert!(text.contains("# [[ledger.witnesses]]"));
    text.push_str(&format!(
        "\n[[ledger.witnesses]]\nname = \"w.test\"\nurl = \"{url}\"\nkey = \"{witness_key}\"\n"
    ));
    std::fs::write(&profile, text).unwrap();
    (witness, witness_key)
}

qwtest!(
    a_witness_anchors_the_ledger_and_exposes_a_rollback_below_it,
    |env| {
        with_big_ledger(&env);
        let (_witness, _) = start_witness(&env);
        env.qwarden(["audit", "push"])
            .run()
            .success()
            .stdout_has("w.test: cosigned size 300 (previously 0)\n");
        env.qwarden(["audit", "verify"])
            .run()
            .success()
            .stdout_has("anchored     up to size 300 by a witness; 0 entries after it are not yet witnessed\n")
            .stdout_has("result       valid\n");

        // Later decisions are the unanchored tail.
        decide(&env, 0, 3);
        env.qwarden(["audit", "verify"])
            .run()
            .success()
            .stdout_has("entries      303\n")
            .stdout_has("anchored     up to size 300 by a witness; 3 entries after it are not yet witnessed\n")
            .stdout_has("result       valid\n");

        // Rolled back below the witnessed size; the cosigned checkpoint is still there.
        roll_back(&env, 200);
        env.qwarden(["audit", "verify"])
            .run()
            .code(6)
            .stdout_has("anchored     a witness cosigned size 300, but the log now holds only 200 entries\n")
            .stdout_has("result       TAMPERED: the log was truncated below a witnessed size: witnesses cosigned size 300, the log now claims 200\n");
        let json = env.qwarden(["audit", "verify", "--json"]).run().json();
        assert_eq!(json["valid"], false);
        assert_eq!(json["anchored"], 300);
        assert_eq!(
            json["problems"][0],
            serde_json::json!({"problem": "below-witnessed-size", "witnessed": 300, "size": 200})
        );
    }
);

qwtest!(push_exits_6_when_the_witness_saw_a_longer_log, |env| {
    with_big_ledger(&env);
    let (_witness, _) = start_witness(&env);
    env.qwarden(["audit", "push"]).run().success();
    // Rolled back, and the cosigned checkpoint and the record of the push removed too:
    // nothing in the directory shows the rollback any more, but the witness remembers.
    roll_back(&env, 200);
    std::fs::remove_file(ledger(&env).join("checkpoints/300")).unwrap();
    std::fs::remove_dir_all(ledger(&env).join("witness")).unwrap();
    env.qwarden(["audit", "push"])
            .run()
            .code(6)
            .stderr_has("the witness `w.test` has cosigned size 300 of this log, but the ledger's latest checkpoint is size 200");
});

qwtest!(a_proof_made_after_a_push_carries_the_cosignature, |env| {
    decide(&env, 0, 5);
    env.qwarden(["init"]).run().success();
    let (_witness, witness_key) = start_witness(&env);
    env.qwarden(["audit", "push"])
        .run()
        .success()
        .stdout_has("w.test: cosigned size 5 (previously 0)\n");
    let proof = env.scratch("entry-2.proof");
    env.qwarden(["audit", "prove", "2", "-o"])
        .arg(&proof)
        .run()
        .success();
    env.qwarden(["audit", "verify-proof"])
        .arg(&proof)
        .args(["--key", &log_key(&env), "--witness", &witness_key])
        .run()
        .success()
        .stdout_has("cosigned by w.test at unix time ");
});

qwtest!(consistency_proofs_link_two_kept_checkpoints, |env| {
    use base64::Engine as _;
    with_big_ledger(&env);
    let verifier = qwarden_ledger::note::NoteVerifier::from_vkey(&log_key(&env)).unwrap();
    let root = |size: u64| {
        let bytes = std::fs::read(ledger(&env).join(format!("checkpoints/{size}"))).unwrap();
        qwarden_ledger::checkpoint::open(&bytes, &verifier)
            .unwrap()
            .0
            .root
    };
    let run = env
        .qwarden(["audit", "consistency", "--from", "100", "--to", "300"])
        .run();
    run.success();
    let proof: Vec<[u8; 32]> = run
        .stdout
        .lines()
        .map(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    qwarden_ledger::merkle::verify_consistency(100, 300, &root(100), &root(300), &proof).unwrap();
    // The same proof does not link other sizes.
    assert!(
        qwarden_ledger::merkle::verify_consistency(200, 300, &root(200), &root(300), &proof)
            .is_err()
    );
    env.qwarden(["audit", "consistency", "--from", "301", "--to", "300"])
        .run()
        .code(3)
        .stderr_has("FROM <= TO");
});
