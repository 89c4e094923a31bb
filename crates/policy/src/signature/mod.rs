//! OpenSSH signatures (SSHSIG) over agent manifests and approvals.
//!
//! qwarden uses the signature format of `ssh-keygen -Y sign` / `ssh-keygen -Y verify`
//! (OpenSSH's PROTOCOL.sshsig), so people sign with keys they already have and anyone can check
//! a signature with stock OpenSSH. Trust comes from an OpenSSH allowed-signers file
//! ([`AllowedSigners`]).
//!
//! Every signature is bound to a namespace: [`MANIFEST_NAMESPACE`] for agent capability
//! manifests, [`APPROVAL_NAMESPACE`] for human approvals. The namespace is covered by the
//! signature, so an approval can never be replayed as a manifest signature or the other way round.
//!
//! [`verify`] mirrors `ssh-keygen -Y verify -f allowed_signers -I principal -n namespace -s sig`,
//! with these decisions:
//! - allowed-signers times are always UTC (see [`AllowedSigners`]), and the verification time is
//!   passed in, never read from the clock here;
//! - signatures made with OpenSSH certificates are refused (`cert-authority` lines are parsed but
//!   trust nothing);
//! - `ssh-rsa` and `ssh-dss` keys are refused for signing and verifying: the crate is built
//!   without RSA support, and qwarden will not make a signature it cannot check;
//! - signatures from FIDO (`sk-`) keys verify as with ssh-keygen 9.2, which does not require the
//!   user-presence flag; they can be made through ssh-agent only;
//! - there is no revocation list (`ssh-keygen -r`): remove a key from the allowed-signers file;
//! - a signature whose reserved field is not empty is refused as malformed (OpenSSH never writes
//!   one).
//!
//! Known limitation of private key files: the key parser (ssh-key 0.6) cannot read ECDSA private
//! keys whose private number has leading zero bytes (about 1 in 4 P-521 keys, 1 in 256 P-256 /
//! P-384 keys). Such keys get a clear error and work through ssh-agent.
//!
//! [`sign`] writes byte-for-byte what `ssh-keygen -Y sign` writes (SHA-512 message hash, LF line
//! endings, trailing newline), from an OpenSSH private key file or through ssh-agent.

mod agent;
mod allowed_signers;

use std::fmt;
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, Signature, SshSig};
use time::OffsetDateTime;

pub use allowed_signers::AllowedSigners;

/// Namespace of signatures over agent capability manifests.
pub const MANIFEST_NAMESPACE: &str = "qwarden-manifest";

/// Namespace of signatures over human approvals.
pub const APPROVAL_NAMESPACE: &str = "qwarden-approval";

/// Largest key file we read; real OpenSSH key files are a few KiB.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Who signed: the principal the signature was verified for, and the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signer {
    /// The principal (e.g. `alice@example.com`) an allowed-signers line trusted the key for.
    pub principal: String,
    /// The key's SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
    pub fingerprint: String,
    /// The key algorithm, e.g. `ssh-ed25519` or `ecdsa-sha2-nistp256`.
    pub algorithm: String,
}

/// A key passphrase. Its bytes are overwritten when it is dropped, and `Debug` never shows them.
pub struct Passphrase(Vec<u8>);

impl Passphrase {
    /// Wraps a passphrase (as read from a passphrase file, without the trailing newline).
    pub fn new(passphrase: impl Into<String>) -> Self {
        Self(passphrase.into().into_bytes())
    }
}

