//! Finding Python environments and reading what they hold.
//!
//! Where environments are looked for:
//! - system: the prefix of the first `python3` on `PATH` (the grandparent of where it was found,
//!   which is a venv's own directory when a venv is active, and of the file it resolves to),
//!   `/usr`, `/usr/local` and each `~/.pyenv/versions/*` install, each only if it is a venv or
//!   conda environment or has a `lib/python3*/site-packages` or `dist-packages` directory;
//! - conda: `~/miniconda3`, `~/anaconda3`, `~/miniforge3`, `~/mambaforge`, `~/micromamba` and
//!   `/opt/conda` with their `envs/*`, `~/.conda/envs/*` and the paths listed in
//!   `~/.conda/environments.txt`: each a directory with a `conda-meta/` directory;
//! - venvs (a directory with a `pyvenv.cfg` file) and conda environments anywhere under the
//!   search roots, at most `max_depth` directories deep, never following a link or crossing into
//!   another file system, and skipping version-control, dependency and cache trees
//!   (`node_modules`, `.git`, `__pycache__`, `.cache`, site-packages, directories tagged with
//!   `CACHEDIR.TAG`, …) and the inside of every environment found.
//!
//! Whatever the kind, an environment is identified by its canonical path; the same one reached
//! twice is listed once. Nothing is executed: the Python version comes from `pyvenv.cfg`
//! (`version`, else `version_info`), a conda environment's `conda-meta/python-X.Y.Z-*.json`, or
//! the newest `lib/pythonX.Y` directory.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dist::{is_quantum, normalize_name, parse_metadata, parse_record};
use super::record::{FileCheck, verify};
use super::{Follow, read_limited};

/// Directory names the search never enters.
pub const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".cache",
    ".npm",
    ".cargo",
    ".rustup",
    ".gradle",
    ".m2",
    ".Trash",
    "site-packages",
    "dist-packages",
];

/// The most directories one search root may make the search list; past it the search stops and
/// says it was cut short.
pub const MAX_DIRS_PER_ROOT: usize = 100_000;

/// How an environment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    /// An interpreter's own installation (the distribution's, `/usr/local`, pyenv's).
    System,
    /// A virtual environment (`pyvenv.cfg`: venv, virtualenv, uv).
    Venv,
    /// A conda environment (`conda-meta/`).
    Conda,
}

impl EnvKind {
    /// `system`, `venv` or `conda`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvKind::System => "system",
            EnvKind::Venv => "venv",
            EnvKind::Conda => "conda",
        }
    }
}

/// One Python environment and the quantum packages installed in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonEnv {
    /// How it was made.
    pub kind: EnvKind,
    /// Its canonical path (the prefix: `/usr`, the venv or conda directory).
    pub path: String,
    /// The Python version, as far as files tell without running it.
    pub python: Option<String>,
    /// Its site-packages and dist-packages directories, canonical, sorted.
    pub site_packages: Vec<String>,
    /// The quantum packages installed in it, by name then location.
    pub quantum_packages: Vec<QuantumPackage>,
}

/// An installed quantum package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantumPackage {
    /// Its PEP 503 normalised name.
    pub name: String,
    /// Its version, from `METADATA` (else from the `.dist-info` directory's name).
    pub version: String,
    /// The `.dist-info` directory.
    pub dist_info: String,
    /// Its installed files checked against its `RECORD`; `null` when there is no readable
    /// `RECORD`.
    pub files: Option<FileCheck>,
}

/// Where to look, for [`discover`].
#[derive(Debug, Clone)]
pub struct Places<'a> {
    /// Stands for `/`: where `/usr`, `/opt/conda` are looked for.
    pub system_root: &'a Path,
    /// The home directory.
    pub home: &'a Path,
    /// `$PATH`, for `python3`.
    pub path_var: Option<&'a OsStr>,
    /// The directories searched for venvs and conda environments.
    pub roots: &'a [PathBuf],
    /// How many directories deep under a root the search goes (0: the root only).
    pub max_depth: usize,
}

