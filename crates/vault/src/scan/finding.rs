//! What the scanner reports: a [`Finding`] says where a plaintext credential is, whose it is
//! and what kind, with a redacted preview. The value itself is reachable only through
//! [`Finding::secret`], for the importer: it is never in `Debug` or JSON output, so a report
//! can be printed, logged or attached to an issue.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use super::files::FileKind;
use crate::secret::{Provider, Secret};

/// The kind of credential a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// An IBM Cloud API key (44 characters `[A-Za-z0-9_-]`), what IBM Quantum Platform and
    /// `qiskit-ibm-runtime` use today.
    IbmCloudApiKey,
    /// A legacy IBM Quantum token (128 hexadecimal characters), from the retired
    /// `ibm_quantum` channel and `qiskitrc`.
    IbmQuantumToken,
    /// An IonQ API key.
    IonqApiKey,
    /// An AWS access key id (`AKIA…` long-term, `ASIA…` temporary).
    AwsAccessKeyId,
    /// An AWS secret access key (40 characters).
    AwsSecretAccessKey,
    /// An AWS session token (temporary credentials).
    AwsSessionToken,
    /// A Quantinuum Nexus refresh token (`~/.qnx/auth/token.json`).
    QuantinuumRefreshToken,
    /// A Quantinuum Nexus access or id token (`~/.qnx/auth/id.json`).
    QuantinuumAccessToken,
    /// A Quantinuum token whose kind its name does not tell.
    QuantinuumToken,
    /// A Quantinuum account password.
    QuantinuumPassword,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::IbmCloudApiKey,
        FindingKind::IbmQuantumToken,
        FindingKind::IonqApiKey,
        FindingKind::AwsAccessKeyId,
        FindingKind::AwsSecretAccessKey,
        FindingKind::AwsSessionToken,
        FindingKind::QuantinuumRefreshToken,
        FindingKind::QuantinuumAccessToken,
        FindingKind::QuantinuumToken,
        FindingKind::QuantinuumPassword,
    ];

    /// The provider that issued this kind of credential.
    pub fn provider(self) -> Provider {
        match self {
            FindingKind::IbmCloudApiKey | FindingKind::IbmQuantumToken => Provider::Ibm,
            FindingKind::IonqApiKey => Provider::Ionq,
            FindingKind::AwsAccessKeyId
            | FindingKind::AwsSecretAccessKey
            | FindingKind::AwsSessionToken => Provider::Aws,
            FindingKind::QuantinuumRefreshToken
            | FindingKind::QuantinuumAccessToken
            | FindingKind::QuantinuumToken
            | FindingKind::QuantinuumPassword => Provider::Quantinuum,
        }
    }

    /// As written in JSON output (`ibm-cloud-api-key`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::IbmCloudApiKey => "ibm-cloud-api-key",
            FindingKind::IbmQuantumToken => "ibm-quantum-token",
            FindingKind::IonqApiKey => "ionq-api-key",
            FindingKind::AwsAccessKeyId => "aws-access-key-id",
            FindingKind::AwsSecretAccessKey => "aws-secret-access-key",
            FindingKind::AwsSessionToken => "aws-session-token",
            FindingKind::QuantinuumRefreshToken => "quantinuum-refresh-token",
            FindingKind::QuantinuumAccessToken => "quantinuum-access-token",
            FindingKind::QuantinuumToken => "quantinuum-token",
            FindingKind::QuantinuumPassword => "quantinuum-password",
        }
    }

    /// A short human description (`IBM Cloud API key`, …).
    pub fn description(self) -> &'static str {
        match self {
            FindingKind::IbmCloudApiKey => "IBM Cloud API key",
            FindingKind::IbmQuantumToken => "IBM Quantum token (legacy)",
            FindingKind::IonqApiKey => "IonQ API key",
            FindingKind::AwsAccessKeyId => "AWS access key id",
            FindingKind::AwsSecretAccessKey => "AWS secret access key",
            FindingKind::AwsSessionToken => "AWS session token",
            FindingKind::QuantinuumRefreshToken => "Quantinuum Nexus refresh token",
            FindingKind::QuantinuumAccessToken => "Quantinuum Nexus access token",
            FindingKind::QuantinuumToken => "Quantinuum token",
            FindingKind::QuantinuumPassword => "Quantinuum password",
        }
    }

    /// The vault name this kind gets when nothing more specific is known (see
    /// [`Finding::suggested_name`]).
    fn base_name(self) -> &'static str {
        match self {
            FindingKind::IbmCloudApiKey => "ibm",
            FindingKind::IonqApiKey => "ionq",
            FindingKind::QuantinuumToken => "quantinuum",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a Jupyter notebook a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CellLocation {
    /// The cell, counting from 1 in the order the notebook shows them.
    pub cell: u32,
    /// The line in the cell's source (or in the output's text), counting from 1.
    pub line: u32,
    /// Whether the finding is in one of the cell's outputs rather than its source.
    pub output: bool,
}

/// How the value's bytes are written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Verbatim: the file's bytes at the span are the value.
    Raw,
    /// Inside a JSON string: the bytes at the span decode (JSON escapes) to the value.
    JsonString,
}

