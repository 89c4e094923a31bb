//! The workstation inventory: what this machine is and what is installed on it, as a document
//! whose RFC 8785 canonical JSON and SHA-256 identify it.
//!
//! An [`Inventory`] holds (see each type for the fields):
//! - the workstation's tier (from its profile: the caller passes it in), host name, operating
//!   system, kernel and CPU ([`host`]);
//! - the PCI devices with their vendor and device ids, class and bound driver, GPUs, FPGAs and
//!   accelerators flagged, and the vendor kernel modules loaded ([`pci`]);
//! - every Python environment found (system installations, venvs, conda environments; see
//!   [`python`] for where they are looked for) with its Python version and its quantum packages
//!   ([`dist::QUANTUM_PACKAGES`], [`dist::QUANTUM_FAMILIES`]), each read from its `.dist-info`
//!   `METADATA` and its installed files checked against its `RECORD` ([`record`]);
//! - the provider configuration files present, by path only: their content is never read
//!   ([`config`]);
//! - where the search looked.
//!
//! [`collect`] builds one from the live system, [`Inventory::canonical_json`] and
//! [`Inventory::digest`] identify it, [`Inventory::write`] stores it atomically, [`read`] loads
//! one back, and [`diff::diff`] lists the drift between two. Nothing in an inventory depends on
//! when it was taken, so the same machine in the same state gives the same digest.

pub mod config;
pub mod diff;
pub mod dist;
pub mod host;
pub mod pci;
pub mod python;
pub mod record;

#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use config::ConfigFile;
pub use diff::{Change, diff};
pub use host::{Cpu, Kernel, Os};
pub use pci::{DeviceKind, PciDevice};
pub use python::{EnvKind, PythonEnv, QuantumPackage};
pub use record::FileCheck;

/// The `format` of every inventory this version writes and reads.
pub const FORMAT: &str = "qwarden-inventory/v1";

/// How many directories deep the search for environments goes under each root by default.
pub const DEFAULT_MAX_DEPTH: usize = 4;

/// The largest inventory file [`read`] accepts.
pub const MAX_INVENTORY_BYTES: u64 = 256 << 20;

/// A workstation inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Always [`FORMAT`].
    pub format: String,
    /// The workstation's tier (`sandbox`, `staging`, `prod`).
    pub tier: String,
    /// The host name.
    pub hostname: Option<String>,
    /// The operating system.
    pub os: Os,
    /// The kernel.
    pub kernel: Kernel,
    /// The processors.
    pub cpu: Cpu,
    /// The PCI devices, by address.
    pub pci_devices: Vec<PciDevice>,
    /// The vendor kernel modules loaded, sorted.
    pub kernel_modules: Vec<String>,
    /// The Python environments, by path.
    pub python_environments: Vec<PythonEnv>,
    /// The provider configuration files present, by provider and path.
    pub provider_config_files: Vec<ConfigFile>,
    /// Where the search for environments looked.
    pub search: Search,
}

/// Where the search for environments looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// The search roots, canonical where they exist.
    pub roots: Vec<String>,
    /// How many directories deep under each root.
    pub max_depth: u64,
    /// Whether a root held more than [`python::MAX_DIRS_PER_ROOT`] directories within
    /// `max_depth`, so that part of it was not searched.
    pub truncated: bool,
}

/// What [`collect`] looks at.
#[derive(Debug, Clone)]
pub struct Options {
    /// The workstation's tier, recorded as given.
    pub tier: String,
    /// The home directory (conda installs, pyenv, provider configuration files).
    pub home: PathBuf,
    /// The directories searched for venvs and conda environments, and for `.env` files.
    pub roots: Vec<PathBuf>,
    /// How many directories deep under each root.
    pub max_depth: usize,
    /// Stands for `/`: where `/proc`, `/sys`, `/etc`, `/usr` and `/opt` are read (tests point
    /// it at a fake tree).
    pub system_root: PathBuf,
    /// `$PATH`, where `python3` is looked for.
    pub path_var: Option<OsString>,
}

impl Options {
    /// The live system: `/` and this process's `PATH`, [`DEFAULT_MAX_DEPTH`].
    pub fn new(tier: impl Into<String>, home: impl Into<PathBuf>, roots: Vec<PathBuf>) -> Options {
        Options {
            tier: tier.into(),
            home: home.into(),
            roots,
            max_depth: DEFAULT_MAX_DEPTH,
            system_root: PathBuf::from("/"),
            path_var: std::env::var_os("PATH"),
        }
    }
}

/// An error reading or writing an inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A file system operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an inventory this version reads.
    #[error(
        "`{path}` is not a qwarden inventory: {reason}\n  hint: make one with `qwarden inventory --write FILE`"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column where the JSON says.
        reason: String,
    },
    /// The inventory could not be put in canonical form.
    #[error("cannot put the inventory in canonical JSON form: {0}")]
    Canonical(String),
}

