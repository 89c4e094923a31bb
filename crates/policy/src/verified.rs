//! A manifest whose signature has been checked: the only kind a [`crate::Grant`] is computed from.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::manifest::{Manifest, ManifestError};
use crate::signature::{self, AllowedSigners, SignatureError, Signer};

/// A manifest that parsed, verified for its publisher against the allowed signers, and has not
/// expired. It can only be made by [`VerifiedManifest::load`] or [`VerifiedManifest::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedManifest {
    manifest: Manifest,
    signer: Signer,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The manifest could not be read.
    #[error("cannot read `{path}`: {source}\n  hint: {hint}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
        /// How to fix it.
        hint: String,
    },
    /// There is no signature beside the manifest.
    #[error(
        "manifest `{path}` is not signed: `{sig}` cannot be read ({source})\n  hint: sign it with `qwarden manifest sign --key KEY {path}`, or put the publisher's signature beside it"
    )]
    Unsigned {
        /// The manifest.
        path: PathBuf,
        /// Where its signature should be.
        sig: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The manifest is not valid.
    #[error("{0}")]
    Invalid(#[from] ManifestError),
    /// The signature does not verify.
    #[error("manifest `{path}`: {source}")]
    Signature {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with the signature.
        source: Box<SignatureError>,
    },
    /// The manifest's `expires` has passed.
    #[error(
        "manifest `{path}` expired at {expires}\n  hint: the publisher must issue a new manifest with a later `expires` and sign it"
    )]
    Expired {
        /// The manifest.
        path: PathBuf,
        /// When it expired (RFC 3339).
        expires: String,
    },
}

impl VerifyError {
    /// Whether the failure is about trust (signature, signer, expiry) rather than a malformed file.
    pub fn is_trust_failure(&self) -> bool {
        matches!(
            self,
            VerifyError::Unsigned { .. }
                | VerifyError::Signature { .. }
                | VerifyError::Expired { .. }
        )
    }
}

impl VerifiedManifest {
    /// Reads `path` and its detached signature `path.sig` and verifies them.
    pub fn load(
        path: &Path,
        signers: &AllowedSigners,
        now: OffsetDateTime,
    ) -> Result<VerifiedManifest, VerifyError> {
        let bytes = std::fs::read(path).map_err(|source| VerifyError::Read {
            path: path.to_path_buf(),
            source,
            hint: "check the path to the agent manifest".into(),
        })?;
        let sig_path = signature_path(path);
        let sig = std::fs::read_to_string(&sig_path).map_err(|source| VerifyError::Unsigned {
            path: path.to_path_buf(),
            sig: sig_path.clone(),
            source,
        })?;
        VerifiedManifest::verify(path, &bytes, &sig, signers, now)
    }

    /// Verifies manifest `bytes` (read from `path`) against the armored signature `sig`.
    pub fn verify(
        path: &Path,
        bytes: &[u8],
        sig: &str,
        signers: &AllowedSigners,
        now: OffsetDateTime,
    ) -> Result<VerifiedManifest, VerifyError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ManifestError {
            errors: vec![crate::diag::SourceError::at_span(
                path,
                "",
                None,
                format!(
                    "the manifest is not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
                Some("save the manifest as UTF-8".into()),
            )],
        })?;
        // Parse first: the publisher named inside is the principal the signature must verify for.
        let manifest = Manifest::parse(text, path)?;
        let signer = signature::verify(
            bytes,
            sig,
            signature::MANIFEST_NAMESPACE,
            &manifest.agent.publisher,
            signers,
            now,
        )
        .map_err(|source| VerifyError::Signature {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        if manifest.is_expired(now) {
            let expires = manifest
                .expires
                .and_then(|e| {
                    e.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            return Err(VerifyError::Expired {
                path: path.to_path_buf(),
                expires,
            });
        }
        Ok(VerifiedManifest { manifest, signer })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Who signed it.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

/// Where the detached signature of `manifest` lives: `agent.toml` → `agent.toml.sig`.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut s = manifest.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}