impl From<String> for Passphrase {
    fn from(passphrase: String) -> Self {
        Self::new(passphrase)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites secret bytes in a way the optimiser cannot remove as a dead store.
fn wipe(bytes: &mut [u8]) {
    zeroize::Zeroize::zeroize(bytes);
}

/// Where a signing key comes from.
#[derive(Debug)]
pub enum SigningKey {
    /// An OpenSSH-format private key file (`ssh-keygen` writes these), possibly encrypted.
    File {
        /// Path of the private key file.
        path: PathBuf,
        /// Passphrase of an encrypted key; `None` for an unencrypted one.
        passphrase: Option<Passphrase>,
    },
    /// A key held by ssh-agent, named by its public key file.
    Agent {
        /// Path of the public key file (`id_ed25519.pub`) of a key loaded into the agent.
        public_key: PathBuf,
        /// The agent's socket, usually `$SSH_AUTH_SOCK`.
        socket: PathBuf,
    },
}

/// Why signing or verifying failed. Every message says what happened, quotes the input and says
/// how to fix it.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature text is not a well-formed OpenSSH signature block.
    #[error("the signature is not a valid OpenSSH signature: {reason}\n  hint: {hint}")]
    Malformed {
        /// What is wrong with the text.
        reason: String,
        /// How to get a good signature.
        hint: String,
    },

    /// The signature was made in another namespace (for another purpose).
    #[error(
        "the signature was made for namespace `{found}`, but a `{expected}` signature is \
         required: it was signed for another purpose\n  hint: sign the file again with namespace \
         `{expected}` (`ssh-keygen -Y sign -n {expected} -f <key> <file>`)"
    )]
    WrongNamespace {
        /// The namespace the caller requires.
        expected: String,
        /// The namespace inside the signature.
        found: String,
    },

    /// The signature does not match the message.
    #[error(
        "the signature does not match the signed data: the file was modified after it was \
         signed, or the signature belongs to another file\n  hint: review the file and sign it again"
    )]
    BadSignature,

    /// The key type (or a certificate) is not supported.
    #[error("`{algorithm}` keys are not supported here\n  hint: {hint}")]
    UnsupportedKey {
        /// The key algorithm, e.g. `ssh-rsa`.
        algorithm: String,
        /// What to use instead.
        hint: String,
    },

    /// No allowed-signers line trusts the signing key for the principal.
    #[error("key `{fingerprint}` is not trusted to sign as `{principal}`\n  hint: {hint}")]
    UntrustedSigner {
        /// The principal the signature was checked for.
        principal: String,
        /// Fingerprint of the signing key (`SHA256:...`).
        fingerprint: String,
        /// Why no line matched, and the allowed-signers line that would trust the key.
        hint: String,
    },

    /// A line trusts the key for the principal, but its `namespaces=` option excludes the
    /// signature's namespace.
    #[error(
        "key `{fingerprint}` may sign as `{principal}` only in namespaces `{allowed}` \
         ({location}), not in `{namespace}`\n  hint: if that key should also sign `{namespace}` data, add \
         `{namespace}` to the `namespaces=` option there"
    )]
    NamespaceNotAllowed {
        /// The principal the signature was checked for.
        principal: String,
        /// Fingerprint of the signing key.
        fingerprint: String,
        /// The signature's namespace.
        namespace: String,
        /// The `namespaces=` pattern-list of the line.
        allowed: String,
        /// `file:line` of the allowed-signers line.
        location: String,
    },

    /// A line trusts the key for the principal, but not at the verification time.
    #[error(
        "key `{fingerprint}` is trusted to sign as `{principal}` only {window} ({location}), but \
         the verification time is {now}\n  hint: ask the signer for a signature with a currently trusted \
         key, or update `valid-after`/`valid-before` there"
    )]
    OutsideValidity {
        /// The principal the signature was checked for.
        principal: String,
        /// Fingerprint of the signing key.
        fingerprint: String,
        /// The line's validity window, in words (UTC).
        window: String,
        /// The verification time (UTC).
        now: String,
        /// `file:line` of the allowed-signers line.
        location: String,
    },

    /// The allowed-signers file has a syntax error.
    #[error("{location}: {problem}\n  hint: {hint}")]
    AllowedSignersSyntax {
        /// `file:line:column` of the error.
        location: String,
        /// What is wrong.
        problem: String,
        /// How to write it instead.
        hint: String,
    },

    /// The allowed-signers file cannot be read.
    #[error(
        "cannot read the allowed-signers file `{path}`: {source}\n  hint: check the path, or pass \
         another file with `--allowed-signers <file>`",
        path = path.display()
    )]
    AllowedSignersRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The signing key file (or the public key file of an agent key) cannot be read.
    #[error("cannot read the key file `{path}`: {source}\n  hint: check the path", path = path.display())]
    KeyRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The key file is not a usable key of the expected kind.
    #[error("`{path}` is not a usable key: {problem}\n  hint: {hint}", path = path.display())]
    KeyFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        hint: String,
    },

    /// The private key is encrypted and no passphrase was given.
    #[error(
        "the key `{path}` is protected by a passphrase\n  hint: pass it with `--passphrase-file <file>`, \
         or load the key into ssh-agent (`ssh-add {path}`) and sign with its `.pub` file",
        path = path.display()
    )]
    PassphraseRequired {
        /// The key file.
        path: PathBuf,
    },

    /// The passphrase does not decrypt the private key.
    #[error(
        "the passphrase for the key `{path}` is wrong\n  hint: check the passphrase given with \
         `--passphrase-file`, or sign through ssh-agent instead",
        path = path.display()
    )]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },

    /// ssh-agent could not be reached or spoke nonsense.
    #[error(
        "cannot sign with ssh-agent at `{socket}`: {problem}\n  hint: check that the agent is running \
         and SSH_AUTH_SOCK points at it (`ssh-add -l` lists its keys)",
        socket = socket.display()
    )]
    Agent {
        /// The agent socket.
        socket: PathBuf,
        /// What went wrong.
        problem: String,
    },

    /// ssh-agent refused to sign: the key is not loaded, or the user declined.
    #[error(
        "ssh-agent at `{socket}` refused to sign with key `{fingerprint}`: the key is not loaded \
         or the request was declined\n  hint: load it with `ssh-add <private key>` (`ssh-add -l` lists \
         loaded keys) and try again",
        socket = socket.display()
    )]
    AgentRefused {
        /// The agent socket.
        socket: PathBuf,
        /// Fingerprint of the requested key.
        fingerprint: String,
    },

    /// The signature could not be produced (namespace rejected, cryptographic failure).
    #[error("cannot create the signature: {reason}")]
    Signing {
        /// What failed.
        reason: String,
    },
}