/// Takes the inventory of the system `options` describe. Never fails: what cannot be read is
/// left out (an unreadable field is `null`, an unreadable directory has no entries).
pub fn collect(options: &Options) -> Inventory {
    let sys = |rel: &str| options.system_root.join(rel);
    let text = |rel: &str| {
        read_limited(&sys(rel), 16 << 20, Follow::Yes)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let os = text("etc/os-release")
        .or_else(|| text("usr/lib/os-release"))
        .map(|t| host::parse_os_release(&t))
        .unwrap_or_default();
    let kernel = Kernel {
        release: text("proc/sys/kernel/osrelease").and_then(|t| host::one_line(&t)),
        version: text("proc/sys/kernel/version")
            .or_else(|| text("proc/version"))
            .and_then(|t| host::one_line(&t)),
    };
    let places = python::Places {
        system_root: &options.system_root,
        home: &options.home,
        path_var: options.path_var.as_deref(),
        roots: &options.roots,
        max_depth: options.max_depth,
    };
    let (envs, truncated) = python::discover(&places);
    Inventory {
        format: FORMAT.to_owned(),
        tier: options.tier.clone(),
        hostname: text("proc/sys/kernel/hostname").and_then(|t| host::one_line(&t)),
        os,
        kernel,
        cpu: text("proc/cpuinfo")
            .map(|t| host::parse_cpuinfo(&t))
            .unwrap_or_default(),
        pci_devices: pci::devices(&sys("sys/bus/pci/devices")),
        kernel_modules: text("proc/modules")
            .map(|t| pci::parse_modules(&t))
            .unwrap_or_default(),
        python_environments: envs
            .iter()
            .map(|(path, kind)| python::scan_env(path, *kind))
            .collect(),
        provider_config_files: config::config_files(&options.home, &options.roots),
        search: Search {
            roots: options
                .roots
                .iter()
                .map(|r| {
                    std::fs::canonicalize(r)
                        .unwrap_or_else(|_| r.clone())
                        .to_string_lossy()
                        .into_owned()
                })
                .collect(),
            max_depth: u64::try_from(options.max_depth).unwrap_or(u64::MAX),
            truncated,
        },
    }
}

impl Inventory {
    /// The RFC 8785 (JCS) canonical JSON: what [`Inventory::write`] stores and
    /// [`Inventory::digest`] hashes.
    pub fn canonical_json(&self) -> Result<Vec<u8>, InventoryError> {
        serde_json_canonicalizer::to_vec(self).map_err(|e| InventoryError::Canonical(e.to_string()))
    }

    /// The lower-case hex SHA-256 of [`Inventory::canonical_json`].
    pub fn digest(&self) -> Result<String, InventoryError> {
        Ok(hex::encode(Sha256::digest(self.canonical_json()?)))
    }

    /// Writes the canonical JSON to `path` atomically (a temporary file in the same directory,
    /// synced, then renamed over `path`; mode 0644) and returns its digest.
    pub fn write(&self, path: &Path) -> Result<String, InventoryError> {
        let bytes = self.canonical_json()?;
        let io = |action| {
            move |source| InventoryError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".inventory-")
            .tempfile_in(dir)
            .map_err(io("create a temporary file next to"))?;
        tmp.write_all(&bytes).map_err(io("write"))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io("set the permissions of"))?;
        tmp.as_file().sync_all().map_err(io("sync"))?;
        tmp.persist(path).map_err(|e| io("replace")(e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().map_err(io("sync the directory of"))?;
        }
        Ok(hex::encode(Sha256::digest(&bytes)))
    }
}

/// Parses an inventory from JSON (canonical or not: `qwarden inventory --json` output reads
/// too). `path` is only for messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Inventory, InventoryError> {
    let invalid = |reason: String| InventoryError::Invalid {
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
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// Reads and parses the inventory at `path`.
pub fn read(path: &Path) -> Result<Inventory, InventoryError> {
    let file = std::fs::File::open(path).map_err(|source| InventoryError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_INVENTORY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InventoryError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_INVENTORY_BYTES {
        return Err(InventoryError::Invalid {
            path: path.to_path_buf(),
            reason: format!("it is larger than {MAX_INVENTORY_BYTES} bytes"),
        });
    }
    parse(&bytes, path)
}

/// Whether [`read_limited`] follows a link at the last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    /// Follow it (`/etc/os-release` is a link on most systems).
    Yes,
    /// Refuse it (files inside environments).
    No,
}

/// Up to `limit` bytes of the regular file at `path`, or `None` if it is absent, unreadable or
/// not a regular file. Opened with `O_NONBLOCK`, so a FIFO is never waited on.
pub(crate) fn read_limited(path: &Path, limit: u64, follow: Follow) -> Option<Vec<u8>> {
    let mut flags = libc::O_NONBLOCK;
    if follow == Follow::No {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}
