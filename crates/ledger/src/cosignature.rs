//! C2SP tlog cosignatures, version 1 with Ed25519 (<https://c2sp.org/tlog-cosignature>).
//!
//! A witness (cosigner) that has checked a checkpoint is consistent with everything it saw of
//! the log adds a note signature line to it. For the Ed25519 type:
//! - the key id is `SHA-256(name || "\n" || 0x04 || public key)[:4]`;
//! - the signed message is `cosignature/v1\ntime <POSIX seconds>\n` followed by the whole
//!   checkpoint text (the note body, extension lines included);
//! - the signature is the 8-byte big-endian timestamp followed by the 64-byte Ed25519 signature.
//!
//! Witness keys are written as verifier keys of type `0x04`:
//! `<name>+<hex key id>+<base64(0x04 || public key)>`. The Ed25519 message does not commit to the
//! witness name, so one key must never serve two witness names.
//!
//! A cosignature line is appended to the signed checkpoint as one more signature line; clients
//! that do not know the witness key ignore it.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::note::{self, Note, NoteError};

/// The signature type byte of timestamped Ed25519 cosignatures.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp allowed: `2^63 - 1`.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature could not be made or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A key or the note is malformed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The cosigned text is not a checkpoint.
    #[error("the cosigned text is not a valid checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The timestamp is above `2^63 - 1`.
    #[error("the cosignature timestamp {timestamp} is larger than 2^63-1")]
    TimestampOutOfRange {
        /// The timestamp.
        timestamp: u64,
    },
    /// The note has no cosignature from this witness.
    #[error("the checkpoint has no cosignature from the witness `{name}+{key_id:08x}`")]
    Missing {
        /// The witness name.
        name: String,
        /// The witness key id.
        key_id: u32,
    },
    /// The witness's signature has the wrong length.
    #[error(
        "the cosignature by `{name}` is {len} bytes after the key id, not the 72 of a timestamp \
         and an Ed25519 signature"
    )]
    WrongLength {
        /// The witness name.
        name: String,
        /// The length found.
        len: usize,
    },
    /// The witness's signature does not verify.
    #[error(
        "the cosignature by `{name}+{key_id:08x}` does not verify: the checkpoint or the \
         timestamp was altered"
    )]
    InvalidSignature {
        /// The witness name.
        name: String,
        /// The witness key id.
        key_id: u32,
    },
}

/// The message a v1 Ed25519 cosignature signs.
fn message(timestamp: u64, checkpoint_text: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

/// A witness's Ed25519 cosigning key and its name. The secret key is zeroised when dropped and
/// never printed by `Debug`.
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Cosigner {
    /// A new random cosigning key named `name`.
    pub fn generate(name: &str) -> Result<Cosigner, CosignatureError> {
        if !note::is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName {
                name: name.to_owned(),
            }
            .into());
        }
        Ok(Cosigner::with_key(name.to_owned(), note::generate_key()?))
    }

    /// Reads a private key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>`, the key id
    /// being that of the type-`0x04` public key.
    pub fn from_skey(skey: &str) -> Result<Cosigner, CosignatureError> {
        let (name, key) = note::parse_skey(skey, ALG_COSIGNATURE_V1)?;
        Ok(Cosigner::with_key(name, key))
    }

    fn with_key(name: String, key: SigningKey) -> Cosigner {
        let key_id = note::key_id(&name, ALG_COSIGNATURE_V1, key.verifying_key().as_bytes());
        Cosigner { name, key_id, key }
    }

    /// The private key (type `0x04`); keep it secret. The string is zeroised on drop.
    pub fn to_skey(&self) -> Zeroizing<String> {
        note::format_skey(&self.name, ALG_COSIGNATURE_V1, &self.key)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The cosignature line for `checkpoint_text` (a checkpoint note body, final newline
    /// included) at `timestamp` (POSIX seconds): `— <name> <base64(key id || timestamp ||
    /// signature)>\n`. Append it to the signed checkpoint.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<String, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange { timestamp });
        }
        Checkpoint::parse(checkpoint_text)?;
        let sig = self
            .key
            .sign(message(timestamp, checkpoint_text).as_bytes());
        let mut raw = Vec::with_capacity(72);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(note::format_signature_line(&self.name, self.key_id, &raw))
    }
}

/// A trusted witness's Ed25519 cosignature verification key and its name.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CosignatureVerifier")
            .field(&self.to_vkey())
            .finish()
    }
}

impl CosignatureVerifier {
    /// Reads a witness verifier key `<name>+<hex key id>+<base64(0x04 || public key)>`.
    pub fn from_vkey(vkey: &str) -> Result<CosignatureVerifier, CosignatureError> {
        let raw = note::parse_vkey(vkey, ALG_COSIGNATURE_V1)?;
        let key = VerifyingKey::from_bytes(&raw.public_key).map_err(|_| {
            NoteError::MalformedVerifierKey {
                reason: "the public key is not a valid Ed25519 point",
            }
        })?;
        Ok(CosignatureVerifier {
            name: raw.name.to_owned(),
            key_id: note::key_id(raw.name, ALG_COSIGNATURE_V1, &raw.public_key),
            key,
        })
    }

    /// The witness verifier key (type `0x04`).
    pub fn to_vkey(&self) -> String {
        note::format_vkey(&self.name, ALG_COSIGNATURE_V1, self.key.as_bytes())
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Verifies this witness's cosignature on `checkpoint_note` (a parsed signed checkpoint) and
    /// returns its timestamp. Other signatures are ignored; the log's own signature must be
    /// checked separately (with [`crate::checkpoint::open`]). Rejecting timestamps in the future
    /// is left to the caller, which knows the time.
    pub fn verify(&self, checkpoint_note: &Note) -> Result<u64, CosignatureError> {
        let sig = checkpoint_note
            .signatures()
            .iter()
            .find(|s| s.name() == self.name && s.key_id() == self.key_id)
            .ok_or_else(|| CosignatureError::Missing {
                name: self.name.clone(),
                key_id: self.key_id,
            })?;
        let raw = sig.signature();
        let (Some(ts), Some(ed)) = (raw.get(..8), raw.get(8..)) else {
            return Err(self.wrong_length(raw.len()));
        };
        let timestamp =
            u64::from_be_bytes(ts.try_into().map_err(|_| self.wrong_length(raw.len()))?);
        let ed = Signature::from_slice(ed).map_err(|_| self.wrong_length(raw.len()))?;
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange { timestamp });
        }
        let invalid = || CosignatureError::InvalidSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        self.key
            .verify_strict(message(timestamp, checkpoint_note.text()).as_bytes(), &ed)
            .map_err(|_| invalid())?;
        // Only checkpoints are cosigned; a valid signature over anything else is still refused.
        Checkpoint::parse(checkpoint_note.text())?;
        Ok(timestamp)
    }

    fn wrong_length(&self, len: usize) -> CosignatureError {
        CosignatureError::WrongLength {
            name: self.name.clone(),
            len,
        }
    }
}
