//! Checking installed files against a `RECORD`, and refusing rows that would read outside the
//! environment.

use std::path::Path;

use crate::inventory::dist::parse_record;
use crate::inventory::python::{EnvKind, quantum_packages, scan_env};
use crate::inventory::record::{FileCheck, verify};

use super::fixtures::{canon, qiskit_venv, record_line, venv, write};

/// Verifies `record` (text) for a venv at `env`, with `site` its site-packages.
fn check(record: &str, site: &Path, env: &Path) -> FileCheck {
    verify(&parse_record(record.as_bytes()), &canon(site), &canon(env))
}

#[test]
fn an_untouched_install_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    qiskit_venv(&env);
    let scanned = scan_env(&canon(&env), EnvKind::Venv);
    assert_eq!(scanned.python.as_deref(), Some("3.11.7"));
    assert_eq!(
        scanned.quantum_packages.len(),
        1,
        "numpy is not a quantum package"
    );
    let qiskit = &scanned.quantum_packages[0];
    assert_eq!(
        (qiskit.name.as_str(), qiskit.version.as_str()),
        ("qiskit", "1.2.0")
    );
    let files = qiskit.files.as_ref().unwrap();
    // Two modules, the console script (`../../../bin/`, inside the venv) and METADATA; RECORD
    // itself has no hash.
    assert_eq!((files.ok, files.skipped), (4, 1), "{files:?}");
    assert!(files.is_clean());
}

#[test]
fn a_modified_file_is_detected_whether_or_not_its_size_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    let site = qiskit_venv(&env);
    // Same size, other content: only the hash tells.
    write(
        &site.join("qiskit/circuit.py"),
        b"class QuantumCircuit: !!\n",
    );
    // Longer: the size tells before any hashing.
    write(
        &env.join("bin/qiskit-tool"),
        b"#!/usr/bin/env python\nimport evil\n",
    );
    let qiskit = &scan_env(&canon(&env), EnvKind::Venv).quantum_packages[0];
    let files = qiskit.files.as_ref().unwrap();
    assert_eq!((files.ok, files.modified), (2, 2));
    assert_eq!(
        files.modified_files,
        vec!["../../../bin/qiskit-tool", "qiskit/circuit.py"]
    );
    assert!(!files.is_clean());
}

#[test]
fn a_missing_file_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    let site = qiskit_venv(&env);
    std::fs::remove_file(site.join("qiskit/circuit.py")).unwrap();
    std::fs::remove_dir_all(env.join("bin")).unwrap();
    let files = scan_env(&canon(&env), EnvKind::Venv).quantum_packages[0]
        .files
        .clone()
        .unwrap();
    assert_eq!((files.ok, files.missing), (2, 2));
    assert_eq!(
        files.missing_files,
        vec!["../../../bin/qiskit-tool", "qiskit/circuit.py"]
    );
}

#[test]
fn rows_without_a_hash_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(tmp.path(), "3.12.0");
    // Listed without a hash and not even there: skipped, not missing.
    let files = check(
        "a/__pycache__/x.pyc,,\na-1.0.dist-info/RECORD,,\n",
        &site,
        tmp.path(),
    );
    assert_eq!(
        files,
        FileCheck {
            skipped: 2,
            ..FileCheck::default()
        }
    );
}

#[test]
fn paths_leaving_the_environment_are_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    let site = venv(&env, "3.11.7");
    // A file outside the venv whose hash the RECORD gets right: reading it would say "ok".
    let secret = b"outside the environment";
    write(&tmp.path().join("outside.txt"), secret);
    write(&env.join("inside.txt"), secret);
    let record = [
        record_line("../../../../outside.txt", secret),
        record_line("../../../inside.txt", secret),
        record_line("a/../../../../../outside.txt", secret),
        record_line(&tmp.path().join("outside.txt").to_string_lossy(), secret),
        record_line("../../..", secret),
    ]
    .concat();
    let files = check(&record, &site, &env);
    assert_eq!(
        (files.ok, files.refused, files.modified, files.missing),
        (1, 4, 0, 0),
        "{files:?}"
    );
    let abs = format!(
        "{}: an absolute path",
        tmp.path().join("outside.txt").display()
    );
    let mut expected = vec![
        "../../../../outside.txt: leaves the environment".to_owned(),
        "../../..: names the environment itself".to_owned(),
        "a/../../../../../outside.txt: leaves the environment".to_owned(),
        abs,
    ];
    expected.sort();
    assert_eq!(files.refused_rows, expected);
}

