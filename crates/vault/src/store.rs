//! Secrets at rest: age-encrypted files in a private directory outside every sandbox.
//!
//! A vault directory (qwarden uses `STATE/vault`) holds:
//!
//! ```text
//! vault.toml            format, unlock kind and, for identity vaults, the age recipient (plaintext)
//! check.age             a fixed text encrypted like the secrets: proves an unlock right before a write
//! secrets/<name>.age    the value, age-encrypted (binary age format)
//! secrets/<name>.toml   name, provider, created, rotated, source (plaintext, for `list`)
//! .lock                 writers hold an exclusive lock on it
//! ```
//!
//! Two ways to unlock ([`Unlock`]): a passphrase (age's scrypt recipient; adding a secret needs
//! the passphrase too, checked against `check.age` so a mistyped one cannot make a secret that
//! nothing opens), or an age X25519 identity file kept outside every sandbox (adding needs only
//! the public recipient in `vault.toml`; reading needs the identity).
//!
//! Every write is atomic (temporary file, fsync, rename, directory fsync); files are 0600 and
//! directories 0700, and a vault directory another user owns or can write is refused.

mod crypto;
mod error;
mod files;
mod meta;
mod unlock;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use error::VaultError;
pub use meta::validate_name;
pub use unlock::{Unlock, UnlockKind};

use crate::secret::{Provider, Secret};
use crypto::{OpenFailure, Sealer};
use meta::VaultMeta;

/// The default identity file's name, in qwarden's configuration directory.
pub const IDENTITY_FILE_NAME: &str = "vault-identity.txt";

/// The scrypt work factors (log2 N) a passphrase vault may use.
pub const SCRYPT_WORK_FACTORS: std::ops::RangeInclusive<u8> = 10..=22;

const VAULT_FILE: &str = "vault.toml";
const CHECK_FILE: &str = "check.age";
const SECRETS_DIR: &str = "secrets";

/// What the vault shows about a secret without unlocking: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The secret's name.
    pub name: String,
    /// Whose credential it is.
    pub provider: Provider,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When its value was last replaced.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rotated: Option<OffsetDateTime>,
    /// Where it came from (e.g. "imported from ~/.qiskit/qiskit-ibm.json").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// An opened vault. Opening reads only plaintext metadata; values need an [`Unlock`].
#[derive(Debug, Clone)]
pub struct Vault {
    dir: PathBuf,
    meta: VaultMeta,
}

impl Vault {
    /// Creates a vault in `dir` (created 0700 with its parents if missing), unlocked by `unlock`.
    /// An identity file that does not exist is created (0600, `age-keygen` format); one that
    /// exists is used. Refuses a directory that already holds a vault.
    pub fn init(dir: &Path, unlock: &Unlock) -> Result<Vault, VaultError> {
        Vault::create(dir, unlock, None)
    }

    /// [`Vault::init`] for a passphrase vault with an explicit scrypt work factor (log2 N, within
    /// [`SCRYPT_WORK_FACTORS`]) instead of age's default of about one second on this machine.
    pub fn init_with_work_factor(
        dir: &Path,
        passphrase: &Secret,
        work_factor: u8,
    ) -> Result<Vault, VaultError> {
        if !SCRYPT_WORK_FACTORS.contains(&work_factor) {
            return Err(VaultError::BadValue {
                what: format!("scrypt work factor {work_factor} is out of range"),
                fix: format!(
                    "choose {} to {} (each step doubles the work; 18 takes about a second)",
                    SCRYPT_WORK_FACTORS.start(),
                    SCRYPT_WORK_FACTORS.end()
                ),
            });
        }
        Vault::create(
            dir,
            &Unlock::Passphrase(passphrase.clone()),
            Some(work_factor),
        )
    }

