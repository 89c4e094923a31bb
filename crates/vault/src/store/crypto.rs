//! age encryption of secret values, and the X25519 identity file.
//!
//! Each `.age` file is a standard age file (`age -d -i IDENTITY FILE` or `age -d FILE` with the
//! passphrase decrypts it) whose plaintext binds the value to its name and provider:
//!
//! ```text
//! qwarden-secret/v1
//! name: ibm
//! provider: ibm
//!
//! <the value, exactly>
//! ```
//!
//! so a `.age` file copied over another secret's is refused rather than used for the wrong
//! provider. Decrypted bytes live only in zeroised buffers.

use std::io::{Read, Write};
use std::iter;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use age::{DecryptError, Decryptor, Encryptor, scrypt, x25519};
use zeroize::Zeroizing;

use super::error::VaultError;
use super::files;
use crate::secret::{Provider, Secret};

/// The first line of a secret's plaintext.
const SECRET_MAGIC: &str = "qwarden-secret/v1";

/// The whole plaintext of `check.age`, which proves an unlock right before anything is written.
pub(crate) const CHECK_PLAINTEXT: &[u8] = b"qwarden-vault-check/v1\n";

/// The largest value a secret may have.
pub(crate) const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The largest `.age` file read (the value plus the age header and framing, with room to spare).
pub(crate) const MAX_AGE_FILE: u64 = 1024 * 1024;

/// The largest identity file read.
const MAX_IDENTITY_FILE: u64 = 64 * 1024;

/// What encrypts for the vault.
pub(crate) enum Sealer {
    /// A passphrase, with the vault's scrypt work factor.
    Passphrase(Secret, Option<u8>),
    /// The vault's X25519 recipient.
    Recipient(x25519::Recipient),
}

/// What decrypts the vault.
pub(crate) enum Opener {
    /// A passphrase, accepting at most the vault's work factor.
    Passphrase(Secret, Option<u8>),
    /// The X25519 identity.
    Identity(x25519::Identity),
}

/// Why a file did not decrypt.
pub(crate) enum OpenFailure {
    /// The key does not fit (a wrong passphrase or identity, or a file made for another vault).
    WrongKey,
    /// The file is malformed, truncated or modified.
    Damaged(String),
}

fn secret_string(s: &Secret) -> SecretString {
    SecretString::from(s.expose().to_owned())
}

