//! What files tell about an environment's interpreter without running it, and the host facts
//! a manifest records.

use std::path::{Path, PathBuf};

use super::PythonEnvironment;
use crate::inventory::python::{EnvKind, parse_pyvenv_cfg};
use crate::inventory::{Cpu, Follow, Kernel, Os, host, read_limited};

pub(crate) fn python_environment(
    prefix: &Path,
    kind: EnvKind,
    sites: &[PathBuf],
) -> PythonEnvironment {
    let cfg = (kind == EnvKind::Venv)
        .then(|| read_limited(&prefix.join("pyvenv.cfg"), 64 * 1024, Follow::No))
        .flatten();
    let interpreter = ["bin/python3", "bin/python"]
        .iter()
        .map(|rel| prefix.join(rel))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned());
    let base_interpreter = cfg.as_deref().and_then(|bytes| {
        let text = String::from_utf8_lossy(bytes);
        let value = |wanted: &str| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim().eq_ignore_ascii_case(wanted) && !value.trim().is_empty())
                    .then(|| value.trim().to_owned())
            })
        };
        value("executable").or_else(|| {
            value("home").map(|home| {
                Path::new(&home)
                    .join("python3")
                    .to_string_lossy()
                    .into_owned()
            })
        })
    });
    let version = cfg
        .as_deref()
        .and_then(parse_pyvenv_cfg)
        .or_else(|| conda_python(prefix, kind))
        .or_else(|| lib_python(prefix));
    PythonEnvironment {
        prefix: prefix.to_string_lossy().into_owned(),
        kind,
        interpreter,
        base_interpreter,
        version,
        site_packages: sites
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
    }
}

/// A conda environment's Python version, from `conda-meta/python-X.Y.Z-BUILD.json`.
fn conda_python(prefix: &Path, kind: EnvKind) -> Option<String> {
    if kind != EnvKind::Conda {
        return None;
    }
    let mut versions: Vec<Vec<u64>> = std::fs::read_dir(prefix.join("conda-meta"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix("python-")?.strip_suffix(".json")?;
            numbers(rest.split('-').next()?)
        })
        .collect();
    versions.sort();
    versions.pop().map(|v| join_numbers(&v))
}

/// The newest `lib/pythonX.Y` directory's version.
fn lib_python(prefix: &Path) -> Option<String> {
    let mut versions: Vec<Vec<u64>> = std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| numbers(e.file_name().to_str()?.strip_prefix("python")?))
        .filter(|v| v.len() == 2)
        .collect();
    versions.sort();
    versions.pop().map(|v| join_numbers(&v))
}

/// `3.11.7` as numbers; `None` unless it is dot-separated numbers.
fn numbers(text: &str) -> Option<Vec<u64>> {
    text.split('.')
        .map(|part| {
            (!part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        })
        .collect()
}

fn join_numbers(parts: &[u64]) -> String {
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The host name, operating system, kernel and CPU of this machine.
pub(crate) fn host_facts() -> (Option<String>, Os, Kernel, Cpu) {
    let text = |path: &str| {
        read_limited(Path::new(path), 16 << 20, Follow::Yes)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let os = text("/etc/os-release")
        .or_else(|| text("/usr/lib/os-release"))
        .map(|t| host::parse_os_release(&t))
        .unwrap_or_default();
    let kernel = Kernel {
        release: text("/proc/sys/kernel/osrelease").and_then(|t| host::one_line(&t)),
        version: text("/proc/sys/kernel/version")
            .or_else(|| text("/proc/version"))
            .and_then(|t| host::one_line(&t)),
    };
    let cpu = text("/proc/cpuinfo")
        .map(|t| host::parse_cpuinfo(&t))
        .unwrap_or_default();
    let hostname = text("/proc/sys/kernel/hostname").and_then(|t| host::one_line(&t));
    (hostname, os, kernel, cpu)
}
