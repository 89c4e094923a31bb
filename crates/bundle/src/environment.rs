//! The environment manifest of a session: the Python environment it ran with, every distribution
//! installed there as a PEP 751 lock (`pylock.toml`), each distribution's installed files checked
//! against its `RECORD`, and the host; the drift between two manifests; and rebuilding an
//! environment from such a lock, offline.
//!
//! # Which environment
//!
//! [`session_python`] picks the environment a session's `python3` runs in: the first `python3`
//! on `PATH` (absolute directories only, a regular file or a link to one). If the directory
//! above its `bin/` holds a `pyvenv.cfg`, that directory is a venv and is the environment (the
//! venv's `python3` is a link to its base interpreter, so the link is not followed for this);
//! otherwise the link is resolved and the environment is the prefix above the real
//! interpreter's `bin/` (`/usr/bin/python3` → `/usr/bin/python3.11` → `/usr`). `VIRTUAL_ENV` is
//! used only when `PATH` has no `python3`, and only if it names a venv (a directory with a
//! `pyvenv.cfg`): when both are there, `PATH` is what decides which interpreter `python3`
//! starts, so a stale `VIRTUAL_ENV` is ignored.
//!
//! # What [`collect`] records
//!
//! The tier (as given), host name, operating system, kernel and CPU (the inventory's types);
//! the environment (prefix, kind, interpreter and, for a venv, the base interpreter from
//! `pyvenv.cfg`, Python version, site directories); for every distribution in its site
//! directories (`.dist-info`, and `.egg-info` which has no `RECORD`), its name, version, the
//! SHA-256 of its `RECORD`, the SHA-256 of the files the wheel put there (below), and every
//! `RECORD` row checked against the installed file ([`crate::inventory::record`]); and the lock
//! with its SHA-256. [`collect`] reads files only: it never starts the interpreter, because
//! starting it runs the `.pth` files of the environment being recorded.
//!
//! `files_sha256` is the SHA-256 of the hashed `RECORD` rows sorted by path, leaving out what
//! the installer writes about the installation (`INSTALLER`, `REQUESTED`, `direct_url.json`):
//! the same for every installation of the same wheel into the same Python version from
//! anywhere, which `RECORD`'s own digest is not (pip records where the wheel came from). Console
//! scripts are generated with the interpreter's path in them, so a distribution with scripts
//! has a different `files_sha256` in another environment.
//!
//! # The lock
//!
//! The lock follows the `pylock.toml` specification (PEP 751, `lock-version = "1.0"`):
//! `created-by = "qwarden"`; `requires-python = "==X.Y.*"` from the environment's Python
//! version (left out when the version is unknown); `environments` with one marker for this
//! operating system and machine (`sys_platform == 'linux' and platform_machine == 'x86_64'`),
//! because the wheels recorded are the ones this platform installed; and one `[[packages]]` per
//! distribution, sorted by name then version, its name normalised as PEP 503 says. Its source
//! is the first of these that applies:
//!
//! 1. `direct_url.json` (PEP 610) with `vcs_info`: `[packages.vcs]` (type, URL, requested
//!    revision, commit id, subdirectory). With `dir_info`: `[packages.directory]` (path,
//!    editable, subdirectory). Both are source trees, for which the specification says the
//!    version MUST NOT be given: the installed version goes to `[packages.tool.qwarden]`.
//! 2. `direct_url.json` with `archive_info` and a SHA-256, SHA-384 or SHA-512 hash: a wheel
//!    entry when the URL names a wheel, else `[packages.archive]`, with that URL and hash.
//! 3. A wheel whose name is rebuilt from the `.dist-info` `WHEEL` file (`Tag:` lines, compressed
//!    as wheel file names are, and `Build:`), found in the wheel directory given to [`collect`]
//!    (the same name, version, build and tags; the file name's spelling may differ): a
//!    `[[packages.wheels]]` entry with its `name`, `path`, `size`, `hashes = {sha256 = ...}`
//!    computed from that file, and the `direct_url.json` URL when there is one. The `path` is
//!    absolute: where the lock will be kept is not known when it is made, and the specification
//!    reads a relative path against the lock's own directory. [`rebuild`] looks wheels up by
//!    `name` in the wheel directory it is given, so a lock moved with its wheels still installs.
//! 4. None: see below.
//!
//! A distribution installed twice (in two site directories) is listed twice, and
//! `[tool.qwarden] ambiguous` names it: which copy Python imports depends on `sys.path`, which
//! files do not tell, and the specification has an installer refuse such an ambiguity.
//!
//! URLs are written without their credentials (the user-information part of the URL, except a
//! bare `git` user or `${VARIABLE}` placeholders, which PEP 610 allows). Every package also
//! carries `[packages.tool.qwarden]` with its `.dist-info` directory's name, installer and
//! `RECORD` digest: data the specification requires to be disposable, which nothing installs
//! from.
//!
//! ## Hashes that cannot be known
//!
//! PEP 751 requires `hashes` on every wheel and archive. An installed environment keeps neither
//! its wheels nor, unless they came from a direct URL with a hash, their hashes, and `RECORD`
//! hashes the installed files, not the wheel, so it cannot stand in. A hash is never made up:
//! such a distribution is listed with its name and version and no source, its
//! `[packages.tool.qwarden]` saying why (`not-installable`) and which wheel would do (`wheel`),
//! and the lock's `[tool.qwarden]` says `installable = false` and lists those packages. A PEP
//! 751 installer then has to stop with an error about the package's lack of source (pip's and
//! `packaging`'s lock readers refuse such a lock when they load it), so the lock fails closed: it
//! never installs an environment with a package quietly left out. Lock again with a wheel
//! directory holding those wheels (`pip download`, `pip wheel`) to get an installable lock.
//!
//! # Rebuilding
//!
//! [`rebuild`] installs a lock into a new venv with nothing but the lock, a wheel directory and
//! an interpreter; see [`rebuild()`] for the steps. It refuses everything it cannot check before
//! it installs anything.

