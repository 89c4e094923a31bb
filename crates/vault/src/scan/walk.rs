//! Walking the paths to scan, and the environment.
//!
//! The walk reads only what it was pointed at: it never follows a symbolic link (a link is
//! reported as skipped, with where it points, and a link to outside the scanned roots is
//! never read through), opens each file with `O_NOFOLLOW | O_NONBLOCK` and checks that what
//! it opened is the regular file it listed (so a file swapped for a link or a FIFO between
//! listing and reading is skipped, not read or waited on), skips version-control metadata,
//! dependency and build directories and Python virtual environments, files over a size limit
//! and binary files. Every file is read at most once, however many roots reach it.
//!
//! A directory swapped for a link while the walk is inside it is caught when the walk enters
//! it (its canonical path must be its path); one swapped between that check and the read of a
//! file under it is not. The scan is run by the human at the terminal, not inside a sandbox
//! with an agent racing it, so that window is accepted.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::secret::Secret;

use super::ScanError;
use super::detect::{KeyClass, is_aws_access_key_id, key_class, plausible, strong};
use super::files::{FileKind, scan_content};
use super::finding::{Encoding, Finding, FindingKind, preview};

/// Limits for a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Files larger than this (bytes) are skipped, except notebooks.
    pub max_file_size: u64,
    /// Notebooks larger than this (bytes) are skipped (their outputs can hold images).
    pub max_notebook_size: u64,
    /// Directories nested deeper than this under a root are skipped.
    pub max_depth: usize,
}

impl Default for ScanOptions {
    /// 1 MiB for files, 32 MiB for notebooks, 64 levels of directories.
    fn default() -> ScanOptions {
        ScanOptions {
            max_file_size: 1024 * 1024,
            max_notebook_size: 32 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// What a scan found, and what it did not read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The credentials found, by path and position.
    pub findings: Vec<Finding>,
    /// What was not read, and why.
    pub skipped: Vec<Skipped>,
    /// How many files were read and scanned.
    pub scanned_files: usize,
}

/// A path the scan did not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why it was not read.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Why a path was not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum SkipReason {
    /// A symbolic link to outside the scanned roots: never read through.
    SymlinkOutside {
        /// Where it points.
        target: PathBuf,
    },
    /// A symbolic link to inside the scanned roots: its target is scanned at its own path.
    SymlinkInside {
        /// Where it points.
        target: PathBuf,
    },
    /// A symbolic link to nothing.
    DanglingSymlink,
    /// A directory the scan leaves out.
    Excluded {
        /// What it is (`version control metadata`, `Python virtual environment`, …).
        what: &'static str,
    },
    /// Larger than the limit.
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A binary file (it has NUL bytes).
    Binary,
    /// Not a regular file or directory (a FIFO, socket or device).
    NotRegular,
    /// Nested deeper than the limit.
    TooDeep,
    /// It could not be read.
    Unreadable {
        /// The operating system's error.
        error: String,
    },
    /// It changed between listing and reading (replaced by a link or another file).
    Changed,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::SymlinkOutside { target } => write!(
                f,
                "symbolic link to {}, outside the scanned paths (not followed; scan that path itself if it should be)",
                target.display()
            ),
            SkipReason::SymlinkInside { target } => write!(
                f,
                "symbolic link to {}, which is scanned at its own path",
                target.display()
            ),
            SkipReason::DanglingSymlink => f.write_str("symbolic link to nothing"),
            SkipReason::Excluded { what } => write!(f, "{what} (not scanned)"),
            SkipReason::TooLarge { size, limit } => {
                write!(f, "{size} bytes, over the {limit}-byte limit")
            }
            SkipReason::Binary => f.write_str("binary file"),
            SkipReason::NotRegular => f.write_str("not a regular file"),
            SkipReason::TooDeep => f.write_str("nested too deeply"),
            SkipReason::Unreadable { error } => write!(f, "unreadable: {error}"),
            SkipReason::Changed => f.write_str("changed while it was being scanned"),
        }
    }
}

