//! The scanner against realistic files on disk: what each kind of file looks like when the
//! provider's own tools write it, negatives, the walk's refusals, and the importer's rewrite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use super::*;
use crate::secret::Provider;

// Clearly fake but well-formed values.
const IBM_KEY: &str = "Qw4rd3nT3stK3y_0123456789-abcdefGHIJKLmnopQR";
const IBM_KEY2: &str = "Zz9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF_e-DcBa98765";
const IONQ_KEY: &str = "Qw4rd3nIonQT3stK3y0123456789abcd";
/// AWS's documented example key id and secret.
const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// Another of AWS's documented example secrets.
const AWS_SECRET2: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const AWS_TEMP_ID: &str = "ASIAIOSFODNN7EXAMPLE";
const QNX_REFRESH: &str = "qnx-refresh.Qw4rd3nT3stRefreshT0ken.0123456789";
const QNX_ACCESS: &str =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJxd2FyZGVuLXRlc3QifQ.c2lnbmF0dXJlLW5vdC1yZWFs";

fn ibm_legacy() -> String {
    "0a1b2c3d4e5f6789".repeat(8)
}

fn aws_session() -> String {
    "IQoJb3JpZ2luX2VjEFAaCXVzLWVhc3QtMSJHMEUCIQDqwarden+test/".repeat(6)
}

fn write(dir: &Path, rel: &str, content: &str) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, content).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    p
}

fn scan_one(path: &Path) -> Vec<Finding> {
    let report = scan_paths(&[path.to_path_buf()], &ScanOptions::default()).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    report.findings
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The line (from 1) of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let at = text.find(needle).unwrap();
    u32::try_from(text[..at].matches('\n').count() + 1).unwrap()
}

/// Every finding's preview shows at most 6 characters of the value, and neither `Debug` nor
/// JSON shows the value.
fn check_redaction(findings: &[Finding]) {
    for f in findings {
        let value = f.secret().expose().to_owned();
        let shown: Vec<char> = f.preview.chars().filter(|c| *c != '…').collect();
        assert!(shown.len() <= 6, "{}", f.preview);
        if value.chars().count() >= 16 {
            let head: String = value.chars().take(4).collect();
            let tail: String = value.chars().skip(value.chars().count() - 2).collect();
            assert_eq!(f.preview, format!("{head}…{tail}"));
        } else {
            assert_eq!(f.preview, "…");
        }
        assert!(!format!("{f:?}").contains(&value));
        assert!(!format!("{f}").contains(&value));
        assert!(!serde_json::to_string(f).unwrap().contains(&value));
    }
}

/// `~/.qiskit/qiskit-ibm.json` as qiskit-ibm-runtime 0.51 writes it: `json.dump(…,
/// sort_keys=True, indent=4)` of `Account.to_saved_format()`, one object per named account.
fn qiskit_ibm_json() -> String {
    format!(
        r#"{{
    "default-ibm-quantum-platform": {{
        "channel": "ibm_quantum_platform",
        "instance": "crn:v1:bluemix:public:quantum-computing:us-east:a/0123456789abcdef0123456789abcdef:01234567-89ab-cdef-0123-456789abcdef::",
        "is_default_account": true,
        "private_endpoint": false,
        "token": "{IBM_KEY}",
        "url": "https://cloud.ibm.com",
        "verify": true
    }},
    "legacy": {{
        "channel": "ibm_quantum",
        "token": "{}",
        "url": "https://auth.quantum-computing.ibm.com/api",
        "verify": true
    }},
    "staging": {{
        "channel": "ibm_cloud",
        "instance": "crn:v1:bluemix:public:quantum-computing:us-east:a/fedcba9876543210fedcba9876543210:76543210-89ab-cdef-0123-456789abcdef::",
        "private_endpoint": false,
        "token": "{IBM_KEY2}",
        "url": "https://cloud.ibm.com",
        "verify": true
    }}
}}"#,
        ibm_legacy()
    )
}

#[test]
fn qiskit_ibm_json_accounts() {
    let home = tempfile::tempdir().unwrap();
    let text = qiskit_ibm_json();
    let path = write(home.path(), ".qiskit/qiskit-ibm.json", &text);
    let found = scan_one(&path);
    check_redaction(&found);
    let got: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.kind,
                f.account.clone().unwrap(),
                f.secret().expose().to_owned(),
                f.line,
                f.suggested_name(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                FindingKind::IbmCloudApiKey,
                "default-ibm-quantum-platform".to_owned(),
                IBM_KEY.to_owned(),
                line_of(&text, IBM_KEY),
                "ibm".to_owned()
            ),
            (
                FindingKind::IbmQuantumToken,
                "legacy".to_owned(),
                ibm_legacy(),
                line_of(&text, &ibm_legacy()),
                "ibm-quantum-token-legacy".to_owned()
            ),
            (
                FindingKind::IbmCloudApiKey,
                "staging".to_owned(),
                IBM_KEY2.to_owned(),
                line_of(&text, IBM_KEY2),
                "ibm-staging".to_owned()
            ),
        ]
    );
    let f = &found[0];
    assert_eq!(
        f.path.as_deref(),
        Some(fs::canonicalize(&path).unwrap().as_path())
    );
    assert_eq!(f.column, 19);
    assert_eq!(f.key.as_deref(), Some("token"));
    assert_eq!(f.provider, Provider::Ibm);
    assert_eq!(&text[f.span.clone()], IBM_KEY);
}

