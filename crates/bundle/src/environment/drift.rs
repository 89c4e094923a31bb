//! Drift between two environment manifests: what changed from the recorded one to the current
//! one.
//!
//! The rules, in the order changes are listed:
//! - host: the tier, host name, operating system, kernel release or build, CPU model or count;
//! - the Python environment: its prefix, kind, interpreter, base interpreter or version;
//! - distributions, matched by name (the first of a name when one is installed twice): added,
//!   removed, another version, or the same version with other files (`files_sha256`: installed
//!   again from another build);
//! - installed files: a file that now differs from its `RECORD` or is missing, a `RECORD` row
//!   now refused, a `RECORD` no longer readable, and (same version only) a file that was modified
//!   or missing and matches again.
//!
//! The lock text is not compared on its own: what it says is in the distributions. No change
//! means no drift.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::{Distribution, EnvironmentManifest};
use crate::inventory::diff::printable;

/// One difference between two environment manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum EnvChange {
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
    /// The Python environment changed.
    Python {
        /// `prefix`, `kind`, `interpreter`, `base_interpreter` or `version`.
        field: String,
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// A distribution was installed.
    PackageAdded {
        /// Its name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A distribution was removed.
    PackageRemoved {
        /// Its name.
        name: String,
        /// Its version.
        version: String,
    },
    /// A distribution was upgraded or downgraded.
    PackageVersionChanged {
        /// Its name.
        name: String,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
    /// The same version was installed again with other files.
    PackageRebuilt {
        /// Its name.
        name: String,
        /// Its version.
        version: String,
    },
    /// An installed file now differs from its `RECORD`.
    FileModified {
        /// The distribution.
        package: String,
        /// The file, as the `RECORD` names it.
        path: String,
    },
    /// An installed file is now missing.
    FileMissing {
        /// The distribution.
        package: String,
        /// The file.
        path: String,
    },
    /// A file that was modified or missing matches its `RECORD` again (same version).
    FileRestored {
        /// The distribution.
        package: String,
        /// The file.
        path: String,
    },
    /// A `RECORD` row is now refused.
    RowRefused {
        /// The distribution.
        package: String,
        /// The row and why.
        row: String,
    },
    /// A distribution's `RECORD` can no longer be read.
    RecordLost {
        /// The distribution.
        package: String,
    },
}

/// The changes from `recorded` to `current`, in the order of the rules above; empty when there
/// is no drift.
pub fn drift(recorded: &EnvironmentManifest, current: &EnvironmentManifest) -> Vec<EnvChange> {
    let mut changes = Vec::new();
    let (o, n) = (recorded, current);
    let host: [(&str, Option<String>, Option<String>); 9] = [
        ("tier", Some(o.tier.clone()), Some(n.tier.clone())),
        ("hostname", o.hostname.clone(), n.hostname.clone()),
        ("os.id", o.os.id.clone(), n.os.id.clone()),
        (
            "os.version_id",
            o.os.version_id.clone(),
            n.os.version_id.clone(),
        ),
        (
            "os.pretty_name",
            o.os.pretty_name.clone(),
            n.os.pretty_name.clone(),
        ),
        (
            "kernel.release",
            o.kernel.release.clone(),
            n.kernel.release.clone(),
        ),
        (
            "kernel.version",
            o.kernel.version.clone(),
            n.kernel.version.clone(),
        ),
        ("cpu.model", o.cpu.model.clone(), n.cpu.model.clone()),
        (
            "cpu.count",
            Some(o.cpu.count.to_string()),
            Some(n.cpu.count.to_string()),
        ),
    ];
    for (field, old, new) in host {
        if old != new {
            changes.push(EnvChange::Host {
                field: field.to_owned(),
                old,
                new,
            });
        }
    }
    let (op, np) = (&o.python, &n.python);
    let python: [(&str, Option<String>, Option<String>); 5] = [
        ("prefix", Some(op.prefix.clone()), Some(np.prefix.clone())),
        (
            "kind",
            Some(op.kind.as_str().to_owned()),
            Some(np.kind.as_str().to_owned()),
        ),
        (
            "interpreter",
            op.interpreter.clone(),
            np.interpreter.clone(),
        ),
        (
            "base_interpreter",
            op.base_interpreter.clone(),
            np.base_interpreter.clone(),
        ),
        ("version", op.version.clone(), np.version.clone()),
    ];
    for (field, old, new) in python {
        if old != new {
            changes.push(EnvChange::Python {
                field: field.to_owned(),
                old,
                new,
            });
        }
    }
    let by_name = |d: &[Distribution]| -> BTreeMap<String, Distribution> {
        let mut map = BTreeMap::new();
        for dist in d {
            map.entry(dist.name.clone()).or_insert_with(|| dist.clone());
        }
        map
    };
    let (old, new) = (by_name(&o.distributions), by_name(&n.distributions));
    for (name, nd) in &new {
        let Some(od) = old.get(name) else {
            changes.push(EnvChange::PackageAdded {
                name: name.clone(),
                version: nd.version.clone(),
            });
            continue;
        };
        if od.version != nd.version {
            changes.push(EnvChange::PackageVersionChanged {
                name: name.clone(),
                old: od.version.clone(),
                new: nd.version.clone(),
            });
        } else if od.files_sha256.is_some()
            && nd.files_sha256.is_some()
            && od.files_sha256 != nd.files_sha256
        {
            changes.push(EnvChange::PackageRebuilt {
                name: name.clone(),
                version: nd.version.clone(),
            });
        }
        files(od, nd, &mut changes);
    }
    for (name, od) in &old {
        if !new.contains_key(name) {
            changes.push(EnvChange::PackageRemoved {
                name: name.clone(),
                version: od.version.clone(),
            });
        }
    }
    changes
}

fn files(old: &Distribution, new: &Distribution, out: &mut Vec<EnvChange>) {
    let Some(n) = &new.files else {
        if old.files.is_some() {
            out.push(EnvChange::RecordLost {
                package: new.name.clone(),
            });
        }
        return;
    };
    let empty = crate::inventory::FileCheck::default();
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
    let package = || new.name.clone();
    for path in n_mod.difference(&o_mod) {
        out.push(EnvChange::FileModified {
            package: package(),
            path: path.clone(),
        });
    }
    for path in n_miss.difference(&o_miss) {
        out.push(EnvChange::FileMissing {
            package: package(),
            path: path.clone(),
        });
    }
    for row in n_ref.difference(&o_ref) {
        out.push(EnvChange::RowRefused {
            package: package(),
            row: row.clone(),
        });
    }
    if old.version == new.version {
        for path in o_mod.union(&o_miss) {
            if !n_mod.contains(path) && !n_miss.contains(path) {
                out.push(EnvChange::FileRestored {
                    package: package(),
                    path: path.clone(),
                });
            }
        }
    }
}

fn opt(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "(none)".to_owned(), printable)
}

impl fmt::Display for EnvChange {
    /// One line for people, with control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = printable;
        match self {
            EnvChange::Host { field, old, new } => {
                write!(f, "{field}: {} -> {}", opt(old), opt(new))
            }
            EnvChange::Python { field, old, new } => {
                write!(f, "Python {field}: {} -> {}", opt(old), opt(new))
            }
            EnvChange::PackageAdded { name, version } => {
                write!(f, "package added: {} {}", p(name), p(version))
            }
            EnvChange::PackageRemoved { name, version } => {
                write!(f, "package removed: {} {}", p(name), p(version))
            }
            EnvChange::PackageVersionChanged { name, old, new } => {
                write!(f, "package changed: {} {} -> {}", p(name), p(old), p(new))
            }
            EnvChange::PackageRebuilt { name, version } => write!(
                f,
                "package installed again with other files: {} {}",
                p(name),
                p(version)
            ),
            EnvChange::FileModified { package, path } => {
                write!(f, "installed file modified: {} ({})", p(path), p(package))
            }
            EnvChange::FileMissing { package, path } => {
                write!(f, "installed file missing: {} ({})", p(path), p(package))
            }
            EnvChange::FileRestored { package, path } => write!(
                f,
                "installed file matches its RECORD again: {} ({})",
                p(path),
                p(package)
            ),
            EnvChange::RowRefused { package, row } => {
                write!(f, "RECORD row refused: {} ({})", p(row), p(package))
            }
            EnvChange::RecordLost { package } => {
                write!(f, "RECORD no longer readable: {}", p(package))
            }
        }
    }
}
