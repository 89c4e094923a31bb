//! Drift between two inventories: what changed on the workstation from the older to the newer.
//!
//! The rules, in the order changes are listed:
//! - host: the tier, host name, operating system, kernel release or build, CPU model or count;
//! - PCI devices, matched by address: added, removed, or a different vendor, device id, class or
//!   bound driver;
//! - vendor kernel modules loaded or unloaded;
//! - Python environments, matched by path: added, removed, or another Python version;
//! - quantum packages, matched by environment, site directory and name: added, removed, or
//!   another version in the same place (upgraded or downgraded in place);
//! - installed files: a file that now differs from its `RECORD` or is missing, a `RECORD` row now
//!   refused, a `RECORD` no longer readable, and (same version only) a file that was modified or
//!   missing and matches again;
//! - provider configuration files that appeared or disappeared.
//!
//! Where the search looked (`search`) is not compared. No change means no drift.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::python::EnvKind;
use super::{ConfigFile, Inventory, PciDevice, PythonEnv, QuantumPackage};

/// One difference between two inventories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A host fact changed.
    Host {
        /// `tier`, `hostname`, `os.id`, `os.version_id`, `os.pretty_name`, `kernel.release`,
        /// `kernel.version`, `cpu.model` or `cpu.count`.
        field: String,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// A PCI device appeared.
    DeviceAdded {
        /// The device.
        device: PciDevice,
    },
    /// A PCI device disappeared.
    DeviceRemoved {
        /// The device.
        device: PciDevice,
    },
    /// A PCI device at the same address has another vendor, device id, class or driver.
    DeviceChanged {
        /// Its address.
        address: String,
        /// `vendor`, `device`, `class` or `driver`.
        field: String,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// A vendor kernel module was loaded.
    ModuleLoaded {
        /// Its name.
        name: String,
    },
    /// A vendor kernel module was unloaded.
    ModuleUnloaded {
        /// Its name.
        name: String,
    },
    /// A Python environment appeared.
    EnvAdded {
        /// Its kind.
        kind: EnvKind,
        /// Its path.
        path: String,
    },
    /// A Python environment disappeared.
    EnvRemoved {
        /// Its kind.
        kind: EnvKind,
        /// Its path.
        path: String,
    },
    /// An environment's Python version changed.
    EnvPythonChanged {
        /// The environment's path.
        path: String,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// A quantum package was installed.
    SdkAdded {
        /// The environment's path.
        env: String,
        /// The package.
        name: String,
        /// Its version.
        version: String,
    },
    /// A quantum package was removed.
    SdkRemoved {
        /// The environment's path.
        env: String,
        /// The package.
        name: String,
        /// Its version.
        version: String,
    },
    /// A quantum package was upgraded or downgraded in place.
    SdkVersionChanged {
        /// The environment's path.
        env: String,
        /// The package.
        name: String,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
    /// An installed file now differs from its `RECORD`.
    FileModified {
        /// The environment's path.
        env: String,
        /// The package.
        package: String,
        /// The file, as the `RECORD` names it.
        path: String,
    },
    /// An installed file is now missing.
    FileMissing {
        /// The environment's path.
        env: String,
        /// The package.
        package: String,
        /// The file.
        path: String,
    },
    /// A file that was modified or missing matches its `RECORD` again (same version).
    FileRestored {
        /// The environment's path.
        env: String,
        /// The package.
        package: String,
        /// The file.
        path: String,
    },
    /// A `RECORD` row is now refused (malformed, or pointing outside the environment).
    RowRefused {
        /// The environment's path.
        env: String,
        /// The package.
        package: String,
        /// The row and why.
        row: String,
    },
    /// A package's `RECORD` can no longer be read, so its files are no longer checked.
    RecordLost {
        /// The environment's path.
        env: String,
        /// The package.
        package: String,
    },
    /// A provider configuration file appeared.
    ConfigAdded {
        /// The file.
        file: ConfigFile,
    },
    /// A provider configuration file disappeared.
    ConfigRemoved {
        /// The file.
        file: ConfigFile,
    },
}

/// The changes from `old` to `new`, in the order of the rules above; empty when there is no
/// drift.
pub fn diff(old: &Inventory, new: &Inventory) -> Vec<Change> {
    let mut changes = Vec::new();
    host(old, new, &mut changes);
    devices(&old.pci_devices, &new.pci_devices, &mut changes);
    let (o, n): (BTreeSet<_>, BTreeSet<_>) = (
        old.kernel_modules.iter().collect(),
        new.kernel_modules.iter().collect(),
    );
    for name in n.difference(&o) {
        changes.push(Change::ModuleLoaded {
            name: (*name).clone(),
        });
    }
    for name in o.difference(&n) {
        changes.push(Change::ModuleUnloaded {
            name: (*name).clone(),
        });
    }
    envs(
        &old.python_environments,
        &new.python_environments,
        &mut changes,
    );
    let (o, n): (BTreeSet<_>, BTreeSet<_>) = (
        old.provider_config_files.iter().collect(),
        new.provider_config_files.iter().collect(),
    );
    for file in n.difference(&o) {
        changes.push(Change::ConfigAdded {
            file: (*file).clone(),
        });
    }
    for file in o.difference(&n) {
        changes.push(Change::ConfigRemoved {
            file: (*file).clone(),
        });
    }
    changes
}

fn host(old: &Inventory, new: &Inventory, out: &mut Vec<Change>) {
    let some = |s: &str| Some(s.to_owned());
    let facts = |i: &Inventory| {
        [
            ("tier", some(&i.tier)),
            ("hostname", i.hostname.clone()),
            ("os.id", i.os.id.clone()),
            ("os.version_id", i.os.version_id.clone()),
            ("os.pretty_name", i.os.pretty_name.clone()),
            ("kernel.release", i.kernel.release.clone()),
            ("kernel.version", i.kernel.version.clone()),
            ("cpu.model", i.cpu.model.clone()),
            ("cpu.count", Some(i.cpu.count.to_string())),
        ]
    };
    for ((field, old), (_, new)) in facts(old).into_iter().zip(facts(new)) {
        if old != new {
            out.push(Change::Host {
                field: field.to_owned(),
                old,
                new,
            });
        }
    }
}

fn devices(old: &[PciDevice], new: &[PciDevice], out: &mut Vec<Change>) {
    let by_address = |d: &[PciDevice]| -> BTreeMap<String, PciDevice> {
        d.iter().map(|d| (d.address.clone(), d.clone())).collect()
    };
    let (old, new) = (by_address(old), by_address(new));
    for (address, n) in &new {
        let Some(o) = old.get(address) else {
            out.push(Change::DeviceAdded { device: n.clone() });
            continue;
        };
        for (field, before, after) in [
            ("vendor", &o.vendor, &n.vendor),
            ("device", &o.device, &n.device),
            ("class", &o.class, &n.class),
            ("driver", &o.driver, &n.driver),
        ] {
            if before != after {
                out.push(Change::DeviceChanged {
                    address: address.clone(),
                    field: field.to_owned(),
                    old: before.clone(),
                    new: after.clone(),
                });
            }
        }
    }
    for (address, o) in &old {
        if !new.contains_key(address) {
            out.push(Change::DeviceRemoved { device: o.clone() });
        }
    }
}

fn envs(old: &[PythonEnv], new: &[PythonEnv], out: &mut Vec<Change>) {
    let by_path = |e: &[PythonEnv]| -> BTreeMap<String, PythonEnv> {
        e.iter().map(|e| (e.path.clone(), e.clone())).collect()
    };
    let (old, new) = (by_path(old), by_path(new));
    for (path, n) in &new {
        let Some(o) = old.get(path) else {
            out.push(Change::EnvAdded {
                kind: n.kind,
                path: path.clone(),
            });
            for p in &n.quantum_packages {
                out.push(Change::SdkAdded {
                    env: path.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                });
            }
            continue;
        };
        if o.python != n.python {
            out.push(Change::EnvPythonChanged {
                path: path.clone(),
                old: o.python.clone(),
                new: n.python.clone(),
            });
        }
        packages(path, &o.quantum_packages, &n.quantum_packages, out);
    }
    for (path, o) in &old {
        if !new.contains_key(path) {
            out.push(Change::EnvRemoved {
                kind: o.kind,
                path: path.clone(),
            });
            for p in &o.quantum_packages {
                out.push(Change::SdkRemoved {
                    env: path.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                });
            }
        }
    }
}

/// A package's place: its site directory and name (the `.dist-info` directory's own name
/// carries the version, which an upgrade in place changes).
fn place(p: &QuantumPackage) -> (String, String) {
    let site = Path::new(&p.dist_info)
        .parent()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (site, p.name.clone())
}

fn packages(env: &str, old: &[QuantumPackage], new: &[QuantumPackage], out: &mut Vec<Change>) {
    let by_place = |p: &[QuantumPackage]| -> BTreeMap<(String, String), QuantumPackage> {
        p.iter().map(|p| (place(p), p.clone())).collect()
    };
    let (old, new) = (by_place(old), by_place(new));
    for (key, n) in &new {
        let Some(o) = old.get(key) else {
            out.push(Change::SdkAdded {
                env: env.to_owned(),
                name: n.name.clone(),
                version: n.version.clone(),
            });
            continue;
        };
        if o.version != n.version {
            out.push(Change::SdkVersionChanged {
                env: env.to_owned(),
                name: n.name.clone(),
                old: o.version.clone(),
                new: n.version.clone(),
            });
        }
        files(env, o, n, out);
    }
    for (key, o) in &old {
        if !new.contains_key(key) {
            out.push(Change::SdkRemoved {
                env: env.to_owned(),
                name: o.name.clone(),
                version: o.version.clone(),
            });
        }
    }
}

fn files(env: &str, old: &QuantumPackage, new: &QuantumPackage, out: &mut Vec<Change>) {
    let Some(n) = &new.files else {
        if old.files.is_some() {
            out.push(Change::RecordLost {
                env: env.to_owned(),
                package: new.name.clone(),
            });
        }
        return;
    };
    let empty = super::FileCheck::default();
    let o = old.files.as_ref().unwrap_or(&empty);
    let set = |v: &[String]| -> BTreeSet<String> { v.iter().cloned().collect() };
    let (o_mod, o_miss, o_ref) = (
        set(&o.modified_files),
        set(&o.missing_files),
        set(&o.refused_rows),
    );
    let (n_mod, n_miss, n_ref) = (
        set(&n.modified_files),
        set(&n.missing_files),
        set(&n.refused_rows),
    );
    let ids = |path: &String| (env.to_owned(), new.name.clone(), path.clone());
    for path in n_mod.difference(&o_mod) {
        let (env, package, path) = ids(path);
        out.push(Change::FileModified { env, package, path });
    }
    for path in n_miss.difference(&o_miss) {
        let (env, package, path) = ids(path);
        out.push(Change::FileMissing { env, package, path });
    }
    for row in n_ref.difference(&o_ref) {
        let (env, package, row) = ids(row);
        out.push(Change::RowRefused { env, package, row });
    }
    if old.version == new.version {
        let flagged: BTreeSet<&String> = o_mod.union(&o_miss).collect();
        for path in flagged {
            if !n_mod.contains(path) && !n_miss.contains(path) {
                let (env, package, path) = ids(path);
                out.push(Change::FileRestored { env, package, path });
            }
        }
    }
}

/// `text` with control characters escaped, for a terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn opt(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "(none)".to_owned(), printable)
}

impl fmt::Display for Change {
    /// One line for people, with control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = printable;
        match self {
            Change::Host { field, old, new } => write!(f, "{field}: {} -> {}", opt(old), opt(new)),
            Change::DeviceAdded { device } => write!(f, "PCI device added: {}", describe(device)),
            Change::DeviceRemoved { device } => {
                write!(f, "PCI device removed: {}", describe(device))
            }
            Change::DeviceChanged {
                address,
                field,
                old,
                new,
            } => write!(
                f,
                "PCI device {}: {field} {} -> {}",
                p(address),
                opt(old),
                opt(new)
            ),
            Change::ModuleLoaded { name } => write!(f, "kernel module loaded: {}", p(name)),
            Change::ModuleUnloaded { name } => write!(f, "kernel module unloaded: {}", p(name)),
            Change::EnvAdded { kind, path } => {
                write!(
                    f,
                    "Python environment added: {} ({})",
                    p(path),
                    kind.as_str()
                )
            }
            Change::EnvRemoved { kind, path } => {
                write!(
                    f,
                    "Python environment removed: {} ({})",
                    p(path),
                    kind.as_str()
                )
            }
            Change::EnvPythonChanged { path, old, new } => {
                write!(
                    f,
                    "Python environment {}: Python {} -> {}",
                    p(path),
                    opt(old),
                    opt(new)
                )
            }
            Change::SdkAdded { env, name, version } => {
                write!(
                    f,
                    "quantum package added: {} {} in {}",
                    p(name),
                    p(version),
                    p(env)
                )
            }
            Change::SdkRemoved { env, name, version } => {
                write!(
                    f,
                    "quantum package removed: {} {} in {}",
                    p(name),
                    p(version),
                    p(env)
                )
            }
            Change::SdkVersionChanged {
                env,
                name,
                old,
                new,
            } => write!(
                f,
                "quantum package changed in place: {} {} -> {} in {}",
                p(name),
                p(old),
                p(new),
                p(env)
            ),
            Change::FileModified { env, package, path } => {
                write!(
                    f,
                    "installed file modified: {} ({} in {})",
                    p(path),
                    p(package),
                    p(env)
                )
            }
            Change::FileMissing { env, package, path } => {
                write!(
                    f,
                    "installed file missing: {} ({} in {})",
                    p(path),
                    p(package),
                    p(env)
                )
            }
            Change::FileRestored { env, package, path } => write!(
                f,
                "installed file matches its RECORD again: {} ({} in {})",
                p(path),
                p(package),
                p(env)
            ),
            Change::RowRefused { env, package, row } => {
                write!(
                    f,
                    "RECORD row refused: {} ({} in {})",
                    p(row),
                    p(package),
                    p(env)
                )
            }
            Change::RecordLost { env, package } => {
                write!(f, "RECORD no longer readable: {} in {}", p(package), p(env))
            }
            Change::ConfigAdded { file } => write!(
                f,
                "provider configuration file added: {} ({})",
                p(&file.path),
                p(&file.provider)
            ),
            Change::ConfigRemoved { file } => write!(
                f,
                "provider configuration file removed: {} ({})",
                p(&file.path),
                p(&file.provider)
            ),
        }
    }
}

/// `ADDRESS VENDOR:DEVICE (kind, driver D)`.
pub fn describe(d: &PciDevice) -> String {
    let mut s = format!(
        "{} {}:{}",
        printable(&d.address),
        opt(&d.vendor),
        opt(&d.device)
    );
    let mut notes = Vec::new();
    if let Some(k) = d.kind {
        notes.push(k.as_str().to_owned());
    }
    if let Some(driver) = &d.driver {
        notes.push(format!("driver {}", printable(driver)));
    }
    if !notes.is_empty() {
        s.push_str(&format!(" ({})", notes.join(", ")));
    }
    s
}
