//! Tree-wide limits from cgroups, where this user may make one.
//!
//! rlimits bind each process (memory as `RLIMIT_DATA`) and, for an unprivileged uid, the number
//! of processes; but the kernel does not apply `RLIMIT_NPROC` to uid 0, and no rlimit caps the
//! memory of a whole tree. So where qwarden can create a cgroup (as root, on cgroup v2 at the
//! root of the hierarchy or on v1 next to its own groups) it makes one per session with
//! `pids.max` and the memory limit, and reads back how often each limit refused something so the
//! ledger can record it. Elsewhere the session runs with rlimits only, and says so.

use std::path::{Path, PathBuf};

/// A session's cgroups.
#[derive(Debug, Default)]
pub struct Cgroups {
    dirs: Vec<(PathBuf, Controller)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    V2,
    PidsV1,
    MemoryV1,
}

fn own_path(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        names
            .split(',')
            .any(|n| n == controller)
            .then(|| path.to_owned())
    })
}

fn make(dir: &Path, settings: &[(&str, String)]) -> bool {
    if std::fs::create_dir(dir).is_err() {
        return false;
    }
    for (file, value) in settings {
        if std::fs::write(dir.join(file), value).is_err() {
            let _ = std::fs::remove_dir(dir);
            return false;
        }
    }
    true
}

impl Cgroups {
    /// Makes the session's cgroups where possible; the warnings say what could not be made.
    pub fn create(session: &str, memory_bytes: u64, processes: u64) -> (Cgroups, Vec<String>) {
        let mut cg = Cgroups::default();
        let name = format!("qwarden-{session}");
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            let dir = root.join(&name);
            if make(
                &dir,
                &[
                    ("pids.max", processes.to_string()),
                    ("memory.max", memory_bytes.to_string()),
                ],
            ) {
                cg.dirs.push((dir, Controller::V2));
            }
        } else {
            if let Some(own) = own_path("pids") {
                let dir = root
                    .join("pids")
                    .join(own.trim_start_matches('/'))
                    .join(&name);
                if make(&dir, &[("pids.max", processes.to_string())]) {
                    cg.dirs.push((dir, Controller::PidsV1));
                }
            }
            if let Some(own) = own_path("memory") {
                let dir = root
                    .join("memory")
                    .join(own.trim_start_matches('/'))
                    .join(&name);
                if make(&dir, &[("memory.limit_in_bytes", memory_bytes.to_string())]) {
                    cg.dirs.push((dir, Controller::MemoryV1));
                }
            }
        }
        let mut warnings = Vec::new();
        if cg.dirs.is_empty() {
            warnings.push(
                "no cgroup could be made for this session: memory is limited per process and the process limit does not bind uid 0".to_owned(),
            );
        }
        (cg, warnings)
    }

    /// The `cgroup.procs` files the sandbox init joins.
    pub fn procs(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(d, _)| d.join("cgroup.procs"))
            .collect()
    }

    /// What the cgroups enforced: a description for the ledger.
    pub fn describe(&self) -> Option<String> {
        (!self.dirs.is_empty()).then(|| {
            let names: Vec<&str> = self
                .dirs
                .iter()
                .map(|(_, c)| match c {
                    Controller::V2 => "cgroup-v2 pids+memory",
                    Controller::PidsV1 => "cgroup-v1 pids",
                    Controller::MemoryV1 => "cgroup-v1 memory",
                })
                .collect();
            names.join(", ")
        })
    }

    /// How often each limit refused or killed something: (limit, count), only non-zero ones.
    pub fn hits(&self) -> Vec<(&'static str, u64)> {
        let field = |file: PathBuf, key: &str| -> u64 {
            std::fs::read_to_string(file)
                .ok()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        let mut w = l.split_whitespace();
                        (w.next() == Some(key)).then(|| w.next().and_then(|v| v.parse().ok()))?
                    })
                })
                .unwrap_or(0)
        };
        let mut out = Vec::new();
        for (dir, c) in &self.dirs {
            match c {
                Controller::V2 => {
                    out.push(("process limit", field(dir.join("pids.events"), "max")));
                    out.push(("memory limit", field(dir.join("memory.events"), "max")));
                }
                Controller::PidsV1 => {
                    out.push(("process limit", field(dir.join("pids.events"), "max")))
                }
                Controller::MemoryV1 => {
                    let failcnt = std::fs::read_to_string(dir.join("memory.failcnt"))
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0);
                    out.push(("memory limit", failcnt));
                }
            }
        }
        out.retain(|(_, n)| *n > 0);
        out
    }

    /// Removes the cgroups (their processes are gone by now).
    pub fn remove(self) {
        for (dir, _) in self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
