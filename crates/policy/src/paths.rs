//! Normalising the paths a manifest names: `~` and relative paths expanded, `.` and `..` removed, and
//! symlinks resolved for the part of the path that exists, so a scope is judged by where it really
//! points, not by how it is spelled.

use std::path::{Component, Path, PathBuf};

/// What relative and `~` paths are resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathContext {
    /// The user's home directory (`~`).
    pub home: PathBuf,
    /// The project directory relative paths are taken from.
    pub project: PathBuf,
}

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve `{path}`: {reason}")]
pub struct PathError {
    /// The path as written.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

impl PathContext {
    /// Resolves `raw` to an absolute path with no `.`, `..` or symlinks in its existing part.
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, PathError> {
        let expanded = if raw == "~" {
            self.home.clone()
        } else if let Some(rest) = raw.strip_prefix("~/") {
            self.home.join(rest)
        } else {
            self.project.join(raw)
        };
        let lexical = lexical(&expanded);
        resolve_existing(&lexical).map_err(|reason| PathError {
            path: raw.to_owned(),
            reason,
        })
    }
}

/// Removes `.` and `..` without touching the file system (`..` at the root stays at the root).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Canonicalises the longest existing prefix of `path` and appends the rest.
fn resolve_existing(path: &Path) -> Result<PathBuf, String> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(_) => match (
                existing.file_name().map(ToOwned::to_owned),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            },
        }
    }
    let mut resolved = std::fs::canonicalize(&existing)
        .map_err(|e| format!("`{}` cannot be resolved: {e}", existing.display()))?;
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expands_home_and_project_and_dots() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join("home/proj/src")).unwrap();
        let ctx = PathContext {
            home: root.join("home"),
            project: root.join("home/proj"),
        };
        assert_eq!(ctx.resolve("~").unwrap(), root.join("home"));
        assert_eq!(
            ctx.resolve("~/proj/./src/../src").unwrap(),
            root.join("home/proj/src")
        );
        assert_eq!(ctx.resolve("src").unwrap(), root.join("home/proj/src"));
        assert_eq!(
            ctx.resolve("not/yet/there").unwrap(),
            root.join("home/proj/not/yet/there")
        );
        assert_eq!(ctx.resolve("/../../etc").unwrap(), PathBuf::from("/etc"));
    }

    #[test]
    fn follows_symlinks_to_their_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join("home/.qiskit")).unwrap();
        std::fs::create_dir_all(root.join("home/proj")).unwrap();
        std::os::unix::fs::symlink(root.join("home/.qiskit"), root.join("home/proj/innocent"))
            .unwrap();
        let ctx = PathContext {
            home: root.join("home"),
            project: root.join("home/proj"),
        };
        assert_eq!(
            ctx.resolve("innocent/x.json").unwrap(),
            root.join("home/.qiskit/x.json")
        );
    }
}
