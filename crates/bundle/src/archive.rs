//! A bundle as one self-contained file: a plain tar archive anyone can unpack, and
//! `qwarden bundle verify FILE.tar` can check on another machine.
//!
//! ```text
//! bundle.dsse.json            the signed envelope
//! objects/sha256/<hex>        every object the bundle names (circuit, calibration, environment
//!                             manifest, results, ledger proof)
//! workstation.pub             the workstation's public key (ssh-ed25519)
//! log.vkey                    the ledger's verification key
//! README                      how to check it
//! ```
//!
//! The two keys inside are a convenience, not a trust anchor: whoever could change the archive
//! could change them, so a verifier compares them with keys it got another way. Reading an
//! archive is strict: only regular files with the names above, bounded sizes, and an object
//! whose bytes do not hash to its name is reported as modified, not silently re-filed.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use qwarden_ledger::cas::{BlobStore, MemCas};

use crate::job::JobPredicate;

/// The largest archive member read.
pub const MAX_MEMBER_BYTES: u64 = 64 << 20;
/// The most members read.
pub const MAX_MEMBERS: usize = 64;

/// The file name of the envelope in an archive.
pub const ENVELOPE: &str = "bundle.dsse.json";

/// What an archive holds.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The envelope's bytes.
    pub envelope: Vec<u8>,
    /// The objects, filed by their digest (each checked to hash to its name).
    pub objects: MemCas,
    /// The workstation public key line inside, if any.
    pub workstation_pub: Option<String>,
    /// The ledger verification key inside, if any.
    pub log_vkey: Option<String>,
}

/// Why an archive cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The archive is not a bundle archive.
    #[error(
        "`{path}` is not a qwarden bundle archive: {reason}\n  hint: make one with `qwarden bundle export ID -o FILE.tar`"
    )]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An object is missing from the store while exporting.
    #[error("cannot export: {0}")]
    Missing(String),
}

/// The digests of every object `p` names.
pub fn named_objects(p: &JobPredicate) -> Vec<String> {
    let mut out = vec![p.circuit.digest.clone()];
    out.extend(p.calibration.iter().map(|c| c.digest.clone()));
    out.extend(p.environment.iter().map(|e| e.digest.clone()));
    out.push(p.results.digest.clone());
    out.push(p.ledger.proof.digest.clone());
    out
}

fn readme(p: &JobPredicate) -> String {
    format!(
        "qwarden reproducibility bundle\n\njob {} on {}:{} ({} shots), session {}, agent {}\n\nCheck it (compare the two keys with ones you got from the workstation's owner):\n\n  qwarden bundle verify THIS.tar --key workstation.pub --log-key \"$(cat log.vkey)\"\n\nRe-run it on the local simulator:\n\n  qwarden bundle rerun THIS.tar --key workstation.pub --log-key \"$(cat log.vkey)\"\n",
        p.job.job_id, p.job.provider, p.job.backend, p.job.shots, p.session.id, p.session.agent
    )
}

/// Writes the bundle `envelope` (whose predicate is `p`) with its objects from `cas` and the
/// two public keys to `out`, atomically (a temporary file renamed into place).
pub fn export(
    envelope: &[u8],
    p: &JobPredicate,
    cas: &impl BlobStore,
    workstation_pub: &str,
    log_vkey: &str,
    out: &Path,
) -> Result<(), ArchiveError> {
    let io = |action: &'static str| {
        let path = out.display().to_string();
        move |source| ArchiveError::Io {
            action,
            path,
            source,
        }
    };
    let mut members: Vec<(String, Vec<u8>)> = vec![
        (ENVELOPE.to_owned(), envelope.to_vec()),
        (
            "workstation.pub".to_owned(),
            format!("{}\n", workstation_pub.trim()).into_bytes(),
        ),
        (
            "log.vkey".to_owned(),
            format!("{}\n", log_vkey.trim()).into_bytes(),
        ),
        ("README".to_owned(), readme(p).into_bytes()),
    ];
    for digest in named_objects(p) {
        let bytes = crate::verify::fetch(cas, &digest)
            .map_err(|e| ArchiveError::Missing(format!("{digest}: {e}")))?;
        let name = format!("objects/sha256/{}", digest.trim_start_matches("sha256:"));
        if !members.iter().any(|(n, _)| *n == name) {
            members.push((name, bytes));
        }
    }
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or_else(|| Path::new(".")))
        .map_err(io("create a temporary file next to"))?;
    {
        let mut builder = tar::Builder::new(tmp.as_file());
        for (name, bytes) in &members {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, bytes.as_slice())
                .map_err(io("write"))?;
        }
        builder.finish().map_err(io("write"))?;
    }
    tmp.as_file().sync_all().map_err(io("write"))?;
    tmp.persist(out).map_err(|e| ArchiveError::Io {
        action: "save",
        path: out.display().to_string(),
        source: e.error,
    })?;
    Ok(())
}

/// Reads the bundle archive at `path` strictly (see the module docs).
pub fn read(path: &Path) -> Result<Archive, ArchiveError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ArchiveError::Io {
        action: "open",
        path: shown.clone(),
        source,
    })?;
    read_from(file, &shown)
}

/// Reads a bundle archive strictly (see the module docs) from `reader`; `name` says where it
/// came from, in error messages only.
pub fn read_from(reader: impl std::io::Read, name: &str) -> Result<Archive, ArchiveError> {
    let malformed = |reason: String| ArchiveError::Malformed {
        path: name.to_owned(),
        reason,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| malformed(format!("cannot read it as tar: {e}")))?;
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (n, entry) in entries.enumerate() {
        if n >= MAX_MEMBERS {
            return Err(malformed(format!("it has more than {MAX_MEMBERS} members")));
        }
        let mut entry = entry.map_err(|e| malformed(format!("member {n}: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| malformed(format!("member {n}: {e}")))?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(malformed(format!("`{name}` is not a regular file")));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > MAX_MEMBER_BYTES {
            return Err(malformed(format!(
                "`{name}` is over {MAX_MEMBER_BYTES} bytes"
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_MEMBER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| malformed(format!("`{name}`: {e}")))?;
        if members.insert(name.clone(), bytes).is_some() {
            return Err(malformed(format!("`{name}` appears twice")));
        }
    }
    let envelope = members
        .remove(ENVELOPE)
        .ok_or_else(|| malformed(format!("it has no `{ENVELOPE}`")))?;
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).trim().to_owned();
    let workstation_pub = members.remove("workstation.pub").map(text);
    let log_vkey = members.remove("log.vkey").map(text);
    members.remove("README");
    let mut objects = MemCas::new();
    for (name, bytes) in members {
        let Some(hex) = name.strip_prefix("objects/sha256/") else {
            return Err(malformed(format!("unexpected member `{name}`")));
        };
        let stored = objects
            .put(&bytes)
            .map_err(|e| malformed(format!("`{name}`: {e}")))?;
        if stored.to_hex() != hex {
            return Err(malformed(format!(
                "object `{name}` was modified: its bytes hash to {stored}"
            )));
        }
    }
    Ok(Archive {
        envelope,
        objects,
        workstation_pub,
        log_vkey,
    })
}