#[test]
fn qiskitrc_legacy_token() {
    let home = tempfile::tempdir().unwrap();
    let text = format!(
        "[ibmq]\ntoken = {}\nurl = https://auth.quantum-computing.ibm.com/api\nverify = True\ndefault_provider = ibm-q/open/main\n",
        ibm_legacy()
    );
    let path = write(home.path(), ".qiskit/qiskitrc", &text);
    let found = scan_one(&path);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, FindingKind::IbmQuantumToken);
    assert_eq!((found[0].line, found[0].column), (2, 9));
    assert_eq!(found[0].suggested_name(), "ibm-quantum-token");
}

#[test]
fn aws_shared_files_with_profiles() {
    let home = tempfile::tempdir().unwrap();
    let creds = format!(
        "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n\n\
         [dev]\naws_access_key_id = {AWS_TEMP_ID}\naws_secret_access_key = {AWS_SECRET}\naws_session_token = {}\n\n\
         [readonly]\n# keys moved to the vault\naws_access_key_id = qwarden-vault:aws-readonly-access-key-id\n",
        aws_session()
    );
    let config = format!(
        "[default]\nregion = us-east-1\noutput = json\n\n[profile braket]\nregion = us-west-1\n\
         aws_access_key_id={AWS_ID}\naws_secret_access_key={AWS_SECRET}\n\n[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\n"
    );
    write(home.path(), ".aws/credentials", &creds);
    write(home.path(), ".aws/config", &config);
    let report = scan_paths(&[home.path().join(".aws")], &ScanOptions::default()).unwrap();
    assert_eq!(report.scanned_files, 2);
    check_redaction(&report.findings);
    let got: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.path
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
                f.kind,
                f.account.clone().unwrap(),
                f.suggested_name(),
            )
        })
        .collect();
    use FindingKind as K;
    let row = |file: &str, k, a: &str, n: &str| (file.to_owned(), k, a.to_owned(), n.to_owned());
    assert_eq!(
        got,
        vec![
            row(
                "config",
                K::AwsAccessKeyId,
                "braket",
                "aws-braket-access-key-id"
            ),
            row(
                "config",
                K::AwsSecretAccessKey,
                "braket",
                "aws-braket-secret-access-key"
            ),
            row(
                "credentials",
                K::AwsAccessKeyId,
                "default",
                "aws-access-key-id"
            ),
            row(
                "credentials",
                K::AwsSecretAccessKey,
                "default",
                "aws-secret-access-key"
            ),
            row(
                "credentials",
                K::AwsAccessKeyId,
                "dev",
                "aws-dev-access-key-id"
            ),
            row(
                "credentials",
                K::AwsSecretAccessKey,
                "dev",
                "aws-dev-secret-access-key"
            ),
            row(
                "credentials",
                K::AwsSessionToken,
                "dev",
                "aws-dev-session-token"
            ),
        ]
    );
}

#[test]
fn nexus_token_files() {
    let home = tempfile::tempdir().unwrap();
    // What qnexus writes with pydantic's `model_dump_json()`.
    write(
        home.path(),
        ".qnx/auth/token.json",
        &format!(r#"{{"data":{{"delete_version_after":null,"refresh_token":"{QNX_REFRESH}"}}}}"#),
    );
    write(
        home.path(),
        ".qnx/auth/id.json",
        &format!(r#"{{"data":{{"access_token":"{QNX_ACCESS}"}}}}"#),
    );
    let report = scan_paths(&[home.path().join(".qnx/auth")], &ScanOptions::default()).unwrap();
    check_redaction(&report.findings);
    let got: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.kind, f.secret().expose().to_owned(), f.suggested_name()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                FindingKind::QuantinuumAccessToken,
                QNX_ACCESS.to_owned(),
                "quantinuum-access-token".to_owned()
            ),
            (
                FindingKind::QuantinuumRefreshToken,
                QNX_REFRESH.to_owned(),
                "quantinuum-refresh-token".to_owned()
            ),
        ]
    );
}