/// The SHA-256 fingerprints (`SHA256:…`, as `ssh-keygen -l` prints them) of the OpenSSH keys in
/// `text`: every public key line (a `.pub` file, `authorized_keys`, with or without options in
/// front) and the public half of an OpenSSH private key, which is readable even when the private
/// key is encrypted. Anything else is ignored.
pub fn key_fingerprints(text: &str) -> Vec<String> {
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return PrivateKey::from_openssh(text.trim())
            .map(|k| vec![allowed_signers::fingerprint(k.public_key().key_data())])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = PublicKey::from_openssh(line).or_else(|e| {
            // authorized_keys options come before the key.
            line.split_once(' ')
                .map_or(Err(e), |(_, rest)| PublicKey::from_openssh(rest.trim()))
        });
        if let Ok(k) = parsed {
            out.push(allowed_signers::fingerprint(k.key_data()));
        }
    }
    out
}

/// Verifies an armored SSHSIG (`-----BEGIN SSH SIGNATURE-----`) over `message` for `principal`
/// in `namespace` at time `now`.
///
/// Checks, in order: the armor parses; the signature's namespace is `namespace`; the key type is
/// supported; the signature is valid for `message`; and some line of `signers` trusts the key for
/// `principal` in `namespace` at `now` (see [`AllowedSigners`]). Returns who signed.
pub fn verify(
    message: &[u8],
    armored: &str,
    namespace: &str,
    principal: &str,
    signers: &AllowedSigners,
    now: OffsetDateTime,
) -> Result<Signer, SignatureError> {
    let sig = parse_armored(armored)?;
    if !sig.reserved().is_empty() {
        return Err(SignatureError::Malformed {
            reason: "its reserved field is not empty, which OpenSSH never writes".to_owned(),
            hint: MALFORMED_HINT.to_owned(),
        });
    }
    if sig.namespace() != namespace {
        return Err(SignatureError::WrongNamespace {
            expected: namespace.to_owned(),
            found: sig.namespace().to_owned(),
        });
    }
    let algorithm = sig.public_key().algorithm();
    if let Some(hint) = unsupported_for_verify(&algorithm) {
        return Err(SignatureError::UnsupportedKey {
            algorithm: algorithm.as_str().to_owned(),
            hint: hint.to_owned(),
        });
    }
    PublicKey::from(sig.public_key().clone())
        .verify(namespace, message, &sig)
        .map_err(|_| SignatureError::BadSignature)?;
    signers.authorize(sig.public_key(), principal, namespace, now)?;
    Ok(Signer {
        principal: principal.to_owned(),
        fingerprint: allowed_signers::fingerprint(sig.public_key()),
        algorithm: algorithm.as_str().to_owned(),
    })
}

