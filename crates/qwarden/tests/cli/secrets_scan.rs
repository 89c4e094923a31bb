//! `qwarden secrets scan|import`: plaintext provider keys in a fake home and project (a saved
//! Qiskit account, `~/.aws/credentials`, a `.env`, a notebook with a pasted token, the
//! environment) are found with their provider, kind and line, never printed, and moved into
//! the vault with a placeholder left behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use qwarden_vault::{Unlock, Vault};

use crate::support::{Env, Run};

/// Clearly fake but well-formed IBM Cloud API keys (44 characters of `[A-Za-z0-9_-]`).
const IBM_KEY: &str = "Qw4rd3nT3stK3y_Rk8vN2pL5x-wYtUbsEhGJKLmnopQR";
const NOTEBOOK_KEY: &str = "Zz9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF_e-DcBa98765";
const ENV_KEY: &str = "Ab1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV_wX-yZ123456";
const IONQ_KEY: &str = "Qw4rd3nIonQT3stK3yHv7Tq2Wz9Mc4Xb";
/// AWS's documented example key id and secret access key.
const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

const FILE_VALUES: [&str; 5] = [IBM_KEY, NOTEBOOK_KEY, IONQ_KEY, AWS_ID, AWS_SECRET];

const PASSPHRASE: &str = "correct horse battery";

/// The fixtures' paths.
struct Files {
    qiskit: PathBuf,
    aws: PathBuf,
    dotenv: PathBuf,
    notebook: PathBuf,
}

impl Files {
    fn all(&self) -> [&Path; 4] {
        [&self.qiskit, &self.aws, &self.dotenv, &self.notebook]
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path.to_path_buf()
}

/// `~/.qiskit/qiskit-ibm.json` as qiskit-ibm-runtime's `QiskitRuntimeService.save_account`
/// writes it (`json.dump(…, sort_keys=True, indent=4)`).
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
    }}
}}
"#
    )
}