mod complete;
mod drift;
mod error;
mod installed;
mod lock;
mod pylock;
mod python;
mod rebuild;
#[cfg(test)]
mod tests;
mod wheel;

use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::inventory::python::{EnvKind, site_dirs};
use crate::inventory::{Cpu, FileCheck, Kernel, Os};

pub use complete::{CompletedLock, check_installed, complete_lock};
pub use drift::{EnvChange, drift};
pub use error::EnvironmentError;
pub use rebuild::{InstalledWheel, Rebuilt, rebuild};

/// The `format` of every environment manifest this version writes and reads.
pub const FORMAT: &str = "qwarden-environment/v1";

/// The largest manifest [`read`] accepts.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;

/// The largest lock [`rebuild`] reads.
pub const MAX_LOCK_BYTES: usize = 64 << 20;

/// A session's environment manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The workstation's tier (`sandbox`, `staging`, `prod`), as given.
    pub tier: String,
    /// The host name.
    pub hostname: Option<String>,
    /// The operating system.
    pub os: Os,
    /// The kernel.
    pub kernel: Kernel,
    /// The processors.
    pub cpu: Cpu,
    /// The Python environment.
    pub python: PythonEnvironment,
    /// The `pylock.toml` text (see the module documentation).
    pub pylock: String,
    /// The lower-case hex SHA-256 of `pylock`.
    pub pylock_sha256: String,
    /// Every distribution installed, by name, version and `.dist-info` path.
    pub distributions: Vec<Distribution>,
}

/// The Python environment of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonEnvironment {
    /// Its canonical prefix (the venv's directory, `/usr`).
    pub prefix: String,
    /// A venv (`pyvenv.cfg`), a conda environment (`conda-meta/`) or a system installation.
    pub kind: EnvKind,
    /// `bin/python3` (else `bin/python`) in the prefix, if there is one.
    pub interpreter: Option<String>,
    /// For a venv, the interpreter it was made from (`pyvenv.cfg`'s `executable`, else `home`
    /// joined with `python3`).
    pub base_interpreter: Option<String>,
    /// The Python version, as far as files tell without running it.
    pub version: Option<String>,
    /// Its site directories, canonical, sorted.
    pub site_packages: Vec<String>,
}

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// Its PEP 503 normalised name.
    pub name: String,
    /// Its version, from `METADATA` (else from the directory's name).
    pub version: String,
    /// The `.dist-info` (or `.egg-info`) path.
    pub dist_info: String,
    /// The `INSTALLER` file's first line (`pip`, `uv`, `debian`).
    pub installer: Option<String>,
    /// The lower-case hex SHA-256 of its `RECORD`; `null` without a readable `RECORD`.
    pub record_sha256: Option<String>,
    /// The lower-case hex SHA-256 of its hashed `RECORD` rows without the installer's own files
    /// (see the module documentation).
    pub files_sha256: Option<String>,
    /// Its installed files checked against its `RECORD`; `null` without a readable `RECORD`.
    pub files: Option<FileCheck>,
}

impl EnvironmentManifest {
    /// The RFC 8785 (JCS) canonical JSON, which [`EnvironmentManifest::digest`] hashes.
    pub fn canonical_json(&self) -> Result<Vec<u8>, EnvironmentError> {
        serde_json_canonicalizer::to_vec(self)
            .map_err(|e| EnvironmentError::Canonical(e.to_string()))
    }

