//! Where a workstation's ledger and its signing key live, and how the key is made on first use.
//!
//! The ledger directory (`STATE/ledger`) holds nothing secret and can be copied anywhere to be
//! verified. The signing key lives apart from it, in `STATE/keys/ledger.key` (mode 0600), so it
//! is never handed out with the log; sandboxes never see the state directory at all.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::log::{CheckpointPolicy, Ledger, LedgerError};
use crate::note::{NoteSigner, NoteVerifier};

/// The files of a workstation's ledger under a state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerHome {
    /// The ledger directory (tiles, checkpoints, the verification key).
    pub dir: PathBuf,
    /// The signing key file.
    pub key: PathBuf,
}

impl LedgerHome {
    /// The ledger files under `state_dir`.
    pub fn new(state_dir: &Path) -> LedgerHome {
        LedgerHome {
            dir: state_dir.join("ledger"),
            key: state_dir.join("keys").join("ledger.key"),
        }
    }

    /// Opens the ledger, creating it and its key on first use. The origin is
    /// `<hostname>/qwarden/<random log id>`.
    pub fn open(&self, policy: CheckpointPolicy) -> Result<Ledger, LedgerError> {
        let signer = self.signer()?;
        Ledger::open(&self.dir, signer, policy)
    }

    /// The verification key, read from the ledger directory.
    pub fn verifier(&self) -> Result<NoteVerifier, LedgerError> {
        let path = self.dir.join("log.vkey");
        let text = fs::read_to_string(&path).map_err(|source| LedgerError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        NoteVerifier::from_vkey(text.trim()).map_err(|e| LedgerError::Damaged {
            dir: self.dir.clone(),
            reason: format!("`log.vkey`: {e}"),
        })
    }

    fn signer(&self) -> Result<NoteSigner, LedgerError> {
        let damaged = |reason: String| LedgerError::Damaged {
            dir: self.dir.clone(),
            reason,
        };
        match fs::read_to_string(&self.key) {
            Ok(text) => NoteSigner::from_skey(text.trim())
                .map_err(|e| damaged(format!("the signing key `{}`: {e}", self.key.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // `log.vkey` is written when the ledger is first opened, before any checkpoint: a
                // new key for it would be refused by `Ledger::open` only after it had been saved,
                // leaving a key that can never open this ledger.
                if self.dir.join("checkpoint").exists() || self.dir.join("log.vkey").exists() {
                    return Err(damaged(format!(
                        "the ledger exists but its signing key `{}` is missing; restore the key, or move the ledger away to start a new one",
                        self.key.display()
                    )));
                }
                let origin = format!("{}/qwarden/{}", hostname(), log_id());
                let signer = NoteSigner::generate(&origin).map_err(|e| damaged(e.to_string()))?;
                let dir = self.key.parent().unwrap_or_else(|| Path::new("."));
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|source| LedgerError::Io {
                        action: "create",
                        path: dir.to_path_buf(),
                        source,
                    })?;
                // Crash-safe and never over another process's key: a 0600 temporary file,
                // fsynced, linked into place (which fails if a key appeared meanwhile), and the
                // directories fsynced, before any checkpoint is signed with it.
                let mut line = signer.to_skey();
                line.push('\n');
                crate::durable::create_private(&self.key, line.as_bytes())
                    .map_err(LedgerError::from)?;
                Ok(signer)
            }
            Err(source) => Err(LedgerError::Io {
                action: "read",
                path: self.key.clone(),
                source,
            }),
        }
    }
}

/// This machine's host name, for the log's origin line.
fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}

/// A random 64-bit log id in hex.
fn log_id() -> String {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    hex::encode(bytes)
}