/// Signs `message` in `namespace` and returns the armored signature, exactly what
/// `ssh-keygen -Y sign -n namespace` writes: SHA-512 message hash, 70-column base64, LF line
/// endings and a trailing newline.
pub fn sign(message: &[u8], namespace: &str, key: &SigningKey) -> Result<String, SignatureError> {
    let sig = match key {
        SigningKey::File { path, passphrase } => {
            sign_with_file(message, namespace, path, passphrase.as_ref())?
        }
        SigningKey::Agent { public_key, socket } => {
            sign_with_agent(message, namespace, public_key, socket)?
        }
    };
    let mut armored = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| SignatureError::Signing {
            reason: format!("cannot encode the signature ({e})"),
        })?;
    if !armored.ends_with('\n') {
        armored.push('\n');
    }
    Ok(armored)
}

fn sign_with_file(
    message: &[u8],
    namespace: &str,
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<SshSig, SignatureError> {
    let mut bytes = read_key_file(path)?;
    let parsed = classify_and_parse_private(&bytes, path);
    wipe(&mut bytes);
    let key = parsed?;
    let key = if key.is_encrypted() {
        let Some(passphrase) = passphrase else {
            return Err(SignatureError::PassphraseRequired {
                path: path.to_path_buf(),
            });
        };
        key.decrypt(passphrase.0.as_slice()).map_err(|e| match e {
            ssh_key::Error::Crypto => SignatureError::WrongPassphrase {
                path: path.to_path_buf(),
            },
            ssh_key::Error::Encoding(_) if matches!(key.algorithm(), Algorithm::Ecdsa { .. }) => {
                unreadable_ecdsa_key(path, key.algorithm().as_str())
            }
            other => SignatureError::KeyFormat {
                path: path.to_path_buf(),
                problem: format!("cannot decrypt it ({other})"),
                hint: "re-encrypt it with `ssh-keygen -p -f <key>`, which uses the default \
                       cipher"
                    .to_owned(),
            },
        })?
    } else {
        key
    };
    let algorithm = key.algorithm();
    match algorithm {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => {}
        Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256 => {
            return Err(SignatureError::UnsupportedKey {
                algorithm: algorithm.as_str().to_owned(),
                hint: "a security key signs only through ssh-agent: `ssh-add` the key, then sign \
                       with its `.pub` file"
                    .to_owned(),
            });
        }
        other => return Err(unsupported_for_signing(&other)),
    }
    key.sign(namespace, HashAlg::Sha512, message)
        .map_err(|e| SignatureError::Signing {
            reason: signing_reason(&e),
        })
}

fn sign_with_agent(
    message: &[u8],
    namespace: &str,
    public_key_path: &Path,
    socket: &Path,
) -> Result<SshSig, SignatureError> {
    let public = read_public_key(public_key_path)?;
    let algorithm = public.algorithm();
    match algorithm {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => {}
        other => return Err(unsupported_for_signing(&other)),
    }
    let signing_error = |e: ssh_key::Error| SignatureError::Signing {
        reason: signing_reason(&e),
    };
    let blob = public.to_bytes().map_err(signing_error)?;
    let data = SshSig::signed_data(namespace, HashAlg::Sha512, message).map_err(signing_error)?;
    let agent_error = |problem: &str| SignatureError::Agent {
        socket: socket.to_path_buf(),
        problem: problem.to_owned(),
    };
    let raw = agent::sign(socket, &blob, &data).map_err(|e| match e {
        agent::AgentError::Refused => SignatureError::AgentRefused {
            socket: socket.to_path_buf(),
            fingerprint: allowed_signers::fingerprint(public.key_data()),
        },
        agent::AgentError::Protocol(problem) => agent_error(&problem),
    })?;
    let signature = Signature::try_from(raw.as_slice())
        .map_err(|_| agent_error("the agent returned a signature qwarden cannot read"))?;
    let sig = SshSig::new(
        public.key_data().clone(),
        namespace,
        HashAlg::Sha512,
        signature,
    )
    .map_err(signing_error)?;
    // Never hand out a signature that would not verify: a wrong or hostile agent is caught here.
    public.verify(namespace, message, &sig).map_err(|_| {
        agent_error("the agent returned a signature that does not verify with the key")
    })?;
    Ok(sig)
}

fn signing_reason(error: &ssh_key::Error) -> String {
    match error {
        ssh_key::Error::Namespace => "the signature namespace must not be empty".to_owned(),
        other => other.to_string(),
    }
}

fn unsupported_for_signing(algorithm: &Algorithm) -> SignatureError {
    SignatureError::UnsupportedKey {
        algorithm: algorithm.as_str().to_owned(),
        hint: "qwarden signs with ed25519 or ecdsa keys (and security keys through ssh-agent); \
               create one with `ssh-keygen -t ed25519`"
            .to_owned(),
    }
}

/// `None` if signatures by keys of this algorithm can be verified, else a hint.
fn unsupported_for_verify(algorithm: &Algorithm) -> Option<&'static str> {
    match algorithm {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => None,
        other if other.as_str().ends_with(CERTIFICATE_SUFFIX) => Some(CERTIFICATE_HINT),
        _ => Some(
            "ask the signer to sign with an ed25519 or ecdsa key (`ssh-keygen -t ed25519`) and list \
             that key in the allowed-signers file",
        ),
    }
}