/// Encrypts `plaintext`; `path` is only for the error.
pub(crate) fn seal(sealer: &Sealer, plaintext: &[u8], path: &Path) -> Result<Vec<u8>, VaultError> {
    let fail = |reason: String| VaultError::Encrypt {
        path: path.to_path_buf(),
        reason,
    };
    let encryptor = match sealer {
        Sealer::Passphrase(p, work) => {
            let mut r = scrypt::Recipient::new(secret_string(p));
            if let Some(w) = work {
                r.set_work_factor(*w);
            }
            Encryptor::with_recipients(iter::once(&r as &dyn age::Recipient))
        }
        Sealer::Recipient(r) => Encryptor::with_recipients(iter::once(r as &dyn age::Recipient)),
    }
    .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    writer
        .write_all(plaintext)
        .map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// Decrypts `ciphertext` into a zeroised buffer.
pub(crate) fn open(opener: &Opener, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenFailure> {
    let decryptor = Decryptor::new_buffered(ciphertext).map_err(|e| match e {
        DecryptError::UnknownFormat => OpenFailure::Damaged("it is not an age v1 file".to_owned()),
        other => OpenFailure::Damaged(format!("its age header is unreadable ({other})")),
    })?;
    let scrypt_identity;
    let identity: &dyn age::Identity = match opener {
        Opener::Passphrase(p, work) => {
            let mut id = scrypt::Identity::new(secret_string(p));
            if let Some(w) = work {
                id.set_max_work_factor(*w);
            }
            scrypt_identity = id;
            &scrypt_identity
        }
        Opener::Identity(id) => id,
    };
    let mut reader = decryptor
        .decrypt(iter::once(identity))
        .map_err(|e| match e {
            DecryptError::NoMatchingKeys
            | DecryptError::DecryptionFailed
            | DecryptError::KeyDecryptionFailed => OpenFailure::WrongKey,
            DecryptError::InvalidMac => {
                OpenFailure::Damaged("its age header's MAC does not verify".to_owned())
            }
            DecryptError::ExcessiveWork { required, .. } => OpenFailure::Damaged(format!(
                "it demands scrypt work factor {required}, more than the vault uses"
            )),
            other => OpenFailure::Damaged(format!("its age header is invalid ({other})")),
        })?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader.read_to_end(&mut plaintext).map_err(|e| {
        OpenFailure::Damaged(format!(
            "its encrypted payload is truncated or modified ({e})"
        ))
    })?;
    Ok(plaintext)
}

/// A secret's plaintext: the header binding it to `name` and `provider`, then the value.
pub(crate) fn secret_plaintext(
    name: &str,
    provider: Provider,
    secret: &Secret,
) -> Zeroizing<Vec<u8>> {
    let header = format!("{SECRET_MAGIC}\nname: {name}\nprovider: {provider}\n\n");
    let mut buf = Zeroizing::new(Vec::with_capacity(header.len() + secret.expose().len()));
    buf.extend_from_slice(header.as_bytes());
    buf.extend_from_slice(secret.expose().as_bytes());
    buf
}

/// The value in a secret's plaintext, after checking it is filed under the right name and
/// provider; the error is the reason for [`VaultError::Damaged`].
pub(crate) fn parse_secret(
    plaintext: &[u8],
    name: &str,
    provider: Provider,
) -> Result<Secret, String> {
    let expected = format!("{SECRET_MAGIC}\nname: {name}\nprovider: {provider}\n\n");
    match plaintext.strip_prefix(expected.as_bytes()) {
        Some(value) => std::str::from_utf8(value)
            .map(Secret::new)
            .map_err(|_| "its value is not UTF-8".to_owned()),
        None if plaintext.starts_with(SECRET_MAGIC.as_bytes()) => Err(format!(
            "it decrypts, but holds another secret than `{name}` of provider `{provider}` (was it copied over?)"
        )),
        None => Err("it decrypts, but is not a qwarden secret".to_owned()),
    }
}

fn identity_error(path: &Path, reason: impl Into<String>, fix: impl Into<String>) -> VaultError {
    VaultError::Identity {
        path: path.to_path_buf(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// Reads an age X25519 identity file (as `age-keygen` writes it: `#` comments and one
/// `AGE-SECRET-KEY-1…` line). Refuses a file others can read or that another user owns.
pub(crate) fn read_identity(path: &Path) -> Result<x25519::Identity, VaultError> {
    let md = std::fs::metadata(path).map_err(|e| {
        identity_error(
            path,
            e.to_string(),
            "pass the identity file the vault was created with (`--identity FILE` or QWARDEN_VAULT_IDENTITY)",
        )
    })?;
    if !md.is_file() {
        return Err(identity_error(
            path,
            "it is not a file",
            "pass the identity file",
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if md.uid() != me {
        return Err(identity_error(
            path,
            format!("it is owned by uid {}, not by you (uid {me})", md.uid()),
            format!("`chown {me} {}` if it is yours", path.display()),
        ));
    }
    if md.mode() & 0o077 != 0 {
        return Err(identity_error(
            path,
            format!(
                "its group or everyone may access it (mode {:o})",
                md.mode() & 0o777
            ),
            format!("`chmod 600 {}`", path.display()),
        ));
    }
    let bytes = files::read_limited(path, MAX_IDENTITY_FILE).map_err(|e| match e {
        VaultError::Damaged { reason, .. } => {
            identity_error(path, reason, "pass an age identity file")
        }
        other => other,
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| identity_error(path, "it is not UTF-8 text", "pass an age identity file"))?;
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let no_key = || {
        identity_error(
            path,
            "it holds no age X25519 identity (a line `AGE-SECRET-KEY-1…`)",
            "pass the file `qwarden secrets init` wrote, or one made by `age-keygen`",
        )
    };
    let line = keys.next().ok_or_else(no_key)?;
    if keys.next().is_some() {
        return Err(identity_error(
            path,
            "it holds more than one key line",
            "keep only the vault's `AGE-SECRET-KEY-1…` line",
        ));
    }
    line.parse::<x25519::Identity>().map_err(|_| no_key())
}

/// Makes a new identity and writes it to `path` (which must not exist) with mode 0600, in
/// `age-keygen`'s format; its directory is created 0700 if missing.
pub(crate) fn create_identity(path: &Path) -> Result<x25519::Recipient, VaultError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::create_private_dir(dir)?;
    }
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public();
    let created = super::meta::now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let key = identity.to_string();
    let header = format!(
        "# qwarden vault identity: it decrypts every secret in the vault. Keep it outside every\n# sandbox and back it up; never share it.\n# created: {created}\n# public key: {recipient}\n"
    );
    // Sized up front, so no reallocation leaves a copy of the key behind.
    let mut text = Zeroizing::new(String::with_capacity(
        header.len() + key.expose_secret().len() + 1,
    ));
    text.push_str(&header);
    text.push_str(key.expose_secret());
    text.push('\n');
    files::create_atomic(path, text.as_bytes())?;
    Ok(recipient)
}