#[test]
fn dotenv_and_shell_files() {
    let dir = tempfile::tempdir().unwrap();
    let env = format!(
        "# local secrets, do not commit\nIONQ_API_KEY={IONQ_KEY}\nQISKIT_IBM_TOKEN=\"{IBM_KEY}\"\nQISKIT_IBM_URL=https://quantum.cloud.ibm.com\n\
         export AWS_ACCESS_KEY_ID={AWS_ID}\nAWS_SECRET_ACCESS_KEY='{AWS_SECRET}'\nQNX_REFRESH_TOKEN={QNX_REFRESH}\nQUANTINUUM_USER=someone@example.com\n"
    );
    let path = write(dir.path(), "project/.env", &env);
    let found = scan_one(&path);
    check_redaction(&found);
    let got: Vec<_> = found
        .iter()
        .map(|f| (f.kind, f.key.clone().unwrap(), f.line))
        .collect();
    use FindingKind as K;
    assert_eq!(
        got,
        vec![
            (K::IonqApiKey, "IONQ_API_KEY".to_owned(), 2),
            (K::IbmCloudApiKey, "QISKIT_IBM_TOKEN".to_owned(), 3),
            (K::AwsAccessKeyId, "AWS_ACCESS_KEY_ID".to_owned(), 5),
            (K::AwsSecretAccessKey, "AWS_SECRET_ACCESS_KEY".to_owned(), 6),
            (K::QuantinuumRefreshToken, "QNX_REFRESH_TOKEN".to_owned(), 7),
        ]
    );
    let sh = format!(
        "#!/bin/sh\nexport IONQ_API_KEY=\"{IONQ_KEY}\"\ncurl -H \"Authorization: apiKey {IONQ_KEY}\" https://api.ionq.co/v0.4/backends\n"
    );
    let path = write(dir.path(), "project/run.sh", &sh);
    let found = scan_one(&path);
    assert_eq!(
        found.iter().map(|f| (f.kind, f.line)).collect::<Vec<_>>(),
        vec![(K::IonqApiKey, 2), (K::IonqApiKey, 3)]
    );
}

/// A script the way IBM's documentation shows saving an account.
fn save_account_script() -> String {
    format!(
        r#""""Save my IBM Quantum account once."""
from qiskit_ibm_runtime import QiskitRuntimeService

QiskitRuntimeService.save_account(
    channel="ibm_quantum_platform",
    token="{IBM_KEY}",
    instance="crn:v1:bluemix:public:quantum-computing:us-east:a/0123456789abcdef0123456789abcdef:01234567-89ab-cdef-0123-456789abcdef::",
    set_as_default=True,
    overwrite=True,
)

from qiskit_ionq import IonQProvider
provider = IonQProvider("{IONQ_KEY}")
"#
    )
}

#[test]
fn script_with_save_account() {
    let dir = tempfile::tempdir().unwrap();
    let text = save_account_script();
    let path = write(dir.path(), "save.py", &text);
    let found = scan_one(&path);
    check_redaction(&found);
    let got: Vec<_> = found
        .iter()
        .map(|f| (f.kind, f.line, f.column, f.key.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (FindingKind::IbmCloudApiKey, 6, 12, Some("token".to_owned())),
            (FindingKind::IonqApiKey, 13, 26, None),
        ]
    );
}

/// A notebook as Jupyter writes it (nbformat 4.5, one-space indent), with a token pasted in a
/// code cell and an IonQ key printed in an output.
fn notebook_text() -> String {
    let nb = serde_json::json!({
        "cells": [
            {
                "cell_type": "markdown",
                "id": "3f1c2a",
                "metadata": {},
                "source": ["# Bell state on IBM hardware\n", "Set `QISKIT_IBM_TOKEN` before running this.\n"]
            },
            {
                "cell_type": "code",
                "execution_count": 2,
                "id": "9b8e7d",
                "metadata": {},
                "outputs": [
                    {"name": "stdout", "output_type": "stream", "text": [format!("IONQ_API_KEY={IONQ_KEY}\n")]},
                    {"data": {"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkAKIUAAAABgAB"}, "metadata": {}, "output_type": "display_data"}
                ],
                "source": [
                    "from qiskit_ibm_runtime import QiskitRuntimeService\n",
                    "\n",
                    format!("service = QiskitRuntimeService(channel=\"ibm_quantum_platform\", token=\"{IBM_KEY}\")\n"),
                    "!env | grep IONQ"
                ]
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.12.3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5
    });
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&nb, &mut ser).unwrap();
    String::from_utf8(out).unwrap() + "\n"
}

#[test]
fn notebook_cells_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let text = notebook_text();
    let path = write(dir.path(), "bell.ipynb", &text);
    let found = scan_one(&path);
    check_redaction(&found);
    let got: Vec<_> = found
        .iter()
        .map(|f| (f.kind, f.line, f.cell.unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                FindingKind::IonqApiKey,
                line_of(&text, IONQ_KEY),
                CellLocation {
                    cell: 2,
                    line: 1,
                    output: true
                }
            ),
            (
                FindingKind::IbmCloudApiKey,
                line_of(&text, IBM_KEY),
                CellLocation {
                    cell: 2,
                    line: 3,
                    output: false
                }
            ),
        ]
    );
    assert!(format!("{}", found[1]).contains("(cell 2, line 3)"));
}

