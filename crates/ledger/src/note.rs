//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, and one or more signature
//! lines `— <key name> <base64(key id || signature)>`. The key id of an Ed25519 key is the first
//! four bytes of `SHA-256(key name || "\n" || 0x01 || public key)`.
//!
//! Keys travel in the formats of the Go reference implementation (`golang.org/x/mod/sumdb/note`):
//! a verifier key is `<name>+<hex key id>+<base64(0x01 || public key)>`, a signer key is
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`.
//!
//! Parsing follows the reference implementation's rules and limits (at most 1,000,000 bytes and
//! 100 signatures), with two deliberate differences that only ever reject more:
//! - base64 must be canonical (padded, no stray bits), so that [`Note::to_bytes`] reproduces the
//!   input exactly;
//! - a note carrying two signature lines from the same key (name and key id) is rejected, where
//!   the Go implementation silently keeps the first one.
//!
//! The text of a note must be ignored until [`Note::verify`] has succeeded.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The largest signed note accepted, in bytes (as in the Go reference implementation).
pub const MAX_NOTE_SIZE: usize = 1_000_000;

/// The largest number of signature lines accepted in one note (as in the Go reference
/// implementation; the specification requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The signature type byte of plain Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;

/// The first characters of every signature line: an em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, a key or a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("the note is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// The size of the note.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("the note is not valid UTF-8 (invalid byte at offset {offset}); notes are UTF-8 text")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The note contains an ASCII control character other than newline.
    #[error(
        "the note contains the control character 0x{byte:02x} at offset {offset}; \
         only newline (0x0a) is allowed, so check for CR-LF line endings or tabs"
    )]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// The text to sign does not end in a newline.
    #[error("the text to sign must end with a newline")]
    TextNotTerminated,
    /// There is no blank line followed by signature lines.
    #[error(
        "the note has no signature block: after the text there must be a blank line and then \
         one or more `\u{2014} <key name> <base64 signature>` lines, each ending in a newline"
    )]
    MissingSignatures,
    /// A signature line is malformed.
    #[error(
        "signature line {line} is malformed: {reason}; expected \
         `\u{2014} <key name> <base64(key id || signature)>`"
    )]
    MalformedSignatureLine {
        /// The 1-based number of the line within the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("the note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// Two signature lines name the same key.
    #[error(
        "the note has more than one signature from the key `{name}+{key_id:08x}`; \
         remove the duplicate line"
    )]
    DuplicateSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A key name is empty or contains whitespace or `+`.
    #[error("`{name}` is not a valid key name: it must be non-empty, without spaces or `+`")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A verifier key string is malformed.
    #[error(
        "malformed verifier key: {reason}; expected `<name>+<8 hex digits>+<base64 key>` \
         as printed by the log or witness"
    )]
    MalformedVerifierKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A signer (private) key string is malformed. The key itself is never echoed.
    #[error(
        "malformed private key: {reason}; expected \
         `PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>`"
    )]
    MalformedSignerKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key has a signature type other than the one required.
    #[error("the key has signature type 0x{found:02x}, but this needs type 0x{expected:02x}")]
    WrongKeyType {
        /// The type byte found in the key.
        found: u8,
        /// The type byte required.
        expected: u8,
    },
    /// The key id written in a key string is not the one derived from its name and key.
    #[error(
        "the key id {stated:08x} does not match the key (it should be {computed:08x}); \
         the key string is damaged or was edited"
    )]
    KeyIdMismatch {
        /// The key id in the string.
        stated: u32,
        /// The key id derived from the name and the key.
        computed: u32,
    },
    /// Two trusted verifiers share a name and key id but hold different keys.
    #[error(
        "two trusted keys are both named `{name}+{key_id:08x}`; remove one of them from the \
         trusted keys"
    )]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A signature from a trusted key does not verify.
    #[error(
        "the signature by `{name}+{key_id:08x}` does not verify: the note was altered \
         after signing, or signed by another key with the same name and id"
    )]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature is from a trusted key.
    #[error(
        "the note has no signature from a trusted key; check that it comes from the expected \
         log and that its verifier key is configured"
    )]
    NotVerified,
    /// The operating system could not provide random bytes for a new key.
    #[error("cannot get random bytes from the operating system to make a key: {reason}")]
    Randomness {
        /// The underlying error.
        reason: String,
    },
}

/// Whether `name` may be a key name: non-empty, no Unicode whitespace, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key id of a key: the first four bytes, big-endian, of
/// `SHA-256(name || "\n" || signature type || public key)`.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public_key);
    let d = h.finalize();
    let mut id = [0u8; 4];
    for (dst, src) in id.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    u32::from_be_bytes(id)
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// Parses exactly eight hexadecimal digits.
fn parse_hex_id(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A parsed verifier key string: `<name>+<hex key id>+<base64(type || key)>`.
pub(crate) struct RawVerifierKey<'a> {
    pub(crate) name: &'a str,
    pub(crate) public_key: [u8; 32],
}

/// Parses a verifier key of signature type `alg` carrying a 32-byte key, and checks its key id.
pub(crate) fn parse_vkey(vkey: &str, alg: u8) -> Result<RawVerifierKey<'_>, NoteError> {
    let bad = |reason| NoteError::MalformedVerifierKey { reason };
    let (name, rest) = vkey
        .split_once('+')
        .ok_or(bad("it has no `+` separators"))?;
    let (hex, b64) = rest
        .split_once('+')
        .ok_or(bad("it has no base64 key after the key id"))?;
    check_name(name)?;
    let stated = parse_hex_id(hex).ok_or(bad("the key id is not 8 hexadecimal digits"))?;
    let raw = BASE64
        .decode(b64)
        .map_err(|_| bad("the key is not valid base64"))?;
    let (&found, key) = raw.split_first().ok_or(bad("the key is empty"))?;
    if found != alg {
        return Err(NoteError::WrongKeyType {
            found,
            expected: alg,
        });
    }
    let public_key: [u8; 32] = key
        .try_into()
        .map_err(|_| bad("the Ed25519 public key is not 32 bytes"))?;
    let computed = key_id(name, alg, &public_key);
    if computed != stated {
        return Err(NoteError::KeyIdMismatch { stated, computed });
    }
    Ok(RawVerifierKey { name, public_key })
}

/// Formats a verifier key string.
pub(crate) fn format_vkey(name: &str, alg: u8, public_key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(public_key);
    format!(
        "{name}+{:08x}+{}",
        key_id(name, alg, public_key),
        BASE64.encode(raw)
    )
}

/// Parses a signer key of signature type `alg`, derives its public key and checks its key id.
/// Nothing secret is ever put in an error.
pub(crate) fn parse_skey(skey: &str, alg: u8) -> Result<(String, SigningKey), NoteError> {
    let bad = |reason| NoteError::MalformedSignerKey { reason };
    let rest = skey
        .strip_prefix("PRIVATE+KEY+")
        .ok_or(bad("it does not start with `PRIVATE+KEY+`"))?;
    let (name, rest) = rest
        .split_once('+')
        .ok_or(bad("it has no key id after the name"))?;
    let (hex, b64) = rest
        .split_once('+')
        .ok_or(bad("it has no base64 key after the key id"))?;
    check_name(name)?;
    let stated = parse_hex_id(hex).ok_or(bad("the key id is not 8 hexadecimal digits"))?;
    let raw = Zeroizing::new(
        BASE64
            .decode(b64)
            .map_err(|_| bad("the key is not valid base64"))?,
    );
    let (&found, seed) = raw.split_first().ok_or(bad("the key is empty"))?;
    if found != alg {
        return Err(NoteError::WrongKeyType {
            found,
            expected: alg,
        });
    }
    let mut seed_bytes = Zeroizing::new([0u8; 32]);
    if seed.len() != seed_bytes.len() {
        return Err(bad("the Ed25519 seed is not 32 bytes"));
    }
    seed_bytes.copy_from_slice(seed);
    let key = SigningKey::from_bytes(&seed_bytes);
    let computed = key_id(name, alg, key.verifying_key().as_bytes());
    if computed != stated {
        return Err(NoteError::KeyIdMismatch { stated, computed });
    }
    Ok((name.to_owned(), key))
}

/// Formats a signer key string; the result and every intermediate copy of the seed is zeroised.
pub(crate) fn format_skey(name: &str, alg: u8, key: &SigningKey) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(Vec::with_capacity(33));
    raw.push(alg);
    raw.extend_from_slice(key.as_bytes());
    let b64 = Zeroizing::new(BASE64.encode(&*raw));
    let id = key_id(name, alg, key.verifying_key().as_bytes());
    let mut out = Zeroizing::new(String::with_capacity(32 + name.len() + b64.len()));
    out.push_str("PRIVATE+KEY+");
    out.push_str(name);
    out.push_str(&format!("+{id:08x}+"));
    out.push_str(&b64);
    out
}

/// A fresh Ed25519 key from the operating system's random number generator.
pub(crate) fn generate_key() -> Result<SigningKey, NoteError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(&mut *seed)
        .map_err(|e| NoteError::Randomness {
            reason: e.to_string(),
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Formats one signature line: `— <name> <base64(key id || signature)>\n`.
pub(crate) fn format_signature_line(name: &str, key_id: u32, signature: &[u8]) -> String {
    let mut raw = Vec::with_capacity(4 + signature.len());
    raw.extend_from_slice(&key_id.to_be_bytes());
    raw.extend_from_slice(signature);
    format!("{SIGNATURE_PREFIX}{name} {}\n", BASE64.encode(raw))
}

/// Checks that `text` may be the text of a note: UTF-8 (given), no control characters other
/// than newline, ending in a newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    check_control(text.as_bytes())?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    Ok(())
}

fn check_control(bytes: &[u8]) -> Result<(), NoteError> {
    match bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter {
            byte: bytes.get(offset).copied().unwrap_or_default(),
            offset,
        }),
        None => Ok(()),
    }
}

/// A log's (or any signer's) Ed25519 note signing key and its name.
///
/// The secret key is zeroised when dropped and never printed by `Debug`.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl NoteSigner {
    /// A new random key named `name` (for a log, its origin).
    pub fn generate(name: &str) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        Ok(NoteSigner::with_key(name.to_owned(), generate_key()?))
    }

    /// Reads a private key in the Go note format
    /// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`.
    pub fn from_skey(skey: &str) -> Result<NoteSigner, NoteError> {
        let (name, key) = parse_skey(skey, ALG_ED25519)?;
        Ok(NoteSigner::with_key(name, key))
    }

    fn with_key(name: String, key: SigningKey) -> NoteSigner {
        let key_id = key_id(&name, ALG_ED25519, key.verifying_key().as_bytes());
        NoteSigner { name, key_id, key }
    }

    /// The private key in the Go note format; keep it secret. The string is zeroised on drop.
    pub fn to_skey(&self) -> Zeroizing<String> {
        format_skey(&self.name, ALG_ED25519, &self.key)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature line for `text`: `— <name> <base64(key id || signature)>\n`.
    ///
    /// `text` must be a valid note text: ending in a newline, without control characters other
    /// than newline.
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        Ok(format_signature_line(
            &self.name,
            self.key_id,
            &sig.to_bytes(),
        ))
    }

    /// The complete signed note: `text`, a blank line and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let line = self.signature_line(text)?;
        let size = text.len() + 1 + line.len();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size,
                max: MAX_NOTE_SIZE,
            });
        }
        let mut out = String::with_capacity(size);
        out.push_str(text);
        out.push('\n');
        out.push_str(&line);
        Ok(out)
    }
}