    fn create(dir: &Path, unlock: &Unlock, work_factor: Option<u8>) -> Result<Vault, VaultError> {
        if dir.exists() {
            files::check_private_dir(dir)?;
        } else {
            files::create_private_dir(dir)?;
        }
        let _lock = files::lock(dir)?;
        if dir.join(VAULT_FILE).exists() {
            return Err(VaultError::AlreadyInitialized {
                dir: dir.to_path_buf(),
            });
        }
        let (meta, sealer) = match unlock {
            Unlock::Passphrase(p) => {
                if p.expose().is_empty() {
                    return Err(VaultError::BadValue {
                        what: "the passphrase is empty".to_owned(),
                        fix: "choose a passphrase, or use an identity file".to_owned(),
                    });
                }
                let meta = VaultMeta {
                    format: meta::FORMAT,
                    unlock: UnlockKind::Passphrase,
                    recipient: None,
                    identity_file: None,
                    scrypt_work_factor: work_factor,
                };
                (meta, Sealer::Passphrase(p.clone(), work_factor))
            }
            Unlock::IdentityFile(path) => {
                let path = std::path::absolute(path).map_err(VaultError::io("resolve", path))?;
                let recipient = if path.exists() {
                    crypto::read_identity(&path)?.to_public()
                } else {
                    crypto::create_identity(&path)?
                };
                let meta = VaultMeta {
                    format: meta::FORMAT,
                    unlock: UnlockKind::Identity,
                    recipient: Some(recipient.to_string()),
                    identity_file: Some(path),
                    scrypt_work_factor: None,
                };
                (meta, Sealer::Recipient(recipient))
            }
        };
        let vault = Vault {
            dir: dir.to_path_buf(),
            meta,
        };
        let secrets = vault.secrets_dir();
        if secrets.exists() {
            files::check_private_dir(&secrets)?;
        } else {
            files::create_private_dir(&secrets)?;
        }
        let check = dir.join(CHECK_FILE);
        let sealed = crypto::seal(&sealer, crypto::CHECK_PLAINTEXT, &check)?;
        files::write_atomic(&check, &sealed)?;
        // Written last: a vault exists once its metadata does.
        meta::write_vault(&dir.join(VAULT_FILE), &vault.meta)?;
        Ok(vault)
    }