#[test]
fn negatives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 44 characters that are not in a credential context, in a file that mentions no provider.
    write(
        d,
        "notes.py",
        &format!("checksum = \"{IBM_KEY}\"\nVALUES = [\"{IBM_KEY}\"]\ntoken = \"{IBM_KEY}\"\n"),
    );
    write(
        d,
        "data.json",
        &format!("{{\"sha\": \"{IBM_KEY}\", \"items\": [\"{IBM_KEY}\"]}}"),
    );
    // Placeholders.
    write(
        d,
        ".env.example",
        "IONQ_API_KEY=<your-ionq-api-key>\nQISKIT_IBM_TOKEN=\nIBM_CLOUD_API_KEY=${IBM_CLOUD_API_KEY}\n\
         AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\nAWS_SECRET_ACCESS_KEY=YOUR_SECRET_ACCESS_KEY\nIONQ_API_KEY=qwarden-vault:ionq\n\
         IONQ_API_KEY=qwh_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5\n",
    );
    write(
        d,
        "ci.yml",
        "env:\n  QISKIT_IBM_TOKEN: ${{ secrets.QISKIT_IBM_TOKEN }}\n  IONQ_API_KEY: \"{{ ionq_key }}\"\n",
    );
    write(
        d,
        "tpl.py",
        "from qiskit_ibm_runtime import QiskitRuntimeService\nQiskitRuntimeService.save_account(token=\"<your-api-key>\")\nQiskitRuntimeService.save_account(token=os.environ[\"QISKIT_IBM_TOKEN\"])\n",
    );
    let report = scan_paths(&[d.to_path_buf()], &ScanOptions::default()).unwrap();
    assert_eq!(report.scanned_files, 5);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn the_walk_skips_what_it_must_not_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret_env = write(
        outside.path(),
        "secret.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\n"),
    );
    write(
        outside.path(),
        "dir/.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = fs::canonicalize(dir.path()).unwrap();
    symlink(&secret_env, d.join("linked.env")).unwrap();
    symlink(outside.path().join("dir"), d.join("linked-dir")).unwrap();
    symlink(d.join("missing.env"), d.join("dangling.env")).unwrap();
    let inside = write(&d, "real.env", &format!("IONQ_API_KEY={IONQ_KEY}\n"));
    symlink(&inside, d.join("alias.env")).unwrap();
    write(
        &d,
        "node_modules/pkg/.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\n"),
    );
    write(
        &d,
        ".git/config.json",
        &format!("{{\"IONQ_API_KEY\": \"{IONQ_KEY}\"}}"),
    );
    write(&d, "env/pyvenv.cfg", "home = /usr/bin\n");
    write(
        &d,
        "env/lib/settings.py",
        &format!("IONQ_API_KEY = \"{IONQ_KEY}\"\n"),
    );
    fs::write(d.join("blob.json"), format!("\0\0\0{AWS_ID}")).unwrap();
    write(
        &d,
        "big.py",
        &format!("IONQ_API_KEY = \"{IONQ_KEY}\"\n{}", "#".repeat(2048)),
    );
    let opts = ScanOptions {
        max_file_size: 1024,
        ..ScanOptions::default()
    };
    let report = scan_paths(std::slice::from_ref(&d), &opts).unwrap();
    // Only the real file inside the tree is read.
    assert_eq!(report.scanned_files, 1);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].path.as_deref(), Some(inside.as_path()));
    let mut skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_str().unwrap().to_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    let outside_real = fs::canonicalize(outside.path()).unwrap();
    assert_eq!(
        skipped,
        vec![
            (
                ".git".to_owned(),
                SkipReason::Excluded {
                    what: "version control metadata"
                }
            ),
            (
                "alias.env".to_owned(),
                SkipReason::SymlinkInside {
                    target: inside.clone()
                }
            ),
            (
                "big.py".to_owned(),
                SkipReason::TooLarge {
                    size: 2098,
                    limit: 1024
                }
            ),
            ("blob.json".to_owned(), SkipReason::Binary),
            ("dangling.env".to_owned(), SkipReason::DanglingSymlink),
            (
                "env".to_owned(),
                SkipReason::Excluded {
                    what: "Python virtual environment"
                }
            ),
            (
                "linked-dir".to_owned(),
                SkipReason::SymlinkOutside {
                    target: outside_real.join("dir")
                }
            ),
            (
                "linked.env".to_owned(),
                SkipReason::SymlinkOutside {
                    target: outside_real.join("secret.env")
                }
            ),
            (
                "node_modules".to_owned(),
                SkipReason::Excluded {
                    what: "JavaScript dependencies"
                }
            ),
        ]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["skipped"][0]["reason"], "excluded");
    // A link named on the command line is followed: the human chose it.
    let report = scan_paths(&[d.join("linked.env")], &ScanOptions::default()).unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        report.findings[0].path.as_deref(),
        Some(fs::canonicalize(&secret_env).unwrap().as_path())
    );
}

#[test]
fn a_missing_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = scan_paths(&[dir.path().join("nope")], &ScanOptions::default()).unwrap_err();
    assert!(matches!(err, ScanError::Root { .. }));
    assert!(err.to_string().contains("check that the path exists"));
}

#[test]
fn a_file_reached_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        ".aws/credentials",
        &format!("[default]\naws_secret_access_key = {AWS_SECRET}\n"),
    );
    let report = scan_paths(&[dir.path().to_path_buf(), p], &ScanOptions::default()).unwrap();
    assert_eq!((report.scanned_files, report.findings.len()), (1, 1));
}