#[test]
fn a_directory_linked_to_outside_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    let site = venv(&env, "3.11.7");
    let secret = b"outside";
    write(&tmp.path().join("elsewhere/data.py"), secret);
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), site.join("pkg")).unwrap();
    let files = check(&record_line("pkg/data.py", secret), &site, &env);
    assert_eq!(files.refused, 1, "{files:?}");
    assert_eq!(files.ok, 0);
    assert_eq!(
        files.refused_rows,
        vec!["pkg/data.py: a directory on the way links to outside the environment"]
    );
}

#[test]
fn a_file_swapped_for_a_link_or_a_fifo_is_modified_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv");
    let site = venv(&env, "3.11.7");
    let body = b"print('hi')\n";
    write(&site.join("pkg/real.py"), body);
    std::os::unix::fs::symlink(site.join("pkg/real.py"), site.join("pkg/link.py")).unwrap();
    let fifo = site.join("pkg/fifo.py");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir(site.join("pkg/dir.py")).unwrap();
    let record = ["pkg/real.py", "pkg/link.py", "pkg/fifo.py", "pkg/dir.py"]
        .iter()
        .map(|p| record_line(p, body))
        .collect::<String>();
    // Opening the FIFO for reading would block without O_NONBLOCK; this returns at once.
    let files = check(&record, &site, &env);
    assert_eq!((files.ok, files.modified), (1, 3), "{files:?}");
    assert_eq!(
        files.modified_files,
        vec!["pkg/dir.py", "pkg/fifo.py", "pkg/link.py"]
    );
}

#[test]
fn malformed_rows_are_refused_and_the_rest_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(tmp.path(), "3.11.7");
    write(&site.join("ok.py"), b"ok");
    let record = format!(
        "ok.py,md5=abc,2\n{}\"broken,,\n",
        record_line("ok.py", b"ok")
    );
    let files = check(&record, &site, tmp.path());
    assert_eq!((files.ok, files.refused), (1, 2));
    assert_eq!(
        files.refused_rows,
        vec![
            "line 1: the hash algorithm is not sha256, sha384 or sha512",
            "line 3: a quote is not closed"
        ]
    );
}

#[test]
fn a_package_without_a_record_is_listed_unverified() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(tmp.path(), "3.11.7");
    write(
        &site.join("cirq_core-1.4.0.dist-info/METADATA"),
        "Name: cirq-core\nVersion: 1.4.0\n",
    );
    // No METADATA at all: the directory's name says who it is.
    std::fs::create_dir_all(site.join("pytket-1.30.0.dist-info")).unwrap();
    // METADATA says it is not a quantum package, whatever the directory is called.
    write(
        &site.join("qiskit-9.dist-info/METADATA"),
        "Name: requests\nVersion: 9\n",
    );
    // A link to a dist-info elsewhere is not followed.
    std::os::unix::fs::symlink(
        site.join("cirq_core-1.4.0.dist-info"),
        site.join("cirq-2.0.dist-info"),
    )
    .unwrap();
    let found = quantum_packages(&canon(&site), &canon(tmp.path()));
    let summary: Vec<_> = found
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.files.is_some()))
        .collect();
    assert_eq!(
        summary,
        vec![("cirq-core", "1.4.0", false), ("pytket", "1.30.0", false)]
    );
}
