//! The workstation key: the Ed25519 key that signs this workstation's bundles and re-run
//! verdicts.
//!
//! It is an ordinary OpenSSH private key (`STATE/keys/workstation.key`, mode 0600, made on first
//! use, never inside a sandbox), so it can be backed up, inspected and rotated with the usual
//! tools. Its public half is published as an `ssh-ed25519` line (`STATE/bundles/workstation.pub`)
//! and travels inside every exported bundle; whoever checks a bundle decides whether to trust
//! that line, exactly as with an SSH host key. It is a different key from the ledger's, so a
//! DSSE signature can never be replayed as a checkpoint signature or the other way round.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::{LineEnding, PrivateKey, PublicKey};

/// The comment on the workstation key's lines.
const COMMENT: &str = "qwarden-workstation";

/// Why the workstation key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("cannot {action} the workstation key `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an unencrypted Ed25519 OpenSSH key.
    #[error(
        "the workstation key `{path}` is not an unencrypted Ed25519 OpenSSH key: {reason}\n  hint: restore it from a backup, or move it away to make a new one (bundles signed with the old key then need the old public key to verify)"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A public key line is not an `ssh-ed25519` key.
    #[error(
        "not an ssh-ed25519 public key: {0}\n  hint: pass the workstation's `bundles/workstation.pub` (or the `workstation.pub` inside an exported bundle)"
    )]
    Public(String),
}

/// The workstation's signing key.
pub struct WorkstationKey {
    signing: SigningKey,
}

impl std::fmt::Debug for WorkstationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkstationKey")
            .field("public", &public_line(&self.verifying()))
            .finish_non_exhaustive()
    }
}

impl WorkstationKey {
    /// The key at `path`, made (0600, in a 0700 directory) if there is none yet.
    pub fn load_or_create(path: &Path) -> Result<WorkstationKey, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(KeyError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The key at `path`; it must exist.
    pub fn load(path: &Path) -> Result<WorkstationKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// A key from its 32-byte seed (tests, and keys kept elsewhere).
    pub fn from_seed(seed: [u8; 32]) -> WorkstationKey {
        WorkstationKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<WorkstationKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let key = PrivateKey::from_openssh(text).map_err(|e| invalid(e.to_string()))?;
        if key.is_encrypted() {
            return Err(invalid("it is encrypted".into()));
        }
        match key.key_data() {
            KeypairData::Ed25519(pair) => Ok(WorkstationKey {
                signing: SigningKey::from_bytes(&pair.private.to_bytes()),
            }),
            other => Err(invalid(format!(
                "it is a {} key",
                other.algorithm().map(|a| a.to_string()).unwrap_or_default()
            ))),
        }
    }

    fn create(path: &Path) -> Result<WorkstationKey, KeyError> {
        let io = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| KeyError::Io {
                action,
                path: p,
                source,
            }
        };
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        let key = WorkstationKey::from_seed(seed);
        let pair = Ed25519Keypair::from_seed(&seed);
        let text = PrivateKey::new(KeypairData::Ed25519(pair), COMMENT)
            .and_then(|k| k.to_openssh(LineEnding::LF).map(|t| t.to_string()))
            .map_err(|e| KeyError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create the directory of", path))?;
        // Crash-safe and never over a key another process just made: a fsynced 0600 temporary
        // file linked into place (the link fails if a key appeared meanwhile).
        let tmp = dir.join(format!(".workstation.key.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("write", &tmp))?;
        let written = f
            .write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("write", &tmp));
        drop(f);
        let linked =
            written.and_then(|()| std::fs::hard_link(&tmp, path).map_err(io("save", path)));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(key)
            }
            // Another process made the key first: use theirs.
            Err(KeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Self::load(path)
            }
            Err(e) => Err(e),
        }
    }

    /// The signing half.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The public half.
    pub fn verifying(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
}

/// `key` as an OpenSSH public key line (`ssh-ed25519 AAAA… qwarden-workstation`).
pub fn public_line(key: &VerifyingKey) -> String {
    let public = PublicKey::new(KeyData::Ed25519(Ed25519PublicKey(key.to_bytes())), COMMENT);
    public.to_openssh().unwrap_or_default()
}

/// Reads an `ssh-ed25519` public key line.
pub fn parse_public(text: &str) -> Result<VerifyingKey, KeyError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| KeyError::Public("the text is empty".into()))?;
    let public = PublicKey::from_openssh(line).map_err(|e| KeyError::Public(e.to_string()))?;
    match public.key_data() {
        KeyData::Ed25519(k) => {
            VerifyingKey::from_bytes(&k.0).map_err(|e| KeyError::Public(e.to_string()))
        }
        other => Err(KeyError::Public(format!(
            "it is a {} key",
            other.algorithm()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn a_key_is_made_once_and_read_back_with_its_public_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/workstation.key");
        let a = WorkstationKey::load_or_create(&path).unwrap();
        let b = WorkstationKey::load_or_create(&path).unwrap();
        assert_eq!(a.verifying(), b.verifying());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let line = public_line(&a.verifying());
        assert!(line.starts_with("ssh-ed25519 "), "{line}");
        assert_eq!(parse_public(&line).unwrap(), a.verifying());
    }

    #[test]
    fn bad_keys_are_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workstation.key");
        std::fs::write(&path, "not a key").unwrap();
        let e = WorkstationKey::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("not an unencrypted Ed25519") && e.contains("hint"),
            "{e}"
        );
        assert!(parse_public("ssh-rsa AAAA").is_err());
        assert!(parse_public("").is_err());
    }
}