#[test]
fn report_json_holds_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, ".qiskit/qiskit-ibm.json", &qiskit_ibm_json());
    write(d, "bell.ipynb", &notebook_text());
    write(d, "save.py", &save_account_script());
    write(
        d,
        ".aws/credentials",
        &format!(
            "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\naws_session_token = {}\n",
            aws_session()
        ),
    );
    let report = scan_paths(&[d.to_path_buf()], &ScanOptions::default()).unwrap();
    assert_eq!(report.findings.len(), 10, "{:#?}", report.findings);
    check_redaction(&report.findings);
    let json = serde_json::to_string_pretty(&report).unwrap();
    for v in [
        IBM_KEY,
        IBM_KEY2,
        IONQ_KEY,
        AWS_ID,
        AWS_SECRET,
        &ibm_legacy(),
        &aws_session(),
    ] {
        assert!(!json.contains(v), "{json}");
    }
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = &parsed["findings"][0];
    for field in [
        "path", "line", "column", "provider", "kind", "preview", "span", "key",
    ] {
        assert!(!first[field].is_null(), "{field}: {first}");
    }
    assert_eq!(parsed["scanned_files"], 4);
}

#[test]
fn environment() {
    let vars: Vec<(String, String)> = [
        ("QISKIT_IBM_TOKEN", IBM_KEY),
        (
            "IONQ_API_KEY",
            "qwh_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
        ),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("SOME_ID", AWS_ID),
        ("QNX_ACCESS_TOKEN", QNX_ACCESS),
        ("GITHUB_TOKEN", IBM_KEY2),
        ("IBM_CLOUD_API_KEY", ""),
        ("PATH", "/usr/bin:/bin"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let found = scan_environment(&vars);
    check_redaction(&found);
    let got: Vec<_> = found
        .iter()
        .map(|f| (f.key.clone().unwrap(), f.kind, f.is_environment(), f.line))
        .collect();
    use FindingKind as K;
    assert_eq!(
        got,
        vec![
            ("QISKIT_IBM_TOKEN".to_owned(), K::IbmCloudApiKey, true, 0),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                K::AwsSecretAccessKey,
                true,
                0
            ),
            ("SOME_ID".to_owned(), K::AwsAccessKeyId, true, 0),
            (
                "QNX_ACCESS_TOKEN".to_owned(),
                K::QuantinuumAccessToken,
                true,
                0
            ),
        ]
    );
    assert_eq!(
        format!("{}", found[0]),
        "environment: IBM Cloud API key Qw4r…QR (QISKIT_IBM_TOKEN)"
    );
    let err = rewrite(&found[0], "qwarden-vault:ibm").unwrap_err();
    assert!(matches!(err, ScanError::NotAFile { .. }), "{err}");
}

#[test]
fn default_paths_are_the_ones_that_exist() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert!(default_paths(h).is_empty());
    write(h, ".qiskit/qiskit-ibm.json", "{}");
    write(h, ".aws/credentials", "");
    write(h, ".qnx/auth/token.json", "{}");
    write(h, ".bashrc", "");
    assert_eq!(
        default_paths(h),
        vec![
            h.join(".qiskit/qiskit-ibm.json"),
            h.join(".aws/credentials"),
            h.join(".qnx/auth"),
            h.join(".bashrc")
        ]
    );
}

#[test]
fn names_are_unique_per_import() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a/.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\nQISKIT_IBM_TOKEN={IBM_KEY}\n"),
    );
    let b = write(
        dir.path(),
        "b/.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\nQISKIT_IBM_TOKEN={IBM_KEY2}\n"),
    );
    let mut found = scan_one(&a);
    found.extend(scan_one(&b));
    let names = assign_names(&found, |n| n == "ibm");
    assert_eq!(names, vec!["ionq", "ibm-2", "ionq", "ibm-3"]);
    assert_eq!(placeholder("ibm-2"), "qwarden-vault:ibm-2");
}

#[test]
fn rewrite_qiskit_json_round_trips() {
    let home = tempfile::tempdir().unwrap();
    let path = write(home.path(), ".qiskit/qiskit-ibm.json", &qiskit_ibm_json());
    let found = scan_one(&path);
    let names = assign_names(&found, |_| false);
    let edits: Vec<(&Finding, String)> = found
        .iter()
        .zip(&names)
        .map(|(f, n)| (f, placeholder(n)))
        .collect();
    let edits: Vec<(&Finding, &str)> = edits.iter().map(|(f, p)| (*f, p.as_str())).collect();
    let results = rewrite_many(&edits);
    assert_eq!(results.len(), 1);
    let done = results.into_iter().next().unwrap().result.unwrap();
    assert_eq!(done.len(), 3);
    let text = fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["default-ibm-quantum-platform"]["token"],
        "qwarden-vault:ibm"
    );
    assert_eq!(
        doc["legacy"]["token"],
        "qwarden-vault:ibm-quantum-token-legacy"
    );
    assert_eq!(doc["staging"]["token"], "qwarden-vault:ibm-staging");
    assert_eq!(
        doc["staging"]["instance"],
        serde_json::from_str::<serde_json::Value>(&qiskit_ibm_json()).unwrap()["staging"]["instance"]
    );
    for r in &done {
        assert_eq!(&text[r.placeholder_span.clone()], doc_token(&doc, r));
        assert_eq!((r.previous_mode, r.mode), (0o644, 0o600));
    }
    assert!(!text.contains(IBM_KEY) && !text.contains(IBM_KEY2) && !text.contains(&ibm_legacy()));
    assert_eq!(mode(&path), 0o600);
    // Rescanning finds nothing: the placeholders are not credentials.
    assert!(scan_one(&path).is_empty());
    no_temp_files(path.parent().unwrap());
}