    /// Opens the vault in `dir` to read its metadata; refuses a directory another user owns or
    /// can write.
    pub fn open(dir: &Path) -> Result<Vault, VaultError> {
        let not_initialized = || VaultError::NotInitialized {
            dir: dir.to_path_buf(),
        };
        if !dir.exists() {
            return Err(not_initialized());
        }
        files::check_private_dir(dir)?;
        let path = dir.join(VAULT_FILE);
        if !path.exists() {
            return Err(not_initialized());
        }
        let meta = meta::read_vault(&path)?;
        let vault = Vault {
            dir: dir.to_path_buf(),
            meta,
        };
        files::check_private_dir(&vault.secrets_dir())?;
        Ok(vault)
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How the vault is unlocked.
    pub fn unlock_kind(&self) -> UnlockKind {
        self.meta.unlock
    }

    /// Identity vaults: the age recipient (`age1…`) secrets are encrypted to.
    pub fn recipient(&self) -> Option<&str> {
        self.meta.recipient.as_deref()
    }

    /// Identity vaults: the identity file `init` used, recorded so sessions can hide it.
    pub fn identity_file(&self) -> Option<&Path> {
        self.meta.identity_file.as_deref()
    }

    /// Every secret's metadata, sorted by name.
    pub fn list(&self) -> Result<Vec<Entry>, VaultError> {
        let secrets = self.secrets_dir();
        let mut entries = Vec::new();
        let listing = std::fs::read_dir(&secrets).map_err(VaultError::io("list", &secrets))?;
        for item in listing {
            let item = item.map_err(VaultError::io("list", &secrets))?;
            let file = item.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".toml")) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            validate_name(name).map_err(|_| VaultError::Metadata {
                path: item.path(),
                reason: "its name is not a valid secret name".to_owned(),
            })?;
            entries.push(meta::read_entry(&item.path(), name)?);
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// One secret's metadata.
    pub fn entry(&self, name: &str) -> Result<Entry, VaultError> {
        validate_name(name)?;
        let path = self.meta_path(name);
        if !path.exists() {
            return Err(VaultError::NotFound {
                name: name.to_owned(),
                dir: self.dir.clone(),
            });
        }
        meta::read_entry(&path, name)
    }

    /// Adds a secret. Refuses a name that exists (use [`Vault::rotate`]), an empty value and, for
    /// a passphrase vault, a passphrase that does not unlock it. `source` notes where the value
    /// came from.
    pub fn add(
        &self,
        name: &str,
        provider: Provider,
        secret: &Secret,
        unlock: &Unlock,
        source: Option<&str>,
    ) -> Result<Entry, VaultError> {
        validate_name(name)?;
        check_value(secret)?;
        let _lock = files::lock(&self.dir)?;
        if self.meta_path(name).exists() {
            return Err(VaultError::Exists {
                name: name.to_owned(),
                dir: self.dir.clone(),
            });
        }
        let sealer = self.sealer(unlock)?;
        let entry = Entry {
            name: name.to_owned(),
            provider,
            created: meta::now(),
            rotated: None,
            source: source.map(str::to_owned),
        };
        self.write_value(&sealer, &entry, secret)?;
        // The metadata last: a secret exists once its `.toml` does.
        meta::write_entry(&self.meta_path(name), &entry)?;
        Ok(entry)
    }

    /// Replaces a secret's value; keeps its provider, creation date and source, and sets
    /// `rotated`. If the new value cannot be encrypted or written, the old one stays in place.
    pub fn rotate(
        &self,
        name: &str,
        secret: &Secret,
        unlock: &Unlock,
    ) -> Result<Entry, VaultError> {
        validate_name(name)?;
        check_value(secret)?;
        let _lock = files::lock(&self.dir)?;
        let mut entry = self.entry(name)?;
        let sealer = self.sealer(unlock)?;
        entry.rotated = Some(meta::now());
        self.write_value(&sealer, &entry, secret)?;
        meta::write_entry(&self.meta_path(name), &entry)?;
        Ok(entry)
    }

    /// Removes a secret (no unlock needed: deleting reveals nothing). Returns what it was.
    pub fn remove(&self, name: &str) -> Result<Entry, VaultError> {
        let _lock = files::lock(&self.dir)?;
        let entry = self.entry(name)?;
        let meta_path = self.meta_path(name);
        std::fs::remove_file(&meta_path).map_err(VaultError::io("remove", &meta_path))?;
        let value = self.value_path(name);
        match std::fs::remove_file(&value) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(VaultError::io("remove", &value)(e));
            }
            _ => {}
        }
        files::sync_dir(&self.secrets_dir())?;
        Ok(entry)
    }

    /// Decrypts a secret's value.
    pub fn get(&self, name: &str, unlock: &Unlock) -> Result<Secret, VaultError> {
        let entry = self.entry(name)?;
        let opener = self.opener(unlock)?;
        let path = self.value_path(name);
        let ciphertext = files::read_limited(&path, crypto::MAX_AGE_FILE)?;
        let damaged = |reason: String| VaultError::Damaged {
            path: path.clone(),
            reason,
        };
        let plaintext = match crypto::open(&opener, &ciphertext) {
            Ok(p) => p,
            Err(OpenFailure::Damaged(reason)) => return Err(damaged(reason)),
            Err(OpenFailure::WrongKey) => {
                // Tell a wrong passphrase from a file made for another vault.
                self.check_opener(&opener)?;
                return Err(damaged(
                    "it is not encrypted to this vault's key".to_owned(),
                ));
            }
        };
        crypto::parse_secret(&plaintext, name, entry.provider).map_err(damaged)
    }

    /// The secret to use for `provider`: the one named after the provider (`ibm`), else the only
    /// one of that provider; an error names the candidates when there are several.
    pub fn for_provider(&self, provider: Provider) -> Result<Entry, VaultError> {
        let mut candidates: Vec<Entry> = self
            .list()?
            .into_iter()
            .filter(|e| e.provider == provider)
            .collect();
        if let Some(i) = candidates.iter().position(|e| e.name == provider.as_str()) {
            return Ok(candidates.swap_remove(i));
        }
        match candidates.len() {
            0 => Err(VaultError::NoSecretForProvider {
                provider,
                dir: self.dir.clone(),
            }),
            1 => candidates
                .pop()
                .ok_or_else(|| VaultError::NoSecretForProvider {
                    provider,
                    dir: self.dir.clone(),
                }),
            _ => Err(VaultError::AmbiguousProvider {
                provider,
                candidates: candidates.into_iter().map(|e| e.name).collect(),
            }),
        }
    }

    /// [`Vault::for_provider`], decrypted.
    pub fn get_for_provider(
        &self,
        provider: Provider,
        unlock: &Unlock,
    ) -> Result<(Entry, Secret), VaultError> {
        let entry = self.for_provider(provider)?;
        let secret = self.get(&entry.name, unlock)?;
        Ok((entry, secret))
    }

    fn write_value(
        &self,
        sealer: &Sealer,
        entry: &Entry,
        secret: &Secret,
    ) -> Result<(), VaultError> {
        let path = self.value_path(&entry.name);
        let plaintext = crypto::secret_plaintext(&entry.name, entry.provider, secret);
        let sealed = crypto::seal(sealer, &plaintext, &path)?;
        files::write_atomic(&path, &sealed)
    }

    fn secrets_dir(&self) -> PathBuf {
        self.dir.join(SECRETS_DIR)
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.secrets_dir().join(format!("{name}.toml"))
    }

    fn value_path(&self, name: &str) -> PathBuf {
        self.secrets_dir().join(format!("{name}.age"))
    }
}

/// Refuses an empty or oversized value.
fn check_value(secret: &Secret) -> Result<(), VaultError> {
    let len = secret.expose().len();
    if len == 0 {
        return Err(VaultError::BadValue {
            what: "the secret's value is empty".to_owned(),
            fix: "supply the provider's key".to_owned(),
        });
    }
    if len > crypto::MAX_SECRET_BYTES {
        return Err(VaultError::BadValue {
            what: format!(
                "the secret's value is {len} bytes, more than the {} a vault secret may be",
                crypto::MAX_SECRET_BYTES
            ),
            fix: "store the provider's key itself, not a whole file".to_owned(),
        });
    }
    Ok(())
}
