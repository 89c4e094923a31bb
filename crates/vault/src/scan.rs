//! The plaintext-credential scanner: finds provider keys on disk and in the environment, and
//! moves them into the vault.
//!
//! Why: qwarden keeps real keys out of every sandbox, but a workstation usually has them in
//! plaintext already: `~/.qiskit/qiskit-ibm.json` written by
//! `QiskitRuntimeService.save_account`, the legacy `~/.qiskit/qiskitrc`, `~/.aws/credentials`,
//! Nexus's `~/.qnx/auth/*.json`, `.env` files, notebooks and scripts with a pasted token, shell
//! startup files with `export IONQ_API_KEY=…`. Anything that can read those files (a sandbox
//! granted the home directory, a backup, a synced folder) has the key. `qwarden secrets scan`
//! reports them, and `qwarden secrets import` moves each into the vault and leaves a
//! placeholder behind.
//!
//! What:
//! - [`scan_paths`] walks files and directories ([`default_paths`] for the usual places),
//!   [`scan_environment`] checks variables, [`scan_content`] scans one buffer as a given
//!   [`FileKind`]. The result is a [`Report`] of [`Finding`]s: file, line, column (and notebook
//!   cell), provider, [`FindingKind`], a redacted preview, the value's byte span and the key it
//!   is assigned to. The value is reachable only through [`Finding::secret`]; neither `Debug`
//!   nor JSON output holds it.
//! - [`assign_names`], [`placeholder`], [`rewrite`] / [`rewrite_many`] ([`rewrite_content`] is
//!   the same in memory), [`fix_permissions`], [`credential_dirs`] and [`rotation_advice`] are
//!   what the importer needs (see `import.rs` for the order of the steps and the guarantees).
//!
//! Detectors, with context to keep false positives low (see `detect.rs` for the rules):
//! - IBM: the `token` of each account in `qiskit-ibm.json` (its `channel` says IBM Cloud API
//!   key or legacy IBM Quantum token), `token` in `qiskitrc`, `QISKIT_IBM_TOKEN`, `IBMQ_TOKEN`,
//!   `IBM_CLOUD_API_KEY`, `IBM_QUANTUM_TOKEN` (any `*IBM*`/`*QISKIT*` token or API key name),
//!   `save_account(token=…)`, `save_account("…")`, `enable_account("…")`,
//!   `QiskitRuntimeService(token=…)`, `IBMProvider(…)`; under a generic name (`token`,
//!   `API_KEY`) in a file that mentions Qiskit or IBM Quantum, only a 44-character
//!   `[A-Za-z0-9_-]` IBM Cloud key or a 128-hexadecimal-character token.
//! - IonQ: `IONQ_API_KEY` (any `*IONQ*` key or token name), `IonQProvider("…")`,
//!   `IonQProvider(token=…)`, `ionq.Service(api_key=…)`, `Authorization: apiKey …`.
//! - AWS: access key ids (`AKIA`/`ASIA` and 16 base-32 characters) anywhere;
//!   `aws_secret_access_key`, `aws_session_token` (INI sections of `~/.aws/credentials` and
//!   `config` are profiles), `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, boto3 keyword
//!   arguments.
//! - Quantinuum: `refresh_token` / `access_token` / `id_token` in `~/.qnx/auth/*.json`,
//!   `QNX_*TOKEN*`, `QUANTINUUM_*` tokens, keys and passwords (not user names).
//! - Notebooks: each cell's source (as Python for code cells) and its text outputs, reported
//!   with the file line and the cell and line in it.
//!
//! Placeholders are not findings: qwarden's own (`qwarden-vault:…`) and session handles
//! (`qwh_…`), empty values, `$VAR` / `${VAR}` / `{{ … }}` / `<your-token>` templates, `xxxx`,
//! `changeme`, `YOUR_API_KEY`-style names and the like.

mod detect;
mod files;
mod finding;
mod import;
mod json;
mod text;
mod walk;

#[cfg(test)]
mod tests;

use std::io;
use std::ops::Range;
use std::path::PathBuf;

pub use files::{FileKind, scan_content};
pub use finding::{CellLocation, Finding, FindingKind};
pub use import::{
    Edit, FileRewrite, PLACEHOLDER_PREFIX, PermissionChange, Rewritten, assign_names,
    credential_dirs, fix_permissions, placeholder, rewrite, rewrite_content, rewrite_many,
    rotation_advice,
};
pub use walk::{
    Report, ScanOptions, SkipReason, Skipped, default_paths, scan_environment, scan_paths,
};

/// Why a scan or a rewrite failed. Messages never hold a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A path given to [`scan_paths`] cannot be resolved.
    #[error("cannot scan `{}`: {source}; check that the path exists and that you can read it", path.display())]
    Root {
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A rewrite of an environment variable, which has no file.
    #[error(
        "`{key}` is an environment variable, not a file, so there is nothing to rewrite; remove it \
         from where it is set (a shell startup file, a `.env` your tools load) and open a new shell"
    )]
    NotAFile {
        /// The variable.
        key: String,
    },
    /// Reading, writing or renaming failed.
    #[error("cannot {action} `{}`: {source}; the file was left as it was", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The file is not the one scanned (its content or identity changed).
    #[error(
        "`{}` changed since it was scanned, so it was left as it was; scan again and re-run the import",
        path.display()
    )]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The file is a symbolic link.
    #[error(
        "`{}` is a symbolic link, which qwarden does not write through; scan and import the file it points to",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The path is not a regular file (or, for permissions, directory).
    #[error("`{}` is not a regular file; nothing was changed", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The file has several names; replacing one would leave the plaintext under the others.
    #[error(
        "`{}` has {links} hard links and replacing it would leave the plaintext under the other names; \
         find them with `find / -xdev -samefile {}`, remove the extra links, then scan again",
        path.display(),
        path.display()
    )]
    HardLinks {
        /// The file.
        path: PathBuf,
        /// How many names it has.
        links: u64,
    },
    /// The bytes at a finding's span are not its value.
    #[error(
        "bytes {}..{} of `{}` do not hold the value found there, so the file was left as it was; \
         scan again and re-run the import",
        span.start,
        span.end,
        path.display()
    )]
    SpanMismatch {
        /// The file.
        path: PathBuf,
        /// The finding's span.
        span: Range<usize>,
    },
    /// Two findings to rewrite overlap.
    #[error(
        "findings at bytes {}..{} and {}..{} of `{}` overlap, so the file was left as it was; \
         rewrite them one scan at a time",
        first.start,
        first.end,
        second.start,
        second.end,
        path.display()
    )]
    Overlap {
        /// The file.
        path: PathBuf,
        /// One span.
        first: Range<usize>,
        /// The other.
        second: Range<usize>,
    },
    /// The placeholder cannot be written safely in every kind of file.
    #[error(
        "the placeholder {reason}; use `qwarden-vault:<name>` with a name of letters, digits, `.`, `_` and `-`"
    )]
    BadPlaceholder {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The rewrite would turn valid JSON into invalid JSON.
    #[error(
        "replacing the value in `{}` would leave invalid JSON, so the file was left as it was; \
         move the value into the vault with `qwarden secrets add` and edit the file by hand",
        path.display()
    )]
    WouldBreakJson {
        /// The file.
        path: PathBuf,
    },
}