fn doc_token<'a>(doc: &'a serde_json::Value, r: &Rewritten) -> &'a str {
    ["default-ibm-quantum-platform", "legacy", "staging"]
        .iter()
        .map(|a| doc[a]["token"].as_str().unwrap())
        .find(|t| t.len() == r.placeholder_span.len())
        .unwrap()
}

fn no_temp_files(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name();
        assert!(
            !name.to_string_lossy().contains(".qwarden-"),
            "{name:?} left behind"
        );
    }
}

#[test]
fn rewrite_ini_keeps_the_rest() {
    let home = tempfile::tempdir().unwrap();
    let text = format!(
        "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\nregion = eu-west-1\n\n[dev]\naws_secret_access_key={AWS_SECRET2}\n"
    );
    let path = write(home.path(), ".aws/credentials", &text);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
    let found = scan_one(&path);
    assert_eq!(found.len(), 3);
    let names = assign_names(&found, |_| false);
    assert_eq!(
        names,
        vec![
            "aws-access-key-id",
            "aws-secret-access-key",
            "aws-dev-secret-access-key"
        ]
    );
    let ph: Vec<String> = names.iter().map(|n| placeholder(n)).collect();
    let edits: Vec<(&Finding, &str)> = found
        .iter()
        .zip(&ph)
        .map(|(f, p)| (f, p.as_str()))
        .collect();
    let results = rewrite_many(&edits);
    assert!(results[0].result.is_ok());
    let after = fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        "[default]\naws_access_key_id = qwarden-vault:aws-access-key-id\naws_secret_access_key = qwarden-vault:aws-secret-access-key\n\
         region = eu-west-1\n\n[dev]\naws_secret_access_key=qwarden-vault:aws-dev-secret-access-key\n"
    );
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn rewrite_notebook_keeps_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bell.ipynb", &notebook_text());
    for f in scan_one(&path) {
        // One at a time: each rewrite needs a fresh scan of the file.
        let current = scan_one(&path)
            .into_iter()
            .find(|g| g.kind == f.kind)
            .unwrap();
        let r = rewrite(&current, &placeholder(&current.suggested_name())).unwrap();
        assert_eq!(r.span, current.span);
    }
    let text = fs::read_to_string(&path).unwrap();
    let nb: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        nb["cells"][1]["source"][2],
        "service = QiskitRuntimeService(channel=\"ibm_quantum_platform\", token=\"qwarden-vault:ibm\")\n"
    );
    assert_eq!(
        nb["cells"][1]["outputs"][0]["text"][0],
        "IONQ_API_KEY=qwarden-vault:ionq\n"
    );
    assert!(!text.contains(IBM_KEY) && !text.contains(IONQ_KEY));
}

#[test]
fn rewrite_script_and_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "save.py", &save_account_script());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let found = scan_one(&path);
    let edits: Vec<(&Finding, String)> = found
        .iter()
        .map(|f| (f, placeholder(&f.suggested_name())))
        .collect();
    let edits: Vec<(&Finding, &str)> = edits.iter().map(|(f, p)| (*f, p.as_str())).collect();
    rewrite_many(&edits).pop().unwrap().result.unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("    token=\"qwarden-vault:ibm\",\n"));
    assert!(text.contains("IonQProvider(\"qwarden-vault:ionq\")"));
    // The owner keeps the execute bit; group and others lose everything.
    assert_eq!(mode(&path), 0o700);
}

#[test]
fn rewrite_refuses_a_changed_file_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), ".env", &format!("IONQ_API_KEY={IONQ_KEY}\n"));
    let found = scan_one(&path);
    let changed = format!("IONQ_API_KEY={IONQ_KEY}\nOTHER=1\n");
    fs::write(&path, &changed).unwrap();
    let err = rewrite(&found[0], "qwarden-vault:ionq").unwrap_err();
    assert!(matches!(err, ScanError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("scan again"));
    assert_eq!(fs::read_to_string(&path).unwrap(), changed);
    assert_eq!(mode(&path), 0o644);
    no_temp_files(dir.path());
}