/// The environments found, by canonical path, and whether a root's search was cut short.
pub fn discover(places: &Places<'_>) -> (BTreeMap<PathBuf, EnvKind>, bool) {
    let mut found = BTreeMap::new();
    // `system`: a prefix that is neither a venv nor a conda environment counts as a system
    // installation when it has site directories.
    let mut add = |dir: &Path, system: bool| {
        let Ok(dir) = std::fs::canonicalize(dir) else {
            return;
        };
        let kind = match classify(&dir) {
            Some(kind) => kind,
            None if system && !site_dirs(&dir).is_empty() => EnvKind::System,
            None => return,
        };
        found.entry(dir).or_insert(kind);
    };
    for prefix in python_on_path(places.path_var) {
        add(&prefix, true);
    }
    for prefix in ["usr", "usr/local"] {
        add(&places.system_root.join(prefix), true);
    }
    for install in subdirs(&places.home.join(".pyenv/versions")) {
        add(&install, true);
    }
    for base in conda_bases(places) {
        add(&base, false);
        for env in subdirs(&base.join("envs")) {
            add(&env, false);
        }
    }
    for env in subdirs(&places.home.join(".conda/envs")) {
        add(&env, false);
    }
    let listed = read_limited(
        &places.home.join(".conda/environments.txt"),
        1 << 20,
        Follow::No,
    );
    for line in String::from_utf8_lossy(&listed.unwrap_or_default()).lines() {
        let line = line.trim();
        if line.starts_with('/') {
            add(Path::new(line), false);
        }
    }
    let mut truncated = false;
    for root in places.roots {
        for env in walk(root, places.max_depth, &mut truncated) {
            add(&env, false);
            for inner in subdirs(&env.join("envs")) {
                add(&inner, false);
            }
        }
    }
    (found, truncated)
}

fn conda_bases(places: &Places<'_>) -> Vec<PathBuf> {
    let mut bases: Vec<PathBuf> = [
        "miniconda3",
        "anaconda3",
        "miniforge3",
        "mambaforge",
        "micromamba",
    ]
    .iter()
    .map(|d| places.home.join(d))
    .collect();
    bases.push(places.system_root.join("opt/conda"));
    bases
}

/// A venv (`pyvenv.cfg`), a conda environment (`conda-meta/`), or neither.
fn classify(dir: &Path) -> Option<EnvKind> {
    if dir.join("pyvenv.cfg").is_file() {
        Some(EnvKind::Venv)
    } else if dir.join("conda-meta").is_dir() {
        Some(EnvKind::Conda)
    } else {
        None
    }
}

/// The prefixes of the first `python3` on `PATH`: the grandparent of the path found (a venv's
/// `bin/python3` is a link to its base interpreter) and of the path it resolves to.
fn python_on_path(path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let Some(found) = path_var.and_then(|p| {
        std::env::split_paths(p)
            .filter(|d| d.is_absolute())
            .map(|d| d.join("python3"))
            .find(|p| p.is_file())
    }) else {
        return Vec::new();
    };
    let grandparent = |p: &Path| Some(p.parent()?.parent()?.to_path_buf());
    let mut prefixes: Vec<PathBuf> = grandparent(&found).into_iter().collect();
    if let Some(resolved) = std::fs::canonicalize(&found)
        .ok()
        .and_then(|p| grandparent(&p))
    {
        prefixes.push(resolved);
    }
    prefixes
}

/// The directories directly in `dir` (not links), sorted.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// The environments under `root`, breadth-first.
fn walk(root: &Path, max_depth: usize, truncated: &mut bool) -> Vec<PathBuf> {
    let mut envs = Vec::new();
    let Ok(root) = std::fs::canonicalize(root) else {
        return envs;
    };
    let Ok(device) = std::fs::metadata(&root).map(|m| m.dev()) else {
        return envs;
    };
    let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
    let mut listed = 0usize;
    while let Some((dir, depth)) = queue.pop_front() {
        listed += 1;
        if listed > MAX_DIRS_PER_ROOT {
            *truncated = true;
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children = Vec::new();
        let mut env = false;
        let mut cache_tag = false;
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            match (name.to_str(), kind.is_dir()) {
                (Some("pyvenv.cfg"), false) if kind.is_file() => env = true,
                (Some("conda-meta"), true) => env = true,
                (Some("CACHEDIR.TAG"), false) => cache_tag = true,
                (Some(n), true) if SKIPPED_DIRS.contains(&n) => {}
                (_, true) => children.push(entry),
                _ => {}
            }
        }
        if env {
            envs.push(dir);
            continue;
        }
        if cache_tag || depth >= max_depth {
            continue;
        }
        children.sort_by_key(|e| e.file_name());
        for child in children {
            if child.metadata().is_ok_and(|m| m.dev() == device) {
                queue.push_back((child.path(), depth + 1));
            }
        }
    }
    envs
}

/// The `site-packages` and `dist-packages` directories of a canonical prefix (only those that
/// resolve inside it), canonical and sorted.
pub fn site_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut sites = Vec::new();
    for lib in ["lib", "lib64"] {
        for version_dir in subdirs_following(&prefix.join(lib)) {
            if !version_dir
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.starts_with("python3"))
            {
                continue;
            }
            for site in ["site-packages", "dist-packages"] {
                if let Ok(c) = std::fs::canonicalize(version_dir.join(site))
                    && c.is_dir()
                    && c.starts_with(prefix)
                    && !sites.contains(&c)
                {
                    sites.push(c);
                }
            }
        }
    }
    sites.sort();
    sites
}

