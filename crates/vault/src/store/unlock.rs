//! How a vault is unlocked, and turning an [`Unlock`] into what encrypts or decrypts for it:
//! a passphrase is proven against `check.age` before anything is written with it, and an identity
//! file must hold the key the vault is encrypted to.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::crypto::{self, OpenFailure, Opener, Sealer};
use super::{CHECK_FILE, VAULT_FILE, Vault, VaultError, files};
use crate::secret::Secret;

/// How a vault is unlocked: what the caller supplies.
#[derive(Debug, Clone)]
pub enum Unlock {
    /// A passphrase (age scrypt).
    Passphrase(Secret),
    /// An age X25519 identity file. Adding and rotating need only the vault's public recipient,
    /// so for those the file is not read (it may be offline).
    IdentityFile(PathBuf),
}

impl Unlock {
    /// Which kind this is.
    pub fn kind(&self) -> UnlockKind {
        match self {
            Unlock::Passphrase(_) => UnlockKind::Passphrase,
            Unlock::IdentityFile(_) => UnlockKind::Identity,
        }
    }
}

/// The two kinds of unlock, as `vault.toml` records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnlockKind {
    /// A passphrase.
    Passphrase,
    /// An identity file.
    Identity,
}

impl fmt::Display for UnlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnlockKind::Passphrase => "a passphrase",
            UnlockKind::Identity => "an identity file",
        })
    }
}

impl Vault {
    /// Checks that `unlock` opens the vault (the passphrase decrypts `check.age`; the identity
    /// file is private and holds the vault's key) without decrypting any secret.
    pub fn check_unlock(&self, unlock: &Unlock) -> Result<(), VaultError> {
        let opener = self.opener(unlock)?;
        self.check_opener(&opener)
    }

    pub(super) fn check_opener(&self, opener: &Opener) -> Result<(), VaultError> {
        let path = self.dir.join(CHECK_FILE);
        let ciphertext = files::read_limited(&path, crypto::MAX_AGE_FILE)?;
        let damaged = |reason: String| VaultError::Damaged {
            path: path.clone(),
            reason,
        };
        match crypto::open(opener, &ciphertext) {
            Ok(p) if p.as_slice() == crypto::CHECK_PLAINTEXT => Ok(()),
            Ok(_) => Err(damaged("it decrypts to something unexpected".to_owned())),
            Err(OpenFailure::Damaged(reason)) => Err(damaged(reason)),
            Err(OpenFailure::WrongKey) => match opener {
                Opener::Passphrase(..) => Err(VaultError::WrongPassphrase {
                    dir: self.dir.clone(),
                }),
                Opener::Identity(_) => Err(damaged(
                    "it is not encrypted to this vault's identity".to_owned(),
                )),
            },
        }
    }

    /// What encrypts for this vault, given `unlock`; a passphrase is checked first.
    pub(super) fn sealer(&self, unlock: &Unlock) -> Result<Sealer, VaultError> {
        self.same_kind(unlock)?;
        match unlock {
            Unlock::Passphrase(p) => {
                self.check_opener(&Opener::Passphrase(p.clone(), self.meta.scrypt_work_factor))?;
                Ok(Sealer::Passphrase(p.clone(), self.meta.scrypt_work_factor))
            }
            Unlock::IdentityFile(_) => Ok(Sealer::Recipient(self.recipient_key()?)),
        }
    }

    /// What decrypts this vault, given `unlock`; an identity must be the vault's.
    pub(super) fn opener(&self, unlock: &Unlock) -> Result<Opener, VaultError> {
        self.same_kind(unlock)?;
        match unlock {
            Unlock::Passphrase(p) => {
                Ok(Opener::Passphrase(p.clone(), self.meta.scrypt_work_factor))
            }
            Unlock::IdentityFile(path) => {
                let identity = crypto::read_identity(path)?;
                let found = identity.to_public().to_string();
                let expected = self.recipient_key()?.to_string();
                if found != expected {
                    return Err(VaultError::WrongIdentity {
                        path: path.clone(),
                        found,
                        expected,
                        dir: self.dir.clone(),
                    });
                }
                Ok(Opener::Identity(identity))
            }
        }
    }

    fn same_kind(&self, unlock: &Unlock) -> Result<(), VaultError> {
        if unlock.kind() == self.meta.unlock {
            Ok(())
        } else {
            Err(VaultError::WrongUnlockKind {
                dir: self.dir.clone(),
                vault: self.meta.unlock,
                given: unlock.kind(),
            })
        }
    }

    fn recipient_key(&self) -> Result<age::x25519::Recipient, VaultError> {
        let path = self.dir.join(VAULT_FILE);
        self.meta
            .recipient
            .as_deref()
            .and_then(|r| r.parse().ok())
            .ok_or(VaultError::Metadata {
                path,
                reason: "an identity vault needs a valid `recipient`".to_owned(),
            })
    }
}
