//! What can go wrong with the vault, each error saying what, where and how to fix it.

use std::path::PathBuf;

use crate::secret::Provider;
use crate::store::UnlockKind;

/// An error from the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A file system operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done ("read", "create", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory holds no vault.
    #[error("no vault in `{dir}`\n  hint: create one with `qwarden secrets init`")]
    NotInitialized {
        /// The vault directory.
        dir: PathBuf,
    },
    /// `init` found a vault already there.
    #[error(
        "a vault already exists in `{dir}`; it was left unchanged\n  hint: add secrets to it with `qwarden secrets add`, or move it away to start over"
    )]
    AlreadyInitialized {
        /// The vault directory.
        dir: PathBuf,
    },
    /// The vault directory could be changed by someone else.
    #[error(
        "refusing to use `{path}`: it {problem}, so another user could swap the secrets in it\n  hint: {fix}"
    )]
    InsecureDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// A metadata file could not be parsed or is inconsistent.
    #[error(
        "`{path}` is not valid vault metadata: {reason}\n  hint: restore it from a backup; it was written by `qwarden secrets`"
    )]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A secret name outside `[a-z0-9][a-z0-9._-]{0,63}`.
    #[error(
        "invalid secret name `{name}`: a name is 1 to 64 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit (e.g. `ibm` or `ionq-prod`)"
    )]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// `add` for a name that is taken.
    #[error(
        "secret `{name}` already exists in `{dir}`\n  hint: replace its value with `qwarden secrets rotate {name}`"
    )]
    Exists {
        /// The name.
        name: String,
        /// The vault directory.
        dir: PathBuf,
    },
    /// No secret by that name.
    #[error("no secret `{name}` in `{dir}`\n  hint: `qwarden secrets list` shows the names")]
    NotFound {
        /// The name.
        name: String,
        /// The vault directory.
        dir: PathBuf,
    },
    /// An empty value, a value over the size limit, or an empty passphrase.
    #[error("{what}\n  hint: {fix}")]
    BadValue {
        /// What is wrong.
        what: String,
        /// How to fix it.
        fix: String,
    },
    /// The unlock given is of the other kind.
    #[error(
        "the vault in `{dir}` is unlocked by {vault}, not by {given}\n  hint: {fix}",
        fix = match vault {
            UnlockKind::Passphrase => "supply the vault's passphrase",
            UnlockKind::Identity => "supply the vault's identity file",
        }
    )]
    WrongUnlockKind {
        /// The vault directory.
        dir: PathBuf,
        /// How the vault is unlocked.
        vault: UnlockKind,
        /// What was given.
        given: UnlockKind,
    },
    /// The passphrase does not open the vault.
    #[error(
        "wrong passphrase: it does not unlock the vault in `{dir}`\n  hint: use the passphrase given to `qwarden secrets init --passphrase`"
    )]
    WrongPassphrase {
        /// The vault directory.
        dir: PathBuf,
    },
    /// The identity file holds another key than the vault's.
    #[error(
        "wrong identity: `{path}` holds the key for {found}, but the vault in `{dir}` is encrypted to {expected}\n  hint: use the identity file the vault was created with"
    )]
    WrongIdentity {
        /// The identity file.
        path: PathBuf,
        /// Its public key.
        found: String,
        /// The vault's recipient.
        expected: String,
        /// The vault directory.
        dir: PathBuf,
    },
    /// The identity file is missing, unreadable, malformed or exposed.
    #[error("cannot use the identity file `{path}`: {reason}\n  hint: {fix}")]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// An encrypted file does not decrypt or holds something else than it should.
    #[error(
        "`{path}` is damaged or was tampered with: {reason}\n  hint: restore it from a backup, or remove the secret and add it again"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// age refused to encrypt.
    #[error("cannot encrypt `{path}`: {reason}")]
    Encrypt {
        /// The file being written.
        path: PathBuf,
        /// age's reason.
        reason: String,
    },
    /// No secret belongs to the provider.
    #[error(
        "no secret for provider `{provider}` in `{dir}`\n  hint: add one with `qwarden secrets add {provider} --provider {provider}`"
    )]
    NoSecretForProvider {
        /// The provider.
        provider: Provider,
        /// The vault directory.
        dir: PathBuf,
    },
    /// Several secrets belong to the provider and none is named after it.
    #[error(
        "several secrets belong to provider `{provider}` ({}) and none is named `{provider}`\n  hint: name the one to use `{provider}` (remove it and add it again under that name)",
        candidates.join(", ")
    )]
    AmbiguousProvider {
        /// The provider.
        provider: Provider,
        /// The secrets' names.
        candidates: Vec<String>,
    },
}

impl VaultError {
    /// An I/O error while `action`ing `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> VaultError {
        let path = path.into();
        move |source| VaultError::Io {
            action,
            path,
            source,
        }
    }
}
