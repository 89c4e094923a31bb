//! Checking a distribution's installed files against its `RECORD`.
//!
//! Each hashed row's file is hashed and compared (its size first, when the row gives one). A
//! row's path is relative to the directory holding the `.dist-info`; `..` is allowed as long as
//! the path stays inside the environment (pip records console scripts as
//! `../../../bin/NAME`), and a path that would leave it, an absolute path, or a directory that is
//! a link to outside the environment is refused without touching the file system there. The
//! file itself is opened with `O_NOFOLLOW | O_NONBLOCK` and must be a regular file, so a file
//! swapped for a link, a FIFO or a device is reported as modified, never read through or waited
//! on.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dist::{HashAlgorithm, RecordRow};

/// The result of checking one distribution's files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// Files whose hash matches.
    pub ok: u64,
    /// Files whose size or hash differs, or that are no longer a regular file.
    pub modified: u64,
    /// Files that are not there.
    pub missing: u64,
    /// Rows without a hash (the `RECORD` itself, `.pyc` files): not checked.
    pub skipped: u64,
    /// Rows not checked because they are malformed, name a weak or unknown hash, leave the
    /// environment, or cannot be read.
    pub refused: u64,
    /// The modified files, as the `RECORD` names them, sorted.
    pub modified_files: Vec<String>,
    /// The missing files, sorted.
    pub missing_files: Vec<String>,
    /// The refused rows, each with why (`PATH: reason` or `line N: reason`), sorted.
    pub refused_rows: Vec<String>,
}

impl FileCheck {
    /// Whether every hashed file matched and no row was refused.
    pub fn is_clean(&self) -> bool {
        self.modified == 0 && self.missing == 0 && self.refused == 0
    }
}

/// What one hashed file turned out to be.
#[derive(Clone)]
enum Outcome {
    Ok,
    Modified,
    Missing,
    Refused(String),
}

/// Checks `rows` against the files under `site_dir`, never reading outside `env_root`. Both
/// directories should be canonical; if `site_dir` is not inside `env_root`, every `..` that
/// leaves `site_dir` is refused.
pub fn verify(rows: &[RecordRow], site_dir: &Path, env_root: &Path) -> FileCheck {
    let (root, base) = match site_dir.strip_prefix(env_root) {
        Ok(rel) => (env_root, components(rel)),
        Err(_) => (site_dir, Vec::new()),
    };
    let mut check = FileCheck::default();
    let mut parents = ParentCache::default();
    for row in rows {
        match row {
            RecordRow::Unhashed { .. } => check.skipped += 1,
            RecordRow::Malformed { line, reason } => {
                check.refused += 1;
                check.refused_rows.push(format!("line {line}: {reason}"));
            }
            RecordRow::Hashed {
                path,
                algorithm,
                digest,
                size,
            } => {
                let outcome = match resolve(&base, path) {
                    Err(reason) => Outcome::Refused(reason.to_owned()),
                    Ok(rel) => check_file(root, &rel, &mut parents, *algorithm, digest, *size),
                };
                match outcome {
                    Outcome::Ok => check.ok += 1,
                    Outcome::Modified => {
                        check.modified += 1;
                        check.modified_files.push(path.clone());
                    }
                    Outcome::Missing => {
                        check.missing += 1;
                        check.missing_files.push(path.clone());
                    }
                    Outcome::Refused(reason) => {
                        check.refused += 1;
                        check.refused_rows.push(format!("{path}: {reason}"));
                    }
                }
            }
        }
    }
    check.modified_files.sort();
    check.missing_files.sort();
    check.refused_rows.sort();
    check
}

fn components(rel: &Path) -> Vec<String> {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// A `RECORD` row's path resolved lexically against `base` (the site directory's components
/// relative to the environment's root): the file's components relative to that root, or why the
/// row is refused. `..` may climb out of `base` but never out of the root; absolute paths and NUL
/// bytes are refused, and so is a path that names the root itself. Nothing is read.
pub fn resolve(base: &[String], path: &str) -> Result<Vec<String>, &'static str> {
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    if path.contains('\0') {
        return Err("a NUL byte in the path");
    }
    let mut parts = base.to_vec();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("leaves the environment");
                }
            }
            p => parts.push(p.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err("names the environment itself");
    }
    Ok(parts)
}

/// The canonical form of each parent directory seen, and whether it is inside the root.
#[derive(Default)]
struct ParentCache {
    seen: HashMap<PathBuf, Result<PathBuf, Outcome>>,
}

impl ParentCache {
    fn canonical(&mut self, root: &Path, lexical: PathBuf) -> Result<PathBuf, Outcome> {
        if let Some(found) = self.seen.get(&lexical) {
            return found.clone();
        }
        let result = match std::fs::canonicalize(&lexical) {
            Ok(c) if c.starts_with(root) => Ok(c),
            Ok(_) => Err(Outcome::Refused(
                "a directory on the way links to outside the environment".to_owned(),
            )),
            Err(e) if is_absent(&e) => Err(Outcome::Missing),
            Err(e) => Err(Outcome::Refused(format!("cannot be read: {e}"))),
        };
        self.seen.insert(lexical, result.clone());
        result
    }
}

fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn check_file(
    root: &Path,
    rel: &[String],
    parents: &mut ParentCache,
    algorithm: HashAlgorithm,
    digest: &[u8],
    size: Option<u64>,
) -> Outcome {
    let Some((name, dirs)) = rel.split_last() else {
        return Outcome::Refused("names the environment itself".to_owned());
    };
    let mut lexical = root.to_path_buf();
    lexical.extend(dirs);
    let parent = match parents.canonical(root, lexical) {
        Ok(p) => p,
        Err(o) => return o,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(parent.join(name));
    let mut file = match file {
        Ok(f) => f,
        Err(e) if is_absent(&e) => return Outcome::Missing,
        // ELOOP: the file is now a link.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Outcome::Modified,
        Err(e) => return Outcome::Refused(format!("cannot be read: {e}")),
    };
    match file.metadata() {
        Ok(m) if !m.is_file() => return Outcome::Modified,
        Ok(m) if size.is_some_and(|s| s != m.len()) => return Outcome::Modified,
        Ok(_) => {}
        Err(e) => return Outcome::Refused(format!("cannot be read: {e}")),
    }
    match hash(&mut file, algorithm) {
        Ok(actual) if actual == digest => Outcome::Ok,
        Ok(_) => Outcome::Modified,
        Err(e) => Outcome::Refused(format!("cannot be read: {e}")),
    }
}

fn hash(file: &mut std::fs::File, algorithm: HashAlgorithm) -> std::io::Result<Vec<u8>> {
    fn run<D: sha2::Digest>(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
        let mut hasher = D::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            let Some(chunk) = buf.get(..n) else { break };
            if n == 0 {
                break;
            }
            hasher.update(chunk);
        }
        Ok(hasher.finalize().to_vec())
    }
    match algorithm {
        HashAlgorithm::Sha256 => run::<sha2::Sha256>(file),
        HashAlgorithm::Sha384 => run::<sha2::Sha384>(file),
        HashAlgorithm::Sha512 => run::<sha2::Sha512>(file),
    }
}
