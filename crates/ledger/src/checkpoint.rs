//! C2SP transparency log checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed tree head.
//!
//! A checkpoint is the text of a [signed note](crate::note):
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//! [extension lines]
//! ```
//!
//! The log signs it with a key whose name is the origin ([`sign`]); a client opens it only with
//! that log's verifier key ([`open`]), which checks the signature before reading the text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::merkle::Hash;
use crate::note::{Note, NoteError, NoteSigner, NoteVerifier};

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or does not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint text does not end in a newline.
    #[error("the checkpoint text must end with a newline")]
    NotTerminated,
    /// Fewer than the three mandatory lines.
    #[error(
        "the checkpoint has {found} line(s); it needs at least three: origin, tree size and \
         root hash"
    )]
    TooFewLines {
        /// How many lines there are.
        found: usize,
    },
    /// The origin is empty.
    #[error("the checkpoint origin (its first line) is empty")]
    EmptyOrigin,
    /// A line contains a control character.
    #[error("line {line} of the checkpoint contains a control character")]
    ControlCharacter {
        /// The 1-based line number.
        line: usize,
    },
    /// The tree size is not a canonical decimal `u64`.
    #[error(
        "the tree size `{found}` is not a decimal number without sign or leading zeros \
         (an empty tree is `0`)"
    )]
    InvalidSize {
        /// The second line as found.
        found: String,
    },
    /// The root hash is not the canonical base64 of 32 bytes.
    #[error("the root hash `{found}` is not the padded base64 of a 32-byte SHA-256 hash")]
    InvalidRoot {
        /// The third line as found.
        found: String,
    },
    /// An extension line is empty.
    #[error("extension line {line} of the checkpoint is empty; extension lines must not be")]
    EmptyExtension {
        /// The 1-based line number within the checkpoint.
        line: usize,
    },
    /// An extension (given to [`sign`]) contains a newline or other control character.
    #[error(
        "extension {index} contains a newline or another control character; each extension \
         must be a single line"
    )]
    InvalidExtension {
        /// The 0-based index in [`Checkpoint::extensions`].
        index: usize,
    },
    /// The checkpoint was signed, or is being opened, with a key whose name is not the origin.
    #[error(
        "the checkpoint origin `{origin}` is not the log key name `{key}`; use the key of the \
         log that issued this checkpoint"
    )]
    OriginMismatch {
        /// The checkpoint's origin.
        origin: String,
        /// The key's name.
        key: String,
    },
}

/// A log's tree head: origin, size and root hash, plus optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; by convention a schema-less URL such as `example.com/log`.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root hash of those leaves.
    pub root: Hash,
    /// Opaque extension lines (without newlines); best left empty.
    pub extensions: Vec<String>,
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20)
}

impl Checkpoint {
    /// Checks that [`Checkpoint::to_text`] produces a checkpoint that parses back to `self`.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if has_control(&self.origin) {
            return Err(CheckpointError::ControlCharacter { line: 1 });
        }
        for (index, ext) in self.extensions.iter().enumerate() {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: index + 4 });
            }
            if has_control(ext) {
                return Err(CheckpointError::InvalidExtension { index });
            }
        }
        Ok(())
    }

    /// The checkpoint text (the note body), ending in a newline. Meaningful only for a checkpoint
    /// that passes [`Checkpoint::validate`].
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint text strictly: a non-empty origin, a decimal size without leading
    /// zeros, the base64 of a 32-byte root, then non-empty extension lines; every line ends in a
    /// newline and none contains a control character.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotTerminated)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if let Some(i) = lines.iter().position(|l| has_control(l)) {
            return Err(CheckpointError::ControlCharacter { line: i + 1 });
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { found: lines.len() });
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size).ok_or_else(|| CheckpointError::InvalidSize {
            found: (*size).to_owned(),
        })?;
        let root = parse_root(root).ok_or_else(|| CheckpointError::InvalidRoot {
            found: (*root).to_owned(),
        })?;
        if let Some(i) = extensions.iter().position(|l| l.is_empty()) {
            return Err(CheckpointError::EmptyExtension { line: i + 4 });
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|l| (*l).to_owned()).collect(),
        })
    }
}

fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_root(s: &str) -> Option<Hash> {
    BASE64.decode(s).ok()?.try_into().ok()
}

/// Signs `checkpoint` as a note with the log's key, whose name must be the checkpoint's origin.
/// Returns the complete signed note.
pub fn sign(checkpoint: &Checkpoint, signer: &NoteSigner) -> Result<String, CheckpointError> {
    checkpoint.validate()?;
    if signer.name() != checkpoint.origin {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin.clone(),
            key: signer.name().to_owned(),
        });
    }
    Ok(signer.sign(&checkpoint.to_text())?)
}

/// Opens a signed checkpoint: the note must carry a valid signature by `log` (other signatures,
/// such as witness cosignatures, are ignored), and the checkpoint's origin must be `log`'s name.
///
/// Returns the checkpoint and the parsed note (for its cosignatures).
pub fn open(bytes: &[u8], log: &NoteVerifier) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(bytes)?;
    note.verify(std::slice::from_ref(log))?;
    let checkpoint = Checkpoint::parse(note.text())?;
    if checkpoint.origin != log.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            key: log.name().to_owned(),
        });
    }
    Ok((checkpoint, note))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn size_rules() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "18446744073709551616",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