/// A trusted Ed25519 note verification key and its name.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoteVerifier")
            .field(&self.to_vkey())
            .finish()
    }
}

impl NoteVerifier {
    /// Reads a verifier key in the Go note format `<name>+<hex key id>+<base64(0x01 || key)>`.
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let raw = parse_vkey(vkey, ALG_ED25519)?;
        let key = VerifyingKey::from_bytes(&raw.public_key).map_err(|_| {
            NoteError::MalformedVerifierKey {
                reason: "the public key is not a valid Ed25519 point",
            }
        })?;
        Ok(NoteVerifier {
            name: raw.name.to_owned(),
            key_id: key_id(raw.name, ALG_ED25519, &raw.public_key),
            key,
        })
    }

    /// The verifier key in the Go note format.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, ALG_ED25519, self.key.as_bytes())
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text.as_bytes(), &sig).is_ok()
    }
}

/// One signature line of a note, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name on the line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the first four bytes of the decoded signature.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key id (their meaning depends on the key's type).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line as it appears in the note, newline included.
    pub fn to_line(&self) -> String {
        format_signature_line(&self.name, self.key_id, &self.signature)
    }

    fn parse(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
        let bad = |reason| NoteError::MalformedSignatureLine {
            line: number,
            reason,
        };
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(bad(
            "it does not start with an em dash (U+2014) and a space",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(bad(
            "there is no space between the key name and the signature",
        ))?;
        if !is_valid_key_name(name) {
            return Err(bad("the key name is empty or contains whitespace or `+`"));
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| bad("the signature is not canonical padded base64"))?;
        if raw.len() < 5 {
            return Err(bad("the signature is shorter than a key id and one byte"));
        }
        let (id, signature) = raw.split_at(4);
        let key_id = parse_key_id(id).ok_or(bad("the key id is missing"))?;
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature: signature.to_vec(),
        })
    }
}