/// A notebook as Jupyter writes it (nbformat 4.5, one-space indent) with a token pasted into
/// the second cell's third line.
fn notebook() -> String {
    let nb = serde_json::json!({
        "cells": [
            {
                "cell_type": "markdown",
                "id": "3f1c2a",
                "metadata": {},
                "source": ["# Bell state on IBM hardware\n"]
            },
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "9b8e7d",
                "metadata": {},
                "outputs": [],
                "source": [
                    "from qiskit_ibm_runtime import QiskitRuntimeService\n",
                    "\n",
                    format!("service = QiskitRuntimeService(channel=\"ibm_quantum_platform\", token=\"{NOTEBOOK_KEY}\")\n"),
                    "backend = service.least_busy()"
                ]
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
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

/// Writes the plaintext credentials into the fake home and the project, all mode 0644 in
/// directories 0755.
fn plant(env: &Env) -> Files {
    let files = Files {
        qiskit: write(
            &env.home.join(".qiskit/qiskit-ibm.json"),
            &qiskit_ibm_json(),
        ),
        aws: write(
            &env.home.join(".aws/credentials"),
            &format!(
                "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
            ),
        ),
        dotenv: write(
            &env.project.join(".env"),
            &format!(
                "# local settings\nIONQ_API_URL=https://api.ionq.co/v0.4\nIONQ_API_KEY={IONQ_KEY}\n"
            ),
        ),
        notebook: write(&env.project.join("bell.ipynb"), &notebook()),
    };
    for dir in [env.home.join(".qiskit"), env.home.join(".aws")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    files
}

/// The line (from 1) of the first occurrence of `needle` in `path`.
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let at = text.find(needle).unwrap();
    u64::try_from(text[..at].matches('\n').count() + 1).unwrap()
}

/// Asserts that no piece of 8 characters or more of any of `values` is in `run`'s output.
#[track_caller]
fn assert_output_lacks(run: &Run, values: &[&str]) {
    for value in values {
        for piece in value.as_bytes().windows(8) {
            let piece = std::str::from_utf8(piece).unwrap();
            run.stdout_lacks(piece).stderr_lacks(piece);
        }
    }
}

/// Asserts that no piece of 8 characters or more of any of `values` is in `path`.
#[track_caller]
fn assert_file_lacks(path: &Path, values: &[&str]) {
    let bytes = std::fs::read(path).unwrap();
    for value in values {
        for piece in value.as_bytes().windows(8) {
            assert!(
                !bytes.windows(8).any(|w| w == piece),
                "{} still holds a piece of a value",
                path.display()
            );
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file's bytes and mode, to check that nothing changed.
fn snapshot(files: &Files) -> Vec<(Vec<u8>, u32)> {
    files
        .all()
        .iter()
        .map(|p| (std::fs::read(p).unwrap(), mode(p)))
        .collect()
}

/// The findings of `scan --json` as (path, line, provider, kind, key).
fn findings(v: &serde_json::Value) -> Vec<(Option<String>, u64, String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().map(str::to_owned),
                f["line"].as_u64().unwrap(),
                f["provider"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
                f["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

qwtest!(
    scan_finds_each_credential_with_its_place_and_never_its_value,
    |env| {
        let files = plant(&env);

        let run = env.qwarden(["secrets", "scan"]).run();
        run.code(7);
        assert_output_lacks(&run, &FILE_VALUES);
        run.stdout_has("LOCATION")
            .stdout_has("PROVIDER")
            .stdout_has("KIND")
            .stdout_has("PREVIEW")
            .stdout_has(&format!(
                "{}:{}",
                shown(&files.qiskit),
                line_of(&files.qiskit, IBM_KEY)
            ))
            .stdout_has(&format!(
                "{}:{}",
                shown(&files.aws),
                line_of(&files.aws, AWS_ID)
            ))
            .stdout_has(&format!(
                "{}:{}",
                shown(&files.aws),
                line_of(&files.aws, AWS_SECRET)
            ))
            .stdout_has(&format!("{}:3", shown(&files.dotenv)))
            .stdout_has(&format!(
                "{}:{} (cell 2, line 3)",
                shown(&files.notebook),
                line_of(&files.notebook, NOTEBOOK_KEY)
            ))
            .stdout_has("IBM Cloud API key")
            .stdout_has("IonQ API key")
            .stdout_has("AWS access key id")
            .stdout_has("AWS secret access key")
            // The redacted previews: four characters, an ellipsis, two.
            .stdout_has("Qw4r…QR")
            .stdout_has("AKIA…LE")
            .stdout_has("5 plaintext credential(s): 5 in files")
            .stdout_has("qwarden secrets import")
            .stderr_empty();

        let run = env.qwarden(["secrets", "scan", "--json"]).run();
        run.code(7);
        assert_output_lacks(&run, &FILE_VALUES);
        let v = run.json();
        let mut got = findings(&v);
        got.sort();
        let mut want = vec![
            (
                Some(shown(&files.qiskit)),
                line_of(&files.qiskit, IBM_KEY),
                "ibm".to_owned(),
                "ibm-cloud-api-key".to_owned(),
                "token".to_owned(),
            ),
            (
                Some(shown(&files.aws)),
                line_of(&files.aws, AWS_ID),
                "aws".to_owned(),
                "aws-access-key-id".to_owned(),
                "aws_access_key_id".to_owned(),
            ),
            (
                Some(shown(&files.aws)),
                line_of(&files.aws, AWS_SECRET),
                "aws".to_owned(),
                "aws-secret-access-key".to_owned(),
                "aws_secret_access_key".to_owned(),
            ),
            (
                Some(shown(&files.dotenv)),
                3,
                "ionq".to_owned(),
                "ionq-api-key".to_owned(),
                "IONQ_API_KEY".to_owned(),
            ),
            (
                Some(shown(&files.notebook)),
                line_of(&files.notebook, NOTEBOOK_KEY),
                "ibm".to_owned(),
                "ibm-cloud-api-key".to_owned(),
                "token".to_owned(),
            ),
        ];
        want.sort();
        assert_eq!(got, want, "{}", run.stdout);
        let cell = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|f| f.get("cell"))
            .unwrap();
        assert_eq!(cell["cell"], 2);
        assert_eq!(cell["line"], 3);
        assert!(v["scanned_files"].as_u64().unwrap() >= 4);

        // Naming one path scans only it.
        let run = env
            .qwarden(["secrets", "scan", "--json"])
            .arg(&files.dotenv)
            .run();
        run.code(7);
        assert_eq!(findings(&run.json()).len(), 1);

        // Scanning changed nothing.
        for p in files.all() {
            assert_eq!(mode(p), 0o644);
        }
    }
);

qwtest!(scan_of_a_clean_tree_exits_0, |env| {
    // Templates and placeholders are not credentials.
    write(
        &env.project.join(".env"),
        "IONQ_API_KEY=<your-ionq-api-key>\nQISKIT_IBM_TOKEN=\nIBM_CLOUD_API_KEY=${IBM_CLOUD_API_KEY}\nAWS_SECRET_ACCESS_KEY=qwarden-vault:aws-secret-access-key\n",
    );
    write(
        &env.project.join("run.py"),
        "import os\nfrom qiskit_ibm_runtime import QiskitRuntimeService\nservice = QiskitRuntimeService(token=os.environ[\"QISKIT_IBM_TOKEN\"])\n",
    );
    env.qwarden(["secrets", "scan"])
        .run()
        .success()
        .stdout_has("no plaintext credentials in 2 scanned file(s) and the environment")
        .stderr_empty();
    let run = env.qwarden(["secrets", "scan", "--json"]).run();
    run.success();
    let v = run.json();
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    assert_eq!(v["scanned_files"], 2);

    // A path that does not exist is invalid input, not "clean".
    env.qwarden(["secrets", "scan", "no-such-dir"])
        .run()
        .code(3)
        .stderr_has("no-such-dir");
});

qwtest!(scan_reports_an_environment_variable, |env| {
    let run = env
        .qwarden(["secrets", "scan"])
        .env("QISKIT_IBM_TOKEN", ENV_KEY)
        .run();
    run.code(7)
        .stdout_has("environment (QISKIT_IBM_TOKEN)")
        .stdout_has("IBM Cloud API key")
        .stdout_has("unset QISKIT_IBM_TOKEN")
        .stdout_has("0 in files");
    assert_output_lacks(&run, &[ENV_KEY]);

    let run = env
        .qwarden(["secrets", "scan", "--json"])
        .env("QISKIT_IBM_TOKEN", ENV_KEY)
        .run();
    run.code(7);
    assert_output_lacks(&run, &[ENV_KEY]);
    assert_eq!(
        findings(&run.json()),
        vec![(
            None,
            0,
            "ibm".to_owned(),
            "ibm-cloud-api-key".to_owned(),
            "QISKIT_IBM_TOKEN".to_owned()
        )]
    );

    // `--no-env` leaves the environment out.
    env.qwarden(["secrets", "scan", "--no-env"])
        .env("QISKIT_IBM_TOKEN", ENV_KEY)
        .run()
        .success()
        .stdout_has("no plaintext credentials");
});

qwtest!(import_yes_moves_each_into_the_vault, |env| {
    let files = plant(&env);
    env.qwarden(["secrets", "init"]).run().success();
    // Where each value is, before the import replaces it.
    let source =
        |p: &Path, value: &str| format!("imported from {}:{}", shown(p), line_of(p, value));
    let sources = [
        source(&files.aws, AWS_ID),
        source(&files.aws, AWS_SECRET),
        source(&files.qiskit, IBM_KEY),
        source(&files.notebook, NOTEBOOK_KEY),
        source(&files.dotenv, IONQ_KEY),
    ];

    let run = env
        .qwarden(["secrets", "import", "--yes"])
        .env("QISKIT_IBM_TOKEN", ENV_KEY)
        .run();
    run.success()
        .stdout_has("moved 5 of 5 credential(s) into the vault")
        .stdout_has("qwarden-vault:NAME")
        // The rotation step, once per provider, naming the vault entries.
        .stdout_has("rotate these keys now")
        .stdout_has("https://cloud.ibm.com/iam/apikeys")
        .stdout_has("https://cloud.ionq.com/settings/keys")
        .stdout_has("aws iam create-access-key")
        .stdout_has("then: qwarden secrets rotate ibm < new-key.txt")
        .stdout_has("then: qwarden secrets rotate ibm-2 < new-key.txt")
        .stdout_has("then: qwarden secrets rotate ionq < new-key.txt")
        .stdout_has("then: qwarden secrets rotate aws-secret-access-key < new-key.txt")
        // The environment variable is reported, not imported.
        .stdout_has("not imported")
        .stdout_has("unset QISKIT_IBM_TOKEN")
        // The permissions it fixed.
        .stdout_has(&format!("{}: 0644 -> 0600", shown(&files.aws)))
        .stdout_has(&format!(
            "{}: 0755 -> 0700",
            shown(&env.home.join(".qiskit"))
        ));
    assert_eq!(
        run.stdout
            .matches("https://cloud.ibm.com/iam/apikeys")
            .count(),
        1,
        "{}",
        run.stdout
    );
    assert_output_lacks(&run, &FILE_VALUES);
    assert_output_lacks(&run, &[ENV_KEY]);

    // The vault holds each value under its name, with where it came from.
    let list = env.qwarden(["secrets", "list", "--json"]).run();
    list.success();
    let v = list.json();
    let mut listed: Vec<(String, String, String)> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["provider"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    let want: Vec<(String, String, String)> = [
        ("aws-access-key-id", "aws"),
        ("aws-secret-access-key", "aws"),
        ("ibm", "ibm"),
        ("ibm-2", "ibm"),
        ("ionq", "ionq"),
    ]
    .iter()
    .zip(&sources)
    .map(|((n, p), s)| ((*n).to_owned(), (*p).to_owned(), s.clone()))
    .collect();
    assert_eq!(listed, want);
    let vault = Vault::open(&env.state.join("vault")).unwrap();
    let unlock = Unlock::IdentityFile(env.config.join("vault-identity.txt"));
    for (name, value) in [
        ("ibm", IBM_KEY),
        ("ibm-2", NOTEBOOK_KEY),
        ("ionq", IONQ_KEY),
        ("aws-access-key-id", AWS_ID),
        ("aws-secret-access-key", AWS_SECRET),
    ] {
        assert_eq!(vault.get(name, &unlock).unwrap().expose(), value, "{name}");
    }

    // The files hold placeholders and no value, are 0600, and still parse.
    for p in files.all() {
        assert_file_lacks(p, &FILE_VALUES);
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    for dir in [".qiskit", ".aws"] {
        assert_eq!(mode(&env.home.join(dir)), 0o700, "~/{dir}");
    }
    let qiskit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.qiskit).unwrap()).unwrap();
    assert_eq!(
        qiskit["default-ibm-quantum-platform"]["token"],
        "qwarden-vault:ibm"
    );
    let aws = std::fs::read_to_string(&files.aws).unwrap();
    assert!(
        aws.contains("aws_access_key_id = qwarden-vault:aws-access-key-id\n")
            && aws.contains("aws_secret_access_key = qwarden-vault:aws-secret-access-key\n"),
        "{aws}"
    );
    let dotenv = std::fs::read_to_string(&files.dotenv).unwrap();
    assert!(
        dotenv.contains("IONQ_API_KEY=qwarden-vault:ionq\n"),
        "{dotenv}"
    );
    let nb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.notebook).unwrap()).unwrap();
    assert!(
        nb["cells"][1]["source"][2]
            .as_str()
            .unwrap()
            .contains("token=\"qwarden-vault:ibm-2\""),
        "{nb}"
    );

    // A second scan finds nothing, and a second import has nothing to do.
    env.qwarden(["secrets", "scan", "--no-env"])
        .run()
        .success()
        .stdout_has("no plaintext credentials");
    env.qwarden(["secrets", "import", "--no-env"])
        .run()
        .success()
        .stdout_has("nothing to import");
});

qwtest!(import_json_says_what_happened_without_values, |env| {
    let files = plant(&env);
    env.qwarden(["secrets", "init"]).run().success();
    let run = env
        .qwarden(["secrets", "import", "--yes", "--json"])
        .arg(&files.dotenv)
        .arg(&files.aws)
        .run();
    run.success();
    assert_output_lacks(&run, &FILE_VALUES);
    let v = run.json();
    let items = v["imported"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    for item in items {
        assert_eq!(item["status"], "moved", "{item}");
        let name = item["name"].as_str().unwrap();
        assert_eq!(item["placeholder"], format!("qwarden-vault:{name}"));
    }
    let providers: Vec<&str> = v["rotation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["ionq", "aws"]);
    // Only the named paths were touched.
    assert_eq!(mode(&files.qiskit), 0o644);
    assert_eq!(
        std::fs::read_to_string(&files.qiskit).unwrap(),
        qiskit_ibm_json()
    );
});

qwtest!(import_without_yes_and_without_a_terminal_refuses, |env| {
    let files = plant(&env);
    env.qwarden(["secrets", "init"]).run().success();
    let before = snapshot(&files);
    let run = env.qwarden(["secrets", "import"]).run();
    run.code(2)
        .stderr_has("no terminal to confirm on")
        .stderr_has("nothing was changed")
        .stderr_has("--yes");
    assert_output_lacks(&run, &FILE_VALUES);
    assert_eq!(snapshot(&files), before);
    for dir in [".qiskit", ".aws"] {
        assert_eq!(mode(&env.home.join(dir)), 0o755);
    }
    let list = env.qwarden(["secrets", "list", "--json"]).run();
    list.success();
    assert_eq!(list.json()["secrets"].as_array().unwrap().len(), 0);
});

qwtest!(import_that_cannot_store_rewrites_nothing, |env| {
    let files = plant(&env);
    // Without a vault: refused before anything is asked or changed.
    let before = snapshot(&files);
    env.qwarden(["secrets", "import", "--yes"])
        .run()
        .code(3)
        .stderr_has("qwarden secrets init");
    assert_eq!(snapshot(&files), before);

    // A wrong passphrase: nothing stored, so no file is rewritten.
    env.qwarden(["secrets", "init", "--passphrase", "--work-factor", "10"])
        .env("QWARDEN_VAULT_PASSPHRASE", PASSPHRASE)
        .run()
        .success();
    let run = env
        .qwarden(["secrets", "import", "--yes"])
        .env("QWARDEN_VAULT_PASSPHRASE", "wrong horse")
        .run();
    run.code(6);
    assert_output_lacks(&run, &FILE_VALUES);
    assert_eq!(snapshot(&files), before);

    // The right one moves them.
    env.qwarden(["secrets", "import", "--yes"])
        .env("QWARDEN_VAULT_PASSPHRASE", PASSPHRASE)
        .run()
        .success()
        .stdout_has("moved 5 of 5");
    for p in files.all() {
        assert_file_lacks(p, &FILE_VALUES);
    }
});
