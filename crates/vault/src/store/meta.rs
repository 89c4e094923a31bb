//! The plaintext metadata: `vault.toml` (format, unlock kind, recipient) and one
//! `secrets/<name>.toml` per secret (name, provider, dates, source), readable without unlocking.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::VaultError;
use super::files;
use super::{Entry, UnlockKind};

/// The format version this code reads and writes.
pub(crate) const FORMAT: u32 = 1;

/// The longest secret name.
const MAX_NAME: usize = 64;

/// Metadata files are small; anything larger is not ours.
const MAX_META_BYTES: u64 = 64 * 1024;

/// `vault.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VaultMeta {
    /// [`FORMAT`].
    pub format: u32,
    /// How the vault is unlocked.
    pub unlock: UnlockKind,
    /// Identity vaults: the age recipient (`age1…`) every secret is encrypted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Identity vaults: where `init` found or made the identity, so sessions can hide it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Passphrase vaults: the scrypt work factor (log2 N) chosen at `init`; age's
    /// calibrated default (about one second) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrypt_work_factor: Option<u8>,
}

const VAULT_HEADER: &str = "# qwarden credential vault: metadata only, no secrets. Each secret's value is in\n# secrets/<name>.age (age-encrypted), its name, provider and dates in secrets/<name>.toml.\n";

const SECRET_HEADER: &str = "# qwarden secret metadata (no value: the value is age-encrypted in the .age file beside it).\n";

/// Checks a secret name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn validate_name(name: &str) -> Result<(), VaultError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= MAX_NAME {
        Ok(())
    } else {
        Err(VaultError::InvalidName {
            name: name.chars().take(80).collect(),
        })
    }
}

fn metadata_error(path: &Path, reason: impl Into<String>) -> VaultError {
    VaultError::Metadata {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, VaultError> {
    let bytes = files::read_limited(path, MAX_META_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| metadata_error(path, "not UTF-8"))?;
    toml::from_str(text).map_err(|e| metadata_error(path, e.to_string().trim_end().to_owned()))
}

fn write_toml(path: &Path, header: &str, value: &impl Serialize) -> Result<(), VaultError> {
    let body = toml::to_string(value).map_err(|e| metadata_error(path, e.to_string()))?;
    files::write_atomic(path, format!("{header}{body}").as_bytes())
}

/// Reads and checks `vault.toml`.
pub(crate) fn read_vault(path: &Path) -> Result<VaultMeta, VaultError> {
    let meta: VaultMeta = read_toml(path)?;
    if meta.format != FORMAT {
        return Err(metadata_error(
            path,
            format!(
                "format {} is not {FORMAT}, the one this qwarden reads (a newer qwarden wrote it?)",
                meta.format
            ),
        ));
    }
    match (meta.unlock, &meta.recipient) {
        (UnlockKind::Identity, None) => Err(metadata_error(
            path,
            "an identity vault needs its `recipient`",
        )),
        (UnlockKind::Identity, Some(r)) if r.parse::<age::x25519::Recipient>().is_err() => {
            Err(metadata_error(
                path,
                format!("`recipient = {r:?}` is not an age X25519 recipient"),
            ))
        }
        (UnlockKind::Passphrase, Some(_)) => Err(metadata_error(
            path,
            "a passphrase vault has no `recipient`",
        )),
        _ => Ok(meta),
    }
}

/// Writes `vault.toml`.
pub(crate) fn write_vault(path: &Path, meta: &VaultMeta) -> Result<(), VaultError> {
    write_toml(path, VAULT_HEADER, meta)
}

/// Reads a secret's metadata and checks it names the secret it is filed under.
pub(crate) fn read_entry(path: &Path, name: &str) -> Result<Entry, VaultError> {
    let entry: Entry = read_toml(path)?;
    if entry.name != name {
        return Err(metadata_error(
            path,
            format!(
                "it describes secret `{}`, but is filed as `{name}`",
                entry.name
            ),
        ));
    }
    Ok(entry)
}

/// Writes a secret's metadata.
pub(crate) fn write_entry(path: &Path, entry: &Entry) -> Result<(), VaultError> {
    write_toml(path, SECRET_HEADER, entry)
}

/// Now, to the second (as the metadata records it).
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}