fn parse_key_id(bytes: &[u8]) -> Option<u32> {
    let id: [u8; 4] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(id))
}

/// A key whose signature on a note verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
}

/// A syntactically valid signed note: text and signature lines, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, enforcing the format's rules: at most [`MAX_NOTE_SIZE`] bytes of
    /// UTF-8 without control characters other than newline; a text ending in a newline; a blank
    /// line; then 1 to [`MAX_SIGNATURES`] well-formed signature lines, at most one per key.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: bytes.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        let msg = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_control(bytes)?;
        // The text is separated from the signatures by the last blank line.
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
        let (text, sigs) = (msg.get(..=split), msg.get(split + 2..));
        let (Some(text), Some(sigs)) = (text, sigs) else {
            return Err(NoteError::MissingSignatures);
        };
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::MissingSignatures);
        };
        if sigs.is_empty() {
            return Err(NoteError::MissingSignatures);
        }
        let mut signatures: Vec<NoteSignature> = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            let sig = NoteSignature::parse(line, i + 1)?;
            if signatures
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                return Err(NoteError::DuplicateSignature {
                    name: sig.name,
                    key_id: sig.key_id,
                });
            }
            signatures.push(sig);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included. Ignore it until [`Note::verify`] succeeds.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks the signatures against the trusted `verifiers`.
    ///
    /// Signatures from keys not in `verifiers` (by name and key id) are ignored; every signature
    /// from a trusted key must verify; at least one must. Returns the keys that signed.
    pub fn verify(&self, verifiers: &[NoteVerifier]) -> Result<Vec<VerifiedKey>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let mut known = verifiers
                .iter()
                .filter(|v| v.name == sig.name && v.key_id == sig.key_id);
            let Some(v) = known.next() else {
                continue;
            };
            if known.any(|other| other.key != v.key) {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !v.verifies(&self.text, &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push(VerifiedKey {
                name: sig.name.clone(),
                key_id: sig.key_id,
            });
        }
        if verified.is_empty() {
            return Err(NoteError::NotVerified);
        }
        Ok(verified)
    }

    /// The note in its wire form; for a parsed note, exactly the bytes it was parsed from.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 1 + 100 * self.signatures.len());
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for sig in &self.signatures {
            out.extend_from_slice(sig.to_line().as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let skey = signer.to_skey();
        let b64 = skey.splitn(5, '+').nth(4).unwrap().to_owned();
        let dbg = format!("{signer:?}");
        assert!(dbg.contains("example.com/log"), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
        assert!(!dbg.contains(&b64), "{dbg}");
    }

    #[test]
    fn key_name_rules() {
        assert!(is_valid_key_name("example.com/log"));
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{2003}b", "a\tb"] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
        }
    }
}