const MALFORMED_HINT: &str = "use the `.sig` file written by `qwarden` or `ssh-keygen -Y sign` \
     unchanged, or sign the file again";

/// Key types of OpenSSH certificates end with this.
const CERTIFICATE_SUFFIX: &str = "-cert-v01@openssh.com";

const CERTIFICATE_HINT: &str = "the signature was made with an OpenSSH certificate, and \
     certificate signatures are not supported; sign with the plain key (`ssh-keygen -Y sign -f \
     <private key>`) and list that key in the allowed-signers file";

/// For a better message only: the key type inside an SSHSIG blob that the signature parser
/// rejected, if it is a certificate type. Never used to accept anything.
fn certificate_key_type(armored: &str) -> Option<String> {
    let blob = armor_body(armored)?;
    let rest = blob.strip_prefix(b"SSHSIG")?.get(4..)?;
    let (public_key, _) = take_string(rest)?;
    let (key_type, _) = take_string(public_key)?;
    let key_type = std::str::from_utf8(key_type).ok()?;
    key_type
        .ends_with(CERTIFICATE_SUFFIX)
        .then(|| key_type.to_owned())
}

/// Splits an SSH `string` (u32 length, bytes) off the front of `input`.
fn take_string(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = input.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The decoded base64 between the `-----BEGIN ...-----` and `-----END ...-----` lines.
fn armor_body(armored: &str) -> Option<Vec<u8>> {
    let body: String = armored
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.trim().chars())
        .collect();
    base64_decode(&body)
}

/// Standard base64 with optional padding; `None` on any invalid character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = ((acc << 6) | u32::from(value)) & 0x00ff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