    /// `sha256:` and the lower-case hex SHA-256 of [`EnvironmentManifest::canonical_json`].
    pub fn digest(&self) -> Result<String, EnvironmentError> {
        Ok(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(self.canonical_json()?))
        ))
    }
}

/// The prefix of the environment a session's `python3` runs in, from its `PATH` and
/// `VIRTUAL_ENV` (see the module documentation for the rule).
pub fn session_python(
    path_var: Option<&OsStr>,
    virtual_env: Option<&OsStr>,
) -> Result<PathBuf, EnvironmentError> {
    let found = path_var.and_then(|p| {
        std::env::split_paths(p)
            .filter(|d| d.is_absolute())
            .map(|d| d.join("python3"))
            .find(|p| p.is_file())
    });
    if let Some(found) = found {
        let above_bin = found.parent().and_then(Path::parent);
        if let Some(venv) = above_bin.filter(|d| d.join("pyvenv.cfg").is_file()) {
            return Ok(venv.to_path_buf());
        }
        let resolved = std::fs::canonicalize(&found).map_err(|source| EnvironmentError::Io {
            action: "resolve",
            path: found.clone(),
            source,
        })?;
        if let Some(prefix) = resolved.parent().and_then(Path::parent) {
            return Ok(prefix.to_path_buf());
        }
    }
    if let Some(venv) = virtual_env
        .map(PathBuf::from)
        .filter(|v| v.is_absolute() && v.join("pyvenv.cfg").is_file())
    {
        return Ok(venv);
    }
    Err(EnvironmentError::NoPython {
        path: path_var
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

/// The manifest of the environment at `python_prefix` on this host, with `tier` as given. With
/// `wheels`, the wheels found there give the lock its hashes (see the module documentation).
pub fn collect(
    python_prefix: &Path,
    tier: &str,
    wheels: Option<&Path>,
) -> Result<EnvironmentManifest, EnvironmentError> {
    let prefix = std::fs::canonicalize(python_prefix).map_err(|source| EnvironmentError::Io {
        action: "open the environment",
        path: python_prefix.to_path_buf(),
        source,
    })?;
    if !prefix.is_dir() {
        return Err(EnvironmentError::NotAnEnvironment {
            path: prefix,
            reason: "it is not a directory".to_owned(),
        });
    }
    let kind = if prefix.join("pyvenv.cfg").is_file() {
        EnvKind::Venv
    } else if prefix.join("conda-meta").is_dir() {
        EnvKind::Conda
    } else {
        EnvKind::System
    };
    let sites = site_dirs(&prefix);
    if sites.is_empty() {
        return Err(EnvironmentError::NotAnEnvironment {
            path: prefix,
            reason: "it has no `lib/python3*/site-packages` or `dist-packages` directory"
                .to_owned(),
        });
    }
    let python = python::python_environment(&prefix, kind, &sites);
    let dists = installed::distributions(&prefix, &sites);
    let pylock = lock::write(&dists, python.version.as_deref(), wheels);
    let (hostname, os, kernel, cpu) = python::host_facts();
    Ok(EnvironmentManifest {
        format: FORMAT.to_owned(),
        tier: tier.to_owned(),
        hostname,
        os,
        kernel,
        cpu,
        python,
        pylock_sha256: hex::encode(Sha256::digest(pylock.as_bytes())),
        pylock,
        distributions: dists.into_iter().map(|d| d.distribution).collect(),
    })
}

/// Parses a manifest from JSON (canonical or not). `path` is only for messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<EnvironmentManifest, EnvironmentError> {
    let invalid = |reason: String| EnvironmentError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    // The format first, so that another version's file gets the right message.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(invalid(format!(
                "its format is `{}`, and this version reads `{FORMAT}`",
                other.escape_debug()
            )));
        }
        None => return Err(invalid("it has no `format` field".to_owned())),
    }
    let manifest: EnvironmentManifest =
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    let actual = hex::encode(Sha256::digest(manifest.pylock.as_bytes()));
    if actual != manifest.pylock_sha256 {
        return Err(invalid(format!(
            "`pylock_sha256` is {}, and the `pylock` it holds hashes to {actual}",
            manifest.pylock_sha256.escape_debug()
        )));
    }
    Ok(manifest)
}

/// Reads and parses the manifest at `path`.
pub fn read(path: &Path) -> Result<EnvironmentManifest, EnvironmentError> {
    let io = |source| EnvironmentError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_MANIFEST_BYTES {
        return Err(EnvironmentError::Invalid {
            path: path.to_path_buf(),
            reason: format!("it is larger than {MAX_MANIFEST_BYTES} bytes"),
        });
    }
    parse(&bytes, path)
}
