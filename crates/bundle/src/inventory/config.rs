//! Provider configuration files present on the workstation: presence only. These files hold
//! keys, so they are never opened: only their directory entries are looked at.
//!
//! Looked for: `~/.qiskit/qiskit-ibm.json` and `~/.qiskit/qiskitrc` (IBM), `~/.aws/credentials`
//! and `~/.aws/config` (AWS, for Braket), `~/.qnx/auth/*.json` (Quantinuum Nexus), every
//! `~/.ionq*` entry (IonQ), and a `.env` file directly in each search root (any provider).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A provider configuration file that exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Whose it is: `ibm`, `aws`, `quantinuum`, `ionq`, or `any` for `.env`.
    pub provider: String,
    /// Where it is.
    pub path: String,
}

/// The provider configuration files under `home` and directly in the `roots`, sorted.
pub fn config_files(home: &Path, roots: &[PathBuf]) -> Vec<ConfigFile> {
    let mut found = Vec::new();
    let mut add = |provider: &str, path: PathBuf| {
        // `symlink_metadata`: a link counts as present without being followed.
        if std::fs::symlink_metadata(&path).is_ok() {
            let file = ConfigFile {
                provider: provider.to_owned(),
                path: path.to_string_lossy().into_owned(),
            };
            if !found.contains(&file) {
                found.push(file);
            }
        }
    };
    for (provider, rel) in [
        ("ibm", ".qiskit/qiskit-ibm.json"),
        ("ibm", ".qiskit/qiskitrc"),
        ("aws", ".aws/credentials"),
        ("aws", ".aws/config"),
    ] {
        add(provider, home.join(rel));
    }
    for name in entry_names(&home.join(".qnx/auth")) {
        if name.ends_with(".json") {
            add("quantinuum", home.join(".qnx/auth").join(name));
        }
    }
    for name in entry_names(home) {
        if name.starts_with(".ionq") {
            add("ionq", home.join(name));
        }
    }
    for root in roots {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        add("any", root.join(".env"));
    }
    found.sort();
    found
}

fn entry_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}