fn parse_armored(armored: &str) -> Result<SshSig, SignatureError> {
    const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
    const END: &str = "-----END SSH SIGNATURE-----";
    let malformed = |reason: String| SignatureError::Malformed {
        reason,
        hint: MALFORMED_HINT.to_owned(),
    };
    let text = armored.replace("\r\n", "\n");
    let text = text.trim();
    if text.is_empty() {
        return Err(malformed("the signature is empty".to_owned()));
    }
    if !text.starts_with(BEGIN) {
        let reason = if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
            "this is a PGP signature, not an SSH signature".to_owned()
        } else if let Some(label) = text
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.split("-----").next())
        {
            format!("this is a `{label}` block, not an SSH signature")
        } else {
            format!("it does not start with `{BEGIN}`")
        };
        return Err(malformed(reason));
    }
    if !text.ends_with(END) {
        return Err(malformed(format!(
            "it does not end with `{END}` (the text is truncated or has extra content)"
        )));
    }
    SshSig::from_pem(text).map_err(|e| {
        if let Some(algorithm) = certificate_key_type(text) {
            return SignatureError::UnsupportedKey {
                algorithm,
                hint: CERTIFICATE_HINT.to_owned(),
            };
        }
        malformed(match e {
            ssh_key::Error::Version { number } => {
                format!("signature format version {number} is newer than the supported version 1")
            }
            ssh_key::Error::Namespace => "the namespace inside it is empty".to_owned(),
            other => format!("its content is corrupt ({other})"),
        })
    })
}

/// Reads a key file into memory, refusing directories and oversized files.
fn read_key_file(path: &Path) -> Result<Vec<u8>, SignatureError> {
    let read_error = |source| SignatureError::KeyRead {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(SignatureError::KeyFormat {
            path: path.to_path_buf(),
            problem: if meta.is_file() {
                format!("it is {} bytes, far too large for a key file", meta.len())
            } else {
                "it is not a regular file".to_owned()
            },
            hint: "pass the key file itself, e.g. `~/.ssh/id_ed25519`".to_owned(),
        });
    }
    std::fs::read(path).map_err(read_error)
}