/// Like [`subdirs`], but `dir` itself may be a link (a venv's `lib64 -> lib`).
fn subdirs_following(dir: &Path) -> Vec<PathBuf> {
    match std::fs::canonicalize(dir) {
        Ok(d) => subdirs(&d),
        Err(_) => Vec::new(),
    }
}

/// The Python version `pyvenv.cfg` records: `version` (venv, uv: `3.11.7`, `3.13.0rc1`), else
/// `version_info` (virtualenv: `3.11.7.final.0`) cut to its leading dotted numbers. A value that
/// does not look like a version is ignored.
pub fn parse_pyvenv_cfg(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut info = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        if key == "version" && looks_like_version(value) {
            return Some(value.to_owned());
        }
        if key == "version_info" && info.is_none() {
            info = dotted_numbers(value);
        }
    }
    info
}

/// A digit first, then at most 31 of `0-9 a-z A-Z . + -`.
fn looks_like_version(v: &str) -> bool {
    v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
}

/// The leading `N.N.N` of `text` (at most three numbers), if it starts with a digit.
fn dotted_numbers(text: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in text.split('.').take(3) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 9 {
            break;
        }
        parts.push(part);
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

/// The Python version of the environment at `prefix`.
fn python_version(prefix: &Path, kind: EnvKind) -> Option<String> {
    if kind == EnvKind::Venv
        && let Some(v) = read_limited(&prefix.join("pyvenv.cfg"), 64 * 1024, Follow::No)
            .as_deref()
            .and_then(parse_pyvenv_cfg)
    {
        return Some(v);
    }
    if kind == EnvKind::Conda
        && let Ok(entries) = std::fs::read_dir(prefix.join("conda-meta"))
    {
        let mut versions: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let rest = name.strip_prefix("python-")?.strip_suffix(".json")?;
                dotted_numbers(rest.split('-').next()?)
            })
            .collect();
        versions.sort();
        if let Some(v) = versions.pop() {
            return Some(v);
        }
    }
    let mut versions: Vec<(u32, u32)> = subdirs_following(&prefix.join("lib"))
        .iter()
        .filter_map(|d| {
            let name = d.file_name()?.to_str()?.strip_prefix("python")?;
            let (major, minor) = name.split_once('.')?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(a, b)| format!("{a}.{b}"))
}

/// Reads the environment at `prefix`: its Python version, site directories and quantum
/// packages, each checked against its `RECORD`. `prefix` is made canonical first.
pub fn scan_env(prefix: &Path, kind: EnvKind) -> PythonEnv {
    let canonical = std::fs::canonicalize(prefix);
    let prefix = canonical.as_deref().unwrap_or(prefix);
    let sites = site_dirs(prefix);
    let mut packages = Vec::new();
    for site in &sites {
        packages.extend(quantum_packages(site, prefix));
    }
    packages.sort_by(|a, b| (&a.name, &a.dist_info).cmp(&(&b.name, &b.dist_info)));
    PythonEnv {
        kind,
        path: prefix.to_string_lossy().into_owned(),
        python: python_version(prefix, kind),
        site_packages: sites
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
        quantum_packages: packages,
    }
}

/// The quantum packages in one site directory (canonical, inside `env_root`).
pub fn quantum_packages(site: &Path, env_root: &Path) -> Vec<QuantumPackage> {
    let mut found = Vec::new();
    for dist_info in subdirs(site) {
        let Some(stem) = dist_info
            .file_name()
            .and_then(OsStr::to_str)
            .and_then(|n| n.strip_suffix(".dist-info"))
        else {
            continue;
        };
        let meta = read_limited(&dist_info.join("METADATA"), 64 * 1024, Follow::No)
            .map(|b| parse_metadata(&b))
            .unwrap_or_default();
        let (stem_name, stem_version) = stem.split_once('-').unwrap_or((stem, ""));
        let name = normalize_name(meta.name.as_deref().unwrap_or(stem_name));
        if !is_quantum(&name) {
            continue;
        }
        let files = read_limited(&dist_info.join("RECORD"), 64 << 20, Follow::No)
            .map(|b| verify(&parse_record(&b), site, env_root));
        found.push(QuantumPackage {
            name,
            version: meta.version.unwrap_or_else(|| stem_version.to_owned()),
            dist_info: dist_info.to_string_lossy().into_owned(),
            files,
        });
    }
    found
}
