//! `qwarden manifest sign|verify|lint`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use qwarden_policy::Manifest;
use qwarden_policy::signature::{self, AllowedSigners, Passphrase, SigningKey};
use qwarden_policy::verified::{VerifiedManifest, signature_path};

use crate::cli::{ManifestCommand, TrustArgs};
use crate::commands::policy::{load_profile_for_paths, now};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

pub fn run(dirs: &Dirs, cmd: ManifestCommand) -> Result<Code, Failure> {
    match cmd {
        ManifestCommand::Sign {
            key,
            passphrase_file,
            manifest,
        } => sign(&key, passphrase_file.as_deref(), &manifest),
        ManifestCommand::Verify {
            trust,
            json,
            manifest,
        } => verify(dirs, &trust, json, &manifest),
        ManifestCommand::Lint { json, manifest } => lint(&manifest, json),
    }
}

/// Reads and parses a manifest, mapping errors to exit codes.
fn read_manifest(path: &Path) -> Result<(Vec<u8>, Manifest), Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::invalid(anyhow!(
            "cannot read `{}`: {e}\n  hint: check the path to the agent manifest",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| {
        Failure::invalid(anyhow!(
            "`{}` is not UTF-8 text\n  hint: save the manifest as UTF-8",
            path.display()
        ))
    })?;
    let manifest = Manifest::parse(&text, path).map_err(Failure::invalid)?;
    Ok((bytes, manifest))
}

fn sign(key: &Path, passphrase_file: Option<&Path>, manifest_path: &Path) -> Result<Code, Failure> {
    // Refuse to sign what no workstation would accept.
    let (bytes, manifest) = read_manifest(manifest_path)?;
    let signing_key = signing_key(key, passphrase_file)?;
    let armored = signature::sign(&bytes, signature::MANIFEST_NAMESPACE, &signing_key)
        .map_err(Failure::invalid)?;
    let sig_path = signature_path(manifest_path);
    write_replacing(&sig_path, armored.as_bytes())?;
    writeln!(
        std::io::stdout().lock(),
        "signed `{}` ({} {}) for publisher `{}` → {}",
        manifest_path.display(),
        manifest.agent.name,
        manifest.agent.version,
        manifest.agent.publisher,
        sig_path.display()
    )?;
    Ok(Code::Ok)
}

/// The key to sign with: a private key file (its passphrase from `passphrase_file` or
/// QWARDEN_KEY_PASSPHRASE), or a public key whose private half ssh-agent holds.
pub(crate) fn signing_key(
    key: &Path,
    passphrase_file: Option<&Path>,
) -> Result<SigningKey, Failure> {
    let key_text = std::fs::read_to_string(key).map_err(|e| {
        Failure::invalid(anyhow!("cannot read key `{}`: {e}\n  hint: pass an OpenSSH private key, or a public key loaded in ssh-agent", key.display()))
    })?;
    let is_public = key_text.trim_start().starts_with("ssh-")
        || key_text.trim_start().starts_with("ecdsa-")
        || key_text.trim_start().starts_with("sk-");
    Ok(if is_public {
        let socket = std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).ok_or_else(|| {
            Failure::invalid(anyhow!(
                "`{}` is a public key, and SSH_AUTH_SOCK is not set\n  hint: start ssh-agent and `ssh-add` the private key, or pass the private key file",
                key.display()
            ))
        })?;
        SigningKey::Agent {
            public_key: key.to_path_buf(),
            socket,
        }
    } else {
        let passphrase = match passphrase_file {
            Some(f) => {
                let text = std::fs::read_to_string(f).map_err(|e| {
                    Failure::invalid(anyhow!(
                        "cannot read passphrase file `{}`: {e}",
                        f.display()
                    ))
                })?;
                Some(Passphrase::new(
                    text.trim_end_matches(['\n', '\r']).to_owned(),
                ))
            }
            None => std::env::var("QWARDEN_KEY_PASSPHRASE")
                .ok()
                .map(Passphrase::new),
        };
        SigningKey::File {
            path: key.to_path_buf(),
            passphrase,
        }
    })
}

/// Replaces `path` atomically: a reader sees the old signature or the new one, never half of one.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Failure::invalid(anyhow!("cannot write beside `{}`: {e}", path.display())))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| Failure::invalid(anyhow!("cannot write `{}`: {}", path.display(), e.error)))?;
    Ok(())
}

/// The allowed-signers file: the flag, then the profile's `paths.allowed_signers`, then the
/// configuration directory's `allowed_signers`.
pub fn allowed_signers(
    dirs: &Dirs,
    trust: &TrustArgs,
    profile_path: Option<&str>,
) -> Result<AllowedSigners, Failure> {
    let path = trust
        .allowed_signers
        .clone()
        .or_else(|| profile_path.map(|p| dirs.expand(p)))
        .unwrap_or_else(|| dirs.config.join("allowed_signers"));
    AllowedSigners::load(&path).map_err(Failure::invalid)
}

/// Loads and verifies a manifest, with trust failures (unsigned, tampered, expired, untrusted)
/// exiting 6.
pub fn verified(
    dirs: &Dirs,
    trust: &TrustArgs,
    signers_in_profile: Option<&str>,
    path: &Path,
) -> Result<VerifiedManifest, Failure> {
    let signers = allowed_signers(dirs, trust, signers_in_profile)?;
    VerifiedManifest::load(path, &signers, now()).map_err(|e| {
        if e.is_trust_failure() {
            Failure::verification(e)
        } else {
            Failure::invalid(e)
        }
    })
}

fn verify(dirs: &Dirs, trust: &TrustArgs, json: bool, path: &Path) -> Result<Code, Failure> {
    let profile = load_profile_for_paths(dirs)?;
    let v = verified(
        dirs,
        trust,
        profile
            .as_ref()
            .and_then(|p| p.paths.allowed_signers.as_deref()),
        path,
    )?;
    let m = v.manifest();
    if json {
        crate::output::json(&serde_json::json!({
            "manifest": path,
            "digest": m.digest,
            "agent": m.agent,
            "signer": v.signer(),
            "expires": m.expires.and_then(|e| e.format(&time::format_description::well_known::Rfc3339).ok()),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "valid signature on `{}`", path.display())?;
        writeln!(out, "  agent     {} {}", m.agent.name, m.agent.version)?;
        writeln!(
            out,
            "  signer    {} ({} {})",
            v.signer().principal,
            v.signer().algorithm,
            v.signer().fingerprint
        )?;
        writeln!(out, "  digest    {}", m.digest)?;
        if let Some(e) = m.expires {
            writeln!(
                out,
                "  expires   {}",
                e.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(Code::Ok)
}

fn lint(path: &Path, json: bool) -> Result<Code, Failure> {
    let (_, m) = read_manifest(path)?;
    if json {
        crate::output::json(&m)?;
    } else {
        writeln!(
            std::io::stdout().lock(),
            "`{}` is a well-formed manifest for {} {} (publisher {}); its signature was not checked",
            path.display(),
            m.agent.name,
            m.agent.version,
            m.agent.publisher
        )?;
    }
    Ok(Code::Ok)
}