/// A plaintext credential: where it is, whose and what kind, and a redacted preview.
///
/// `Debug` and JSON output never hold the value; [`Finding::secret`] is the only way to it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The file, or `None` for an environment variable.
    pub path: Option<PathBuf>,
    /// The line of the value's first byte, counting from 1 (0 for an environment variable).
    pub line: u32,
    /// The column (in characters) of the value's first byte, counting from 1 (0 for an
    /// environment variable).
    pub column: u32,
    /// For a notebook: the cell and the line in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellLocation>,
    /// Who issued the credential.
    pub provider: Provider,
    /// What kind of credential it is.
    pub kind: FindingKind,
    /// A redacted preview: the first 4 and last 2 characters around `…` for values of 16
    /// characters or more, `…` alone for shorter ones.
    pub preview: String,
    /// Where the value's bytes are in the file (for an environment variable, in its value).
    pub span: Range<usize>,
    /// The variable or key the value is assigned to, when there is one (`QISKIT_IBM_TOKEN`,
    /// `aws_secret_access_key`, `token`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The named account or profile the credential belongs to, when the file says: a Qiskit
    /// saved account (`default-ibm-quantum-platform`) or an AWS profile (`dev`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip)]
    pub(crate) value: Secret,
    #[serde(skip)]
    pub(crate) encoding: Encoding,
    #[serde(skip)]
    pub(crate) file_kind: Option<FileKind>,
    /// SHA-256 of the whole file as scanned (`None` for the environment).
    #[serde(skip)]
    pub(crate) digest: Option<[u8; 32]>,
}

impl Finding {
    /// The credential, for the importer to put in the vault.
    pub fn secret(&self) -> Secret {
        self.value.clone()
    }

    /// Whether this finding is an environment variable rather than a file.
    pub fn is_environment(&self) -> bool {
        self.path.is_none()
    }

    /// The name to store the value under in the vault: `ibm`, `ibm-quantum-token`, `ionq`,
    /// `aws-access-key-id`, `aws-secret-access-key`, `aws-session-token`,
    /// `quantinuum-refresh-token`, … A named AWS profile or Qiskit account other than the
    /// default goes in the name (`aws-dev-secret-access-key`, `ibm-staging`). Names are
    /// lower-case `[a-z0-9-]`; [`assign_names`](super::assign_names) makes them unique across
    /// one import.
    pub fn suggested_name(&self) -> String {
        let base = self.kind.base_name();
        let qualifier = self
            .account
            .as_deref()
            .filter(|a| !is_default_account(a))
            .map(slug)
            .filter(|s| !s.is_empty());
        match qualifier {
            None => base.to_owned(),
            Some(q) => match base.strip_prefix("aws-") {
                Some(rest) => format!("aws-{q}-{rest}"),
                None => format!("{base}-{q}"),
            },
        }
    }
}

impl fmt::Display for Finding {
    /// `path:line:column: kind preview (key)`, or `environment: kind preview (VAR)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}:{}:{}", p.display(), self.line, self.column)?,
            None => f.write_str("environment")?,
        }
        if let Some(c) = self.cell {
            let place = if c.output { "output" } else { "line" };
            write!(f, " (cell {}, {place} {})", c.cell, c.line)?;
        }
        write!(f, ": {} {}", self.kind.description(), self.preview)?;
        if let Some(k) = &self.key {
            write!(f, " ({k})")?;
        }
        Ok(())
    }
}

/// Whether an account or profile name is the default one, which does not go in vault names.
fn is_default_account(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    n.is_empty() || n.starts_with("default") || n == "ibmq"
}

/// Lower-case `[a-z0-9-]`, runs of anything else as one `-`, at most 32 characters.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 32 {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The redacted preview of a value: at most 6 of its characters.
pub(crate) fn preview(value: &str) -> String {
    let n = value.chars().count();
    if n < 16 {
        return "…".to_owned();
    }
    let head: String = value.chars().take(4).collect();
    let tail: String = value.chars().skip(n - 2).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn previews_show_at_most_six_characters() {
        assert_eq!(
            preview("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "wJal…EY"
        );
        assert_eq!(preview("AKIAIOSFODNN7EXAMPLE"), "AKIA…LE");
        assert_eq!(preview("short-password"), "…");
        assert_eq!(preview(""), "…");
        assert_eq!(preview("ééééééééééééééééé"), "éééé…éé");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("My Staging Account!"), "my-staging-account");
        assert_eq!(slug("--dev--"), "dev");
        assert_eq!(slug("ü"), "");
        assert_eq!(slug(&"x".repeat(100)).len(), 32);
    }

    #[test]
    fn kinds_belong_to_providers() {
        for k in FindingKind::ALL {
            assert!(k.as_str().starts_with(k.provider().as_str()), "{k}");
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
    }
}