/// Where credentials usually are in a home directory, for `qwarden secrets scan` without
/// arguments: `~/.qiskit/qiskit-ibm.json`, `~/.qiskit/qiskitrc`, `~/.aws/credentials`,
/// `~/.aws/config`, `~/.qnx/auth/`, `~/.env` and the shell startup files (where
/// `export IONQ_API_KEY=…` lines end up). Only those that exist are returned. The caller adds
/// the current directory (for the project's `.env`, notebooks and scripts).
pub fn default_paths(home: &Path) -> Vec<PathBuf> {
    [
        ".qiskit/qiskit-ibm.json",
        ".qiskit/qiskitrc",
        ".aws/credentials",
        ".aws/config",
        ".qnx/auth",
        ".env",
        ".bashrc",
        ".bash_profile",
        ".profile",
        ".zshrc",
        ".zshenv",
        ".zprofile",
    ]
    .into_iter()
    .map(|p| home.join(p))
    .filter(|p| fs::symlink_metadata(p).is_ok())
    .collect()
}

/// Scans files and directories (recursively). A path given here may be a symbolic link (the
/// human named it); links found inside directories are not followed.
///
/// Fails only if a given path cannot be resolved; what cannot be read inside is in
/// [`Report::skipped`].
pub fn scan_paths(paths: &[PathBuf], opts: &ScanOptions) -> Result<Report, ScanError> {
    let mut roots = Vec::with_capacity(paths.len());
    for p in paths {
        let real = fs::canonicalize(p).map_err(|source| ScanError::Root {
            path: p.clone(),
            source,
        })?;
        roots.push((p, real));
    }
    let mut walker = Walker {
        opts,
        roots: roots.iter().map(|(_, r)| r.clone()).collect(),
        seen: HashSet::new(),
        report: Report::default(),
    };
    for (given, root) in &roots {
        match fs::symlink_metadata(root) {
            Err(e) => walker.skip(
                root,
                SkipReason::Unreadable {
                    error: e.to_string(),
                },
            ),
            Ok(meta) if meta.is_dir() => walker.dir(root, 0),
            Ok(meta) if meta.is_file() => {
                let kind = FileKind::for_path(given)
                    .or_else(|| FileKind::for_path(root))
                    .unwrap_or(FileKind::Text);
                walker.file(root, kind, &meta);
            }
            Ok(_) => walker.skip(root, SkipReason::NotRegular),
        }
    }
    let mut report = walker.report;
    report
        .findings
        .sort_by(|a, b| (&a.path, a.span.start).cmp(&(&b.path, b.span.start)));
    Ok(report)
}

struct Walker<'a> {
    opts: &'a ScanOptions,
    roots: Vec<PathBuf>,
    seen: HashSet<(u64, u64)>,
    report: Report,
}

impl Walker<'_> {
    fn skip(&mut self, path: &Path, reason: SkipReason) {
        self.report.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason,
        });
    }

    fn dir(&mut self, dir: &Path, depth: usize) {
        if depth > self.opts.max_depth {
            return self.skip(dir, SkipReason::TooDeep);
        }
        // Roots are canonical and the walk descends only through real directories, so a
        // directory's canonical path is its path, unless it was swapped for a link.
        if fs::canonicalize(dir).ok().as_deref() != Some(dir) {
            return self.skip(dir, SkipReason::Changed);
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                return self.skip(
                    dir,
                    SkipReason::Unreadable {
                        error: e.to_string(),
                    },
                );
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.skip(
                        &path,
                        SkipReason::Unreadable {
                            error: e.to_string(),
                        },
                    );
                    continue;
                }
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                self.symlink(&path);
            } else if ft.is_dir() {
                match excluded(&path) {
                    Some(what) => self.skip(&path, SkipReason::Excluded { what }),
                    None => self.dir(&path, depth + 1),
                }
            } else if let Some(kind) = FileKind::for_path(&path) {
                if ft.is_file() {
                    self.file(&path, kind, &meta);
                } else {
                    self.skip(&path, SkipReason::NotRegular);
                }
            }
        }
    }

    /// Reports a link found in a directory (to a directory, or with the name of a file the
    /// scan reads); never follows it.
    fn symlink(&mut self, path: &Path) {
        let Ok(target) = fs::canonicalize(path) else {
            if FileKind::for_path(path).is_some() {
                self.skip(path, SkipReason::DanglingSymlink);
            }
            return;
        };
        if !target.is_dir()
            && FileKind::for_path(path).is_none()
            && FileKind::for_path(&target).is_none()
        {
            return;
        }
        let reason = if self.roots.iter().any(|r| target.starts_with(r)) {
            SkipReason::SymlinkInside { target }
        } else {
            SkipReason::SymlinkOutside { target }
        };
        self.skip(path, reason);
    }

    fn file(&mut self, path: &Path, kind: FileKind, meta: &Metadata) {
        if !self.seen.insert((meta.dev(), meta.ino())) {
            return;
        }
        let limit = if kind == FileKind::Notebook {
            self.opts.max_notebook_size
        } else {
            self.opts.max_file_size
        };
        if meta.len() > limit {
            return self.skip(
                path,
                SkipReason::TooLarge {
                    size: meta.len(),
                    limit,
                },
            );
        }
        let content = match read_exact_file(path, meta, limit) {
            Ok(c) => c,
            Err(reason) => return self.skip(path, reason),
        };
        if content.iter().take(8192).any(|b| *b == 0) {
            return self.skip(path, SkipReason::Binary);
        }
        self.report.scanned_files += 1;
        self.report
            .findings
            .extend(scan_content(kind, path, &content));
    }
}