#[test]
fn rewrite_errors_leave_the_original_intact() {
    let dir = tempfile::tempdir().unwrap();
    let original = format!("IONQ_API_KEY={IONQ_KEY}\n");
    let path = write(dir.path(), ".env", &original);
    let found = scan_one(&path);
    let intact = || {
        assert_eq!(fs::read_to_string(&path).unwrap(), original);
        assert_eq!(mode(&path), 0o644);
        no_temp_files(dir.path());
    };

    // A failure after the temporary file is written, before it replaces the original.
    super::import::tests::inject_failure_before_rename();
    let err = rewrite(&found[0], "qwarden-vault:ionq").unwrap_err();
    assert!(matches!(err, ScanError::Io { .. }), "{err}");
    assert!(err.to_string().contains("left as it was"));
    intact();

    // A placeholder that could break the file's syntax.
    for bad in ["", "a b", "x\"y", "$(rm -rf ~)", &"x".repeat(300)] {
        let err = rewrite(&found[0], bad).unwrap_err();
        assert!(matches!(err, ScanError::BadPlaceholder { .. }), "{err}");
        intact();
    }

    // A finding whose span no longer points at its value.
    let mut moved = found[0].clone();
    moved.span = 0..IONQ_KEY.len();
    let err = rewrite(&moved, "qwarden-vault:ionq").unwrap_err();
    assert!(matches!(err, ScanError::SpanMismatch { .. }), "{err}");
    moved.span = 10_000..10_040;
    assert!(matches!(
        rewrite(&moved, "qwarden-vault:ionq").unwrap_err(),
        ScanError::SpanMismatch { .. }
    ));
    intact();

    // A finding pointed at another file.
    let mut elsewhere = found[0].clone();
    let other = write(
        dir.path(),
        "other.env",
        &format!("IONQ_API_KEY={IONQ_KEY}\nMORE=1\n"),
    );
    elsewhere.path = Some(other.clone());
    assert!(matches!(
        rewrite(&elsewhere, "qwarden-vault:ionq").unwrap_err(),
        ScanError::Changed { .. }
    ));
    fs::remove_file(&other).unwrap();
    intact();

    // A file with a second name.
    fs::hard_link(&path, dir.path().join("backup.env")).unwrap();
    let err = rewrite(&found[0], "qwarden-vault:ionq").unwrap_err();
    assert!(
        matches!(err, ScanError::HardLinks { links: 2, .. }),
        "{err}"
    );
    fs::remove_file(dir.path().join("backup.env")).unwrap();
    intact();

    // A file replaced by a link.
    let real = dir.path().join("real.env");
    fs::rename(&path, &real).unwrap();
    symlink(&real, &path).unwrap();
    let err = rewrite(&found[0], "qwarden-vault:ionq").unwrap_err();
    assert!(matches!(err, ScanError::Symlink { .. }), "{err}");
    assert_eq!(fs::read_to_string(&real).unwrap(), original);
    fs::remove_file(&path).unwrap();
    fs::rename(&real, &path).unwrap();

    // After all that, the rewrite still works.
    rewrite(&found[0], "qwarden-vault:ionq").unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "IONQ_API_KEY=qwarden-vault:ionq\n"
    );
}

#[test]
fn one_rewrite_per_scan_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        ".env",
        &format!("IONQ_API_KEY={IONQ_KEY}\nQISKIT_IBM_TOKEN={IBM_KEY}\n"),
    );
    let found = scan_one(&path);
    rewrite(&found[0], "qwarden-vault:ionq").unwrap();
    // The file changed, so the second finding of the same scan is refused (use rewrite_many).
    assert!(matches!(
        rewrite(&found[1], "qwarden-vault:ibm").unwrap_err(),
        ScanError::Changed { .. }
    ));
}

#[test]
fn rewrite_content_in_memory() {
    let text = format!(
        "{{\"IONQ_API_KEY\": \"{IONQ_KEY}\", \"cmd\": \"curl -H 'Authorization: apiKey {IONQ_KEY}'\"}}"
    );
    let found = scan_content(FileKind::Json, Path::new("x.json"), text.as_bytes());
    assert_eq!(found.len(), 2);
    let edits: Vec<(&Finding, &str)> = found.iter().map(|f| (f, "qwarden-vault:ionq")).collect();
    let out = rewrite_content(text.as_bytes(), &edits).unwrap();
    assert_eq!(
        String::from_utf8(out.to_vec()).unwrap(),
        "{\"IONQ_API_KEY\": \"qwarden-vault:ionq\", \"cmd\": \"curl -H 'Authorization: apiKey qwarden-vault:ionq'\"}"
    );
    // Findings from another content are refused.
    assert!(matches!(
        rewrite_content(b"{}", &edits).unwrap_err(),
        ScanError::Changed { .. }
    ));
}

#[test]
fn escaped_values_in_json_are_found_and_replaced() {
    // JSON may escape `/` (and any character); the value is decoded, the escapes replaced whole.
    let escaped = AWS_SECRET.replace('/', "\\/");
    let text = format!("{{\"aws_secret_access_key\": \"{escaped}\", \"n\": 1}}");
    let found = scan_content(FileKind::Json, Path::new("c.json"), text.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].secret().expose(), AWS_SECRET);
    assert_eq!(&text[found[0].span.clone()], escaped);
    let out = rewrite_content(text.as_bytes(), &[(&found[0], "qwarden-vault:aws")]).unwrap();
    assert_eq!(
        out.as_slice(),
        b"{\"aws_secret_access_key\": \"qwarden-vault:aws\", \"n\": 1}"
    );
}