fn classify_and_parse_private(bytes: &[u8], path: &Path) -> Result<PrivateKey, SignatureError> {
    let key_format = |problem: &str, hint: &str| SignatureError::KeyFormat {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
        hint: hint.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| {
        key_format(
            "it is not a text key file",
            "pass an OpenSSH private key file",
        )
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return PrivateKey::from_openssh(trimmed).map_err(|e| {
            if let Some(key_type) = private_key_type(trimmed)
                && key_type.starts_with("ecdsa-sha2-")
                && matches!(e, ssh_key::Error::Encoding(_))
            {
                return unreadable_ecdsa_key(path, &key_type);
            }
            key_format(
                &format!("the OpenSSH private key is corrupt ({e})"),
                "check that the file is complete",
            )
        });
    }
    if trimmed.starts_with("-----BEGIN ") {
        return Err(key_format(
            "it is a PEM or PKCS#8 private key, and qwarden reads OpenSSH-format keys",
            "convert it in place with `ssh-keygen -p -f <key>` (this rewrites it in OpenSSH format)",
        ));
    }
    if looks_like_public_key(trimmed) {
        return Err(key_format(
            "it is a public key, and signing needs the private key",
            "pass the private key file, or load the key into ssh-agent (`ssh-add <private key>`) \
             so that the public key can be used with SSH_AUTH_SOCK set",
        ));
    }
    Err(key_format(
        "it is not an OpenSSH private key",
        "pass a key created by `ssh-keygen`, e.g. `~/.ssh/id_ed25519`",
    ))
}

/// The ECDSA key parser in use (ssh-key 0.6) expects the private scalar at full width, but OpenSSH
/// writes it as a minimal mpint: keys whose scalar has leading zero bytes cannot be read (about
/// 1 in 4 P-521 keys, 1 in 256 P-256 / P-384 keys). Such keys still work through ssh-agent.
fn unreadable_ecdsa_key(path: &Path, key_type: &str) -> SignatureError {
    SignatureError::KeyFormat {
        path: path.to_path_buf(),
        problem: format!(
            "qwarden cannot read the private part of this `{key_type}` key (its private number \
             is stored in a shorter encoding that qwarden's key reader does not accept yet)"
        ),
        hint: "sign through ssh-agent instead (`ssh-add <key>`, then pass the `.pub` file), or \
               use an ed25519 key (`ssh-keygen -t ed25519`)"
            .to_owned(),
    }
}

/// For a better message only: the key type recorded in an OpenSSH private key file
/// (`openssh-key-v1` container, first public key). Never used to accept anything.
fn private_key_type(armored: &str) -> Option<String> {
    let blob = armor_body(armored)?;
    let rest = blob.strip_prefix(b"openssh-key-v1\0")?;
    let (_cipher, rest) = take_string(rest)?;
    let (_kdf, rest) = take_string(rest)?;
    let (_kdf_options, rest) = take_string(rest)?;
    let rest = rest.get(4..)?;
    let (public_key, _) = take_string(rest)?;
    let (key_type, _) = take_string(public_key)?;
    std::str::from_utf8(key_type).ok().map(str::to_owned)
}

fn looks_like_public_key(text: &str) -> bool {
    let first = text.split([' ', '\t']).next().unwrap_or("");
    first.starts_with("ssh-")
        || first.starts_with("ecdsa-")
        || first.starts_with("sk-")
        || first.ends_with("-cert-v01@openssh.com")
}

/// Reads an OpenSSH public key file (`.pub`): the first non-comment line.
fn read_public_key(path: &Path) -> Result<PublicKey, SignatureError> {
    let bytes = read_key_file(path)?;
    let key_format = |problem: String, hint: &str| SignatureError::KeyFormat {
        path: path.to_path_buf(),
        problem,
        hint: hint.to_owned(),
    };
    let hint = "pass the `.pub` file of a key loaded into ssh-agent, e.g. `~/.ssh/id_ed25519.pub`";
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| key_format("it is not a text public key file".to_owned(), hint))?;
    if text.contains("PRIVATE KEY-----") {
        return Err(key_format(
            "it is a private key, and signing through ssh-agent needs the public key".to_owned(),
            hint,
        ));
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| key_format("it is empty".to_owned(), hint))?;
    let first = line.split([' ', '\t']).next().unwrap_or("");
    if first.ends_with("-cert-v01@openssh.com") {
        return Err(key_format(
            "it is an OpenSSH certificate, and certificate signatures are not supported".to_owned(),
            "pass the plain public key (`id_ed25519.pub`, not `id_ed25519-cert.pub`)",
        ));
    }
    PublicKey::from_openssh(line)
        .map_err(|e| key_format(format!("it is not an OpenSSH public key ({e})"), hint))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_debug_is_redacted() {
        let key = SigningKey::File {
            path: PathBuf::from("k"),
            passphrase: Some(Passphrase::new("hunter2")),
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn base64_decoder() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("U1NIU0lH").unwrap(), b"SSHSIG");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(base64_decode("Zm9v!").is_none());
        let long = "QUJD".repeat(1000);
        assert_eq!(base64_decode(&long).unwrap(), b"ABC".repeat(1000));
    }

    #[test]
    fn armor_errors_say_what_is_wrong() {
        let reason = |text: &str| match parse_armored(text) {
            Err(SignatureError::Malformed { reason, .. }) => reason,
            other => panic!("{text:?}: {other:?}"),
        };
        assert!(reason("").contains("empty"));
        assert!(
            reason("-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----")
                .contains("PGP")
        );
        assert!(reason("-----BEGIN CERTIFICATE-----\n").contains("`CERTIFICATE`"));
        assert!(reason("hello").contains("does not start"));
        assert!(reason("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n").contains("does not end"));
        assert!(
            reason("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----")
                .contains("corrupt")
        );
    }
}