/// Opens `path` without following a link or blocking on a FIFO, checks that it is the regular
/// file `listed` describes, and reads at most `limit` bytes of it.
fn read_exact_file(
    path: &Path,
    listed: &Metadata,
    limit: u64,
) -> Result<Zeroizing<Vec<u8>>, SkipReason> {
    let unreadable = |e: std::io::Error| SkipReason::Unreadable {
        error: e.to_string(),
    };
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(unreadable)?;
    let opened = file.metadata().map_err(unreadable)?;
    if !opened.is_file() || opened.dev() != listed.dev() || opened.ino() != listed.ino() {
        return Err(SkipReason::Changed);
    }
    let mut content = Zeroizing::new(Vec::with_capacity(
        usize::try_from(opened.len().min(limit))
            .unwrap_or(0)
            .saturating_add(1),
    ));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut content)
        .map_err(unreadable)?;
    let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(SkipReason::TooLarge { size, limit });
    }
    Ok(content)
}

/// What a directory is, if the scan leaves it out.
fn excluded(dir: &Path) -> Option<&'static str> {
    let name = dir.file_name()?.to_str()?;
    let what = match name {
        ".git" | ".hg" | ".svn" | ".jj" => "version control metadata",
        "node_modules" => "JavaScript dependencies",
        "target" => "build output",
        "__pycache__" => "Python bytecode",
        ".venv" | "venv" | ".virtualenv" | "site-packages" | ".tox" | ".nox" => {
            "Python virtual environment"
        }
        ".mypy_cache" | ".pytest_cache" | ".ruff_cache" => "tool cache",
        _ if dir.join("pyvenv.cfg").is_file() || dir.join("conda-meta").is_dir() => {
            "Python virtual environment"
        }
        _ => return None,
    };
    Some(what)
}

/// Checks environment variables (`std::env::vars()`, or a sandbox's environment) by name:
/// `QISKIT_IBM_TOKEN`, `IBMQ_TOKEN`, `IBM_CLOUD_API_KEY`, `IBM_QUANTUM_TOKEN`, `IONQ_API_KEY`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `QNX_*TOKEN*`,
/// `QUANTINUUM_*` tokens and passwords, and any variable whose whole value is an AWS access key
/// id. qwarden's own session handles and placeholders are not findings. Findings have no path,
/// line 0, and a span over the value.
pub fn scan_environment(vars: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, value) in vars {
        let v = value.as_bytes();
        let kind = match key_class(name.as_bytes()) {
            Some(KeyClass::Explicit(p, k)) => strong(p, k, Some(name.as_bytes()), v),
            _ => None,
        }
        .or_else(|| {
            (is_aws_access_key_id(v) && plausible(FindingKind::AwsAccessKeyId, v))
                .then_some(FindingKind::AwsAccessKeyId)
        });
        let Some(kind) = kind else {
            continue;
        };
        out.push(Finding {
            path: None,
            line: 0,
            column: 0,
            cell: None,
            provider: kind.provider(),
            kind,
            preview: preview(value),
            span: 0..value.len(),
            key: Some(name.clone()),
            account: None,
            value: Secret::new(value.clone()),
            encoding: Encoding::Raw,
            file_kind: None,
            digest: None,
        });
    }
    out
}