#[test]
fn broken_json_is_scanned_as_text() {
    let text = format!(
        "{{\n    \"default\": {{\n        \"channel\": \"ibm_quantum_platform\",\n        \"token\": \"{IBM_KEY}\",\n"
    );
    let found = scan_content(
        FileKind::QiskitAccounts,
        Path::new("qiskit-ibm.json"),
        text.as_bytes(),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].kind, found[0].line),
        (FindingKind::IbmCloudApiKey, 4)
    );
}

#[test]
fn permissions() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let f = write(h, ".aws/credentials", "[default]\n");
    fs::set_permissions(h.join(".aws"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(credential_dirs(h), vec![h.join(".aws")]);
    let change = fix_permissions(&f).unwrap().unwrap();
    assert_eq!((change.before, change.after), (0o644, 0o600));
    assert_eq!(mode(&f), 0o600);
    assert_eq!(fix_permissions(&f).unwrap(), None);
    let change = fix_permissions(&h.join(".aws")).unwrap().unwrap();
    assert_eq!((change.before, change.after), (0o755, 0o700));
    let script = write(h, "run.sh", "");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o775)).unwrap();
    assert_eq!(fix_permissions(&script).unwrap().unwrap().after, 0o700);
    symlink(&f, h.join("link")).unwrap();
    assert!(matches!(
        fix_permissions(&h.join("link")).unwrap_err(),
        ScanError::Symlink { .. }
    ));
}

#[test]
fn rotation_advice_names_the_provider_page() {
    assert!(rotation_advice(Provider::Ibm).contains("https://cloud.ibm.com/iam/apikeys"));
    assert!(rotation_advice(Provider::Ionq).contains("https://cloud.ionq.com/settings/keys"));
    assert!(rotation_advice(Provider::Aws).contains("IAM"));
    assert!(rotation_advice(Provider::Quantinuum).contains("nexus.quantinuum.com"));
}

#[test]
fn file_kinds_by_name() {
    let k = |p: &str| FileKind::for_path(Path::new(p));
    assert_eq!(
        k("/h/.qiskit/qiskit-ibm.json"),
        Some(FileKind::QiskitAccounts)
    );
    assert_eq!(k("/h/.qiskit/qiskitrc"), Some(FileKind::Qiskitrc));
    assert_eq!(k("/h/.aws/credentials"), Some(FileKind::AwsShared));
    assert_eq!(k("/h/.aws/config"), Some(FileKind::AwsShared));
    assert_eq!(k("/h/project/config"), None);
    assert_eq!(k("/h/.qnx/auth/token.json"), Some(FileKind::NexusAuth));
    assert_eq!(k("/h/auth/token.json"), Some(FileKind::Json));
    assert_eq!(k("/p/.env"), Some(FileKind::DotEnv));
    assert_eq!(k("/p/.env.local"), Some(FileKind::DotEnv));
    assert_eq!(k("/p/prod.env"), Some(FileKind::DotEnv));
    assert_eq!(k("/p/a.ipynb"), Some(FileKind::Notebook));
    assert_eq!(k("/p/a.py"), Some(FileKind::Python));
    assert_eq!(k("/p/a.sh"), Some(FileKind::Shell));
    assert_eq!(k("/h/.bashrc"), Some(FileKind::Shell));
    assert_eq!(k("/p/a.toml"), Some(FileKind::Toml));
    assert_eq!(k("/p/a.YML"), Some(FileKind::Yaml));
    assert_eq!(k("/p/a.json"), Some(FileKind::Json));
    assert_eq!(k("/p/setup.cfg"), Some(FileKind::Ini));
    assert_eq!(k("/p/a.png"), None);
    assert_eq!(k("/p/README.md"), None);
}

#[test]
fn toml_and_yaml() {
    let toml = format!(
        "[tool.quantum]\nbackend = \"ibm_brisbane\"\n\n[ibm]\n# qiskit account\ntoken = \"{IBM_KEY}\"\n\n[ionq]\nIONQ_API_KEY = \"{IONQ_KEY}\"\nbare = {IONQ_KEY}\n"
    );
    let found = scan_content(FileKind::Toml, Path::new("q.toml"), toml.as_bytes());
    assert_eq!(
        found.iter().map(|f| (f.kind, f.line)).collect::<Vec<_>>(),
        vec![
            (FindingKind::IbmCloudApiKey, 6),
            (FindingKind::IonqApiKey, 9)
        ]
    );
    let yaml = format!(
        "services:\n  runner:\n    environment:\n      - IONQ_API_KEY={IONQ_KEY}\n      AWS_SECRET_ACCESS_KEY: \"{AWS_SECRET}\"\n"
    );
    let found = scan_content(FileKind::Yaml, Path::new("compose.yaml"), yaml.as_bytes());
    assert_eq!(
        found
            .iter()
            .map(|f| (f.kind, f.line, f.column))
            .collect::<Vec<_>>(),
        vec![
            (FindingKind::IonqApiKey, 4, 22),
            (FindingKind::AwsSecretAccessKey, 5, 31)
        ]
    );
}
